"""The state dir (agent.state), the pass lock (agent.lock) and which integration id is used."""

from __future__ import annotations

import json
import os
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
from agent.state import SiteState, StateStore
from agent.sync import PassOptions, integration_id_to_use, run_pass
from tests.support.backend_standin import BackendStandin, Fault, Integration
from tests.support.tiny_wordpress import tiny_wordpress

STATUS_KEYS = {"last_success", "last_attempt", "last_error", "integration_id",
               "post_types_count", "taxonomies_count"}


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state")
    store.ensure_dir()
    return store


def a_state(**changes: object) -> SiteState:
    state = SiteState(last_success="2025-11-22T10:00:00Z", last_attempt="2025-11-22T10:00:00Z",
                      last_error=None, integration_id=123, post_types_count=3,
                      taxonomies_count=2)
    return replace(state, **changes)


# --- state ---------------------------------------------------------------------------------


def test_save_and_load_round_trip(store: StateStore) -> None:
    sites = {"main-blog": a_state(), "shop": a_state(last_error="boom", integration_id=None)}
    store.save(sites)
    loaded = store.load()
    assert {name: s.status() for name, s in loaded.items()} == \
        {name: s.status() for name, s in sites.items()}


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "nothing-here").load() == {}


def test_update_keeps_the_other_sites(store: StateStore) -> None:
    store.save({"a": a_state(integration_id=1), "b": a_state(integration_id=2)})
    store.update("b", a_state(integration_id=22))
    loaded = store.load()
    assert loaded["a"].integration_id == 1
    assert loaded["b"].integration_id == 22


def test_save_leaves_no_temp_files(store: StateStore) -> None:
    for number in range(5):
        store.update(f"site{number}", a_state())
    assert sorted(p.name for p in store.dir.iterdir()) == ["state.json"]
    json.loads((store.dir / "state.json").read_text())


def test_crash_between_write_and_rename_keeps_the_old_file(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save({"main-blog": a_state(integration_id=111)})
    before = (store.dir / "state.json").read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(StateError):
        store.save({"main-blog": a_state(integration_id=222)})
    monkeypatch.undo()
    assert (store.dir / "state.json").read_bytes() == before
    assert sorted(p.name for p in store.dir.iterdir()) == ["state.json"]
    assert store.load()["main-blog"].integration_id == 111


def test_interrupt_during_save_keeps_the_old_file(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save({"main-blog": a_state(integration_id=111)})

    def interrupted(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    monkeypatch.setattr(os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save({"main-blog": a_state(integration_id=222)})
    monkeypatch.undo()
    assert store.load()["main-blog"].integration_id == 111
    assert sorted(p.name for p in store.dir.iterdir()) == ["state.json"]


def test_corrupt_state_file_does_not_stop_the_agent(store: StateStore) -> None:
    (store.dir / "state.json").write_text('{"version": 1, "sites": {"a": {"last_su')
    assert store.load() == {}
    store.update("a", a_state())
    assert store.load()["a"].integration_id == 123


def test_status_has_exactly_the_six_contract_keys() -> None:
    status = a_state(last_error="IGNY8 refused").status()
    assert set(status) == STATUS_KEYS
    assert status == {
        "last_success": "2025-11-22T10:00:00Z", "last_attempt": "2025-11-22T10:00:00Z",
        "last_error": "IGNY8 refused", "integration_id": 123, "post_types_count": 3,
        "taxonomies_count": 2,
    }


def test_status_of_a_site_never_synced_is_all_null() -> None:
    status = SiteState().status()
    assert set(status) == STATUS_KEYS
    assert all(value is None for value in status.values())


def test_status_round_trips_through_json(store: StateStore) -> None:
    store.save({"a": a_state()})
    status = store.load()["a"].status()
    assert json.loads(json.dumps(status)) == status


def test_state_file_holds_no_secret(store: StateStore) -> None:
    # SiteState has no field for a secret; whatever is saved is only what status shows
    # plus bookkeeping about integration ids.
    store.save({"main-blog": a_state()})
    document = json.loads((store.dir / "state.json").read_text())
    entry = document["sites"]["main-blog"]
    assert set(entry) >= STATUS_KEYS
    for key in set(entry) - STATUS_KEYS:
        assert "integration" in key, f"unexpected field {key!r} in the state file"
    text = (store.dir / "state.json").read_text().lower()
    for word in ("api_key", "password", "bearer", "authorization"):
        assert word not in text


def test_state_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError):
        StateStore(blocker / "state").ensure_dir()


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
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from agent.lock import pass_lock\n"
         f"with pass_lock(Path({str(tmp_path)!r})):\n"
         "    print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
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
    return SiteConfig(key_path="sites[0]", name="blog", site_id=5, api_key=Secret("k"),
                      wordpress=WordPressConfig(url="https://blog.example.com"),
                      integration_id=integration_id)


def test_configured_id_is_used() -> None:
    assert integration_id_to_use(site(123), SiteState()) == 123


def test_remembered_id_is_used_when_none_is_configured() -> None:
    assert integration_id_to_use(site(None), SiteState(integration_id=77)) == 77


def test_nothing_configured_nor_remembered_needs_a_lookup() -> None:
    assert integration_id_to_use(site(None), SiteState()) is None


def test_configured_id_wins_over_a_plainly_remembered_one() -> None:
    state = SiteState(integration_id=77)  # found by an earlier lookup, before it was configured
    assert integration_id_to_use(site(123), state) == 123


def test_lookup_replaces_the_stale_configured_id() -> None:
    state = SiteState(integration_id=456, integration_id_replaces=123)
    assert integration_id_to_use(site(123), state) == 456
    assert integration_id_to_use(site(123), state) == 456  # and keeps doing so


def test_new_configured_id_ends_the_replacement() -> None:
    state = SiteState(integration_id=456, integration_id_replaces=123)
    assert integration_id_to_use(site(789), state) == 789
    assert integration_id_to_use(site(123), state) == 123  # the replacement is forgotten


def test_replacement_survives_a_save_and_load(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save({"blog": SiteState(integration_id=456, integration_id_replaces=123)})
    assert integration_id_to_use(site(123), store.load()["blog"]) == 456
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
        backend.script("POST", "/update-structure/", [
            Fault(status=401, body={"success": False, "error": f"API key {key} is revoked"}),
        ])
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
        assert key not in written.read_text(errors="replace")
