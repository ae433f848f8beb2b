"""config.example.yaml and the JSON Schema, both made from `schema.SCHEMA`.

`igny8-agent config-example` and `igny8-agent config-schema` print them; the
committed `config.example.yaml` and the packaged `config.schema.json` are their
output, and a test fails when either is out of date.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from agent.config.schema import (
    BOOLEAN,
    CHOICE,
    INTEGER,
    LISTEN,
    NAME,
    NAMES,
    NEEDED_TO_PUSH,
    NUMBER,
    OVERRIDES,
    SCHEMA,
    SECTION,
    SITES,
    TLS,
    URL,
    Key,
)

COMMENT_COLUMN = 36
WIDTH = 100
HEADER = """\
# igny8-agent configuration — every key, with its default.
# Generated from agent/config/schema.py by `igny8-agent config-example`.
#
# Path: --config PATH, else $IGNY8_AGENT_CONFIG, else /etc/igny8-agent/config.yaml.
# Check it with:  igny8-agent check-config
# For editors: the JSON Schema is `igny8-agent config-schema` (also installed as
# agent/config/config.schema.json in the package).
#
# ${NAME} anywhere in a string is replaced by the environment variable NAME
# (an unset one is an error). Keys ending in _file read a secret from a file
# (trailing newline stripped); a relative name is looked up in
# $CREDENTIALS_DIRECTORY (systemd LoadCredential=) first, then beside this file.
# Keep secrets out of this file, or make it unreadable to other users
# (chmod 600): the agent warns otherwise. Commented-out keys are optional and
# have no default; the value shown is an example.
"""
ENV_REFERENCE_PATTERN = r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$"
# Strings the agent reads as numbers and flags (values.py: as_int, float(), as_bool); a
# bound checked on the number is not checked on its text.
INTEGER_TEXT = r"^\s*-?[0-9]+\s*$"
NUMBER_TEXT = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
BOOLEAN_TEXT = (
    r"^\s*(true|True|TRUE|yes|Yes|YES|on|On|ON|1|false|False|FALSE|no|No|NO|off|Off|OFF|0)\s*$"
)


# --- config.example.yaml -------------------------------------------------------------------


def example_yaml() -> str:
    lines: list[str] = []
    for key in SCHEMA.keys:
        lines.append("")
        lines += _key_lines(key, indent="")
    return HEADER + "\n".join(lines) + "\n"


def _key_lines(key: Key, indent: str, dash: bool = False) -> list[str]:
    """The lines of one key: `name: value  # help`, commented out when optional without a
    default; a section's keys below it. `dash`: the first key of a list entry."""
    lead = indent[:-2] + "- " if dash else indent
    help_text = _help(key)
    if key.kind in (SECTION, SITES):
        lines = _with_help(lead, f"{key.name}:", help_text, indent)
        for number, child in enumerate(key.keys):
            if key.kind == SITES:
                lines += _key_lines(child, indent + "    ", dash=number == 0)
            else:
                lines += _key_lines(child, indent + "  ")
        return lines
    value = key.default if key.default is not None else key.example
    comment = "" if key.show else "# "
    lines = _with_help(lead, f"{comment}{key.name}: {_yaml_scalar(value)}", help_text, indent)
    if key.secret:
        file_line = f"# {key.name}_file: {key.name.replace('_', '-')}"
        lines += _with_help(indent, file_line, f"... or read {key.name} from this file", indent)
    return lines


def _with_help(lead: str, text: str, help_text: str, indent: str) -> list[str]:
    """`text` with its help as a comment: at the end of the line if it fits, else above."""
    line = lead + text
    if len(line) < COMMENT_COLUMN - 1 and COMMENT_COLUMN + len(help_text) + 2 <= WIDTH:
        return [f"{line.ljust(COMMENT_COLUMN - 1)} # {help_text}"]
    wrapped = textwrap.wrap(help_text, WIDTH - len(indent) - 2)
    return [f"{indent}# {part}" for part in wrapped] + [line]


def _help(key: Key) -> str:
    if key.required is True:
        return f"required: {key.help}"
    if key.required == NEEDED_TO_PUSH:
        return f"required (not by `sync --dry-run` nor `status`): {key.help}"
    return key.help


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str) and value.startswith("${"):
        return value  # YAML reads it as a plain string
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1000)
    return text.removesuffix("\n...\n").strip()


# --- the JSON Schema -------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    document = _object(SCHEMA)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://igny8.com/schemas/igny8-agent-config.json",
        "title": "igny8-agent configuration",
        **document,
        "anyOf": [{"required": ["sites"]}, {"required": ["sites_dir"]}],
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _object(key: Key) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for child in key.keys:
        properties[child.name] = _property(child)
        if child.secret:
            properties[f"{child.name}_file"] = {
                "type": "string",
                "description": f"a file holding {child.name} (relative: in "
                "$CREDENTIALS_DIRECTORY, else beside the config)",
            }
        if child.required is True and not child.secret:
            required.append(child.name)
    schema: dict[str, Any] = {
        "type": "object",
        "description": key.help,
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _property(key: Key) -> dict[str, Any]:
    if key.kind == SECTION:
        return {**_object(key), "type": ["object", "null"]}  # all its keys commented out: null
    if key.kind == SITES:
        return {"type": "array", "description": key.help, "items": _object(key)}
    if key.kind == OVERRIDES:
        return {"type": "object", "description": key.help, "additionalProperties": _object(key)}
    schema = _value_schema(key)
    schema["description"] = key.help
    if key.default is not None:
        schema["default"] = list(key.default) if isinstance(key.default, tuple) else key.default
    if key.secret:
        schema["writeOnly"] = True
    return schema


def _value_schema(key: Key) -> dict[str, Any]:
    if key.kind == INTEGER:
        schema: dict[str, Any] = {"type": "integer"}
        if key.minimum is not None:
            schema["minimum"] = int(key.minimum)
        if key.maximum is not None:
            schema["maximum"] = int(key.maximum)
        return _or_env(schema, INTEGER_TEXT)
    if key.kind == NUMBER:
        schema = {"type": "number"}
        if key.above is not None:
            schema["exclusiveMinimum"] = key.above
        return _or_env(schema, NUMBER_TEXT)
    if key.kind == BOOLEAN:
        return _or_env({"type": "boolean"}, BOOLEAN_TEXT)
    if key.kind == CHOICE:
        return {"enum": list(key.choices)}
    if key.kind == TLS:
        return {"anyOf": [{"type": "boolean"}, {"type": "string"}]}
    if key.kind == NAMES:
        return {"type": "array", "items": {"type": "string", "minLength": 1}}
    if key.kind == NAME:
        return {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
    if key.kind == URL:
        return {"type": "string", "pattern": "^(https?://|\\$\\{)"}
    if key.kind == LISTEN:
        return {"type": "string", "pattern": ":[0-9]+$"}
    return {"type": "string"}


def _or_env(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Also a ${VAR} reference, which the agent reads as the variable's value, or the
    value written as a string (`text`, a pattern), which the agent reads the same way."""
    pattern = f"{ENV_REFERENCE_PATTERN}|{text}"
    return {"anyOf": [schema, {"type": "string", "pattern": pattern}]}
