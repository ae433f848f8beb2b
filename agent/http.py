"""The one HTTP stack: every byte the agent sends or reads goes through `send()`.

REST, XML-RPC (through a `xmlrpc.client.Transport` over the same session, see
`wordpress/xmlrpc.py`) and the IGNY8 backend all use it, so these are decided
once, here:
- timeouts: a connect timeout, a read timeout, and a total deadline for the
  whole answer, however slowly it trickles in (`timeout` seconds, or the
  site's deadline if that comes first);
- a size cap: an answer larger than 8 MiB is refused, not read;
- TLS as configured (the config wins over $REQUESTS_CA_BUNDLE), and a TLS
  failure says why (host name, self-signed, expired, unknown issuer, not TLS);
- redirects: followed for GET and HEAD only, at most ten, and credentials go
  only to the origins the caller trusts; a POST, or a caller that follows
  none, gets `Redirected` naming where it points;
- transient failures (refused, reset, timeouts, 408/425/429/5xx) become
  `TransientError` (with Retry-After); retrying them is `retry.py`'s job alone,
  so the adapter is mounted with `max_retries=0`.

`HttpClient` bundles what is fixed for one peer: session, timeouts, TLS,
credentials and the origins they may go to, the retry policy, a deadline, a
cap on requests in flight, and a count of requests sent.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import functools
import heapq
import ipaddress
import itertools
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import requests.certs
import requests.utils
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from agent import __version__
from agent.deadline import Deadline, earliest
from agent.errors import (
    DeadlineExceeded,
    HttpError,
    Redirected,
    ResponseTooLarge,
    TlsError,
    TransientError,
)
from agent.logs import Log
from agent.retry import RetryPolicy, call_with_retries

module_log = logging.getLogger(__name__)

USER_AGENT = f"igny8-agent/{__version__} (+https://igny8.com)"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
CONNECT_TIMEOUT_CAP = 10.0
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
DEFAULT_POOL_SIZE = 10
CHUNK_BYTES = 64 * 1024

Origin = tuple[str, str, int]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str  # the final URL, after redirects

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (an HTML page, a nesting bomb)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of a URL, the port made explicit; ("", "", 0) if it is no URL."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port
    except ValueError:
        return "", "", 0
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def shown(url: str) -> str:
    """The URL as shown to the operator: no query string (but a plain-permalink
    `rest_route`), no user name or password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?")[0].rpartition("@")[2]
    netloc = parts.netloc.rpartition("@")[2]
    query = ""
    if "rest_route=" in parts.query:
        query = "?" + next(p for p in parts.query.split("&") if p.startswith("rest_route="))
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


# --- sessions ---------------------------------------------------------------------


def new_session(pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    """A session whose connections obey the request deadlines (see `_Guarded`).

    It does not read the environment on each request (requests would scan every
    variable for proxies twice per request, and look for ~/.netrc: most of a
    fleet's CPU time): the proxies are found once per origin (`proxies_for`),
    and a user's ~/.netrc never adds credentials to the agent's requests.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = _GuardedAdapter(max_retries=0, pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


@functools.lru_cache(maxsize=4096)
def _proxies_for_origin(scheme: str, netloc: str) -> dict[str, str]:
    # requests' own reading of HTTP(S)_PROXY / NO_PROXY, once per origin.
    return requests.utils.get_environ_proxies(f"{scheme}://{netloc}/")


def proxies_for(url: str) -> dict[str, str]:
    """The proxies the environment sets for `url` (none when NO_PROXY covers it)."""
    parts = urlsplit(url)
    return _proxies_for_origin(parts.scheme, parts.netloc)


def tls_verify_argument(verify: bool | str) -> bool | str:
    """What to pass as `verify=` so that the config wins over the environment.

    requests replaces `verify=True` with $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE
    even per request; an explicit bundle path is left alone.
    """
    return requests.certs.where() if verify is True else verify  # type: ignore[attr-defined]


# --- one request --------------------------------------------------------------------


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    verify: bool | str,
    deadline: Deadline | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    auth_origins: frozenset[Origin] | set[Origin] = frozenset(),
    data: bytes | None = None,
    json_body: Any = None,
    max_bytes: int | None = None,
    truncate: bool = False,
    follow_redirects: bool = True,
    log: Log = module_log,
) -> HttpResponse:
    """Send one request (following redirects as the module says); raise on failure.

    `auth` goes only to URLs whose origin is in `auth_origins`. A status in
    TRANSIENT_STATUSES raises TransientError; every other status is returned
    for the caller to judge. An answer larger than `max_bytes` raises
    ResponseTooLarge, or with `truncate` is cut there. `deadline` (the site's)
    ending first raises DeadlineExceeded.
    """
    own = Deadline.after(timeout, f"the timeout of {timeout:g} s")
    limit = earliest(own, deadline) or own
    hops = 0
    while True:
        hop_auth = auth if auth is not None and origin_of(url) in auth_origins else None
        response = _send_once(
            session,
            method,
            url,
            limit=limit,
            site_deadline=deadline,
            timeout=timeout,
            verify=verify,
            params=params,
            headers=headers,
            auth=hop_auth,
            data=data,
            json_body=json_body,
            max_bytes=max_bytes or MAX_RESPONSE_BYTES,
            truncate=truncate,
            log=log,
        )
        location = response.header("location")
        if response.status not in REDIRECT_STATUSES or not location:
            break
        target = urljoin(response.url, location.strip())
        if not follow_redirects or method not in ("GET", "HEAD"):
            raise Redirected(
                f"{method} {shown(url)} answered {response.status} redirecting to {shown(target)}",
                response.status,
                target,
            )
        if urlsplit(target).scheme not in ("http", "https") or hops >= MAX_REDIRECTS:
            raise HttpError(f"{method} {shown(url)}: too many redirects or one to {shown(target)}")
        hops += 1
        url, params = target, None  # the redirect's URL carries its own query
    if response.status in TRANSIENT_STATUSES:
        raise TransientError(
            f"{method} {shown(response.url)} answered {response.status}",
            retry_after=parse_retry_after(response.header("retry-after")),
            status=response.status,
        )
    return response


def _send_once(
    session: requests.Session,
    method: str,
    url: str,
    *,
    limit: Deadline,
    site_deadline: Deadline | None,
    timeout: float,
    verify: bool | str,
    params: dict[str, str] | None,
    headers: dict[str, str] | None,
    auth: tuple[str, str] | None,
    data: bytes | None,
    json_body: Any,
    max_bytes: int,
    truncate: bool,
    log: Log,
) -> HttpResponse:
    started = time.monotonic()
    remaining = limit.remaining()
    if remaining <= 0:
        raise _past(limit, site_deadline, method, url)
    read_timeout = min(timeout, remaining)
    with _guarded(limit) as guard:
        try:
            prepared = requests.PreparedRequest()
            prepared.prepare(
                method=method,
                url=_with_query(url, params),
                headers={**session.headers, **(headers or {})},
                data=data,
                json=json_body,
                auth=auth,
            )
            # The adapter itself, not Session.request: no cookies, hooks, environment or
            # redirects of its own to merge (the agent does without them), which is most
            # of requests' cost per request.
            response = session.get_adapter(url).send(
                prepared,
                stream=True,
                verify=tls_verify_argument(verify),
                timeout=(min(read_timeout, CONNECT_TIMEOUT_CAP), read_timeout),
                proxies=proxies_for(url),
            )
            with response:
                body = _read_capped(response, max_bytes, method, url, truncate, limit)
        except requests.exceptions.SSLError as exc:
            if guard.fired:
                raise _past(limit, site_deadline, method, url) from None
            raise tls_error(url, exc) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
            _BodyStalled,
        ) as exc:
            if guard.fired or limit.expired():
                raise _past(limit, site_deadline, method, url) from None
            raise TransientError(f"{method} {shown(url)}: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise HttpError(f"{method} {shown(url)}: {_reason(exc)}") from None
    elapsed_ms = (time.monotonic() - started) * 1000
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s -> %s (%.0f ms)", method, shown(response.url), response.status_code, elapsed_ms
        )
    return HttpResponse(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=body,
        url=response.url,
    )


def _past(limit: Deadline, site_deadline: Deadline | None, method: str, url: str) -> Exception:
    if site_deadline is not None and limit is site_deadline:
        return DeadlineExceeded(
            f"{method} {shown(url)} was cut off: the site's {site_deadline.what} had passed"
        )
    return TransientError(f"{method} {shown(url)}: no complete answer within {limit.what}")


def _with_query(url: str, params: dict[str, str] | None) -> str:
    """The URL with `params` added to its query (encoded here, once, rather than by
    requests' generic parameter handling)."""
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class _BodyStalled(Exception):
    pass


def _read_capped(
    response: requests.Response,
    max_bytes: int,
    method: str,
    url: str,
    truncate: bool,
    limit: Deadline,
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if re.fullmatch(r"[0-9]+", declared) and int(declared) > max_bytes and not truncate:
        raise ResponseTooLarge(_too_large(method, url, max_bytes))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
        size += len(chunk)
        chunks.append(chunk)
        if size > max_bytes:
            if truncate:
                break
            raise ResponseTooLarge(_too_large(method, url, max_bytes))
        if limit.expired():
            raise _BodyStalled("answer too slow")
    body = b"".join(chunks)
    return body[:max_bytes] if truncate else body


def _too_large(method: str, url: str, max_bytes: int) -> str:
    return f"{method} {shown(url)}: answer larger than {max_bytes // (1024 * 1024)} MiB, not read"


# --- the deadline watch: one thread that cuts off requests past their deadline ---------


class _Guard:
    """The sockets one request uses; shut down when its deadline passes."""

    def __init__(self, at: float):
        self.at = at
        self.fired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self.fired:
                _shut(sock)
            elif not self._done:
                self._sockets.append(sock)

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._sockets.clear()

    @property
    def done(self) -> bool:
        return self._done


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: it wakes a read blocked
    # in another thread without touching the TLS state that thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watch:
    """Fires each guard at its time. Sleeps without waking while nothing is due.

    A guard whose request has finished is dropped when it reaches the head of the
    heap, without waiting for its time: the thread wakes about once per timeout,
    not once per request (a fleet pass sends tens of thousands)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Guard]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, guard: _Guard) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (guard.at, next(self._order), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="http-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is guard:
                self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._heap:
                    self._wakeup.wait()
                at, _, guard = self._heap[0]
                if guard.done:
                    heapq.heappop(self._heap)
                    continue
                wait = at - time.monotonic()
                if wait > 0:
                    self._wakeup.wait(wait)
                    continue
                heapq.heappop(self._heap)
            guard.fire()


_watch = _Watch()
_current = threading.local()


@contextlib.contextmanager
def _guarded(limit: Deadline) -> Iterator[_Guard]:
    guard = _Guard(limit.at)
    _watch.add(guard)
    _current.guard = guard
    try:
        yield guard
    finally:
        _current.guard = None
        guard.finish()


def _connect_by(
    guard: _Guard,
    host: str,
    port: int,
    timeout: Any,
    source_address: tuple[str, int] | None,
    socket_options: Any,
) -> socket.socket:
    """urllib3's create_connection, within the request's deadline: the name looked up
    in the time left, and each of its addresses tried only in the time left (urllib3
    gives every address a fresh connect timeout: twenty dead ones would take twenty)."""
    host = host.strip("[]")
    error: OSError | None = None
    for family, kind, proto, _, address in _addresses(host, port, guard):
        remaining = guard.at - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the deadline passed while connecting to {host}")
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            connect_timeout = timeout if isinstance(timeout, int | float) else remaining
            sock.settimeout(min(connect_timeout, remaining))
            if source_address:
                sock.bind(source_address)
            guard.add(sock)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address found for {host}")


def _addresses(host: str, port: int, guard: _Guard) -> list[Any]:
    """getaddrinfo for `host`, given up at the guard's deadline (a slow resolver is left
    to finish in a thread of its own; the system's resolver bounds it)."""
    lookup = functools.partial(
        socket.getaddrinfo, host, port, allowed_gai_family(), socket.SOCK_STREAM
    )
    if _is_ip_address(host):
        return lookup()
    done = threading.Event()
    answer: list[Any] = []
    failure: list[BaseException] = []

    def resolve() -> None:
        try:
            answer.extend(lookup())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=resolve, name="dns", daemon=True).start()
    if not done.wait(max(guard.at - time.monotonic(), 0)):
        raise TimeoutError(f"looking up {host} outlasted the deadline")
    if failure:
        raise failure[0]
    return answer


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _watch_socket(sock: socket.socket | None) -> None:
    guard = getattr(_current, "guard", None)
    if guard is not None and sock is not None:
        guard.add(sock)


class _Guarded:
    """Connection mix-in: each socket a request uses is handed to its guard, and a new
    connection is made within the request's deadline (see `_connect_by`)."""

    sock: socket.socket | None
    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        guard = getattr(_current, "guard", None)
        if guard is None:
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
            return sock
        # urllib3's own _new_conn, with _connect_by for its create_connection.
        try:
            sock = _connect_by(guard, self._dns_host, self.port, self.timeout,
                               self.source_address, self.socket_options)  # fmt: skip
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            message = f"Failed to establish a new connection: {exc}"
            raise NewConnectionError(self, message) from exc  # type: ignore[arg-type]
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_socket(self.sock)  # a kept-alive connection: no new socket
        super().request(*args, **kwargs)  # type: ignore[misc]


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_GUARDED_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _GUARDED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own
            manager.pool_classes_by_scheme = _GUARDED_POOLS
        return manager


# --- one peer -------------------------------------------------------------------------


class HttpClient:
    """Requests to one peer, each retried by the policy, at most `max_in_flight` at once."""

    def __init__(
        self,
        session: requests.Session,
        *,
        timeout: float,
        verify: bool | str,
        policy: RetryPolicy,
        log: Log,
        deadline: Deadline | None = None,
        auth: tuple[str, str] | None = None,
        auth_origins: set[Origin] | None = None,
        follow_redirects: bool = True,
        max_in_flight: int | None = None,
        on_response: Callable[[str], None] | None = None,
    ):
        self.session = session
        self.timeout = timeout
        self.verify = verify
        self.policy = policy
        self.log = log
        self.deadline = deadline
        self.auth = auth
        self.auth_origins: set[Origin] = set(auth_origins or ())
        self.follow_redirects = follow_redirects
        self.requests_sent = 0
        self._counter_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self._on_response = on_response

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        json_body: Any = None,
        truncate: bool = False,
        max_bytes: int | None = None,
        with_auth: bool = True,
    ) -> HttpResponse:
        def once() -> HttpResponse:
            with self._slot():
                with self._counter_lock:
                    self.requests_sent += 1
                try:
                    response = send(
                        self.session,
                        method,
                        url,
                        timeout=self.timeout,
                        verify=self.verify,
                        deadline=self.deadline,
                        params=params,
                        headers=headers,
                        auth=self.auth if with_auth else None,
                        auth_origins=self.auth_origins,
                        data=data,
                        json_body=json_body,
                        max_bytes=max_bytes,
                        truncate=truncate,
                        follow_redirects=self.follow_redirects,
                        log=self.log,
                    )
                except Exception as exc:
                    self._count(outcome_of(exc))
                    raise
                self._count(str(response.status))
                return response

        return call_with_retries(once, self.policy, log=self.log, deadline=self.deadline)

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self._slots is None:
            yield
            return
        with self._slots:
            yield

    def _count(self, outcome: str) -> None:
        if self._on_response is not None:
            self._on_response(outcome)


def outcome_of(exc: Exception) -> str:
    """A short label for a failed request: the status, or what went wrong."""
    if isinstance(exc, TransientError):
        if exc.status:
            return str(exc.status)
        text = str(exc)
        return "timeout" if "timed out" in text or "no complete answer" in text else "connection"
    if isinstance(exc, TlsError):
        return "tls"
    if isinstance(exc, DeadlineExceeded):
        return "deadline"
    if isinstance(exc, Redirected):
        return str(exc.status)
    return "error"


# --- Retry-After, TLS causes, short reasons ----------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # the asctime form, or "-0000": HTTP dates are UTC
        when = when.replace(tzinfo=datetime.UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# (marker in OpenSSL's text, kind, what it means for the operator)
TLS_CAUSES = (
    ("mismatch", "hostname", "the certificate is not valid for this host name"),
    (
        "self-signed certificate in certificate chain",
        "self-signed",
        "the certificate chain ends in a self-signed certificate",
    ),
    ("self-signed", "self-signed", "the certificate is self-signed"),
    ("self signed", "self-signed", "the certificate is self-signed"),
    ("has expired", "expired", "the certificate has expired"),
    (
        "not yet valid",
        "not-yet-valid",
        "the certificate is not valid yet (is this machine's clock right?)",
    ),
    (
        "unable to get local issuer",
        "unknown-issuer",
        "the certificate is signed by an authority this machine does not trust (or the server "
        "sends an incomplete chain)",
    ),
    (
        "unable to get issuer",
        "unknown-issuer",
        "the certificate is signed by an authority this machine does not trust",
    ),
    ("wrong version number", "not-tls", "the server does not speak TLS on this port"),
    ("record layer failure", "not-tls", "the server does not speak TLS on this port"),
    ("unsupported protocol", "protocol", "the server offers only an outdated TLS version"),
    ("alert", "handshake", "the server refused the TLS handshake"),
)


def tls_error(url: str, exc: BaseException) -> TlsError:
    text = str(exc)
    for marker, kind, meaning in TLS_CAUSES:
        if marker in text.lower():
            return TlsError(f"TLS failed for {shown(url)}: {meaning}", kind)
    return TlsError(f"TLS failed for {shown(url)}: {_reason(exc)}", "other")


def tls_advice(kind: str, key_path: str) -> str:
    """What to do about a TLS failure of `kind`, `key_path` being e.g. `sites[0].wordpress`."""
    return {
        "hostname": f"use the host name the certificate names in {key_path}.url, or fix the "
        "certificate",
        "self-signed": f"set {key_path}.verify to the path of that certificate (or of the CA "
        "that signed it)",
        "expired": "renew the certificate on the server",
        "not-yet-valid": "check the date and time of this machine and of the server",
        "unknown-issuer": f"set {key_path}.verify to the CA bundle that signed it, or make "
        "the server send its whole certificate chain",
        "not-tls": f"check the scheme and port in {key_path}.url (http:// vs https://)",
        "protocol": "enable TLS 1.2 or newer on the server",
    }.get(kind, f"fix the certificate or set {key_path}.verify to the CA bundle that signed it")


def _reason(exc: BaseException) -> str:
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
    "Remote end closed connection without response",
    "Connection aborted",
    "Connection broken",
    "answer too slow",
)
