"""Unit tests of agent.config against CONTRACT §5 (and the secrets rules of §8)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from agent.config import default_config_path, load_config
from agent.errors import ConfigError
from agent.secret import Secret

ENV_NAMES = (
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "IGNY8_AGENT_CONFIG",
    "T_API_KEY",
    "T_WP_PASS",
    "T_HOST",
    "T_SITE_ID",
    "T_INTEGRATION",
    "T_UNSET_VAR",
)

MINIMAL = """
backend:
  url: https://api.igny8.com/api
sites:
  - name: main-blog
    site_id: 5
    api_key: literal-key-for-tests
    wordpress:
      url: https://blog.example.com
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def write_config(directory: Path, text: str, mode: int = 0o600) -> Path:
    path = directory / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    path.chmod(mode)
    return path


def load(directory: Path, text: str, mode: int = 0o600, **kwargs: bool):
    return load_config(write_config(directory, text, mode), **kwargs)


def problems_of(directory: Path, text: str, mode: int = 0o600, **kwargs: bool) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(directory, text, mode, **kwargs)
    return caught.value.problems


def problem_at(problems: list[str], key_path: str) -> str:
    """The one problem line reported for exactly this key path."""
    found = [p for p in problems if p.startswith(key_path + ":")]
    assert found, f"no problem reported for {key_path}; got {problems}"
    return found[0]


# --- every key of §5 and its default -----------------------------------------------------


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)

    assert config.backend is not None
    assert config.backend.url.rstrip("/") == "https://api.igny8.com/api"
    assert config.backend.timeout == 30
    assert config.backend.verify is True
    assert config.backend.max_attempts == 5
    assert config.backend.max_retry_seconds == 300

    (site,) = config.sites
    assert site.name == "main-blog"
    assert site.site_id == 5
    assert isinstance(site.api_key, Secret)
    assert site.api_key.reveal() == "literal-key-for-tests"
    assert site.integration_id is None
    wp = site.wordpress
    assert wp.url == "https://blog.example.com"
    assert wp.username is None
    assert wp.app_password is None
    assert wp.xmlrpc == "auto"
    assert wp.timeout == 30
    assert wp.verify is True
    assert site.plugin_connection_enabled is True
    assert site.two_way_sync_enabled is True
    assert site.defaults.enabled is True
    assert site.defaults.fetch_limit == 100
    assert dict(site.post_types) == {}
    assert dict(site.taxonomies) == {}
    assert list(site.exclude_post_types) == ["attachment"]
    assert list(site.exclude_taxonomies) == ["post_format"]

    assert config.schedule.cron == "0 3 * * *"
    assert config.schedule.timezone == "UTC"
    assert config.schedule.jitter_seconds == 1800
    assert config.schedule.retry_failed_every == 900
    assert config.state_dir == Path("/var/lib/igny8-agent")
    assert config.log_level == "info"
    assert list(config.warnings) == []


def test_every_key_given_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    (tmp_path / "ca.pem").write_bytes(certificate[0].read_bytes())
    monkeypatch.setenv("T_WP_PASS", "abcd efgh ijkl mnop")
    config = load(
        tmp_path,
        """
        backend:
          url: https://backend.example.org/api
          timeout: 12.5
          verify: false
          max_attempts: 3
          max_retry_seconds: 60
        sites:
          - name: shop_2
            site_id: 7
            api_key: key-seven
            integration_id: 321
            wordpress:
              url: https://shop.example.org/sub/
              username: igny8-agent
              app_password: ${T_WP_PASS}
              xmlrpc: never
              timeout: 9
              verify: ca.pem
            plugin_connection_enabled: false
            two_way_sync_enabled: false
            defaults: {enabled: false, fetch_limit: 20}
            post_types:
              product: {enabled: true, fetch_limit: 50}
              page: {fetch_limit: 5}
            taxonomies:
              product_cat: {enabled: false}
            exclude_post_types: [attachment, revision_log]
            exclude_taxonomies: []
        schedule:
          cron: "30 4 * * 1-5"
          timezone: Europe/Berlin
          jitter_seconds: 0
          retry_failed_every: 60
        state_dir: /srv/igny8-state
        log_level: debug
    """,
    )
    assert config.backend is not None
    assert config.backend.url.rstrip("/") == "https://backend.example.org/api"
    assert config.backend.timeout == 12.5
    assert config.backend.verify is False
    assert config.backend.max_attempts == 3
    assert config.backend.max_retry_seconds == 60

    (site,) = config.sites
    assert (site.name, site.site_id, site.integration_id) == ("shop_2", 7, 321)
    assert site.api_key is not None and site.api_key.reveal() == "key-seven"
    wp = site.wordpress
    assert wp.url.rstrip("/") == "https://shop.example.org/sub"
    assert wp.username == "igny8-agent"
    assert wp.app_password is not None
    assert wp.app_password.reveal() == "abcd efgh ijkl mnop"
    assert wp.xmlrpc == "never"
    assert wp.timeout == 9
    assert Path(str(wp.verify)) == tmp_path / "ca.pem"  # relative: beside the config
    assert site.plugin_connection_enabled is False
    assert site.two_way_sync_enabled is False
    assert (site.defaults.enabled, site.defaults.fetch_limit) == (False, 20)
    assert site.post_types["product"].enabled is True
    assert site.post_types["product"].fetch_limit == 50
    assert site.post_types["page"].fetch_limit == 5
    assert site.taxonomies["product_cat"].enabled is False
    assert list(site.exclude_post_types) == ["attachment", "revision_log"]
    assert list(site.exclude_taxonomies) == []

    assert config.schedule.cron == "30 4 * * 1-5"
    assert config.schedule.timezone == "Europe/Berlin"
    assert config.schedule.jitter_seconds == 0
    assert config.schedule.retry_failed_every == 60
    assert config.state_dir == Path("/srv/igny8-state")
    assert config.log_level == "debug"


def test_config_path_from_environment_else_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_config_path() == "/etc/igny8-agent/config.yaml"
    monkeypatch.setenv("IGNY8_AGENT_CONFIG", "/tmp/elsewhere.yaml")
    assert default_config_path() == "/tmp/elsewhere.yaml"


# --- ${NAME} interpolation ---------------------------------------------------------------


def test_env_reference_is_replaced_anywhere_in_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_API_KEY", "key-from-env")
    monkeypatch.setenv("T_HOST", "blog.example.net")
    config = load(
        tmp_path,
        MINIMAL.replace("literal-key-for-tests", "${T_API_KEY}").replace(
            "https://blog.example.com", "https://${T_HOST}/news"
        ),
    )
    site = config.sites[0]
    assert site.api_key is not None and site.api_key.reveal() == "key-from-env"
    assert site.wordpress.url == "https://blog.example.net/news"


def test_unset_env_reference_names_key_path_and_variable(tmp_path: Path) -> None:
    text = MINIMAL.replace("https://blog.example.com", "https://${T_UNSET_VAR}/")
    problems = problems_of(tmp_path, text)
    line = problem_at(problems, "sites[0].wordpress.url")
    assert "T_UNSET_VAR" in line


def test_only_dollar_brace_is_interpolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_API_KEY", "from-env")
    text = MINIMAL.replace("literal-key-for-tests", "'pa$$word-$$${T_API_KEY}-$NAME'")
    site = load(tmp_path, text).sites[0]
    assert site.api_key is not None
    assert site.api_key.reveal() == "pa$$word-$$from-env-$NAME"


def test_unusable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not really a bundle\n")
    text = MINIMAL.replace(
        "url: https://blog.example.com", "url: https://blog.example.com\n      verify: ca.pem"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert any("verify: CA bundle" in p and "not usable" in p for p in caught.value.problems)


@pytest.mark.parametrize("value", ["key\\nsecond-line", "key\\tsecond-line"])
def test_secret_with_control_characters_is_refused_without_echo(tmp_path: Path, value: str) -> None:
    text = MINIMAL.replace("literal-key-for-tests", f'"{value}"')  # a YAML escape
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert "holds a character an HTTP header cannot carry" in str(caught.value)
    assert "second-line" not in str(caught.value)


@pytest.mark.parametrize("url", ["http://[::1", "http://example.org:99999", "http://x/?a=1"])
def test_bad_urls_are_config_errors(tmp_path: Path, url: str) -> None:
    text = MINIMAL.replace("url: https://blog.example.com", f"url: '{url}'")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert any(p.startswith("sites[0].wordpress.url:") for p in caught.value.problems)


def test_integer_strings_from_env_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SITE_ID", "42")
    monkeypatch.setenv("T_INTEGRATION", "900")
    text = MINIMAL.replace(
        "site_id: 5", "site_id: ${T_SITE_ID}\n    integration_id: ${T_INTEGRATION}"
    )
    site = load(tmp_path, text).sites[0]
    assert site.site_id == 42
    assert site.integration_id == 900


def test_non_integer_site_id_from_env_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SITE_ID", "five")
    problems = problems_of(tmp_path, MINIMAL.replace("site_id: 5", "site_id: ${T_SITE_ID}"))
    problem_at(problems, "sites[0].site_id")


# --- *_file secrets ----------------------------------------------------------------------


FILE_SECRETS = """
backend:
  url: https://api.igny8.com/api
sites:
  - name: main-blog
    site_id: 5
    api_key_file: {api_key_file}
    wordpress:
      url: https://blog.example.com
      username: igny8-agent
      app_password_file: {password_file}
"""


def test_relative_secret_file_is_looked_up_in_credentials_directory_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api.key").write_text("key-from-credentials-dir\n")
    (tmp_path / "api.key").write_text("key-beside-config\n")
    (tmp_path / "wp.pass").write_text("pass beside config\n")  # only beside the config
    for secret_file in (creds / "api.key", tmp_path / "api.key", tmp_path / "wp.pass"):
        secret_file.chmod(0o600)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    config = load(tmp_path, FILE_SECRETS.format(api_key_file="api.key", password_file="wp.pass"))
    site = config.sites[0]
    assert site.api_key is not None and site.api_key.reveal() == "key-from-credentials-dir"
    password = site.wordpress.app_password
    assert password is not None and password.reveal() == "pass beside config"


def test_relative_secret_file_beside_config_without_credentials_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "api.key").write_text("key-beside-config\r\n")
    (tmp_path / "wp.pass").write_text("abcd efgh\n")
    absolute = tmp_path / "abs.key"
    absolute.write_text("absolute-key")
    for secret_file in tmp_path.iterdir():
        secret_file.chmod(0o600)
    site = load(
        tmp_path, FILE_SECRETS.format(api_key_file="api.key", password_file="wp.pass")
    ).sites[0]
    assert site.api_key is not None and site.api_key.reveal() == "key-beside-config"
    assert site.wordpress.app_password is not None
    assert site.wordpress.app_password.reveal() == "abcd efgh"

    site = load(
        tmp_path, FILE_SECRETS.format(api_key_file=str(absolute), password_file="wp.pass")
    ).sites[0]
    assert site.api_key is not None and site.api_key.reveal() == "absolute-key"


def test_missing_secret_file_is_an_error_at_its_key(tmp_path: Path) -> None:
    (tmp_path / "wp.pass").write_text("x\n")
    problems = problems_of(
        tmp_path, FILE_SECRETS.format(api_key_file="nowhere.key", password_file="wp.pass")
    )
    assert "nowhere.key" in problem_at(problems, "sites[0].api_key_file")


def test_a_secret_pasted_as_a_file_name_is_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "wp.pass").write_text("x\n")
    key = "sk_live_0123456789abcdefghijklmnopq"
    problems = problems_of(tmp_path, FILE_SECRETS.format(api_key_file=key, password_file="wp.pass"))
    assert problem_at(problems, "sites[0].api_key_file") == (
        "sites[0].api_key_file: no such file in $CREDENTIALS_DIRECTORY nor beside "
        f"{tmp_path / 'config.yaml'}. The value is not shown: it does not look like a file "
        "name. If it is the secret itself, give it as api_key instead"
    )
    assert "sk_live" not in "\n".join(problems)


def test_a_secret_file_named_by_a_variable_names_the_variable_not_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wp.pass").write_text("x\n")
    monkeypatch.setenv("T_API_KEY", "k.e.y/that-is-the-secret")  # meant for api_key
    problems = problems_of(
        tmp_path, FILE_SECRETS.format(api_key_file="${T_API_KEY}", password_file="wp.pass")
    )
    assert problem_at(problems, "sites[0].api_key_file") == (
        "sites[0].api_key_file: the file ${T_API_KEY} names is not found in "
        f"$CREDENTIALS_DIRECTORY nor beside {tmp_path / 'config.yaml'}"
    )
    assert "that-is-the-secret" not in "\n".join(problems)


@pytest.mark.parametrize(
    "url",
    [
        "https://[hc-ping.com/TOKEN-0123456789",  # Python cannot parse it
        "https://hc ping.com/TOKEN-0123456789",
        "https://hc-ping.com:99999/TOKEN-0123456789",
        "ftp://hc-ping.com/TOKEN-0123456789",
    ],
)
def test_a_ping_url_that_cannot_work_is_a_problem_not_a_crash(tmp_path: Path, url: str) -> None:
    text = MINIMAL + f"monitoring:\n  ping_url: '{url}'\n"
    problems = problems_of(tmp_path, text)
    assert problem_at(problems, "monitoring.ping_url").endswith(
        "must be an http:// or https:// URL (it is not shown here: it is a secret)"
    )
    assert "TOKEN" not in "\n".join(problems)


def test_an_unset_ping_url_variable_is_one_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + "monitoring:\n  ping_url: ${T_UNSET_VAR}\n")
    assert [p for p in problems if p.startswith("monitoring")] == [
        "monitoring.ping_url: environment variable T_UNSET_VAR is not set"
    ]


def test_both_secret_and_secret_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "api.key").write_text("from-file\n")
    text = MINIMAL.replace(
        "api_key: literal-key-for-tests",
        "api_key: literal-key-for-tests\n    api_key_file: api.key",
    )
    problems = problems_of(tmp_path, text)
    line = next(p for p in problems if p.startswith("sites[0].api_key"))
    assert "api_key_file" in line
    assert "literal-key-for-tests" not in "\n".join(problems)
    assert "from-file" not in "\n".join(problems)


# --- errors: all at once, with key paths ---------------------------------------------------


def test_all_problems_are_reported_at_once_with_key_paths(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        backend:
          url: https://api.igny8.com/api
          timeout: soon
          max_attempts: 0
        sites:
          - name: good
            site_id: 5
            api_key: k1
            wordpress:
              url: https://one.example.com
          - name: second
            site_id: abc
            api_key: k2
            wordpress:
              url: not-a-url
              xmlrpc: sometimes
            defaults: {fetch_limit: 0}
            post_types:
              product: {fetch_limit: -5}
        schedule:
          cron: "every day"
          timezone: Mars/Olympus_Mons
        log_level: loud
    """,
    )
    for key_path in (
        "backend.timeout",
        "backend.max_attempts",
        "sites[1].site_id",
        "sites[1].wordpress.url",
        "sites[1].wordpress.xmlrpc",
        "sites[1].defaults.fetch_limit",
        "sites[1].post_types.product.fetch_limit",
        "schedule.cron",
        "schedule.timezone",
        "log_level",
    ):
        problem_at(problems, key_path)
    assert not any(p.startswith("sites[0]") for p in problems), problems


def test_config_error_message_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            MINIMAL.replace("site_id: 5", "site_id: x").replace(
                "https://blog.example.com", "ftp://blog.example.com"
            ),
        )
    text = str(caught.value)
    assert "sites[0].site_id" in text
    assert "sites[0].wordpress.url" in text


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    text = MINIMAL.replace("    wordpress:", "    wordpres: {}\n    wordpress:") + "sate_dir: /x\n"
    problems = problems_of(tmp_path, text)
    assert "unknown" in problem_at(problems, "sites[0].wordpres")
    assert "unknown" in problem_at(problems, "sate_dir")


def test_missing_required_keys(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        backend: {}
        sites:
          - name: a
            wordpress: {}
    """,
    )
    for key_path in (
        "backend.url",
        "sites[0].site_id",
        "sites[0].api_key",
        "sites[0].wordpress.url",
    ):
        problem_at(problems, key_path)


def test_no_sites_is_an_error(tmp_path: Path) -> None:
    problem_at(problems_of(tmp_path, "backend: {url: https://a.example}\nsites: []\n"), "sites")


def test_duplicate_site_names(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        backend: {url: https://api.igny8.com/api}
        sites:
          - {name: blog, site_id: 1, api_key: a, wordpress: {url: https://a.example}}
          - {name: blog, site_id: 2, api_key: b, wordpress: {url: https://b.example}}
    """,
    )
    assert "blog" in problem_at(problems, "sites[1].name")


@pytest.mark.parametrize("name", ["main blog", "blog.example.com", "ünïcode", "a/b"])
def test_bad_site_names(tmp_path: Path, name: str) -> None:
    problems = problems_of(tmp_path, MINIMAL.replace("name: main-blog", f"name: '{name}'"))
    problem_at(problems, "sites[0].name")


@pytest.mark.parametrize("name", ["main-blog", "Shop_2", "x"])
def test_good_site_names(tmp_path: Path, name: str) -> None:
    assert (
        load(tmp_path, MINIMAL.replace("name: main-blog", f"name: '{name}'")).sites[0].name == name
    )


def test_url_with_credentials_is_rejected_without_echoing_them(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "https://blog.example.com", "https://admin:Hunter2-Secret@blog.example.com"
    ).replace("https://api.igny8.com/api", "https://apiuser:Backend-Secret@api.igny8.com/api")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    problem_at(caught.value.problems, "sites[0].wordpress.url")
    problem_at(caught.value.problems, "backend.url")
    shown = str(caught.value) + "\n".join(caught.value.problems)
    assert "Hunter2-Secret" not in shown
    assert "Backend-Secret" not in shown


def test_username_without_password_and_password_without_username(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "      url: https://blog.example.com",
        "      url: https://blog.example.com\n      username: bob",
    )
    problem_at(problems_of(tmp_path, text), "sites[0].wordpress.app_password")
    text = MINIMAL.replace(
        "      url: https://blog.example.com",
        "      url: https://blog.example.com\n      app_password: p",
    )
    problem_at(problems_of(tmp_path, text), "sites[0].wordpress.username")


# --- world-readable config with secrets ----------------------------------------------------


def test_world_readable_config_with_literal_secret_warns(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL, mode=0o644)
    assert len(config.warnings) == 1
    warning = config.warnings[0]
    assert str(tmp_path / "config.yaml") in warning
    assert "literal-key-for-tests" not in warning


def test_world_readable_config_with_literal_wp_password_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_API_KEY", "from-env")
    text = MINIMAL.replace("literal-key-for-tests", "${T_API_KEY}").replace(
        "      url: https://blog.example.com",
        "      url: https://blog.example.com\n      username: u\n      app_password: lit-pass",
    )
    config = load(tmp_path, text, mode=0o644)
    assert config.warnings
    assert not any("lit-pass" in w for w in config.warnings)


def test_world_readable_config_with_env_references_does_not_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_API_KEY", "from-env")
    config = load(tmp_path, MINIMAL.replace("literal-key-for-tests", "${T_API_KEY}"), mode=0o644)
    assert list(config.warnings) == []


def test_private_config_with_literal_secret_does_not_warn(tmp_path: Path) -> None:
    assert list(load(tmp_path, MINIMAL, mode=0o600).warnings) == []


def test_world_readable_secret_file_warns(tmp_path: Path) -> None:
    (tmp_path / "api.key").write_text("file-key\n")
    (tmp_path / "api.key").chmod(0o644)
    text = MINIMAL.replace("api_key: literal-key-for-tests", "api_key_file: api.key")
    config = load(tmp_path, text, mode=0o644)
    assert any(str(tmp_path / "api.key") in w for w in config.warnings)
    assert not any("file-key" in w for w in config.warnings)


# --- require_backend, state_dir ------------------------------------------------------------


NO_BACKEND = """
sites:
  - name: main-blog
    site_id: 5
    wordpress:
      url: https://blog.example.com
"""


def test_require_backend_false_tolerates_missing_backend_and_api_key(tmp_path: Path) -> None:
    config = load(tmp_path, NO_BACKEND, require_backend=False)
    assert config.backend is None
    assert config.sites[0].api_key is None


def test_require_backend_true_needs_backend_url_and_api_key(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, NO_BACKEND)
    problem_at(problems, "backend.url")
    problem_at(problems, "sites[0].api_key")


def test_state_dir_defaults_to_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/igny8-agent-from-systemd")
    assert load(tmp_path, MINIMAL).state_dir == Path("/var/lib/igny8-agent-from-systemd")
    configured = load(tmp_path, MINIMAL + "state_dir: /srv/state\n")
    assert configured.state_dir == Path("/srv/state")


# --- unreadable files ----------------------------------------------------------------------


def test_missing_empty_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError):
        load(tmp_path, "")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "sites: [\n")
    assert str(tmp_path / "config.yaml") in str(caught.value)


def test_config_file_is_not_modified(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL)
    before = path.read_bytes(), os.stat(path).st_mode
    load_config(path)
    assert (path.read_bytes(), os.stat(path).st_mode) == before


# --- fleets: parallel_sites, sites_dir (CONTRACT §10) -----------------------------------------


def site_file(directory: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    path.chmod(mode)
    return path


def test_fleet_keys_have_their_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    assert config.parallel_sites == 16
    assert config.sites_dir is None
    assert config.sites[0].wordpress.max_connections == 6
    assert config.sites[0].wordpress.deadline == 120.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("parallel_sites", 0),
        ("parallel_sites", 257),
        ("parallel_sites", "many"),
    ],
)
def test_parallel_sites_is_bounded(tmp_path: Path, key: str, value: object) -> None:
    problem_at(problems_of(tmp_path, MINIMAL + f"{key}: {value}\n"), key)


@pytest.mark.parametrize("value", [0, 33, -1])
def test_max_connections_is_bounded(tmp_path: Path, value: int) -> None:
    text = MINIMAL.replace(
        "      url: https://blog.example.com",
        f"      url: https://blog.example.com\n      max_connections: {value}",
    )
    problem_at(problems_of(tmp_path, text), "sites[0].wordpress.max_connections")


def test_sites_dir_adds_one_site_or_a_list_per_file(tmp_path: Path) -> None:
    site_file(
        tmp_path,
        "sites.d/shop.yaml",
        """
        name: shop
        site_id: 7
        api_key: shop-key-0123456789
        wordpress: {url: https://shop.example.com}
    """,
    )
    site_file(
        tmp_path,
        "sites.d/agency.yml",
        """
        - {name: a1, site_id: 8, api_key: a1-key-0123456789, wordpress: {url: https://a1.example}}
        - {name: a2, site_id: 9, api_key: a2-key-0123456789, wordpress: {url: https://a2.example}}
    """,
    )
    site_file(tmp_path, "sites.d/README.txt", "not a site file")
    config = load(tmp_path, MINIMAL + "sites_dir: sites.d\nparallel_sites: 4\n")
    assert [s.name for s in config.sites] == ["main-blog", "a1", "a2", "shop"]
    assert config.sites[3].key_path == "sites.d/shop.yaml: sites[0]"
    assert config.sites[2].key_path == "sites.d/agency.yml: sites[1]"
    assert config.sites_dir == tmp_path / "sites.d"


def test_a_site_file_may_keep_the_sites_key_of_the_main_config(tmp_path: Path) -> None:
    """Cut from a config file with its `sites:` line: read as the list it is."""
    site_file(
        tmp_path,
        "sites.d/moved.yaml",
        """
        sites:
          - {name: moved, site_id: 3, api_key: m-key-0123456789, wordpress: {url: https://m.example}}
    """,
    )
    config = load(tmp_path, MINIMAL + "sites_dir: sites.d\n")
    assert [s.key_path for s in config.sites] == ["sites[0]", "sites.d/moved.yaml: sites[0]"]


def test_a_fleet_may_live_in_sites_dir_alone(tmp_path: Path) -> None:
    site_file(
        tmp_path,
        "sites.d/one.yaml",
        """
        {name: one, site_id: 1, api_key: one-key-0123456789, wordpress: {url: https://a.example}}
    """,
    )
    text = "backend: {url: https://api.igny8.com/api}\nsites_dir: sites.d\n"
    assert [s.name for s in load(tmp_path, text).sites] == ["one"]
    (tmp_path / "sites.d" / "one.yaml").unlink()
    assert load(tmp_path, text).warnings == (
        f"no sites configured: neither `sites:` nor {tmp_path / 'sites.d'} lists any",
    )


def test_site_file_problems_name_the_file_and_the_key_path(tmp_path: Path) -> None:
    site_file(
        tmp_path,
        "sites.d/bad.yaml",
        """
        name: bad
        site_id: seven
        api_key: bad-key-0123456789
        wordpress: {url: ftp://bad.example, xmlrcp: never}
    """,
    )
    site_file(tmp_path, "sites.d/broken.yaml", "name: [unclosed\n")
    site_file(tmp_path, "sites.d/scalar.yaml", "just a string\n")
    problems = problems_of(tmp_path, MINIMAL + "sites_dir: sites.d\n")
    problem_at(problems, "sites.d/bad.yaml: sites[0].site_id")
    problem_at(problems, "sites.d/bad.yaml: sites[0].wordpress.url")
    assert "did you mean 'xmlrpc'" in problem_at(
        problems, "sites.d/bad.yaml: sites[0].wordpress.xmlrcp"
    )
    assert any(p.startswith("sites.d/broken.yaml: line ") for p in problems)
    assert "one site entry (a mapping) or a list" in problem_at(problems, "sites.d/scalar.yaml")


def test_site_names_stay_unique_across_files(tmp_path: Path) -> None:
    site_file(
        tmp_path,
        "sites.d/copy.yaml",
        """
        {name: main-blog, site_id: 6, api_key: copy-key-0123456789,
         wordpress: {url: https://copy.example}}
    """,
    )
    problems = problems_of(tmp_path, MINIMAL + "sites_dir: sites.d\n")
    assert "'main-blog' is already used by sites[0]" in problem_at(
        problems, "sites.d/copy.yaml: sites[0].name"
    )


def test_a_missing_sites_dir_is_a_problem(tmp_path: Path) -> None:
    assert "is not a directory" in problem_at(
        problems_of(tmp_path, MINIMAL + "sites_dir: nowhere\n"), "sites_dir"
    )


def test_site_files_get_env_interpolation_and_the_secret_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_API_KEY", "from-the-environment-0123")
    site_file(
        tmp_path,
        "sites.d/env.yaml",
        """
        {name: env, site_id: 6, api_key: "${T_API_KEY}", wordpress: {url: https://e.example}}
    """,
        mode=0o644,
    )
    site_file(
        tmp_path,
        "sites.d/literal.yaml",
        """
        {name: lit, site_id: 7, api_key: literal-in-a-world-readable-file,
         wordpress: {url: https://l.example}}
    """,
        mode=0o644,
    )
    config = load(tmp_path, MINIMAL + "sites_dir: sites.d\n")
    env_site = next(s for s in config.sites if s.name == "env")
    assert env_site.api_key == Secret("from-the-environment-0123")
    assert any(
        "literal.yaml holds a secret and is readable by other users" in w for w in config.warnings
    )
    status_view = load(tmp_path, MINIMAL + "sites_dir: sites.d\n", read_secrets=False)
    assert len(status_view.sites) == 3


@pytest.mark.parametrize(
    "listen, expected",
    [
        ("127.0.0.1:9817", ("127.0.0.1", 9817)),
        ("[::1]:9817", ("::1", 9817)),
        (":9817", ("0.0.0.0", 9817)),
        ("localhost:9817", ("localhost", 9817)),
    ],
)
def test_metrics_listen_forms(tmp_path: Path, listen: str, expected: tuple[str, int]) -> None:
    config = load(tmp_path, MINIMAL + f"metrics:\n  listen: '{listen}'\n")
    assert config.metrics.listen == expected


@pytest.mark.parametrize("listen", ["9817", "localhost", "127.0.0.1:99999", "a b:1"])
def test_metrics_listen_needs_host_and_port(tmp_path: Path, listen: str) -> None:
    problems = problems_of(tmp_path, MINIMAL + f"metrics:\n  listen: '{listen}'\n")
    assert problem_at(problems, "metrics.listen") == (
        "metrics.listen: must be host:port, e.g. 127.0.0.1:9817 (or :9817 for every IPv4 "
        f"address), not {listen!r}"
    )


def test_a_slow_sites_timeout_keeps_its_meaning_under_the_read_deadline(tmp_path: Path) -> None:
    """A config written before wordpress.deadline existed: a 300 s timeout is not cut
    short by the 120 s default; a deadline given shorter than the timeout is warned of."""
    assert load(tmp_path, MINIMAL).sites[0].wordpress.deadline == 120
    slow = MINIMAL.replace(
        "url: https://blog.example.com", "url: https://blog.example.com\n      timeout: 300"
    )
    assert load(tmp_path, slow).sites[0].wordpress.deadline == 900
    given = slow.replace("timeout: 300", "timeout: 300\n      deadline: 60")
    config = load(tmp_path, given)
    assert config.sites[0].wordpress.deadline == 60
    assert config.warnings == (
        "sites[0].wordpress.deadline (60 s) is shorter than sites[0].wordpress.timeout "
        "(300 s): one slow answer uses it up",
    )


def test_a_textfile_directory_that_is_gone_is_a_warning_not_a_refusal(tmp_path: Path) -> None:
    """node_exporter removed: the syncs go on (CONTRACT §10: a metrics target that fails
    costs a warning, never the pass)."""
    config = load(tmp_path, MINIMAL + "metrics:\n  textfile: /nonexistent/igny8_agent.prom\n")
    assert config.warnings == (
        "metrics.textfile: /nonexistent is not a directory (yet?): the metrics will not be "
        "written there",
    )
    other_name = load(tmp_path, MINIMAL + f"metrics:\n  textfile: {tmp_path}/igny8_agent.txt\n")
    assert other_name.warnings == (
        "metrics.textfile: igny8_agent.txt does not end in .prom: node_exporter's textfile "
        "collector reads only *.prom files",
    )
    assert other_name.metrics.textfile == tmp_path / "igny8_agent.txt"


def test_a_duration_with_a_unit_is_told_it_is_seconds(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + "schedule:\n  check_every: 1h\n")
    assert problem_at(problems, "schedule.check_every") == (
        "schedule.check_every: must be a whole number of seconds, not '1h'"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "{good}", "check-config"],
        ["check-config", "--config", "{good}"],
        ["--config", "{missing}", "check-config", "--config", "{good}"],  # the later wins
        ["check-config", "--log-level", "debug", "--config", "{good}"],
    ],
    ids=["before", "after", "both", "log-level-after"],
)
def test_global_options_are_taken_before_or_after_the_command(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    good = write_config(tmp_path, MINIMAL)
    missing = tmp_path / "missing.yaml"
    args = [a.format(good=good, missing=missing) for a in argv]
    assert main(args) == 0, capsys.readouterr().err
    assert "ok" in capsys.readouterr().out.lower()


def test_config_given_before_the_command_stands_when_none_follows(tmp_path: Path) -> None:
    from agent.cli import main

    assert main(["--config", str(tmp_path / "missing.yaml"), "check-config"]) == 2


def test_check_config_names_a_fleet_on_one_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    entry = MINIMAL.split("sites:\n")[1]
    sites = "".join(entry.replace("main-blog", f"site{n}") for n in range(25))
    path = write_config(tmp_path, MINIMAL.split("sites:\n")[0] + "sites:\n" + sites)
    assert main(["--config", str(path), "check-config"]) == 0
    names = ", ".join(f"site{n}" for n in range(10))
    assert capsys.readouterr().out == f"{path}: OK, 25 site(s): {names} and 15 more\n"
