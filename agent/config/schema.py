"""Every config key, once: its kind, default, bounds, meaning, and whether it is secret.

Validation (`loading.py`), the defaults of the dataclasses (`model.py`), the
documented `config.example.yaml` and the JSON Schema for editors (`docs.py`)
all come from `SCHEMA`. Only checks no table can say — one key depending on
another, site names unique across files — are written out in `loading.py`.

To add a key: one `Key(...)` line here and a field of the same name in
`model.py` (a test checks the two agree); then `igny8-agent config-example >
config.example.yaml` (a test checks the committed file is current). A secret key
(`secret=True`) also accepts `<name>_file`, is masked everywhere, never quoted
in a problem, and left unread by commands that do not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a key's value may be (see values.py for how each is read):
STRING, NAME, INTEGER, NUMBER, BOOLEAN, CHOICE = (
    "string",
    "name",
    "integer",
    "number",
    "boolean",
    "choice",
)
URL, TLS, NAMES, PATH, CRON, TIMEZONE, LISTEN = (
    "url",
    "tls",
    "names",
    "path",
    "cron",
    "timezone",
    "listen",
)
SECTION = "section"  # a mapping of the keys in `keys`
SITES = "sites"  # a list of sections (`keys`), one per WordPress site
OVERRIDES = "overrides"  # a mapping of slug -> section (`keys`)

NEEDED_TO_PUSH = "to push"  # `required=NEEDED_TO_PUSH`: not for `sync --dry-run` nor `status`


@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    help: str
    default: Any = None  # the value when the key is absent; None: none
    required: bool | str = False  # True, or NEEDED_TO_PUSH
    secret: bool = False  # also `<name>_file`; never shown
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # numbers: must be greater than this
    choices: tuple[str, ...] = ()
    keys: tuple[Key, ...] = ()  # of a SECTION, of each SITES entry or OVERRIDES value
    example: Any = None  # for the example file, where there is no default to show
    show: bool = True  # in the example file (commented out when False)

    def child(self, name: str) -> Key:
        return next(key for key in self.keys if key.name == name)

    def names(self) -> tuple[str, ...]:
        """The key names a mapping of this section may hold, `*_file` included."""
        names: list[str] = []
        for key in self.keys:
            names += [key.name, f"{key.name}_file"] if key.secret else [key.name]
        return tuple(names)


CONTENT_KEYS = (
    Key("enabled", BOOLEAN, "shown as enabled in IGNY8's Content Types screen"),
    Key("fetch_limit", INTEGER, "how many items IGNY8 fetches of it", minimum=1),
)

# The same two keys for each peer: a WordPress site and the backend.
TIMEOUT = Key(
    "timeout",
    NUMBER,
    "seconds: each request's read timeout, and its whole answer's deadline (connect: at most 10)",
    default=30.0,
    above=0,
)
VERIFY = Key("verify", TLS, "TLS: true, false, or the path of a CA bundle", default=True)

WORDPRESS = Key(
    "wordpress",
    SECTION,
    "the WordPress site",
    required=True,
    keys=(
        Key(
            "url",
            URL,
            "the site's home URL (a sub-folder is fine)",
            required=True,
            example="https://blog.example.com",
        ),
        Key(
            "username",
            STRING,
            "an administrator's user name, for the application password",
            example="igny8-agent",
            show=False,
        ),
        Key(
            "app_password",
            STRING,
            "an application password (Users → Profile → Application "
            "Passwords) of that user; needed when the REST API refuses anonymous requests, and "
            "for XML-RPC, which tells which types are public",
            secret=True,
            example="${WP_APP_PASSWORD}",
            show=False,
        ),
        Key(
            "xmlrpc",
            CHOICE,
            "auto: REST, completed by XML-RPC with credentials; never; always",
            default="auto",
            choices=("auto", "always", "never"),
        ),
        TIMEOUT,
        VERIFY,
        Key(
            "max_connections",
            INTEGER,
            "requests in flight to this site at most",
            default=6,
            minimum=1,
            maximum=32,
        ),
        Key(
            "deadline",
            NUMBER,
            "seconds for the whole read of this site, retries included (when not "
            "given: 120, or 3 times timeout if that is longer)",
            default=120.0,
            above=0,
        ),
    ),
)

SITE_KEYS = (
    Key("name", NAME, "unique; letters, digits, '-' and '_'", required=True, example="main-blog"),
    Key("site_id", INTEGER, "the site's id in IGNY8", required=True, minimum=1, example=5),
    Key(
        "api_key",
        STRING,
        "the site's IGNY8 API key",
        required=NEEDED_TO_PUSH,
        secret=True,
        example="${IGNY8_API_KEY}",
    ),
    Key(
        "integration_id",
        INTEGER,
        "optional; found through the API when absent",
        minimum=1,
        example=123,
        show=False,
    ),
    WORDPRESS,
    Key("plugin_connection_enabled", BOOLEAN, "sent with the structure", default=True),
    Key("two_way_sync_enabled", BOOLEAN, "sent with the structure", default=True),
    Key(
        "defaults",
        SECTION,
        "enabled / fetch_limit of every post type and taxonomy, unless "
        "post_types or taxonomies say otherwise for its slug",
        keys=(
            Key("enabled", BOOLEAN, CONTENT_KEYS[0].help, default=True),
            Key("fetch_limit", INTEGER, CONTENT_KEYS[1].help, default=100, minimum=1),
        ),
    ),
    Key(
        "post_types",
        OVERRIDES,
        "per slug, key by key, e.g. product: {enabled: false, fetch_limit: 50}",
        keys=CONTENT_KEYS,
        default={},
    ),
    Key(
        "taxonomies",
        OVERRIDES,
        "per slug, e.g. product_cat: {enabled: false}",
        keys=CONTENT_KEYS,
        default={},
    ),
    Key(
        "exclude_post_types",
        NAMES,
        "slugs never sent; when given, replaces this list",
        default=("attachment",),
    ),
    Key(
        "exclude_taxonomies",
        NAMES,
        "slugs never sent; when given, replaces this list",
        default=("post_format",),
    ),
)

SCHEMA = Key(
    "config",
    SECTION,
    "igny8-agent's configuration",
    keys=(
        Key(
            "backend",
            SECTION,
            "the IGNY8 API",
            required=NEEDED_TO_PUSH,
            keys=(
                Key(
                    "url",
                    URL,
                    "the API's base URL",
                    required=NEEDED_TO_PUSH,
                    example="https://api.igny8.com/api",
                ),
                TIMEOUT,
                VERIFY,
                Key(
                    "max_attempts",
                    INTEGER,
                    "tries of one request, the first included",
                    default=5,
                    minimum=1,
                ),
                Key(
                    "max_retry_seconds",
                    NUMBER,
                    "retry budget of one request, from its first try",
                    default=300.0,
                    above=0,
                ),
            ),
        ),
        Key(
            "sites",
            SITES,
            "one entry per WordPress site (required, unless sites_dir has them)",
            keys=SITE_KEYS,
        ),
        Key(
            "sites_dir",
            PATH,
            "a directory of *.yaml files, each one site entry or a list of "
            "them (relative to this file)",
            example="sites.d",
            show=False,
        ),
        Key(
            "parallel_sites",
            INTEGER,
            "sites handled side by side in a pass (in all: a big pass shares them with "
            "worker processes, one process per CPU core)",
            default=16,
            minimum=1,
            maximum=256,
        ),
        Key(
            "schedule",
            SECTION,
            "when `igny8-agent run` passes over the sites",
            keys=(
                Key(
                    "cron",
                    CRON,
                    "5-field crontab expression, read as cron reads it (weekday 0 or 7 is Sunday)",
                    default="0 3 * * *",
                ),
                Key("timezone", TIMEZONE, "an IANA name, e.g. Europe/Berlin", default="UTC"),
                Key(
                    "jitter_seconds",
                    INTEGER,
                    "random delay of up to this, added to each scheduled run",
                    default=1800,
                    minimum=0,
                ),
                Key(
                    "retry_failed_every",
                    INTEGER,
                    "seconds; a site whose push failed is retried this often",
                    default=900,
                    minimum=1,
                ),
                Key(
                    "check_every",
                    INTEGER,
                    "seconds; between daily pushes, re-read the type and "
                    "taxonomy lists and push when they changed; 0: never",
                    default=3600,
                    minimum=0,
                ),
            ),
        ),
        Key(
            "metrics",
            SECTION,
            "Prometheus metrics",
            keys=(
                Key(
                    "listen",
                    LISTEN,
                    "host:port the daemon serves /metrics on (:9817 is every IPv4 address, "
                    "[::]:9817 IPv6 too)",
                    example="127.0.0.1:9817",
                    show=False,
                ),
                Key(
                    "textfile",
                    PATH,
                    "a .prom file `sync` writes for node_exporter's textfile collector",
                    example="/var/lib/prometheus/node-exporter/igny8_agent.prom",
                    show=False,
                ),
            ),
        ),
        Key(
            "monitoring",
            SECTION,
            "check-ins to a dead man's switch",
            keys=(
                Key(
                    "ping_url",
                    STRING,
                    "Healthchecks-style: POST <url>/start, <url>, <url>/fail",
                    secret=True,
                    example="${HEALTHCHECK_URL}",
                    show=False,
                ),
            ),
        ),
        Key(
            "state_dir",
            PATH,
            "default: $STATE_DIRECTORY (systemd), else /var/lib/igny8-agent",
            example="/var/lib/igny8-agent",
            show=False,
        ),
        Key(
            "log_level",
            CHOICE,
            "debug | info | warning | error",
            default="info",
            choices=("debug", "info", "warning", "error"),
        ),
    ),
)


def find(path: str) -> Key:
    """The key at a dotted path of the schema, e.g. "sites.wordpress.timeout"."""
    key = SCHEMA
    for name in path.split("."):
        key = key.child(name)
    return key


def default(path: str) -> Any:
    """The default of the key at `path`, for the dataclasses in model.py."""
    value = find(path).default
    return dict(value) if isinstance(value, dict) else value
