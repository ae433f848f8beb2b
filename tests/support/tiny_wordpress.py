"""The least of a WordPress REST API, for unit tests that need a read to succeed.

One post type (`post`, 3 published) and one taxonomy (`category`, 2 terms)
under /wp-json/, no API announcement on the home page (so discovery falls
back to /wp-json/), and a home page answering `home_status`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POSTS, CATEGORIES = 3, 2
TYPES = {"post": {"slug": "post", "name": "Posts", "rest_base": "posts", "rest_namespace": "wp/v2"}}
TAXONOMIES = {
    "category": {
        "slug": "category",
        "name": "Categories",
        "rest_base": "categories",
        "rest_namespace": "wp/v2",
    }
}
AS_JSON = {"Content-Type": "application/json; charset=UTF-8"}


class TinyWordPress(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    home_status = 200

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        path = self.path.split("?")[0]
        if path in ("", "/"):
            self._answer(
                self.home_status,
                b"<html><body>home</body></html>",
                {"Content-Type": "text/html"},
                head,
            )
        elif path == "/wp-json/wp/v2/types":
            self._answer(200, json.dumps(TYPES).encode(), AS_JSON, head)
        elif path == "/wp-json/wp/v2/taxonomies":
            self._answer(200, json.dumps(TAXONOMIES).encode(), AS_JSON, head)
        elif path in ("/wp-json/wp/v2/posts", "/wp-json/wp/v2/categories"):
            total = POSTS if path.endswith("posts") else CATEGORIES
            self._answer(200, b"[]", {**AS_JSON, "X-WP-Total": str(total)}, head)
        else:
            self._answer(404, b'{"code":"rest_no_route"}', AS_JSON, head)

    def _answer(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


@contextmanager
def tiny_wordpress(home_status: int = 200) -> Iterator[str]:
    """Serve a TinyWordPress on 127.0.0.1; yields its home URL."""
    handler = type("Handler", (TinyWordPress,), {"home_status": home_status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
