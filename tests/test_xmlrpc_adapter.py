"""Unit tests of agent.wordpress.xmlrpc (the XML-RPC adapter) against real local servers.

A threaded stdlib `SimpleXMLRPCServer` stands in for WordPress's xmlrpc.php
(tests/support/fake_xmlrpc.py): the methods the agent uses, their filters, and
WordPress's faults. Raw sockets play the misbehaving hosts (hang, reset, huge answers).
Nothing sleeps: retry waits go to a fake `sleep` and are asserted. The password must never
show up in an exception message or a log record.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import http.client
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import tenacity
import wordpress_xmlrpc.base
from wordpress_xmlrpc import Client
from wordpress_xmlrpc.methods.taxonomies import GetTaxonomies
from wordpress_xmlrpc.wordpress import WordPressTaxonomy

import agent.wordpress.xmlrpc as adapter
from agent.config import SiteConfig, WordPressConfig
from agent.errors import (
    CredentialsRejected,
    MalformedAnswer,
    ResponseTooLarge,
    TlsError,
    TransientError,
    WordPressError,
    XmlrpcMethodMissing,
    XmlrpcUnavailable,
)
from agent.http import (
    MAX_RESPONSE_BYTES,
    HttpClient,
    HttpResponse,
    _proxies_for_origin,
    new_session,
    origin_of,
)
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.structure import ContentType, SiteStructure
from agent.wordpress.discovery import xmlrpc_endpoint
from agent.wordpress.reader import read_structure
from agent.wordpress.rest import Listed
from agent.wordpress.xmlrpc import XmlrpcReader
from tests.support.fake_xmlrpc import (
    PASSWORD,
    USERNAME,
    FakeWordPress,
    Scripted,
    serving,
    taxonomy,
)
from tests.support.raw_server import RawServer, read_request

WRONG_PASSWORD = "zzzz YYYY xxxx WWWW vvvv UUUU"
SECRETS = (PASSWORD, PASSWORD.replace(" ", ""), WRONG_PASSWORD, WRONG_PASSWORD.replace(" ", ""))
WAIT = 7.0  # the fixed retry wait; recorded by the fake sleep, never slept
LOG = logging.LoggerAdapter(logging.getLogger("tests.xmlrpc_adapter"), {"site": "blog"})
HUGE = 64 * 1024 * 1024  # far past the cap plus what loopback socket buffers can hold

HTML_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="UTF-8">'
    b'<title>My blog</title><link rel="stylesheet" href="/style.css">'
    b"</head><body><p>Hello<br></body></html>"
)
HTML_403 = (
    b"<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden"
    b"</h1></center><hr><center>nginx</center>\r\n</body></html>"
)
WELL_FORMED_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Blocked</title></head>"
    b"<body><p>Access to xmlrpc.php is blocked by the firewall.</p></body></html>"
)


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
        head = [
            f"HTTP/1.1 {self.status} Whatever",
            "Content-Type: text/xml; charset=UTF-8",
            "Connection: close",
        ]
        if self.declare_length:
            head.append(f"Content-Length: {self.total}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        prefix = b'<?xml version="1.0"?><methodResponse><params><param><value><array><data>'
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


def site_for(
    endpoint: str,
    *,
    password: str = PASSWORD,
    verify: bool | str = True,
    timeout: float = 5.0,
    **extra: Any,
) -> SiteConfig:
    home = endpoint.rsplit("/", 1)[0] + "/"
    return SiteConfig(
        key_path="sites[0]",
        name="blog",
        site_id=5,
        api_key=Secret("igny8-key-0123456789"),
        wordpress=WordPressConfig(
            url=home,
            username=USERNAME,
            app_password=Secret(password),
            xmlrpc="always",
            timeout=timeout,
            verify=verify,
        ),
        **extra,
    )


def reader_for(
    endpoint: str, waits: list[float], *, max_attempts: int = 3, **site: Any
) -> XmlrpcReader:
    policy = RetryPolicy(
        max_attempts=max_attempts,
        max_seconds=3600.0,
        wait=tenacity.wait_fixed(WAIT),
        sleep=waits.append,
    )
    config = site_for(endpoint, **site)
    http = HttpClient(
        new_session(),
        timeout=config.wordpress.timeout,
        verify=config.wordpress.verify,
        policy=policy,
        log=LOG,
    )
    return XmlrpcReader(config, endpoint, http, LOG)


def read(reader: XmlrpcReader) -> SiteStructure:
    """Every public type and taxonomy XML-RPC lists, counted (the site reader adds the
    exclusions: see test_reader.py)."""
    post_types, taxonomies = reader.list_public()
    return SiteStructure(
        post_types=tuple(
            ContentType(t.slug, t.label, reader.count_published(t.slug)) for t in post_types
        ),
        taxonomies=tuple(
            ContentType(t.slug, t.label, reader.count_terms(t.slug)) for t in taxonomies
        ),
        read_at=datetime.now(UTC),
        source=f"XML-RPC at {reader.endpoint}",
    )


@pytest.fixture
def waits() -> list[float]:
    """The retry waits the fake sleep was asked for."""
    return []


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def failure(reader: XmlrpcReader, kind: type[Exception]) -> Exception:
    """The error `read(reader)` raises; its message and repr must not hold a password."""
    with pytest.raises(kind) as caught:
        read(reader)
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


PUBLIC_TYPES = {"post": "Posts", "page": "Pages", "attachment": "Media", "book": "Books"}


def labels(items: list[Listed]) -> dict[str, str]:
    return {item.slug: item.label for item in items}


def as_dicts(structure: SiteStructure) -> tuple[dict[str, tuple[str, int]], ...]:
    return tuple(
        {t.slug: (t.label, t.count) for t in part}
        for part in (structure.post_types, structure.taxonomies)
    )


# Everything public: attachments are 'inherit', never published; excluding them (and
# post_format) is the site reader's job.
EXPECTED_TYPES = {
    "post": ("Posts", 1234),
    "page": ("Pages", 7),
    "attachment": ("Media", 0),
    "book": ("Books", 4),
}
EXPECTED_TAXONOMIES = {
    "category": ("Categories", 3),
    "post_tag": ("Tags", 501),
    "post_format": ("Formats", 1),
    "genre": ("Genres", 2),
}


# --- python-wordpress-xmlrpc on this Python: collections.Iterable ---------------------------


def test_stdlib_collections_is_not_patched() -> None:
    """Importing the adapter points the library's own global at a stand-in; the stdlib
    module stays as it is (Python 3.10 removed collections.Iterable)."""
    assert adapter.PAGE_SIZE  # the adapter is imported
    assert not hasattr(collections, "Iterable")
    assert wordpress_xmlrpc.base.collections is not collections
    assert wordpress_xmlrpc.base.collections.Iterable is collections.abc.Iterable


def test_list_result_goes_through_results_class() -> None:
    raw = [taxonomy("category", "Categories"), taxonomy("genre", "Genres")]
    result = GetTaxonomies().process_result(raw)
    assert [type(t) for t in result] == [WordPressTaxonomy, WordPressTaxonomy]
    assert [(t.name, t.label, t.public) for t in result] == [
        ("category", "Categories", True),
        ("genre", "Genres", True),
    ]


def test_without_the_stand_in_the_library_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stand-in is for: the library's own `collections` global fails here."""
    monkeypatch.setattr(wordpress_xmlrpc.base, "collections", collections)
    with pytest.raises(AttributeError, match="Iterable"):
        GetTaxonomies().process_result([taxonomy("category", "Categories")])


def test_library_client_lists_taxonomies_over_the_wire(wp: FakeWordPress) -> None:
    client = Client(wp.endpoint, USERNAME, PASSWORD)
    names = [t.name for t in client.call(GetTaxonomies())]
    assert names == ["category", "post_tag", "post_format", "genre"]


# --- listing and counting ------------------------------------------------------------------


def test_read_public_types_and_taxonomies_with_labels_and_counts(
    wp: FakeWordPress, waits: list[float]
) -> None:
    structure = read(reader_for(wp.endpoint, waits))
    assert as_dicts(structure) == (EXPECTED_TYPES, EXPECTED_TAXONOMIES)
    assert structure.source == f"XML-RPC at {wp.endpoint}"
    assert structure.read_at.tzinfo is not None
    assert waits == []


def test_published_posts_are_counted_in_pages_of_500(wp: FakeWordPress, waits: list[float]) -> None:
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_published("post") == 1234
    queries = [args[0] for args in wp.calls_to("wp.getPosts")]
    assert [(q["post_type"], q["post_status"], q["number"], q["offset"]) for q in queries] == [
        ("post", "publish", 500, 0),
        ("post", "publish", 500, 500),
        ("post", "publish", 500, 1000),
    ]
    assert all(args[1] == ["post_id"] for args in wp.calls_to("wp.getPosts"))


def test_a_full_last_page_asks_once_more(wp: FakeWordPress, waits: list[float]) -> None:
    wp.set_posts("book", published=500, drafts=3)
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_published("book") == 500
    assert [args[0]["offset"] for args in wp.calls_to("wp.getPosts")] == [0, 500]


def test_an_item_a_page_repeats_is_counted_once(
    wp: FakeWordPress, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post deleted between two pages shifts the offsets: the next page starts with an
    item already counted."""
    real = wp.get_posts

    def shifted(query: dict[str, Any] | None = None, fields: Any = None) -> Any:
        query = dict(query or {})
        if query.get("offset"):
            query["offset"] -= 1
        return real(query, fields)

    monkeypatch.setattr(wp, "get_posts", shifted)
    assert reader_for(wp.endpoint, waits).count_published("post") == 1234


@pytest.mark.parametrize("post_id", ["12abc", "9" * 5000, True, None])
def test_an_id_that_is_no_number_is_malformed(
    wp: FakeWordPress, waits: list[float], monkeypatch: pytest.MonkeyPatch, post_id: Any
) -> None:
    monkeypatch.setattr(wp, "get_posts", lambda query=None, fields=None: [{"post_id": post_id}])
    with pytest.raises(MalformedAnswer, match="answered an item without a post_id"):
        reader_for(wp.endpoint, waits).count_published("post")


def test_terms_are_counted_with_empty_ones_in_pages(wp: FakeWordPress, waits: list[float]) -> None:
    reader = reader_for(wp.endpoint, waits)
    assert reader.count_terms("post_tag") == 501
    assert reader.count_terms("genre") == 2  # both empty
    queries = [args for args in wp.calls_to("wp.getTerms")]
    assert [(name, q["hide_empty"], q["number"], q["offset"]) for name, q in queries] == [
        ("post_tag", False, 500, 0),
        ("post_tag", False, 500, 500),
        ("genre", False, 500, 0),
    ]


def read_site(endpoint: str, waits: list[float], **site: Any) -> SiteStructure:
    """The whole read of a site with `xmlrpc: always`, as `sync` does it."""
    policy = RetryPolicy(
        max_attempts=3, max_seconds=3600.0, wait=tenacity.wait_fixed(WAIT), sleep=waits.append
    )
    return read_structure(site_for(endpoint, **site), policy, LOG)


def test_the_site_reader_excludes_before_counting(wp: FakeWordPress, waits: list[float]) -> None:
    structure = read_site(
        wp.endpoint,
        waits,
        exclude_post_types=("attachment", "page"),
        exclude_taxonomies=("post_format", "post_tag"),
    )
    post_types, taxonomies = as_dicts(structure)
    assert post_types == {"post": ("Posts", 1234), "book": ("Books", 4)}
    assert taxonomies == {"category": ("Categories", 3), "genre": ("Genres", 2)}
    assert {args[0]["post_type"] for args in wp.calls_to("wp.getPosts")} == {"post", "book"}
    assert {args[0] for args in wp.calls_to("wp.getTerms")} == {"category", "genre"}
    assert structure.source == f"XML-RPC at {wp.endpoint}"


def test_the_site_reader_excludes_attachment_and_post_format_by_default(
    wp: FakeWordPress, waits: list[float]
) -> None:
    post_types, taxonomies = as_dicts(read_site(wp.endpoint, waits))
    assert post_types == {k: v for k, v in EXPECTED_TYPES.items() if k != "attachment"}
    assert taxonomies == {k: v for k, v in EXPECTED_TAXONOMIES.items() if k != "post_format"}


def test_calls_counts_every_request_including_supported_methods(
    wp: FakeWordPress, waits: list[float]
) -> None:
    reader = reader_for(wp.endpoint, waits)
    assert reader.calls == 0  # the constructor of the reader sends nothing
    read(reader)
    # mt.supportedMethods + getPostTypes + getTaxonomies + getPosts: post 3, page 1,
    # attachment 1, book 1 + getTerms: category 1, post_tag 2, post_format 1, genre 1
    assert reader.calls == 14
    assert len(wp.received) == 14
    assert wp.received.count("mt.supportedMethods") == 1
    assert wp.received[0] == "mt.supportedMethods"


def test_a_retried_call_is_one_call_and_every_try_one_request(
    wp: FakeWordPress, waits: list[float]
) -> None:
    wp.script.extend([Scripted(503, HTML_PAGE), Scripted(503, HTML_PAGE)])
    reader = reader_for(wp.endpoint, waits)
    reader.list_public()
    assert wp.received == ["mt.supportedMethods"] * 3 + ["wp.getPostTypes", "wp.getTaxonomies"]
    assert reader.calls == 3
    assert reader.http.requests_sent == len(wp.received) == 5
    assert waits == [WAIT, WAIT]


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
        structure = read(reader_for(endpoint, waits, verify=str(certificate[0])))
    assert as_dicts(structure) == (EXPECTED_TYPES, EXPECTED_TAXONOMIES)


def test_tls_verify_off_accepts_the_self_signed_certificate(
    certificate: tuple[Path, Path], waits: list[float]
) -> None:
    fake = FakeWordPress()
    with serving(fake, tls_context(certificate)) as endpoint:
        post_types, _ = reader_for(endpoint, waits, verify=False).list_public()
    assert labels(post_types) == PUBLIC_TYPES


def test_tls_default_verify_rejects_a_self_signed_certificate_without_retrying(
    certificate: tuple[Path, Path], waits: list[float]
) -> None:
    fake = FakeWordPress()
    with serving(fake, tls_context(certificate)) as endpoint:
        exc = failure(reader_for(endpoint, waits), TlsError)
    assert exc.kind == "self-signed"
    assert "TLS" in str(exc) and endpoint in str(exc)
    assert waits == []
    assert fake.received == []  # no request got through the handshake


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
def test_an_answer_over_the_size_cap_is_not_read(declare_length: bool, waits: list[float]) -> None:
    streamer = Streamer(HUGE, declare_length=declare_length)
    with raw_server(streamer) as server:
        exc = failure(reader_for(server.url_for("xmlrpc.php"), waits), ResponseTooLarge)
        sent_when_refused = streamer.sent
    assert "larger than" in str(exc)
    assert sent_when_refused < HUGE - MAX_RESPONSE_BYTES
    assert waits == []


def test_an_error_answer_over_the_size_cap_is_not_read(waits: list[float]) -> None:
    streamer = Streamer(HUGE, declare_length=True, status=403)
    with raw_server(streamer) as server:
        failure(reader_for(server.url_for("xmlrpc.php"), waits), ResponseTooLarge)
        sent_when_refused = streamer.sent
    assert sent_when_refused < HUGE - MAX_RESPONSE_BYTES


def test_a_gzip_compressed_answer_is_read(wp: FakeWordPress, waits: list[float]) -> None:
    wp.gzip = True
    structure = read(reader_for(wp.endpoint, waits))
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
    assert len(wp.calls_to("wp.getPosts")) == 3 + 1 + 1 + 1  # post, page, attachment, book


def test_a_method_missing_from_supported_methods(wp: FakeWordPress, waits: list[float]) -> None:
    wp.supported.remove("wp.getTerms")
    exc = failure(reader_for(wp.endpoint, waits), XmlrpcMethodMissing)
    assert "wp.getTerms" in str(exc)
    assert "wp.getTerms" not in wp.received
    assert waits == []


@pytest.mark.parametrize(
    "when", [None, "wp.getPostTypes", "wp.getPosts"], ids=["first-request", "listing", "counting"]
)
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
    structure = read(reader_for(wp.endpoint, waits))
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
    # An RST seen while reading, or the connection found closed: the race decides which.
    assert "reset" in str(exc) or "closed connection" in str(exc)
    assert waits == [WAIT]


# --- xmlrpc_endpoint ----------------------------------------------------------------------


def home(
    body: bytes = b"<html><head></head><body></body></html>",
    *,
    url: str = "https://example.com/",
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    return HttpResponse(status=200, headers=headers or {}, body=body, url=url)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            home(headers={"x-pingback": "https://example.com/wp/xmlrpc.php"}),
            "https://example.com/wp/xmlrpc.php",
        ),
        (
            home(b'<head><link rel="pingback" href="https://example.com/blog/xmlrpc.php"></head>'),
            "https://example.com/blog/xmlrpc.php",
        ),
        (
            home(b"<head><link rel='pingback' href='https://example.com/b/xmlrpc.php' /></head>"),
            "https://example.com/b/xmlrpc.php",
        ),
        (
            home(
                b'<head><link rel="EditURI" type="application/rsd+xml" title="RSD" '
                b'href="https://example.com/cms/xmlrpc.php?rsd" /></head>'
            ),
            "https://example.com/cms/xmlrpc.php",
        ),
        (
            home(
                b'<link rel="pingback" href="https://example.com/from-link/xmlrpc.php">',
                headers={"x-pingback": "https://example.com/from-header/xmlrpc.php"},
            ),
            "https://example.com/from-header/xmlrpc.php",
        ),
        (home(url="https://www.example.com/blog/"), "https://www.example.com/blog/xmlrpc.php"),
        (home(url="https://example.com/?lang=en"), "https://example.com/xmlrpc.php"),
        (
            home(b'<link rel="pingback" href="/xmlrpc.php">', url="https://example.com/site"),
            "https://example.com/xmlrpc.php",
        ),
        (
            home(headers={"x-pingback": "https://elsewhere.example.net/xmlrpc.php"}),
            "https://example.com/xmlrpc.php",
        ),
        (
            home(headers={"x-pingback": "http://example.com/xmlrpc.php"}),
            "https://example.com/xmlrpc.php",
        ),
    ],
    ids=[
        "x-pingback",
        "link-pingback",
        "link-single-quotes",
        "rsd-edituri",
        "header-first",
        "final-url",
        "final-url-query",
        "relative-link-resolved",
        "other-host-ignored",
        "plain-http-from-https-ignored",
    ],
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
    assert labels(post_types) == PUBLIC_TYPES


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
    # The agent reads the environment's proxies once per origin (it does not change
    # under a running agent); an earlier test may have left this port's in the cache.
    _proxies_for_origin.cache_clear()
    try:
        post_types, _ = reader_for(wp.endpoint, waits).list_public()
    finally:
        proxy.shutdown()
        proxy.server_close()
        _proxies_for_origin.cache_clear()  # and leave none of the proxy's for later tests
    assert labels(post_types) == PUBLIC_TYPES
    assert proxy.lines  # type: ignore[attr-defined]
    assert all(line.startswith(f"POST {wp.endpoint} ") for line in proxy.lines)  # type: ignore[attr-defined]
