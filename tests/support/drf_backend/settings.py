"""Django settings of the DRF backend used by the end-to-end tests.

Everything that varies comes from environment variables, set by the launcher
(`tests/support/drf_backend/launcher.py`):

- ``DRF_BACKEND_DATA_DIR`` (required): holds ``db.sqlite3`` and the cache
  directory shared by the gunicorn workers (the throttle counts live there);
- ``DRF_BACKEND_PAGE_SIZE``: ``PageNumberPagination`` page size (default 10);
- ``DRF_BACKEND_SECURE_SSL_REDIRECT``: ``1`` answers every http request with a
  301 to https, as Django's ``SecurityMiddleware`` does in production;
- ``DRF_BACKEND_THROTTLE_RATE``: DRF rate of the per-site throttle, e.g. ``2/min``
  (empty or unset: no throttling);
- ``DRF_BACKEND_WRAPPED_ERRORS``: ``1`` wraps error bodies IGNY8-style
  (``{"success": false, "error": ..., "errors": {...}}``).
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    DATA_DIR = Path(os.environ["DRF_BACKEND_DATA_DIR"])
except KeyError:
    raise RuntimeError("DRF_BACKEND_DATA_DIR must name the backend's data directory") from None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


SECRET_KEY = "drf-backend-for-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "rest_framework",
    "tests.support.drf_backend.integration",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tests.support.drf_backend.urls"
WSGI_APPLICATION = "tests.support.drf_backend.wsgi.application"
# No template engine: Django's 404/500 pages are its built-in production pages.
TEMPLATES: list[dict] = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
LANGUAGE_CODE = "en-us"

SECURE_SSL_REDIRECT = _flag("DRF_BACKEND_SECURE_SSL_REDIRECT")

_APP = "tests.support.drf_backend.integration"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [f"{_APP}.authentication.SiteApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [f"{_APP}.permissions.IsActiveSite"],
    "DEFAULT_THROTTLE_CLASSES": [f"{_APP}.throttling.SiteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"site": os.environ.get("DRF_BACKEND_THROTTLE_RATE") or None},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": int(os.environ.get("DRF_BACKEND_PAGE_SIZE") or 10),
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": (
        f"{_APP}.exceptions.wrapped_exception_handler"
        if _flag("DRF_BACKEND_WRAPPED_ERRORS")
        else "rest_framework.views.exception_handler"
    ),
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}

# Tracebacks of 500s go to gunicorn's error log (the launcher's gunicorn.log).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
