"""Credentials go only to the configured site's origin, whatever its pages announce."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.config import SiteConfig, WordPressConfig
from agent.errors import WordPressError
from agent.http import HttpResponse
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.wordpress.discovery import api_roots_from_page, same_site
from agent.wordpress.reader import read_structure

PASSWORD = "abcd efgh ijkl mnop"


class Recorder(BaseHTTPRequestHandler):
    """Answers 404 to everything; records whether an Authorization header came."""

    protocol_version = "HTTP/1.1"
    link: str = ""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        body = b"<html></html>"
        self.send_response(200 if self.path == "/" else 404)
        if self.path == "/" and self.server.link:  # type: ignore[attr-defined]
            self.send_header("Link", self.server.link)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(link: str = "") -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen = []  # type: ignore[attr-defined]
    server.link = link  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def elsewhere() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server, url = serve()
    yield server, url
    server.shutdown()
    server.server_close()


def test_an_api_root_on_another_origin_gets_no_credentials(elsewhere, caplog):
    other, other_url = elsewhere
    site_server, site_url = serve(f'<{other_url}/wp-json/>; rel="https://api.w.org/"')
    try:
        with pytest.raises(WordPressError):
            read_structure(site_at(site_url), RetryPolicy(max_attempts=1), LOG)
    finally:
        site_server.shutdown()
        site_server.server_close()
    assert other.seen == []  # not even asked
    sent_with_auth = [path for path, auth in site_server.seen if auth]  # type: ignore[attr-defined]
    assert sent_with_auth, "the site's own origin does get the credentials"
    assert "on another origin" in caplog.text


def site_at(url: str) -> SiteConfig:
    return SiteConfig(
        key_path="sites[0]",
        name="blog",
        site_id=1,
        api_key=None,
        wordpress=WordPressConfig(
            url=url, username="admin", app_password=Secret(PASSWORD), xmlrpc="never"
        ),
    )


LOG = logging.LoggerAdapter(logging.getLogger("test"), {"site": "blog"})


class Redirector(BaseHTTPRequestHandler):
    """Redirects every request to the same path on `target`, recording what came."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        self.send_response(301)
        self.send_header("Location", self.server.target + self.path)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_home_page_redirect_to_another_host_gets_no_credentials(elsewhere, caplog):
    """127.0.0.1 redirects to localhost: the same machine, but another host name."""
    other, other_url = elsewhere
    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    redirector.seen = []  # type: ignore[attr-defined]
    redirector.target = other_url.replace("127.0.0.1", "localhost")  # type: ignore[attr-defined]
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        with pytest.raises(WordPressError):
            read_structure(
                site_at(f"http://127.0.0.1:{redirector.server_address[1]}"),
                RetryPolicy(max_attempts=1),
                LOG,
            )
    finally:
        redirector.shutdown()
        redirector.server_close()
    assert other.seen, "the redirect was followed"
    assert all(auth is None for _, auth in other.seen)  # type: ignore[attr-defined]
    assert "another host" in caplog.text


@pytest.mark.parametrize(
    ("configured", "final", "same"),
    [
        (("http", "blog.example.com", 80), ("https", "blog.example.com", 443), True),
        (("https", "blog.example.com", 443), ("https", "www.blog.example.com", 443), True),
        (("https", "www.example.com", 443), ("https", "example.com", 443), True),
        (("http", "example.com", 80), ("https", "www.example.com", 443), True),
        (("https", "example.com", 443), ("http", "example.com", 80), False),  # a downgrade
        (("https", "example.com", 443), ("https", "example.com.evil.net", 443), False),
        (("https", "example.com", 443), ("https", "shop.example.com", 443), False),
        (("http", "example.com", 80), ("http", "example.com", 8080), False),
        (("http", "example.com", 8080), ("https", "example.com", 8443), True),  # an upgrade
    ],
)
def test_credentials_follow_a_redirect_only_on_the_same_site(configured, final, same):
    assert same_site(configured, final) is same


def test_a_relative_api_root_is_resolved_against_the_page():
    page = HttpResponse(
        200, {"link": '</wp-json/>; rel="https://api.w.org/"'}, b"", "https://example.com/blog/"
    )
    assert api_roots_from_page(page) == ["https://example.com/wp-json/"]
