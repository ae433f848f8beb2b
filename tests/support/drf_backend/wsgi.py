"""WSGI entry point: ``gunicorn tests.support.drf_backend.wsgi:application``."""

import os
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.drf_backend.settings")

django_application = get_wsgi_application()

# gunicorn logs a request once answered, each worker on its own; the time the
# request arrived (in the access log as %({drf_backend.started}e)s) puts the
# lines of several workers back in order.
STARTED_KEY = "drf_backend.started"


def application(environ, start_response):
    environ[STARTED_KEY] = f"{time.time():.6f}"
    return django_application(environ, start_response)
