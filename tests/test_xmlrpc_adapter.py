"""Unit tests of agent.wordpress_xmlrpc (the XML-RPC adapter) against real local servers.

A threaded stdlib `SimpleXMLRPCServer` stands in for WordPress's xmlrpc.php: the methods
the agent uses, their filters, and WordPress's faults. Raw sockets play the misbehaving
hosts (hang, reset, huge answers). Nothing sleeps: retry waits go to a fake `sleep` and are
asserted. The password must never show up in an exception message or a log record.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import io
import logging
import random
import socket
import socketserver
import ssl
import struct
import threading
import xmlrpc.client
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest
import tenacity
import wordpress_xmlrpc.base
from wordpress_xmlrpc import Client
from wordpress_xmlrpc.methods.taxonomies import GetTaxonomies
from wordpress_xmlrpc.wordpress import WordPressTaxonomy

import agent.wordpress_xmlrpc as adapter
from agent.config import SiteConfig, WordPressConfig
from agent.errors import (
    CredentialsRejected,
    TransientError,
    WordPressError,
    XmlrpcMethodMissing,
    XmlrpcUnavailable,
)
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.structure import SiteStructure
from agent.transport import MAX_RESPONSE_BYTES, HttpResponse
from agent.wordpress_rest import origin_of
from agent.wordpress_xmlrpc import XmlrpcReader, xmlrpc_endpoint
from tests.support.raw_server import RawServer, read_request

USERNAME = "igny8-bot"
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"  # an application password, as WordPress shows it
WRONG_PASSWORD = "zzzz YYYY xxxx WWWW vvvv UUUU"
SECRETS = (PASSWORD, PASSWORD.replace(" ", ""), WRONG_PASSWORD, WRONG_PASSWORD.replace(" ", ""))
WAIT = 7.0  # the fixed retry wait; recorded by the fake sleep, never slept
LOG = logging.LoggerAdapter(logging.getLogger("tests.xmlrpc_adapter"), {"site": "blog"})
HUGE = 64 * 1024 * 1024  # far past the cap plus what loopback socket buffers can hold

HTML_PAGE = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"UTF-8\">"
             b"<title>My blog</title><link rel=\"stylesheet\" href=\"/style.css\">"
             b"</head><body><p>Hello<br></body></html>")
HTML_403 = (b"<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden"
            b"</h1></center><hr><center>nginx</center>\r\n</body></html>")
WELL_FORMED_HTML = (b"<!DOCTYPE html>\n<html><head><title>Blocked</title></head>"
                    b"<body><p>Access to xmlrpc.php is blocked by the firewall.</p></body></html>")


# --- a WordPress xmlrpc.php stand-in ----------------------------------------------------------


def post_type(name: str, label: str, *, public: bool = True) -> dict[str, Any]:
    """A post type as WordPress's _prepare_post_type gives it."""
    return {
        "name": name, "label": label, "hierarchical": False, "public": public,
        "show_ui": public, "_builtin": name in ("post", "page", "attachment", "revision"),
        "has_archive": False, "supports": {"title": True, "editor": True},
        "labels": {"name": label, "singular_name": label.rstrip("s")},
        "cap": {"edit_posts": f"edit_{name}s"}, "map_meta_cap": True, "menu_position": 5,
        "menu_icon": "", "show_in_menu": public, "taxonomies": [],
    }


def taxonomy(name: str, label: str, *, public: bool = True) -> dict[str, Any]:
    """A taxonomy as WordPress's _prepare_taxonomy gives it."""
    return {
        "name": name, "label": label, "hierarchical": name == "category", "public": public,
        "show_ui": public, "_builtin": name in ("category", "post_tag", "post_format"),
        "labels": {"name": label, "singular_name": label.rstrip("s")},
        "cap": {"assign_terms": "edit_posts"}, "object_type": ["post"],
    }


WORDPRESS_METHODS = (
    "system.multicall", "system.listMethods", "system.getCapabilities", "demo.sayHello",
    "wp.getUsersBlogs", "wp.getPosts", "wp.getPost", "wp.getPostType", "wp.getPostTypes",
    "wp.getTaxonomy", "wp.getTaxonomies", "wp.getTerm", "wp.getTerms", "wp.getOptions",
    "mt.supportedMethods", "mt.getCategoryList", "pingback.ping",
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
        self.post_types = {t["name"]: t for t in (
            post_type("post", "Posts"), post_type("page", "Pages"),
            post_type("attachment", "Media"), post_type("book", "Books"),
            post_type("revision", "Revisions", public=False),
            post_type("wp_block", "Patterns", public=False),
        )}
        self.taxonomies = [
            taxonomy("category", "Categories"), taxonomy("post_tag", "Tags"),
            taxonomy("post_format", "Formats"), taxonomy("genre", "Genres"),
            taxonomy("nav_menu", "Navigation Menus", public=False),
        ]
        statuses = ["publish"] * 1234 + ["draft"] * 50 + ["private"] * 3 + ["pending"] * 2
        random.Random(8).shuffle(statuses)  # drafts between published posts
        kinds = [("post", s) for s in statuses] + [("page", "publish")] * 7 + [
            ("page", "draft")] * 2 + [("book", "publish")] * 4 + [("book", "draft")] + [
            ("attachment", "inherit")] * 9 + [("revision", "inherit")] * 5
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
                -32601, f"server error. requested method {method} does not exist.")
        _blog_id, username, password, *args = params
        with self.lock:
            self.queries.append((method, tuple(args)))
        if not self.enabled:
            raise xmlrpc.client.Fault(405, "XML-RPC services are disabled on this site.")
        if (username, password) != (self.username, self.password):
            raise xmlrpc.client.Fault(403, "Incorrect username or password.")
        handlers: dict[str, Callable[..., Any]] = {
            "wp.getPostTypes": self.get_post_types, "wp.getTaxonomies": self.get_taxonomies,
            "wp.getPosts": self.get_posts, "wp.getTerms": self.get_terms,
        }
        return handlers[method](*args)

    def get_post_types(self, query: dict[str, Any] | None = None,
                       fields: list[str] | None = None) -> dict[str, Any]:
        wanted = {"public": True} if query is None else query
        return {slug: t for slug, t in self.post_types.items()
                if all(t.get(key) == value for key, value in wanted.items())}

    def get_taxonomies(self, query: dict[str, Any] | None = None,
                       fields: list[str] | None = None) -> list[dict[str, Any]]:
        wanted = {"public": True} if query is None else query
        return [t for t in self.taxonomies
                if all(t.get(key) == value for key, value in wanted.items())]

    def get_posts(self, query: dict[str, Any] | None = None,
                  fields: list[str] | None = None) -> list[dict[str, Any]]:
        query = query or {}
        kind = query.get("post_type", "post")
        if kind not in self.post_types:
            raise xmlrpc.client.Fault(403, "Invalid post type.")
        if kind in self.forbidden_post_types:
            raise xmlrpc.client.Fault(
                401, "Sorry, you are not allowed to edit posts in this post type.")
        statuses = query.get("post_status", ALL_STATUSES)
        if isinstance(statuses, str):
            statuses = statuses.split(",")
        ids = sorted(n for n, k, status in self.posts if k == kind and status in statuses)
        offset, number = int(query.get("offset", 0)), int(query.get("number", 10))
        page = ids[offset:offset + number]
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
        return [{"term_id": str(n), "name": f"{name} {n}", "slug": f"{name}-{n}",
                 "taxonomy": name, "term_group": "0", "term_taxonomy_id": str(n),
                 "description": "", "parent": "0", "count": count}
                for n, count in rows[offset:offset + number]]


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
        super().__init__(("127.0.0.1", 0), requestHandler=_Handler, logRequests=False,
                         allow_none=True)
        self.fake = fake
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.register_instance(fake)


@contextlib.contextmanager
def serving(fake: FakeWordPress, context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Runs the stand-in on 127.0.0.1; yields its xmlrpc.php URL."""
    server = _ThreadedXmlrpcServer(fake, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/xmlrpc.php"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def wp() -> Iterator[FakeWordPress]:
    fake = FakeWordPress()
    with serving(fake) as endpoint:
        fake.endpoint = endpoint
        yield fake


# --- a raw TCP server, for hosts that misbehave below XML-RPC ---------------------------------


@contextlib.contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[RawServer]:
    server = RawServer(serve)
    try:
        yield server
    finally:
        server.close()


class Streamer:
    """Answers 200 (or `status`) with a valid XML-RPC prefix and then endless XML, counting
    the bytes that got out, up to `total`."""

    def __init__(self, total: int, *, declare_length: bool, status: int = 200):
        self.total = total
        self.declare_length = declare_length
        self.status = status
        self.sent = 0
        self.finished = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        head = [f"HTTP/1.1 {self.status} Whatever", "Content-Type: text/xml; charset=UTF-8",
                "Connection: close"]
        if self.declare_length:
            head.append(f"Content-Length: {self.total}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        prefix = b"<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>"
        item = b"<value><string>" + b"x" * 1000 + b"</string></value>\n"
        chunk = prefix + item * ((64 * 1024 - len(prefix)) // len(item))
        try:
            while self.sent < self.total:
                conn.sendall(chunk)
                self.sent += len(chunk)
                chunk = item * (64 * 1024 // len(item))
        finally:
            self.finished.set()


def refused_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/xmlrpc.php"


# --- the agent's side ---------------------------------------------------------------------


def site_for(endpoint: str, *, password: str = PASSWORD, verify: bool | str = True,
             timeout: float = 5.0, **extra: Any) -> SiteConfig:
    home = endpoint.rsplit("/", 1)[0] + "/"
    return SiteConfig(
        key_path="sites[0]", name="blog", site_id=5, api_key=Secret("igny8-key-0123456789"),
        wordpress=WordPressConfig(url=home, username=USERNAME, app_password=Secret(password),
                                  xmlrpc="always", timeout=timeout, verify=verify),
        **extra,
    )


def reader_for(endpoint: str, waits: list[float], *, max_attempts: int = 3,
               **site: Any) -> XmlrpcReader:
    policy = RetryPolicy(max_attempts=max_attempts, max_seconds=3600.0,
                         wait=tenacity.wait_fixed(WAIT), sleep=waits.append)
    return XmlrpcReader(site_for(endpoint, **site), endpoint, policy, LOG)


@pytest.fixture
def waits() -> list[float]:
    """The retry waits the fake sleep was asked for."""
    return []


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def failure(reader: XmlrpcReader, kind: type[Exception]) -> Exception:
    """The error `reader.read()` raises; its message and repr must not hold a password."""
    with pytest.raises(kind) as caught:
        reader.read()
    assert_no_secret(str(caught.value), repr(caught.value))
    return caught.value


@pytest.fixture(autouse=True)
def no_password_in_log_records(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        assert_no_secret(text)


def as_dicts(structure: SiteStructure) -> tuple[dict[str, tuple[str, int]], ...]:
    return tuple({t.slug: (t.label, t.count) for t in part}
                 for part in (structure.post_types, structure.taxonomies))


EXPECTED_TYPES = {"post": ("Posts", 1234), "page": ("Pages", 7), "book": ("Books", 4)}
EXPECTED_TAXONOMIES = {"category": ("Categories", 3), "post_tag": ("Tags", 501),
                       "genre": ("Genres", 2)}


# --- python-wordpress-xmlrpc on this Python: collections.Iterable ---------------------------


def test_stdlib_collections_is_not_patched() -> None:
    assert adapter.XmlrpcReader is XmlrpcReader  # the adapter is imported
    assert not hasattr(collections, "Iterable")
    assert not hasattr(wordpress_xmlrpc.base.collections, "Mapping")  # a stand-in, not stdlib


def test_list_result_goes_through_results_class() -> None:
    raw = [taxonomy("category", "Categories"), taxonomy("genre", "Genres")]
    result = GetTaxonomies().process_result(raw)
    assert [type(t) for t in result] == [WordPressTaxonomy, WordPressTaxonomy]
    assert [(t.name, t.label, t.public) for t in result] == [
        ("category", "Categories", True), ("genre", "Genres", True)]


def test_without_the_stand_in_the_library_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stand-in is for: the library's own `collections` global fails here."""
    monkeypatch.setattr(wordpress_xmlrpc.base, "collections", collections)
    with pytest.raises(AttributeError, match="Iterable"):
        GetTaxonomies().process_result([taxonomy("category", "Categories")])


def test_library_client_lists_taxonomies_over_the_wire(wp: FakeWordPress) -> None:
    client = Client(wp.endpoint, USERNAME, PASSWORD)
    names = [t.name for t in client.call(GetTaxonomies())]
    assert names == ["category", "post_tag", "post_format", "genre"]


# --- XmlrpcReader.read() ------------------------------------------------------------------


def test_read_public_types_and_taxonomies_with_labels_and_counts(
    wp: FakeWordPress, waits: list[float]
) -> None:
    structure = reader_for(wp.endpoint, waits).read()
    assert as_dicts(structure) == (EXPECTED_TYPES, EXPECTED_TAXONOMIES)
    assert structure.source == f"XML-RPC at {wp.endpoint}"
    assert structure.read_at.tzinfo is not None
    assert waits == []


def test_published_posts_are_counted_in_pages_of_500(
    wp: FakeWordPress, waits: list[float]
) -> None:
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_published("post") == 1234
    queries = [args[0] for args in wp.calls_to("wp.getPosts")]
    assert [(q["post_type"], q["post_status"], q["number"], q["offset"]) for q in queries] == [
        ("post", "publish", 500, 0), ("post", "publish", 500, 500),
        ("post", "publish", 500, 1000)]
    assert all(args[1] == ["post_id"] for args in wp.calls_to("wp.getPosts"))


def test_a_full_last_page_asks_once_more(wp: FakeWordPress, waits: list[float]) -> None:
    wp.set_posts("book", published=500, drafts=3)
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_published("book") == 500
    assert [args[0]["offset"] for args in wp.calls_to("wp.getPosts")] == [0, 500]


def test_terms_are_counted_with_empty_ones_in_pages(wp: FakeWordPress, waits: list[float]) -> None:
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_terms("post_tag") == 501
    assert reader.count_terms("genre") == 2  # both empty
    queries = [args for args in wp.calls_to("wp.getTerms")]
    assert [(name, q["hide_empty"], q["number"], q["offset"]) for name, q in queries] == [
        ("post_tag", False, 500, 0), ("post_tag", False, 500, 500), ("genre", False, 500, 0)]


def test_exclude_lists_are_respected_and_not_counted(
    wp: FakeWordPress, waits: list[float]
) -> None:
    reader = reader_for(wp.endpoint, waits, exclude_post_types=("attachment", "page"),
                        exclude_taxonomies=("post_format", "post_tag"))
    post_types, taxonomies = as_dicts(reader.read())
    assert post_types == {"post": ("Posts", 1234), "book": ("Books", 4)}
    assert taxonomies == {"category": ("Categories", 3), "genre": ("Genres", 2)}
    assert {args[0]["post_type"] for args in wp.calls_to("wp.getPosts")} == {"post", "book"}
    assert {args[0] for args in wp.calls_to("wp.getTerms")} == {"category", "genre"}


def test_empty_exclude_lists_keep_attachment_and_post_format(
    wp: FakeWordPress, waits: list[float]
) -> None:
    reader = reader_for(wp.endpoint, waits, exclude_post_types=(), exclude_taxonomies=())
    post_types, taxonomies = as_dicts(reader.read())
    assert post_types["attachment"] == ("Media", 0)  # attachments are 'inherit', not published
    assert taxonomies["post_format"] == ("Formats", 1)
    assert "revision" not in post_types and "nav_menu" not in taxonomies


def test_calls_counts_every_request_including_supported_methods(
    wp: FakeWordPress, waits: list[float]
) -> None:
    reader = reader_for(wp.endpoint, waits)
    assert reader.calls == 0  # the constructor of the reader sends nothing
    reader.read()
    # mt.supportedMethods + getPostTypes + getTaxonomies
    # + getPosts: post 3, page 1, book 1 + getTerms: category 1, post_tag 2, genre 1
    assert reader.calls == 12
    assert len(wp.received) == 12
    assert wp.received.count("mt.supportedMethods") == 1
    assert wp.received[0] == "mt.supportedMethods"


def test_calls_match_requests_when_the_first_request_is_retried(
    wp: FakeWordPress, waits: list[float]
) -> None:
    wp.script.extend([Scripted(503, HTML_PAGE), Scripted(503, HTML_PAGE)])
    reader = reader_for(wp.endpoint, waits)
    reader.list_public()
    assert wp.received == ["mt.supportedMethods"] * 3 + ["wp.getPostTypes", "wp.getTaxonomies"]
    assert reader.calls == len(wp.received)


# --- transport: timeout, TLS, size cap, compression -----------------------------------------


def test_a_hanging_server_times_out_and_is_retried(waits: list[float]) -> None:
    def hang(conn: socket.socket) -> None:
        read_request(conn)
        server.stop.wait(30)

    with raw_server(hang) as server:
        reader = reader_for(server.url_for("xmlrpc.php"), waits, max_attempts=2, timeout=0.3)
        exc = failure(reader, TransientError)
        assert len(server.connections) == 2
    assert "gave up after 2 tries" in str(exc)
    assert waits == [WAIT]


def tls_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


def test_tls_with_the_configured_ca_bundle(
    certificate: tuple[Path, Path], waits: list[float]
) -> None:
    fake = FakeWordPress()
    with serving(fake, tls_context(certificate)) as endpoint:
        assert endpoint.startswith("https://")
        structure = reader_for(endpoint, waits, verify=str(certificate[0])).read()
    assert as_dicts(structure) == (EXPECTED_TYPES, EXPECTED_TAXONOMIES)


def test_tls_verify_off_accepts_the_self_signed_certificate(
    certificate: tuple[Path, Path], waits: list[float]
) -> None:
    fake = FakeWordPress()
    with serving(fake, tls_context(certificate)) as endpoint:
        post_types, _ = reader_for(endpoint, waits, verify=False).list_public()
    assert post_types == {"post": "Posts", "page": "Pages", "book": "Books"}


def test_tls_default_verify_rejects_a_self_signed_certificate_without_retrying(
    certificate: tuple[Path, Path], waits: list[float]
) -> None:
    fake = FakeWordPress()
    with serving(fake, tls_context(certificate)) as endpoint:
        exc = failure(reader_for(endpoint, waits), WordPressError)
    assert not isinstance(exc, TransientError)
    assert "TLS" in str(exc) and endpoint in str(exc)
    assert waits == []
    assert fake.received == []  # no request got through the handshake


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
def test_an_answer_over_the_size_cap_is_not_read(
    declare_length: bool, waits: list[float]
) -> None:
    streamer = Streamer(HUGE, declare_length=declare_length)
    with raw_server(streamer) as server:
        exc = failure(reader_for(server.url_for("xmlrpc.php"), waits), XmlrpcUnavailable)
        sent_when_refused = streamer.sent
    assert "larger than" in str(exc)
    assert sent_when_refused < HUGE - MAX_RESPONSE_BYTES
    assert waits == []


def test_an_error_answer_over_the_size_cap_is_not_read(waits: list[float]) -> None:
    streamer = Streamer(HUGE, declare_length=True, status=403)
    with raw_server(streamer) as server:
        failure(reader_for(server.url_for("xmlrpc.php"), waits), XmlrpcUnavailable)
        sent_when_refused = streamer.sent
    assert sent_when_refused < HUGE - MAX_RESPONSE_BYTES


def test_a_gzip_compressed_answer_is_read(wp: FakeWordPress, waits: list[float]) -> None:
    wp.gzip = True
    structure = reader_for(wp.endpoint, waits).read()
    assert as_dicts(structure) == (EXPECTED_TYPES, EXPECTED_TAXONOMIES)


# --- error mapping ------------------------------------------------------------------------


def test_wrong_password_is_credentials_rejected(wp: FakeWordPress, waits: list[float]) -> None:
    exc = failure(reader_for(wp.endpoint, waits, password=WRONG_PASSWORD), CredentialsRejected)
    assert "sites[0].wordpress" in str(exc)
    assert "Incorrect username or password." in str(exc)
    assert USERNAME in str(exc)
    assert waits == []
    assert wp.received == ["mt.supportedMethods", "wp.getPostTypes"]


def test_fault_405_xmlrpc_disabled_is_unavailable(wp: FakeWordPress, waits: list[float]) -> None:
    wp.enabled = False
    exc = failure(reader_for(wp.endpoint, waits), XmlrpcUnavailable)
    assert "disabled" in str(exc)
    assert waits == []
    assert wp.received == ["mt.supportedMethods", "wp.getPostTypes"]


def test_fault_401_on_a_post_type_is_not_retried(wp: FakeWordPress, waits: list[float]) -> None:
    wp.forbidden_post_types = {"book"}
    exc = failure(reader_for(wp.endpoint, waits), WordPressError)
    assert isinstance(exc, CredentialsRejected)
    assert "sites[0].wordpress" in str(exc)
    assert waits == []
    assert len(wp.calls_to("wp.getPosts")) == 3 + 1 + 1  # post, page, then book once


def test_a_method_missing_from_supported_methods(wp: FakeWordPress, waits: list[float]) -> None:
    wp.supported.remove("wp.getTerms")
    exc = failure(reader_for(wp.endpoint, waits), XmlrpcMethodMissing)
    assert "wp.getTerms" in str(exc)
    assert "wp.getTerms" not in wp.received
    assert waits == []


@pytest.mark.parametrize("when", [None, "wp.getPostTypes", "wp.getPosts"],
                         ids=["first-request", "listing", "counting"])
@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Scripted(405, b"XML-RPC server accepts POST requests only.", "text/plain"), "405"),
        (Scripted(403, HTML_403), "403"),
        (Scripted(200, HTML_PAGE), "HTML"),
        (Scripted(200, b""), "XML-RPC"),
        (Scripted(404, HTML_PAGE), "404"),
    ],
    ids=["http-405", "html-403", "html-200", "empty-200", "html-404"],
)
def test_what_is_not_xmlrpc_is_unavailable_and_not_retried(
    wp: FakeWordPress, waits: list[float], answer: Scripted, words: str, when: str | None
) -> None:
    answer.method = when
    wp.script.append(answer)
    exc = failure(reader_for(wp.endpoint, waits), XmlrpcUnavailable)
    assert words in str(exc)
    assert wp.endpoint in str(exc)
    assert waits == []
    assert not wp.script  # the scripted answer was given


def test_a_well_formed_html_page_is_unavailable(wp: FakeWordPress, waits: list[float]) -> None:
    wp.script.append(Scripted(200, WELL_FORMED_HTML))
    failure(reader_for(wp.endpoint, waits), XmlrpcUnavailable)


def test_503_twice_then_success(wp: FakeWordPress, waits: list[float]) -> None:
    wp.script.extend([Scripted(503, HTML_PAGE), Scripted(503, HTML_PAGE)])
    structure = reader_for(wp.endpoint, waits).read()
    assert as_dicts(structure) == (EXPECTED_TYPES, EXPECTED_TAXONOMIES)
    assert waits == [WAIT, WAIT]
    assert wp.received[:4] == ["mt.supportedMethods"] * 3 + ["wp.getPostTypes"]


def test_503_on_a_page_of_posts_is_retried_and_counted_once(
    wp: FakeWordPress, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    wp.script.append(Scripted(503, HTML_PAGE, method="wp.getPosts"))
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_published("post") == 1234
    assert waits == [WAIT]
    assert [args[0]["offset"] for args in wp.calls_to("wp.getPosts")] == [0, 500, 1000]
    assert any("503" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_503_until_the_retries_run_out(wp: FakeWordPress, waits: list[float]) -> None:
    wp.script.extend([Scripted(503, HTML_PAGE)] * 3)
    exc = failure(reader_for(wp.endpoint, waits), TransientError)
    assert "503" in str(exc) and "gave up after 3 tries" in str(exc)
    assert waits == [WAIT, WAIT]
    assert wp.received == ["mt.supportedMethods"] * 3


def test_connection_refused_is_transient_after_max_attempts(
    waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = refused_endpoint()
    exc = failure(reader_for(endpoint, waits, max_attempts=4), TransientError)
    assert "refused" in str(exc).lower() and "gave up after 4 tries" in str(exc)
    assert waits == [WAIT, WAIT, WAIT]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 3


def test_connection_reset_is_transient(waits: list[float]) -> None:
    def reset(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with raw_server(reset) as server:
        reader = reader_for(server.url_for("xmlrpc.php"), waits, max_attempts=2)
        exc = failure(reader, TransientError)
    assert "gave up after 2 tries" in str(exc)
    assert waits == [WAIT]


# --- xmlrpc_endpoint ----------------------------------------------------------------------


def home(body: bytes = b"<html><head></head><body></body></html>", *,
         url: str = "https://example.com/", headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status=200, headers=headers or {}, body=body, url=url)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (home(headers={"x-pingback": "https://example.com/wp/xmlrpc.php"}),
         "https://example.com/wp/xmlrpc.php"),
        (home(b'<head><link rel="pingback" href="https://example.com/blog/xmlrpc.php"></head>'),
         "https://example.com/blog/xmlrpc.php"),
        (home(b"<head><link rel='pingback' href='https://example.com/b/xmlrpc.php' /></head>"),
         "https://example.com/b/xmlrpc.php"),
        (home(b'<head><link rel="EditURI" type="application/rsd+xml" title="RSD" '
              b'href="https://example.com/cms/xmlrpc.php?rsd" /></head>'),
         "https://example.com/cms/xmlrpc.php"),
        (home(b'<link rel="pingback" href="https://example.com/from-link/xmlrpc.php">',
              headers={"x-pingback": "https://example.com/from-header/xmlrpc.php"}),
         "https://example.com/from-header/xmlrpc.php"),
        (home(url="https://www.example.com/blog/"), "https://www.example.com/blog/xmlrpc.php"),
        (home(url="https://example.com/?lang=en"), "https://example.com/xmlrpc.php"),
        (home(b'<link rel="pingback" href="/xmlrpc.php">', url="https://example.com/site"),
         "https://example.com/xmlrpc.php"),
        (home(headers={"x-pingback": "https://elsewhere.example.net/xmlrpc.php"}),
         "https://example.com/xmlrpc.php"),
        (home(headers={"x-pingback": "http://example.com/xmlrpc.php"}),
         "https://example.com/xmlrpc.php"),
    ],
    ids=["x-pingback", "link-pingback", "link-single-quotes", "rsd-edituri", "header-first",
         "final-url", "final-url-query", "relative-link-resolved", "other-host-ignored",
         "plain-http-from-https-ignored"],
)
def test_xmlrpc_endpoint_from_the_home_page(page: HttpResponse, expected: str) -> None:
    trusted = {("https", "example.com", 443), ("https", "www.example.com", 443)}
    assert xmlrpc_endpoint("https://example.com", page, trusted) == expected


@pytest.mark.parametrize("home_url", ["https://example.com/blog", "https://example.com/blog/"])
def test_xmlrpc_endpoint_without_a_home_page(home_url: str) -> None:
    assert xmlrpc_endpoint(home_url, None, set()) == "https://example.com/blog/xmlrpc.php"


def test_xmlrpc_endpoint_found_by_the_reader_is_used(wp: FakeWordPress, waits: list[float]) -> None:
    page = home(headers={"x-pingback": wp.endpoint}, url="http://127.0.0.1:1/")
    endpoint = xmlrpc_endpoint("http://127.0.0.1:1/", page, {origin_of(wp.endpoint)})
    post_types, _ = reader_for(endpoint, waits).list_public()
    assert post_types == {"post": "Posts", "page": "Pages", "book": "Books"}


# --- a proxy from the environment, as the REST requests use it ------------------------------


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain-http forward proxy: takes absolute-form requests, records their lines."""

    def do_POST(self) -> None:
        self.server.lines.append(self.requestline)  # type: ignore[attr-defined]
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        upstream.request("POST", target.path, body, {"Content-Type": "text/xml"})
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass


def test_xmlrpc_goes_through_the_environment_proxy(
    wp: FakeWordPress, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    proxy.lines = []  # type: ignore[attr-defined]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
    try:
        post_types, _ = reader_for(wp.endpoint, waits).list_public()
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert post_types == {"post": "Posts", "page": "Pages", "book": "Books"}
    assert proxy.lines  # type: ignore[attr-defined]
    assert all(line.startswith(f"POST {wp.endpoint} ") for line in proxy.lines)  # type: ignore[attr-defined]
