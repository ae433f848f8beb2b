"""Unit tests of the structure payload (CONTRACT §3): pure functions, no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from agent.config import ContentOverride, ContentSettings, SiteConfig, WordPressConfig
from agent.payload import build_payload, unmatched_overrides
from agent.secret import Secret
from agent.structure import ContentType, SiteStructure

TOP_LEVEL_KEYS = {
    "post_types",
    "taxonomies",
    "plugin_connection_enabled",
    "two_way_sync_enabled",
    "timestamp",
}
ENTRY_KEYS = {"label", "count", "enabled", "fetch_limit"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def site(**changes: object) -> SiteConfig:
    base = SiteConfig(
        key_path="sites[0]",
        name="main-blog",
        site_id=5,
        api_key=Secret("api-key-not-in-payload"),
        wordpress=WordPressConfig(
            url="https://blog.example.com",
            username="agent",
            app_password=Secret("wp pass not in payload"),
        ),
    )
    return replace(base, **changes)


def structure(read_at: datetime | None = None) -> SiteStructure:
    return SiteStructure(
        post_types=(
            ContentType("post", "Posts", 123),
            ContentType("page", "Pages", 7),
            ContentType("attachment", "Media", 999),
            ContentType("product", "Products", 456),
        ),
        taxonomies=(
            ContentType("category", "Categories", 25),
            ContentType("post_tag", "Tags", 0),
            ContentType("post_format", "Formats", 3),
            ContentType("product_cat", "Product categories", 12),
        ),
        read_at=read_at or datetime(2025, 11, 22, 10, 0, 0, tzinfo=UTC),
        source="test",
    )


def test_exactly_five_top_level_keys_and_four_entry_keys() -> None:
    payload = build_payload(structure(), site())
    assert set(payload) == TOP_LEVEL_KEYS
    for section in ("post_types", "taxonomies"):
        for entry in payload[section].values():
            assert set(entry) == ENTRY_KEYS


def test_contract_example_values() -> None:
    payload = build_payload(
        structure(),
        site(
            post_types={"product": ContentOverride(enabled=False, fetch_limit=50)},
        ),
    )
    assert payload["post_types"]["post"] == {
        "label": "Posts",
        "count": 123,
        "enabled": True,
        "fetch_limit": 100,
    }
    assert payload["post_types"]["product"] == {
        "label": "Products",
        "count": 456,
        "enabled": False,
        "fetch_limit": 50,
    }
    assert payload["taxonomies"]["category"] == {
        "label": "Categories",
        "count": 25,
        "enabled": True,
        "fetch_limit": 100,
    }
    assert payload["plugin_connection_enabled"] is True
    assert payload["two_way_sync_enabled"] is True
    assert payload["timestamp"] == "2025-11-22T10:00:00Z"


def test_flags_come_from_the_site() -> None:
    payload = build_payload(
        structure(), site(plugin_connection_enabled=False, two_way_sync_enabled=False)
    )
    assert payload["plugin_connection_enabled"] is False
    assert payload["two_way_sync_enabled"] is False


def test_overrides_key_by_key_over_site_defaults() -> None:
    payload = build_payload(
        structure(),
        site(
            defaults=ContentSettings(enabled=False, fetch_limit=20),
            post_types={
                "page": ContentOverride(fetch_limit=5),  # enabled from the site defaults
                "product": ContentOverride(enabled=True),  # fetch_limit from the site defaults
            },
            taxonomies={"product_cat": ContentOverride(enabled=True, fetch_limit=1)},
        ),
    )
    types, taxonomies = payload["post_types"], payload["taxonomies"]
    assert (types["post"]["enabled"], types["post"]["fetch_limit"]) == (False, 20)
    assert (types["page"]["enabled"], types["page"]["fetch_limit"]) == (False, 5)
    assert (types["product"]["enabled"], types["product"]["fetch_limit"]) == (True, 20)
    assert (taxonomies["category"]["enabled"], taxonomies["category"]["fetch_limit"]) == (False, 20)
    assert (taxonomies["product_cat"]["enabled"], taxonomies["product_cat"]["fetch_limit"]) == (
        True,
        1,
    )


def test_post_type_override_does_not_touch_a_taxonomy_of_the_same_slug() -> None:
    both = structure()
    both = replace(both, taxonomies=both.taxonomies + (ContentType("product", "Brands", 2),))
    payload = build_payload(both, site(post_types={"product": ContentOverride(enabled=False)}))
    assert payload["post_types"]["product"]["enabled"] is False
    assert payload["taxonomies"]["product"]["enabled"] is True


def test_built_in_defaults_when_site_has_none() -> None:
    payload = build_payload(structure(), site(post_types={"post": ContentOverride()}))
    assert payload["post_types"]["post"]["enabled"] is True
    assert payload["post_types"]["post"]["fetch_limit"] == 100


def test_empty_structure_gives_empty_sections() -> None:
    empty = SiteStructure((), (), datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "test")
    payload = build_payload(empty, site())
    assert payload["post_types"] == {}
    assert payload["taxonomies"] == {}
    assert payload["timestamp"] == "2025-01-02T03:04:05Z"


def test_timestamp_has_seconds_precision_and_z() -> None:
    read_at = datetime(2025, 3, 9, 7, 5, 3, 987654, tzinfo=UTC)
    stamp = build_payload(structure(read_at), site())["timestamp"]
    assert TIMESTAMP.match(stamp)
    assert stamp == "2025-03-09T07:05:03Z"


def test_timestamp_is_converted_to_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    read_at = datetime(2025, 6, 1, 12, 30, 0, tzinfo=berlin_summer)
    assert build_payload(structure(read_at), site())["timestamp"] == "2025-06-01T10:30:00Z"


def test_unicode_labels_are_kept() -> None:
    labels = structure()
    labels = replace(
        labels,
        post_types=(ContentType("rezept", "Rezepte für Köche 🍲", 4),),
        taxonomies=(ContentType("kategorie", "Категории", 1),),
    )
    payload = build_payload(labels, site())
    assert payload["post_types"]["rezept"]["label"] == "Rezepte für Köche 🍲"
    assert payload["taxonomies"]["kategorie"]["label"] == "Категории"
    assert (
        json.loads(json.dumps(payload))["post_types"]["rezept"]["label"] == "Rezepte für Köche 🍲"
    )


def test_payload_is_json_and_holds_no_secret() -> None:
    text = json.dumps(build_payload(structure(), site()))
    assert "api-key-not-in-payload" not in text
    assert "wp pass not in payload" not in text


def test_build_payload_does_not_change_its_inputs() -> None:
    overrides = {"product": ContentOverride(enabled=False)}
    the_site = site(post_types=overrides)
    the_structure = structure()
    first = build_payload(the_structure, the_site)
    second = build_payload(the_structure, the_site)
    assert first == second
    assert overrides == {"product": ContentOverride(enabled=False)}


def test_unmatched_overrides_lists_key_paths_of_missing_slugs() -> None:
    the_site = site(
        key_path="sites[2]",
        post_types={"product": ContentOverride(enabled=False), "book": ContentOverride()},
        taxonomies={"genre": ContentOverride(fetch_limit=3), "category": ContentOverride()},
    )
    assert sorted(unmatched_overrides(structure(), the_site)) == [
        "sites[2].post_types.book",
        "sites[2].taxonomies.genre",
    ]
    payload = build_payload(structure(), the_site)
    assert "book" not in payload["post_types"]
    assert "genre" not in payload["taxonomies"]


def test_no_unmatched_overrides() -> None:
    assert unmatched_overrides(structure(), site()) == []
