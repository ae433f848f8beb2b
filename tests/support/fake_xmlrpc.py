"""A stand-in for WordPress's xmlrpc.php: the methods the agent uses, with WordPress's
defaults, filters and faults, on a threaded stdlib SimpleXMLRPCServer.

    fake = FakeWordPress()
    with serving(fake) as endpoint:   # http://127.0.0.1:PORT/xmlrpc.php
        ...
"""

from __future__ import annotations

import contextlib
import io
import random
import socketserver
import ssl
import threading
import xmlrpc.client
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

USERNAME = "igny8-bot"
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"  # an application password, as WordPress shows it


def post_type(name: str, label: str, *, public: bool = True) -> dict[str, Any]:
    """A post type as WordPress's _prepare_post_type gives it."""
    return {
        "name": name,
        "label": label,
        "hierarchical": False,
        "public": public,
        "show_ui": public,
        "_builtin": name in ("post", "page", "attachment", "revision"),
        "has_archive": False,
        "supports": {"title": True, "editor": True},
        "labels": {"name": label, "singular_name": label.rstrip("s")},
        "cap": {"edit_posts": f"edit_{name}s"},
        "map_meta_cap": True,
        "menu_position": 5,
        "menu_icon": "",
        "show_in_menu": public,
        "taxonomies": [],
    }


def taxonomy(name: str, label: str, *, public: bool = True) -> dict[str, Any]:
    """A taxonomy as WordPress's _prepare_taxonomy gives it."""
    return {
        "name": name,
        "label": label,
        "hierarchical": name == "category",
        "public": public,
        "show_ui": public,
        "_builtin": name in ("category", "post_tag", "post_format"),
        "labels": {"name": label, "singular_name": label.rstrip("s")},
        "cap": {"assign_terms": "edit_posts"},
        "object_type": ["post"],
    }


WORDPRESS_METHODS = (
    "system.multicall",
    "system.listMethods",
    "system.getCapabilities",
    "demo.sayHello",
    "wp.getUsersBlogs",
    "wp.getPosts",
    "wp.getPost",
    "wp.getPostType",
    "wp.getPostTypes",
    "wp.getTaxonomy",
    "wp.getTaxonomies",
    "wp.getTerm",
    "wp.getTerms",
    "wp.getOptions",
    "mt.supportedMethods",
    "mt.getCategoryList",
    "pingback.ping",
)
ALL_STATUSES = ("draft", "publish", "future", "pending", "private")  # wp_get_recent_posts


@dataclass
class Scripted:
    """A plain HTTP answer given, once, instead of XML-RPC to the next request for `method`
    (None: to the next request whatever it asks)."""

    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=UTF-8"
    method: str | None = None


class FakeWordPress:
    """What xmlrpc.php answers, with its defaults: getPostTypes/getTaxonomies filter
    public => true unless told otherwise; getPosts gives 10 items of every status unless
    told otherwise; getTerms hides empty terms unless told otherwise."""

    def __init__(self) -> None:
        self.endpoint = ""
        self.username = USERNAME
        self.password = PASSWORD
        self.enabled = True  # the xmlrpc_enabled filter
        self.gzip = False  # compress answers for clients that accept gzip (nginx gzip_types)
        self.supported = list(WORDPRESS_METHODS)
        self.forbidden_post_types: set[str] = set()
        self.post_types = {
            t["name"]: t
            for t in (
                post_type("post", "Posts"),
                post_type("page", "Pages"),
                post_type("attachment", "Media"),
                post_type("book", "Books"),
                post_type("revision", "Revisions", public=False),
                post_type("wp_block", "Patterns", public=False),
            )
        }
        self.taxonomies = [
            taxonomy("category", "Categories"),
            taxonomy("post_tag", "Tags"),
            taxonomy("post_format", "Formats"),
            taxonomy("genre", "Genres"),
            taxonomy("nav_menu", "Navigation Menus", public=False),
        ]
        statuses = ["publish"] * 1234 + ["draft"] * 50 + ["private"] * 3 + ["pending"] * 2
        random.Random(8).shuffle(statuses)  # drafts between published posts
        kinds = (
            [("post", s) for s in statuses]
            + [("page", "publish")] * 7
            + [("page", "draft")] * 2
            + [("book", "publish")] * 4
            + [("book", "draft")]
            + [("attachment", "inherit")] * 9
            + [("revision", "inherit")] * 5
        )
        self.posts = [(number, kind, status) for number, (kind, status) in enumerate(kinds, 1)]
        self.terms: dict[str, list[int]] = {  # each term's post count
            "category": [3, 0, 1],
            "post_tag": [n % 2 for n in range(501)],  # 251 empty ones
            "genre": [0, 0],
            "post_format": [1],
            "nav_menu": [1],
        }
        self.script: deque[Scripted] = deque()
        self.received: list[str] = []  # the method of every request, scripted ones too
        self.queries: list[tuple[str, tuple[Any, ...]]] = []  # arguments after credentials
        self.lock = threading.Lock()

    def set_posts(self, post_type: str, published: int, drafts: int = 0) -> None:
        others = [p for p in self.posts if p[1] != post_type]
        start = max((p[0] for p in others), default=0) + 1
        mine = ["publish"] * published + ["draft"] * drafts
        self.posts = others + [(start + i, post_type, s) for i, s in enumerate(mine)]

    def calls_to(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.queries if name == method]

    # --- the HTTP side ---------------------------------------------------------------------

    def next_scripted(self, method: str) -> Scripted | None:
        with self.lock:
            self.received.append(method)
            if self.script and self.script[0].method in (None, method):
                return self.script.popleft()
        return None

    # --- the XML-RPC side (SimpleXMLRPCServer calls _dispatch for every method) ------------

    def _dispatch(self, method: str, params: tuple[Any, ...]) -> Any:
        if method == "mt.supportedMethods":
            return list(self.supported)
        if method not in self.supported:
            raise xmlrpc.client.Fault(
                -32601, f"server error. requested method {method} does not exist."
            )
        _blog_id, username, password, *args = params
        with self.lock:
            self.queries.append((method, tuple(args)))
        if not self.enabled:
            raise xmlrpc.client.Fault(405, "XML-RPC services are disabled on this site.")
        if (username, password) != (self.username, self.password):
            raise xmlrpc.client.Fault(403, "Incorrect username or password.")
        handlers: dict[str, Callable[..., Any]] = {
            "wp.getPostTypes": self.get_post_types,
            "wp.getTaxonomies": self.get_taxonomies,
            "wp.getPosts": self.get_posts,
            "wp.getTerms": self.get_terms,
        }
        return handlers[method](*args)

    def get_post_types(
        self, query: dict[str, Any] | None = None, fields: list[str] | None = None
    ) -> dict[str, Any]:
        wanted = {"public": True} if query is None else query
        return {
            slug: t
            for slug, t in self.post_types.items()
            if all(t.get(key) == value for key, value in wanted.items())
        }

    def get_taxonomies(
        self, query: dict[str, Any] | None = None, fields: list[str] | None = None
    ) -> list[dict[str, Any]]:
        wanted = {"public": True} if query is None else query
        return [
            t for t in self.taxonomies if all(t.get(key) == value for key, value in wanted.items())
        ]

    def get_posts(
        self, query: dict[str, Any] | None = None, fields: list[str] | None = None
    ) -> list[dict[str, Any]]:
        query = query or {}
        kind = query.get("post_type", "post")
        if kind not in self.post_types:
            raise xmlrpc.client.Fault(403, "Invalid post type.")
        if kind in self.forbidden_post_types:
            raise xmlrpc.client.Fault(
                401, "Sorry, you are not allowed to edit posts in this post type."
            )
        statuses = query.get("post_status", ALL_STATUSES)
        if isinstance(statuses, str):
            statuses = statuses.split(",")
        ids = sorted(n for n, k, status in self.posts if k == kind and status in statuses)
        offset, number = int(query.get("offset", 0)), int(query.get("number", 10))
        page = ids[offset : offset + number]
        if fields is not None and fields == ["post_id"]:
            return [{"post_id": str(n)} for n in page]
        return [{"post_id": str(n), "post_type": kind, "post_title": f"Item {n}"} for n in page]

    def get_terms(self, name: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if name not in {t["name"] for t in self.taxonomies}:
            raise xmlrpc.client.Fault(403, "Invalid taxonomy.")
        query = query or {}
        rows = list(enumerate(self.terms.get(name, []), 1))
        if query.get("hide_empty", True):
            rows = [(n, count) for n, count in rows if count > 0]
        offset = int(query.get("offset", 0))
        number = int(query["number"]) if query.get("number") else len(rows)
        return [
            {
                "term_id": str(n),
                "name": f"{name} {n}",
                "slug": f"{name}-{n}",
                "taxonomy": name,
                "term_group": "0",
                "term_taxonomy_id": str(n),
                "description": "",
                "parent": "0",
                "count": count,
            }
            for n, count in rows[offset : offset + number]
        ]


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/xmlrpc.php",)

    def do_POST(self) -> None:
        fake: FakeWordPress = self.server.fake  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            method = xmlrpc.client.loads(body)[1] or "?"
        except Exception:  # noqa: BLE001 - not XML-RPC: still recorded
            method = "?"
        answer = fake.next_scripted(method)
        if answer is not None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            return
        self.encode_threshold = 0 if fake.gzip else None  # type: ignore[assignment]
        socket_file, self.rfile = self.rfile, io.BytesIO(body)
        try:
            super().do_POST()
        finally:
            self.rfile = socket_file

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass


class _ThreadedXmlrpcServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True

    def __init__(self, fake: FakeWordPress, context: ssl.SSLContext | None):
        super().__init__(
            ("127.0.0.1", 0), requestHandler=_Handler, logRequests=False, allow_none=True
        )
        self.fake = fake
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.register_instance(fake)


@contextlib.contextmanager
def serving(fake: FakeWordPress, context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Runs the stand-in on 127.0.0.1; yields its xmlrpc.php URL."""
    server = _ThreadedXmlrpcServer(fake, context)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/xmlrpc.php"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
