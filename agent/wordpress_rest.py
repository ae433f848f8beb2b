"""Read a WordPress site's public post types and taxonomies over the REST API.

The read costs about three round trips whatever the number of types:
1. discover the API root (the `Link: <…>; rel="https://api.w.org/"` header of
   the home page, else the `<link>` in its HTML, else `/wp-json/`, else
   `?rest_route=/`);
2. list types and taxonomies (all requests at once);
3. count every kept type and taxonomy (all requests at once) from the
   `X-WP-Total` header of its collection.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import requests
from requests.utils import parse_header_links

from agent.config import SiteConfig
from agent.errors import (
    CredentialsIgnored,
    CredentialsRejected,
    HttpError,
    RestAccessDenied,
    RestApiNotFound,
    SiteError,
    TlsError,
    WordPressError,
    WordPressTlsError,
    WordPressUnreachable,
)
from agent.retry import RetryPolicy, call_with_retries
from agent.structure import ContentType, SiteStructure
from agent.transport import HttpResponse, send

T = TypeVar("T")

API_REL = "https://api.w.org/"
PARALLEL_REQUESTS = 64
HOME_PAGE_BYTES = 256 * 1024

# Without credentials REST cannot tell which types are public; these never are.
INTERNAL_POST_TYPES = frozenset({
    "nav_menu_item", "wp_block", "wp_template", "wp_template_part", "wp_navigation",
    "wp_global_styles", "wp_font_family", "wp_font_face", "revision", "custom_css",
    "customize_changeset", "oembed_cache", "user_request",
})
INTERNAL_TAXONOMIES = frozenset({
    "nav_menu", "wp_theme", "wp_template_part_area", "wp_pattern_category", "link_category",
})
# WordPress error codes that mean the username or application password is wrong.
REJECTED_CREDENTIAL_CODES = frozenset({
    "incorrect_password", "invalid_username", "invalid_email",
    "application_passwords_disabled", "application_passwords_disabled_for_user",
})
DIGITS = re.compile(r"[0-9]+")
LINK_TAG = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
TAG_ATTRIBUTE = re.compile(rb"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


@dataclass(frozen=True)
class Collection:
    """A post type or taxonomy as the REST API lists it."""

    slug: str
    label: str
    route: str  # "wp/v2/posts": namespace + rest_base


class NotTheApi(Exception):
    """This candidate root did not answer as the WordPress REST API.

    `blocked` is set when something in front of WordPress (a firewall answering
    with an HTML page) refused it: another root may get through.
    """

    def __init__(self, message: str, blocked: RestAccessDenied | None = None):
        super().__init__(message)
        self.blocked = blocked


class RestReader:
    """Reads one site; create one per read.

    `parallel` caps the requests in flight; 1 gives a one-request-at-a-time
    reader (the benchmark's baseline).
    """

    def __init__(
        self,
        site: SiteConfig,
        session: requests.Session,
        policy: RetryPolicy,
        log: logging.LoggerAdapter[logging.Logger],
        *,
        parallel: int = PARALLEL_REQUESTS,
    ):
        self.site = site
        self.parallel = parallel
        self.wp = site.wordpress
        self.session = session
        self.policy = policy
        self.log = log
        self.auth = (
            (self.wp.username, self.wp.app_password.reveal())
            if self.wp.username and self.wp.app_password
            else None
        )
        self.requests_sent = 0
        self._counter_lock = threading.Lock()
        self.home_page: HttpResponse | None = None  # kept: it names xmlrpc.php too
        self._home_page_tried = False
        # Credentials go only to the configured site and where its home page
        # redirects; never to an origin some header or tag merely names.
        self.trusted_origins = {origin_of(self.wp.url)}

    # --- the whole read ------------------------------------------------------

    def read(self) -> SiteStructure:
        try:
            return self._read()
        except TlsError as exc:
            raise WordPressTlsError(
                f"cannot read WordPress at {self.wp.url}: {exc}. Fix the site's certificate or "
                f"set {self.site.key_path}.wordpress.verify to the CA bundle that signed it"
            ) from None
        except HttpError as exc:
            raise WordPressUnreachable(
                f"cannot read WordPress at {self.wp.url}: {exc}. Check "
                f"{self.site.key_path}.wordpress.url and that the site is up"
            ) from None

    def _read(self) -> SiteStructure:
        with ThreadPoolExecutor(self.parallel, thread_name_prefix=self.site.name) as pool:
            self.pool = pool
            root, post_types, taxonomies = self._find_api_and_list()
            counts = self._in_parallel(
                [lambda c=c: self._count(root, c) for c in post_types + taxonomies]
            )
        read_at = datetime.now(UTC).replace(microsecond=0)
        structure = SiteStructure(
            post_types=_with_counts(post_types, counts[: len(post_types)]),
            taxonomies=_with_counts(taxonomies, counts[len(post_types):]),
            read_at=read_at,
            source=f"REST at {root}",
        )
        self.log.info("WordPress lists %d public post types and %d public taxonomies "
                      "(REST at %s, %d requests)",
                      len(structure.post_types), len(structure.taxonomies), root,
                      self.requests_sent)
        return structure

    # --- step 1 and 2: find the API root and list the types ------------------

    def _find_api_and_list(self) -> tuple[str, list[Collection], list[Collection]]:
        tried: list[str] = []
        blocked: RestAccessDenied | None = None
        for root in self._candidate_roots():
            try:
                post_types, taxonomies = self._list_types(root)
            except NotTheApi as exc:
                self.log.debug("%s is not the REST API: %s", root, exc)
                tried.append(f"{root} ({exc})")
                blocked = blocked or exc.blocked
                continue
            return root, post_types, taxonomies
        if blocked is not None:
            raise blocked
        raise RestApiNotFound(
            f"no WordPress REST API found for {self.wp.url}; tried "
            + "; ".join(tried)
            + f". Check {self.site.key_path}.wordpress.url is the site's home URL and that "
            "the REST API is enabled"
        )

    def fetch_home_page(self) -> HttpResponse | None:
        """The home page (after redirects), or None when it cannot be read."""
        if not self._home_page_tried:
            self._home_page_tried = True
            try:
                self.home_page = self._get(self.wp.url, truncate=True, with_auth=False)
            except (WordPressError, HttpError) as exc:
                self.log.debug("home page %s unreadable (%s)", self.wp.url, exc)
            else:
                self.trusted_origins.add(origin_of(self.home_page.url))
        return self.home_page

    def _candidate_roots(self) -> list[str]:
        """API roots to try, best first, without duplicates."""
        home = self.wp.url
        candidates: list[str] = []
        page = self.fetch_home_page()
        if page is not None:
            if page.status == 200 or page.header("link"):
                candidates += self._on_trusted_origin(api_roots_from_page(page))
            home = _home_of(page.url) or home
        candidates += [home.rstrip("/") + "/wp-json/", home.rstrip("/") + "/?rest_route=/"]
        return list(dict.fromkeys(candidates))

    def _on_trusted_origin(self, roots: list[str]) -> list[str]:
        if not self.auth:
            return roots
        kept = [root for root in roots if origin_of(root) in self.trusted_origins]
        for root in roots:
            if root not in kept:
                self.log.warning("the site names %s as its REST API, on another origin than "
                                 "%s: credentials are not sent there, so it is not used",
                                 root, self.wp.url)
        return kept

    def _list_types(self, root: str) -> tuple[list[Collection], list[Collection]]:
        """List post types and taxonomies; with credentials, also in edit context."""
        routes = ["wp/v2/types", "wp/v2/taxonomies"]
        calls: list[Callable[[], Any]] = [lambda r=r: self._get_json(root, r, {}) for r in routes]
        if self.auth:
            calls += [lambda r=r: self._get_json(root, r, {"context": "edit"}) for r in routes]
        answers = self._in_parallel(calls)
        types_view, taxonomies_view = answers[0], answers[1]
        types_edit, taxonomies_edit = (answers[2], answers[3]) if self.auth else (None, None)
        return (
            public_post_types(types_view, types_edit),
            public_taxonomies(taxonomies_view, taxonomies_edit),
        )

    # --- step 3: counts --------------------------------------------------------

    def _count(self, root: str, collection: Collection) -> int:
        """Items in a collection, from X-WP-Total; HEAD first, GET where HEAD has no total."""
        params = {"per_page": "1", "_fields": "id"}
        url, query = rest_url(root, collection.route, params)
        for method in ("HEAD", "GET"):
            response = self._request(method, url, query)
            total = (response.header("x-wp-total") or "").strip()
            if response.status == 200 and DIGITS.fullmatch(total):
                return int(total)
            if response.status in (401, 403):
                raise self._access_error(response, url, root)
        raise WordPressError(
            f"cannot count {collection.slug!r}: {url} answered {response.status} without "
            "a usable X-WP-Total header; a plugin may be changing that collection"
        )

    # --- requests ------------------------------------------------------------

    def _get_json(self, root: str, route: str, params: dict[str, str]) -> dict[str, Any]:
        url, query = rest_url(root, route, params)
        response = self._request("GET", url, query)
        if response.status in (401, 403):
            error = self._access_error(response, url, root)
            if isinstance(error, RestAccessDenied) and error.code is None:
                raise NotTheApi(f"{route} answered {response.status}", blocked=error)
            raise error
        if response.status == 404:
            raise NotTheApi(f"{route} answered 404")
        if response.status != 200:
            raise NotTheApi(f"{route} answered {response.status}")
        data = response.json()
        if data == []:  # PHP encodes an empty array as a list
            data = {}
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise NotTheApi(f"{route} answered {_describe_body(response)}, not the API's JSON")
        return data

    def _get(self, url: str, *, truncate: bool = False, with_auth: bool = True) -> HttpResponse:
        return self._request("GET", url, None, truncate=truncate, with_auth=with_auth)

    def _request(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        *,
        truncate: bool = False,
        with_auth: bool = True,
    ) -> HttpResponse:
        def once() -> HttpResponse:
            with self._counter_lock:
                self.requests_sent += 1
            return send(
                self.session, method, url, params=params,
                auth=self.auth if with_auth and origin_of(url) in self.trusted_origins else None,
                timeout=self.wp.timeout, verify=self.wp.verify,
                max_bytes=HOME_PAGE_BYTES if truncate else None, truncate=truncate,
                headers={"Accept": "application/json"} if params is not None else None,
                log=self.log,
            )

        return call_with_retries(once, self.policy, log=self.log)

    def _in_parallel(self, calls: list[Callable[[], T]]) -> list[T]:
        """Run calls at once on the read's pool; results in order; first error raised."""
        futures = [self.pool.submit(call) for call in calls]
        return [future.result() for future in futures]

    # --- messages --------------------------------------------------------------

    def _access_error(self, response: HttpResponse, url: str, root: str) -> WordPressError:
        available = None
        if self.auth and response.status == 401:
            available = self._application_passwords_available(root)
        return access_error(response, url, self.site, credentials_sent=self.auth is not None,
                            application_passwords_available=available)

    def _application_passwords_available(self, root: str) -> bool | None:
        """Whether the site offers application passwords (its index says so).

        WordPress answers a wrong application password like an anonymous request
        in some setups, exactly as it does when application passwords are not
        available (plain http); this tells the two apart. Only asked on errors.
        """
        url, query = rest_url(root, "", {"_fields": "authentication"})
        try:
            response = self._request("GET", url, query, with_auth=False)
        except SiteError:
            return None
        index = response.json()
        if response.status != 200 or not isinstance(index, dict):
            return None
        authentication = index.get("authentication")
        return isinstance(authentication, dict) and "application-passwords" in authentication


# --- pure helpers (unit tested) ----------------------------------------------


def api_roots_from_page(page: HttpResponse) -> list[str]:
    """API roots announced by a home page: Link header first, then <link> tags."""
    roots = [
        link["url"] for link in parse_header_links(page.header("link") or "")
        if link.get("rel") == API_REL and link.get("url")
    ]
    roots += [tag["href"] for tag in link_tags(page.body)
              if tag.get("rel") == API_REL and tag.get("href")]
    return [urljoin(page.url, root) for root in roots]  # some plugins make them relative


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def link_tags(html_body: bytes) -> list[dict[str, str]]:
    """The attributes of each <link> tag in an HTML page, names lower-cased."""
    tags = []
    for tag in LINK_TAG.findall(html_body):
        tags.append({
            name.lower().decode(): html.unescape((double or single).decode(errors="replace"))
            for name, double, single in TAG_ATTRIBUTE.findall(tag)
        })
    return tags


def rest_url(root: str, route: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """URL and query of `route` under an API root, pretty (/wp-json/) or plain (?rest_route=)."""
    parts = urlsplit(root)
    query = dict(parse_qsl(parts.query))
    if "rest_route" in query:
        query["rest_route"] = "/" + route.strip("/")
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return base, {**query, **params}
    return root.rstrip("/") + "/" + route.strip("/"), dict(params)


def public_post_types(view: dict[str, Any], edit: dict[str, Any] | None) -> list[Collection]:
    """Public post types: `viewable` from the edit context, else minus known internal ones."""
    kept = []
    for key, item in view.items():
        slug = _text(item.get("slug")) or key
        in_edit = (edit or {}).get(key)
        if isinstance(in_edit, dict) and "viewable" in in_edit:
            public = in_edit["viewable"] is True
        else:
            public = slug not in INTERNAL_POST_TYPES
        if public:
            kept.append(_collection(slug, item))
    return kept


def public_taxonomies(view: dict[str, Any], edit: dict[str, Any] | None) -> list[Collection]:
    """Public taxonomies: `visibility.public` from the edit context, else minus known internal."""
    kept = []
    for key, item in view.items():
        slug = _text(item.get("slug")) or key
        in_edit = (edit or {}).get(key)
        visibility = in_edit.get("visibility") if isinstance(in_edit, dict) else None
        if isinstance(visibility, dict) and "public" in visibility:
            public = visibility["public"] is True
        else:
            public = slug not in INTERNAL_TAXONOMIES
        if public:
            kept.append(_collection(slug, item))
    return kept


def _with_counts(collections: list[Collection], counts: list[int]) -> tuple[ContentType, ...]:
    return tuple(
        ContentType(c.slug, c.label, n) for c, n in zip(collections, counts, strict=True)
    )


def _collection(slug: str, item: dict[str, Any]) -> Collection:
    namespace = (_text(item.get("rest_namespace")) or "wp/v2").strip("/")
    base = (_text(item.get("rest_base")) or slug).strip("/")
    return Collection(slug=slug, label=_text(item.get("name")) or slug, route=f"{namespace}/{base}")


def _text(value: Any) -> str:
    """A string field of a REST answer; anything else (a plugin's odd value) counts as absent."""
    return value if isinstance(value, str) else ""


def access_error(
    response: HttpResponse,
    url: str,
    site: SiteConfig,
    *,
    credentials_sent: bool,
    application_passwords_available: bool | None = None,
) -> WordPressError:
    """Turn a 401/403 from WordPress into an error that says what to do.

    A 401 with credentials sent means WordPress treated us as anonymous: the
    password is wrong if the site offers application passwords, else ignored.
    """
    body = response.json()
    code = body.get("code") if isinstance(body, dict) else None
    where = f"{site.key_path}.wordpress"
    shown_url = url.split("?")[0]
    anonymous_despite_credentials = credentials_sent and response.status == 401
    if code in REJECTED_CREDENTIAL_CODES:
        return _credentials_rejected(site, f"it answered {code}")
    if anonymous_despite_credentials and application_passwords_available is True:
        return _credentials_rejected(site, f"it answered {shown_url} as to an anonymous visitor")
    if anonymous_despite_credentials and code is not None:
        cause = ("WordPress offers application passwords only over HTTPS (or when "
                 "WP_ENVIRONMENT_TYPE is 'local')")
        if application_passwords_available is None:
            cause = f"either the application password is wrong, or {cause}"
        return CredentialsIgnored(
            f"WordPress at {site.wordpress.url} ignored the application password and answered "
            f"{shown_url} as to an anonymous visitor ({code}): {cause}. Use the https:// "
            f"address in {where}.url, check {where}.username and {where}.app_password, and "
            "that no plugin disables application passwords"
        )
    if credentials_sent and response.status == 403 and code is not None:
        return RestAccessDenied(
            f"user {site.wordpress.username!r} may not read {shown_url} ({code}): use the "
            f"application password of an administrator in {where}",
            response.status, code,
        )
    if code is None:
        return RestAccessDenied(
            f"the REST API of {site.wordpress.url} is blocked: {shown_url} answered "
            f"{response.status} with {_describe_body(response)} (a firewall or security plugin?). "
            "Allow the agent's requests to the REST API, or use XML-RPC",
            response.status, None,
        )
    return RestAccessDenied(
        f"WordPress at {site.wordpress.url} refuses anonymous REST requests ({code}): set "
        f"{where}.username and {where}.app_password (an administrator's application password)",
        response.status, code,
    )


def _credentials_rejected(site: SiteConfig, how: str) -> CredentialsRejected:
    where = f"{site.key_path}.wordpress"
    return CredentialsRejected(
        f"WordPress at {site.wordpress.url} did not accept the application password of user "
        f"{site.wordpress.username!r} ({how}): check {where}.username, or create a new "
        f"application password (Users → Profile → Application Passwords) and set "
        f"{where}.app_password"
    )


def _describe_body(response: HttpResponse) -> str:
    kind = response.header("content-type") or "no content type"
    return f"a {kind.split(';')[0]} page" if b"<" in response.body[:512] else kind


def _home_of(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/")


