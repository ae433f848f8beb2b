"""Where the last read found a site's APIs is tried first: the daily pass skips the home
page (the one request that makes WordPress render its theme), a stale place is found
again, and a remembered place never carries credentials to another host."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.conftest import API_KEY, INTEGRATION_ID, SITE_ID, Agent, label_and_count
from tests.support.backend_standin import BackendStandin
from tests.support.hostile import Answer, HostileWordPress, Plain, json_answer

PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"


@pytest.fixture
def wp() -> Iterator[HostileWordPress]:
    with HostileWordPress(link_header=True) as site:
        yield site


def configure(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin, *, credentials: bool = False
) -> None:
    wordpress = {"url": wp.url, "xmlrpc": "never"}
    if credentials:
        wordpress.update(username="admin", app_password=PASSWORD)
    agent.write_config(
        {
            "backend": {"url": backend.url},
            "sites": [
                {"name": "blog", "site_id": SITE_ID, "api_key": API_KEY, "wordpress": wordpress}
            ],
        }
    )


def remembered_root(agent: Agent, root: str | None = None) -> str:
    connection = sqlite3.connect(agent.state_dir / "state.db")
    with connection:
        if root is not None:
            connection.execute("UPDATE sites SET api_root = ? WHERE name = 'blog'", (root,))
        value = connection.execute("SELECT api_root FROM sites WHERE name = 'blog'").fetchone()
    connection.close()
    return value[0]


def test_the_daily_pass_skips_the_home_page(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    configure(agent, wp, backend)
    assert agent.run("sync").returncode == 0
    # The first read asks the home page and lists at the usual root at once.
    assert set(wp.paths()[:3]) == {"/", "/wp-json/wp/v2/types", "/wp-json/wp/v2/taxonomies"}
    assert remembered_root(agent) == f"{wp.url}/wp-json/"
    wp.requests.clear()

    assert agent.run("sync").returncode == 0
    assert "/" not in wp.paths()
    assert set(wp.paths()[:2]) == {"/wp-json/wp/v2/types", "/wp-json/wp/v2/taxonomies"}
    assert len(backend.posts()) == 2


def test_a_root_that_moved_is_found_again(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    configure(agent, wp, backend)
    assert agent.run("sync").returncode == 0
    remembered_root(agent, f"{wp.url}/old-api/")
    wp.requests.clear()

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    paths = wp.paths()
    assert set(paths[:2]) == {"/old-api/wp/v2/types", "/old-api/wp/v2/taxonomies"}
    assert paths[2] == "/"  # discovery, after the remembered root failed
    assert remembered_root(agent) == f"{wp.url}/wp-json/"


def test_a_remembered_root_on_another_host_gets_no_credentials(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    with HostileWordPress() as elsewhere:
        configure(agent, wp, backend, credentials=True)
        assert agent.run("sync").returncode == 0
        remembered_root(agent, elsewhere.url.replace("127.0.0.1", "localhost") + "/wp-json/")
        run = agent.run("sync")
        assert run.returncode == 0, run.stderr
        assert elsewhere.requests == []  # not used at all: it is not the site's own host
    assert remembered_root(agent) == f"{wp.url}/wp-json/"


def test_the_root_the_home_page_names_wins_over_the_usual_one(
    agent: Agent, backend: BackendStandin
) -> None:
    """A first read lists at `/wp-json/` while the home page is fetched; when the home
    page names another root, that listing is dropped, even where it answers."""
    with HostileWordPress() as wp:
        news = {"post": {**wp.types["post"], "name": "News"}}
        link = f'<{wp.url}/api/>; rel="https://api.w.org/"'
        wp.routes["/"] = Plain(Answer(200, {"Content-Type": "text/html", "Link": link}, b"<p>"))
        wp.routes["/api/wp/v2/types"] = Plain(json_answer(news))
        wp.routes["/api/wp/v2/taxonomies"] = Plain(json_answer(wp.taxonomies))
        wp.routes["/api/wp/v2/posts"] = Plain(json_answer([], **{"X-WP-Total": "7"}))
        wp.routes["/api/wp/v2/categories"] = Plain(json_answer([], **{"X-WP-Total": "2"}))
        configure(agent, wp, backend)

        run = agent.run("sync")

        assert run.returncode == 0, run.stderr
        assert "/wp-json/wp/v2/types" in wp.paths()  # asked early, and not used
        assert "/wp-json/wp/v2/posts" not in wp.paths()
    assert remembered_root(agent) == f"{wp.url}/api/"
    assert label_and_count(backend.stored[INTEGRATION_ID])["post_types"] == {
        "post": {"label": "News", "count": 7}
    }
