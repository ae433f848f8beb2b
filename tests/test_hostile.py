"""Hostile and broken servers and inputs, through the installed command.

Each test sets up one class of misbehaviour — a WordPress that trickles, hangs,
redirects elsewhere, answers nesting bombs or nonsense; an XML-RPC server that
ignores paging or sends malformed faults; TLS that fails for a reason; a
backend that redirects, throttles or answers HTML; a config or state made to
hurt — runs `igny8-agent` against it, and checks that the agent ends, says
clearly what was wrong (naming the site), and never crashes or leaks.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import ssl
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, INTEGRATION_ID, SITE_ID, Agent, AgentRun
from tests.support.backend_standin import BackendStandin, Fault
from tests.support.hostile import (
    Answer,
    Computed,
    Hang,
    HostileWordPress,
    Plain,
    Request,
    Trickle,
    json_answer,
    xmlrpc_answer,
)
from tests.support.tiny_wordpress import TinyWordPress, tiny_wordpress
from tests.support.tls import make_certificate

USERNAME = "igny8-bot"
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"
# Generous: these runs end in a few seconds; without the deadlines they would
# take minutes (a trickle) or never end (a hang).
ENDS_WITHIN = 60.0


@pytest.fixture
def wp() -> Iterator[HostileWordPress]:
    with HostileWordPress() as site:
        yield site


def config_for(
    backend: BackendStandin | None, *sites: dict[str, Any], **top: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {"sites": list(sites), "log_level": "debug", **top}
    if backend is not None:
        config["backend"] = {"url": backend.url, "max_attempts": 2, "max_retry_seconds": 10}
    return config


def site_entry(
    url: str, *, name: str = "blog", credentials: bool = False, **wordpress: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": url, "timeout": 5, **wordpress}
    if credentials:
        entry.update(username=USERNAME, app_password=PASSWORD)
    return {"name": name, "site_id": SITE_ID, "api_key": API_KEY, "wordpress": entry}


def timed(agent: Agent, *args: str, **kwargs: Any) -> tuple[AgentRun, float]:
    started = time.monotonic()
    result = agent.run(*args, timeout=ENDS_WITHIN + 30, **kwargs)
    return result, time.monotonic() - started


def error_lines(result: AgentRun) -> list[str]:
    return [line for line in result.stderr.splitlines() if " ERROR " in line]


def assert_no_crash(result: AgentRun) -> None:
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "please report this" not in result.stderr


def assert_no_secret(result: AgentRun, agent: Agent) -> None:
    for secret in (API_KEY, PASSWORD, PASSWORD.replace(" ", "")):
        for text in (result.stdout, result.stderr, agent.state_files_text()):
            assert secret not in text


# --- WordPress that never finishes ---------------------------------------------------------


def test_a_trickling_answer_ends_at_the_request_timeout(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    wp.routes["/wp-json/wp/v2/types"] = Trickle(wp.default("/wp-json/wp/v2/types"), 1.0)
    agent.write_config(config_for(backend, site_entry(wp.url, timeout=2, xmlrpc="never")))
    result, seconds = timed(agent, "sync")
    assert result.returncode == 1
    assert "no complete answer within the timeout of 2 s" in result.stderr
    assert seconds < ENDS_WITHIN  # the trickle alone would take over 200 s
    assert_no_crash(result)
    # The pass lock was released: the next run is not refused (exit 75).
    assert agent.run("sync").returncode == 1


def test_a_hanging_site_ends_at_its_deadline_and_the_other_site_is_synced(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    with HostileWordPress() as good:
        for path in ("/wp-json/wp/v2/posts", "/wp-json/wp/v2/categories"):
            wp.routes[path] = Hang()
        slow = site_entry(wp.url, name="slow", timeout=30, deadline=3, xmlrpc="never")
        fast = site_entry(good.url, name="fast", xmlrpc="never")
        agent.write_config(config_for(backend, slow, fast))
        result, seconds = timed(agent, "sync", "--json")
    assert result.returncode == 1
    report = result.json()
    assert report["fast"]["ok"] is True
    assert report["slow"]["ok"] is False
    assert "sites[0].wordpress.deadline (3 s)" in report["slow"]["error"]
    assert "raise sites[0].wordpress.deadline" in report["slow"]["error"]
    assert seconds < ENDS_WITHIN
    assert len(backend.posts()) == 1


def test_a_site_with_many_hanging_counts_leaves_the_shared_pool_to_the_others(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    """Sites side by side share one pool of request threads; a site may hold only its
    own few places there, so 40 hanging counts cannot keep another site's requests
    queued past that site's deadline."""
    for number in range(40):
        base = f"hanging{number}"
        wp.types[base] = {"slug": base, "name": base, "rest_base": base, "rest_namespace": "wp/v2"}
        wp.routes[f"/wp-json/wp/v2/{base}"] = Hang()
    with HostileWordPress() as good:
        # The healthy site starts a little later, so the hanging counts are in first.
        types = "/wp-json/wp/v2/types"
        good.routes[types] = Computed(lambda request: (time.sleep(0.5), good.default(types))[1])
        slow = site_entry(wp.url, name="slow", timeout=30, deadline=6, xmlrpc="never")
        fast = site_entry(good.url, name="fast", deadline=4, xmlrpc="never")
        agent.write_config(config_for(backend, slow, fast, parallel_sites=2))
        result, seconds = timed(agent, "sync", "--json")
    report = result.json()
    assert report["fast"]["ok"] is True, report["fast"]
    assert "sites[0].wordpress.deadline (6 s)" in report["slow"]["error"]
    assert seconds < ENDS_WITHIN


# --- WordPress that answers nonsense ----------------------------------------------------


def test_a_json_nesting_bomb_is_not_the_api(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    bomb = b"[" * 200_000 + b"]" * 200_000
    wp.routes["/wp-json/wp/v2/types"] = Plain(
        Answer(200, {"Content-Type": "application/json"}, bomb)
    )
    agent.write_config(config_for(backend, site_entry(wp.url, xmlrpc="never")))
    result = agent.run("sync")
    assert result.returncode == 1
    assert_no_crash(result)
    [line] = [x for x in error_lines(result) if "[blog]" in x and "REST API" in x]
    assert "no WordPress REST API found" in line
    assert "not the API's JSON" in line


def test_an_absurd_total_is_an_error_naming_the_collection(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    wp.totals["/wp-json/wp/v2/posts"] = "1" + "0" * 30
    agent.write_config(config_for(backend, site_entry(wp.url, xmlrpc="never")))
    result = agent.run("sync")
    assert result.returncode == 1
    assert_no_crash(result)
    assert "'post' holds 1000000000000000000000000000000 items" in result.stderr
    assert backend.posts() == []


def test_a_slug_with_terminal_escapes_reaches_no_terminal_raw(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    evil = "news\x1b]0;pwned\x07\x1b[2J"
    wp.types[evil] = {
        "slug": evil,
        "name": "Evil\x1b[31m",
        "rest_base": "evil",
        "rest_namespace": "wp/v2",
    }
    wp.totals["/wp-json/wp/v2/evil"] = "4"
    agent.write_config(config_for(backend, site_entry(wp.url, xmlrpc="never")))
    result = agent.run("connect")
    assert result.returncode == 0, result.stderr
    for text in (result.stdout, result.stderr):
        assert "\x1b" not in text and "\x07" not in text
    assert "news\\x1b]0;pwned\\x07\\x1b[2J (4)" in result.stdout
    # The backend gets the slug as WordPress has it: escaping is for terminals only.
    stored = backend.stored[INTEGRATION_ID]
    assert stored["post_types"][evil]["label"] == "Evil\x1b[31m"


def test_a_home_page_that_redirects_to_another_host_does_not_get_the_password(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    with HostileWordPress() as elsewhere:
        target = elsewhere.url.replace("127.0.0.1", "localhost")
        wp.routes["/"] = Plain(Answer(302, {"Location": target + "/"}))
        agent.write_config(config_for(backend, site_entry(wp.url, credentials=True)))
        result = agent.run("sync")
        arrived = list(elsewhere.requests)
    assert arrived, "the redirect was followed (anonymously)"
    assert all("authorization" not in r.headers for r in arrived)
    assert all(PASSWORD.replace(" ", "") not in r.body.decode(errors="replace") for r in arrived)
    assert "redirects to" in result.stderr and "another host" in result.stderr
    assert_no_secret(result, agent)


# --- XML-RPC that never ends or makes no sense --------------------------------------------


def xmlrpc_site(wp: HostileWordPress, methods: dict[str, Callable[..., Answer]]) -> None:
    """Serve xmlrpc.php from `methods` (name -> function of the params); WordPress's list
    and filters for the rest."""

    def answer(request: Request) -> Answer:
        params, method = xmlrpc.client.loads(request.body)
        if method in methods:
            return methods[method](*params)
        if method == "mt.supportedMethods":
            return xmlrpc_answer(
                ["wp.getPostTypes", "wp.getTaxonomies", "wp.getPosts", "wp.getTerms"]
            )
        if method == "wp.getPostTypes":
            return xmlrpc_answer(
                {
                    "post": {
                        "name": "post",
                        "label": "Posts",
                        "public": True,
                        "labels": {"name": "Posts"},
                    }
                }
            )
        if method == "wp.getTaxonomies":
            return xmlrpc_answer(
                [
                    {
                        "name": "category",
                        "label": "Categories",
                        "public": True,
                        "labels": {"name": "Categories"},
                    }
                ]
            )
        if method == "wp.getTerms":
            return xmlrpc_answer([{"term_id": "1"}, {"term_id": "2"}])
        return xmlrpc_answer([{"post_id": "1"}])

    wp.routes["/xmlrpc.php"] = Computed(answer)


def test_xmlrpc_paging_that_ignores_the_offset_ends(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    page = [{"post_id": str(n)} for n in range(1, 501)]
    xmlrpc_site(wp, {"wp.getPosts": lambda *params: xmlrpc_answer(page)})
    agent.write_config(config_for(backend, site_entry(wp.url, credentials=True, xmlrpc="always")))
    result, seconds = timed(agent, "sync")
    assert result.returncode == 1
    assert "a page brought no new ids (the server ignores the paging offset)" in result.stderr
    assert seconds < ENDS_WITHIN
    assert_no_crash(result)
    assert_no_secret(result, agent)


def test_a_fault_without_fault_string_is_a_clear_error(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    fault = (
        b"<?xml version='1.0'?><methodResponse><fault><value><struct><member>"
        b"<name>faultCode</name><value><int>3</int></value></member></struct></value>"
        b"</fault></methodResponse>"
    )
    xmlrpc_site(
        wp, {"wp.getPostTypes": lambda *params: Answer(200, {"Content-Type": "text/xml"}, fault)}
    )
    agent.write_config(config_for(backend, site_entry(wp.url, credentials=True, xmlrpc="always")))
    result = agent.run("sync")
    assert result.returncode == 1
    assert_no_crash(result)
    assert "answered malformed XML-RPC" in result.stderr
    assert "[blog]" in error_lines(result)[0]


def test_an_xml_nesting_bomb_is_a_clear_error(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    depth = 100_000
    bomb = (
        b"<?xml version='1.0'?><methodResponse><params><param>"
        + b"<value><array><data>" * depth
        + b"</data></array></value>" * depth
        + b"</param></params></methodResponse>"
    )
    xmlrpc_site(
        wp, {"wp.getPostTypes": lambda *params: Answer(200, {"Content-Type": "text/xml"}, bomb)}
    )
    agent.write_config(config_for(backend, site_entry(wp.url, credentials=True, xmlrpc="always")))
    result = agent.run("sync")
    assert result.returncode == 1
    assert_no_crash(result)
    assert "wp.getPostTypes answered an array, not a struct" in result.stderr


def test_a_long_fault_string_is_cut_and_on_one_line(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    text = "Line one\nLine two\u009b31m " + "x" * 5000  # C1 CSI: valid XML, a terminal escape

    def fault(*params: Any) -> Answer:
        body = xmlrpc.client.dumps(xmlrpc.client.Fault(500, text), methodresponse=True)
        return Answer(200, {"Content-Type": "text/xml"}, body.encode())

    xmlrpc_site(wp, {"wp.getPostTypes": fault})
    agent.write_config(config_for(backend, site_entry(wp.url, credentials=True, xmlrpc="always")))
    result = agent.run("sync")
    assert result.returncode == 1
    [line] = [x for x in error_lines(result) if "fault 500" in x]
    assert "Line one Line two\\x9b31m xxx" in line
    assert "x" * 600 not in line and "…" in line


# --- TLS that fails, each for its own reason ------------------------------------------------


@contextmanager
def tls_wordpress(cert: Path, key: Path) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TinyWordPress)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("case", "host", "verify", "cause", "advice"),
    [
        (
            "self-signed",
            "127.0.0.1",
            None,
            "the certificate is self-signed",
            "set sites[0].wordpress.verify to the path of that certificate",
        ),
        (
            "hostname",
            "localhost",
            "cert",
            "the certificate is not valid for this host name",
            "use the host name the certificate names in sites[0].wordpress.url",
        ),
        (
            "expired",
            "127.0.0.1",
            "cert",
            "the certificate has expired",
            "renew the certificate on the server",
        ),
    ],
)
def test_tls_failures_say_why_and_what_to_do(
    agent: Agent,
    backend: BackendStandin,
    tmp_path: Path,
    case: str,
    host: str,
    verify: str | None,
    cause: str,
    advice: str,
) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the TLS tests")
    cert, key = make_certificate(tmp_path / "tls", expired=case == "expired")
    with tls_wordpress(cert, key) as port:
        extra = {"verify": str(cert)} if verify else {}
        agent.write_config(
            config_for(backend, site_entry(f"https://{host}:{port}", xmlrpc="never", **extra))
        )
        result = agent.run("sync")
    assert result.returncode == 1
    [line] = [x for x in error_lines(result) if "[blog]" in x and "TLS" in x]
    assert cause in line
    assert advice.lower() in line.lower()


def test_plain_http_on_a_tls_url_says_so(agent: Agent, backend: BackendStandin) -> None:
    with tiny_wordpress() as url:  # answers a TLS hello with a plain 400, as servers do
        agent.write_config(
            config_for(backend, site_entry(url.replace("http:", "https:"), xmlrpc="never"))
        )
        result = agent.run("sync")
    assert result.returncode == 1
    assert "the server does not speak TLS on this port" in result.stderr


# --- a backend that redirects, throttles, answers HTML --------------------------------------


def backend_site(agent: Agent, backend: BackendStandin, wp: HostileWordPress, **top: Any) -> None:
    agent.write_config(config_for(backend, site_entry(wp.url, xmlrpc="never"), **top))


def test_a_redirected_post_is_not_followed_and_names_where_it_points(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    location = (
        backend.url.replace("http://", "https://")
        + f"/v1/integration/integrations/{INTEGRATION_ID}/update-structure/"
    )
    backend.script(
        "POST", "/update-structure/", [Fault(301, headers={"Location": location}, body={})]
    )
    backend_site(agent, backend, wp)
    result = agent.run("sync", "--json")
    assert result.returncode == 1
    error = result.json()["blog"]["error"]
    assert "answered 301 redirecting to" in error
    assert "set backend.url to " + backend.url.replace("http://", "https://") in error
    posts = [r for r in backend.requests if r.path.endswith("/update-structure/")]
    assert len(posts) == 1  # not re-sent, not turned into a GET
    assert not [
        r for r in backend.requests if r.method == "GET" and r.path.endswith("/update-structure/")
    ]
    assert agent.run("status", "--json").json()["blog"]["last_success"] is None


def test_an_html_error_page_is_one_line(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    page = (
        b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n'
        b"<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this "
        b"server.</p>\n</body>\n</html>\n"
    )
    backend.script("GET", "/integrations/", [Fault(404, raw=page)])
    backend_site(agent, backend, wp)
    result = agent.run("sync")
    assert result.returncode == 1
    [line] = [x for x in error_lines(result) if "[blog]" in x and "404" in x]
    assert "answered 404 (Not Found); check backend.url" in line
    assert "<" not in line


def test_a_wrapped_drf_400_keeps_its_field_errors(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    body = {
        "success": False,
        "error": "Invalid structure.",
        "errors": {
            "post_types": {
                "post": {"count": ["Ensure this value is less than or equal to 2147483647."]}
            }
        },
    }
    backend.script("POST", "/update-structure/", [Fault(400, body=body)])
    backend_site(agent, backend, wp)
    result = agent.run("sync", "--json")
    error = result.json()["blog"]["error"]
    assert (
        "IGNY8 rejected the structure (400): Invalid structure. (post_types.post.count: "
        "Ensure this value is less than or equal to 2147483647.)"
    ) in error


def test_a_400_on_the_lookup_names_the_site_id(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    body = {"site": ["Select a valid choice. That choice is not one of the available choices."]}
    backend.script("GET", "/integrations/", [Fault(400, body=body)])
    backend_site(agent, backend, wp)
    error = agent.run("sync", "--json").json()["blog"]["error"]
    assert "IGNY8 does not know site_id 5 (site: Select a valid choice." in error
    assert "check sites[0].site_id" in error


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (429, "IGNY8 is throttling the agent's requests"),
        (503, "IGNY8 is unavailable (503"),
    ],
)
def test_throttling_past_the_budget_says_so(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin, status: int, says: str
) -> None:
    backend.script("POST", "/update-structure/", [Fault(status, headers={"Retry-After": "3600"})])
    backend_site(agent, backend, wp)
    error = agent.run("sync", "--json").json()["blog"]["error"]
    assert says in error
    assert "past the retry budget of 10 s" in error
    assert "cannot reach" not in error


# --- config and state made to hurt ------------------------------------------------------------


def write_raw_config(agent: Agent, text: str) -> None:
    agent.config_path.write_text(text)
    agent.config_path.chmod(0o600)


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
sites: []
"""


def test_a_yaml_alias_bomb_is_a_config_error_at_once(agent: Agent) -> None:
    write_raw_config(agent, BILLION_LAUGHS)
    result, seconds = timed(agent, "check-config")
    assert result.returncode == 2
    assert re.search(r"line [0-9]+: aliases \(\*name\) here expand to more than", result.stderr)
    assert seconds < ENDS_WITHIN


def test_two_sites_keys_are_an_error_naming_both_lines(agent: Agent) -> None:
    write_raw_config(agent, "sites:\n  - name: a\nlog_level: info\nsites:\n  - name: b\n")
    result = agent.run("check-config")
    assert result.returncode == 2
    assert "line 4: key 'sites' is given twice (first on line 1)" in result.stderr


def test_a_zero_width_space_in_the_api_key_is_a_config_error(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    config = config_for(backend, site_entry(wp.url))
    config["sites"][0]["api_key"] = API_KEY[:8] + "\u200b" + API_KEY[8:]
    agent.write_config(config)
    result = agent.run("check-config")
    assert result.returncode == 2
    assert (
        "sites[0].api_key: holds a character an HTTP header cannot carry (U+200B ZERO "
        "WIDTH SPACE, character 9)"
    ) in result.stderr
    assert API_KEY[8:] not in result.stderr


def test_a_secret_pasted_into_the_wrong_key_is_not_quoted(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    config = config_for(backend, site_entry(wp.url, credentials=True))
    config["sites"][0]["site_id"] = PASSWORD  # pasted one line too high
    agent.write_config(config)
    result = agent.run("check-config")
    assert result.returncode == 2
    assert "sites[0].site_id: must be a whole number" in result.stderr
    assert "abcd" not in result.stderr


def test_a_huge_secret_file_is_refused(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    secret = agent.workdir / "api.key"
    with secret.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: 200 MiB of nothing
    secret.chmod(0o600)
    config = config_for(backend, site_entry(wp.url))
    del config["sites"][0]["api_key"]
    config["sites"][0]["api_key_file"] = str(secret)
    agent.write_config(config)
    result = agent.run("check-config")
    assert result.returncode == 2
    assert "is larger than 64 KiB" in result.stderr
    assert "MemoryError" not in result.stderr


def test_dry_run_needs_no_api_key(agent: Agent, wp: HostileWordPress) -> None:
    config = config_for(None, site_entry(wp.url, xmlrpc="never"))
    del config["sites"][0]["api_key"]
    config["sites"][0]["api_key_file"] = "/nonexistent/api.key"
    agent.write_config(config)
    result = agent.run("sync", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json()["blog"]["post_types"]["post"]["count"] == HostileWordPress.POSTS


def test_json_output_stays_json_whatever_the_slugs(agent: Agent, wp: HostileWordPress) -> None:
    wp.types["weird\u2028type"] = {
        "slug": "weird\u2028type",
        "name": "Line\nbreak",
        "rest_base": "weird",
    }
    wp.totals["/wp-json/wp/v2/weird"] = "1"
    agent.write_config(config_for(None, site_entry(wp.url, xmlrpc="never")))
    result = agent.run("sync", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert (
        json.loads(result.stdout)["blog"]["post_types"]["weird\u2028type"]["label"] == "Line\nbreak"
    )


def test_json_answers_are_read_whatever_their_shape(
    agent: Agent, wp: HostileWordPress, backend: BackendStandin
) -> None:
    """Lists where objects belong, strings where lists belong: a clear error each."""
    wp.routes["/wp-json/wp/v2/types"] = Plain(json_answer(["post", "page"]))
    wp.routes["/wp-json/wp/v2/taxonomies"] = Plain(json_answer({"category": "oops"}))
    agent.write_config(config_for(backend, site_entry(wp.url, xmlrpc="never")))
    result = agent.run("sync")
    assert result.returncode == 1
    assert_no_crash(result)
    assert "not the API's JSON" in result.stderr
