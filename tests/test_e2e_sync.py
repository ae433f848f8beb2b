"""End to end: the installed igny8-agent against real WordPress sites and the stand-in.

Expected structures come from PHP inside each WordPress (tests/wordpress/expected.php),
never from the agent's own output.
"""

from __future__ import annotations

import fcntl
import json
import re
from datetime import UTC, datetime

import pytest

from tests.conftest import (
    API_KEY,
    INTEGRATION_ID,
    REST_ANONYMOUS,
    SITE_ID,
    expected_payload_part,
    label_and_count,
    site_config,
)
from tests.support.backend_standin import Fault, Integration

pytestmark = pytest.mark.e2e


def wordpress_internal(site, kind: str) -> set[str]:
    """WordPress's own non-public types (or taxonomies) that REST lists, from PHP."""
    function = "get_post_types" if kind == "post_types" else "get_taxonomies"
    names = site.php(
        f"echo json_encode(array_values({function}(['_builtin' => true, "
        "'public' => false, 'show_in_rest' => true])));"
    )
    return set(json.loads(names))


def only_post(backend):
    posts = backend.posts()
    assert len(posts) == 1, [p.path for p in backend.requests]
    return posts[0].json


@pytest.mark.parametrize("variant", ["main", "plain", "subfolder", "private"])
def test_connect_pushes_what_wordpress_has(wordpress, backend, agent, variant):
    site = wordpress(variant)
    agent.write_config(site_config(site, backend.url))
    before = datetime.now(UTC).replace(microsecond=0)

    run = agent.run("connect")

    assert run.returncode == 0, run.stderr
    payload = only_post(backend)
    assert label_and_count(payload) == expected_payload_part(site)
    assert "internal_log" not in payload["post_types"]  # public: false, yet in REST
    assert "internal_flag" not in payload["taxonomies"]
    assert set(payload) == {
        "post_types",
        "taxonomies",
        "plugin_connection_enabled",
        "two_way_sync_enabled",
        "timestamp",
    }
    assert payload["plugin_connection_enabled"] is True
    assert payload["two_way_sync_enabled"] is True
    stamp = datetime.strptime(payload["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)
    assert backend.stored[INTEGRATION_ID] == payload
    assert "pushed to IGNY8 integration 123" in run.stdout


def test_unicode_labels_and_own_namespace_arrive(wordpress, backend, agent):
    site = wordpress("main")
    truth = site.php_expected()
    assert truth["post_types"]["event"]["rest_namespace"] != "wp/v2"  # the fixture's point
    agent.write_config(site_config(site, backend.url))

    assert agent.run("sync").returncode == 0
    payload = only_post(backend)
    assert payload["post_types"]["book"]["label"] == truth["post_types"]["book"]["label"]
    assert payload["taxonomies"]["genre"]["label"] == truth["taxonomies"]["genre"]["label"]
    assert payload["post_types"]["event"]["count"] == truth["post_types"]["event"]["count"]
    assert "books" not in payload["post_types"]  # slugs, never REST bases


def test_drafts_private_and_trash_are_not_counted(wordpress, backend, agent):
    site = wordpress("main")
    site.php(
        "wp_insert_post(['post_type' => 'book', 'post_title' => 'Draft', "
        "'post_status' => 'draft']);"
        "wp_insert_post(['post_type' => 'book', 'post_title' => 'Private', "
        "'post_status' => 'private']);"
    )
    site.php(
        "wp_insert_post(['post_type' => 'book', 'post_title' => 'Published', "
        "'post_status' => 'publish']);"
    )
    published = int(site.php("echo wp_count_posts('book')->publish;"))
    agent.write_config(site_config(site, backend.url))

    assert agent.run("sync").returncode == 0
    assert only_post(backend)["post_types"]["book"]["count"] == published


def test_anonymous_read_drops_internal_types(wordpress, backend, agent):
    site = wordpress("plain")
    agent.write_config(site_config(site, backend.url, credentials=False))

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    payload = only_post(backend)
    expected = expected_payload_part(site, read=REST_ANONYMOUS)
    # Without credentials REST cannot tell public from non-public custom types;
    # what WordPress calls public must all be there, with its counts.
    for kind in ("post_types", "taxonomies"):
        for slug, entry in expected[kind].items():
            assert label_and_count(payload)[kind][slug] == entry
    internal_types = wordpress_internal(site, "post_types")
    internal_taxonomies = wordpress_internal(site, "taxonomies")
    assert {"wp_block", "nav_menu_item"} <= internal_types  # what the check is about
    assert not internal_types & set(payload["post_types"])
    assert not internal_taxonomies & set(payload["taxonomies"])


def test_overrides_defaults_and_exclusions(wordpress, backend, agent):
    site = wordpress("main")
    agent.write_config(
        site_config(
            site,
            backend.url,
            defaults={"fetch_limit": 20},
            post_types={
                "book": {"enabled": False},
                "event": {"fetch_limit": 7},
                "product": {"enabled": False},
            },
            taxonomies={"genre": {"enabled": False, "fetch_limit": 3}},
            exclude_post_types=["page"],
            exclude_taxonomies=[],
            two_way_sync_enabled=False,
        )
    )

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    payload = only_post(backend)
    assert label_and_count(payload) == expected_payload_part(
        site, exclude_post_types=("page",), exclude_taxonomies=()
    )
    assert payload["post_types"]["book"]["enabled"] is False
    assert payload["post_types"]["book"]["fetch_limit"] == 20
    assert payload["post_types"]["event"]["fetch_limit"] == 7
    assert payload["post_types"]["event"]["enabled"] is True
    assert payload["post_types"]["attachment"]["fetch_limit"] == 20
    assert payload["taxonomies"]["genre"]["enabled"] is False
    assert payload["taxonomies"]["genre"]["fetch_limit"] == 3
    assert payload["two_way_sync_enabled"] is False
    assert "sites[0].post_types.product" in run.stderr  # an override for a missing slug


def test_dry_run_json_needs_no_backend(wordpress, agent):
    site = wordpress("main")
    config = site_config(site, None)
    del config["sites"][0]["api_key"]
    agent.write_config(config)

    run = agent.run("sync", "--dry-run", "--json")

    assert run.returncode == 0, run.stderr
    output = run.json()
    assert list(output) == ["blog"]
    assert label_and_count(output["blog"]) == expected_payload_part(site)
    assert not agent.state_dir.exists()


def test_status_reports_last_result(wordpress, backend, agent):
    site = wordpress("main")
    agent.write_config(site_config(site, backend.url))
    assert agent.run("sync").returncode == 0
    expected = expected_payload_part(site)

    status = agent.run("status", "--json")

    assert status.returncode == 0
    entry = status.json()["blog"]
    assert set(entry) == {
        "last_success",
        "last_attempt",
        "last_error",
        "integration_id",
        "post_types_count",
        "taxonomies_count",
    }
    assert entry["last_error"] is None
    assert entry["last_success"] == entry["last_attempt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["last_success"])
    assert entry["integration_id"] == INTEGRATION_ID
    assert entry["post_types_count"] == len(expected["post_types"])
    assert entry["taxonomies_count"] == len(expected["taxonomies"])
    assert "blog: OK at " in agent.run("status").stdout


# --- WordPress access problems --------------------------------------------------


def test_private_rest_without_credentials_says_what_to_do(wordpress, backend, agent):
    site = wordpress("private")
    agent.write_config(site_config(site, backend.url, credentials=False))

    run = agent.run("sync")

    assert run.returncode == 1
    assert "refuses anonymous REST requests" in run.stderr
    assert "sites[0].wordpress.username" in run.stderr
    assert backend.posts() == []


def test_wrong_application_password_is_one_clear_error(wordpress, backend, agent):
    site = wordpress("main")
    config = site_config(site, backend.url)
    config["sites"][0]["wordpress"]["app_password"] = "abcd efgh ijkl mnop qrst uvwx"
    agent.write_config(config)

    run = agent.run("sync")

    assert run.returncode == 1
    assert "did not accept the application password" in run.stderr
    assert "sites[0].wordpress.app_password" in run.stderr
    assert "abcd efgh" not in run.stderr + run.stdout


def test_credentials_ignored_over_plain_http_are_reported(wordpress, backend, agent):
    site = wordpress("production-http")
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 1
    assert "ignored the application password" in run.stderr
    assert "HTTPS" in run.stderr
    assert backend.posts() == []


def test_unreachable_wordpress_fails_only_that_site(wordpress, backend, agent):
    site = wordpress("main")
    config = site_config(site, backend.url)
    broken = json.loads(json.dumps(config["sites"][0]))
    broken.update(name="gone", wordpress={"url": "http://127.0.0.1:9"})
    config["sites"].insert(0, broken)
    config["backend"]["max_attempts"] = 2
    agent.write_config(config)

    run = agent.run("sync")

    assert run.returncode == 1
    assert "[gone]" in run.stderr and "gone" in run.stderr.splitlines()[-1]
    assert len(backend.posts()) == 1  # the other site was pushed
    status = agent.run("status", "--json").json()
    assert status["gone"]["last_error"] and status["blog"]["last_error"] is None


# --- the backend's answers ------------------------------------------------------


def test_503_with_retry_after_is_retried_then_stored(wordpress, backend, agent):
    site = wordpress("main")
    backend.script(
        "POST",
        "/update-structure/",
        [
            Fault(status=503, headers={"Retry-After": "1"}),
            Fault(status=503, headers={"Retry-After": "1"}),
        ],
    )
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    posts = backend.posts()
    assert len(posts) == 3
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # Retry-After honoured
    assert INTEGRATION_ID in backend.stored
    assert run.stderr.count("try 2 of 3") == 1 and "try 3 of 3" in run.stderr


def test_retry_after_beyond_the_budget_gives_up_at_once(wordpress, backend, agent):
    site = wordpress("main")
    backend.script(
        "POST", "/update-structure/", [Fault(status=503, headers={"Retry-After": "3600"})]
    )
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 1
    assert len(backend.posts()) == 1
    assert "answered 503" in run.stderr
    assert "asked to retry after 3600 s, past the retry budget of 30 s" in run.stderr


def test_transient_failures_exhaust_max_attempts(wordpress, backend, agent):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [Fault(status=502)] * 3)
    config = site_config(site, backend.url)
    config["backend"]["max_retry_seconds"] = 10
    agent.write_config(config)

    run = agent.run("sync")

    assert run.returncode == 1
    assert len(backend.posts()) == 3
    assert "gave up after 3 tries" in run.stderr
    assert "gave up after 3 tries" in agent.run("status", "--json").json()["blog"]["last_error"]


@pytest.mark.parametrize("fault", [Fault(drop=True), Fault(reset=True)], ids=["dropped", "reset"])
def test_dropped_connection_is_retried(wordpress, backend, agent, fault):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [fault])
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    assert len(backend.posts()) == 2
    assert INTEGRATION_ID in backend.stored


def test_rejected_payload_is_not_retried_and_quoted(wordpress, backend, agent):
    site = wordpress("main")
    message = "post_types.post.count: too many " + "x" * 600
    backend.script(
        "POST", "/update-structure/", [Fault(status=400, body={"success": False, "error": message})]
    )
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 1
    assert len(backend.posts()) == 1
    assert "post_types.post.count: too many xxx" in run.stderr
    assert "x" * 501 not in run.stderr


@pytest.mark.parametrize("status", [401, 403])
def test_refused_api_key_says_check_it(wordpress, backend, agent, status):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [Fault(status=status)])
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 1
    assert len(backend.posts()) == 1
    assert "check sites[0].api_key" in run.stderr


def test_wrong_api_key_on_lookup(wordpress, backend, agent):
    site = wordpress("main")
    config = site_config(site, backend.url)
    config["sites"][0]["api_key"] = "not-the-right-key-at-all"
    agent.write_config(config)

    run = agent.run("sync")

    assert run.returncode == 1
    assert "check sites[0].api_key" in run.stderr
    assert "not-the-right-key-at-all" not in run.stderr


def test_no_wordpress_integration_tells_to_create_it(wordpress, backend, agent):
    site = wordpress("main")
    backend.remove_integration(INTEGRATION_ID)
    backend.add_integration(Integration(id=77, site_id=SITE_ID, platform="shopify"))
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 1
    assert "create the WordPress integration" in run.stderr
    assert backend.posts() == []


def test_stale_configured_integration_is_replaced_and_remembered(wordpress, backend, agent):
    site = wordpress("main")
    agent.write_config(site_config(site, backend.url, integration_id=999))

    first = agent.run("sync")

    assert first.returncode == 0, first.stderr
    assert [p.path.split("/")[-3] for p in backend.posts()] == ["999", str(INTEGRATION_ID)]
    assert "configured integration_id 999 is stale" in first.stderr
    backend.requests.clear()

    second = agent.run("sync")

    assert second.returncode == 0, second.stderr
    assert [r.method for r in backend.requests] == ["POST"]  # no lookup, no 404
    assert backend.posts()[0].path.endswith(f"/{INTEGRATION_ID}/update-structure/")
    assert agent.run("status", "--json").json()["blog"]["integration_id"] == INTEGRATION_ID


def test_lookup_result_is_remembered(wordpress, backend, agent):
    site = wordpress("main")
    agent.write_config(site_config(site, backend.url))
    assert agent.run("sync").returncode == 0
    backend.requests.clear()

    assert agent.run("sync").returncode == 0
    assert [r.method for r in backend.requests] == ["POST"]


@pytest.mark.parametrize("shape", ["bare", "results", "data", "success_data"])
def test_every_integration_list_shape(wordpress, agent, shape):
    from tests.support.backend_standin import BackendStandin

    site = wordpress("main")
    integrations = [
        Integration(id=40, site_id=SITE_ID, platform="wordpress", is_active=False),
        Integration(id=41, site_id=SITE_ID, platform="wordpress"),
    ]
    with BackendStandin(
        api_keys={SITE_ID: API_KEY}, integrations=integrations, list_shape=shape
    ) as backend:
        agent.write_config(site_config(site, backend.url.rstrip("/") + "/"))
        run = agent.run("sync")
        assert run.returncode == 0, run.stderr
        assert list(backend.stored) == [41]


# --- lock, config, secrets ----------------------------------------------------------


def test_sync_exits_75_while_another_pass_holds_the_lock(wordpress, backend, agent):
    site = wordpress("main")
    agent.write_config(site_config(site, backend.url))
    agent.state_dir.mkdir()
    with open(agent.state_dir / "sync.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = agent.run("sync")
    assert run.returncode == 75
    assert backend.requests == []


def test_invalid_config_contacts_nothing(wordpress, backend, agent):
    site = wordpress("main")
    config = site_config(site, backend.url)
    config["sites"][0]["defaults"] = {"fetch_limit": 0}
    config["sites"].append({"name": "second", "site_id": "x", "wordpress": {"url": "nope"}})
    agent.write_config(config)

    run = agent.run("sync")

    assert run.returncode == 2
    assert "sites[0].defaults.fetch_limit" in run.stderr
    assert "sites[1].site_id" in run.stderr
    assert "sites[1].wordpress.url" in run.stderr
    assert "sites[1].api_key" in run.stderr
    assert backend.requests == []


def test_check_config(wordpress, agent):
    site = wordpress("main")
    agent.write_config(site_config(site, "http://127.0.0.1:9/api"))
    run = agent.run("check-config")
    assert run.returncode == 0, run.stderr
    assert "1 site" in run.stdout


def test_unknown_site_is_a_usage_error(wordpress, backend, agent):
    agent.write_config(site_config(wordpress("main"), backend.url))
    run = agent.run("sync", "--site", "nope")
    assert run.returncode == 2
    assert "no site named 'nope'" in run.stderr


def test_world_readable_config_with_a_secret_warns(wordpress, backend, agent):
    agent.write_config(site_config(wordpress("main"), backend.url))
    agent.config_path.chmod(0o644)
    run = agent.run("check-config")
    assert run.returncode == 0
    assert "readable by other users" in run.stderr


def test_secrets_never_leave_the_agent(wordpress, backend, agent):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [Fault(status=503), Fault(status=400)])
    agent.write_config(site_config(site, backend.url))

    runs = [
        agent.run("--log-level", "debug", "sync"),
        agent.run("--log-level", "debug", "sync", "--json"),
        agent.run("--log-level", "debug", "sync", "--dry-run", "--json"),
        agent.run("--log-level", "debug", "connect"),
        agent.run("status", "--json"),
        agent.run("status"),
    ]

    everything = "".join(r.stdout + r.stderr for r in runs) + agent.state_files_text()
    assert API_KEY not in everything
    assert site.app_password not in everything
    assert site.app_password.replace(" ", "") not in everything
    assert "Authorization" not in everything and "Bearer" not in everything
