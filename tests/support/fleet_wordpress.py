"""Many small WordPress sites on one loopback port, each in its own sub-folder.

For fleet tests and `bench/fleet.py`: `/site0/` … `/site1999/` each answer the
part of WordPress the agent reads (home page with the API link, the type and
taxonomy lists, `X-WP-Total` on every collection), every answer after a set
latency, spending no CPU while it waits (asyncio, keep-alive). It counts the
requests and the most requests in flight to each site.

Run it in its own process, so that it never competes with the agent for a CPU:

    python -m tests.support.fleet_wordpress --latency 0.1 [--types 2]
    # prints "port NNNN" when ready; GET /_stats for the counts, /_reset to zero them

or from Python, `with fleet_wordpress(latency=0.1) as fleet: fleet.site_url(7)`.

`hang` sites (`--hang 3,7`) read each request and never answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

BUILTIN_TYPES = {
    "post": ("Posts", "posts"),
    "page": ("Pages", "pages"),
    "attachment": ("Media", "media"),
}
BUILTIN_TAXONOMIES = {"category": ("Categories", "categories"), "post_tag": ("Tags", "tags")}
INTERNAL_TYPES = {"wp_block": ("Patterns", "blocks"), "nav_menu_item": ("Menu Items", "menu-items")}


def site_types(extra: int) -> dict[str, tuple[str, str]]:
    """slug -> (label, rest_base) of every post type REST lists on each site."""
    types = dict(BUILTIN_TYPES)
    types.update({f"type{n}": (f"Type {n}", f"type{n}") for n in range(extra)})
    return {**types, **INTERNAL_TYPES}


def site_taxonomies(extra: int) -> dict[str, tuple[str, str]]:
    taxonomies = dict(BUILTIN_TAXONOMIES)
    taxonomies.update({f"tax{n}": (f"Taxonomy {n}", f"tax{n}") for n in range(extra)})
    return taxonomies


def count_of(site: int, rest_base: str) -> int:
    """A count that differs per site and per collection, known to tests in advance."""
    return (site * 7 + sum(map(ord, rest_base))) % 1000


def expected_structure(site: int, extra: int) -> dict[str, dict[str, dict[str, Any]]]:
    """What the agent must report for /site<site>/ (anonymous read, default exclusions)."""
    types = {
        slug: {"label": label, "count": count_of(site, base)}
        for slug, (label, base) in site_types(extra).items()
        if slug not in INTERNAL_TYPES and slug != "attachment"
    }
    taxonomies = {
        slug: {"label": label, "count": count_of(site, base)}
        for slug, (label, base) in site_taxonomies(extra).items()
    }
    return {"post_types": types, "taxonomies": taxonomies}


@dataclass
class Stats:
    requests: int = 0
    by_site: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    in_flight: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    peak_in_flight: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    connections: int = 0
    peak_sites_in_flight: int = 0  # sites with a request in flight at the same moment

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "connections": self.connections,
            "peak_sites_in_flight": self.peak_sites_in_flight,
            "max_in_flight_per_site": max(self.peak_in_flight.values(), default=0),
            "requests_by_site": {str(k): v for k, v in self.by_site.items()},
            "peak_in_flight_by_site": {str(k): v for k, v in self.peak_in_flight.items()},
        }


class FleetServer:
    def __init__(self, latency: float, extra_types: int, hang: set[int]):
        self.latency = latency
        self.extra_types = extra_types
        self.hang = hang
        self.stats = Stats()
        self.types = site_types(extra_types)
        self.taxonomies = site_taxonomies(extra_types)
        self.totals = {base for _, base in (*self.types.values(), *self.taxonomies.values())}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in header_lines if line)
                }
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                answer = await self.answer(method, target)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def answer(self, method: str, target: str) -> bytes | None:
        path, _, _ = target.partition("?")
        if path == "/_stats":
            return _http(200, json.dumps(self.stats.to_json()).encode(), "application/json")
        if path == "/_reset":
            self.stats = Stats()
            return _http(200, b"{}", "application/json")
        parts = path.split("/", 2)
        if len(parts) < 2 or not parts[1].startswith("site") or not parts[1][4:].isdigit():
            return _http(404, b"no such site", "text/plain")
        site = int(parts[1][4:])
        rest = "/" + (parts[2] if len(parts) > 2 else "")
        self.stats.requests += 1
        self.stats.by_site[site] += 1
        self.stats.in_flight[site] += 1
        self.stats.peak_in_flight[site] = max(
            self.stats.peak_in_flight[site], self.stats.in_flight[site]
        )
        busy = sum(1 for n in self.stats.in_flight.values() if n)
        self.stats.peak_sites_in_flight = max(self.stats.peak_sites_in_flight, busy)
        try:
            if site in self.hang:
                await asyncio.sleep(3600)
                return None
            await asyncio.sleep(self.latency)
            return self.page(site, rest, head=method == "HEAD")
        finally:
            self.stats.in_flight[site] -= 1

    def page(self, site: int, rest: str, *, head: bool) -> bytes:
        root = f"/site{site}"
        if rest == "/":
            link = f'<{root}/wp-json/>; rel="https://api.w.org/"'
            return _http(
                200, b"<html><body>fleet</body></html>", "text/html", {"Link": link}, head=head
            )
        if rest == "/wp-json/wp/v2/types":
            body = {
                slug: {"slug": slug, "name": label, "rest_base": base, "rest_namespace": "wp/v2"}
                for slug, (label, base) in self.types.items()
            }
            return _http(200, json.dumps(body).encode(), "application/json", head=head)
        if rest == "/wp-json/wp/v2/taxonomies":
            body = {
                slug: {"slug": slug, "name": label, "rest_base": base, "rest_namespace": "wp/v2"}
                for slug, (label, base) in self.taxonomies.items()
            }
            return _http(200, json.dumps(body).encode(), "application/json", head=head)
        base = rest.removeprefix("/wp-json/wp/v2/")
        if base in self.totals:
            return _http(
                200,
                b"[]",
                "application/json",
                {"X-WP-Total": str(count_of(site, base)), "X-WP-TotalPages": "1"},
                head=head,
            )
        return _http(404, b'{"code":"rest_no_route"}', "application/json", head=head)


def _http(
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
    *,
    head: bool = False,
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} OK",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)


async def serve(args: argparse.Namespace) -> None:
    hang = {int(n) for n in args.hang.split(",") if n} if args.hang else set()
    fleet = FleetServer(args.latency, args.types, hang)
    server = await asyncio.start_server(
        fleet.handle, "127.0.0.1", args.port, backlog=4096, limit=1 << 16
    )
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()  # not waiting for open connections: a hanging site's never close


@dataclass
class Fleet:
    """A running fleet server, seen from the test or benchmark process."""

    url: str
    extra_types: int

    def site_url(self, site: int) -> str:
        return f"{self.url}/site{site}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as answer:
            return json.load(answer)

    def reset(self) -> None:
        with urllib.request.urlopen(self.url + "/_reset", timeout=10):
            pass


@contextmanager
def fleet_wordpress(
    latency: float = 0.1, extra_types: int = 2, hang: tuple[int, ...] = ()
) -> Iterator[Fleet]:
    """Run the fleet server in its own process for the duration of the block."""
    command = [
        sys.executable,
        "-m",
        "tests.support.fleet_wordpress",
        "--latency",
        str(latency),
        "--types",
        str(extra_types),
        "--hang",
        ",".join(map(str, hang)),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            raise RuntimeError(f"the fleet server did not start: {line}")
        yield Fleet(f"http://127.0.0.1:{line[1]}", extra_types)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--types", type=int, default=2, help="extra post types and taxonomies")
    parser.add_argument("--hang", default="", help="comma-separated site numbers that hang")
    args = parser.parse_args(argv)
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
