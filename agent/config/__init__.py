"""The configuration: one YAML file (and optional site files), described key by key
in `schema.py`, read by `loading.py` into the dataclasses of `model.py`.

schema.py    every key once: kind, default, bounds, meaning, secret or not
model.py     the config as the rest of the agent sees it
loading.py   YAML → values → checks → dataclasses; every problem with its key path
values.py    reading one value of each kind
secrets.py   secrets inline or in files, and what an HTTP header can carry
yamlfile.py  YAML without duplicate keys, alias bombs or deep nesting
docs.py      config.example.yaml and the JSON Schema, generated from schema.py
"""

from agent.config.loading import DEFAULT_CONFIG_PATH, default_config_path, load_config
from agent.config.model import (
    BackendConfig,
    Config,
    ContentOverride,
    ContentSettings,
    MetricsConfig,
    MonitoringConfig,
    ScheduleConfig,
    SiteConfig,
    WordPressConfig,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "BackendConfig",
    "Config",
    "ContentOverride",
    "ContentSettings",
    "MetricsConfig",
    "MonitoringConfig",
    "ScheduleConfig",
    "SiteConfig",
    "WordPressConfig",
    "default_config_path",
    "load_config",
]
