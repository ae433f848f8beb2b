"""The IGNY8 backend: find a site's WordPress integration and push its structure.

CONTRACT §2. The backend is Django REST Framework, so:
- the integration list may be paginated (`next`): pages are followed on the
  backend's own origin, up to MAX_PAGES, until an active WordPress integration
  turns up (an active one on page 2 beats an inactive one on page 1);
- a redirect is never followed (the API key would go along, and a POST would
  become a GET): it fails the site, naming where it points, so the operator
  can fix `backend.url`;
- what it says in an error is quoted on one line: `error`/`detail`/`message`
  with DRF's field errors, an HTML page reduced to its title.

Transient answers are retried by `retry.py`; every other answer becomes one of
the agent's BackendError subclasses with a message that names the site and
says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from agent.config import BackendConfig, SiteConfig
from agent.deadline import Deadline
from agent.errors import (
    BackendAuthError,
    BackendError,
    BackendProtocolError,
    BackendUnreachable,
    HttpError,
    IntegrationGone,
    IntegrationNotFound,
    PayloadRejected,
    Redirected,
    TlsError,
    TransientError,
)
from agent.http import HttpClient, HttpResponse, origin_of, shown, tls_advice
from agent.logs import Log
from agent.payload import Payload
from agent.retry import RetryPolicy
from agent.secret import Redactor
from agent.text import MESSAGE_LIMIT, html_summary, looks_like_html, quoted, sentence

MAX_PAGES = 50
MAX_FIELD_DEPTH = 8
INTEGRATIONS = "/v1/integration/integrations/"


@dataclass(frozen=True)
class PushReceipt:
    """What the backend said it stored."""

    post_types_count: int | None
    taxonomies_count: int | None
    message: str | None


class BackendClient:
    def __init__(
        self,
        config: BackendConfig,
        session: requests.Session,
        policy: RetryPolicy,
        redact: Callable[[str], str] | Sequence[str] = (),
        on_request: Callable[[str], None] | None = None,
    ):
        self.config = config
        self.session = session
        self.policy = policy
        self.base = config.url.rstrip("/")
        # Masks secrets in the backend's messages before they are cut.
        self.redact = redact if callable(redact) else Redactor(redact)
        self.on_request = on_request

    # --- find the integration -------------------------------------------------

    def find_integration_id(self, site: SiteConfig, log: Log) -> int:
        """The id of the site's WordPress integration: the active one if several."""
        url: str | None = self.base + INTEGRATIONS
        params: dict[str, str] | None = {"site": str(site.site_id)}
        first_wordpress: dict[str, Any] | None = None
        # However many pages, the lookup gets one retry budget: 50 pages with a budget
        # each would hold the site (and the pass) for hours.
        budget = self.config.max_retry_seconds + self.config.timeout
        deadline = Deadline.after(
            budget,
            f"time for the integration lookup (backend.max_retry_seconds + backend.timeout, "
            f"{budget:g} s)",
        )
        for _ in range(MAX_PAGES):
            assert url is not None
            response = self._request("GET", url, site, log, params=params, deadline=deadline)
            items, next_url = self._integration_page(response, site, url)
            wordpress = [
                i
                for i in items
                if isinstance(i, dict)
                and i.get("platform") == "wordpress"
                and _as_id(i.get("id")) is not None
            ]
            active = [i for i in wordpress if i.get("is_active") is True]
            if active:
                return self._found(active[0], site, log)
            first_wordpress = first_wordpress or (wordpress[0] if wordpress else None)
            url, params = self._next_page(next_url, response.url, log), None
            if url is None:
                break
        else:
            log.warning("the integration list has more than %d pages; looked no further", MAX_PAGES)
        if first_wordpress is not None:
            return self._found(first_wordpress, site, log)
        raise IntegrationNotFound(
            f"IGNY8 has no WordPress integration for site_id {site.site_id}: create the "
            "WordPress integration for this site in IGNY8 (Site Settings → Integrations), "
            f"then run `igny8-agent connect --site {site.name}`"
        )

    def _integration_page(
        self, response: HttpResponse, site: SiteConfig, url: str
    ) -> tuple[list[Any], str | None]:
        if response.status in (401, 403):
            raise _auth_error(site, response, self._message(response))
        if response.status == 400:
            raise BackendError(
                f"IGNY8 does not know site_id {site.site_id} ({self._message(response)}): check "
                f"{site.key_path}.site_id — it is the site's id in IGNY8"
            )
        if response.status != 200:
            raise BackendProtocolError(
                f"looking up the integration of site_id {site.site_id} at {shown(url)} answered "
                f"{response.status} ({self._message(response)}); check backend.url"
            )
        page = integration_page(response.json())
        if page is None:
            raise BackendProtocolError(
                f"{shown(url)} answered something that is not a list of integrations: "
                f"{self._message(response)}; check backend.url"
            )
        return page

    def _next_page(self, next_url: str | None, current: str, log: Log) -> str | None:
        if not next_url:
            return None
        absolute = urljoin(current, next_url)
        if origin_of(absolute) != origin_of(self.base):
            log.warning(
                "the integration list's next page is on another origin (%s); not "
                "followed, the API key stays with %s",
                shown(absolute),
                self.base,
            )
            return None
        return absolute

    def _found(self, integration: dict[str, Any], site: SiteConfig, log: Log) -> int:
        integration_id = _as_id(integration.get("id"))
        assert integration_id is not None
        log.info(
            "found WordPress integration %d for site_id %d%s",
            integration_id,
            site.site_id,
            "" if integration.get("is_active") is True else " (inactive)",
        )
        return integration_id

    # --- push ---------------------------------------------------------------------

    def push_structure(
        self, site: SiteConfig, integration_id: int, payload: Payload, log: Log
    ) -> PushReceipt:
        url = f"{self.base}{INTEGRATIONS}{integration_id}/update-structure/"
        response = self._request("POST", url, site, log, json_body=payload)
        if response.status in (400, 422):
            raise PayloadRejected(
                f"IGNY8 rejected the structure ({response.status}): {self._message(response)}"
            )
        if response.status in (401, 403):
            raise _auth_error(
                site,
                response,
                self._message(response),
                configured_id=site.integration_id == integration_id,
            )
        if response.status == 404:
            raise IntegrationGone(f"IGNY8 has no integration {integration_id} (404)")
        if not 200 <= response.status < 300:
            raise BackendProtocolError(
                f"POST {shown(url)} answered {response.status}: {self._message(response)}"
            )
        return _receipt(response, url, lambda: self._message(response))

    # --- requests -------------------------------------------------------------------

    def _message(self, response: HttpResponse) -> str:
        return backend_message(response, self.redact)

    def _request(
        self,
        method: str,
        url: str,
        site: SiteConfig,
        log: Log,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        deadline: Deadline | None = None,
    ) -> HttpResponse:
        api_key = site.api_key.reveal() if site.api_key else ""
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        http = HttpClient(
            self.session,
            timeout=self.config.timeout,
            verify=self.config.verify,
            policy=self.policy,
            log=log,
            follow_redirects=False,
            on_response=self.on_request,
            deadline=deadline,
        )
        try:
            return http.request(method, url, params=params, headers=headers, json_body=json_body)
        except Redirected as exc:
            raise BackendError(
                f"IGNY8 at {self.base} redirects: {exc}. The agent does not follow it (the API "
                f"key would go along, and a POST would become a GET): "
                f"{_redirect_advice(self.base, url, exc.location)}"
            ) from None
        except TlsError as exc:
            raise BackendUnreachable(
                f"cannot reach IGNY8: {exc}. {sentence(tls_advice(exc.kind, 'backend'))}"
            ) from None
        except TransientError as exc:
            raise BackendUnreachable(_transient_message(exc)) from None
        except HttpError as exc:
            raise BackendUnreachable(f"cannot reach IGNY8: {exc}") from None


def _transient_message(exc: TransientError) -> str:
    if exc.status == 429:
        return f"IGNY8 is throttling the agent's requests: {exc}. The next pass tries again"
    if exc.status == 503:
        return f"IGNY8 is unavailable (503, maintenance or overload): {exc}"
    if exc.status is not None:
        return f"IGNY8 is failing: {exc}"
    return f"cannot reach IGNY8: {exc}. Check backend.url and this machine's network"


def _redirect_advice(base: str, url: str, location: str) -> str:
    """Suggest the backend.url the redirect implies, when it keeps the API path."""
    path_after_base = urlsplit(url).path[len(urlsplit(base).path.rstrip("/")) :]
    target = urlsplit(location)
    if target.path.endswith(path_after_base) and path_after_base:
        suggestion = f"{target.scheme}://{target.netloc}{target.path[: -len(path_after_base)]}"
        return f"set backend.url to {suggestion.rstrip('/')}"
    return f"set backend.url to the address IGNY8 answers at (it points to {shown(location)})"


# --- answers (pure, unit tested) --------------------------------------------------------------


def integration_page(body: Any) -> tuple[list[Any], str | None] | None:
    """(integrations, URL of the next page or None) from any of the backend's list shapes:
    a bare list, {"results": [...]} (DRF's pagination: with count/next/previous),
    {"data": [...]}, {"success": true, "data": {"results": [...], "next": ...}}."""
    if isinstance(body, list):
        return body, None
    if not isinstance(body, dict):
        return None
    for holder in (body, body.get("data")):
        if not isinstance(holder, dict):
            continue
        for key in ("results", "data"):
            value = holder.get(key)
            if isinstance(value, list):
                next_url = holder.get("next")
                return value, next_url if isinstance(next_url, str) else None
    return None


def backend_message(
    response: HttpResponse, redact: Callable[[str], str] | Sequence[str] = ()
) -> str:
    """What the backend said, on one line, secrets masked, cut to MESSAGE_LIMIT characters.

    Its `error`, `detail` or `message`, with DRF's field errors (`errors`, or the
    body's own field → messages map) after it; an HTML page's title or first
    text; else the text itself.
    """
    body = response.json()
    if isinstance(body, dict):
        text = _message_of(body)
    elif isinstance(body, list) and body:
        text = "; ".join(_flatten(body, "", 0))
    elif looks_like_html(response.body):
        text = html_summary(response.body)
    else:
        text = response.body[: 4 * MESSAGE_LIMIT].decode("utf-8", errors="replace")
    text = redact(text) if callable(redact) else Redactor(redact)(text)
    return quoted(text) if text.strip() else "(empty answer)"


def _message_of(body: dict[str, Any]) -> str:
    headline = next(
        (
            v
            for k in ("error", "detail", "message")
            if isinstance(v := body.get(k), str) and v.strip()
        ),
        "",
    )
    fields = body.get("errors")
    if fields is None and not headline:
        # DRF's own 400: {"field": ["message", ...], ...}
        fields = {k: v for k, v in body.items() if k not in ("success", "data", "code")}
    details = "; ".join(_flatten(fields, "", 0)) if fields else ""
    if headline and details:
        return f"{headline} ({details})"
    if headline or details:
        return headline or details
    data = body.get("data")
    return "; ".join(_flatten(data, "", 0)) if data else ""


def _flatten(value: Any, path: str, depth: int) -> list[str]:
    """DRF error details as "field.sub: message" strings."""
    prefix = f"{path}: " if path else ""
    if depth > MAX_FIELD_DEPTH:
        return [f"{prefix}…"]
    if isinstance(value, dict):
        return [
            line
            for key, sub in value.items()
            for line in _flatten(sub, f"{path}.{key}" if path else str(key), depth + 1)
        ]
    if isinstance(value, list):
        return [line for sub in value for line in _flatten(sub, path, depth + 1)]
    return [f"{prefix}{value}"]


def _receipt(response: HttpResponse, url: str, message: Callable[[], str]) -> PushReceipt:
    """What a 2xx says was stored; `message` is asked for only when something is wrong."""
    if not response.body.strip():
        return PushReceipt(None, None, None)
    body = response.json()
    if not isinstance(body, dict):
        raise BackendProtocolError(
            f"POST {shown(url)} answered {response.status} without a JSON object: {message()}"
        )
    if body.get("success", True) is not True:
        raise BackendError(f"IGNY8 did not store the structure: {message()}")
    data = body.get("data")
    if not isinstance(data, dict):
        data = {}
    stored_message = data.get("message")
    return PushReceipt(
        post_types_count=_count(data.get("post_types_count")),
        taxonomies_count=_count(data.get("taxonomies_count")),
        message=quoted(stored_message) if isinstance(stored_message, str) else None,
    )


def _auth_error(
    site: SiteConfig, response: HttpResponse, message: str, *, configured_id: bool = False
) -> BackendAuthError:
    another_site = (
        f", or {site.key_path}.integration_id {site.integration_id} belongs to another site"
        if configured_id
        else ""
    )
    return BackendAuthError(
        f"IGNY8 refused the API key ({response.status}: {message}): check "
        f"{site.key_path}.api_key for site_id {site.site_id} — it may be wrong or revoked, "
        f"or the site is inactive in IGNY8{another_site}"
    )


def _as_id(value: Any) -> int | None:
    number = _whole_number(value)
    return number if number is not None and number > 0 else None


def _count(value: Any) -> int | None:
    number = _whole_number(value)
    return number if number is not None and number >= 0 else None


def _whole_number(value: Any) -> int | None:
    """An int, or a string of ASCII digits; never a bool."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value < 2**63:
        return value
    return None
