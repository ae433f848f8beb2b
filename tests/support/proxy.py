"""A reverse proxy on 127.0.0.1 in front of a test WordPress.

The benchmark uses it to add a fixed delay to every request; end-to-end tests
use it to put WordPress behind TLS, to hide the API root's announcement, or to
refuse HEAD requests, as real front ends do.

The delay stands for the network round trip between the agent and a distant
WordPress: each request waits `delay` seconds in the proxy before it is
forwarded. Requests in flight at once wait at once, so a reader that sends
its requests concurrently pays the delay once per batch, and a reader that
sends them one after another pays it once per request.

Everything is relayed unchanged (method, path and query, headers including
Authorization, body; status, headers including Link and X-WP-Total, body),
except that the upstream origin (`http://127.0.0.1:UPSTREAM`, also in its
JSON-escaped form `http:\\/\\/127.0.0.1:UPSTREAM`) is replaced by the proxy's
own origin in the Link and Location headers and in bodies, so that the
absolute URLs WordPress hands out lead back through the proxy. Upstream
requests carry the upstream's own Host, so WordPress never redirects to its
configured home URL.

    with ReverseProxy("http://127.0.0.1:8080", delay=0.05) as proxy:
        requests.get(proxy.url + "/wp-json/")
        proxy.counts()  # {"GET": 1}

`connect_delay` (off by default) adds a further delay once per new client
connection, to stand for the TCP handshake's round trip. `tls` (an
SSLContext) serves https; `strip_api_links` removes the `rel="https://api.w.org/"`
Link header and <link> tag; `refuse_head` answers 405 to HEAD.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT = 120.0
IDLE_CONNECTION_TIMEOUT = 60.0
LISTEN_BACKLOG = 256
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
REWRITTEN_HEADERS = frozenset({"link", "location", "content-location"})
API_LINK_HEADER = re.compile(r'<[^>]*>\s*;\s*rel="https://api\.w\.org/"')
API_LINK_TAG = re.compile(rb"<link[^>]*rel=[\"']https://api\.w\.org/[\"'][^>]*>")
NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Origin:
    """`http://host:port` and the host and port apart."""

    host: str
    port: int
    scheme: str = "http"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def parse_origin(url: str) -> Origin:
    """The origin of an `http://host:port` URL (any path is ignored)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"upstream must look like http://127.0.0.1:PORT, not {url!r}")
    return Origin(parts.hostname, parts.port)


class OriginRewriter:
    """Replaces the upstream origin by the proxy's, plain and JSON-escaped."""

    def __init__(self, upstream: Origin, proxy: Origin) -> None:
        self._replacements = [
            (_origin_pattern(upstream.url), proxy.url.encode()),
            (_origin_pattern(_json_escaped(upstream.url)), _json_escaped(proxy.url).encode()),
        ]

    def rewrite_bytes(self, data: bytes) -> bytes:
        for pattern, replacement in self._replacements:
            data = pattern.sub(replacement, data)
        return data

    def rewrite_text(self, value: str) -> str:
        return self.rewrite_bytes(value.encode("latin-1")).decode("latin-1")


def _json_escaped(url: str) -> str:
    return url.replace("/", "\\/")


def _origin_pattern(origin: str) -> re.Pattern[bytes]:
    """The origin, not followed by another digit (port 80 must not match 8080)."""
    return re.compile(re.escape(origin.encode()) + rb"(?!\d)")


class RequestStats:
    """Requests by method, and the most that were in flight at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_method: Counter[str] = Counter()
        self._paths: list[str] = []
        self._in_flight = 0
        self._peak = 0
        self._connections = 0

    @contextmanager
    def request(self, method: str, path: str = "") -> Iterator[None]:
        with self._lock:
            self._by_method[method] += 1
            self._paths.append(path)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_method)

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._paths)

    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak

    def connections(self) -> int:
        with self._lock:
            return self._connections

    def reset(self) -> None:
        with self._lock:
            self._by_method.clear()
            self._paths.clear()
            self._peak = self._in_flight
            self._connections = 0


class _ProxyServer(ThreadingHTTPServer):
    """A thread per connection; remembers open connections to end them on stop."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG  # 64 connections may arrive at once

    def __init__(self, proxy: ReverseProxy, tls: ssl.SSLContext | None) -> None:
        self.proxy = proxy
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(request)

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that went away (a read ended, the proxy stopping)."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def end_open_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the client
    timeout = IDLE_CONNECTION_TIMEOUT
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        proxy = self.server.proxy
        proxy.stats.connection_opened()
        if proxy.connect_delay > 0:
            time.sleep(proxy.connect_delay)

    def do_GET(self) -> None:
        self._relay()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the benchmark prints figures, not access logs."""

    def _relay(self) -> None:
        proxy = self.server.proxy
        if proxy.refuse_head and self.command == "HEAD":
            self._send_plain(405, "Method Not Allowed", b"")
            return
        with proxy.stats.request(self.command, self.path):
            time.sleep(proxy.delay)
            body = self._request_body()
            try:
                status, reason, headers, answer = proxy.forward(
                    self.command, self.path, self._forwarded_headers(), body
                )
            except (OSError, http.client.HTTPException) as exc:
                self._send_bad_gateway(exc)
                return
        self._send_answer(status, reason, headers, answer)

    def _request_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            return None
        return self.rfile.read(int(length))

    def _forwarded_headers(self) -> list[tuple[str, str]]:
        """The client's headers without hop-by-hop ones, Host pointing upstream."""
        kept = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("host", "content-length")
        ]
        return [("Host", self.server.proxy.upstream.netloc), *kept]

    def _send_answer(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.send_response_only(status, reason)
        rewriter = self.server.proxy.rewriter
        for name, value in headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or (lower == "content-length" and self.command != "HEAD"):
                continue
            if lower in REWRITTEN_HEADERS:
                value = rewriter.rewrite_text(value)
            if lower == "link" and self.server.proxy.strip_api_links:
                value = API_LINK_HEADER.sub("", value).strip(" ,")
                if not value:
                    continue
            self.send_header(name, value)
        if self.command != "HEAD" and status not in NO_BODY_STATUSES:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in NO_BODY_STATUSES:
            self.wfile.write(body)

    def _send_bad_gateway(self, exc: Exception) -> None:
        self._send_plain(502, "Bad Gateway", f"proxy: upstream failed: {exc}\n".encode())

    def _send_plain(self, status: int, reason: str, message: bytes) -> None:
        self.send_response_only(status, reason)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(message)


class ReverseProxy:
    """A reverse proxy in front of one `http://127.0.0.1:PORT` upstream."""

    def __init__(
        self,
        upstream: str,
        delay: float = 0.0,
        connect_delay: float = 0.0,
        *,
        tls: ssl.SSLContext | None = None,
        strip_api_links: bool = False,
        refuse_head: bool = False,
    ) -> None:
        self.upstream = parse_origin(upstream)
        self.delay = delay
        self.connect_delay = connect_delay
        self.strip_api_links = strip_api_links
        self.refuse_head = refuse_head
        self.stats = RequestStats()
        self._server = _ProxyServer(self, tls)
        port = int(self._server.server_address[1])
        self.origin = Origin("127.0.0.1", port, "https" if tls else "http")
        self.rewriter = OriginRewriter(self.upstream, self.origin)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy's origin: `http://127.0.0.1:PROXYPORT`."""
        return self.origin.url

    def proxied(self, url: str) -> str:
        """An upstream URL as seen through the proxy."""
        return self.rewriter.rewrite_text(url)

    def counts(self) -> dict[str, int]:
        """Requests received by method since the start or the last reset."""
        return self.stats.counts()

    def paths(self) -> list[str]:
        """Paths (with query) of the requests received, in order."""
        return self.stats.paths()

    def start(self) -> ReverseProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="reverse-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end open connections, close the socket (idempotent)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.end_open_connections()
        self._server.server_close()

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send one request upstream; the answer with its body already rewritten."""
        connection = http.client.HTTPConnection(
            self.upstream.host, self.upstream.port, timeout=UPSTREAM_TIMEOUT
        )
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            answer = response.read()
            headers_back = response.getheaders()
            if not _is_encoded(headers_back):
                answer = self.rewriter.rewrite_bytes(answer)
                if self.strip_api_links:
                    answer = API_LINK_TAG.sub(b"", answer)
            return response.status, response.reason, headers_back, answer
        finally:
            connection.close()

    def __enter__(self) -> ReverseProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _is_encoded(headers: list[tuple[str, str]]) -> bool:
    """Whether the body is compressed (then it is relayed without rewriting)."""
    return any(
        name.lower() == "content-encoding" and value.strip().lower() not in ("", "identity")
        for name, value in headers
    )


class _RedirectHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RedirectServer

    def do_GET(self) -> None:
        self.send_response_only(301, "Moved Permanently")
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class _RedirectServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        super().__init__(("127.0.0.1", 0), _RedirectHandler)


class Redirector:
    """Answers every request with a 301 to the same path at `target` (http→https)."""

    def __init__(self, target: str) -> None:
        self._server = _RedirectServer(target)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Redirector:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
