"""The shipped systemd units and cron file (CONTRACT §9).

`systemd-analyze verify` checks the units as systemd would load them, and
`systemd-analyze security --offline=true` scores the daemon's hardening; both
need no running systemd. verify insists that ExecStart's program exists, so it
checks copies whose `/usr/local/bin/igny8-agent` is the igny8-agent installed
for the tests: that path is the only change.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
DAEMON, SYNC, TIMER = "igny8-agent.service", "igny8-agent-sync.service", "igny8-agent-sync.timer"
UNITS = (DAEMON, SYNC, TIMER)
CRON = ROOT / "contrib" / "cron" / "igny8-agent"
INSTALLED = "/usr/local/bin/igny8-agent"
MAX_EXPOSURE = 1.5
IN_CI = os.environ.get("CI", "").lower() == "true"

# [Service] settings in which the one-shot unit may differ from the daemon;
# everything else (user, directories, hardening) must be the same.
DIFFERS_BY_DESIGN = {
    "Type",
    "NotifyAccess",
    "ExecStart",
    "ExecReload",
    "WatchdogSec",
    "Restart",
    "RestartSec",
    "RestartPreventExitStatus",
    "TimeoutStopSec",
    "TimeoutStartSec",
    "SuccessExitStatus",
}


# --- helpers -----------------------------------------------------------------


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        reason = "systemd-analyze is not installed (Debian package: systemd)"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: not skipping)")
        pytest.skip(reason)
    return path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [systemd_analyze(), *args],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        timeout=120,
        check=False,
    )


def settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values, in order (unit files repeat keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}: keep settings on one line: {raw}"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a setting: {raw}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def only(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= is set {len(values)} times: {values}"
    return values[0]


def copies_for_verify(tmp_path: Path, command: str) -> list[Path]:
    copies = []
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        copy = tmp_path / name
        copy.write_text(text.replace(INSTALLED, command), encoding="utf-8")
        copies.append(copy)
    return copies


def exposure(unit: Path) -> float:
    result = analyze("security", "--offline=true", str(unit))
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", last)
    assert found, f"no overall exposure in the last line: {last!r}"
    return float(found.group(1))


# --- systemd-analyze ---------------------------------------------------------


def test_units_start_the_installed_command() -> None:
    daemon, sync = settings(SYSTEMD / DAEMON), settings(SYSTEMD / SYNC)
    assert only(daemon, "Service", "ExecStart") == f"{INSTALLED} run"
    assert only(sync, "Service", "ExecStart") == f"{INSTALLED} sync"


def test_systemd_analyze_verify_passes(tmp_path: Path, agent_command: str) -> None:
    result = analyze("verify", "--man=no", *map(str, copies_for_verify(tmp_path, agent_command)))
    # verify reports most problems (unknown keys, bad values) as warnings with
    # exit status 0: any output at all is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_would_notice_a_broken_unit(tmp_path: Path, agent_command: str) -> None:
    """The check above is not vacuous: a misspelt setting makes verify speak."""
    daemon = copies_for_verify(tmp_path, agent_command)[0]
    daemon.write_text(daemon.read_text().replace("[Service]\n", "[Service]\nProtectHom=yes\n"))
    result = analyze("verify", "--man=no", str(daemon))
    assert "ProtectHom" in result.stdout + result.stderr


@pytest.mark.parametrize("name", [DAEMON, SYNC])
def test_exposure_is_low(name: str) -> None:
    score = exposure(SYSTEMD / name)
    assert score <= MAX_EXPOSURE, f"{name}: exposure {score} > {MAX_EXPOSURE}"


# --- what the units must say ---------------------------------------------------


def test_daemon_unit() -> None:
    unit = settings(SYSTEMD / DAEMON)
    service = unit["Service"]
    assert only(unit, "Service", "Type") == "notify"
    assert only(unit, "Service", "NotifyAccess") == "main"
    assert only(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert only(unit, "Service", "WatchdogSec")
    assert only(unit, "Service", "Restart") == "on-failure"
    # The agent exits within 10 s of SIGTERM; systemd must wait longer than that.
    assert int(only(unit, "Service", "TimeoutStopSec")) > 10
    assert only(unit, "Service", "DynamicUser") == "yes"
    assert only(unit, "Service", "StateDirectory") == "igny8-agent"
    assert only(unit, "Service", "StateDirectoryMode") == "0700"
    assert only(unit, "Service", "ConfigurationDirectory") == "igny8-agent"
    assert only(unit, "Service", "MemoryDenyWriteExecute") == "yes"
    # It talks to WordPress sites and the backend.
    assert "PrivateNetwork" not in service
    assert "AF_INET" in only(unit, "Service", "RestrictAddressFamilies").split()
    assert "network-online.target" in unit["Unit"]["After"]
    assert "network-online.target" in unit["Unit"]["Wants"]
    assert only(unit, "Install", "WantedBy") == "multi-user.target"
    example = re.compile(r"^#LoadCredential=[\w.-]+:/etc/igny8-agent/[\w.-]+$", re.M)
    assert example.search((SYSTEMD / DAEMON).read_text())


def test_sync_unit_is_the_daemon_s_twin() -> None:
    daemon, sync = settings(SYSTEMD / DAEMON), settings(SYSTEMD / SYNC)
    assert only(sync, "Service", "Type") == "oneshot"
    # A pass skipped because another holds the lock is not a failure.
    assert "75" in only(sync, "Service", "SuccessExitStatus").split()
    shared = {k: v for k, v in daemon["Service"].items() if k not in DIFFERS_BY_DESIGN}
    assert {k: v for k, v in sync["Service"].items() if k not in DIFFERS_BY_DESIGN} == shared
    assert "WatchdogSec" not in sync["Service"]
    assert "Install" not in sync  # started by the timer


def test_timer() -> None:
    unit = settings(SYSTEMD / TIMER)
    assert only(unit, "Timer", "OnCalendar") == "daily"
    assert only(unit, "Timer", "Persistent") == "true"
    assert only(unit, "Timer", "RandomizedDelaySec")
    assert only(unit, "Install", "WantedBy") == "timers.target"


# --- cron ----------------------------------------------------------------------

CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # m h dom mon dow
ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def cron_field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        spec, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if spec == "*":
            continue
        first, _, last = spec.partition("-")
        numbers = [first, last] if last else [first]
        if not all(n.isdigit() and low <= int(n) <= high for n in numbers):
            return False
    return True


def cron_lines() -> tuple[dict[str, str], list[list[str]]]:
    env: dict[str, str] = {}
    jobs = []
    for line in CRON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if ENV_LINE.match(line):
            key, _, value = line.partition("=")
            env[key] = value
            continue
        jobs.append(line.split(None, 6))
    return env, jobs


def test_cron_file_parses() -> None:
    text = CRON.read_text(encoding="utf-8")
    assert text.endswith("\n"), "cron ignores a last line without a newline"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", CRON.name), "cron.d skips names with a dot"
    env, jobs = cron_lines()
    assert env.get("SHELL") == "/bin/sh"
    assert "/usr/local/bin" in env.get("PATH", "").split(":")
    assert jobs, "no job line"
    for job in jobs:
        assert len(job) == 7, f"want 5 time fields, a user and a command: {job}"
        for field, (low, high) in zip(job[:5], CRON_FIELDS, strict=True):
            assert cron_field_ok(field, low, high), f"bad time field {field!r} in {job}"
        assert job[5] == "root"
        assert job[6].split()[0] == "igny8-agent"
        assert job[6].split()[-1] == "sync"
        assert "--log-level warning" in job[6]
