"""A per-site request rate (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["site"]``)."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from .models import Site


class SiteRateThrottle(SimpleRateThrottle):
    """No rate configured: never throttles. Over the rate: 429 with ``Retry-After``.

    The counts live in Django's cache, a file-based one shared by the workers.
    """

    scope = "site"

    def get_cache_key(self, request, view):
        site = request.user
        if not isinstance(site, Site):
            return None
        return self.cache_format % {"scope": self.scope, "ident": site.pk}
