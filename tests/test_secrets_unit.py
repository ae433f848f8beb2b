"""Secrets never show (CONTRACT §8): Secret, Config.secrets() and the log redaction filter."""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import load_config
from agent.logs import mask_secrets, setup_logging, site_log
from agent.secret import Secret, redact

API_KEY = "igny8-api-key-7Hq2Lp"
PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"
OTHER_KEY = "second-site-key-Xy9"


# --- Secret ----------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(API_KEY)
    percent_forms = ("%s" % secret, "%r" % secret)  # noqa: UP031 - as logging formats
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        format(secret),
        *percent_forms,
        repr([secret]),
        repr({"key": secret}),
    ):
        assert API_KEY not in shown
    assert secret.reveal() == API_KEY


def test_secret_equality_without_revealing() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"


def test_redact_masks_every_secret_longest_first() -> None:
    text = f"key={API_KEY} pass={PASSWORD} again {API_KEY}"
    masked = redact(text, [API_KEY, PASSWORD, ""])
    assert API_KEY not in masked
    assert PASSWORD not in masked
    assert redact("abcdef", ["abc", "abcdef"]) == redact("abcdef", ["abcdef"])


# --- Config.secrets() and config reprs -------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("T_SECRET_API_KEY", API_KEY)
    monkeypatch.setenv("T_SECRET_WP_PASS", PASSWORD)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    (tmp_path / "other.key").write_text(OTHER_KEY + "\n")
    (tmp_path / "other.key").chmod(0o600)
    path = tmp_path / "config.yaml"
    path.write_text(
        "backend: {url: 'https://api.igny8.com/api'}\n"
        "sites:\n"
        "  - name: blog\n"
        "    site_id: 5\n"
        "    api_key: ${T_SECRET_API_KEY}\n"
        "    wordpress:\n"
        "      url: https://blog.example.com\n"
        "      username: igny8-agent\n"
        "      app_password: ${T_SECRET_WP_PASS}\n"
        "  - name: shop\n"
        "    site_id: 6\n"
        "    api_key_file: other.key\n"
        "    wordpress: {url: 'https://shop.example.com'}\n"
    )
    path.chmod(0o600)
    return load_config(path)


def test_config_secrets_lists_every_credential(config) -> None:
    secrets = config.secrets()
    assert API_KEY in secrets
    assert OTHER_KEY in secrets
    assert PASSWORD in secrets
    assert PASSWORD.replace(" ", "") in secrets  # WordPress accepts it without the spaces
    basic = base64.b64encode(f"igny8-agent:{PASSWORD}".encode()).decode()
    assert basic in secrets  # the Authorization: Basic value


def test_config_repr_holds_no_secret(config) -> None:
    shown = repr(config) + str(config) + repr(config.sites)
    for secret in (API_KEY, OTHER_KEY, PASSWORD):
        assert secret not in shown


# --- the logging redaction filter ------------------------------------------------------------


@pytest.fixture
def logging_setup() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("urllib3").level)
    yield
    mask_secrets([])
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("urllib3").setLevel(saved[2])
    logging.captureWarnings(False)


def test_secret_in_a_log_message_is_masked(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("debug")
    mask_secrets([API_KEY, PASSWORD])
    log = site_log("blog")
    log.info("sending Authorization: Bearer %s", API_KEY)
    log.debug(f"password is {PASSWORD}")
    logging.getLogger("urllib3.connectionpool").error("url had %s in it", API_KEY)
    err = capsys.readouterr().err
    assert "Bearer" in err and "password is" in err and "url had" in err
    assert API_KEY not in err
    assert PASSWORD not in err
    assert "[blog]" in err


def test_secret_in_a_traceback_is_masked(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info")
    mask_secrets([API_KEY])
    log = site_log("blog")
    try:
        raise RuntimeError(f"backend said: bad key {API_KEY}")
    except RuntimeError:
        log.exception("push failed")
    err = capsys.readouterr().err
    assert "push failed" in err
    assert "Traceback" in err
    assert "RuntimeError: backend said: bad key" in err
    assert API_KEY not in err
    assert len(err.splitlines()) == 1, err  # one line per event, its traceback included
    assert err.rstrip().endswith("RuntimeError: backend said: bad key ***"), err


def test_log_lines_without_secrets_are_unchanged(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info")
    mask_secrets([API_KEY])
    site_log("blog").info("pushed %d post types", 3)
    assert "pushed 3 post types" in capsys.readouterr().err


def test_logs_go_to_stderr_not_stdout(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info")
    site_log("blog").warning("something")
    captured = capsys.readouterr()
    assert "something" in captured.err
    assert captured.out == ""


def test_no_timestamps_under_journald(
    logging_setup: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    setup_logging("info")
    site_log("blog").info("hello")
    line = capsys.readouterr().err.strip()
    assert line.startswith("INFO"), line


def test_warnings_module_output_is_masked(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    setup_logging("info")
    mask_secrets([API_KEY])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"insecure request with {API_KEY}", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert "insecure request" in err
    assert API_KEY not in err


def test_stderr_is_the_one_at_setup_time(logging_setup: None) -> None:
    setup_logging("info")
    handlers = logging.getLogger().handlers
    assert any(getattr(h, "stream", None) is sys.stderr for h in handlers)


def test_bad_log_call_neither_raises_nor_leaks(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info")
    mask_secrets([API_KEY])
    site_log("blog").info("%d items for key", API_KEY)  # wrong format: a logging mistake
    err = capsys.readouterr().err
    [line] = err.splitlines()  # one line, no "--- Logging error ---" traceback
    assert "[blog] %d items for key ('***',)" in line
    assert API_KEY not in err


def test_bad_log_call_without_masking_does_not_raise(
    logging_setup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info")
    site_log("blog").info("%d items", "x")  # a logging mistake: shown, never raised
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.endswith("INFO [blog] %d items ('x',)")


def test_backend_message_is_masked_before_it_is_cut() -> None:
    from agent.backend import MESSAGE_LIMIT, backend_message
    from agent.http import HttpResponse

    key = "igny8-secret-key-0123456789"
    body = json.dumps({"error": "x" * (MESSAGE_LIMIT - 10) + key}).encode()
    message = backend_message(HttpResponse(422, {}, body, "http://x/"), [key])
    assert "igny8-sec" not in message  # no prefix of the key survives the cut
    assert len(message) <= MESSAGE_LIMIT


def test_basic_auth_form_is_masked_in_logs(capsys: pytest.CaptureFixture[str]) -> None:
    from agent.logs import mask_secrets, setup_logging, site_log

    basic = base64.b64encode(b"admin:abcd efgh ijkl mnop").decode()
    setup_logging("debug")
    mask_secrets(["abcd efgh ijkl mnop", basic])
    site_log("blog").debug("header was Basic %s", basic)
    assert basic not in capsys.readouterr().err


def test_a_ping_url_rebuilt_by_a_library_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """urllib3 and friends spell the port out and the agent adds /start: the token is
    masked in whatever form the URL reaches a log line."""
    from agent.config.model import ping_url_forms

    setup_logging("debug")
    for url, logged, token in (
        (
            "https://hc-ping.com/0f3c2a1e-aaaa-bbbb-cccc-1234567890ab",
            "https://hc-ping.com:443/0f3c2a1e-aaaa-bbbb-cccc-1234567890ab/start",
            "0f3c2a1e",
        ),
        (
            "https://monitor.example/ping?key=KEY-0123456789",
            "https://monitor.example:443/ping/fail?key=KEY-0123456789",
            "KEY-0123",
        ),
    ):
        mask_secrets(ping_url_forms(url))
        logging.getLogger("urllib3.connectionpool").error(
            "Failed to parse headers (url=%s)", logged
        )
        assert token not in capsys.readouterr().err


def test_a_peer_echoing_a_password_is_masked_before_the_cut() -> None:
    """A WAF page or a plugin's fault quoting the request: cutting it first would leave
    most of the password unmasked."""
    from agent.text import quoted

    mask_secrets([PASSWORD])
    text = quoted("x" * 480 + " bad password: " + PASSWORD, 500)
    assert "abcd" not in text and "EFGH" not in text
    assert text.endswith("bad password: ***")


def test_a_huge_log_line_is_cut(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info")
    mask_secrets([])
    site_log("blog").warning("header data %s", "x" * 100_000)
    [line] = capsys.readouterr().err.splitlines()
    assert len(line) < 4200
    assert line.endswith("… (96012 more characters)")
