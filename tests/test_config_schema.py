"""The one description of the config (agent/config/schema.py) and what is made from it:
the dataclasses' fields and defaults, config.example.yaml, the JSON Schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agent.config import load_config
from agent.config import model as model
from agent.config.docs import example_yaml, json_schema, json_schema_text
from agent.config.schema import OVERRIDES, SCHEMA, SECTION, SITES, Key
from agent.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.yaml"
SCHEMA_FILE = REPO / "agent" / "config" / "config.schema.json"

# Each section of the schema and the dataclass that holds it; fields that no key
# gives (where a site came from, the config's own path and warnings) are listed.
MODELS: list[tuple[str, type, set[str]]] = [
    ("", model.Config, {"path", "warnings"}),
    ("backend", model.BackendConfig, set()),
    ("sites", model.SiteConfig, {"key_path"}),
    ("sites.wordpress", model.WordPressConfig, set()),
    ("sites.defaults", model.ContentSettings, set()),
    ("sites.post_types", model.ContentOverride, set()),
    ("schedule", model.ScheduleConfig, set()),
    ("metrics", model.MetricsConfig, set()),
    ("monitoring", model.MonitoringConfig, set()),
]


def section(path: str) -> Key:
    key = SCHEMA
    for name in filter(None, path.split(".")):
        key = key.child(name)
    return key


@pytest.mark.parametrize(("path", "cls", "extra"), MODELS, ids=[m[0] or "top" for m in MODELS])
def test_every_key_has_a_field_and_every_field_a_key(path: str, cls: type, extra: set[str]) -> None:
    keys = {key.name for key in section(path).keys}
    names = {field.name for field in dataclasses.fields(cls)}
    assert names - extra == keys


def test_every_section_of_the_schema_has_its_dataclass() -> None:
    def sections(key: Key, path: str) -> list[str]:
        found = [path] if key.kind in (SECTION, SITES, OVERRIDES) else []
        for child in key.keys:
            found += sections(child, f"{path}.{child.name}".lstrip("."))
        return found

    covered = {path for path, _, _ in MODELS} | {"sites.taxonomies"}  # like post_types
    assert set(sections(SCHEMA, "")) == covered


def test_the_dataclasses_take_their_defaults_from_the_schema() -> None:
    for path, cls, _ in MODELS:
        for field in dataclasses.fields(cls):
            try:
                key = section(path).child(field.name)
            except StopIteration:
                continue
            if key.default is None or field.default is dataclasses.MISSING:
                continue
            assert field.default == key.default, f"{path}.{field.name}"


def test_config_example_yaml_is_generated_from_the_schema() -> None:
    assert EXAMPLE.read_text() == example_yaml(), (
        "config.example.yaml is out of date: run  igny8-agent config-example > config.example.yaml"
    )


def test_the_packaged_json_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == json_schema_text(), (
        "run  igny8-agent config-schema > agent/config/config.schema.json"
    )


def test_the_example_loads_with_every_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IGNY8_API_KEY", "example-api-key-0123456789")
    path = tmp_path / "config.yaml"
    path.write_text(EXAMPLE.read_text())
    path.chmod(0o600)
    config = load_config(path)
    site = config.sites[0]
    assert (site.name, site.site_id, site.wordpress.url) == (
        "main-blog",
        5,
        "https://blog.example.com",
    )
    assert site.wordpress == model.WordPressConfig(url="https://blog.example.com")
    assert site.defaults == model.ContentSettings()
    assert config.schedule == model.ScheduleConfig()
    assert config.backend == model.BackendConfig(url="https://api.igny8.com/api")
    assert config.parallel_sites == model.Config.parallel_sites  # type: ignore[attr-defined]
    # The contract's defaults (§5, §10), written out: the lines above only prove that the
    # example and the dataclasses agree, which they would on a wrong default too.
    wordpress, backend, schedule = site.wordpress, config.backend, config.schedule
    assert (wordpress.xmlrpc, wordpress.timeout, wordpress.verify) == ("auto", 30, True)
    assert (wordpress.max_connections, wordpress.deadline) == (6, 120)
    assert (backend.timeout, backend.verify, backend.max_attempts) == (30, True, 5)
    assert backend.max_retry_seconds == 300
    assert (schedule.cron, schedule.timezone, schedule.jitter_seconds) == ("0 3 * * *", "UTC", 1800)
    assert (schedule.retry_failed_every, schedule.check_every) == (900, 3600)
    assert (site.defaults.enabled, site.defaults.fetch_limit) == (True, 100)
    assert (site.plugin_connection_enabled, site.two_way_sync_enabled) == (True, True)
    assert (config.parallel_sites, config.log_level) == (16, "info")


def validator() -> Any:
    return jsonschema.Draft202012Validator(json_schema())


def test_the_json_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_the_example_satisfies_the_json_schema() -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    assert list(validator().iter_errors(document)) == []


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (
            {
                "sites": [
                    {
                        "name": "a",
                        "site_id": 1,
                        "wordpress": {"url": "https://a.example"},
                        "api_kye": "x",
                    }
                ]
            },
            "api_kye",
        ),
        ({"sites": [], "parallel_sites": 0}, "parallel_sites"),
        ({"sites": [], "log_level": "loud"}, "log_level"),
        (
            {"sites": [{"name": "a b", "site_id": 1, "wordpress": {"url": "https://a.example"}}]},
            "name",
        ),
    ],
)
def test_the_json_schema_flags_what_the_agent_refuses(document: dict[str, Any], where: str) -> None:
    errors = list(validator().iter_errors(document))
    assert errors and any(where in json.dumps(list(e.absolute_path) + [e.message]) for e in errors)


def test_the_json_schema_accepts_env_references_for_numbers() -> None:
    document = {"parallel_sites": "${PARALLEL}", "sites": []}
    assert list(validator().iter_errors(document)) == []


SITE = {"name": "a", "site_id": 1, "api_key": "key-0123456789"}


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"sites": [{**SITE, "wordpress": {"url": "https://a.example"}}]}, True),
        ({"sites": [SITE]}, False),  # no wordpress
        ({"parallel_sites": 4}, False),  # neither sites nor sites_dir
        ({"sites": [], "sites_dir": "sites.d", "parallel_sites": "4"}, True),
        ({"sites": [], "sites_dir": "sites.d", "parallel_sites": "four"}, False),
        ({"sites": [], "sites_dir": "sites.d", "schedule": {"check_every": " 3600 "}}, True),
        ({"sites": [], "sites_dir": "sites.d", "backend": {"timeout": "2.5"}}, True),
        ({"sites": [], "sites_dir": "sites.d", "backend": {"verify": "no"}}, True),
        ({"sites": [], "sites_dir": "sites.d", "metrics": {"listen": ":9817"}}, True),
        ({"sites": [], "sites_dir": "sites.d", "metrics": {"listen": "9817"}}, False),
    ],
)
def test_the_json_schema_and_the_agent_agree(
    tmp_path: Path, document: dict[str, Any], valid: bool
) -> None:
    """An editor flags what check-config refuses, and nothing it accepts."""
    (tmp_path / "sites.d").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    try:
        load_config(path, require_backend=False)
        agent_accepts = True
    except ConfigError:
        agent_accepts = False
    schema_accepts = not list(validator().iter_errors(document))
    assert (agent_accepts, schema_accepts) == (valid, valid)


def test_the_commands_print_them(capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    assert main(["config-example"]) == 0
    assert capsys.readouterr().out == example_yaml()
    assert main(["config-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()
