"""What a site's home page says: where its REST API and xmlrpc.php are, and
which origins the site's credentials may go to.

The home page is fetched at most once per read, without credentials, and only
when needed: where the last successful read found the API root and xmlrpc.php
(`KnownPlaces`, from the state) is tried first. The home page is the one
request that makes WordPress render its theme, the heaviest thing the agent
asks; a daily pass over a fleet rarely needs it.

Credentials go to the configured URL's origin, and follow a home-page redirect
only to the same host (http → https, or `www.` added or removed) — never to a
host some redirect, header or tag merely names.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from requests.utils import parse_header_links

from agent.config import SiteConfig
from agent.errors import HttpError, WordPressError
from agent.http import HttpClient, HttpResponse, Origin, origin_of, shown
from agent.logs import Log

API_REL = "https://api.w.org/"
HOME_PAGE_BYTES = 256 * 1024
LINK_TAG = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
TAG_ATTRIBUTE = re.compile(rb"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


@dataclass(frozen=True)
class KnownPlaces:
    """Where the last successful read found the site's APIs."""

    api_root: str | None = None
    xmlrpc_endpoint: str | None = None


class Discovery:
    """The home page of one site and what it tells; `http` is that site's client."""

    def __init__(
        self, site: SiteConfig, http: HttpClient, log: Log, known: KnownPlaces | None = None
    ):
        self.site = site
        self.http = http
        self.log = log
        self.home_page: HttpResponse | None = None
        self._fetched = False
        self.known_root = self._usable(known.api_root if known else None)
        self.known_endpoint = self._usable(known.xmlrpc_endpoint if known else None)

    def _usable(self, url: str | None) -> str | None:
        """A remembered URL, if credentials may go there (or there are none to send)."""
        if not url:
            return None
        origin = origin_of(url)
        if same_site(origin_of(self.site.wordpress.url), origin):
            self.http.auth_origins.add(origin)
            return url
        return url if self.http.auth is None else None

    def fetch_home_page(self) -> HttpResponse | None:
        """The home page (after redirects), or None when it cannot be read. Fetched once."""
        if self._fetched:
            return self.home_page
        self._fetched = True
        url = self.site.wordpress.url
        try:
            self.home_page = self.http.request(
                "GET", url, truncate=True, max_bytes=HOME_PAGE_BYTES, with_auth=False
            )
        except (WordPressError, HttpError) as exc:
            self.log.debug("home page %s unreadable (%s)", url, exc)
            return None
        final = origin_of(self.home_page.url)
        if final not in self.http.auth_origins:
            if same_site(origin_of(url), final):
                self.http.auth_origins.add(final)
            elif self.http.auth is not None:
                self.log.warning(
                    "the home page %s redirects to %s, another host: credentials "
                    "are not sent there. If that is the site, set %s.wordpress.url "
                    "to it",
                    url,
                    shown(self.home_page.url),
                    self.site.key_path,
                )
        return self.home_page

    @property
    def home_url(self) -> str:
        """The site's home URL after redirects (the configured one if the page failed)."""
        page = self.fetch_home_page()
        return _home_of(page.url) if page is not None else self.site.wordpress.url

    @property
    def usual_root(self) -> str:
        """Where WordPress puts its API root with pretty permalinks: `{url}/wp-json/`."""
        return _home_of(self.site.wordpress.url) + "/wp-json/"

    def api_roots(self) -> Iterator[str]:
        """REST API roots to try, best first, without duplicates: the one that worked last
        time, then (only if that fails: the home page is fetched here) what the site
        announces, then the fallbacks."""
        if self.known_root:
            yield self.known_root
        page = self.fetch_home_page()
        candidates: list[str] = []
        if page is not None and (page.status == 200 or page.header("link")):
            candidates += self._credible(api_roots_from_page(page), "REST API")
        home = self.home_url
        candidates += [home + "/wp-json/", home + "/?rest_route=/"]
        yield from (root for root in dict.fromkeys(candidates) if root != self.known_root)

    def xmlrpc_endpoint(self) -> str:
        if self.known_endpoint:
            return self.known_endpoint
        return xmlrpc_endpoint(
            self.site.wordpress.url, self.fetch_home_page(), self.http.auth_origins
        )

    def _credible(self, urls: list[str], what: str) -> list[str]:
        """Announced URLs credentials may go to (all of them when there are none)."""
        if self.http.auth is None:
            return urls
        kept = [url for url in urls if origin_of(url) in self.http.auth_origins]
        for url in urls:
            if url not in kept:
                self.log.warning(
                    "the site names %s as its %s, on another origin than %s: "
                    "credentials are not sent there, so it is not used",
                    shown(url),
                    what,
                    self.site.wordpress.url,
                )
        return kept


def same_site(configured: Origin, final: Origin) -> bool:
    """Whether a redirect from `configured` to `final` stays on the same site: the same
    host (or `www.` added or removed), with the same scheme and port, or upgraded to
    https (on whatever port the site's TLS listens)."""
    scheme, host, port = configured
    new_scheme, new_host, new_port = final
    if host.removeprefix("www.") != new_host.removeprefix("www."):
        return False
    if (scheme, port) == (new_scheme, new_port):
        return True
    return scheme == "http" and new_scheme == "https"


def api_roots_from_page(page: HttpResponse) -> list[str]:
    """API roots announced by a home page: Link header first, then <link> tags."""
    roots = [
        link["url"]
        for link in parse_header_links(page.header("link") or "")
        if link.get("rel") == API_REL and link.get("url")
    ]
    roots += [
        tag["href"] for tag in link_tags(page.body) if tag.get("rel") == API_REL and tag.get("href")
    ]
    # Some plugins make them relative.
    return [url for url in (urljoin(page.url, root) for root in roots) if _is_web_url(url)]


def xmlrpc_endpoint(home_url: str, page: HttpResponse | None, trusted: set[Origin]) -> str:
    """xmlrpc.php as the home page names it (X-Pingback header, <link rel="pingback">,
    the RSD link) on an origin credentials may go to, else beside the (final) home URL."""
    if page is None:
        return home_url.rstrip("/") + "/xmlrpc.php"
    for candidate in xmlrpc_endpoints_from_page(page):
        if origin_of(candidate) in trusted:
            return candidate
    return _home_of(page.url) + "/xmlrpc.php"


def xmlrpc_endpoints_from_page(page: HttpResponse) -> list[str]:
    candidates = [page.header("x-pingback") or ""]
    for tag in link_tags(page.body):
        if tag.get("rel", "").lower() in ("pingback", "edituri"):
            candidates.append(tag.get("href", "").split("?")[0])
    urls = [urljoin(page.url, c.strip()) for c in candidates if c.strip()]
    return [url for url in urls if _is_web_url(url)]


def link_tags(html_body: bytes) -> list[dict[str, str]]:
    """The attributes of each <link> tag in an HTML page, names lower-cased."""
    tags = []
    for tag in LINK_TAG.findall(html_body):
        tags.append(
            {
                name.lower().decode(): html.unescape((double or single).decode(errors="replace"))
                for name, double, single in TAG_ATTRIBUTE.findall(tag)
            }
        )
    return tags


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _home_of(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/")
