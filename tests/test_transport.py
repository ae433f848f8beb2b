"""Unit tests of agent.transport against real local servers (no mocks of requests)."""

from __future__ import annotations

import contextlib
import email.utils
import http.server
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from agent.errors import AgentError, HttpError, ResponseTooLarge, TlsError, TransientError
from agent.http import (
    HttpResponse,
    new_session,
    parse_retry_after,
    send,
    tls_verify_argument,
)
from tests.support.raw_server import RawServer, read_request


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(serve: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(serve)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with new_session() as s:
        yield s


def get(session: requests.Session, url: str, **kwargs: object) -> HttpResponse:
    options: dict[str, object] = {"timeout": 5.0, "verify": True, **kwargs}
    return send(session, "GET", url, **options)  # type: ignore[arg-type]


# --- failures that are worth retrying --------------------------------------------------------


def test_server_that_never_answers_times_out_as_transient(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    hold = threading.Event()

    def hang(conn: socket.socket) -> None:
        read_request(conn)
        hold.wait(10)

    server = raw_server(hang)
    try:
        with pytest.raises(TransientError):
            get(session, server.url, timeout=0.3)
    finally:
        hold.set()


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full: a connect to it is never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


def with_names(
    monkeypatch: pytest.MonkeyPatch, resolve: Callable[[str], list[object] | None]
) -> None:
    """Names the test makes up, resolved by `resolve` (None: the real resolver)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list[object]:
        made_up = resolve(host)
        return made_up if made_up is not None else real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_with_many_dead_addresses_ends_at_the_timeout(
    blackhole: int, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3 alone would give each of the 5 addresses a connect timeout of its own."""
    dead = socket.getaddrinfo("127.0.0.1", blackhole, socket.AF_INET, socket.SOCK_STREAM)[:1]
    with_names(monkeypatch, lambda host: dead * 5 if host == "dead.example" else None)
    started = time.monotonic()
    with pytest.raises(TransientError, match="no complete answer within the timeout of 1 s"):
        get(session, f"http://dead.example:{blackhole}/", timeout=1.0)
    assert time.monotonic() - started < 3.5  # about 1 s; 5 s without the deadline


def test_a_slow_name_lookup_ends_at_the_timeout(
    blackhole: int, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = socket.getaddrinfo("127.0.0.1", blackhole, socket.AF_INET, socket.SOCK_STREAM)[:1]

    def slowly(host: str) -> list[object] | None:
        if host != "slow-dns.example":
            return None
        time.sleep(5)
        return list(address)

    with_names(monkeypatch, slowly)
    started = time.monotonic()
    with pytest.raises(TransientError, match="no complete answer within the timeout of 1 s"):
        get(session, f"http://slow-dns.example:{blackhole}/", timeout=1.0)
    assert time.monotonic() - started < 3.5  # about 1 s; 6 s without the deadline


def test_an_unknown_name_is_said(session: requests.Session) -> None:
    with pytest.raises(TransientError, match="nowhere.invalid"):
        get(session, "http://nowhere.invalid/", timeout=5.0)


def test_body_that_stalls_times_out_as_transient(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    hold = threading.Event()

    def stall(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        hold.wait(10)

    server = raw_server(stall)
    try:
        with pytest.raises(TransientError):
            get(session, server.url, timeout=0.3)
    finally:
        hold.set()


def test_connection_refused_is_transient(session: requests.Session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError) as caught:
        get(session, f"http://127.0.0.1:{port}/x?secret=1")
    assert "secret=1" not in str(caught.value)  # URLs are shown without their query


def test_connection_reset_is_transient(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    def reset(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with pytest.raises(TransientError):
        get(session, raw_server(reset).url)


def test_connection_closed_without_answer_is_transient(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    def drop(conn: socket.socket) -> None:
        read_request(conn)
        conn.shutdown(socket.SHUT_RDWR)

    with pytest.raises(TransientError):
        get(session, raw_server(drop).url)


def test_body_cut_off_is_transient(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    def cut(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        conn.shutdown(socket.SHUT_RDWR)

    with pytest.raises(TransientError):
        get(session, raw_server(cut).url)


def answer(
    status: int, headers: dict[str, str], body: bytes = b"{}"
) -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        read_request(conn)
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        read_request(conn)  # keep-alive: wait for the client to go away

    return serve


def test_503_with_retry_after_seconds(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    server = raw_server(answer(503, {"Retry-After": "120"}))
    with pytest.raises(TransientError) as caught:
        get(session, server.url)
    assert caught.value.retry_after == 120


def test_429_with_retry_after_http_date(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    when = email.utils.formatdate(time.time() + 300, usegmt=True)
    server = raw_server(answer(429, {"Retry-After": when}))
    with pytest.raises(TransientError) as caught:
        get(session, server.url)
    assert caught.value.retry_after is not None
    assert 200 <= caught.value.retry_after <= 301  # loose: the machine may be slow


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_raise_transient(
    raw_server: Callable[..., RawServer], session: requests.Session, status: int
) -> None:
    with pytest.raises(TransientError) as caught:
        get(session, raw_server(answer(status, {})).url)
    assert caught.value.retry_after is None
    assert str(status) in str(caught.value)


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 403, 404, 422])
def test_other_statuses_are_returned(
    raw_server: Callable[..., RawServer], session: requests.Session, status: int
) -> None:
    body = b"" if status == 204 else b'{"code": "x"}'
    response = get(session, raw_server(answer(status, {"X-WP-Total": "17"}, body)).url)
    assert response.status == status
    assert response.header("X-WP-Total") == "17"
    assert response.headers["x-wp-total"] == "17"


def test_html_body_is_not_json(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    page = b"<!doctype html><html><body>Hello</body></html>"
    response = get(session, raw_server(answer(200, {"Content-Type": "text/html"}, page)).url)
    assert response.body == page
    assert response.json() is None


def test_undecodable_body_is_an_agent_error(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    server = raw_server(answer(200, {"Content-Encoding": "gzip"}, b"this is not gzip" * 8))
    with pytest.raises(AgentError):
        get(session, server.url)


# --- the size cap --------------------------------------------------------------------------


def test_declared_oversized_answer_is_refused_without_reading_it(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    hold = threading.Event()

    def huge(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n")
        conn.sendall(b"x" * 65536)
        hold.wait(10)  # the rest never comes: reading it all would time out instead

    server = raw_server(huge)
    try:
        with pytest.raises(ResponseTooLarge):
            get(session, server.url, timeout=3, max_bytes=1024 * 1024)
    finally:
        hold.set()


class EndlessChunks:
    """Sends a chunked answer that never ends; counts the bytes that went out."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        try:
            read_request(conn)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"%x\r\n" % 65536 + b"<p>" + b"y" * (65536 - 3) + b"\r\n"
            while self.sent < 512 * 1024 * 1024:
                conn.sendall(chunk)
                self.sent += 65536
        finally:
            self.done.set()


def test_endless_answer_is_refused_after_the_cap(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    endless = EndlessChunks()
    server = raw_server(endless)
    with pytest.raises(ResponseTooLarge):
        get(session, server.url, max_bytes=1024 * 1024)
    assert endless.done.wait(5), "the client kept the connection open"
    assert endless.sent < 64 * 1024 * 1024


def test_truncate_returns_the_start_and_stops_reading(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    endless = EndlessChunks()
    server = raw_server(endless)
    response = get(session, server.url, max_bytes=200_000, truncate=True)
    assert response.status == 200
    assert response.body.startswith(b"<p>yyy")
    assert len(response.body) >= 200_000 - 65536
    assert endless.done.wait(5), "the client kept the connection open"
    assert endless.sent < 64 * 1024 * 1024


def test_truncate_with_declared_oversized_answer(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    body = b"<html>" + b"z" * 1_000_000
    response = get(session, raw_server(answer(200, {}, body)).url, max_bytes=100_000, truncate=True)
    assert body.startswith(response.body[:90_000])


def test_truncate_cuts_at_the_cap(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    body = b"<html>" + b"z" * 1_000_000
    response = get(session, raw_server(answer(200, {}, body)).url, max_bytes=100_000, truncate=True)
    assert response.body == body[:100_000]


def test_answer_under_the_cap_is_read_whole(
    raw_server: Callable[..., RawServer], session: requests.Session
) -> None:
    body = b"[" + b"1," * 300_000 + b"1]"
    response = get(session, raw_server(answer(200, {}, body)).url, max_bytes=1024 * 1024)
    assert response.body == body
    assert len(response.json()) == 300_001


# --- TLS: the config wins over $REQUESTS_CA_BUNDLE ------------------------------------------


@pytest.fixture(scope="module")
def self_signed(certificate: tuple[Path, Path]) -> tuple[Path, Path]:
    return certificate


@pytest.fixture
def https_url(self_signed: tuple[Path, Path]) -> Iterator[str]:
    cert, key = self_signed

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda *args: None  # type: ignore[method-assign]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_verify_true_is_not_overridden_by_requests_ca_bundle(
    https_url: str,
    self_signed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    session: requests.Session,
) -> None:
    cert, _ = self_signed
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(cert))
    # Control: plain requests with verify=True trusts the environment's bundle.
    with requests.Session() as plain:
        assert plain.get(https_url, verify=True, timeout=5).status_code == 200
    with pytest.raises(TlsError):
        get(session, https_url, verify=True)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_configured_ca_bundle_and_verify_false_are_used(
    https_url: str,
    self_signed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    session: requests.Session,
) -> None:
    cert, _ = self_signed
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert get(session, https_url, verify=str(cert)).status == 200
    assert get(session, https_url, verify=False).status == 200


def test_tls_failure_is_not_transient(https_url: str, session: requests.Session) -> None:
    with pytest.raises(TlsError) as caught:
        get(session, https_url, verify=True)
    assert not isinstance(caught.value, TransientError)


def test_tls_verify_argument_survives_merge_environment_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bogus = str(tmp_path / "env-bundle.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bogus)
    monkeypatch.setenv("CURL_CA_BUNDLE", bogus)
    with requests.Session() as plain:

        def merged(verify: bool | str) -> object:
            settings = plain.merge_environment_settings(
                "https://blog.example.com/", {}, None, tls_verify_argument(verify), None
            )
            return settings["verify"]

        assert (
            plain.merge_environment_settings("https://blog.example.com/", {}, None, True, None)[
                "verify"
            ]
            == bogus
        )  # the trap
        assert merged(True) not in (bogus, False)
        assert Path(str(merged(True))).is_file()
        assert merged(False) is False
        assert merged("/etc/igny8/ca.pem") == "/etc/igny8/ca.pem"


# --- Retry-After parsing ---------------------------------------------------------------------


def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 7 ") == 7
    assert parse_retry_after("0") == 0


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    in_90s = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(in_90s, now=now) == pytest.approx(90, abs=1)
    assert parse_retry_after(
        "Sun, 06 Nov 1994 08:49:37 GMT", now=784111777.0 - 30
    ) == pytest.approx(30)


def test_parse_retry_after_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=1_700_000_000.0) == 0


def test_parse_retry_after_rfc850_date() -> None:
    assert parse_retry_after(
        "Sunday, 06-Nov-94 08:49:37 GMT", now=784111777.0 - 60
    ) == pytest.approx(60)


def test_parse_retry_after_asctime_date() -> None:
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", now=784111777.0 - 60) == pytest.approx(60)


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e9x"])
def test_parse_retry_after_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None


# --- the rest of send() --------------------------------------------------------------------


def test_redirect_is_followed_and_final_url_kept(session: requests.Session) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/old":
                self.send_response(301)
                self.send_header("Location", "/new/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        response = get(session, base + "/old")
        assert response.status == 200
        assert response.url == base + "/new/"
    finally:
        server.shutdown()
        server.server_close()


def test_invalid_url_is_an_http_error(session: requests.Session) -> None:
    with pytest.raises(HttpError):
        get(session, "http://")
