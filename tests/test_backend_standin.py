"""Tests of the IGNY8 backend stand-in itself (tests/support/backend_standin.py)."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.backend_standin import (
    BackendStandin,
    Fault,
    Integration,
    validate_structure,
)

KEY5 = "key-five-secret"
KEY6 = "key-six-secret"
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
REPO_ROOT = Path(__file__).resolve().parent.parent


def valid_payload() -> dict[str, Any]:
    return {
        "post_types": {
            "post": {"label": "Posts", "count": 123, "enabled": True, "fetch_limit": 100},
            "product": {"label": "Produkte ä", "count": 0, "enabled": False, "fetch_limit": 50},
        },
        "taxonomies": {
            "category": {"label": "Categories", "count": 25, "enabled": True, "fetch_limit": 1},
        },
        "plugin_connection_enabled": True,
        "two_way_sync_enabled": False,
        "timestamp": "2025-11-22T10:00:00Z",
    }


def make_standin(list_shape: str = "bare") -> BackendStandin:
    return BackendStandin(
        api_keys={5: KEY5, 6: KEY6},
        integrations=[
            Integration(id=123, site_id=5),
            Integration(id=124, site_id=5, platform="shopify"),
            Integration(id=200, site_id=6, is_active=False),
        ],
        list_shape=list_shape,
    )


@pytest.fixture
def standin() -> Iterator[BackendStandin]:
    with make_standin() as backend:
        yield backend


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers.update({"Authorization": f"Bearer {KEY5}", **JSON_HEADERS})
        yield s


def list_url(backend: BackendStandin, site: int = 5) -> str:
    return f"{backend.url}/v1/integration/integrations/?site={site}"


def update_url(backend: BackendStandin, integration_id: int = 123) -> str:
    return f"{backend.url}/v1/integration/integrations/{integration_id}/update-structure/"


def content_types_url(backend: BackendStandin, integration_id: int = 123) -> str:
    return f"{backend.url}/v1/integration/integrations/{integration_id}/content-types/"


def assert_error(response: requests.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    for fragment in fragments:
        assert fragment in body["error"]


# ------------------------------------------------------------------ list lookup


def _unwrap(shape: str, body: Any) -> list[dict[str, Any]]:
    if shape == "bare":
        return body
    if shape == "success_data":
        assert body["success"] is True
        return body["data"]["results"]
    return body[shape]


@pytest.mark.parametrize("shape", ["bare", "results", "data", "success_data"])
def test_list_shapes(shape: str, session: requests.Session) -> None:
    with make_standin(shape) as backend:
        response = session.get(list_url(backend))
    assert response.status_code == 200
    items = _unwrap(shape, response.json())
    assert [(i["id"], i["platform"], i["is_active"]) for i in items] == [
        (123, "wordpress", True),
        (124, "shopify", True),
    ]


def test_list_requires_valid_key(standin: BackendStandin, session: requests.Session) -> None:
    assert_error(session.get(list_url(standin), headers={"Authorization": None}), 401)
    wrong = {"Authorization": "Bearer nope"}
    assert_error(session.get(list_url(standin), headers=wrong), 401)
    assert_error(session.get(list_url(standin), headers={"Authorization": KEY5}), 401)


def test_list_with_key_of_other_site_is_forbidden(
    standin: BackendStandin, session: requests.Session
) -> None:
    assert_error(session.get(list_url(standin, site=6)), 403)
    other = {"Authorization": f"Bearer {KEY6}"}
    assert session.get(list_url(standin, site=6), headers=other).json()[0]["id"] == 200


def test_list_requires_accept_json(standin: BackendStandin, session: requests.Session) -> None:
    assert_error(session.get(list_url(standin), headers={"Accept": None}), 406)
    assert_error(session.get(list_url(standin), headers={"Accept": "*/*"}), 406)
    accept = {"Accept": "application/json; charset=utf-8, */*;q=0.1"}
    assert session.get(list_url(standin), headers=accept).status_code == 200


def test_list_needs_site_parameter(standin: BackendStandin, session: requests.Session) -> None:
    url = f"{standin.url}/v1/integration/integrations/"
    assert_error(session.get(url), 400, "site")


def test_added_and_removed_integrations_show_in_list(
    standin: BackendStandin, session: requests.Session
) -> None:
    standin.add_integration(Integration(id=130, site_id=5))
    standin.remove_integration(124)
    assert [i["id"] for i in session.get(list_url(standin)).json()] == [123, 130]


# ------------------------------------------------------------------------- push


def test_valid_push_is_stored_and_listed(
    standin: BackendStandin, session: requests.Session
) -> None:
    assert_error(session.get(content_types_url(standin)), 404)
    payload = valid_payload()
    response = session.post(update_url(standin), data=json.dumps(payload).encode())
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            "message": "Site structure updated successfully",
            "post_types_count": 2,
            "taxonomies_count": 1,
            "last_structure_fetch": "2025-11-22T10:00:00Z",
        },
    }
    assert standin.stored == {123: payload}
    data = session.get(content_types_url(standin)).json()["data"]
    assert data["post_types"][1] == {
        "slug": "product",
        "label": "Produkte ä",
        "count": 0,
        "enabled": False,
        "fetch_limit": 50,
    }
    assert [t["slug"] for t in data["taxonomies"]] == ["category"]
    assert data["last_structure_fetch"] == "2025-11-22T10:00:00Z"
    assert data["plugin_connection_enabled"] is True
    assert data["two_way_sync_enabled"] is False


def test_push_auth_and_integration_rules(
    standin: BackendStandin, session: requests.Session
) -> None:
    body = json.dumps(valid_payload())
    assert_error(session.post(update_url(standin), data=body, headers={"Authorization": None}), 401)
    assert_error(session.post(update_url(standin, 999), data=body), 404)
    assert_error(session.post(update_url(standin, 200), data=body), 403)
    inactive = {"Authorization": f"Bearer {KEY6}"}
    assert_error(
        session.post(update_url(standin, 200), data=body, headers=inactive), 403, "inactive"
    )
    assert standin.stored == {}


def test_push_requires_json_content_type(
    standin: BackendStandin, session: requests.Session
) -> None:
    body = json.dumps(valid_payload())
    assert_error(session.post(update_url(standin), data=body, headers={"Content-Type": None}), 415)
    text = {"Content-Type": "text/plain"}
    assert_error(session.post(update_url(standin), data=body, headers=text), 415)
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert session.post(update_url(standin), data=body, headers=charset).status_code == 200


def _mutated(change: str) -> dict[str, Any]:
    payload = valid_payload()
    post = payload["post_types"]["post"]
    changes: dict[str, Any] = {
        "extra_top": lambda: payload.update(site_id=5),
        "missing_top": lambda: payload.pop("two_way_sync_enabled"),
        "bool_count": lambda: post.update(count=True),
        "float_count": lambda: post.update(count=3.0),
        "negative_count": lambda: post.update(count=-1),
        "fetch_limit_0": lambda: post.update(fetch_limit=0),
        "bool_fetch_limit": lambda: post.update(fetch_limit=True),
        "empty_label": lambda: post.update(label=""),
        "string_enabled": lambda: post.update(enabled="yes"),
        "extra_entry_key": lambda: post.update(rest_base="posts"),
        "missing_entry_key": lambda: post.pop("enabled"),
        "empty_slug": lambda: payload["taxonomies"].update({"": copy.deepcopy(post)}),
        "list_section": lambda: payload.update(taxonomies=[]),
        "int_flag": lambda: payload.update(plugin_connection_enabled=1),
        "offset_timestamp": lambda: payload.update(timestamp="2025-11-22T10:00:00+00:00"),
        "space_timestamp": lambda: payload.update(timestamp="2025-11-22 10:00:00Z"),
        "fraction_timestamp": lambda: payload.update(timestamp="2025-11-22T10:00:00.5Z"),
        "impossible_date": lambda: payload.update(timestamp="2025-02-30T10:00:00Z"),
        "hour_24": lambda: payload.update(timestamp="2025-11-22T24:00:00Z"),
    }
    changes[change]()
    return payload


@pytest.mark.parametrize(
    ("change", "key_path"),
    [
        ("extra_top", "site_id"),
        ("missing_top", "two_way_sync_enabled"),
        ("bool_count", "post_types.post.count"),
        ("float_count", "post_types.post.count"),
        ("negative_count", "post_types.post.count"),
        ("fetch_limit_0", "post_types.post.fetch_limit"),
        ("bool_fetch_limit", "post_types.post.fetch_limit"),
        ("empty_label", "post_types.post.label"),
        ("string_enabled", "post_types.post.enabled"),
        ("extra_entry_key", "post_types.post.rest_base"),
        ("missing_entry_key", "post_types.post.enabled"),
        ("empty_slug", "taxonomies"),
        ("list_section", "taxonomies"),
        ("int_flag", "plugin_connection_enabled"),
        ("offset_timestamp", "timestamp"),
        ("space_timestamp", "timestamp"),
        ("fraction_timestamp", "timestamp"),
        ("impossible_date", "timestamp"),
        ("hour_24", "timestamp"),
    ],
)
def test_invalid_payload_is_rejected_naming_the_key(
    change: str, key_path: str, standin: BackendStandin, session: requests.Session
) -> None:
    body = json.dumps(_mutated(change))
    assert_error(session.post(update_url(standin), data=body), 400, key_path)
    assert standin.stored == {}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b"\xff\xfe", b'{"timestamp": NaN}', b'{"a": 1, "a": 2}', b""],
)
def test_malformed_body_is_rejected(
    body: bytes, standin: BackendStandin, session: requests.Session
) -> None:
    assert_error(session.post(update_url(standin), data=body), 400)


def test_validate_structure_accepts_contract_example() -> None:
    assert validate_structure(valid_payload()) == []
    empty = {**valid_payload(), "post_types": {}, "taxonomies": {}}
    assert validate_structure(empty) == []


def test_validate_structure_reports_every_problem() -> None:
    payload = _mutated("bool_count")
    payload["timestamp"] = "yesterday"
    errors = validate_structure(payload)
    assert len(errors) == 2
    assert errors[0].startswith("post_types.post.count:")
    assert errors[1].startswith("timestamp:")


# ---------------------------------------------------------------- scripted faults


def test_fault_status_and_retry_after_then_normal(
    standin: BackendStandin, session: requests.Session
) -> None:
    standin.script(
        "POST",
        "/update-structure/",
        [Fault(429, headers={"Retry-After": "2"}), Fault(500, body={"detail": "boom"})],
    )
    body = json.dumps(valid_payload())
    first = session.get(list_url(standin))  # GETs are not scripted: normal answer
    assert first.status_code == 200
    answers = [session.post(update_url(standin), data=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 500, 200]
    assert answers[0].headers["Retry-After"] == "2"
    assert answers[0].json()["success"] is False
    assert answers[1].json() == {"detail": "boom"}
    assert standin.pending_faults() == 0
    posts = standin.posts()
    assert [p.status for p in posts] == [429, 500, 200]
    assert posts[0].fault is not None and posts[2].fault is None
    assert posts[0].headers["authorization"] == f"Bearer {KEY5}"
    assert posts[0].json == valid_payload()


def test_fault_raw_html_body(standin: BackendStandin, session: requests.Session) -> None:
    standin.script("GET", "/integrations/", [Fault(200, raw=b"<html>maintenance</html>")])
    response = session.get(list_url(standin))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == "<html>maintenance</html>"


def test_fault_delay_provokes_read_timeout(
    standin: BackendStandin, session: requests.Session
) -> None:
    standin.script("POST", "/update-structure/", [Fault(delay=0.5)])
    with pytest.raises(requests.ReadTimeout):
        session.post(update_url(standin), data=json.dumps(valid_payload()), timeout=0.1)


def test_fault_delay_with_normal_answer(standin: BackendStandin, session: requests.Session) -> None:
    standin.script("POST", "/update-structure/", [Fault(status=None, delay=0.2)])
    started = time.monotonic()
    response = session.post(update_url(standin), data=json.dumps(valid_payload()))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
    assert 123 in standin.stored


@pytest.mark.parametrize("kind", ["drop", "reset"])
def test_drop_and_reset_raise_connection_error(
    kind: str, standin: BackendStandin, session: requests.Session
) -> None:
    standin.script("POST", "/update-structure/", [Fault(**{kind: True})])
    with pytest.raises(requests.ConnectionError):
        session.post(update_url(standin), data=json.dumps(valid_payload()))
    assert standin.posts()[0].status is None
    # the next request works again (on a new connection)
    response = session.post(update_url(standin), data=json.dumps(valid_payload()))
    assert response.status_code == 200


def _raw_exchange(backend: BackendStandin, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", backend.port), timeout=2) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def test_drop_closes_without_answer_and_reset_sends_rst(standin: BackendStandin) -> None:
    request = b"GET /api/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    standin.script("GET", "/nothing", [Fault(drop=True), Fault(reset=True)])
    assert _raw_exchange(standin, request) == b""
    with pytest.raises(ConnectionResetError):
        _raw_exchange(standin, request)
    assert _raw_exchange(standin, request).startswith(b"HTTP/1.1 404")


# ------------------------------------------------------------- paths and plumbing


def test_doubled_slash_is_recorded_and_not_found(
    standin: BackendStandin, session: requests.Session
) -> None:
    url = f"{standin.url}//v1/integration/integrations/123/update-structure/"
    assert_error(session.post(url, data=json.dumps(valid_payload())), 404, "doubled slash")
    assert_error(session.get(f"{standin.url}//v1/integration/integrations/?site=5"), 404)
    assert standin.posts()[0].path == "/api//v1/integration/integrations/123/update-structure/"
    assert standin.stored == {}


def test_unknown_paths_and_methods(standin: BackendStandin, session: requests.Session) -> None:
    assert_error(session.get(f"{standin.url}/v1/other/"), 404)
    no_slash = update_url(standin).rstrip("/")
    assert_error(session.post(no_slash, data=json.dumps(valid_payload())), 404)
    assert_error(session.get(update_url(standin)), 405)


def test_keep_alive_serves_several_requests_on_one_connection(standin: BackendStandin) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=2)
    headers = {"Authorization": f"Bearer {KEY5}", **JSON_HEADERS}
    try:
        for _ in range(3):
            conn.request(
                "POST",
                "/api/v1/integration/integrations/123/update-structure/",
                body=json.dumps(valid_payload()),
                headers=headers,
            )
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["success"] is True
        assert conn.sock is not None  # never reconnected
    finally:
        conn.close()


def test_wait_for_posts(standin: BackendStandin, session: requests.Session) -> None:
    def post_later() -> None:
        time.sleep(0.1)
        session.post(update_url(standin), data=json.dumps(valid_payload()))

    thread = threading.Thread(target=post_later)
    thread.start()
    assert len(standin.wait_for_posts(1, timeout=2)) == 1
    thread.join()
    with pytest.raises(TimeoutError):
        standin.wait_for_posts(2, timeout=0.1)


def test_stop_refuses_and_restart_keeps_port(session: requests.Session) -> None:
    backend = make_standin().start()
    url = list_url(backend)
    assert session.get(url).status_code == 200
    backend.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=2)
    backend.start()
    try:
        assert session.get(url).status_code == 200
    finally:
        backend.stop()


def test_command_line_demo_never_logs_the_key() -> None:
    command = [
        sys.executable,
        "-m",
        "tests.support.backend_standin",
        "--port",
        "0",
        "--site",
        f"5:{KEY5}:123",
        "--list-shape",
        "results",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
        headers = {"Authorization": f"Bearer {KEY5}", "Accept": "application/json"}
        response = requests.get(f"{url}/v1/integration/integrations/?site=5", headers=headers)
        assert response.json()["results"][0]["id"] == 123
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0
    assert "GET /api/v1/integration/integrations/?site=5 auth=site 5 -> 200" in stderr
    assert KEY5 not in stderr
