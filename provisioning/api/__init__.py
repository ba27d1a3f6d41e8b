"""Metal v1 API for devices."""
