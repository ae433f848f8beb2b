"""Read one site: which way (REST, XML-RPC, or both), what is public, what to count.

`wordpress.xmlrpc` in the config decides the way:
- `never`: REST only; xmlrpc.php is never touched.
- `always`: XML-RPC only (credentials required).
- `auto` (default): without credentials, REST only (and the log says once that
  types registered without REST cannot be seen). With credentials, REST and
  XML-RPC's lists are asked at once: XML-RPC's `wp.getPostTypes` is the
  authority on which types are public (WordPress's `public` flag) and on their
  labels, and adds the types REST does not list; REST counts what it lists.
  When REST is unreachable, refused or not there, XML-RPC reads the whole site;
  when XML-RPC cannot be used, REST's `viewable` decides, and the log says so.

Excluded types and types that are not public are never counted. Every request
of the read shares the site's deadline (`wordpress.deadline`) and its cap on
requests in flight (`wordpress.max_connections`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from agent.config import SiteConfig
from agent.deadline import Deadline
from agent.errors import (
    CredentialsIgnored,
    CredentialsRejected,
    DeadlineExceeded,
    HttpError,
    RestAccessDenied,
    RestApiNotFound,
    TlsError,
    WordPressError,
    WordPressTlsError,
    WordPressTooSlow,
    WordPressUnreachable,
)
from agent.http import HttpClient, new_session, origin_of, tls_advice
from agent.logs import Log
from agent.retry import RetryPolicy
from agent.structure import ContentType, SiteShape, SiteStructure
from agent.text import printable, sentence
from agent.timestamps import utc_now
from agent.wordpress.discovery import Discovery, KnownPlaces
from agent.wordpress.rest import BY_VIEWABLE, Listed, Lists, RestListing, RestReader
from agent.wordpress.xmlrpc import XmlrpcReader

T = TypeVar("T")
POST_TYPE, TAXONOMY = "post type", "taxonomy"

# REST failures after which XML-RPC, when credentials allow it, reads the whole site
REST_FAILURES = (
    RestApiNotFound,
    RestAccessDenied,
    CredentialsIgnored,
    CredentialsRejected,
    WordPressUnreachable,
)

_told: set[tuple[str, str]] = set()  # (site, what): things said once per process


def said_once() -> set[tuple[str, str]]:
    """What was said once, (site, what): a pass's worker processes start with it, and
    what they say is added."""
    return _told


@dataclass(frozen=True)
class _Chosen:
    """What will be in the payload, and where each count comes from."""

    post_types: list[Listed]
    taxonomies: list[Listed]
    root: str | None  # the REST root that listed them; None when XML-RPC alone did
    xmlrpc_endpoint: str | None = None  # when XML-RPC was used
    why_xmlrpc_alone: str | None = None


def read_structure(
    site: SiteConfig,
    policy: RetryPolicy,
    log: Log,
    on_request: Callable[[str], None] | None = None,
    pool: ThreadPoolExecutor | None = None,
    known: KnownPlaces | None = None,
) -> SiteStructure:
    """The site's public post types and taxonomies, with counts; raise WordPressError.

    `pool` runs the read's concurrent requests (a pass shares one among its sites,
    rather than starting threads for each); without one, the read has its own.
    `known`: where the last read found the APIs, tried first.
    """
    return _read(
        site, policy, log, on_request, pool, known, lambda read: read.structure(read.choose())
    )


def read_shape(
    site: SiteConfig,
    policy: RetryPolicy,
    log: Log,
    on_request: Callable[[str], None] | None = None,
    pool: ThreadPoolExecutor | None = None,
    known: KnownPlaces | None = None,
) -> SiteShape:
    """Which post types and taxonomies the payload would hold, and their labels — the
    lists alone, nothing counted (the freshness check)."""
    return _read(site, policy, log, on_request, pool, known, lambda read: read.shape(read.choose()))


def _read(
    site: SiteConfig,
    policy: RetryPolicy,
    log: Log,
    on_request: Callable[[str], None] | None,
    pool: ThreadPoolExecutor | None,
    known: KnownPlaces | None,
    what: Callable[[_SiteRead], T],
) -> T:
    if pool is None:
        own_pool = ThreadPoolExecutor(
            site.wordpress.max_connections + 1, thread_name_prefix=f"wp-{site.name}"
        )
        try:
            return _read(site, policy, log, on_request, own_pool, known, what)
        finally:
            own_pool.shutdown()
    wp = site.wordpress
    deadline = Deadline.after(
        wp.deadline, f"{site.key_path}.wordpress.deadline ({wp.deadline:g} s)"
    )
    credentials = None
    if wp.username and wp.app_password:
        credentials = (wp.username, wp.app_password.reveal())
    with new_session(wp.max_connections) as session:
        http = HttpClient(
            session,
            timeout=wp.timeout,
            verify=wp.verify,
            policy=policy,
            log=log,
            deadline=deadline,
            auth=credentials,
            auth_origins={origin_of(wp.url)},
            max_in_flight=wp.max_connections,
            on_response=on_request,
        )
        read = _SiteRead(site, http, pool, log, known, deadline)
        try:
            with _as_wordpress_errors(site):
                return what(read)
        finally:
            read.settle()


class _SiteRead:
    def __init__(
        self,
        site: SiteConfig,
        http: HttpClient,
        pool: ThreadPoolExecutor,
        log: Log,
        known: KnownPlaces | None,
        deadline: Deadline,
    ):
        self.site = site
        self.http = http
        self.pool = pool
        self.log = log
        self.deadline = deadline
        # The site's places in the pool that every site of the pass shares: tasks of a
        # site beyond its connections would only wait there, and keep other sites out.
        self._places = threading.BoundedSemaphore(site.wordpress.max_connections + 1)
        self.discovery = Discovery(site, http, log, known)
        self.rest = RestReader(site, http, self.in_parallel, log)
        self._xmlrpc: XmlrpcReader | None = None
        self._futures: list[Future[Any]] = []

    @property
    def xmlrpc(self) -> XmlrpcReader:
        if self._xmlrpc is None:
            self._xmlrpc = XmlrpcReader(
                self.site, self.discovery.xmlrpc_endpoint(), self.http, self.log
            )
        return self._xmlrpc

    def submit(self, call: Callable[[], T]) -> Future[T]:
        """Run `call` on the pool once the site has a place there (by its deadline)."""
        if not self._places.acquire(timeout=max(self.deadline.remaining(), 0)):
            raise DeadlineExceeded(
                f"its requests were still running when the site's {self.deadline.what} passed"
            )
        try:
            future = self.pool.submit(call)
        except BaseException:
            self._places.release()
            raise
        future.add_done_callback(lambda _: self._places.release())
        self._futures.append(future)
        return future

    def in_parallel(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run calls on the pool; results in order; once all ended, the first error raised."""
        futures = [self.submit(call) for call in calls]
        wait(futures)
        return [future.result() for future in futures]

    def settle(self) -> None:
        """Wait for what the read started (an error may have cut it short): nothing of a
        site's read outlives it. Each request ends by its deadline."""
        for future in self._futures:
            future.cancel()
        wait(self._futures)

    # --- the decision table ----------------------------------------------------

    def choose(self) -> _Chosen:
        """What will be in the payload: the public types and taxonomies, minus the
        excluded ones, each with where it can be counted."""
        chosen = self._choose()
        return replace(
            chosen,
            post_types=[t for t in chosen.post_types if t.slug not in self.site.exclude_post_types],
            taxonomies=[t for t in chosen.taxonomies if t.slug not in self.site.exclude_taxonomies],
        )

    def _choose(self) -> _Chosen:
        mode = self.site.wordpress.xmlrpc
        has_credentials = self.site.wordpress.has_credentials
        if mode == "always":
            return self._all_over_xmlrpc(None, why="wordpress.xmlrpc is 'always'")
        xmlrpc_listing = None
        if mode == "auto" and has_credentials:
            xmlrpc_listing = self.submit(self.xmlrpc.list_public)
        try:
            with _as_wordpress_errors(self.site):
                listing = self.rest.find_and_list(
                    self.discovery.api_roots(), self._usual_root_listed_early()
                )
        except REST_FAILURES as rest_error:
            if xmlrpc_listing is None:
                raise
            why = f"REST failed: {rest_error}"
            if isinstance(rest_error, CredentialsIgnored | CredentialsRejected):
                # XML-RPC accepting the same credentials proves them right: REST is
                # what refuses (a plugin that blocks it even for logged-in users).
                why = "REST refused the credentials that XML-RPC accepts (a plugin blocking REST?)"
            try:
                return self._all_over_xmlrpc(xmlrpc_listing, why=why)
            except (WordPressError, HttpError) as xmlrpc_error:
                raise WordPressError(
                    f"{rest_error}; and XML-RPC could not be used either: {xmlrpc_error}"
                ) from None
        if xmlrpc_listing is None:
            self._say_how_public_is_judged(listing, mode)
            return self._rest_only(listing)
        try:
            authority = xmlrpc_listing.result()
        except (WordPressError, HttpError) as exc:
            self.log.warning(
                "XML-RPC could not be used (%s): which post types are public is "
                "judged by REST's `viewable`, and types registered without REST "
                "(show_in_rest => false) cannot be seen",
                exc,
            )
            return self._rest_only(listing)
        return self._by_authority(listing, authority)

    def _usual_root_listed_early(self) -> dict[str, Future[Lists]]:
        """On a read with no API root known (a site's first), list at the usual root
        while the home page says where the root is: it mostly names that very one, and
        the read saves a round trip. The listing is used only if the discovery comes to
        that root; where it does not (plain permalinks, a redirect), it cost a couple of
        requests, once: the root found is remembered."""
        if self.discovery.known_root is not None:
            return {}
        root = self.discovery.usual_root
        return {root: self.submit(functools.partial(self.rest.list_at, root))}

    def _rest_only(self, listing: RestListing) -> _Chosen:
        return _Chosen(
            [t for t in listing.post_types if t.public],
            [t for t in listing.taxonomies if t.public],
            root=listing.root,
        )

    def _by_authority(
        self, listing: RestListing, authority: tuple[list[Listed], list[Listed]]
    ) -> _Chosen:
        """XML-RPC says what is public and its label; REST's route counts where it lists."""
        chosen = []
        for rest_items, public in zip(
            (listing.post_types, listing.taxonomies), authority, strict=True
        ):
            routes = {item.slug: item.route for item in rest_items}
            disagree = [
                item
                for item in rest_items
                if item.judged_by == BY_VIEWABLE
                and item.public != any(p.slug == item.slug for p in public)
            ]
            if disagree:
                self.log.info(
                    "WordPress's public flag overrules REST's `viewable` for: %s",
                    ", ".join(
                        f"{printable(i.slug)} ({'not ' if i.public else ''}public)"
                        for i in disagree
                    ),
                )
            chosen.append([replace(item, route=routes.get(item.slug)) for item in public])
        return _Chosen(chosen[0], chosen[1], root=listing.root, xmlrpc_endpoint=self.endpoint)

    def _all_over_xmlrpc(
        self, listing: Future[tuple[list[Listed], list[Listed]]] | None, *, why: str
    ) -> _Chosen:
        with _as_wordpress_errors(self.site):
            post_types, taxonomies = (
                listing.result() if listing is not None else self.xmlrpc.list_public()
            )
        return _Chosen(
            post_types, taxonomies, root=None, xmlrpc_endpoint=self.endpoint, why_xmlrpc_alone=why
        )

    @property
    def endpoint(self) -> str:
        return self.xmlrpc.endpoint

    # --- what comes of it: counts, or the shape alone ----------------------------

    def shape(self, chosen: _Chosen) -> SiteShape:
        return SiteShape(
            tuple((t.slug, t.label) for t in chosen.post_types),
            tuple((t.slug, t.label) for t in chosen.taxonomies),
        )

    def structure(self, chosen: _Chosen) -> SiteStructure:
        """Count what was chosen: over REST where REST lists it, else over XML-RPC."""
        with _as_wordpress_errors(self.site):
            counts = self._counts(chosen)
        if chosen.why_xmlrpc_alone:
            self.log.info(
                "read over XML-RPC at %s (%d calls), because %s",
                self.endpoint,
                self.xmlrpc.calls,
                chosen.why_xmlrpc_alone,
            )
        sources = ([f"REST at {chosen.root}"] if chosen.root is not None else []) + (
            [f"XML-RPC at {chosen.xmlrpc_endpoint}"] if chosen.xmlrpc_endpoint else []
        )
        structure = SiteStructure(
            post_types=tuple(
                ContentType(t.slug, t.label, counts[POST_TYPE, t.slug]) for t in chosen.post_types
            ),
            taxonomies=tuple(
                ContentType(t.slug, t.label, counts[TAXONOMY, t.slug]) for t in chosen.taxonomies
            ),
            read_at=utc_now(),
            source=" and ".join(sources),
            requests=self.http.requests_sent,
            api_root=chosen.root,
            xmlrpc_endpoint=chosen.xmlrpc_endpoint,
        )
        self.log.info(
            "WordPress lists %d public post types and %d public taxonomies (%s, %d requests)",
            len(structure.post_types),
            len(structure.taxonomies),
            structure.source,
            structure.requests,
        )
        return structure

    def _counts(self, chosen: _Chosen) -> dict[tuple[str, str], int]:
        root = chosen.root
        jobs = [(POST_TYPE, t) for t in chosen.post_types] + [
            (TAXONOMY, t) for t in chosen.taxonomies
        ]
        over_rest = [(kind, t) for kind, t in jobs if root is not None and t.route is not None]
        over_xmlrpc = [(kind, t) for kind, t in jobs if (kind, t) not in over_rest]

        def count_over_xmlrpc() -> dict[tuple[str, str], int]:
            # One call after another: the XML-RPC client is not thread-safe.
            return {
                (kind, t.slug): self._count_over_xmlrpc(kind, t.slug) for kind, t in over_xmlrpc
            }

        def count_over_rest(kind: str, item: Listed) -> dict[tuple[str, str], int]:
            assert root is not None
            return {(kind, item.slug): self.rest.count(root, item)}

        calls: list[Callable[[], dict[tuple[str, str], int]]] = [
            functools.partial(count_over_rest, kind, t) for kind, t in over_rest
        ]
        if over_xmlrpc:
            calls.append(count_over_xmlrpc)
        counts: dict[tuple[str, str], int] = {}
        for part in self.in_parallel(calls):
            counts.update(part)
        if over_xmlrpc and root is not None:
            self.log.info(
                "XML-RPC at %s adds what REST does not list: %s",
                self.endpoint,
                ", ".join(
                    f"{printable(t.slug)} ({counts[kind, t.slug]})" for kind, t in over_xmlrpc
                ),
            )
        return counts

    def _count_over_xmlrpc(self, kind: str, slug: str) -> int:
        if kind == POST_TYPE:
            return self.xmlrpc.count_published(slug)
        return self.xmlrpc.count_terms(slug)

    # --- what the log says once ------------------------------------------------

    def _say_how_public_is_judged(self, listing: RestListing, mode: str) -> None:
        if not self.site.wordpress.has_credentials:
            self._once(
                "no-credentials",
                "no WordPress credentials: post types and taxonomies registered without "
                f"REST cannot be seen (XML-RPC needs {self.site.key_path}.wordpress."
                "username and app_password), and which post types are public is judged "
                "by WordPress's list of internal types",
            )
        elif any(t.judged_by == BY_VIEWABLE for t in listing.post_types):
            self._once(
                "viewable",
                f"wordpress.xmlrpc is '{mode}': which post types are public is judged by "
                "REST's `viewable` (a type registered public => false, "
                "publicly_queryable => true is listed), and types registered without "
                "REST cannot be seen",
            )

    def _once(self, what: str, message: str) -> None:
        if (self.site.name, what) not in _told:
            _told.add((self.site.name, what))
            self.log.info("%s", message)


class _as_wordpress_errors:
    """The HTTP stack's errors as WordPressErrors that say what to do."""

    def __init__(self, site: SiteConfig):
        self.site = site

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> None:
        url = self.site.wordpress.url
        where = f"{self.site.key_path}.wordpress"
        if isinstance(exc, TlsError):
            raise WordPressTlsError(
                f"cannot read WordPress at {url}: {exc}. {sentence(tls_advice(exc.kind, where))}"
            ) from None
        if isinstance(exc, DeadlineExceeded):
            raise WordPressTooSlow(
                f"gave up reading WordPress at {url}: {exc}. If the site is slow but working, "
                f"raise {where}.deadline"
            ) from None
        if isinstance(exc, HttpError):
            raise WordPressUnreachable(
                f"cannot read WordPress at {url}: {exc}. Check {where}.url and that the site is up"
            ) from None
