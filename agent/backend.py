"""The IGNY8 backend: find a site's WordPress integration and push its structure.

CONTRACT §2. Transient answers are retried by `retry.py`; every other answer
becomes one of the agent's BackendError subclasses with a message that names
the site and says what to do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from agent.config import BackendConfig, SiteConfig
from agent.errors import (
    BackendAuthError,
    BackendError,
    BackendProtocolError,
    BackendUnreachable,
    HttpError,
    IntegrationGone,
    IntegrationNotFound,
    PayloadRejected,
    TlsError,
)
from agent.retry import RetryPolicy, call_with_retries
from agent.secret import redact
from agent.transport import HttpResponse, send

MESSAGE_LIMIT = 500
Log = logging.Logger | logging.LoggerAdapter[logging.Logger]


@dataclass(frozen=True)
class PushReceipt:
    """What the backend said it stored."""

    post_types_count: int | None
    taxonomies_count: int | None
    message: str | None


class BackendClient:
    def __init__(self, config: BackendConfig, session: requests.Session, policy: RetryPolicy,
                 secrets: Sequence[str] = ()):
        self.config = config
        self.session = session
        self.policy = policy
        self.base = config.url.rstrip("/")
        self.secrets = list(secrets)  # masked in the backend's messages before they are cut

    def find_integration_id(self, site: SiteConfig, log: Log) -> int:
        """The id of the site's WordPress integration (the active one if several)."""
        url = f"{self.base}/v1/integration/integrations/"
        response = self._request("GET", url, site, log, params={"site": str(site.site_id)})
        if response.status in (401, 403):
            raise _auth_error(site, response, self._message(response))
        if response.status != 200:
            raise BackendProtocolError(
                f"looking up the integration of site_id {site.site_id} at {url} answered "
                f"{response.status}: {self._message(response)}; check backend.url"
            )
        items = integrations_in(response.json())
        if items is None:
            raise BackendProtocolError(
                f"{url} answered something that is not a list of integrations: "
                f"{self._message(response)}"
            )
        chosen = pick_wordpress_integration(items)
        integration_id = _as_id(chosen.get("id")) if chosen else None
        if integration_id is None:
            raise IntegrationNotFound(
                f"IGNY8 has no WordPress integration for site_id {site.site_id}: create the "
                "WordPress integration for this site in IGNY8 (Site Settings → Integrations), "
                f"then run `igny8-agent connect --site {site.name}`"
            )
        log.info("found WordPress integration %d for site_id %d", integration_id, site.site_id)
        return integration_id

    def push_structure(
        self, site: SiteConfig, integration_id: int, payload: dict[str, Any], log: Log
    ) -> PushReceipt:
        url = f"{self.base}/v1/integration/integrations/{integration_id}/update-structure/"
        response = self._request("POST", url, site, log, json_body=payload)
        if response.status in (400, 422):
            raise PayloadRejected(
                f"IGNY8 rejected the structure ({response.status}): {self._message(response)}"
            )
        if response.status in (401, 403):
            raise _auth_error(site, response, self._message(response))
        if response.status == 404:
            raise IntegrationGone(f"IGNY8 has no integration {integration_id} (404)")
        if not 200 <= response.status < 300:
            raise BackendProtocolError(
                f"POST {url} answered {response.status}: {self._message(response)}"
            )
        return _receipt(response, url, self._message(response))

    def _message(self, response: HttpResponse) -> str:
        return backend_message(response, self.secrets)

    def _request(self, method: str, url: str, site: SiteConfig, log: Log, *,
                 params: dict[str, str] | None = None, json_body: Any = None) -> HttpResponse:
        api_key = site.api_key.reveal() if site.api_key else ""
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

        def once() -> HttpResponse:
            return send(self.session, method, url, params=params, headers=headers,
                        json_body=json_body, timeout=self.config.timeout,
                        verify=self.config.verify, log=log)

        try:
            return call_with_retries(once, self.policy, log=log)
        except TlsError as exc:
            raise BackendUnreachable(
                f"cannot reach IGNY8: {exc}. Set backend.verify to the CA bundle that signed "
                "the backend's certificate"
            ) from None
        except HttpError as exc:
            raise BackendUnreachable(f"cannot reach IGNY8: {exc}") from None


def integrations_in(body: Any) -> list[Any] | None:
    """The integration list in any of the shapes the backend uses, or None."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return None
    for key in ("results", "data"):
        value = body.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, dict) and isinstance(value.get("results"), list):
            return value["results"]
    return None


def pick_wordpress_integration(items: list[Any]) -> dict[str, Any] | None:
    """The WordPress integration: the active one if several, else the first."""
    wordpress = [i for i in items if isinstance(i, dict) and i.get("platform") == "wordpress"]
    active = [i for i in wordpress if i.get("is_active") is True]
    return (active or wordpress or [None])[0]


def backend_message(response: HttpResponse, secrets: Sequence[str] = ()) -> str:
    """The backend's own explanation, secrets masked, then cut to MESSAGE_LIMIT characters."""
    body = response.json()
    text = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "errors", "data"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                break
    if text is None:
        text = response.body.decode("utf-8", errors="replace").strip() or "(empty answer)"
    text = redact(text, list(secrets))
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _receipt(response: HttpResponse, url: str, message: str) -> PushReceipt:
    if not response.body.strip():
        return PushReceipt(None, None, None)
    body = response.json()
    if not isinstance(body, dict):
        raise BackendProtocolError(f"POST {url} answered {response.status} without a JSON "
                                   f"object: {message}")
    if body.get("success", True) is not True:
        raise BackendError(f"IGNY8 did not store the structure: {message}")
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return PushReceipt(
        post_types_count=_count(data.get("post_types_count")),
        taxonomies_count=_count(data.get("taxonomies_count")),
        message=data.get("message") if isinstance(data.get("message"), str) else None,
    )


def _auth_error(site: SiteConfig, response: HttpResponse, message: str) -> BackendAuthError:
    return BackendAuthError(
        f"IGNY8 refused the API key ({response.status}: {message}): check "
        f"{site.key_path}.api_key for site_id {site.site_id} — it may be wrong or revoked, "
        "or the site is inactive in IGNY8"
    )


def _as_id(value: Any) -> int | None:
    number = _whole_number(value)
    return number if number is not None and number > 0 else None


def _count(value: Any) -> int | None:
    number = _whole_number(value)
    return number if number is not None and number >= 0 else None


def _whole_number(value: Any) -> int | None:
    """An int, or a string of ASCII digits; never a bool."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
