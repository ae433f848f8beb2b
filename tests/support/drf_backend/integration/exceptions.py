"""The IGNY8-style error body, used when the launcher asks for ``wrapped_errors``.

DRF's default: ``{"field": ["message"]}`` for validation errors and
``{"detail": "message"}`` for the rest. Wrapped::

    {"success": false, "error": "<first message>", "errors": {<DRF's field errors>}}

``errors`` is there for validation errors only. Headers (``WWW-Authenticate``,
``Retry-After``) and status codes are DRF's.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler


def first_message(detail: Any) -> str:
    """The first message in a DRF error detail (a string, list or dict, nested)."""
    if isinstance(detail, dict):
        for value in detail.values():
            message = first_message(value)
            if message:
                return message
        return ""
    if isinstance(detail, list):
        for value in detail:
            message = first_message(value)
            if message:
                return message
        return ""
    return str(detail)


def wrapped_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's own 500 page
    data = response.data
    body: dict[str, Any] = {"success": False, "error": first_message(data)}
    if isinstance(exc, exceptions.ValidationError):
        body["errors"] = (
            data if isinstance(data, dict) else {api_settings.NON_FIELD_ERRORS_KEY: data}
        )
    response.data = body
    return response
