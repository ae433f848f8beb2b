"""The reader's decision table: `wordpress.xmlrpc` (auto, always, never) × credentials ×
what REST and XML-RPC answer → which way the site is read, what is public, or which
error. Against a WordPress look-alike on loopback (tests/support/hostile.py), whose
REST and xmlrpc.php can each work, be blocked, be missing or fail."""

from __future__ import annotations

import logging
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import tenacity

from agent.config import SiteConfig, WordPressConfig
from agent.errors import CredentialsRejected, RestAccessDenied, RestApiNotFound, WordPressError
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.structure import SiteStructure
from agent.wordpress.reader import read_structure
from tests.support.hostile import (
    Answer,
    Computed,
    HostileWordPress,
    Plain,
    Request,
    json_answer,
    xmlrpc_answer,
)

USER, PASSWORD = "admin", "abcd EFGH ijkl MNOP qrst UVWX"
LOG = logging.LoggerAdapter(logging.getLogger("tests.decisions"), {"site": "blog"})
BLOCKED = Answer(403, {"Content-Type": "text/html"}, b"<html><title>Blocked</title></html>")


@dataclass
class Case:
    rest: str = "ok"  # ok | blocked | missing | failing | wrong-password | refuses-users
    xmlrpc: str = "ok"  # ok | disabled | wrong-password


def configure(wp: HostileWordPress, case: Case) -> None:
    # REST lists `lead` (viewable, not public) and `post`; XML-RPC says: post and faq public.
    wp.types["lead"] = {"slug": "lead", "name": "Leads", "rest_base": "leads"}
    wp.totals["/wp-json/wp/v2/leads"] = "4"
    edit = {
        "post": {
            "slug": "post",
            "name": "Posts",
            "rest_base": "posts",
            "viewable": True,
            "labels": {"name": "News"},
        },
        "lead": {"slug": "lead", "name": "Leads", "rest_base": "leads", "viewable": True},
    }

    def rest(request: Request) -> Answer:
        if case.rest == "wrong-password" and "authorization" in request.headers:
            return json_answer({"code": "incorrect_password"}, 401)
        if case.rest == "refuses-users":  # a plugin that blocks REST for everyone
            return json_answer({"code": "rest_cannot_access"}, 401)
        if "context=edit" in request.query:
            return json_answer(edit)
        return wp.default(request.path)

    for path in (
        "/wp-json/wp/v2/types",
        "/wp-json/wp/v2/taxonomies",
        "/wp-json/wp/v2/posts",
        "/wp-json/wp/v2/categories",
        "/wp-json/wp/v2/leads",
    ):
        if case.rest == "blocked":
            wp.routes[path] = Plain(BLOCKED)
        elif case.rest == "missing":
            wp.routes[path] = Plain(json_answer({"code": "rest_no_route"}, 404))
        elif case.rest == "failing":
            wp.routes[path] = Plain(Answer(503))
        elif path.endswith(("types", "taxonomies")):
            wp.routes[path] = Computed(rest)
    wp.routes["/"] = Plain(Answer(200, {"Content-Type": "text/html"}, b"<html></html>"))
    wp.routes["/xmlrpc.php"] = Computed(lambda request: xmlrpc_php(request, case.xmlrpc))


def xmlrpc_php(request: Request, state: str) -> Answer:
    params, method = xmlrpc.client.loads(request.body)
    faults = {
        "disabled": xmlrpc.client.Fault(405, "XML-RPC services are disabled"),
        "wrong-password": xmlrpc.client.Fault(403, "Incorrect username or password."),
    }
    if state in faults and method != "mt.supportedMethods":
        body = xmlrpc.client.dumps(faults[state], methodresponse=True)
        return Answer(200, {"Content-Type": "text/xml"}, body.encode())
    answers: dict[str, Any] = {
        "mt.supportedMethods": [
            "wp.getPostTypes",
            "wp.getTaxonomies",
            "wp.getPosts",
            "wp.getTerms",
        ],
        "wp.getPostTypes": {
            "post": {"name": "post", "label": "Posts", "public": True, "labels": {"name": "News"}},
            "faq": {"name": "faq", "label": "FAQs", "public": True, "labels": {"name": "FAQs"}},
        },
        "wp.getTaxonomies": [
            {
                "name": "category",
                "label": "Categories",
                "public": True,
                "labels": {"name": "Categories"},
            }
        ],
        "wp.getPosts": [{"post_id": str(n)} for n in range(7)],
        "wp.getTerms": [{"term_id": "1"}, {"term_id": "2"}],
    }
    return xmlrpc_answer(answers[method])


@pytest.fixture
def wp() -> Iterator[HostileWordPress]:
    with HostileWordPress() as site:
        yield site


def read(wp: HostileWordPress, mode: str, credentials: bool) -> SiteStructure:
    site = SiteConfig(
        key_path="sites[0]",
        name="blog",
        site_id=5,
        api_key=None,
        wordpress=WordPressConfig(
            url=wp.url,
            xmlrpc=mode,
            timeout=5,
            username=USER if credentials else None,
            app_password=Secret(PASSWORD) if credentials else None,
        ),
    )
    policy = RetryPolicy(2, 60, tenacity.wait_fixed(0), lambda seconds: None)
    return read_structure(site, policy, LOG)


def types_of(structure: SiteStructure) -> dict[str, tuple[str, int]]:
    return {t.slug: (t.label, t.count) for t in structure.post_types}


def asked(wp: HostileWordPress) -> tuple[bool, bool]:
    """(REST asked, XML-RPC asked)."""
    paths = wp.paths()
    return any(p.startswith("/wp-json/") for p in paths), "/xmlrpc.php" in paths


REST_ONLY_ANONYMOUS = {"post": ("Posts", 3), "lead": ("Leads", 4)}  # no flags: all but internal
REST_ONLY_EDIT = {"post": ("News", 3), "lead": ("Leads", 4)}  # `viewable` decides: lead stays
BY_WORDPRESS = {"post": ("News", 3), "faq": ("FAQs", 7)}  # the public flag: lead is dropped
XMLRPC_ALONE = {"post": ("News", 7), "faq": ("FAQs", 7)}


@pytest.mark.parametrize(
    ("mode", "credentials", "case", "types", "rest_asked", "xmlrpc_asked"),
    [
        ("never", True, Case(), REST_ONLY_EDIT, True, False),
        ("never", False, Case(), REST_ONLY_ANONYMOUS, True, False),
        ("auto", False, Case(), REST_ONLY_ANONYMOUS, True, False),
        ("auto", True, Case(), BY_WORDPRESS, True, True),
        ("auto", True, Case(xmlrpc="disabled"), REST_ONLY_EDIT, True, True),
        ("auto", True, Case(rest="blocked"), XMLRPC_ALONE, True, True),
        ("auto", True, Case(rest="missing"), XMLRPC_ALONE, True, True),
        ("auto", True, Case(rest="failing"), XMLRPC_ALONE, True, True),
        ("auto", True, Case(rest="refuses-users"), XMLRPC_ALONE, True, True),
        ("always", True, Case(rest="blocked"), XMLRPC_ALONE, False, True),
    ],
    ids=[
        "never+credentials",
        "never",
        "auto",
        "auto+credentials",
        "auto+xmlrpc-disabled",
        "auto+rest-blocked",
        "auto+rest-missing",
        "auto+rest-failing",
        "auto+rest-refuses-the-credentials-xmlrpc-accepts",
        "always",
    ],
)
def test_which_way_a_site_is_read(
    wp: HostileWordPress,
    mode: str,
    credentials: bool,
    case: Case,
    types: dict[str, tuple[str, int]],
    rest_asked: bool,
    xmlrpc_asked: bool,
) -> None:
    configure(wp, case)
    structure = read(wp, mode, credentials)
    assert types_of(structure) == types
    assert asked(wp) == (rest_asked, xmlrpc_asked)
    assert ("XML-RPC at" in structure.source) == (types in (BY_WORDPRESS, XMLRPC_ALONE))
    assert ("REST at" in structure.source) == (types is not XMLRPC_ALONE)


@pytest.mark.parametrize(
    ("mode", "credentials", "case", "error", "says"),
    [
        ("never", True, Case(rest="blocked"), RestAccessDenied, "is blocked"),
        ("auto", False, Case(rest="blocked"), RestAccessDenied, "is blocked"),
        ("auto", False, Case(rest="missing"), RestApiNotFound, "no WordPress REST API found"),
        (
            "auto",
            True,
            Case(rest="blocked", xmlrpc="disabled"),
            WordPressError,
            "XML-RPC could not be used either",
        ),
        ("never", True, Case(rest="wrong-password"), CredentialsRejected, "incorrect_password"),
        (
            "auto",
            True,
            Case(rest="wrong-password", xmlrpc="wrong-password"),
            WordPressError,
            "incorrect_password",
        ),
    ],
    ids=[
        "never+blocked",
        "auto-anonymous+blocked",
        "auto-anonymous+missing",
        "both-fail",
        "never+wrong-password",
        "auto+wrong-password-both-ways",
    ],
)
def test_when_no_way_works(
    wp: HostileWordPress,
    mode: str,
    credentials: bool,
    case: Case,
    error: type[Exception],
    says: str,
) -> None:
    configure(wp, case)
    with pytest.raises(error) as caught:
        read(wp, mode, credentials)
    assert says in str(caught.value)
    rest_asked, xmlrpc_asked = asked(wp)
    assert rest_asked
    # With credentials, `auto` asks XML-RPC at once, beside REST.
    assert xmlrpc_asked == (credentials and mode == "auto")
