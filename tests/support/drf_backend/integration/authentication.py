"""``Authorization: Bearer <api_key>``: the request's user is the site owning the key."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .models import Site


class SiteApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not ours: NotAuthenticated (401) follows from the permission
        if len(parts) == 1:
            raise exceptions.AuthenticationFailed("Invalid API key header. No key provided.")
        if len(parts) > 2:
            raise exceptions.AuthenticationFailed(
                "Invalid API key header. The key should not contain spaces."
            )
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(
                "Invalid API key header. The key should not contain invalid characters."
            ) from None
        try:
            site = Site.objects.get(api_key=key)
        except Site.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        return site, key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with `WWW-Authenticate: Bearer`.
        return self.keyword
