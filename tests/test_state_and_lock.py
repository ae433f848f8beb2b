"""The state dir (agent.state), the pass lock (agent.lock) and which integration id is used."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.config import SiteConfig, WordPressConfig, load_config
from agent.errors import LockHeld, StateError
from agent.lock import pass_lock
from agent.secret import Secret
from agent.state import HISTORY, Attempt, SiteState, StateStore
from agent.structure import SiteShape
from agent.sync import PassOptions, run_pass, settle_integration_id
from tests.support.backend_standin import BackendStandin, Fault, Integration
from tests.support.tiny_wordpress import tiny_wordpress

STATUS_KEYS = {
    "last_success",
    "last_attempt",
    "last_error",
    "integration_id",
    "post_types_count",
    "taxonomies_count",
}


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state")
    store.ensure_dir()
    return store


def a_state(**changes: object) -> SiteState:
    state = SiteState(
        last_success="2025-11-22T10:00:00Z",
        last_attempt="2025-11-22T10:00:00Z",
        last_error=None,
        integration_id=123,
        post_types_count=3,
        taxonomies_count=2,
    )
    return replace(state, **changes)


# --- state ---------------------------------------------------------------------------------


def test_update_and_load_round_trip(store: StateStore) -> None:
    sites = {"main-blog": a_state(), "shop": a_state(last_error="boom", integration_id=None)}
    for name, state in sites.items():
        store.update(name, state)
    loaded = store.load()
    assert {name: s.status() for name, s in loaded.items()} == {
        name: s.status() for name, s in sites.items()
    }


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "nothing-here").load() == {}


def test_read_only_creates_nothing(tmp_path: Path) -> None:
    with StateStore(tmp_path / "nothing-here", read_only=True) as store:
        assert store.load() == {}
    assert not (tmp_path / "nothing-here").exists()


def test_update_keeps_the_other_sites(store: StateStore) -> None:
    store.update("a", a_state(integration_id=1))
    store.update("b", a_state(integration_id=2))
    store.update("b", a_state(integration_id=22))
    loaded = store.load()
    assert loaded["a"].integration_id == 1
    assert loaded["b"].integration_id == 22


def test_the_last_attempts_are_kept_newest_first(store: StateStore) -> None:
    for number in range(HISTORY + 5):
        store.update(
            "a",
            a_state(),
            Attempt(
                f"2025-11-22T10:00:{number:02d}Z",
                ok=number % 2 == 0,
                requests=number,
                duration_seconds=0.5,
            ),
        )
    store.update("b", a_state(), Attempt("2025-11-22T11:00:00Z", ok=True))
    history = store.history("a")
    assert len(history) == HISTORY
    assert [a.requests for a in history] == list(range(HISTORY + 4, 4, -1))
    assert history[0].ok is True and history[1].ok is False
    assert len(store.history("b")) == 1


def test_a_state_json_of_an_earlier_version_is_imported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "sites": {
                    "blog": {
                        "last_success": "2025-11-22T10:00:00Z",
                        "last_attempt": "2025-11-22T10:00:00Z",
                        "last_error": None,
                        "integration_id": 456,
                        "integration_id_replaces": 123,
                        "post_types_count": 3,
                        "taxonomies_count": 2,
                    },
                    "shop": {
                        "last_attempt": "2025-11-22T10:05:00Z",
                        "last_error": "boom",
                        "integration_id": "not a number",
                    },
                },
            }
        )
    )
    with StateStore(state_dir, read_only=True) as store:  # status before the first pass
        assert store.load()["blog"].integration_id == 456
    assert not (state_dir / "state.db").exists()
    with StateStore(state_dir) as store:
        loaded = store.load()
    assert loaded["blog"].integration_id_replaces == 123
    assert loaded["shop"].last_error == "boom" and loaded["shop"].integration_id is None
    assert not (state_dir / "state.json").exists()
    assert (state_dir / "state.json.imported").is_file()
    assert "imported 2 site(s)" in caplog.text
    with StateStore(state_dir) as store:  # once: a second open imports nothing
        assert store.load()["blog"].integration_id == 456
    assert caplog.text.count("imported 2 site(s)") == 1


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # nested too deeply to parse
        '{"version": 1, "sites": {"a": {"last_su',  # cut off
        '"just a string"',
        '{"sites": [1, 2, 3]}',
    ],
    ids=["nesting-bomb", "truncated", "string", "wrong-shape"],
)
def test_a_state_json_of_any_shape_never_crashes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "state.json").write_text(text)
    with StateStore(state_dir) as store:
        assert store.load() == {}
        store.update("a", a_state())
        assert store.load()["a"].integration_id == 123
    assert "nothing imported" in caplog.text
    assert not (state_dir / "state.json").exists()  # kept, renamed, for a look
    assert len(list(state_dir.glob("state.json.*"))) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign-table"])
def test_an_unusable_database_is_moved_aside_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    state_dir = tmp_path / "state"
    with StateStore(state_dir) as store:
        for number in range(200):
            store.update(f"site{number}", a_state())
    db = state_dir / "state.db"
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        with db.open("r+b") as handle:
            handle.truncate(db.stat().st_size // 2)
    else:
        db.unlink()
        connection = sqlite3.connect(db)
        connection.execute("CREATE TABLE sites (name TEXT)")
        connection.commit()
        connection.close()
    with pytest.raises(StateError) as caught, StateStore(state_dir, read_only=True) as store:
        store.load()  # status: says so, moves nothing
    assert "the next pass" in str(caught.value)
    with StateStore(state_dir) as store:
        assert store.load() == {}
        store.update("a", a_state())
        assert store.load()["a"].integration_id == 123
    moved = list(state_dir.glob("state.db.unusable-*"))
    assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))]
    assert "moved it to" in caplog.text


def test_status_has_exactly_the_six_contract_keys() -> None:
    status = a_state(last_error="IGNY8 refused").status()
    assert set(status) == STATUS_KEYS
    assert status == {
        "last_success": "2025-11-22T10:00:00Z",
        "last_attempt": "2025-11-22T10:00:00Z",
        "last_error": "IGNY8 refused",
        "integration_id": 123,
        "post_types_count": 3,
        "taxonomies_count": 2,
    }


def test_status_of_a_site_never_synced_is_all_null() -> None:
    status = SiteState().status()
    assert set(status) == STATUS_KEYS
    assert all(value is None for value in status.values())


def test_the_database_holds_no_secret_field(store: StateStore) -> None:
    store.update("main-blog", a_state(), Attempt("2025-11-22T10:00:00Z", ok=True))
    connection = sqlite3.connect(store.path)
    columns = {
        table: [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
        for table in ("sites", "attempts")
    }
    connection.close()
    for table, names in columns.items():
        for name in names:
            assert not any(
                word in name for word in ("key", "password", "secret", "token", "auth")
            ), (table, name)


def test_state_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError):
        StateStore(blocker / "state").ensure_dir()


def test_a_shape_hash_follows_slugs_and_labels_not_order() -> None:
    base = SiteShape((("post", "Posts"), ("page", "Pages")), (("category", "Topics"),))
    assert (
        SiteShape((("page", "Pages"), ("post", "Posts")), (("category", "Topics"),)).hash()
        == base.hash()
    )
    assert (
        SiteShape((("post", "News"), ("page", "Pages")), (("category", "Topics"),)).hash()
        != base.hash()
    )
    assert SiteShape((("post", "Posts"),), (("category", "Topics"),)).hash() != base.hash()
    assert SiteShape((("post", "Posts"), ("page", "Pages")), ()).hash() != base.hash()


# --- the pass lock -------------------------------------------------------------------------


def test_lock_held_raises_at_once(tmp_path: Path) -> None:
    with pass_lock(tmp_path):
        with pytest.raises(LockHeld) as caught, pass_lock(tmp_path):
            pass
        assert "sync.lock" in str(caught.value)
    assert (tmp_path / "sync.lock").exists()


def test_lock_is_released_after_the_context(tmp_path: Path) -> None:
    with pass_lock(tmp_path):
        pass
    with pass_lock(tmp_path):
        pass


def test_lock_is_released_when_the_pass_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), pass_lock(tmp_path):
        raise RuntimeError("the pass crashed")
    with pass_lock(tmp_path):
        pass


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from agent.lock import pass_lock\n"
            f"with pass_lock(Path({str(tmp_path)!r})):\n"
            "    print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld), pass_lock(tmp_path):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    with pass_lock(tmp_path):  # released when the other process ended
        pass


def test_lock_in_missing_dir_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError), pass_lock(tmp_path / "missing"):
        pass


# --- which integration id is used ----------------------------------------------------------


def site(integration_id: int | None) -> SiteConfig:
    return SiteConfig(
        key_path="sites[0]",
        name="blog",
        site_id=5,
        api_key=Secret("k"),
        wordpress=WordPressConfig(url="https://blog.example.com"),
        integration_id=integration_id,
    )


def test_configured_id_is_used() -> None:
    assert settle_integration_id(site(123), SiteState()) == 123


def test_remembered_id_is_used_when_none_is_configured() -> None:
    assert settle_integration_id(site(None), SiteState(integration_id=77)) == 77


def test_nothing_configured_nor_remembered_needs_a_lookup() -> None:
    assert settle_integration_id(site(None), SiteState()) is None


def test_configured_id_wins_over_a_plainly_remembered_one() -> None:
    state = SiteState(integration_id=77)  # found by an earlier lookup, before it was configured
    assert settle_integration_id(site(123), state) == 123


def test_lookup_replaces_the_stale_configured_id() -> None:
    state = SiteState(integration_id=456, integration_id_replaces=123)
    assert settle_integration_id(site(123), state) == 456
    assert settle_integration_id(site(123), state) == 456  # and keeps doing so


def test_new_configured_id_ends_the_replacement() -> None:
    state = SiteState(integration_id=456, integration_id_replaces=123)
    assert settle_integration_id(site(789), state) == 789
    assert settle_integration_id(site(123), state) == 123  # the replacement is forgotten


def test_replacement_survives_a_save_and_load(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.update("blog", SiteState(integration_id=456, integration_id_replaces=123))
    assert settle_integration_id(site(123), store.load()["blog"]) == 456
    assert store.load()["blog"].status()["integration_id"] == 456


# --- a failure whose message would carry a secret never reaches the state ------------------


@pytest.fixture
def wordpress_url() -> Iterator[str]:
    with tiny_wordpress() as url:
        yield url


def test_error_echoing_the_api_key_is_masked_in_state(
    tmp_path: Path, wordpress_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "igny8-key-Zq81xY"
    monkeypatch.setenv("T_STATE_KEY", key)
    with BackendStandin(api_keys={5: key}, integrations=[Integration(123, 5)]) as backend:
        backend.script(
            "POST",
            "/update-structure/",
            [
                Fault(status=401, body={"success": False, "error": f"API key {key} is revoked"}),
            ],
        )
        config_path = tmp_path / "config.yaml"
        config_path.write_text(
            f"backend: {{url: '{backend.url}', max_attempts: 1}}\n"
            f"state_dir: '{tmp_path / 'state'}'\n"
            "sites:\n"
            "  - name: blog\n"
            "    site_id: 5\n"
            "    integration_id: 123\n"
            "    api_key: ${T_STATE_KEY}\n"
            f"    wordpress: {{url: '{wordpress_url}'}}\n"
        )
        config_path.chmod(0o600)
        config = load_config(config_path)
        (result,) = run_pass(config, PassOptions(sleep=lambda seconds: None))
        assert len(backend.posts()) == 1  # the push was tried and refused
    assert not result.ok
    status = StateStore(tmp_path / "state").load()["blog"].status()
    assert status["last_error"] is not None
    assert "revoked" in status["last_error"]
    assert key not in status["last_error"]
    for written in (tmp_path / "state").iterdir():
        assert key.encode() not in written.read_bytes()


def test_a_state_write_failing_mid_pass_fails_that_site_only(
    tmp_path: Path, wordpress_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses one site's record (full, read-only): that site fails, saying so;
    the others are pushed and recorded."""
    key = "igny8-key-for-both-sites"
    integrations = [Integration(123, 5), Integration(124, 6)]
    with BackendStandin(api_keys={5: key, 6: key}, integrations=integrations) as backend:
        config_path = tmp_path / "config.yaml"
        config_path.write_text(
            f"backend: {{url: '{backend.url}', max_attempts: 1}}\n"
            f"state_dir: '{tmp_path / 'state'}'\n"
            "sites:\n"
            f"  - {{name: a, site_id: 5, api_key: {key}, wordpress: {{url: '{wordpress_url}'}}}}\n"
            f"  - {{name: b, site_id: 6, api_key: {key}, wordpress: {{url: '{wordpress_url}'}}}}\n"
        )
        config_path.chmod(0o600)
        real_update = StateStore.update

        def update(store: StateStore, name: str, *args: object, **kwargs: object) -> None:
            if name == "a":
                raise StateError(f"cannot use {store.path}: database or disk is full")
            real_update(store, name, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(StateStore, "update", update)
        first, second = run_pass(load_config(config_path), PassOptions(sleep=lambda s: None))
        assert len(backend.posts()) == 2  # both pushed
    assert not first.ok
    assert first.error is not None and first.error.startswith("pushed, but could not record it")
    assert "disk is full" in first.error
    assert second.ok
    assert StateStore(tmp_path / "state").load()["b"].last_error is None
