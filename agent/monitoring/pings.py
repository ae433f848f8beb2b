"""Check-ins to a dead man's switch (Healthchecks, Cronitor and the like).

`monitoring.ping_url`: a POST to `<url>/start` when a pass begins, to `<url>`
when every site succeeded, to `<url>/fail` when one failed — the last two with
the tail of the pass's log (at most 10 KB, secrets masked) as the body. The URL
is a secret: it is never logged. A monitor that is down costs a warning and a
short, bounded retry, never the pass.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from agent.deadline import Deadline
from agent.errors import AgentError
from agent.http import HttpClient, new_session, outcome_of
from agent.logs import LogTail, capture_tail, release_tail, site_log
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.sync import PassObserver, SiteResult

LOG_TAIL_BYTES = 10 * 1024
TIMEOUT_SECONDS = 5.0
BUDGET_SECONDS = 15.0  # for each check-in, retries included
log = site_log("agent", __name__)
# The HTTP stack's own lines (retries, debug) would name the URL, a secret: not logged.
_quiet_http = logging.getLogger(__name__ + ".http")
_quiet_http.propagate = False
_quiet_http.addHandler(logging.NullHandler())


class Pings(PassObserver):
    def __init__(self, url: Secret, policy: RetryPolicy | None = None):
        self.url = url
        self.policy = policy or RetryPolicy(max_attempts=3, max_seconds=BUDGET_SECONDS)
        self.tail: LogTail | None = None

    def pass_started(self, sites: list[str]) -> None:
        self.tail = capture_tail(LOG_TAIL_BYTES)
        self._ping("start", "")

    def pass_done(self, results: list[SiteResult], seconds: float) -> None:
        body = ""
        if self.tail is not None:
            body = self.tail.text()
            release_tail(self.tail)
            self.tail = None
        failed = any(not r.ok for r in results)
        self._ping("fail" if failed else "", body)

    def _ping(self, kind: str, body: str) -> None:
        url = ping_url(self.url.reveal(), kind)
        with new_session(1) as session:
            http = HttpClient(
                session,
                timeout=TIMEOUT_SECONDS,
                verify=True,
                policy=self.policy,
                log=logging.LoggerAdapter(_quiet_http, {"site": "agent"}),
                deadline=Deadline.after(BUDGET_SECONDS, "the check-in's budget"),
                follow_redirects=False,
            )
            try:
                response = http.request(
                    "POST",
                    url,
                    data=body.encode("utf-8"),
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                )
            except AgentError as exc:
                # Never the error's text: it would name the URL, which is a secret.
                log.warning(
                    "the %s check-in to monitoring.ping_url failed (%s); the pass goes on",
                    kind or "success",
                    outcome_of(exc),
                )
                return
        if not 200 <= response.status < 300:
            log.warning(
                "the %s check-in to monitoring.ping_url answered %d; the pass goes on",
                kind or "success",
                response.status,
            )


def ping_url(base: str, kind: str) -> str:
    """`base` with "/start" or "/fail" added to its path (its query kept), or as it is."""
    if not kind:
        return base
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + kind))
