"""What XML-RPC costs for a REST-hidden post type with many posts.

Starts the `main` test WordPress, publishes posts of its REST-hidden type
`recipe` until it has `--posts` (default 1,000) published, then completes a
REST read over XML-RPC as `igny8-agent` does with `xmlrpc: auto`, directly and
through a proxy adding `--latency` (default 0.1 s) to every request. Prints
the XML-RPC calls, the wall time, and the count next to WordPress's own.

    .venv/bin/python bench/xmlrpc_hidden_type.py [--posts 1000] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from agent.config import SiteConfig, WordPressConfig  # noqa: E402
from agent.http import HttpClient, new_session  # noqa: E402
from agent.retry import RetryPolicy  # noqa: E402
from agent.secret import Secret  # noqa: E402
from agent.wordpress.xmlrpc import PAGE_SIZE, XmlrpcReader  # noqa: E402
from tests.support.proxy import ReverseProxy  # noqa: E402
from tests.support.wordpress import WordPressServers, WordPressSite  # noqa: E402

HIDDEN_TYPE = "recipe"


def publish_until(site: WordPressSite, wanted: int) -> int:
    have = int(site.php(f"echo wp_count_posts('{HIDDEN_TYPE}')->publish;"))
    if have < wanted:
        site.php(
            "wp_defer_term_counting(true); wp_suspend_cache_invalidation(true);"
            f"for ($i = {have}; $i < {wanted}; $i++) {{ wp_insert_post(['post_type' => "
            f"'{HIDDEN_TYPE}', 'post_title' => 'Bench recipe ' . $i, "
            "'post_status' => 'publish']); }"
        )
    return int(site.php(f"echo wp_count_posts('{HIDDEN_TYPE}')->publish;"))


def site_config(site: WordPressSite, url: str) -> SiteConfig:
    wordpress = WordPressConfig(
        url=url, username=site.username, app_password=Secret(site.app_password)
    )
    return SiteConfig(
        key_path="sites[0]", name="bench", site_id=1, api_key=None, wordpress=wordpress
    )


def complete_over_xmlrpc(config: SiteConfig, url: str) -> tuple[int, int, float]:
    """(calls, recipe count, seconds) of the XML-RPC part of an `auto` read."""
    log = logging.LoggerAdapter(logging.getLogger("bench"), {"site": "bench"})
    http = HttpClient(new_session(), timeout=30, verify=True, policy=RetryPolicy(), log=log)
    reader = XmlrpcReader(config, url.rstrip("/") + "/xmlrpc.php", http, log)
    started = time.perf_counter()
    reader.list_public()
    # As in an `auto` read: only what REST does not list is counted here.
    count = reader.count_published(HIDDEN_TYPE)
    reader.count_terms("cuisine")
    elapsed = time.perf_counter() - started
    return reader.calls, count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with (
        tempfile.TemporaryDirectory(prefix="igny8-xmlrpc-bench-") as tmp,
        WordPressServers(Path(tmp)) as servers,
    ):
        site = servers.site("main")
        published = publish_until(site, args.posts)
        version = site.php("echo get_bloginfo('version');")
        print(
            f"WordPress {version}: {published} published "
            f"'{HIDDEN_TYPE}' posts (REST-hidden); page size {PAGE_SIZE}"
        )
        config = site_config(site, site.url)
        for label, latency in (("direct", 0.0), (f"+{args.latency * 1000:.0f} ms", args.latency)):
            with ReverseProxy(site.url, delay=latency) as proxy:
                url = proxy.proxied(site.url)
                calls, count, seconds = complete_over_xmlrpc(
                    replace(config, wordpress=replace(config.wordpress, url=url)), url
                )
            print(
                f"{label:>8}: {calls} XML-RPC calls, {seconds:.2f} s, counted {count} "
                f"(WordPress says {published})"
            )


if __name__ == "__main__":
    main()
