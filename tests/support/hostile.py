"""A small WordPress look-alike whose every route can be made to misbehave.

It answers enough of the REST API and of xmlrpc.php for a read to succeed:
one post type `post` (3 published) and one taxonomy `category` (2 terms) by
default. A test replaces any route's answer with a `Behaviour`: a plain
answer, a trickle, a hang, a redirect, or any function of the request. It
runs on raw sockets (`RawServer`), one request per connection, so nothing in
an HTTP library smooths over what it sends.

    with HostileWordPress() as wp:
        wp.routes["/wp-json/wp/v2/types"] = Trickle(wp.default("/wp-json/wp/v2/types"), 1.0)
        ... run the agent against wp.url ...
        wp.requests  # (method, path, headers) of everything that arrived
"""

from __future__ import annotations

import json
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tests.support.raw_server import RawServer

AS_JSON = {"Content-Type": "application/json; charset=UTF-8"}


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def wire(self, head_only: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {self.status} Whatever", "Connection: close"]
        headers = {"Content-Length": str(len(self.body)), **self.headers}
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
            b"" if head_only else self.body
        )


def json_answer(value: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, {**AS_JSON, **headers}, json.dumps(value).encode())


def xmlrpc_answer(value: Any) -> Answer:
    body = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()
    return Answer(200, {"Content-Type": "text/xml; charset=UTF-8"}, body)


class Behaviour:
    """How a route answers; `serve` writes to the socket itself."""

    def serve(self, conn: socket.socket, request: Request, site: HostileWordPress) -> None:
        raise NotImplementedError


@dataclass
class Plain(Behaviour):
    answer: Answer

    def serve(self, conn: socket.socket, request: Request, site: HostileWordPress) -> None:
        conn.sendall(self.answer.wire(request.method == "HEAD"))


@dataclass
class Trickle(Behaviour):
    """The answer, one byte every `interval` seconds, headers included."""

    answer: Answer
    interval: float = 1.0

    def serve(self, conn: socket.socket, request: Request, site: HostileWordPress) -> None:
        for byte in self.answer.wire(request.method == "HEAD"):
            if site.closing.wait(self.interval):
                return
            conn.sendall(bytes([byte]))


@dataclass
class Hang(Behaviour):
    """Read the request, then say nothing until the server closes."""

    def serve(self, conn: socket.socket, request: Request, site: HostileWordPress) -> None:
        site.closing.wait()


@dataclass
class Computed(Behaviour):
    """Any answer, computed from the request (and the site's state)."""

    compute: Callable[[Request], Answer]

    def serve(self, conn: socket.socket, request: Request, site: HostileWordPress) -> None:
        conn.sendall(self.compute(request).wire(request.method == "HEAD"))


class HostileWordPress:
    POSTS, CATEGORIES = 3, 2

    def __init__(self, *, link_header: bool = False) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self.closing = threading.Event()
        self.link_header = link_header
        self.types: dict[str, dict[str, Any]] = {
            "post": {
                "slug": "post",
                "name": "Posts",
                "rest_base": "posts",
                "rest_namespace": "wp/v2",
            }
        }
        self.taxonomies: dict[str, dict[str, Any]] = {
            "category": {
                "slug": "category",
                "name": "Categories",
                "rest_base": "categories",
                "rest_namespace": "wp/v2",
            }
        }
        self.totals = {
            "/wp-json/wp/v2/posts": str(self.POSTS),
            "/wp-json/wp/v2/categories": str(self.CATEGORIES),
        }
        self._server = RawServer(self._serve)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> HostileWordPress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.closing.set()
        self._server.close()

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    # --- what a well-behaved site answers ------------------------------------------

    def default(self, path: str, request: Request | None = None) -> Answer:
        if path in ("", "/"):
            headers = {"Content-Type": "text/html"}
            if self.link_header:
                headers["Link"] = f'<{self.url}/wp-json/>; rel="https://api.w.org/"'
            return Answer(200, headers, b"<html><body>home</body></html>")
        if path == "/wp-json/wp/v2/types":
            return json_answer(self.types)
        if path == "/wp-json/wp/v2/taxonomies":
            return json_answer(self.taxonomies)
        if path in self.totals:
            return json_answer([], **{"X-WP-Total": self.totals[path]})
        return json_answer({"code": "rest_no_route"}, 404)

    # --- the server ----------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        request = _read_request(conn)
        if request is None:
            return
        with self._lock:
            self.requests.append(request)
        behaviour = self.routes.get(request.path) or Plain(self.default(request.path, request))
        try:
            behaviour.serve(conn, request, self)
        finally:
            conn.close()


def _read_request(conn: socket.socket) -> Request | None:
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    deadline = time.monotonic() + 10
    while len(body) < length and time.monotonic() < deadline:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, body)
