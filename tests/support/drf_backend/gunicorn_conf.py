"""gunicorn settings of the DRF backend (the launcher adds bind and log files).

Passed with ``--config`` so that no ``gunicorn.conf.py`` of the current directory
is read. gunicorn ignores settings it does not know, so ``control_socket_disable``
(gunicorn 25.1+, whose control socket would otherwise be shared by every backend
of the machine under ``$HOME/.gunicorn``) is harmless on older versions.
"""

wsgi_app = "tests.support.drf_backend.wsgi:application"
workers = 2
threads = 4  # gthread workers: keep-alive, and requests in parallel
preload_app = True  # Django is imported once, before the workers fork
graceful_timeout = 3  # the launcher asks for a quick shutdown (SIGINT) anyway
timeout = 60
control_socket_disable = True
# One line per request, tab-separated: method, path, query string, status, and the
# time it arrived (set by wsgi.py: lines of several workers are not in order).
access_log_format = "%(m)s\t%(U)s\t%(q)s\t%(s)s\t%({drf_backend.started}e)s"
