"""One HTTP request, done safely: timeouts, a size cap, TLS as configured.

Both the WordPress reader and the backend client send through `send()`. It
turns transport failures into the agent's errors (transient ones marked for
retry) and never retries by itself: retrying is `retry.py`'s job alone, so the
adapter is mounted with `max_retries=0`.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import requests
import requests.certs
from requests.adapters import HTTPAdapter

from agent import __version__
from agent.errors import HttpError, ResponseTooLarge, TlsError, TransientError

module_log = logging.getLogger(__name__)

USER_AGENT = f"igny8-agent/{__version__} (+https://igny8.com)"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
CONNECT_TIMEOUT_CAP = 10.0
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
POOL_SIZE = 64


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str  # the final URL, after redirects

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (e.g. an HTML page)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def new_session(pool_size: int = POOL_SIZE) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def tls_verify_argument(verify: bool | str) -> bool | str:
    """What to pass as `verify=` so that the config wins over the environment.

    requests replaces `verify=True` with $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE
    even per request; an explicit bundle path is left alone.
    """
    return requests.certs.where() if verify is True else verify


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    verify: bool | str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    json_body: Any = None,
    max_bytes: int | None = None,
    truncate: bool = False,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = module_log,
) -> HttpResponse:
    """Send one request; raise TransientError, TlsError or HttpError on failure.

    A status in TRANSIENT_STATUSES raises TransientError (with Retry-After);
    every other status is returned for the caller to judge. An answer larger
    than `max_bytes` raises ResponseTooLarge, or with `truncate` is cut there.
    """
    max_bytes = max_bytes or MAX_RESPONSE_BYTES
    started = time.monotonic()
    try:
        response = session.request(
            method,
            url,
            params=params,
            headers=headers,
            auth=auth,
            json=json_body,
            timeout=(min(timeout, CONNECT_TIMEOUT_CAP), timeout),
            verify=tls_verify_argument(verify),
            stream=True,
            allow_redirects=True,
        )
    except requests.exceptions.SSLError as exc:
        raise TlsError(f"TLS verification failed for {_plain(url)}: {_reason(exc)}") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise TransientError(f"{method} {_plain(url)}: {_reason(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise HttpError(f"{method} {_plain(url)}: {_reason(exc)}") from None
    with response:
        body = _read_capped(response, max_bytes, method, url, truncate)
    elapsed_ms = (time.monotonic() - started) * 1000
    log.debug("%s %s -> %s (%.0f ms)", method, _plain(response.url), response.status_code,
              elapsed_ms)
    result = HttpResponse(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=body,
        url=response.url,
    )
    if result.status in TRANSIENT_STATUSES:
        raise TransientError(
            f"{method} {_plain(response.url)} answered {result.status}",
            retry_after=parse_retry_after(result.header("retry-after")),
        )
    return result


def _read_capped(
    response: requests.Response, max_bytes: int, method: str, url: str, truncate: bool
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if re.fullmatch(r"[0-9]+", declared) and int(declared) > max_bytes and not truncate:
        raise ResponseTooLarge(_too_large(method, url, max_bytes))
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            chunks.append(chunk)
            if size > max_bytes:
                if truncate:
                    break
                raise ResponseTooLarge(_too_large(method, url, max_bytes))
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError) as exc:
        raise TransientError(f"{method} {_plain(url)}: answer cut off ({_reason(exc)})") from None
    except requests.exceptions.RequestException as exc:
        raise HttpError(f"{method} {_plain(url)}: unreadable answer ({_reason(exc)})") from None
    body = b"".join(chunks)
    return body[:max_bytes] if truncate else body


def _too_large(method: str, url: str, max_bytes: int) -> str:
    return f"{method} {_plain(url)}: answer larger than {max_bytes // (1024 * 1024)} MiB, not read"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # the asctime form, or "-0000": HTTP dates are UTC
        when = when.replace(tzinfo=datetime.UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _plain(url: str) -> str:
    """The URL as shown to the operator: without any query string."""
    return url.split("?", 1)[0] if "rest_route=" not in url else url.split("&", 1)[0]


def _reason(exc: Exception) -> str:
    """A short cause for a requests exception, without urllib3's noise."""
    text = str(exc)
    for marker in KNOWN_CAUSES:
        if marker in text:
            return marker
    return text[:200]


KNOWN_CAUSES = (
    "Connection refused",
    "Connection reset by peer",
    "Read timed out",
    "Connect timeout",
    "timed out",
    "Name or service not known",
    "Temporary failure in name resolution",
    "certificate verify failed",
    "Remote end closed connection without response",
    "Connection aborted",
)
