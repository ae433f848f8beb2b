"""How many round trips does reading a WordPress site cost?

Brings up the `bench20` test WordPress (20 extra public post types, 20 public
taxonomies), puts a latency proxy in front of it, and reads the site with the
agent's parallel reader and with a one-request-at-a-time reader, at two
injected latencies. The slope of the wall time between the two latencies is
the number of round trips the read spends: about 2 for a reader that sends
each step's requests at once (CONTRACT.md §4: discover, list and count; the first
two at once), one per request for the other.

    .venv/bin/python bench/read_round_trips.py [--latencies 0.1,0.5] [--repeat 5]

Figures, not asserts: it prints a table and exits 0 unless a read fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # the checkout's agent/ and tests/support/

import agent  # noqa: E402
import tests.support.wordpress as wordpress_support  # noqa: E402
from agent.config import SiteConfig, WordPressConfig  # noqa: E402
from agent.logs import setup_logging, site_log  # noqa: E402
from agent.retry import RetryPolicy  # noqa: E402
from agent.secret import Secret  # noqa: E402
from agent.structure import SiteStructure  # noqa: E402
from agent.wordpress.reader import read_structure  # noqa: E402
from tests.support.proxy import ReverseProxy  # noqa: E402
from tests.support.wordpress import WordPressServers, WordPressSite  # noqa: E402

VARIANT = "bench20"
DEFAULT_LATENCIES = "0.1,0.5"
DEFAULT_REPEAT = 5
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class Reader:
    """One way of reading: a name and the requests it keeps in flight."""

    name: str
    parallel: int  # wordpress.max_connections


READERS = (
    Reader("unbounded (64)", 64),
    Reader(f"default cap ({WordPressConfig.max_connections})", WordPressConfig.max_connections),
    Reader("one at a time (1)", 1),
)


@dataclass(frozen=True)
class Run:
    """One timed read through the proxy."""

    seconds: float
    requests: int  # counted by the proxy
    by_method: dict[str, int]
    peak_in_flight: int
    connections: int
    reader_requests: int  # counted by the reader itself
    structure: SiteStructure


@dataclass
class Cell:
    """All runs of one reader at one latency."""

    reader: Reader
    latency: float
    runs: list[Run] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)


# --- command line --------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--latencies",
        default=DEFAULT_LATENCIES,
        type=parse_latencies,
        help="two injected round-trip times in seconds, comma-separated "
        f"(default {DEFAULT_LATENCIES})",
    )
    parser.add_argument(
        "--repeat",
        default=DEFAULT_REPEAT,
        type=positive_int,
        help=f"timed reads per reader and latency (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--php-workers",
        type=positive_int,
        default=None,
        help="PHP_CLI_SERVER_WORKERS for the php -S server (default: the "
        f"fixture's {wordpress_support.PHP_SERVER_WORKERS})",
    )
    parser.add_argument(
        "--handshake",
        action="store_true",
        help="also delay each new connection by the latency (models the "
        "TCP handshake's round trip; off by default)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the test WordPress lives (default: a temporary directory)",
    )
    return parser.parse_args(argv)


def parse_latencies(text: str) -> tuple[float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if len(values) != 2 or values[0] == values[1] or min(values) < 0:
        raise argparse.ArgumentTypeError("give two different latencies >= 0, e.g. 0.05,0.15")
    return values[0], values[1]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# --- the site --------------------------------------------------------------------


@contextmanager
def bench_site(workdir: Path | None, php_workers: int | None) -> Iterator[WordPressSite]:
    """The running bench20 WordPress, in `workdir` or a temporary directory."""
    if php_workers is not None:
        wordpress_support.PHP_SERVER_WORKERS = str(php_workers)
    with temporary_or(workdir) as directory, WordPressServers(directory) as servers:
        yield servers.site(VARIANT)


@contextmanager
def temporary_or(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="igny8-bench-") as directory:
        yield Path(directory)


def site_config(site: WordPressSite, url: str) -> SiteConfig:
    """The agent's config for the site at `url`, with its application password."""
    return SiteConfig(
        key_path="sites[0]",
        name=VARIANT,
        site_id=1,
        api_key=None,
        wordpress=WordPressConfig(
            url=url,
            username=site.username,
            app_password=Secret(site.app_password),
            timeout=READ_TIMEOUT,
        ),
    )


# --- reading -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """The site's config (pointing at the proxy), the proxy, and what it delays."""

    config: SiteConfig
    proxy: ReverseProxy
    handshake: bool  # delay new connections too


def timed_read(bench: Bench, reader: Reader, latency: float) -> Run:
    """One read through the proxy at `latency`, with its own session."""
    config, proxy = bench.config, bench.proxy
    proxy.delay = latency
    proxy.connect_delay = latency if bench.handshake else 0.0
    proxy.stats.reset()
    policy = RetryPolicy(sleep=time.sleep)
    log = site_log(config.name)
    config = replace(
        config, wordpress=replace(config.wordpress, max_connections=reader.parallel, xmlrpc="never")
    )
    started = time.perf_counter()
    structure = read_structure(config, policy, log)
    seconds = time.perf_counter() - started
    counts = proxy.counts()
    return Run(
        seconds=seconds,
        requests=sum(counts.values()),
        by_method=counts,
        peak_in_flight=proxy.stats.peak_in_flight(),
        connections=proxy.stats.connections(),
        reader_requests=structure.requests,
        structure=structure,
    )


def measure(bench: Bench, latencies: tuple[float, float], repeat: int) -> list[Cell]:
    """Every reader at every latency, `repeat` times, interleaved against drift."""
    cells = {(r, lat): Cell(r, lat) for r in READERS for lat in latencies}
    for reader in READERS:  # warm-up: PHP's opcache, MariaDB's buffers
        timed_read(bench, reader, 0.0)
    for _ in range(repeat):
        for latency in latencies:
            for reader in READERS:
                cells[reader, latency].runs.append(timed_read(bench, reader, latency))
    return list(cells.values())


# --- figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """Wall time = fixed + round_trips × latency, through the two medians."""

    round_trips: float
    fixed_seconds: float


def fit(first: Cell, second: Cell) -> Fit:
    slope = (second.median_seconds - first.median_seconds) / (second.latency - first.latency)
    return Fit(round_trips=slope, fixed_seconds=first.median_seconds - slope * first.latency)


def fits_by_reader(cells: list[Cell]) -> dict[Reader, Fit]:
    by_reader: dict[Reader, list[Cell]] = {}
    for cell in cells:
        by_reader.setdefault(cell.reader, []).append(cell)
    return {
        reader: fit(*sorted(pair, key=lambda c: c.latency)) for reader, pair in by_reader.items()
    }


def requests_text(cell: Cell) -> str:
    """Requests per read; all reads should agree, else their range."""
    counts = sorted({run.requests for run in cell.runs})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def methods_text(cell: Cell) -> str:
    methods = cell.runs[0].by_method
    return " ".join(f"{name} {methods[name]}" for name in sorted(methods))


TABLE_HEADER = (
    f"{'reader':<20} {'latency':>8} {'requests':>8} {'by method':<16} {'peak':>4} {'conns':>5} "
    f"{'median s':>8} {'min-max s':>13} {'round trips':>11} {'fixed s':>7}"
)


def table_rows(cells: list[Cell], fits: dict[Reader, Fit]) -> list[str]:
    rows = [TABLE_HEADER, "-" * len(TABLE_HEADER)]
    for cell in sorted(cells, key=lambda c: (READERS.index(c.reader), c.latency)):
        times = [run.seconds for run in cell.runs]
        line_fit = fits[cell.reader]
        rows.append(
            f"{cell.reader.name:<20} {cell.latency * 1000:>5.0f} ms {requests_text(cell):>8} "
            f"{methods_text(cell):<16} {max(r.peak_in_flight for r in cell.runs):>4} "
            f"{max(r.connections for r in cell.runs):>5} {cell.median_seconds:>8.3f} "
            f"{min(times):>6.3f}-{max(times):<6.3f} {line_fit.round_trips:>11.1f} "
            f"{line_fit.fixed_seconds:>7.3f}"
        )
    return rows


def structure_text(cells: list[Cell]) -> str:
    structure = cells[0].runs[0].structure
    agree = all(
        run.structure.post_types == structure.post_types
        and run.structure.taxonomies == structure.taxonomies
        for cell in cells
        for run in cell.runs
    )
    return (
        f"read {len(structure.post_types)} post types and {len(structure.taxonomies)} "
        f"taxonomies ({'every read agrees' if agree else 'READS DISAGREE'}; "
        f"{structure.source})"
    )


def mismatched_counts(cells: list[Cell]) -> list[str]:
    """Reads where the proxy saw another number of requests than the reader sent."""
    return [
        f"{cell.reader.name} at {cell.latency * 1000:.0f} ms: proxy saw {run.requests}, "
        f"reader sent {run.reader_requests}"
        for cell in cells
        for run in cell.runs
        if run.requests != run.reader_requests
    ]


def machine_lines(site: WordPressSite, args: argparse.Namespace) -> list[str]:
    wordpress_version = site.php("echo get_bloginfo('version');").strip()
    workers = args.php_workers or wordpress_support.PHP_SERVER_WORKERS
    return [
        f"WordPress {wordpress_version} on php -S with PHP_CLI_SERVER_WORKERS={workers}; "
        f"PHP {site.php('echo PHP_VERSION;').strip()}; Python {platform.python_version()}",
        f"machine: nproc {len(os.sched_getaffinity(0))}, {platform.system()} "
        f"{platform.release()} {platform.machine()}",
        f"agent from {Path(agent.__file__).parent}; {args.repeat} reads per cell "
        f"after one warm-up read per reader; injected delay per request"
        + (" and per new connection" if args.handshake else ""),
    ]


def sensitivity_text(latencies: tuple[float, float]) -> str:
    """How much timing noise moves the round trips figure."""
    per_10_ms = 0.010 / abs(latencies[1] - latencies[0])
    return (
        f"noise: 10 ms more or less in either median moves round trips by {per_10_ms:.2f}; "
        "compare with the min-max spread"
    )


def report(cells: list[Cell], site: WordPressSite, args: argparse.Namespace) -> None:
    fits = fits_by_reader(cells)
    lines = [
        *machine_lines(site, args),
        structure_text(cells),
        "",
        *table_rows(cells, fits),
        "",
        "round trips = (median at L2 - median at L1) / (L2 - L1); "
        "fixed s = that line's wall time at zero latency",
        sensitivity_text(args.latencies),
    ]
    lines += [f"warning: {text}" for text in mismatched_counts(cells)]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("warning")
    with bench_site(args.workdir, args.php_workers) as site, ReverseProxy(site.url) as proxy:
        bench = Bench(site_config(site, proxy.proxied(site.url)), proxy, args.handshake)
        cells = measure(bench, args.latencies, args.repeat)
        report(cells, site, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
