"""Read public post types and taxonomies over XML-RPC (`xmlrpc.php`).

The only module that touches `python-wordpress-xmlrpc` (2014). Three things are
made right here, where they stay:
- its `base.py` uses `collections.Iterable`, gone since Python 3.10: its module
  global `collections` is pointed at a stand-in that has `Iterable` (the stdlib
  module itself is not touched);
- its default transport has no timeout and cannot be given TLS settings:
  `_Transport` adds the site's timeout, CA bundle and a size cap;
- its exceptions and xmlrpc.client's become the agent's own errors.

Counts: published items by paging through `wp.getPosts` asking only for ids;
terms (empty ones included) by paging through `wp.getTerms`.
"""

from __future__ import annotations

import collections.abc
import http.client
import logging
import ssl
import types
import urllib.request
import xmlrpc.client
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import SplitResult, urljoin, urlsplit
from xml.parsers.expat import ExpatError

import wordpress_xmlrpc.base
from wordpress_xmlrpc import Client
from wordpress_xmlrpc.exceptions import (
    InvalidCredentialsError,
    ServerConnectionError,
    UnsupportedXmlrpcMethodError,
    XmlrpcDisabledError,
)
from wordpress_xmlrpc.methods.posts import GetPosts, GetPostTypes
from wordpress_xmlrpc.methods.taxonomies import GetTaxonomies, GetTerms

from agent.config import SiteConfig
from agent.errors import (
    CredentialsRejected,
    TransientError,
    WordPressError,
    WordPressTlsError,
    XmlrpcMethodMissing,
    XmlrpcUnavailable,
)
from agent.retry import RetryPolicy, call_with_retries
from agent.structure import ContentType, SiteStructure
from agent.transport import MAX_RESPONSE_BYTES, TRANSIENT_STATUSES, USER_AGENT, HttpResponse
from agent.wordpress_rest import link_tags, origin_of

# The library's base.py does `isinstance(x, collections.Iterable)`.
wordpress_xmlrpc.base.collections = types.SimpleNamespace(Iterable=collections.abc.Iterable)

T = TypeVar("T")
PAGE_SIZE = 500
Log = logging.LoggerAdapter[logging.Logger]


class XmlrpcReader:
    """Reads one site over XML-RPC; credentials are required."""

    def __init__(self, site: SiteConfig, endpoint: str, policy: RetryPolicy, log: Log):
        self.site = site
        self.endpoint = endpoint
        self.policy = policy
        self.log = log
        self.calls = 0
        self._client: Client | None = None

    def read(self) -> SiteStructure:
        """Every public post type and taxonomy, with counts."""
        post_types, taxonomies = self.list_public()
        return self.structure(post_types, taxonomies)

    def list_public(self) -> tuple[dict[str, str], dict[str, str]]:
        """{slug: label} of the public post types and public taxonomies."""
        raw_types = self._call(GetPostTypes())  # WordPress's default filter: public => true
        raw_taxonomies = self._call(GetTaxonomies())
        post_types = {slug: t.label or slug for slug, t in raw_types.items()
                      if slug not in self.site.exclude_post_types}
        taxonomies = {t.name: t.label or t.name for t in raw_taxonomies
                      if t.public and t.name not in self.site.exclude_taxonomies}
        return post_types, taxonomies

    def structure(self, post_types: dict[str, str], taxonomies: dict[str, str]) -> SiteStructure:
        """Count the given types and taxonomies."""
        counted_types = tuple(ContentType(slug, label, self.count_published(slug))
                              for slug, label in post_types.items())
        counted_taxonomies = tuple(ContentType(slug, label, self.count_terms(slug))
                                   for slug, label in taxonomies.items())
        return SiteStructure(
            post_types=counted_types,
            taxonomies=counted_taxonomies,
            read_at=datetime.now(UTC).replace(microsecond=0),
            source=f"XML-RPC at {self.endpoint}",
        )

    def count_published(self, post_type: str) -> int:
        def page(offset: int) -> list[Any]:
            query = {"post_type": post_type, "post_status": "publish",
                     "number": PAGE_SIZE, "offset": offset, "orderby": "ID", "order": "ASC"}
            return self._call(GetPosts(query, ["post_id"], results_class=None)) or []

        return _count_pages(page)

    def count_terms(self, taxonomy: str) -> int:
        def page(offset: int) -> list[Any]:
            query = {"hide_empty": False, "number": PAGE_SIZE, "offset": offset}
            return self._call(GetTerms(taxonomy, query, results_class=None)) or []

        return _count_pages(page)

    # --- calls -----------------------------------------------------------------

    def _call(self, method: Any) -> Any:
        def once() -> Any:
            with _errors_mapped(self.site, self.endpoint):
                client = self._connected()
                self.calls += 1
                return client.call(method)

        return call_with_retries(once, self.policy, log=self.log)

    def _connected(self) -> Client:
        if self._client is None:
            wp = self.site.wordpress
            password = wp.app_password.reveal() if wp.app_password else ""
            transport = _Transport(self.endpoint, wp.timeout, wp.verify)
            # The constructor asks for mt.supportedMethods: one call.
            self.calls += 1
            self._client = Client(self.endpoint, wp.username, password, transport=transport)
        return self._client


def _count_pages(page: Callable[[int], list[Any]]) -> int:
    total, previous = 0, None
    while True:
        items = page(total)
        if items and items == previous:
            raise XmlrpcUnavailable("XML-RPC ignores the paging offset (the same page came "
                                    "twice); cannot count")
        total += len(items)
        if len(items) < PAGE_SIZE:
            return total
        previous = items


def xmlrpc_endpoint(
    home_url: str, home_page: HttpResponse | None, trusted: set[tuple[str, str, int]]
) -> str:
    """The site's xmlrpc.php, as its home page names it (X-Pingback header, <link
    rel="pingback">, the RSD link) on a trusted origin, else beside the home URL."""
    if home_page is None:
        return home_url.rstrip("/") + "/xmlrpc.php"
    candidates = [home_page.header("x-pingback") or ""]
    for tag in link_tags(home_page.body):
        rel = tag.get("rel", "").lower()
        if rel in ("pingback", "edituri"):
            candidates.append(tag.get("href", "").split("?")[0])
    for candidate in candidates:
        if not candidate:
            continue
        url = urljoin(home_page.url, candidate)
        if urlsplit(url).scheme in ("http", "https") and origin_of(url) in trusted:
            return url
    final = urlsplit(home_page.url)
    return f"{final.scheme}://{final.netloc}{final.path.rstrip('/')}/xmlrpc.php"


# --- the transport --------------------------------------------------------------


class _Transport(xmlrpc.client.SafeTransport):
    """xmlrpc.client's transport with a timeout, the site's TLS settings, a size cap,
    and the same $HTTP_PROXY / $HTTPS_PROXY / $NO_PROXY as the REST requests."""

    user_agent = USER_AGENT
    accept_gzip_encoding = False  # parse_response reads plain XML, capped before parsing

    def __init__(self, endpoint: str, timeout: float, verify: bool | str):
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        super().__init__(context=_tls_context(verify) if self.https else None)
        self.timeout = timeout
        self.proxy = _proxy_for(parts.scheme, parts.hostname or "")

    def send_request(self, host: Any, handler: str, request_body: bytes,
                     debug: bool) -> http.client.HTTPConnection:
        if self.proxy is not None and not self.https:
            # Through a plain-http proxy the request line carries the absolute URL.
            handler = f"http://{self.get_host_info(host)[0]}{handler}"
        return super().send_request(host, handler, request_body, debug)

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        self._connection = host, self._open(host)
        return self._connection[1]

    def _open(self, host: Any) -> http.client.HTTPConnection:
        chost, self._extra_headers, _ = self.get_host_info(host)
        target = chost if self.proxy is None else _netloc(self.proxy)
        if not self.https:
            return http.client.HTTPConnection(target, timeout=self.timeout)
        connection = http.client.HTTPSConnection(target, timeout=self.timeout,
                                                 context=self.context)
        if self.proxy is not None:
            connection.set_tunnel(chost)  # CONNECT; TLS is then with the site itself
        return connection

    def single_request(self, host: Any, handler: str, request_body: bytes,
                       verbose: bool = False) -> Any:
        """xmlrpc.client's, except that an error page is not read (it has no size cap)."""
        try:
            response = self.send_request(host, handler, request_body, verbose).getresponse()
            if response.status == 200:
                return self.parse_response(response)
        except xmlrpc.client.Fault:
            raise
        except Exception:
            self.close()
            raise
        self.close()
        raise xmlrpc.client.ProtocolError(host + handler, response.status, response.reason,
                                          dict(response.getheaders()))

    def parse_response(self, response: http.client.HTTPResponse) -> Any:
        declared = response.getheader("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise _TooLarge()
        parser, unmarshaller = self.getparser()
        size = 0
        while chunk := response.read(64 * 1024):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise _TooLarge()
            parser.feed(chunk)
        parser.close()
        return unmarshaller.close()


class _TooLarge(Exception):
    pass


def _proxy_for(scheme: str, hostname: str) -> SplitResult | None:
    """The proxy requests would use for this URL, from the environment."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(hostname):
        return None
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _netloc(proxy: SplitResult) -> str:
    return f"{proxy.hostname}:{proxy.port or 80}"


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    import requests.certs  # the same bundle the REST reader trusts

    return ssl.create_default_context(cafile=requests.certs.where())


# --- errors ---------------------------------------------------------------------


class _errors_mapped:
    """Turns the library's and xmlrpc.client's exceptions into the agent's errors."""

    def __init__(self, site: SiteConfig, endpoint: str):
        self.site = site
        self.endpoint = endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, WordPressError | TransientError):
            return False
        mapped = map_error(exc, self.site, self.endpoint)
        if mapped is None:
            return False
        raise mapped from None


def map_error(exc: BaseException, site: SiteConfig, endpoint: str) -> Exception | None:
    """The agent's error for an XML-RPC failure, or None to let it through."""
    where = f"{site.key_path}.wordpress"
    if isinstance(exc, InvalidCredentialsError):
        return CredentialsRejected(
            f"XML-RPC at {endpoint} rejected the credentials of user "
            f"{site.wordpress.username!r} ({exc}): check {where}.username and "
            f"{where}.app_password")
    if isinstance(exc, XmlrpcDisabledError):
        return XmlrpcUnavailable(f"XML-RPC is disabled on {site.wordpress.url} ({exc})")
    if isinstance(exc, UnsupportedXmlrpcMethodError):
        return XmlrpcMethodMissing(
            f"XML-RPC at {endpoint} does not offer {exc} (a plugin may remove it)")
    if isinstance(exc, ServerConnectionError):
        return _protocol_error(str(exc), endpoint)
    if isinstance(exc, xmlrpc.client.ProtocolError):
        return _from_status(exc.errcode, endpoint)
    if isinstance(exc, xmlrpc.client.Fault):
        if exc.faultCode == 401:
            return CredentialsRejected(
                f"user {site.wordpress.username!r} may not read everything over XML-RPC "
                f"({exc.faultString}): use an administrator's application password in {where}")
        return XmlrpcUnavailable(f"XML-RPC at {endpoint} answered fault {exc.faultCode}: "
                                 f"{exc.faultString}")
    if isinstance(exc, ExpatError | xmlrpc.client.ResponseError):
        return XmlrpcUnavailable(f"{endpoint} did not answer XML-RPC (not XML: an HTML page?)")
    if isinstance(exc, _TooLarge):
        return XmlrpcUnavailable(f"{endpoint}: answer larger than "
                                 f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MiB, not read")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return WordPressTlsError(
            f"TLS verification failed for {endpoint}: {exc}. Fix the site's certificate or set "
            f"{where}.verify to the CA bundle that signed it")
    if isinstance(exc, OSError | http.client.HTTPException):
        return TransientError(f"XML-RPC at {endpoint}: {exc}")
    return None


def _protocol_error(text: str, endpoint: str) -> Exception:
    # ServerConnectionError carries repr(ProtocolError(url, errcode, ...)).
    for status in sorted(TRANSIENT_STATUSES | {401, 403, 404, 405}):
        if f" {status} " in text:
            return _from_status(status, endpoint)
    return XmlrpcUnavailable(f"XML-RPC at {endpoint} failed: {text[:200]}")


def _from_status(status: int, endpoint: str) -> Exception:
    if status in TRANSIENT_STATUSES:
        return TransientError(f"XML-RPC at {endpoint} answered {status}")
    if status in (401, 403):
        return XmlrpcUnavailable(f"XML-RPC at {endpoint} is blocked ({status})")
    if status == 405:
        return XmlrpcUnavailable(f"XML-RPC is disabled at {endpoint} (405)")
    return XmlrpcUnavailable(f"XML-RPC at {endpoint} answered {status}")
