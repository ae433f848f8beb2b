"""A small, real Django REST Framework backend that behaves like IGNY8's.

A Django project (``settings``, ``urls``, ``wsgi``) with one app,
``integration``: sites with API keys, their integrations, the paginated
integrations API and the ``update-structure`` action (CONTRACT.md §2 and §3).
``launcher.DrfBackend`` runs it under gunicorn for end-to-end tests; importing
this package does not import Django.
"""

from tests.support.drf_backend.launcher import AccessLogEntry, DrfBackend, DrfBackendError

__all__ = ["AccessLogEntry", "DrfBackend", "DrfBackendError"]
