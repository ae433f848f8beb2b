"""List and count a site's post types and taxonomies over the REST API.

Listing is one round of requests: `/wp/v2/types` and `/wp/v2/taxonomies`, in
view context and, with credentials, in edit context (which tells `labels`,
`viewable` for types and `visibility.public` for taxonomies). Counting is one
request per collection, from the `X-WP-Total` header, all at once (up to the
site's `max_connections`).

Which API root to use is the discovery's job (`discovery.py`); which types
are public, when REST alone cannot tell, is the reader's (`reader.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from agent.config import SiteConfig
from agent.errors import (
    CredentialsIgnored,
    CredentialsRejected,
    MalformedAnswer,
    RestAccessDenied,
    RestApiNotFound,
    SiteError,
    WordPressError,
)
from agent.http import HttpClient, HttpResponse, shown
from agent.logs import Log
from agent.structure import MAX_COUNT
from agent.text import html_summary, looks_like_html, quoted

T = TypeVar("T")
InParallel = Callable[[Sequence[Callable[[], Any]]], list[Any]]

# Without credentials REST cannot tell which types are public; these never are.
INTERNAL_POST_TYPES = frozenset(
    {
        "nav_menu_item",
        "wp_block",
        "wp_template",
        "wp_template_part",
        "wp_navigation",
        "wp_global_styles",
        "wp_font_family",
        "wp_font_face",
        "revision",
        "custom_css",
        "customize_changeset",
        "oembed_cache",
        "user_request",
    }
)
INTERNAL_TAXONOMIES = frozenset(
    {
        "nav_menu",
        "wp_theme",
        "wp_template_part_area",
        "wp_pattern_category",
        "link_category",
    }
)
# WordPress error codes that mean the username or application password is wrong.
REJECTED_CREDENTIAL_CODES = frozenset(
    {
        "incorrect_password",
        "invalid_username",
        "invalid_email",
        "application_passwords_disabled",
        "application_passwords_disabled_for_user",
    }
)

# How a listing judged that a type is public, from the most to the least reliable.
BY_FLAG = "public flag"  # WordPress's own `public` (taxonomies' visibility.public in REST)
BY_VIEWABLE = "viewable"  # REST's `viewable`, which follows `publicly_queryable`
BY_INTERNAL_LIST = "internal list"  # anonymous: every type but the known internal ones


@dataclass(frozen=True)
class Listed:
    """A post type or taxonomy as a listing gives it."""

    slug: str
    label: str  # labels.name where the listing has it, else the registered label
    public: bool
    judged_by: str  # BY_FLAG, BY_VIEWABLE or BY_INTERNAL_LIST
    route: str | None = None  # "wp/v2/posts" (namespace + rest_base); None: not in REST


Lists = tuple[list[Listed], list[Listed]]  # post types, taxonomies


@dataclass(frozen=True)
class RestListing:
    root: str
    post_types: list[Listed]
    taxonomies: list[Listed]


class NotTheApi(Exception):
    """This candidate root did not answer as the WordPress REST API.

    `blocked` is set when something in front of WordPress (a firewall answering
    with an HTML page) refused it: another root may get through.
    """

    def __init__(self, message: str, blocked: RestAccessDenied | None = None):
        super().__init__(message)
        self.blocked = blocked


class RestReader:
    """Lists and counts over one site's REST API; `http` is that site's client."""

    def __init__(self, site: SiteConfig, http: HttpClient, in_parallel: InParallel, log: Log):
        self.site = site
        self.http = http
        self.in_parallel = in_parallel
        self.log = log

    # --- listing ---------------------------------------------------------------

    def find_and_list(
        self, roots: Iterable[str], early: dict[str, Future[Lists]] | None = None
    ) -> RestListing:
        """List types and taxonomies at the first of `roots` that answers as the API.
        `early`: roots already being listed (`list_at`), by root."""
        tried: list[str] = []
        blocked: RestAccessDenied | None = None
        early = early or {}
        for root in roots:
            try:
                listed = early[root].result() if root in early else self.list_at(root)
            except NotTheApi as exc:
                self.log.debug("%s is not the REST API: %s", root, exc)
                tried.append(f"{shown(root)} ({exc})")
                blocked = blocked or exc.blocked
                continue
            return RestListing(root, *listed)
        if blocked is not None:
            raise blocked
        raise RestApiNotFound(
            f"no WordPress REST API found for {self.site.wordpress.url}; tried "
            + "; ".join(tried)
            + f". Check {self.site.key_path}.wordpress.url is the site's home URL and that "
            "the REST API is enabled"
        )

    def list_at(self, root: str) -> Lists:
        """Post types and taxonomies at `root`; NotTheApi if it is not the API there."""
        routes = ["wp/v2/types", "wp/v2/taxonomies"]
        contexts: list[dict[str, str]] = [{}]
        if self.http.auth is not None:
            contexts.append({"context": "edit"})
        calls = [lambda r=r, c=c: self._get_json(root, r, c) for c in contexts for r in routes]
        answers = self.in_parallel(calls)
        types_edit, taxonomies_edit = (answers[2], answers[3]) if len(answers) == 4 else ({}, {})
        return (
            listed_post_types(answers[0], types_edit),
            listed_taxonomies(answers[1], taxonomies_edit),
        )

    def _get_json(self, root: str, route: str, params: dict[str, str]) -> dict[str, Any]:
        url, query = rest_url(root, route, params)
        response = self.http.request(
            "GET", url, params=query, headers={"Accept": "application/json"}
        )
        if response.status in (401, 403):
            error = self._access_error(response, url, root)
            if isinstance(error, RestAccessDenied) and error.code is None:
                raise NotTheApi(f"{route} answered {response.status}", blocked=error)
            raise error
        if response.status != 200:
            raise NotTheApi(f"{route} answered {response.status}")
        data = response.json()
        if data == []:  # PHP encodes an empty array as a list
            data = {}
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise NotTheApi(f"{route} answered {describe_body(response)}, not the API's JSON")
        return data

    # --- counting --------------------------------------------------------------

    def count(self, root: str, item: Listed) -> int:
        """Items in a collection, from X-WP-Total; HEAD first, GET where HEAD has no total."""
        assert item.route is not None
        url, query = rest_url(root, item.route, {"per_page": "1", "_fields": "id"})
        for method in ("HEAD", "GET"):
            response = self.http.request(
                method, url, params=query, headers={"Accept": "application/json"}
            )
            total = (response.header("x-wp-total") or "").strip()
            if response.status == 200 and total.isascii() and total.isdigit():
                return plausible_count(int(total), item.slug, url)
            if response.status in (401, 403):
                raise self._access_error(response, url, root)
        raise WordPressError(
            f"cannot count {quoted(item.slug, 80)!r}: {shown(url)} answered {response.status} "
            "without a usable X-WP-Total header; a plugin may be changing that collection"
        )

    # --- messages --------------------------------------------------------------

    def _access_error(self, response: HttpResponse, url: str, root: str) -> WordPressError:
        available = None
        if self.http.auth is not None and response.status == 401:
            available = self._application_passwords_available(root)
        return access_error(
            response,
            url,
            self.site,
            credentials_sent=self.http.auth is not None,
            application_passwords_available=available,
        )

    def _application_passwords_available(self, root: str) -> bool | None:
        """Whether the site offers application passwords (its index says so).

        WordPress answers a wrong application password like an anonymous request
        in some setups, exactly as it does when application passwords are not
        available (plain http); this tells the two apart. Only asked on errors.
        """
        url, query = rest_url(root, "", {"_fields": "authentication"})
        try:
            response = self.http.request("GET", url, params=query, with_auth=False)
        except SiteError:
            return None
        index = response.json()
        if response.status != 200 or not isinstance(index, dict):
            return None
        authentication = index.get("authentication")
        return isinstance(authentication, dict) and "application-passwords" in authentication


# --- pure helpers (unit tested) ----------------------------------------------------------


def rest_url(root: str, route: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """URL and query of `route` under an API root, pretty (/wp-json/) or plain (?rest_route=)."""
    parts = urlsplit(root)
    query = dict(parse_qsl(parts.query))
    if "rest_route" in query:
        query["rest_route"] = "/" + route.strip("/")
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return base, {**query, **params}
    return root.rstrip("/") + "/" + route.strip("/"), dict(params)


def listed_post_types(view: dict[str, Any], edit: dict[str, Any]) -> list[Listed]:
    """Every post type REST lists; public as far as REST can tell (`viewable`, else by
    the list of WordPress's internal types)."""
    listed = []
    for key, item in view.items():
        slug = _text(item.get("slug")) or str(key)
        in_edit = edit.get(key)
        if isinstance(in_edit, dict) and isinstance(in_edit.get("viewable"), bool):
            public, judged_by = in_edit["viewable"], BY_VIEWABLE
        else:
            public, judged_by = slug not in INTERNAL_POST_TYPES, BY_INTERNAL_LIST
        listed.append(_listed(slug, item, in_edit, public, judged_by))
    return listed


def listed_taxonomies(view: dict[str, Any], edit: dict[str, Any]) -> list[Listed]:
    """Every taxonomy REST lists; public by `visibility.public` (WordPress's own flag),
    else by the list of WordPress's internal taxonomies."""
    listed = []
    for key, item in view.items():
        slug = _text(item.get("slug")) or str(key)
        in_edit = edit.get(key)
        visibility = in_edit.get("visibility") if isinstance(in_edit, dict) else None
        if isinstance(visibility, dict) and isinstance(visibility.get("public"), bool):
            public, judged_by = visibility["public"], BY_FLAG
        else:
            public, judged_by = slug not in INTERNAL_TAXONOMIES, BY_INTERNAL_LIST
        listed.append(_listed(slug, item, in_edit, public, judged_by))
    return listed


def _listed(slug: str, item: dict[str, Any], in_edit: Any, public: bool, judged_by: str) -> Listed:
    namespace = (_text(item.get("rest_namespace")) or "wp/v2").strip("/")
    base = (_text(item.get("rest_base")) or slug).strip("/")
    labels = in_edit.get("labels") if isinstance(in_edit, dict) else None
    plural = _text(labels.get("name")) if isinstance(labels, dict) else ""
    label = plural or _text(item.get("name")) or slug
    return Listed(slug, label, public, judged_by, route=f"{namespace}/{base}")


def plausible_count(total: int, slug: str, url: str) -> int:
    if total > MAX_COUNT:
        raise MalformedAnswer(
            f"{shown(url)} says {quoted(slug, 80)!r} holds {quoted(str(total), 40)} items "
            f"(X-WP-Total), more than any WordPress site can ({MAX_COUNT:,}); a plugin or "
            "proxy is changing that header"
        )
    return total


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
    raw_code = body.get("code") if isinstance(body, dict) else None
    code = quoted(raw_code, 80) if isinstance(raw_code, str) else None
    where = f"{site.key_path}.wordpress"
    url_shown = shown(url)
    anonymous_despite_credentials = credentials_sent and response.status == 401
    if code in REJECTED_CREDENTIAL_CODES:
        return _credentials_rejected(site, f"it answered {code}")
    if anonymous_despite_credentials and application_passwords_available is True:
        return _credentials_rejected(site, f"it answered {url_shown} as to an anonymous visitor")
    if anonymous_despite_credentials and code is not None:
        cause = (
            "WordPress offers application passwords only over HTTPS (or when "
            "WP_ENVIRONMENT_TYPE is 'local')"
        )
        if application_passwords_available is None:
            cause = f"either the application password is wrong, or {cause}"
        return CredentialsIgnored(
            f"WordPress at {site.wordpress.url} ignored the application password and answered "
            f"{url_shown} as to an anonymous visitor ({code}): {cause}. Use the https:// "
            f"address in {where}.url, check {where}.username and {where}.app_password, and "
            "that no plugin disables application passwords"
        )
    if credentials_sent and response.status == 403 and code is not None:
        return RestAccessDenied(
            f"user {site.wordpress.username!r} may not read {url_shown} ({code}): use the "
            f"application password of an administrator in {where}",
            response.status,
            code,
        )
    if code is None:
        return RestAccessDenied(
            f"the REST API of {site.wordpress.url} is blocked: {url_shown} answered "
            f"{response.status} with {describe_body(response)} (a firewall or security plugin?). "
            "Allow the agent's requests to the REST API, or use XML-RPC",
            response.status,
            None,
        )
    return RestAccessDenied(
        f"WordPress at {site.wordpress.url} refuses anonymous REST requests ({code}): set "
        f"{where}.username and {where}.app_password (an administrator's application password)",
        response.status,
        code,
    )


def _credentials_rejected(site: SiteConfig, how: str) -> CredentialsRejected:
    where = f"{site.key_path}.wordpress"
    return CredentialsRejected(
        f"WordPress at {site.wordpress.url} did not accept the application password of user "
        f"{site.wordpress.username!r} ({how}): check {where}.username, or create a new "
        f"application password (Users → Profile → Application Passwords) and set "
        f"{where}.app_password"
    )


def describe_body(response: HttpResponse) -> str:
    """ "a text/html page ('Access denied')", or the content type."""
    kind = (response.header("content-type") or "no content type").split(";")[0].strip()
    kind = quoted(kind, 60)
    if looks_like_html(response.body) or b"<" in response.body[:512]:
        summary = html_summary(response.body)
        return f"a {kind} page ({quoted(summary, 80)!r})" if summary else f"a {kind} page"
    return kind
