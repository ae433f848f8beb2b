"""The structure of one WordPress site, as read: plain data, no behaviour."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

# No count above this is believed: more than a 32-bit signed integer, the most
# a database column the backend stores a count in is likely to hold, and more
# posts or terms than any WordPress site has.
MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class ContentType:
    """A post type or taxonomy: its slug (WordPress `name`), plural label and count.

    For a post type, `count` is the number of published items; for a taxonomy,
    the number of terms, empty ones included.
    """

    slug: str
    label: str
    count: int


@dataclass(frozen=True)
class SiteShape:
    """What a structure looks like, counts aside: (slug, label) of each post type and
    taxonomy. Its hash tells whether the payload's types or labels changed."""

    post_types: tuple[tuple[str, str], ...]
    taxonomies: tuple[tuple[str, str], ...]

    def hash(self) -> str:
        text = json.dumps([sorted(self.post_types), sorted(self.taxonomies)], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SiteStructure:
    post_types: tuple[ContentType, ...]
    taxonomies: tuple[ContentType, ...]
    read_at: datetime  # UTC, when the read finished
    source: str  # how it was read, for the log: "REST at https://…/wp-json/"
    requests: int = 0  # requests sent to WordPress for this read
    api_root: str | None = None  # where REST answered, if it did
    xmlrpc_endpoint: str | None = None  # where XML-RPC answered, if it was used

    @property
    def shape(self) -> SiteShape:
        return SiteShape(
            tuple((t.slug, t.label) for t in self.post_types),
            tuple((t.slug, t.label) for t in self.taxonomies),
        )
