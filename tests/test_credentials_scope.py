"""Credentials go only to the configured site's origin, whatever its pages announce."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.config import SiteConfig, WordPressConfig
from agent.errors import WordPressError
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.transport import HttpResponse, new_session
from agent.wordpress_rest import RestReader, api_roots_from_page

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
        site = SiteConfig(
            key_path="sites[0]", name="blog", site_id=1, api_key=None,
            wordpress=WordPressConfig(url=site_url, username="admin",
                                      app_password=Secret(PASSWORD)),
        )
        log = logging.LoggerAdapter(logging.getLogger("test"), {"site": "blog"})
        with new_session() as session, pytest.raises(WordPressError):
            RestReader(site, session, RetryPolicy(max_attempts=1), log).read()
    finally:
        site_server.shutdown()
        site_server.server_close()
    assert other.seen == []  # not even asked
    sent_with_auth = [path for path, auth in site_server.seen if auth]  # type: ignore[attr-defined]
    assert sent_with_auth, "the site's own origin does get the credentials"
    assert "on another origin" in caplog.text


def test_a_relative_api_root_is_resolved_against_the_page():
    page = HttpResponse(200, {"link": '</wp-json/>; rel="https://api.w.org/"'}, b"",
                        "https://example.com/blog/")
    assert api_roots_from_page(page) == ["https://example.com/wp-json/"]
