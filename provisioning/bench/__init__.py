"""Settings and URLs for `make bench-api` only: the real app plus a baseline view."""
