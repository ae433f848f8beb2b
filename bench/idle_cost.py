"""What `igny8-agent run` costs while idle: CPU seconds and resident memory.

Starts a test WordPress and the backend stand-in, runs the installed daemon
with a daily schedule, the watchdog of systemd/igny8-agent.service, /metrics
served (scraped every 15 s, as Prometheus would) and the freshness check every
hour, waits for its start-up pass, then samples /proc/PID for `--seconds`
(default 600).

    .venv/bin/python bench/idle_cost.py [--seconds 600] [--no-metrics]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.backend_standin import BackendStandin, Integration  # noqa: E402
from tests.support.wordpress import WordPressServers  # noqa: E402

API_KEY = "bench-api-key-not-secret"
WATCHDOG_USEC = "120000000"  # WatchdogSec=120 as in systemd/igny8-agent.service
SCRAPE_EVERY = 15.0  # seconds, Prometheus's default scrape interval


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_config(
    work: Path, site_url: str, username: str, password: str, backend: str, metrics_port: int | None
) -> Path:
    config = work / "config.yaml"
    metrics = f"metrics: {{listen: '127.0.0.1:{metrics_port}'}}\n" if metrics_port else ""
    config.write_text(f"""\
backend: {{url: "{backend}"}}
state_dir: {work / "state"}
schedule: {{cron: "0 3 * * *", jitter_seconds: 1800, retry_failed_every: 900,
           check_every: 3600}}
{metrics}sites:
  - name: blog
    site_id: 5
    api_key: {API_KEY}
    wordpress: {{url: "{site_url}", username: {username}, app_password: "{password}"}}
""")
    config.chmod(0o600)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--no-metrics", action="store_true", help="do not serve /metrics")
    args = parser.parse_args()
    port = None if args.no_metrics else free_port()
    command = shutil.which("igny8-agent") or str(REPO_ROOT / ".venv/bin/igny8-agent")
    with tempfile.TemporaryDirectory(prefix="igny8-idle-") as tmp:
        work = Path(tmp)
        with (
            WordPressServers(work / "wp") as servers,
            BackendStandin(
                api_keys={5: API_KEY}, integrations=[Integration(id=1, site_id=5)]
            ) as backend,
        ):
            site = servers.site("main")
            config = write_config(
                work, site.url, site.username, site.app_password, backend.url, port
            )
            env = {**os.environ, "WATCHDOG_USEC": WATCHDOG_USEC}
            with open(work / "daemon.log", "w") as log:
                daemon = subprocess.Popen(
                    [command, "--config", str(config), "run"], stderr=log, env=env
                )
                try:
                    backend.wait_for_posts(1, 60)
                    time.sleep(2)
                    measure(daemon.pid, args.seconds, port)
                finally:
                    daemon.send_signal(signal.SIGTERM)
                    daemon.wait(15)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return len(answer.read())


def measure(pid: int, seconds: float, port: int | None) -> None:
    if port is not None:
        scrape(port)
    cpu_before, rss_before = cpu_seconds(pid), rss_mib(pid)
    started = time.monotonic()
    peak = rss_before
    scrapes, size = 0, 0
    while time.monotonic() - started < seconds:
        time.sleep(min(SCRAPE_EVERY, seconds))
        if port is not None:
            size = scrape(port)
            scrapes += 1
        peak = max(peak, rss_mib(pid))
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    print(
        f"idle for {elapsed:.0f} s after the start-up pass (daily schedule, freshness check "
        f"every hour, watchdog every {int(WATCHDOG_USEC) / 2e6:.0f} s)"
    )
    if port is not None:
        print(f"/metrics scraped {scrapes} times ({size} bytes each)")
    print(f"CPU: {cpu:.2f} s ({100 * cpu / elapsed:.3f} % of one core)")
    print(
        f"resident memory: {rss_before:.1f} MiB at start, {rss_mib(pid):.1f} MiB at end, "
        f"peak {peak:.1f} MiB"
    )


if __name__ == "__main__":
    main()
