"""What a pass over a fleet costs: hundreds to thousands of sites, side by side.

A many-site fake WordPress (tests/support/fleet_wordpress.py: each site a
sub-folder on one loopback port, every answer after `--latency`, no CPU spent)
and the backend stand-in each run in their own process; the installed
`igny8-agent sync` reads and pushes every site. Printed per fleet size: wall
time, seconds per site, requests to WordPress, the most requests in flight to
one site (the fake server counts them), the peak RSS of the agent and its worker
processes together, and the cost of recording one site's result in the state
database.

    .venv/bin/python bench/fleet.py [--sites 200,2000] [--latency 0.1] [--parallel 16]
        [--sequential]   # also a pass with parallel_sites: 1, for comparison

Figures, not asserts: it exits 0 unless a pass fails. Targets (issue 8, defaults,
100 ms per answer): 200 sites <= 10 s; 2,000 sites <= 60 s and <= 150 MB RSS;
never more than 6 requests in flight to one site.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agent.state import Attempt, SiteState, StateStore  # noqa: E402
from tests.support.fleet_wordpress import Fleet, fleet_wordpress  # noqa: E402
from tests.support.procs import children_of  # noqa: E402

API_KEY = "fleet-bench-key-0123456789"


@dataclass
class PassFigures:
    sites: int
    parallel: int
    kind: str  # "first": cold state; "daily": the next pass, with the state of the first
    seconds: float
    returncode: int
    requests: int
    max_in_flight: int
    peak_rss_mib: float
    failed_lines: int


@contextmanager
def backend_standin(sites: int):
    """The stand-in in its own process: one site_id, API key and integration per site."""
    command = [sys.executable, "-m", "tests.support.backend_standin", "--port", "0"]
    for n in range(sites):
        command += ["--site", f"{n + 1}:{API_KEY}-{n}:{100000 + n}"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the backend stand-in did not start: {url!r}")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def write_config(workdir: Path, fleet: Fleet, backend_url: str, sites: int, parallel: int) -> Path:
    config = {
        "backend": {"url": backend_url},
        "state_dir": str(workdir / "state"),
        "parallel_sites": parallel,
        "sites": [
            {
                "name": f"site{n}",
                "site_id": n + 1,
                "api_key": f"{API_KEY}-{n}",
                "wordpress": {"url": fleet.site_url(n)},
            }
            for n in range(sites)
        ],
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def run_pass(command: str, config: Path) -> tuple[int, float, float, str]:
    """(exit status, seconds, peak RSS in MiB, stderr) of one `sync`; CPU time to stderr.

    The RSS is that of the agent and its worker processes together, sampled every
    50 ms (the kernel's own peak, ru_maxrss, is per process)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [command, "--config", str(config), "--log-level", "warning", "sync"],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        peak = [0]
        sampler = threading.Thread(target=_sample_rss, args=(process.pid, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        sampler.join()
        print(
            f"  (agent CPU, its workers' included: {usage.ru_utime:.1f} s user, "
            f"{usage.ru_stime:.1f} s system)",
            file=sys.stderr,
        )
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
    return process.returncode, seconds, max(peak[0], usage.ru_maxrss) / 1024, stderr


def _sample_rss(pid: int, peak: list[int]) -> None:
    """The highest sum of VmRSS (KiB) of `pid` and its children, until `pid` is gone."""
    while Path(f"/proc/{pid}").exists():
        total = 0
        for each in [pid, *children_of(pid)]:
            try:
                status = Path(f"/proc/{each}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        peak[0] = max(peak[0], total)
        time.sleep(0.05)


def one_fleet(command: str, sites: int, parallel: int, latency: float) -> list[PassFigures]:
    """Two passes: the first (empty state: integrations looked up, APIs discovered) and
    the next, as the daily pass runs."""
    figures = []
    with (
        tempfile.TemporaryDirectory(prefix="igny8-fleet-") as tmp,
        fleet_wordpress(latency=latency) as fleet,
        backend_standin(sites) as backend_url,
    ):
        config = write_config(Path(tmp), fleet, backend_url, sites, parallel)
        for kind in ("first", "daily"):
            fleet.reset()
            returncode, seconds, rss, stderr = run_pass(command, config)
            stats = fleet.stats()
            failed = [line for line in stderr.splitlines() if " ERROR " in line]
            if returncode != 0:
                print("\n".join(failed[:5]), file=sys.stderr)
            figures.append(
                PassFigures(
                    sites,
                    parallel,
                    kind,
                    seconds,
                    returncode,
                    stats["requests"],
                    stats["max_in_flight_per_site"],
                    rss,
                    len(failed),
                )
            )
    return figures


def state_write_cost(sites: int) -> tuple[float, float]:
    """Milliseconds to record one site's result: into a nearly empty database, and into
    one that already holds `sites` sites with a full history each."""
    with tempfile.TemporaryDirectory(prefix="igny8-state-") as tmp:
        store = StateStore(Path(tmp))
        state = SiteState(
            last_attempt="2026-01-01T00:00:00Z",
            last_success="2026-01-01T00:00:00Z",
            integration_id=1,
            post_types_count=3,
            taxonomies_count=2,
        )
        attempt = Attempt("2026-01-01T00:00:00Z", ok=True, duration_seconds=0.3, requests=7)
        first = _timed_updates(store, 10, state, attempt)
        for n in range(10, sites):
            store.update(f"site{n}", state, attempt)
        at_size = _timed_updates(store, 200, state, attempt)
        store.close()
    return first, at_size


def _timed_updates(store: StateStore, count: int, state: SiteState, attempt: Attempt) -> float:
    started = time.perf_counter()
    for n in range(count):
        store.update(f"site{n}", state, attempt)
    return (time.perf_counter() - started) / count * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", default="200,2000")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="also run the smallest fleet with parallel_sites: 1",
    )
    args = parser.parse_args()
    command = shutil.which("igny8-agent")
    if command is None:
        print(
            "igny8-agent is not installed: run scripts/install-deps, then use .venv/bin/python",
            file=sys.stderr,
        )
        return 2
    sizes = [int(n) for n in args.sites.split(",")]
    runs = [(n, args.parallel) for n in sizes]
    if args.sequential:
        runs.insert(0, (sizes[0], 1))
    print(f"latency {args.latency * 1000:.0f} ms per answer; {os.cpu_count()} CPUs")
    print(
        f"{'sites':>6} {'parallel':>8} {'pass':>6} {'wall s':>8} {'s/site':>7} "
        f"{'WP requests':>11} {'max in flight/site':>18} {'peak RSS MiB':>12} {'exit':>4}"
    )
    worst = 0
    for sites, parallel in runs:
        for figures in one_fleet(command, sites, parallel, args.latency):
            worst = max(worst, figures.returncode)
            print(
                f"{sites:>6} {parallel:>8} {figures.kind:>6} {figures.seconds:>8.1f} "
                f"{figures.seconds / sites:>7.3f} {figures.requests:>11} "
                f"{figures.max_in_flight:>18} {figures.peak_rss_mib:>12.1f} "
                f"{figures.returncode:>4}",
                flush=True,
            )
    for sites in sizes:
        first, at_size = state_write_cost(sites)
        print(
            f"state: recording one site's result takes {first:.2f} ms with 10 sites, "
            f"{at_size:.2f} ms with {sites} sites"
        )
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
