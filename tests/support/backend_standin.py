"""A stand-in for the IGNY8 backend API, for tests and demos.

It is a real HTTP/1.1 server on 127.0.0.1 that answers like the IGNY8 API
(CONTRACT.md section 2) and validates structure payloads strictly (section 3).
The agent under test talks to it over HTTP; tests in the same process inspect
the recorded requests, the stored payloads, and script faults.

Run it in the foreground for a demo::

    python -m tests.support.backend_standin --port 8765 --site 5:KEY:123
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

API_PREFIX = "/api"
LIST_SHAPES = ("bare", "results", "data", "success_data")

LIST_ROUTE = re.compile(r"^/api/v1/integration/integrations/$")
UPDATE_ROUTE = re.compile(r"^/api/v1/integration/integrations/(\d+)/update-structure/$")
CONTENT_TYPES_ROUTE = re.compile(r"^/api/v1/integration/integrations/(\d+)/content-types/$")

TOP_LEVEL_KEYS = (
    "post_types",
    "taxonomies",
    "plugin_connection_enabled",
    "two_way_sync_enabled",
    "timestamp",
)
ENTRY_KEYS = ("label", "count", "enabled", "fetch_limit")
TIMESTAMP_PATTERN = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$", re.ASCII)

UPDATE_SUFFIX = "/update-structure/"


# --------------------------------------------------------------------------- data


@dataclass
class Integration:
    id: int
    site_id: int
    platform: str = "wordpress"
    is_active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site_id,
            "platform": self.platform,
            "is_active": self.is_active,
        }


class Headers(dict[str, str]):
    """Request headers; keys are stored lower-cased and looked up case-insensitively."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in items:
            self[name] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: object | None
    at: float  # time.monotonic() when the request arrived
    status: int | None = None  # status answered; None while pending or when dropped/reset
    fault: Fault | None = None  # the scripted fault that answered it, if any


@dataclass
class Fault:
    """One scripted answer. Faults queued with BackendStandin.script are consumed in order."""

    status: int | None = 503  # None: answer normally (after delay, with extra headers)
    body: object | None = None  # JSON body; default a generic error object
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering
    drop: bool = False  # close the connection without any answer
    reset: bool = False  # abort with TCP RST without answering
    raw: bytes | None = None  # send these bytes as a text/html body


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""  # short reason, for the request log

    @classmethod
    def json(cls, status: int, payload: object, note: str = "") -> Answer:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status=status, body=data, note=note)

    @classmethod
    def error(cls, status: int, message: str) -> Answer:
        return cls.json(status, {"success": False, "error": message}, note=message)


@dataclass
class _ScriptedQueue:
    method: str
    path_suffix: str
    faults: deque[Fault]

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method in ("*", method)
        return method_ok and path.endswith(self.path_suffix) and bool(self.faults)


# --------------------------------------------------------------------- validation


class _DuplicateKeyError(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_strict_json(body: bytes) -> object:
    """Parse UTF-8 JSON, rejecting duplicate object keys, NaN and Infinity."""
    text = body.decode("utf-8")
    return json.loads(
        text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
    )


def _describe(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)[:80]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_exact_keys(obj: dict[str, Any], expected: tuple[str, ...], where: str) -> list[str]:
    errors = [f"{where}{key}: missing" for key in expected if key not in obj]
    errors += [f"{where}{key}: unexpected key" for key in obj if key not in expected]
    return errors


def _validate_entry(entry: object, path: str) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{path}: must be an object, got {_describe(entry)}"]
    errors = _check_exact_keys(entry, ENTRY_KEYS, f"{path}.")
    label = entry.get("label")
    if "label" in entry and not (isinstance(label, str) and label.strip()):
        errors.append(f"{path}.label: must be a non-empty string, got {_describe(label)}")
    count = entry.get("count")
    if "count" in entry and not (_is_int(count) and count >= 0):
        errors.append(f"{path}.count: must be an integer >= 0, got {_describe(count)}")
    enabled = entry.get("enabled")
    if "enabled" in entry and not isinstance(enabled, bool):
        errors.append(f"{path}.enabled: must be a boolean, got {_describe(enabled)}")
    limit = entry.get("fetch_limit")
    if "fetch_limit" in entry and not (_is_int(limit) and limit >= 1):
        errors.append(f"{path}.fetch_limit: must be an integer >= 1, got {_describe(limit)}")
    return errors


def _validate_section(section: object, name: str) -> list[str]:
    if not isinstance(section, dict):
        return [f"{name}: must be an object mapping slugs to entries, got {_describe(section)}"]
    errors: list[str] = []
    for slug, entry in section.items():
        if not slug.strip():
            errors.append(f"{name}: slug {slug!r} must be a non-empty string")
            continue
        errors += _validate_entry(entry, f"{name}.{slug}")
    return errors


def _validate_timestamp(value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"timestamp: must be a string like 2025-11-22T10:00:00Z, got {_describe(value)}"]
    match = TIMESTAMP_PATTERN.match(value)
    if match is None:
        return [f"timestamp: must match YYYY-MM-DDTHH:MM:SSZ, got {_describe(value)}"]
    try:
        dt.datetime(*(int(part) for part in match.groups()))
    except ValueError as exc:
        return [f"timestamp: not a real date/time ({exc}), got {_describe(value)}"]
    return []


def validate_structure(payload: object) -> list[str]:
    """Every way `payload` departs from CONTRACT section 3; empty when it is valid."""
    if not isinstance(payload, dict):
        return [f"body: must be a JSON object, got {_describe(payload)}"]
    errors = _check_exact_keys(payload, TOP_LEVEL_KEYS, "")
    for section in ("post_types", "taxonomies"):
        if section in payload:
            errors += _validate_section(payload[section], section)
    for flag in ("plugin_connection_enabled", "two_way_sync_enabled"):
        if flag in payload and not isinstance(payload[flag], bool):
            errors.append(f"{flag}: must be a boolean, got {_describe(payload[flag])}")
    if "timestamp" in payload:
        errors += _validate_timestamp(payload["timestamp"])
    return errors


# ------------------------------------------------------------------ header checks


def _media_types(header_value: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header_value.split(",")]


def _accepts_json(request: RecordedRequest) -> bool:
    return "application/json" in _media_types(request.headers.get("Accept", ""))


def _sends_json(request: RecordedRequest) -> bool:
    return _media_types(request.headers.get("Content-Type", ""))[0] == "application/json"


def _bearer_key(request: RecordedRequest) -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    return key


def _content_type_entries(section: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"slug": slug, **entry} for slug, entry in section.items()]


# ----------------------------------------------------------------------- backend


class BackendStandin:
    """The IGNY8 API stand-in. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        api_keys: dict[int, str],
        integrations: Iterable[Integration] = (),
        list_shape: str = "bare",
        port: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if list_shape not in LIST_SHAPES:
            raise ValueError(f"list_shape must be one of {LIST_SHAPES}, got {list_shape!r}")
        self.api_keys: dict[int, str] = dict(api_keys)
        self.integrations: dict[int, Integration] = {i.id: i for i in integrations}
        self.list_shape = list_shape
        self.port = port
        self.log = log
        self.requests: list[RecordedRequest] = []
        self.stored: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._scripts: list[_ScriptedQueue] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()

    # ---- lifecycle

    @property
    def url(self) -> str:
        """Base URL to configure as the agent's backend.url, e.g. http://127.0.0.1:PORT/api."""
        if self._server is None:
            raise RuntimeError("BackendStandin is not started")
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    def start(self) -> BackendStandin:
        """Start serving; after a stop() it restarts on the same port."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"backend-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (clients then see refused/reset)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        self._close_open_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BackendStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _close_open_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _track_connection(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ---- scripting and inspection

    def script(self, method: str, path_suffix: str, faults: list[Fault]) -> None:
        """Queue answers for the next requests with this method whose path ends with path_suffix.

        method "*" matches any method. When the queue is empty, normal behaviour resumes.
        """
        method = method.upper()
        with self._lock:
            for queue in self._scripts:
                if queue.method == method and queue.path_suffix == path_suffix:
                    queue.faults.extend(faults)
                    return
            self._scripts.append(_ScriptedQueue(method, path_suffix, deque(faults)))

    def pending_faults(self) -> int:
        """How many scripted faults have not been consumed yet."""
        with self._lock:
            return sum(len(queue.faults) for queue in self._scripts)

    def add_integration(self, integration: Integration) -> None:
        with self._lock:
            self.integrations[integration.id] = integration

    def remove_integration(self, id: int) -> None:
        with self._lock:
            self.integrations.pop(id, None)

    def posts(self) -> list[RecordedRequest]:
        """The update-structure POSTs received so far, in order (whatever their answer)."""
        with self._lock:
            return [r for r in self.requests if self._is_post(r)]

    def wait_for_posts(self, n: int, timeout: float) -> list[RecordedRequest]:
        """Wait until at least n update-structure POSTs arrived; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self.requests if self._is_post(r)]
                remaining = deadline - time.monotonic()
                if len(found) >= n:
                    return found
                if remaining <= 0:
                    raise TimeoutError(f"expected {n} update-structure POSTs, got {len(found)}")
                self._changed.wait(remaining)

    @staticmethod
    def _is_post(request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path.endswith(UPDATE_SUFFIX)

    # ---- called by the HTTP handler

    def record(self, request: RecordedRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for queue in self._scripts:
                if queue.matches(method, path):
                    return queue.faults.popleft()
        return None

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the stand-in stops."""
        self._stopping.wait(seconds)

    def describe_auth(self, request: RecordedRequest) -> str:
        """How a request authenticated, for logs; never the key itself."""
        key = _bearer_key(request)
        if key is None:
            return "none" if "Authorization" not in request.headers else "malformed"
        sites = self._sites_of_key(key)
        return f"site {','.join(map(str, sites))}" if sites else "unknown-key"

    # ---- normal behaviour

    def answer(self, request: RecordedRequest) -> Answer:
        """The normal answer to a request (without scripted faults)."""
        if "//" in request.path:
            return Answer.error(404, f"Not found: {request.path} (doubled slash in the path)")
        routes: list[tuple[re.Pattern[str], str, Callable[..., Answer]]] = [
            (LIST_ROUTE, "GET", self._list_integrations),
            (UPDATE_ROUTE, "POST", self._update_structure),
            (CONTENT_TYPES_ROUTE, "GET", self._content_types),
        ]
        for pattern, method, handler in routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if request.method != method:
                answer = Answer.error(405, f"Method {request.method} not allowed")
                answer.headers["Allow"] = method
                return answer
            return self._guarded(request, handler, *(int(g) for g in match.groups()))
        return Answer.error(404, f"Not found: {request.path}")

    def _guarded(
        self, request: RecordedRequest, handler: Callable[..., Answer], *args: int
    ) -> Answer:
        key = _bearer_key(request)
        if key is None:
            return Answer.error(401, "Authentication credentials were not provided (Bearer).")
        if not self._sites_of_key(key):
            return Answer.error(401, "Invalid API key.")
        if not _accepts_json(request):
            return Answer.error(406, "Accept header must include application/json.")
        return handler(request, key, *args)

    def _sites_of_key(self, key: str) -> list[int]:
        with self._lock:
            return [site for site, site_key in self.api_keys.items() if site_key == key]

    def _key_allows_site(self, key: str, site_id: int) -> bool:
        with self._lock:
            return self.api_keys.get(site_id) == key

    def _list_integrations(self, request: RecordedRequest, key: str) -> Answer:
        values = request.query.get("site", [])
        if len(values) != 1 or not values[0].isdigit():
            return Answer.error(400, "Query parameter 'site' must be one integer site id.")
        site_id = int(values[0])
        if not self._key_allows_site(key, site_id):
            return Answer.error(403, f"This API key has no access to site {site_id}.")
        with self._lock:
            items = [i.to_json() for i in self.integrations.values() if i.site_id == site_id]
        return Answer.json(200, self._wrap_list(items))

    def _wrap_list(self, items: list[dict[str, Any]]) -> object:
        if self.list_shape == "results":
            return {"count": len(items), "next": None, "previous": None, "results": items}
        if self.list_shape == "data":
            return {"data": items}
        if self.list_shape == "success_data":
            return {"success": True, "data": {"count": len(items), "results": items}}
        return items

    def _integration_for(self, key: str, integration_id: int) -> Integration | Answer:
        with self._lock:
            integration = self.integrations.get(integration_id)
        if integration is None:
            return Answer.error(404, f"Integration {integration_id} not found.")
        if not self._key_allows_site(key, integration.site_id):
            return Answer.error(403, f"This API key has no access to integration {integration_id}.")
        if not integration.is_active:
            return Answer.error(403, f"Integration {integration_id} is inactive.")
        return integration

    def _update_structure(self, request: RecordedRequest, key: str, integration_id: int) -> Answer:
        integration = self._integration_for(key, integration_id)
        if isinstance(integration, Answer):
            return integration
        if not _sends_json(request):
            content_type = request.headers.get("Content-Type", "(none)")
            return Answer.error(415, f"Content-Type must be application/json, got {content_type}")
        try:
            payload = parse_strict_json(request.body)
        except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
            return Answer.error(400, f"body: not valid JSON ({exc})")
        errors = validate_structure(payload)
        if errors:
            return Answer.error(400, "Invalid structure: " + "; ".join(errors))
        assert isinstance(payload, dict)
        with self._lock:
            self.stored[integration_id] = payload
        return Answer.json(200, self._update_result(payload))

    @staticmethod
    def _update_result(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "success": True,
            "data": {
                "message": "Site structure updated successfully",
                "post_types_count": len(payload["post_types"]),
                "taxonomies_count": len(payload["taxonomies"]),
                "last_structure_fetch": payload["timestamp"],
            },
        }

    def _content_types(self, request: RecordedRequest, key: str, integration_id: int) -> Answer:
        integration = self._integration_for(key, integration_id)
        if isinstance(integration, Answer):
            return integration
        with self._lock:
            payload = self.stored.get(integration_id)
        if payload is None:
            return Answer.error(404, f"No structure stored yet for integration {integration_id}.")
        data = {
            "post_types": _content_type_entries(payload["post_types"]),
            "taxonomies": _content_type_entries(payload["taxonomies"]),
            "last_structure_fetch": payload["timestamp"],
            "plugin_connection_enabled": payload["plugin_connection_enabled"],
            "two_way_sync_enabled": payload["two_way_sync_enabled"],
        }
        return Answer.json(200, {"success": True, "data": data})


# ------------------------------------------------------------------- HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, standin: BackendStandin) -> None:
        self.standin = standin
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away or the connection was cut on purpose
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.standin._track_connection(self.connection, open_=True)

    def finish(self) -> None:
        self.server.standin._track_connection(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are summarised through BackendStandin.log instead

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        standin = self.server.standin
        request = self._read_request()
        standin.record(request)
        fault = standin.next_fault(request.method, request.path)
        request.fault = fault
        if fault is None:
            self._send(self._normal_answer(request), request)
            return
        self._apply_fault(fault, request)

    def _normal_answer(self, request: RecordedRequest) -> Answer:
        try:
            return self.server.standin.answer(request)
        except Exception as exc:  # a stand-in bug must show up as a failing answer
            return Answer.error(500, f"backend stand-in crashed: {exc!r}")

    def _read_request(self) -> RecordedRequest:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        try:
            parsed: object | None = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return RecordedRequest(
            method=self.command,
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers=Headers(self.headers.items()),
            body=body,
            json=parsed,
            at=time.monotonic(),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _apply_fault(self, fault: Fault, request: RecordedRequest) -> None:
        standin = self.server.standin
        if fault.delay > 0:
            standin.sleep(fault.delay)
        if fault.reset:
            self._reset_connection()
            self._log(request, "RESET")
            return
        if fault.drop:
            self.close_connection = True  # the server then closes the socket with a FIN
            self._log(request, "DROPPED")
            return
        answer = self._fault_answer(fault, request)
        answer.headers.update(fault.headers)
        self._send(answer, request)

    def _fault_answer(self, fault: Fault, request: RecordedRequest) -> Answer:
        if fault.status is None:
            return self._normal_answer(request)
        if fault.raw is not None:
            return Answer(fault.status, fault.raw, "text/html; charset=utf-8", note="scripted")
        body = fault.body
        if body is None:
            body = {"success": False, "error": f"Scripted fault: HTTP {fault.status}"}
        return Answer.json(fault.status, body, note="scripted")

    def _reset_connection(self) -> None:
        linger = struct.pack("ii", 1, 0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        os.close(self.connection.detach())  # close now despite rfile/wfile: sends RST
        self.close_connection = True

    def _send(self, answer: Answer, request: RecordedRequest) -> None:
        request.status = answer.status  # before the client can see the answer
        self.send_response(answer.status)
        headers = {"Content-Type": answer.content_type, **answer.headers}
        headers["Content-Length"] = str(len(answer.body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)
        self._log(request, f"{answer.status} {answer.note}".strip())

    def _log(self, request: RecordedRequest, outcome: str) -> None:
        standin = self.server.standin
        if standin.log is None:
            return
        target = self.path.split("#")[0]
        auth = standin.describe_auth(request)
        scripted = " [scripted]" if request.fault is not None else ""
        standin.log(f"{request.method} {target} auth={auth} -> {outcome}{scripted}"[:600])


# -------------------------------------------------------------------------- CLI


def parse_site(value: str) -> tuple[int, str, int]:
    """Parse SITE_ID:API_KEY:INTEGRATION_ID (the key may itself contain colons)."""
    site, _, rest = value.partition(":")
    key, _, integration = rest.rpartition(":")
    if not (site.isdigit() and key and integration.isdigit()):
        raise argparse.ArgumentTypeError(f"expected SITE_ID:API_KEY:INTEGRATION_ID, got {value!r}")
    return int(site), key, int(integration)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.backend_standin",
        description="Run the IGNY8 backend stand-in in the foreground.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--site",
        type=parse_site,
        action="append",
        default=[],
        metavar="SITE_ID:API_KEY:INTEGRATION_ID",
        help="a site, its API key and its WordPress integration id (repeatable)",
    )
    parser.add_argument("--list-shape", choices=LIST_SHAPES, default="bare")
    return parser.parse_args(argv)


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    api_keys: dict[int, str] = {}
    for site_id, key, _ in args.site:
        if api_keys.setdefault(site_id, key) != key:
            _stderr_line(f"error: site {site_id} is given two different API keys")
            return 2
    integrations = [Integration(id=i, site_id=s) for s, _, i in args.site]
    standin = BackendStandin(
        api_keys=api_keys,
        integrations=integrations,
        list_shape=args.list_shape,
        port=args.port,
        log=_stderr_line,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with standin:
        print(standin.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
