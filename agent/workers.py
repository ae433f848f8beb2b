"""A big pass shared with worker processes: more than one CPU core for the agent.

A pass mostly waits, but every request also costs the agent CPU time (about 2 ms in
requests, urllib3 and http.client on a small machine, ~30 ms a site); past a few
hundred sites one core is the limit, and Python's threads share one. So a pass
over many sites (`processes_for`) is shared by this process and worker processes,
one process per usable core. Each runs sync's own site work (`sync.site_work`), its
share of `parallel_sites` at once, and writes its sites' state itself (SQLite takes
writers one at a time). A worker sends back over its stdout what the pass must
see: log records, what the observers are told (metrics, progress, the watchdog's
activity) and each site's result. This process keeps the pass lock, writes every
log line, tells the observers, and decides: sites go out one at a time as places
free up, here or to a worker (a slow site holds back no other), and a stop is
passed on.

A worker that dies takes only the sites it was on with it: they are recorded as
failed (`lost`); the sites not handed out yet go to the others, this process at
least.

The messages are pickles on the pipes of our own child: nothing from outside is
ever unpickled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from agent.state import BUSY_TIMEOUT_MS

if TYPE_CHECKING:  # sync imports this module
    from agent.config import Config, SiteConfig
    from agent.sync import PassOptions, SiteResult

log = logging.getLogger(__name__)

MIN_SITES_PER_PROCESS = 100  # a worker costs ~0.3 s of CPU to start; 100 sites ~3 s
MIN_SITES_AT_ONCE = 4  # each process's share of parallel_sites, at least
POLL_SECONDS = 0.25  # how often the pass looks for a stop, or a site overdue
EXIT_WAIT_SECONDS = 30.0
PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
# The agent imported is the one running this pass: its directory first on the path,
# and not the current directory (-P).
WORKER_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); from agent.workers import serve; serve()"
)

Lost = Callable[["SiteConfig", str], "SiteResult"]
SiteWork = Callable[["SiteConfig"], "SiteResult | None"]
# sync.site_work for this process's share: `at_once` sites side by side
WorkHere = Callable[[int], contextlib.AbstractContextManager[SiteWork]]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what taskset or CPUAffinity= leave us
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def processes_for(sites: int, parallel_sites: int, cpus: int | None = None) -> int:
    """How many processes share a pass over `sites` sites, this one included; 1: no
    worker process."""
    cpus = usable_cpus() if cpus is None else cpus
    return max(1, min(cpus, parallel_sites // MIN_SITES_AT_ONCE, sites // MIN_SITES_PER_PROCESS))


def site_time_limit(site: SiteConfig, config: Config) -> float:
    """The longest a site's sync may take, with a minute to spare: its read (by its
    deadline), then up to two lookups and two pushes to the backend (each within the
    retry budget and one more timeout), and the state database's busy wait."""
    backend = config.backend
    per_call = backend.max_retry_seconds + backend.timeout if backend else 0.0
    return site.wordpress.deadline + 4 * per_call + BUSY_TIMEOUT_MS / 1000 + 60


def shares(parallel_sites: int, processes: int) -> list[int]:
    """Each process's number of sites at once (this one's first): `parallel_sites`
    split evenly."""
    base, extra = divmod(parallel_sites, processes)
    return [base + (1 if n < extra else 0) for n in range(processes)]


# --- the pass's side ----------------------------------------------------------------


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen[bytes]
    at_once: int
    sites: dict[str, float] = field(default_factory=dict)  # handed out (when), no result yet
    ready: bool = False  # it has started and awaits sites
    gone: bool = False
    overdue: str | None = None  # why it was killed, when it held a site too long
    reader: threading.Thread | None = None

    def tell(self, *message: Any) -> None:
        """Send a message; a worker that has died is found by its reader, not here."""
        assert self.process.stdin is not None
        try:
            pickle.dump(message, self.process.stdin)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()


def sync_in_processes(
    sites: list[SiteConfig],
    config: Config,
    options: PassOptions,
    processes: int,
    here: WorkHere,
    lost: Lost,
) -> dict[str, SiteResult | None]:
    """Sync `sites` in this process (`here`) and `processes` - 1 worker processes.
    Each site's result; None: skipped, the agent is stopping."""
    return _SharedPass(sites, config, options, lost).run(processes, here)


Inbox = queue.Queue[tuple["_Worker | None", tuple[Any, ...]]]


class _SharedPass:
    """The pass's side: hands out sites, here and to the workers, and acts on what the
    workers send."""

    def __init__(self, sites: list[SiteConfig], config: Config, options: PassOptions, lost: Lost):
        self.config = config
        self.options = options
        self.lost = lost
        self.watchers = options.watchers()
        self.by_name = {site.name: site for site in sites}
        self.pending = deque(site.name for site in sites)
        self.results: dict[str, SiteResult | None] = {}
        self.workers: list[_Worker] = []
        self.inbox: Inbox = queue.Queue()
        self.told = _reader_told()
        self.stopped = False
        self.here = 0  # sites being synced in this process
        self.lock = threading.Lock()  # for the above, shared with this process's sites

    def run(self, processes: int, here: WorkHere) -> dict[str, SiteResult | None]:
        at_once_here, *at_once_there = shares(self.config.parallel_sites, processes)
        for number, at_once in enumerate(at_once_there, start=1):
            worker = _start(number, at_once, self.config, self.told, self.inbox)
            if worker is not None:
                self.workers.append(worker)
        with here(at_once_here) as work:
            threads = [
                threading.Thread(target=self._sync_here, args=(work,), name=f"site-{n}")
                for n in range(at_once_here)
            ]
            for thread in threads:
                thread.start()
            try:
                while self._waiting():
                    self._pass_on_a_stop()
                    self._stop_overdue_workers()
                    try:
                        worker, message = self.inbox.get(timeout=POLL_SECONDS)
                    except queue.Empty:
                        continue
                    if worker is not None:
                        self._act_on(worker, message)
            finally:
                self._stop_here()
                for worker in self.workers:
                    worker.close()
                for worker in self.workers:
                    _reap(worker)
                for thread in threads:
                    thread.join()
                self._drain()
        return self.results

    def _sync_here(self, work: SiteWork) -> None:
        """A place for a site in this process: sites one after another, until none is
        left to hand out."""
        from agent.sync import failure_message  # sync imports this module

        while (name := self._next_site()) is not None:
            try:
                result = work(self.by_name[name])
            except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
                result = self.lost(self.by_name[name], failure_message(exc, self.config))
            with self.lock:
                self.results[name] = result
                self.here -= 1
            self.inbox.put((None, ("done here",)))  # wakes the pass's loop

    def _next_site(self, worker: _Worker | None = None) -> str | None:
        with self.lock:
            if not self.pending or self.stopped:
                return None
            name = self.pending.popleft()
            if worker is None:
                self.here += 1
            else:
                worker.sites[name] = time.monotonic()
            return name

    def _stop_here(self) -> None:
        """Hand out no more sites: the loop has ended (when it failed, the sites not
        handed out yet are left)."""
        with self.lock:
            self.stopped = True

    def _waiting(self) -> bool:
        """Whether a result is still to come: a site being synced, or one to hand out
        (this process takes any, whatever becomes of the workers)."""
        with self.lock:
            if self.here or (self.pending and not self.stopped):
                return True
        return any(worker.sites for worker in self.workers)

    def _pass_on_a_stop(self) -> None:
        if not self.stopped and self.options.stop is not None and self.options.stop.is_set():
            with self.lock:
                self.stopped = True
            for worker in self.workers:
                worker.tell("stop")

    def _act_on(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind, *rest = message
        if kind == "log":
            _log(rest[0])
        elif kind == "call":  # an observer's method, with its arguments
            getattr(self.watchers, rest[0])(*rest[1])
        elif kind == "progress":
            getattr(self.options.progress, rest[0])(*rest[1])
        elif kind == "told":
            self.told.update(rest[0])
        elif kind == "ready":
            worker.ready = True
            self._hand_out(worker)
        elif kind == "result":
            self._finished(worker, rest[0], rest[1])
        elif kind == "failed":  # the worker's own code failed on the site
            self._finished(worker, rest[0], self.lost(self.by_name[rest[0]], rest[1]))
        elif kind == "gone":
            self._bury(worker)

    def _finished(self, worker: _Worker, name: str, result: SiteResult | None) -> None:
        with self.lock:
            self.results[name] = result
        worker.sites.pop(name, None)
        self._hand_out(worker)

    def _hand_out(self, worker: _Worker) -> None:
        while worker.ready and not worker.gone and len(worker.sites) < worker.at_once:
            name = self._next_site(worker)
            if name is None:
                return
            worker.tell("site", name)

    def _stop_overdue_workers(self) -> None:
        """Kill a worker that holds a site past the longest a site's sync may take:
        something in it is stuck, and the pass would wait for it for ever."""
        now = time.monotonic()
        for worker in self.workers:
            for name, since in worker.sites.items():
                limit = site_time_limit(self.by_name[name], self.config)
                if not worker.gone and worker.overdue is None and now - since > limit:
                    worker.overdue = f"stopped: it held {name} past {limit:.0f} s"
                    log.warning("a worker process %s, the most a site may take", worker.overdue)
                    worker.process.kill()  # its reader sees the end: _bury does the rest
                    break

    def _bury(self, worker: _Worker) -> None:
        """A worker's output ended: the sites it held failed with it; the sites still
        to hand out go to the others."""
        worker.gone = True
        status = _exit_status(worker)
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        how = worker.overdue or how
        if not worker.ready:
            log.warning("a worker process could not start (%s); see the lines above", how)
        for name in sorted(worker.sites):
            error = (
                f"the worker process syncing it ended unexpectedly ({how}); the next pass "
                "tries again"
            )
            result = self.lost(self.by_name[name], error)
            with self.lock:
                self.results[name] = result
            self.options.progress.finished(name)
        worker.sites.clear()

    def _drain(self) -> None:
        """What the workers said after the last result: log lines, what they told once."""
        while True:
            try:
                _, message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message[0] == "log":
                _log(message[1])
            elif message[0] == "told":
                self.told.update(message[1])


def _log(record: logging.LogRecord) -> None:
    """A worker's log line, written here as if logged here (its secrets already masked)."""
    logging.getLogger(record.name).handle(record)


def _exit_status(worker: _Worker) -> int:
    try:
        return worker.process.wait(EXIT_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        return worker.process.wait()


def _start(
    number: int,
    at_once: int,
    config: Config,
    told: set[tuple[str, str]],
    inbox: Inbox,
) -> _Worker | None:
    if not sys.executable:
        return None
    try:
        process = subprocess.Popen(
            [sys.executable, *_interpreter_flags(), "-P", "-c", WORKER_CODE, PACKAGE_DIR],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
    except OSError as exc:
        log.warning("cannot start a worker process (%s): the pass goes on without it", exc)
        return None
    worker = _Worker(number, process, at_once)
    level = logging.getLogger().getEffectiveLevel()
    worker.tell("start", config, level, at_once, told)
    worker.reader = threading.Thread(
        target=_read_from, args=(worker, inbox), name=f"worker-{number}", daemon=True
    )
    worker.reader.start()
    return worker


def _interpreter_flags() -> list[str]:
    """The flags this interpreter runs with that decide what a worker imports."""
    if sys.flags.isolated:
        return ["-I"]
    return (["-E"] if sys.flags.ignore_environment else []) + (
        ["-s"] if sys.flags.no_user_site else []
    )


def _read_from(worker: _Worker, inbox: Inbox) -> None:
    stream = worker.process.stdout
    assert stream is not None
    try:
        while True:
            inbox.put((worker, pickle.load(stream)))
    except (EOFError, OSError, pickle.UnpicklingError, ValueError):
        pass
    finally:
        inbox.put((worker, ("gone",)))


def _reap(worker: _Worker) -> None:
    """Wait for the worker to exit, and for its last words (the reader ends with them)."""
    _exit_status(worker)
    if worker.reader is not None:
        worker.reader.join(EXIT_WAIT_SECONDS)
    if worker.process.stdout is not None:
        worker.process.stdout.close()


def _reader_told() -> set[tuple[str, str]]:
    from agent.wordpress.reader import said_once

    return said_once()


# --- the worker's side ----------------------------------------------------------------


class _Channel:
    """The pipe to the pass's process, shared by the worker's threads."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, *message: Any) -> None:
        data = pickle.dumps(message)
        with self.lock:
            try:
                self.stream.write(data)
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                os._exit(1)  # the pass's process is gone: nothing is waiting for our work


def serve() -> None:
    """A worker process: sync the sites the pass hands out, until it closes our stdin."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)  # the pass's process decides when to stop
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)  # a stray print must never land in the pipe
    commands = _commands(sys.stdin.buffer)
    try:
        _, config, level, at_once, told = next(commands)
    except StopIteration:
        return
    _work(config, level, at_once, told, commands, channel)


def _commands(stream: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            yield pickle.load(stream)
        except (EOFError, OSError, pickle.UnpicklingError):
            return


def _work(
    config: Config,
    level: int,
    at_once: int,
    told: set[tuple[str, str]],
    commands: Iterator[tuple[Any, ...]],
    channel: _Channel,
) -> None:
    from agent.logs import mask_secrets, relay_logging
    from agent.state import StateStore
    from agent.sync import PassOptions, failure_message, site_work

    relay_logging(lambda record: channel.send("log", record), level)
    mask_secrets(config.secrets())
    _log_uncaught_errors()
    _reader_told().update(told)
    stop = threading.Event()
    options = PassOptions(stop=stop, progress=_relayed_progress(channel))
    options.observers.append(_relayed_observer(channel))
    sites = {site.name: site for site in config.sites}
    todo: queue.Queue[str | None] = queue.Queue()
    busy = threading.Semaphore(0)  # released per site handed to us, acquired per result
    with StateStore(config.state_dir) as store, site_work(config, options, store, at_once) as one:

        def sync_sites() -> None:
            while (name := todo.get()) is not None:
                outcome: tuple[Any, ...]
                try:
                    outcome = ("result", name, one(sites[name]))
                except Exception as exc:  # noqa: BLE001 - said to the pass, which records it
                    outcome = ("failed", name, failure_message(exc, config))
                busy.acquire(blocking=False)  # before the result: then the pass may end us
                try:
                    channel.send(*outcome)
                except Exception as exc:  # noqa: BLE001 - a result that cannot be sent
                    channel.send("failed", name, failure_message(exc, config))

        threads = [threading.Thread(target=sync_sites, name=f"site-{n}") for n in range(at_once)]
        for thread in threads:
            thread.start()
        channel.send("ready")
        for command in commands:
            if command[0] == "site":
                busy.release()
                todo.put(command[1])
            elif command[0] == "stop":
                stop.set()
        # Our stdin closed. With a site still ours, the pass's process is gone or gave
        # up: so do we, at once (a state transaction cut short rolls back).
        if busy.acquire(blocking=False):
            os._exit(1)
        for _ in threads:
            todo.put(None)
        for thread in threads:
            thread.join()
    channel.send("told", set(_reader_told()))


def _log_uncaught_errors() -> None:
    """An error nothing caught is logged (so its secrets are masked and the pass's
    process writes it), not printed raw on our stderr."""

    def in_thread(args: threading.ExceptHookArgs) -> None:
        error = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        log.error("a worker process's thread failed", exc_info=error)

    def in_main(kind: type[BaseException], value: BaseException, trace: Any) -> None:
        log.error("a worker process failed", exc_info=(kind, value, trace))

    threading.excepthook = in_thread
    sys.excepthook = in_main


def _relayed_progress(channel: _Channel) -> Any:
    from agent.sync import PassProgress

    class RelayedProgress(PassProgress):
        """The pass's process keeps the progress: which sites are being synced, and
        when something last happened (the systemd watchdog's question)."""

        def started(self, site: str, *, check: bool = False) -> None:
            channel.send("progress", "started", (site,))

        def finished(self, site: str, *, check: bool = False) -> None:
            channel.send("progress", "finished", (site,))

        def touch(self, *_: object) -> None:
            channel.send("progress", "touch", ())

        def request_done(self, target: str, outcome: str) -> None:
            pass  # the relayed observer tells it, and the pass's progress hears that

        def retry_scheduled(self, target: str) -> None:
            pass

    return RelayedProgress()


def _relayed_observer(channel: _Channel) -> Any:
    from agent.sync import PassObserver

    class RelayedObserver(PassObserver):
        def request_done(self, target: str, outcome: str) -> None:
            channel.send("call", "request_done", (target, outcome))

        def retry_scheduled(self, target: str) -> None:
            channel.send("call", "retry_scheduled", (target,))

        def site_done(self, result: SiteResult, state: Any) -> None:
            channel.send("call", "site_done", (result, state))

    return RelayedObserver()
