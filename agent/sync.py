"""One pass over the sites: read WordPress, build the payload, push, record.

`sync`, `connect` and the daemon's scheduler all call `run_pass`. Up to
`parallel_sites` sites are handled side by side; each on its own: an error in
one is recorded and reported, and the others go on. A slow or hanging site
holds one place only, and only until its own `wordpress.deadline`. Results
come back in config order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from agent.backend import BackendClient, PushReceipt
from agent.config import Config, SiteConfig
from agent.errors import AgentError, IntegrationGone, Interrupted, StateError
from agent.http import new_session
from agent.lock import pass_lock
from agent.logs import site_log
from agent.payload import build_payload, unmatched_overrides
from agent.retry import RetryPolicy
from agent.state import Attempt, SiteState, StateStore, structure_hash, utc_now_iso
from agent.structure import SiteStructure
from agent.text import quoted
from agent.wordpress.discovery import KnownPlaces
from agent.wordpress.reader import read_structure

Log = logging.LoggerAdapter[logging.Logger]
SLEEP_SLICE_SECONDS = 10.0


@dataclass
class SiteResult:
    site: str
    ok: bool
    error: str | None = None
    payload: dict[str, Any] | None = None
    integration_id: int | None = None
    receipt: PushReceipt | None = None
    source: str | None = None
    requests: int = 0  # to WordPress
    seconds: float = 0.0


@dataclass
class PassProgress:
    """What the pass is doing, for the daemon's stop and its systemd watchdog."""

    sites: set[str] = field(default_factory=set)  # being handled now
    last_activity: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def touch(self, *_: object) -> None:
        """Something happened: a request ended, a retry wait went on, a site finished."""
        self.last_activity = time.monotonic()

    def quiet_for(self) -> float:
        return time.monotonic() - self.last_activity

    def started(self, site: str) -> None:
        with self._lock:
            self.sites.add(site)
        self.touch()

    def finished(self, site: str) -> None:
        with self._lock:
            self.sites.discard(site)
        self.touch()

    def in_flight(self) -> list[str]:
        with self._lock:
            return sorted(self.sites)


@dataclass
class PassOptions:
    dry_run: bool = False
    sleep: Callable[[float], None] | None = None  # tests inject a fake sleep
    site_names: list[str] = field(default_factory=list)  # empty: every site
    stop: threading.Event | None = None  # set when the daemon must stop: no new site, no wait
    progress: PassProgress = field(default_factory=PassProgress)


def run_pass(config: Config, options: PassOptions | None = None) -> list[SiteResult]:
    """One pass; takes the pass lock unless it is a dry run (which writes nothing)."""
    options = options or PassOptions()
    sites = [s for s in config.sites if not options.site_names or s.name in options.site_names]
    with _request_pool(config, sites) as pool:
        if options.dry_run:
            return _side_by_side(sites, config,
                                 lambda site: _dry_run_site(site, config, options, pool))
        store = StateStore(config.state_dir)
        store.ensure_dir()
        with pass_lock(config.state_dir), store, \
                new_session(config.parallel_sites) as backend_session:
            assert config.backend is not None  # load_config(require_backend=True) ensures it
            backend = BackendClient(config.backend, backend_session, _policy(config, options),
                                    config.redact, on_request=options.progress.touch)
            context = _Pass(config, options, backend, store, pool)

            def one_site(site: SiteConfig) -> SiteResult | None:
                if options.stop is not None and options.stop.is_set():
                    return None  # stopping: no new site
                options.progress.started(site.name)
                try:
                    return _sync_site(site, context)
                finally:
                    options.progress.finished(site.name)

            return _side_by_side(sites, config, one_site)


@dataclass(frozen=True)
class _Pass:
    """What every site of one pass shares."""

    config: Config
    options: PassOptions
    backend: BackendClient
    store: StateStore
    pool: ThreadPoolExecutor  # for the sites' concurrent requests


def _request_pool(config: Config, sites: list[SiteConfig]) -> ThreadPoolExecutor:
    """One pool for the concurrent requests of every site the pass handles at once
    (its threads start as needed, and serve site after site)."""
    per_site = max((s.wordpress.max_connections for s in sites), default=1) + 1
    at_once = min(config.parallel_sites, max(len(sites), 1))
    return ThreadPoolExecutor(at_once * per_site, thread_name_prefix="request")


def _side_by_side(sites: list[SiteConfig], config: Config,
                  work: Callable[[SiteConfig], SiteResult | None]) -> list[SiteResult]:
    """`work` for each site, up to `parallel_sites` at once; results in config order."""
    if len(sites) <= 1 or config.parallel_sites == 1:
        results = [work(site) for site in sites]
    else:
        workers = min(config.parallel_sites, len(sites))
        with ThreadPoolExecutor(workers, thread_name_prefix="site") as pool:
            results = list(pool.map(work, sites))
    return [result for result in results if result is not None]


def record_abandoned(config: Config, site_names: list[str]) -> None:
    """Record that a stopping daemon left these sites in the middle of their work."""
    with StateStore(config.state_dir) as store:
        for name in site_names:
            state = store.get(name)
            state.last_attempt = utc_now_iso()
            state.last_error = "abandoned: the agent stopped while this site was being synced"
            store.update(name, state, Attempt(state.last_attempt, ok=False,
                                              error=state.last_error))


def _dry_run_site(site: SiteConfig, config: Config, options: PassOptions,
                  pool: ThreadPoolExecutor) -> SiteResult:
    log = site_log(site.name)
    try:
        structure, payload = _read_and_build(site, config, options, pool, log)
    except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
        return _failure(site, exc, config, log)
    return SiteResult(site.name, ok=True, payload=payload, source=structure.source,
                      requests=structure.requests)


def _sync_site(site: SiteConfig, context: _Pass) -> SiteResult:
    config, store = context.config, context.store
    log = site_log(site.name)
    started = time.monotonic()
    try:
        state = store.get(site.name)
    except StateError as exc:
        return _failure(site, exc, config, log)
    state.last_attempt = utc_now_iso()
    structure: SiteStructure | None = None
    try:
        known = KnownPlaces(state.api_root, state.xmlrpc_endpoint)
        structure, payload = _read_and_build(site, config, context.options, context.pool, log,
                                             known)
        integration_id, receipt = _push(site, payload, context.backend, state, log)
    except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
        result = _failure(site, exc, config, log)
        result.requests = structure.requests if structure else 0
        result.seconds = time.monotonic() - started
        state.last_error = result.error
        _record(store, site, state, _attempt(state, result), log)
        return result
    result = SiteResult(site.name, ok=True, payload=payload, integration_id=integration_id,
                        receipt=receipt, source=structure.source,
                        requests=structure.requests, seconds=time.monotonic() - started)
    state.last_success = state.last_attempt
    state.last_error = None
    state.post_types_count = len(payload["post_types"])
    state.taxonomies_count = len(payload["taxonomies"])
    state.structure_hash = structure_hash(payload)
    state.api_root, state.xmlrpc_endpoint = structure.api_root, structure.xmlrpc_endpoint
    try:
        store.update(site.name, state, _attempt(state, result))
    except StateError as exc:
        return _failure(site, StateError(f"pushed, but could not record it: {exc}"), config,
                        log)
    log.info("pushed %d post types and %d taxonomies to integration %d",
             state.post_types_count, state.taxonomies_count, integration_id)
    return result


def _attempt(state: SiteState, result: SiteResult) -> Attempt:
    return Attempt(
        at=state.last_attempt or utc_now_iso(), ok=result.ok, error=result.error,
        duration_seconds=round(result.seconds, 3), requests=result.requests,
        post_types_count=state.post_types_count if result.ok else None,
        taxonomies_count=state.taxonomies_count if result.ok else None,
        structure_hash=state.structure_hash if result.ok else None,
    )


def _record(store: StateStore, site: SiteConfig, state: SiteState, attempt: Attempt,
            log: Log) -> None:
    """Record a failure; a state that cannot be written is said, not raised (the site
    has failed already, and the other sites go on)."""
    try:
        store.update(site.name, state, attempt)
    except StateError as exc:
        log.error("%s", exc)


def _read_and_build(
    site: SiteConfig, config: Config, options: PassOptions, pool: ThreadPoolExecutor, log: Log,
    known: KnownPlaces | None = None,
) -> tuple[SiteStructure, dict[str, Any]]:
    structure = read_structure(site, _policy(config, options), log,
                               on_request=options.progress.touch, pool=pool, known=known)
    for key_path in unmatched_overrides(structure, site):
        log.info("%s: the payload has no such slug (not on the site, not public, or "
                 "excluded); this override adds nothing", key_path)
    return structure, build_payload(structure, site)


def _push(
    site: SiteConfig, payload: dict[str, Any], backend: BackendClient, state: SiteState,
    log: Log,
) -> tuple[int, PushReceipt]:
    """Push to the integration in use; after a 404, look it up once and push once more."""
    integration_id = integration_id_to_use(site, state)
    if integration_id is None:
        integration_id = backend.find_integration_id(site, log)
        _remember(state, integration_id, replaces=None)
    try:
        return integration_id, backend.push_structure(site, integration_id, payload, log)
    except IntegrationGone:
        stale = integration_id
        integration_id = backend.find_integration_id(site, log)
        if site.integration_id == stale:
            log.warning("the configured integration_id %d is stale (404); using %d, found by "
                        "lookup, from now on — update %s.integration_id", stale, integration_id,
                        site.key_path)
            _remember(state, integration_id, replaces=stale)
        else:
            log.warning("integration %d is gone (404); using %d, found by lookup", stale,
                        integration_id)
            _remember(state, integration_id, replaces=state.integration_id_replaces)
        return integration_id, backend.push_structure(site, integration_id, payload, log)


def integration_id_to_use(site: SiteConfig, state: SiteState) -> int | None:
    """The configured id, unless a lookup after a 404 replaced it; else the remembered one."""
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
    if isinstance(exc, AgentError):
        message = str(exc)
    elif isinstance(exc, requests.RequestException):
        message = f"network error: {quoted(str(exc))}"
    else:
        log.debug("unexpected error", exc_info=True)
        message = (f"internal error ({type(exc).__name__}: {quoted(str(exc), 300)}); please "
                   "report this")
    message = config.redact(message)
    log.error("%s", message)
    return SiteResult(site.name, ok=False, error=message)


def _policy(config: Config, options: PassOptions) -> RetryPolicy:
    """The retry policy of backend.*, with the pass's sleep (fake in tests, stoppable in
    the daemon)."""
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
