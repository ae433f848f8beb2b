"""Only an authenticated, active site gets in: an inactive one is answered 403."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from .models import Site


class IsActiveSite(BasePermission):
    message = "This site is inactive."

    def has_permission(self, request, view) -> bool:
        # False without a site makes DRF answer NotAuthenticated (401).
        site = request.user
        return isinstance(site, Site) and site.is_active
