"""Ironyard's core: the Django project (settings, urls, Celery app) and the tenancy app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
