"""One pass over the sites: read WordPress, build the payload, push, record.

`sync`, `connect` and the daemon's scheduler all call `run_pass`. Up to
`parallel_sites` sites are handled side by side; each on its own: an error in
one is recorded and reported, and the others go on. A slow or hanging site
holds one place only, and only until its own `wordpress.deadline`. Results
come back in config order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from agent import workers
from agent.backend import BackendClient, PushReceipt
from agent.config import Config, SiteConfig
from agent.errors import AgentError, BackendError, IntegrationGone, Interrupted, StateError
from agent.http import new_session
from agent.lock import pass_lock
from agent.logs import Log, quiet_site_log, site_log
from agent.payload import Payload, build_payload, unmatched_overrides
from agent.retry import RetryPolicy
from agent.state import Attempt, SiteState, StateStore
from agent.structure import SiteStructure
from agent.text import quoted
from agent.timestamps import now_iso
from agent.wordpress.discovery import KnownPlaces
from agent.wordpress.reader import read_shape, read_structure

T = TypeVar("T")
SLEEP_SLICE_SECONDS = 10.0
module_log = site_log("agent", __name__)


@dataclass
class SiteResult:
    site: str
    ok: bool
    error: str | None = None
    payload: Payload | None = None
    integration_id: int | None = None
    receipt: PushReceipt | None = None
    source: str | None = None
    requests: int = 0  # to WordPress
    seconds: float = 0.0
    pushed: bool | None = None  # whether the push got through; None: it was not tried


class PassObserver:
    """What a pass tells those who watch it (progress, metrics, check-ins).

    Every method does nothing here; an observer overrides what it needs. The
    pass goes on whatever an observer raises (it is logged as a warning).
    """

    def pass_started(self, sites: list[str]) -> None:
        """A pass over `sites` begins."""

    def request_done(self, target: str, outcome: str) -> None:
        """A request to `target` (wordpress, backend) ended: its status, or what failed."""

    def retry_scheduled(self, target: str) -> None:
        """A request to `target` will be tried again after a wait."""

    def site_done(self, result: SiteResult, state: SiteState) -> None:
        """A site's result was recorded; `state` is its new state."""

    def pass_done(self, results: list[SiteResult], seconds: float) -> None:
        """The pass ended (`results` in config order)."""

    def checked(self, site: str, result: str) -> None:
        """A freshness check of `site` ended: unchanged, changed or failed."""


@dataclass
class PassProgress(PassObserver):
    """What the pass is doing, for the daemon's stop and its systemd watchdog."""

    sites: set[str] = field(default_factory=set)  # being synced now
    checking: set[str] = field(default_factory=set)  # being looked at by a freshness check
    last_activity: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_done(self, target: str, outcome: str) -> None:
        self.touch()

    def retry_scheduled(self, target: str) -> None:
        self.touch()

    def touch(self, *_: object) -> None:
        """Something happened: a request ended, a retry wait went on, a site finished."""
        self.last_activity = time.monotonic()

    def quiet_for(self) -> float:
        return time.monotonic() - self.last_activity

    def started(self, site: str, *, check: bool = False) -> None:
        with self._lock:
            (self.checking if check else self.sites).add(site)
        self.touch()

    def finished(self, site: str, *, check: bool = False) -> None:
        with self._lock:
            (self.checking if check else self.sites).discard(site)
        self.touch()

    def in_flight(self) -> list[str]:
        """The sites being synced or checked."""
        with self._lock:
            return sorted(self.sites | self.checking)

    def being_synced(self) -> list[str]:
        """The sites a stop would abandon half-synced (a check leaves nothing half-done)."""
        with self._lock:
            return sorted(self.sites)


@dataclass
class PassOptions:
    dry_run: bool = False
    sleep: Callable[[float], None] | None = None  # tests inject a fake sleep
    site_names: list[str] = field(default_factory=list)  # empty: every site
    stop: threading.Event | None = None  # set when the daemon must stop: no new site, no wait
    progress: PassProgress = field(default_factory=PassProgress)
    observers: list[PassObserver] = field(default_factory=list)  # metrics, check-ins

    def watchers(self) -> _Watchers:
        return _Watchers([self.progress, *self.observers])


class _Watchers:
    """Tells every observer; one that fails is a warning, never the pass's failure."""

    def __init__(self, observers: list[PassObserver]):
        self.observers = observers

    def __getattr__(self, name: str) -> Callable[..., None]:
        def tell(*args: Any) -> None:
            for observer in self.observers:
                try:
                    getattr(observer, name)(*args)
                except Exception as exc:  # noqa: BLE001 - watching never fails the pass
                    module_log.warning(
                        "%s failed (%s: %s); the pass goes on",
                        type(observer).__name__,
                        type(exc).__name__,
                        quoted(str(exc), 200),
                    )

        return tell


def run_pass(config: Config, options: PassOptions | None = None) -> list[SiteResult]:
    """One pass; takes the pass lock unless it is a dry run (which writes nothing)."""
    options = options or PassOptions()
    sites = _selected(config, options)
    if options.dry_run:
        with _request_pool(_at_once(config, sites), sites) as pool:
            dry = _side_by_side(
                sites, config, lambda site: _dry_run_site(site, config, options, pool)
            )
        return [result for result in dry if result is not None]
    store = StateStore(config.state_dir)
    store.ensure_dir()
    watchers = options.watchers()
    with pass_lock(config.state_dir), store:
        store.open()  # here, once: workers must not race to create or import it
        started = time.monotonic()
        watchers.pass_started([site.name for site in sites])
        by_name = _sync_sites(sites, config, options, store)
        found = (by_name.get(site.name) for site in sites)
        results = [result for result in found if result is not None]
        watchers.pass_done(results, time.monotonic() - started)
        return results


def _sync_sites(
    sites: list[SiteConfig], config: Config, options: PassOptions, store: StateStore
) -> dict[str, SiteResult | None]:
    """Each site's result (None: skipped, the agent is stopping): shared with worker
    processes when the pass is big enough to need more than one core."""
    processes = workers.processes_for(len(sites), config.parallel_sites)
    if processes > 1 and options.sleep is None:  # an injected sleep cannot cross processes
        module_log.info(
            "%d sites: the pass runs in %d processes, this one and %d worker(s), one per CPU core",
            len(sites),
            processes,
            processes - 1,
        )
        return workers.sync_in_processes(
            sites,
            config,
            options,
            processes,
            here=lambda at_once: site_work(config, options, store, at_once),
            lost=lambda site, error: _record_lost(site, error, config, store, options.watchers()),
        )
    with site_work(config, options, store, _at_once(config, sites)) as one_site:
        return dict(
            zip((s.name for s in sites), _side_by_side(sites, config, one_site), strict=True)
        )


@contextmanager
def site_work(
    config: Config, options: PassOptions, store: StateStore, at_once: int
) -> Iterator[Callable[[SiteConfig], SiteResult | None]]:
    """Sync one site (None: skipped, the agent is stopping), for `at_once` sites side by
    side: what they share (the backend's client, the pool for their requests) lives as
    long as this context. The worker processes use it too."""
    watchers = options.watchers()
    with (
        _request_pool(at_once, config.sites) as pool,
        new_session(at_once) as backend_session,
    ):
        assert config.backend is not None  # load_config(require_backend=True) ensures it
        backend = BackendClient(
            config.backend,
            backend_session,
            _policy(config, options, "backend"),
            config.redact,
            on_request=lambda outcome: watchers.request_done("backend", outcome),
        )
        context = _Pass(config, options, backend, store, pool, watchers)

        def one_site(site: SiteConfig) -> SiteResult | None:
            if options.stop is not None and options.stop.is_set():
                return None  # stopping: no new site
            options.progress.started(site.name)
            try:
                return _sync_site(site, context)
            finally:
                options.progress.finished(site.name)

        yield one_site


def _record_lost(
    site: SiteConfig, error: str, config: Config, store: StateStore, watchers: _Watchers
) -> SiteResult:
    """Record a site that failed outside its own work (its worker process ended, or
    the agent's own code failed around it)."""
    error = config.redact(error)
    site_log(site.name).error("%s", error)
    result = SiteResult(site.name, ok=False, error=error)
    state = store.get(site.name)
    state.last_attempt = now_iso()
    state.last_error = error
    _record(store, site, state, _attempt(state, result), site_log(site.name))
    watchers.site_done(result, state)
    return result


def check_structures(config: Config, options: PassOptions | None = None) -> list[str]:
    """The sites whose post types or taxonomies (slugs, labels, which are public) differ
    from their last push — found by reading only the lists, counting nothing and
    asking the backend nothing. Sites never pushed, or failing, are left to the
    passes that retry them. Quiet: what it reads is logged at debug level."""
    options = options or PassOptions()
    sites = _selected(config, options)
    watchers = options.watchers()
    with (
        _request_pool(_at_once(config, sites), sites) as pool,
        pass_lock(config.state_dir),
        StateStore(config.state_dir) as store,
    ):
        states = store.load()

        def one_site(site: SiteConfig) -> str | None:
            state = states.get(site.name)
            if state is None or state.structure_hash is None or state.last_error:
                return None
            if options.stop is not None and options.stop.is_set():
                return None
            return _check_site(site, state, config, options, pool, watchers)

        changed = _side_by_side(sites, config, one_site)
    return [name for name in changed if name is not None]


def _check_site(
    site: SiteConfig,
    state: SiteState,
    config: Config,
    options: PassOptions,
    pool: ThreadPoolExecutor,
    watchers: _Watchers,
) -> str | None:
    log = site_log(site.name)
    options.progress.started(site.name, check=True)
    try:
        shape = read_shape(
            site,
            _policy(config, options, "wordpress", watchers),
            quiet_site_log(site.name),
            on_request=lambda outcome: watchers.request_done("wordpress", outcome),
            pool=pool,
            known=KnownPlaces(state.api_root, state.xmlrpc_endpoint),
        )
    except AgentError as exc:
        log.info("could not check whether its structure changed: %s", exc)
        watchers.checked(site.name, "failed")
        return None
    finally:
        options.progress.finished(site.name, check=True)
    if shape.hash() == state.structure_hash:
        watchers.checked(site.name, "unchanged")
        return None
    log.info("its post types or taxonomies changed since the last push: pushing now")
    watchers.checked(site.name, "changed")
    return site.name


def _selected(config: Config, options: PassOptions) -> list[SiteConfig]:
    return [s for s in config.sites if not options.site_names or s.name in options.site_names]


@dataclass(frozen=True)
class _Pass:
    """What every site of one pass shares."""

    config: Config
    options: PassOptions
    backend: BackendClient
    store: StateStore
    pool: ThreadPoolExecutor  # for the sites' concurrent requests
    watchers: _Watchers


def _at_once(config: Config, sites: list[SiteConfig]) -> int:
    return min(config.parallel_sites, max(len(sites), 1))


def _request_pool(at_once: int, sites: Sequence[SiteConfig]) -> ThreadPoolExecutor:
    """One pool for the concurrent requests of the `at_once` sites handled at once (its
    threads start as needed, and serve site after site)."""
    per_site = max((s.wordpress.max_connections for s in sites), default=1) + 1
    return ThreadPoolExecutor(at_once * per_site, thread_name_prefix="request")


def _side_by_side(
    sites: list[SiteConfig], config: Config, work: Callable[[SiteConfig], T | None]
) -> list[T | None]:
    """`work` for each site, up to `parallel_sites` at once; results in config order."""
    if len(sites) <= 1 or config.parallel_sites == 1:
        return [work(site) for site in sites]
    workers = min(config.parallel_sites, len(sites))
    with ThreadPoolExecutor(workers, thread_name_prefix="site") as pool:
        return list(pool.map(work, sites))


def record_abandoned(config: Config, site_names: list[str]) -> None:
    """Record that a stopping daemon left these sites in the middle of their work."""
    with StateStore(config.state_dir) as store:
        for name in site_names:
            state = store.get(name)
            state.last_attempt = now_iso()
            state.last_error = "abandoned: the agent stopped while this site was being synced"
            store.update(name, state, Attempt(state.last_attempt, ok=False, error=state.last_error))


def _dry_run_site(
    site: SiteConfig, config: Config, options: PassOptions, pool: ThreadPoolExecutor
) -> SiteResult:
    log = site_log(site.name)
    try:
        structure, payload = _read_and_build(site, config, options, pool, log)
    except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
        return _failure(site, exc, config, log)
    return SiteResult(
        site.name, ok=True, payload=payload, source=structure.source, requests=structure.requests
    )


def _sync_site(site: SiteConfig, context: _Pass) -> SiteResult:
    config, store = context.config, context.store
    log = site_log(site.name)
    started = time.monotonic()
    try:
        state = store.get(site.name)
    except StateError as exc:
        return _failure(site, exc, config, log)
    state.last_attempt = now_iso()
    structure: SiteStructure | None = None
    try:
        known = KnownPlaces(state.api_root, state.xmlrpc_endpoint)
        structure, payload = _read_and_build(
            site, config, context.options, context.pool, log, known, context.watchers
        )
        integration_id, receipt = _push(site, payload, context.backend, state, log)
    except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
        result = _failure(site, exc, config, log)
        result.requests = structure.requests if structure else 0
        result.seconds = time.monotonic() - started
        result.pushed = False if isinstance(exc, BackendError) else None
        state.last_error = result.error
        _record(store, site, state, _attempt(state, result), log)
        context.watchers.site_done(result, state)
        return result
    result = SiteResult(
        site.name,
        ok=True,
        payload=payload,
        integration_id=integration_id,
        receipt=receipt,
        source=structure.source,
        requests=structure.requests,
        seconds=time.monotonic() - started,
        pushed=True,
    )
    state.last_success = state.last_attempt
    state.last_error = None
    state.post_types_count = len(payload["post_types"])
    state.taxonomies_count = len(payload["taxonomies"])
    state.structure_hash = structure.shape.hash()
    state.api_root, state.xmlrpc_endpoint = structure.api_root, structure.xmlrpc_endpoint
    try:
        store.update(site.name, state, _attempt(state, result))
    except StateError as exc:
        return _failure(site, StateError(f"pushed, but could not record it: {exc}"), config, log)
    context.watchers.site_done(result, state)
    log.info(
        "pushed %d post types and %d taxonomies to integration %d",
        state.post_types_count,
        state.taxonomies_count,
        integration_id,
    )
    return result


def _attempt(state: SiteState, result: SiteResult) -> Attempt:
    return Attempt(
        at=state.last_attempt or now_iso(),
        ok=result.ok,
        error=result.error,
        duration_seconds=round(result.seconds, 3),
        requests=result.requests,
        post_types_count=state.post_types_count if result.ok else None,
        taxonomies_count=state.taxonomies_count if result.ok else None,
        structure_hash=state.structure_hash if result.ok else None,
    )


def _record(
    store: StateStore, site: SiteConfig, state: SiteState, attempt: Attempt, log: Log
) -> None:
    """Record a failure; a state that cannot be written is said, not raised (the site
    has failed already, and the other sites go on)."""
    try:
        store.update(site.name, state, attempt)
    except StateError as exc:
        log.error("%s", exc)


def _read_and_build(
    site: SiteConfig,
    config: Config,
    options: PassOptions,
    pool: ThreadPoolExecutor,
    log: Log,
    known: KnownPlaces | None = None,
    watchers: _Watchers | None = None,
) -> tuple[SiteStructure, Payload]:
    watchers = watchers or options.watchers()
    structure = read_structure(
        site,
        _policy(config, options, "wordpress", watchers),
        log,
        on_request=lambda outcome: watchers.request_done("wordpress", outcome),
        pool=pool,
        known=known,
    )
    for key_path in unmatched_overrides(structure, site):
        log.info(
            "%s: the payload has no such slug (not on the site, not public, or "
            "excluded); this override adds nothing",
            key_path,
        )
    return structure, build_payload(structure, site)


def _push(
    site: SiteConfig,
    payload: Payload,
    backend: BackendClient,
    state: SiteState,
    log: Log,
) -> tuple[int, PushReceipt]:
    """Push to the integration in use; after a 404, look it up once and push once more."""
    integration_id = settle_integration_id(site, state)
    if integration_id is None:
        integration_id = backend.find_integration_id(site, log)
        _remember(state, integration_id, replaces=None)
    try:
        return integration_id, backend.push_structure(site, integration_id, payload, log)
    except IntegrationGone:
        stale = integration_id
        integration_id = backend.find_integration_id(site, log)
        if site.integration_id == stale:
            log.warning(
                "the configured integration_id %d is stale (404); using %d, found by "
                "lookup, from now on — update %s.integration_id",
                stale,
                integration_id,
                site.key_path,
            )
            _remember(state, integration_id, replaces=stale)
        else:
            log.warning(
                "integration %d is gone (404); using %d, found by lookup", stale, integration_id
            )
            _remember(state, integration_id, replaces=state.integration_id_replaces)
        return integration_id, backend.push_structure(site, integration_id, payload, log)


def settle_integration_id(site: SiteConfig, state: SiteState) -> int | None:
    """The integration to push to: the configured id, unless a lookup after a 404 replaced
    it; else the remembered one. Records in `state` that a newly configured id is in use
    (which ends an earlier replacement)."""
    if site.integration_id is None:
        return state.integration_id
    if state.integration_id is not None and state.integration_id_replaces == site.integration_id:
        return state.integration_id
    state.integration_id = site.integration_id
    state.integration_id_replaces = None
    return site.integration_id


def _remember(state: SiteState, integration_id: int, *, replaces: int | None) -> None:
    state.integration_id = integration_id
    state.integration_id_replaces = replaces


def _failure(site: SiteConfig, exc: Exception, config: Config, log: Log) -> SiteResult:
    if not isinstance(exc, AgentError | requests.RequestException):
        log.debug("unexpected error", exc_info=True)
    message = failure_message(exc, config)
    log.error("%s", message)
    return SiteResult(site.name, ok=False, error=message)


def failure_message(exc: Exception, config: Config) -> str:
    """What a site's result says of an error, its secrets masked."""
    if isinstance(exc, AgentError):
        message = str(exc)
    elif isinstance(exc, requests.RequestException):
        message = f"network error: {quoted(str(exc))}"
    else:
        message = (
            f"internal error ({type(exc).__name__}: {quoted(str(exc), 300)}); please report this"
        )
    return config.redact(message)


def _policy(
    config: Config, options: PassOptions, target: str, watchers: _Watchers | None = None
) -> RetryPolicy:
    """The retry policy of backend.*, with the pass's sleep (fake in tests, stoppable in
    the daemon), telling the watchers of each retry of a request to `target`."""
    watchers = watchers or options.watchers()
    defaults = RetryPolicy()
    backend = config.backend
    if options.stop is not None:
        sleep = _interruptible(options.stop, options.progress)
    else:
        sleep = options.sleep or defaults.sleep
    return RetryPolicy(
        max_attempts=backend.max_attempts if backend else defaults.max_attempts,
        max_seconds=backend.max_retry_seconds if backend else defaults.max_seconds,
        sleep=sleep,
        on_retry=lambda: watchers.retry_scheduled(target),
    )


def _interruptible(stop: threading.Event, progress: PassProgress) -> Callable[[float], None]:
    """A sleep for retry waits that ends at once, with Interrupted, when `stop` is set.

    It waits in slices and counts each as activity: a long Retry-After is a pass
    going as planned, not a hung one.
    """

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if stop.wait(min(left, SLEEP_SLICE_SECONDS)):
                raise Interrupted("the agent is stopping: abandoned this site's retries")
            progress.touch()

    return sleep
