"""The command line: parse, load the config, run a command, map errors to exit codes.

This is the only place where the agent's exceptions become messages and
exit statuses (CONTRACT §6):
  0 every site succeeded, 1 at least one site failed,
  2 bad usage or invalid config (nothing contacted), 75 another pass holds the lock.

Each command imports what it needs when it runs: `--version`, `status` and
`check-config` never load the HTTP stack, the WordPress readers or the
scheduler (bench/startup.py measures it).
"""

from __future__ import annotations

import os
import sys

from agent import __version__
from agent.errors import AgentError, ConfigError, LockHeld

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (--version is fast)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from datetime import datetime
    from typing import Any

    from agent.config import Config
    from agent.sync import SiteResult

EXIT_OK = 0
EXIT_SITE_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # EX_TEMPFAIL
DEFAULT_MAX_AGE_HOURS = 36.0


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        print(f"igny8-agent {__version__}")  # at once: nothing else to load
        return EXIT_OK
    args = _parser().parse_args(argv)
    if args.command == "run":
        from agent.signals import DaemonSignals

        DaemonSignals().install()  # from now on, not only once the config has loaded
    from agent.logs import setup_logging, site_log

    setup_logging(args.log_level or "info")
    log = site_log("agent", "agent.cli")
    try:
        if not args.needs_config:
            status: int = args.handler(args)
            return status
        config = _load(args)
        status = args.handler(args, config)
        return status
    except BrokenPipeError:  # `igny8-agent status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ConfigError as exc:
        print(f"igny8-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _UsageError as exc:
        print(f"igny8-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LockHeld as exc:
        log.warning("%s", exc)
        return EXIT_LOCKED
    except AgentError as exc:
        log.error("%s", exc)
        return EXIT_SITE_FAILED
    except KeyboardInterrupt:
        return 130


class _UsageError(Exception):
    pass


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="config file (default: $IGNY8_AGENT_CONFIG, else /etc/igny8-agent/config.yaml)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=default,
        help="overrides log_level from the config",
    )


def _parser() -> argparse.ArgumentParser:
    import argparse
    import functools

    parser = argparse.ArgumentParser(
        prog="igny8-agent",
        description="Push each WordPress site's structure (post types, taxonomies, counts) "
        "to the IGNY8 backend.",
    )
    _add_global_options(parser, default=None)
    parser.add_argument("--version", action="version", version=f"igny8-agent {__version__}")
    # The global options are also taken after the command (`sync --config x.yaml`);
    # there they default to "not given", so that one given before the command stands.
    after_command = argparse.ArgumentParser(add_help=False)
    _add_global_options(after_command, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.set_defaults(needs_config=True)
    add_command = functools.partial(commands.add_parser, parents=[after_command])

    check = add_command("check-config", help="validate the config, contact nothing")
    check.set_defaults(handler=_check_config)

    connect = add_command(
        "connect", help="check WordPress and backend access, find the integration, push now"
    )
    connect.add_argument("--site", metavar="NAME", help="only this site")
    connect.set_defaults(handler=_connect)

    sync = add_command("sync", help="one pass over the sites (for cron / systemd timers)")
    sync.add_argument("--site", metavar="NAME", help="only this site")
    sync.add_argument(
        "--dry-run", action="store_true", help="read WordPress and print the payloads; push nothing"
    )
    sync.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sync.set_defaults(handler=_sync)

    run = add_command("run", help="the daemon: a pass at start, then on the schedule")
    run.set_defaults(handler=_run)

    status = add_command("status", help="the last result of each site")
    status_output = status.add_mutually_exclusive_group()
    status_output.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout"
    )
    status_output.add_argument(
        "--check",
        action="store_true",
        help="exit 1 (one line per site on stdout) unless every site's last "
        "attempt succeeded within --max-age; for Nagios, Icinga, OnFailure=",
    )
    status.add_argument(
        "--max-age",
        type=_hours,
        metavar="HOURS",
        help=f"with --check (default {DEFAULT_MAX_AGE_HOURS:g})",
    )
    status.set_defaults(handler=_status)

    example = add_command(
        "config-example", help="print a config documenting every key with its default"
    )
    example.set_defaults(handler=_config_example, needs_config=False)
    schema = add_command("config-schema", help="print the config's JSON Schema, for editors")
    schema.set_defaults(handler=_config_schema, needs_config=False)
    return parser


def _load(args: argparse.Namespace) -> Config:
    from agent.config import default_config_path, load_config
    from agent.logs import mask_secrets, set_level, site_log

    log = site_log("agent", "agent.cli")
    dry_run = args.command == "sync" and args.dry_run
    status = args.command == "status"
    config = load_config(
        args.config or default_config_path(),
        require_backend=not (dry_run or status),
        read_secrets=not status,
    )
    mask_secrets(config.secrets())
    if not args.log_level:
        set_level(config.log_level)
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


# --- commands ----------------------------------------------------------------


def _config_example(args: argparse.Namespace) -> int:
    from agent.config.docs import example_yaml

    sys.stdout.write(example_yaml())
    return EXIT_OK


def _config_schema(args: argparse.Namespace) -> int:
    from agent.config.docs import json_schema_text

    sys.stdout.write(json_schema_text())
    return EXIT_OK


NAMES_SHOWN = 10  # check-config names this many sites; a fleet's thousands stay off the line


def _check_config(args: argparse.Namespace, config: Config) -> int:
    names = ", ".join(site.name for site in config.sites[:NAMES_SHOWN])
    more = len(config.sites) - NAMES_SHOWN
    if more > 0:
        names += f" and {more} more"
    print(f"{config.path}: OK, {len(config.sites)} site(s): {names}")
    return EXIT_OK


def _sync(args: argparse.Namespace, config: Config) -> int:
    from agent.text import printable

    results = _pass(config, args, dry_run=args.dry_run)
    if args.json:
        _print_json(
            {
                r.site: (r.payload if args.dry_run else _result_json(r))
                for r in results
                if r.ok or not args.dry_run
            }
        )
    elif args.dry_run:
        for result in results:
            if result.ok:
                print(f"# {result.site} ({printable(result.source or '')})")
                _print_json(result.payload)
    return _exit_status(results)


def _connect(args: argparse.Namespace, config: Config) -> int:
    results = _pass(config, args)
    for result in results:
        print(_connect_summary(result))
    return _exit_status(results)


def _pass(config: Config, args: argparse.Namespace, *, dry_run: bool = False) -> list[SiteResult]:
    """One pass, watched by the metrics and check-ins the config asks for (not a dry run)."""
    from agent.sync import PassOptions, run_pass

    options = PassOptions(dry_run=dry_run, site_names=_selected_sites(args, config))
    if dry_run:
        return run_pass(config, options)
    from agent.monitoring import monitoring_for

    monitoring = monitoring_for(config)
    options.observers = monitoring.observers
    try:
        return run_pass(config, options)
    finally:
        monitoring.after_pass()


def _run(args: argparse.Namespace, config: Config) -> int:
    from agent.config import default_config_path
    from agent.daemon import Daemon

    config_path = args.config or default_config_path()
    return Daemon(config, config_path, args.log_level).run()


def _status(args: argparse.Namespace, config: Config) -> int:
    from agent.state import SiteState, StateStore
    from agent.text import printable

    if args.max_age is not None and not args.check:
        raise _UsageError("--max-age goes with --check")
    try:
        with StateStore(config.state_dir, read_only=True) as store:
            states = store.load()
    except AgentError as exc:
        if not args.check:
            raise
        print(printable(f"UNKNOWN: {exc}"))  # a monitor reads stdout
        return EXIT_SITE_FAILED
    report = {site.name: states.get(site.name, SiteState()).status() for site in config.sites}
    if args.check:
        return _check(report, args.max_age or DEFAULT_MAX_AGE_HOURS)
    if args.json:
        _print_json(report)
        return EXIT_OK
    failing = [name for name, entry in report.items() if _is_failing(entry)]
    others = [name for name in report if name not in failing]
    for name in failing + others:  # what needs a look first
        print(_status_line(name, report[name]))
    never = sum(1 for entry in report.values() if entry["last_attempt"] is None)
    print(f"{len(report) - len(failing) - never} ok, {len(failing)} failing, {never} never synced")
    return EXIT_OK


def _check(report: dict[str, dict[str, Any]], max_age_hours: float) -> int:
    """Nagios-style: 0 and one line when every site is fresh, else 1 and a line per site."""
    from datetime import UTC, datetime

    from agent.text import printable

    if not report:
        print("no sites configured (sites, sites_dir): nothing is synced")
        return EXIT_SITE_FAILED
    now = datetime.now(UTC)
    problems = []
    for name, entry in report.items():
        why = _staleness(entry, now, max_age_hours)
        if why:
            problems.append(f"{name}: {why}")
    if problems:
        for line in problems:
            print(printable(line))
        return EXIT_SITE_FAILED
    print(f"OK: {len(report)} site(s), each last synced within {max_age_hours:g} h")
    return EXIT_OK


def _staleness(entry: dict[str, Any], now: datetime, max_age_hours: float) -> str | None:
    """Why a site is not fresh, or None."""
    from datetime import UTC, datetime, timedelta

    from agent.timestamps import parse_iso

    if entry["last_attempt"] is None:
        return "never synced"
    if entry["last_error"] is not None:
        return (
            f"FAILING since {entry['last_attempt']} (last success: "
            f"{entry['last_success'] or 'never'}): {entry['last_error']}"
        )
    last_success = parse_iso(entry["last_success"]) or datetime.min.replace(tzinfo=UTC)
    age = now - last_success
    if age > timedelta(hours=max_age_hours):
        return (
            f"STALE: last success {entry['last_success']}, {age.total_seconds() / 3600:.0f} h "
            f"ago (more than {max_age_hours:g} h): are passes running? see the logs"
        )
    return None


def _hours(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be a positive number of hours: {text!r}")
    return value


def _is_failing(entry: dict[str, Any]) -> bool:
    return entry["last_attempt"] is not None and entry["last_error"] is not None


# --- output ------------------------------------------------------------------


def _selected_sites(args: argparse.Namespace, config: Config) -> list[str]:
    if not args.site:
        return []
    if config.site(args.site) is None:
        known = ", ".join(s.name for s in config.sites)
        raise _UsageError(f"no site named {args.site!r} in {config.path} (sites: {known})")
    return [args.site]


def _exit_status(results: list[SiteResult]) -> int:
    from agent.logs import site_log

    log = site_log("agent", "agent.cli")
    failed = [r for r in results if not r.ok]
    if failed:
        log.error(
            "%d of %d site(s) failed: %s",
            len(failed),
            len(results),
            ", ".join(r.site for r in failed),
        )
        return EXIT_SITE_FAILED
    return EXIT_OK


def _result_json(result: SiteResult) -> dict[str, Any]:
    payload = result.payload if result.ok else None
    return {
        "ok": result.ok,
        "error": result.error,
        "integration_id": result.integration_id,
        "post_types_count": len(payload["post_types"]) if payload else None,
        "taxonomies_count": len(payload["taxonomies"]) if payload else None,
    }


def _connect_summary(result: SiteResult) -> str:
    from agent.text import printable

    if not result.ok or result.payload is None:
        return f"{result.site}: FAILED: {printable(result.error or '')}"
    payload = result.payload
    types = ", ".join(
        f"{printable(slug)} ({e['count']})" for slug, e in payload["post_types"].items()
    )
    taxonomies = ", ".join(
        f"{printable(slug)} ({e['count']})" for slug, e in payload["taxonomies"].items()
    )
    return (
        f"{result.site}: connected — WordPress read over {printable(result.source or '')}; "
        f"pushed to IGNY8 integration {result.integration_id}\n"
        f"  post types: {types or '(none)'}\n"
        f"  taxonomies: {taxonomies or '(none)'}"
    )


def _status_line(name: str, entry: dict[str, Any]) -> str:
    from agent.text import printable

    if entry["last_attempt"] is None:
        return f"{name}: never synced"
    if entry["last_error"] is None:
        return (
            f"{name}: OK at {entry['last_success']}: {entry['post_types_count']} post types "
            f"and {entry['taxonomies_count']} taxonomies pushed to integration "
            f"{entry['integration_id']}"
        )
    return (
        f"{name}: FAILING at {entry['last_attempt']} (last success: "
        f"{entry['last_success'] or 'never'}): {printable(entry['last_error'])}"
    )


def _print_json(value: Any) -> None:
    import json

    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
