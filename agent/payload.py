"""The structure payload (CONTRACT §3): pure functions of a read and a site's config."""

from __future__ import annotations

from typing import TypedDict

from agent.config import ContentOverride, ContentSettings, SiteConfig
from agent.structure import ContentType, SiteStructure
from agent.timestamps import iso


class Entry(TypedDict):
    """One post type or taxonomy of the payload."""

    label: str
    count: int
    enabled: bool
    fetch_limit: int


class Payload(TypedDict):
    """What `update-structure` receives, exactly these keys (CONTRACT §3)."""

    post_types: dict[str, Entry]  # slug -> entry
    taxonomies: dict[str, Entry]
    plugin_connection_enabled: bool
    two_way_sync_enabled: bool
    timestamp: str  # UTC, ISO 8601, ending in Z


def build_payload(structure: SiteStructure, site: SiteConfig) -> Payload:
    """Exactly the five top-level keys the backend accepts.

    The structure holds only what belongs in the payload: the reader has
    already left out excluded and non-public types.
    """
    return {
        "post_types": _entries(structure.post_types, site.post_types, site.defaults),
        "taxonomies": _entries(structure.taxonomies, site.taxonomies, site.defaults),
        "plugin_connection_enabled": site.plugin_connection_enabled,
        "two_way_sync_enabled": site.two_way_sync_enabled,
        "timestamp": iso(structure.read_at),
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
) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for item in items:
        override = overrides.get(item.slug, ContentOverride())
        entries[item.slug] = Entry(
            label=item.label,
            count=item.count,
            enabled=defaults.enabled if override.enabled is None else override.enabled,
            fetch_limit=(
                defaults.fetch_limit if override.fetch_limit is None else override.fetch_limit
            ),
        )
    return entries
