"""Portal pages: plain function views over the services, rendered whole or as htmx fragments,
one module per part of the portal; `pages` holds what they (and the other apps' pages) share.

Every page starts from a `for_user()` queryset (not visible → 404); role checks give 403 before
anything is written, and the services re-check. POST → form → service → errors onto the form.
"""
