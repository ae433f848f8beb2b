"""The structure payload (CONTRACT §3): pure functions of a read and a site's config."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from agent.config import ContentOverride, ContentSettings, SiteConfig
from agent.structure import ContentType, SiteStructure


def build_payload(structure: SiteStructure, site: SiteConfig) -> dict[str, Any]:
    """Exactly the five top-level keys the backend accepts.

    The structure holds only what belongs in the payload: the reader has
    already left out excluded and non-public types.
    """
    return {
        "post_types": _entries(structure.post_types, site.post_types, site.defaults),
        "taxonomies": _entries(structure.taxonomies, site.taxonomies, site.defaults),
        "plugin_connection_enabled": site.plugin_connection_enabled,
        "two_way_sync_enabled": site.two_way_sync_enabled,
        "timestamp": structure.read_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def unmatched_overrides(structure: SiteStructure, site: SiteConfig) -> list[str]:
    """Config key paths of overrides for slugs the site does not have (they add nothing)."""
    have_types = {t.slug for t in structure.post_types}
    have_taxonomies = {t.slug for t in structure.taxonomies}
    return [
        f"{site.key_path}.post_types.{slug}" for slug in site.post_types if slug not in have_types
    ] + [
        f"{site.key_path}.taxonomies.{slug}"
        for slug in site.taxonomies
        if slug not in have_taxonomies
    ]


def _entries(
    items: tuple[ContentType, ...],
    overrides: dict[str, ContentOverride],
    defaults: ContentSettings,
) -> dict[str, dict[str, Any]]:
    entries = {}
    for item in items:
        override = overrides.get(item.slug, ContentOverride())
        entries[item.slug] = {
            "label": item.label,
            "count": item.count,
            "enabled": _pick(override.enabled, defaults.enabled),
            "fetch_limit": _pick(override.fetch_limit, defaults.fetch_limit),
        }
    return entries


def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override
