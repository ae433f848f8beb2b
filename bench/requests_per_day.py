"""How many requests a WordPress site gets from the agent in a day.

Against the test WordPress (Debian's 6.1 with its fixture types) behind a
proxy that counts what arrives: the first pass (`connect`), the daily pass
that follows it, and one freshness check (`schedule.check_every`), for a site
read anonymously over REST and for one with credentials (REST and XML-RPC).
A day is one daily pass and 86400 / check_every checks.

    .venv/bin/python bench/requests_per_day.py [--check-every 3600]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agent.config import load_config  # noqa: E402
from agent.sync import PassOptions, check_structures, run_pass  # noqa: E402
from tests.support.backend_standin import BackendStandin, Integration  # noqa: E402
from tests.support.proxy import ReverseProxy  # noqa: E402
from tests.support.wordpress import WordPressServers, WordPressSite  # noqa: E402

API_KEY = "bench-api-key-not-secret"


def counted(proxy: ReverseProxy, work) -> int:
    before = len(proxy.paths())
    work()
    return len(proxy.paths()) - before


def one_kind(
    site: WordPressSite, backend: BackendStandin, workdir: Path, credentials: bool
) -> tuple[int, int, int]:
    with ReverseProxy(site.url) as proxy:
        wordpress = {"url": proxy.url}
        if credentials:
            wordpress.update(username=site.username, app_password=site.app_password)
        path = workdir / "config.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "backend": {"url": backend.url},
                    "state_dir": str(workdir / "state"),
                    "sites": [
                        {"name": "blog", "site_id": 5, "api_key": API_KEY, "wordpress": wordpress}
                    ],
                }
            )
        )
        path.chmod(0o600)
        config = load_config(path)
        first = counted(proxy, lambda: run_pass(config, PassOptions()))
        daily = counted(proxy, lambda: run_pass(config, PassOptions()))
        check = counted(proxy, lambda: check_structures(config, PassOptions()))
    return first, daily, check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-every", type=int, default=3600)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    checks_a_day = 86400 // args.check_every if args.check_every else 0
    with (
        tempfile.TemporaryDirectory(prefix="igny8-requests-") as tmp,
        WordPressServers(Path(tmp) / "wp") as servers,
        BackendStandin(
            api_keys={5: API_KEY}, integrations=[Integration(id=1, site_id=5)]
        ) as backend,
    ):
        site = servers.site("main")
        print(
            f"WordPress {site.wp_version}; a check every {args.check_every} s "
            f"({checks_a_day} a day)"
        )
        print(f"{'read':<32} {'first pass':>10} {'daily pass':>10} {'one check':>9} {'a day':>6}")
        for credentials in (False, True):
            workdir = Path(tmp) / ("credentials" if credentials else "anonymous")
            workdir.mkdir()
            first, daily, check = one_kind(site, backend, workdir, credentials)
            kind = "with credentials (REST+XML-RPC)" if credentials else "anonymous (REST)"
            print(
                f"{kind:<32} {first:>10} {daily:>10} {check:>9} {daily + checks_a_day * check:>6}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
