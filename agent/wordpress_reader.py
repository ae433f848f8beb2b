"""Which way a site is read: REST, XML-RPC, or REST completed by XML-RPC.

`wordpress.xmlrpc` in the config decides:
- `never`: REST only; xmlrpc.php is never touched.
- `always`: XML-RPC only (credentials required).
- `auto` (default): REST; with credentials, XML-RPC adds the public post types
  and taxonomies REST does not list (registered with show_in_rest => false),
  and reads the whole site when REST is unreachable, refused or not there.
  Without credentials it stays on REST and says once that REST-hidden types
  cannot be seen.
"""

from __future__ import annotations

import logging

from agent.config import SiteConfig
from agent.errors import (
    HttpError,
    RestAccessDenied,
    RestApiNotFound,
    WordPressError,
    WordPressUnreachable,
)
from agent.retry import RetryPolicy
from agent.structure import SiteStructure
from agent.transport import new_session
from agent.wordpress_rest import RestReader
from agent.wordpress_xmlrpc import XmlrpcReader, xmlrpc_endpoint

Log = logging.LoggerAdapter[logging.Logger]

_told_no_credentials: set[str] = set()  # sites already told, once per process


def read_structure(site: SiteConfig, policy: RetryPolicy, log: Log) -> SiteStructure:
    mode = site.wordpress.xmlrpc
    with new_session() as session:
        rest = RestReader(site, session, policy, log)
        if mode == "always":
            return _read_over_xmlrpc(site, rest, policy, log, why="wordpress.xmlrpc is 'always'")
        try:
            structure = rest.read()
        except (RestApiNotFound, RestAccessDenied, WordPressUnreachable) as rest_error:
            if mode == "never" or not site.wordpress.has_credentials:
                raise
            try:
                return _read_over_xmlrpc(site, rest, policy, log,
                                         why=f"REST failed: {rest_error}")
            except (WordPressError, HttpError) as xmlrpc_error:
                raise WordPressError(f"{rest_error}; and XML-RPC could not be used either: "
                                     f"{xmlrpc_error}") from None
        if mode == "never":
            return structure
        if not site.wordpress.has_credentials:
            _say_once_that_hidden_types_are_unseen(site, log)
            return structure
        return _complete_over_xmlrpc(structure, site, rest, policy, log)


def _read_over_xmlrpc(
    site: SiteConfig, rest: RestReader, policy: RetryPolicy, log: Log, *, why: str
) -> SiteStructure:
    reader = _xmlrpc_reader(site, rest, policy, log)
    structure = reader.read()
    endpoint = reader.endpoint
    log.info("read %d post types and %d taxonomies over XML-RPC at %s (%d calls), because %s",
             len(structure.post_types), len(structure.taxonomies), endpoint, reader.calls, why)
    return structure


def _complete_over_xmlrpc(
    structure: SiteStructure, site: SiteConfig, rest: RestReader, policy: RetryPolicy, log: Log
) -> SiteStructure:
    """Add what only XML-RPC sees; REST's own types keep their REST counts."""
    reader = _xmlrpc_reader(site, rest, policy, log)
    endpoint = reader.endpoint
    try:
        post_types, taxonomies = reader.list_public()
        seen_types = {t.slug for t in structure.post_types}
        seen_taxonomies = {t.slug for t in structure.taxonomies}
        hidden = reader.structure(
            {slug: label for slug, label in post_types.items() if slug not in seen_types},
            {slug: label for slug, label in taxonomies.items() if slug not in seen_taxonomies},
        )
    except (WordPressError, HttpError) as exc:
        log.warning("XML-RPC could not be used (%s): post types and taxonomies registered "
                    "without REST (show_in_rest => false) cannot be seen", exc)
        return structure
    if not hidden.post_types and not hidden.taxonomies:
        log.debug("XML-RPC at %s lists nothing that REST does not (%d calls)", endpoint,
                  reader.calls)
        return structure
    log.info("XML-RPC at %s adds what REST does not list: post types %s; taxonomies %s "
             "(%d calls)", endpoint, _slugs(hidden.post_types) or "none",
             _slugs(hidden.taxonomies) or "none", reader.calls)
    return SiteStructure(
        post_types=structure.post_types + hidden.post_types,
        taxonomies=structure.taxonomies + hidden.taxonomies,
        read_at=hidden.read_at,
        source=f"{structure.source} and XML-RPC at {endpoint}",
    )


def _xmlrpc_reader(site: SiteConfig, rest: RestReader, policy: RetryPolicy,
                   log: Log) -> XmlrpcReader:
    home_page = rest.fetch_home_page()
    endpoint = xmlrpc_endpoint(site.wordpress.url, home_page, rest.trusted_origins)
    return XmlrpcReader(site, endpoint, policy, log)


def _say_once_that_hidden_types_are_unseen(site: SiteConfig, log: Log) -> None:
    if site.name in _told_no_credentials:
        return
    _told_no_credentials.add(site.name)
    log.info("no WordPress credentials: post types and taxonomies registered without REST "
             "cannot be seen (XML-RPC needs %s.wordpress.username and app_password)",
             site.key_path)


def _slugs(items: tuple) -> str:
    return ", ".join(f"{t.slug} ({t.count})" for t in items)
