"""Unit tests of the one retry layer (agent.retry); nothing here really sleeps."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise

import pytest
import requests
import tenacity

import agent.retry
from agent.errors import HttpError, TlsError, TransientError
from agent.http import new_session, send
from agent.retry import RetryPolicy, call_with_retries

LOG = logging.getLogger("tests.retry")


class FakeClock:
    """A sleep that records its waits and moves a fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Fake sleep; tenacity's elapsed time follows the fake clock, not the wall clock."""
    fake = FakeClock()
    clock = types.SimpleNamespace(monotonic=fake.monotonic, time=fake.monotonic)
    monkeypatch.setattr(tenacity, "time", clock)
    monkeypatch.setattr(agent.retry, "time", clock)  # the retry budget's clock
    return fake


def failing(
    errors: list[BaseException], result: object = "ok"
) -> tuple[Callable[[], object], list[int]]:
    """A callable that raises the given errors in turn, then returns `result`."""
    calls: list[int] = []

    def call() -> object:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return call, calls


def fixed(seconds: float) -> tenacity.wait.wait_base:
    return tenacity.wait_fixed(seconds)


# --- what is retried -----------------------------------------------------------------------


def test_success_first_time_does_not_sleep(clock: FakeClock) -> None:
    call, calls = failing([])
    assert call_with_retries(call, RetryPolicy(5, 300, fixed(1), clock.sleep), log=LOG) == "ok"
    assert len(calls) == 1
    assert clock.waits == []


def test_transient_errors_are_retried_then_succeed(clock: FakeClock) -> None:
    call, calls = failing([TransientError("503"), TransientError("reset")])
    result = call_with_retries(call, RetryPolicy(5, 300, fixed(2), clock.sleep), log=LOG)
    assert result == "ok"
    assert len(calls) == 3
    assert clock.waits == [2, 2]


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_max_attempts_is_respected(clock: FakeClock, max_attempts: int) -> None:
    call, calls = failing([TransientError(f"boom {i}") for i in range(20)])
    with pytest.raises(TransientError) as caught:
        call_with_retries(call, RetryPolicy(max_attempts, 10_000, fixed(1), clock.sleep), log=LOG)
    assert len(calls) == max_attempts
    assert len(clock.waits) == max_attempts - 1
    assert f"boom {max_attempts - 1}" in str(caught.value)  # the last error is reported
    assert str(max_attempts) in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        HttpError("400 bad request"),
        TlsError("certificate verify failed"),
        ValueError("bug"),
    ],
)
def test_other_errors_are_never_retried(clock: FakeClock, error: Exception) -> None:
    call, calls = failing([error, error])
    with pytest.raises(type(error)):
        call_with_retries(call, RetryPolicy(5, 300, fixed(1), clock.sleep), log=LOG)
    assert len(calls) == 1
    assert clock.waits == []


# --- Retry-After ---------------------------------------------------------------------------


def test_retry_after_replaces_the_computed_wait(clock: FakeClock) -> None:
    call, calls = failing(
        [
            TransientError("429", retry_after=7),
            TransientError("503"),
            TransientError("503", retry_after=0),
        ]
    )
    call_with_retries(call, RetryPolicy(5, 300, fixed(1.5), clock.sleep), log=LOG)
    assert clock.waits == [7, 1.5, 0]


def test_retry_after_beyond_the_budget_stops_the_retries(clock: FakeClock) -> None:
    call, calls = failing([TransientError("503", retry_after=3600)])
    with pytest.raises(TransientError) as caught:
        call_with_retries(call, RetryPolicy(5, 300, fixed(1), clock.sleep), log=LOG)
    assert len(calls) == 1
    assert clock.waits == []  # neither the full 3600 s nor a cut-short wait
    assert caught.value.retry_after == 3600


def test_budget_counts_the_time_already_spent(clock: FakeClock) -> None:
    call, calls = failing([TransientError("503", retry_after=4) for _ in range(10)])
    with pytest.raises(TransientError):
        call_with_retries(call, RetryPolicy(10, 10, fixed(1), clock.sleep), log=LOG)
    # 4 + 4 = 8 s spent; a third wait of 4 s would end past the 10 s budget.
    assert clock.waits == [4, 4]
    assert len(calls) == 3
    assert sum(clock.waits) <= 10


def test_budget_stops_computed_waits_too(clock: FakeClock) -> None:
    call, calls = failing([TransientError("503") for _ in range(50)])
    with pytest.raises(TransientError):
        call_with_retries(call, RetryPolicy(50, 30, fixed(7), clock.sleep), log=LOG)
    assert clock.waits == [7, 7, 7, 7]
    assert len(calls) == 5


# --- jittered exponential backoff (the default wait) ---------------------------------------


def test_default_waits_are_jittered_exponential_within_bounds(clock: FakeClock) -> None:
    first_waits = set()
    for _ in range(30):
        clock.waits.clear()
        call, calls = failing([TransientError("503") for _ in range(9)])
        call_with_retries(
            call, RetryPolicy(max_attempts=10, max_seconds=100_000, sleep=clock.sleep), log=LOG
        )
        assert len(clock.waits) == 9
        for index, wait in enumerate(clock.waits):
            assert 0 <= wait <= min(60, 2**index), (index, clock.waits)
        first_waits.add(clock.waits[0])
        # the window grows: late waits may be long, the first never is
        assert clock.waits[0] <= 1
    assert len(first_waits) > 1  # jittered, not a fixed schedule


def test_default_waits_do_grow(clock: FakeClock) -> None:
    """Over many runs the average wait of try n+1 is clearly longer than that of try n."""
    sums = [0.0] * 6
    for _ in range(200):
        clock.waits.clear()
        call, _ = failing([TransientError("503") for _ in range(6)])
        call_with_retries(
            call, RetryPolicy(max_attempts=7, max_seconds=100_000, sleep=clock.sleep), log=LOG
        )
        sums = [s + w for s, w in zip(sums, clock.waits, strict=True)]
    assert all(later > earlier * 1.3 for earlier, later in pairwise(sums))


# --- through the transport: real HTTP answers -----------------------------------------------


class Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers: list[tuple[int, dict[str, str]]] = []
    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = b'{"ok": true}'
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def scripted_server() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("Handler", (Scripted,), {"answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", handler
    server.shutdown()
    server.server_close()


def get_with_retries(url: str, policy: RetryPolicy) -> int:
    with new_session() as session:

        def once() -> int:
            return send(session, "GET", url, timeout=5, verify=True).status

        return call_with_retries(once, policy, log=LOG)


def test_retry_after_seconds_from_a_real_503(
    clock: FakeClock, scripted_server: tuple[str, type[Scripted]]
) -> None:
    url, handler = scripted_server
    handler.answers.extend([(503, {"Retry-After": "12"}), (429, {"Retry-After": "3"})])
    assert get_with_retries(url, RetryPolicy(5, 300, fixed(1), clock.sleep)) == 200
    assert clock.waits == [12, 3]
    assert len(handler.seen) == 3


def test_retry_after_http_date_from_a_real_503(
    clock: FakeClock, scripted_server: tuple[str, type[Scripted]]
) -> None:
    url, handler = scripted_server
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    handler.answers.append((503, {"Retry-After": when}))
    assert get_with_retries(url, RetryPolicy(5, 300, fixed(1), clock.sleep)) == 200
    (wait,) = clock.waits
    assert 60 <= wait <= 121  # about two minutes; loose, the machine may be slow


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_never_retried(
    clock: FakeClock, scripted_server: tuple[str, type[Scripted]], status: int
) -> None:
    url, handler = scripted_server
    handler.answers.extend([(status, {"Retry-After": "1"}), (200, {})])
    assert get_with_retries(url, RetryPolicy(5, 300, fixed(1), clock.sleep)) == status
    assert len(handler.seen) == 1
    assert clock.waits == []


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(
    clock: FakeClock, scripted_server: tuple[str, type[Scripted]], status: int
) -> None:
    url, handler = scripted_server
    handler.answers.append((status, {}))
    assert get_with_retries(url, RetryPolicy(5, 300, fixed(0.5), clock.sleep)) == 200
    assert len(handler.seen) == 2
    assert clock.waits == [0.5]


def test_connection_refused_is_retried_until_attempts_run_out(clock: FakeClock) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError):
        get_with_retries(f"http://127.0.0.1:{port}/", RetryPolicy(3, 300, fixed(1), clock.sleep))
    assert clock.waits == [1, 1]


def test_gives_up_with_a_message_naming_the_tries(
    clock: FakeClock, scripted_server: tuple[str, type[Scripted]]
) -> None:
    url, handler = scripted_server
    handler.answers.extend([(503, {})] * 3)
    with pytest.raises(TransientError) as caught:
        get_with_retries(url, RetryPolicy(3, 300, fixed(1), clock.sleep))
    assert str(caught.value).endswith("answered 503 (gave up after 3 tries)")
    assert caught.value.status == 503
    assert clock.waits == [1, 1]
    assert len(handler.seen) == 3


def test_no_requests_exception_escapes(clock: FakeClock) -> None:
    with pytest.raises(HttpError) as caught:
        get_with_retries("http://[::1:bad/", RetryPolicy(3, 300, fixed(1), clock.sleep))
    assert not isinstance(caught.value, requests.RequestException)
