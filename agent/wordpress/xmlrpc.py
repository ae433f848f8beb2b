"""List and count public post types and taxonomies over XML-RPC (`xmlrpc.php`).

The only module that touches `python-wordpress-xmlrpc` (2014). Three things are
made right here, where they stay:
- its `base.py` uses `collections.Iterable`, gone since Python 3.10: its module
  global `collections` is pointed at a stand-in that has `Iterable` (the stdlib
  module itself is not touched);
- it talks through `_HttpTransport`, an `xmlrpc.client.Transport` over the
  agent's own HTTP stack (`http.py`): the same timeouts, deadlines, size cap,
  TLS, proxies, retries and redirect rules as REST; a redirect is never
  followed (the password is in the request body);
- its exceptions, xmlrpc.client's, and malformed answers become the agent's
  own errors, fault strings quoted on one line.

`wp.getPostTypes` and `wp.getTaxonomies` filter on WordPress's `public` flag
themselves, so this listing is the authority on which types are public.
Counts: published items by paging through `wp.getPosts` asking only for ids;
terms (empty ones included) by paging through `wp.getTerms`. Paging ends at a
short page; a full page with no new id (a server ignoring `offset`) or more
items than any site holds is an error, never an endless loop.
"""

from __future__ import annotations

import collections.abc
import types
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from xml.parsers.expat import ExpatError

import wordpress_xmlrpc.base
from wordpress_xmlrpc import Client
from wordpress_xmlrpc.exceptions import (
    InvalidCredentialsError,
    UnsupportedXmlrpcMethodError,
    XmlrpcDisabledError,
)
from wordpress_xmlrpc.methods.posts import GetPosts, GetPostTypes
from wordpress_xmlrpc.methods.taxonomies import GetTaxonomies, GetTerms

from agent.config import SiteConfig
from agent.errors import (
    CredentialsRejected,
    MalformedAnswer,
    Redirected,
    XmlrpcMethodMissing,
    XmlrpcUnavailable,
)
from agent.http import HttpClient, shown
from agent.logs import Log
from agent.structure import MAX_COUNT
from agent.text import html_summary, looks_like_html, quoted
from agent.wordpress.rest import BY_FLAG, Listed

if TYPE_CHECKING:
    from _typeshed import SizedBuffer

# The library's base.py does `isinstance(x, collections.Iterable)`.
wordpress_xmlrpc.base.collections = types.SimpleNamespace(Iterable=collections.abc.Iterable)

PAGE_SIZE = 500


class _RawPostTypes(GetPostTypes):  # type: ignore[misc]
    """wp.getPostTypes without the library's conversion, which trusts the answer's shape."""

    def process_result(self, raw_result: Any) -> Any:
        return raw_result


class XmlrpcReader:
    """Lists and counts over one site's xmlrpc.php; credentials are required."""

    def __init__(self, site: SiteConfig, endpoint: str, http: HttpClient, log: Log):
        self.site = site
        self.endpoint = endpoint
        self.http = http
        self.log = log
        self.calls = 0
        self._client: Client | None = None

    # --- listing ---------------------------------------------------------------

    def list_public(self) -> tuple[list[Listed], list[Listed]]:
        """The public post types and taxonomies, as WordPress's `public` flag says."""
        raw_types = self._call(_RawPostTypes())  # WordPress's default filter: public => true
        raw_taxonomies = self._call(GetTaxonomies(results_class=None))  # the same
        if not isinstance(raw_types, dict):
            raise self._malformed(f"wp.getPostTypes answered {_kind(raw_types)}, not a struct")
        if not isinstance(raw_taxonomies, list):
            raise self._malformed(
                f"wp.getTaxonomies answered {_kind(raw_taxonomies)}, not an array"
            )
        post_types = [
            self._listed(entry, slug, "wp.getPostTypes") for slug, entry in raw_types.items()
        ]
        taxonomies = [self._listed(entry, None, "wp.getTaxonomies") for entry in raw_taxonomies]
        return ([t for t in post_types if t.public], [t for t in taxonomies if t.public])

    def _listed(self, entry: Any, slug: Any, method: str) -> Listed:
        if not isinstance(entry, dict):
            raise self._malformed(f"{method} answered {_kind(entry)} for a type, not a struct")
        name = entry.get("name") if slug is None else slug
        if not isinstance(name, str) or not name:
            raise self._malformed(f"{method} answered a type without a name")
        labels = entry.get("labels")
        plural = labels.get("name") if isinstance(labels, dict) else None
        label = next((v for v in (plural, entry.get("label")) if isinstance(v, str) and v), name)
        # Both methods filter on `public => true`; the flag is checked again all the same.
        public = entry.get("public", True)
        return Listed(name, label, public is True or public in (1, "1"), BY_FLAG)

    # --- counting --------------------------------------------------------------

    def count_published(self, post_type: str) -> int:
        def page(offset: int) -> Any:
            query = {
                "post_type": post_type,
                "post_status": "publish",
                "number": PAGE_SIZE,
                "offset": offset,
                "orderby": "ID",
                "order": "ASC",
            }
            return self._call(GetPosts(query, ["post_id"], results_class=None))

        return self._count_pages(page, "post_id", f"the published items of {post_type!r}")

    def count_terms(self, taxonomy: str) -> int:
        def page(offset: int) -> Any:
            query = {
                "hide_empty": False,
                "number": PAGE_SIZE,
                "offset": offset,
                "orderby": "term_id",
                "order": "ASC",
            }
            return self._call(GetTerms(taxonomy, query, results_class=None))

        return self._count_pages(page, "term_id", f"the terms of {taxonomy!r}")

    def _count_pages(self, page: Callable[[int], Any], id_field: str, what: str) -> int:
        """Items over pages of PAGE_SIZE, until a short page. The pages come in id order
        (asked so), so an item is new when its id is past the last one counted: what a
        page repeats (an item deleted meanwhile shifts the offsets) is not counted twice,
        and only the last id is kept, however many items the server claims."""
        count, last_id = 0, -1
        while True:
            items = page(count)
            if items in ("", None):  # PHP's empty array can arrive as an empty string
                items = []
            if not isinstance(items, list):
                raise self._malformed(
                    f"counting {quoted(what, 120)}: a page is {_kind(items)}, not an array"
                )
            new = [number for number in (_item_number(i, id_field) for i in items)
                   if number > last_id]  # fmt: skip
            if items and not new:
                raise self._malformed(
                    f"counting {quoted(what, 120)}: a page brought no new ids (the server "
                    "ignores the paging offset); cannot count"
                )
            count, last_id = count + len(new), max(new, default=last_id)
            if count > MAX_COUNT:
                raise self._malformed(
                    f"counting {quoted(what, 120)}: more than {MAX_COUNT:,} "
                    "items, more than any WordPress site holds"
                )
            if len(items) < PAGE_SIZE:
                return count

    # --- calls -----------------------------------------------------------------

    def _call(self, method: Any) -> Any:
        with self._errors_mapped():
            client = self._connected()
            self.calls += 1
            return client.call(method)

    def _connected(self) -> Client:
        if self._client is None:
            wp = self.site.wordpress
            password = wp.app_password.reveal() if wp.app_password else ""
            # The constructor asks for mt.supportedMethods: one call.
            self.calls += 1
            self._client = Client(
                self.endpoint,
                wp.username,
                password,
                transport=_HttpTransport(self.endpoint, self.http),
            )
        return self._client

    def _malformed(self, what: str) -> MalformedAnswer:
        return MalformedAnswer(f"XML-RPC at {shown(self.endpoint)} answered nonsense: {what}")

    @contextmanager
    def _errors_mapped(self) -> Iterator[None]:
        """The library's and xmlrpc.client's exceptions as the agent's errors."""
        where = f"{self.site.key_path}.wordpress"
        endpoint = shown(self.endpoint)
        try:
            yield
        except InvalidCredentialsError as exc:
            raise CredentialsRejected(
                f"XML-RPC at {endpoint} rejected the credentials of user "
                f"{self.site.wordpress.username!r} ({quoted(str(exc), 200)}): check "
                f"{where}.username and {where}.app_password"
            ) from None
        except XmlrpcDisabledError as exc:
            raise XmlrpcUnavailable(
                f"XML-RPC is disabled on {self.site.wordpress.url} ({quoted(str(exc), 200)})"
            ) from None
        except UnsupportedXmlrpcMethodError as exc:
            raise XmlrpcMethodMissing(
                f"XML-RPC at {endpoint} does not offer "
                f"{quoted(str(exc), 80)} (a plugin may remove it)"
            ) from None
        except xmlrpc.client.Fault as fault:
            raise self._fault(fault) from None

    def _fault(self, fault: xmlrpc.client.Fault) -> Exception:
        text = quoted(str(fault.faultString))
        where = f"{self.site.key_path}.wordpress"
        if fault.faultCode == 401:
            return CredentialsRejected(
                f"user {self.site.wordpress.username!r} may not read everything over XML-RPC "
                f"({text}): use an administrator's application password in {where}"
            )
        if fault.faultCode == 403:  # in mt.supportedMethods, before the library maps it
            return CredentialsRejected(
                f"XML-RPC at {shown(self.endpoint)} rejected the credentials of user "
                f"{self.site.wordpress.username!r} ({text}): check {where}.username and "
                f"{where}.app_password"
            )
        if fault.faultCode == 405:
            return XmlrpcUnavailable(f"XML-RPC is disabled on {self.site.wordpress.url} ({text})")
        return XmlrpcUnavailable(
            f"XML-RPC at {shown(self.endpoint)} answered fault "
            f"{quoted(str(fault.faultCode), 40)}: {text}"
        )


MAX_ID_DIGITS = 20  # WordPress ids are 64-bit at most


def _item_number(item: Any, field: str) -> int:
    """The item's id (WordPress sends it as a string of digits)."""
    value = item.get(field) if isinstance(item, dict) else None
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise MalformedAnswer(f"XML-RPC answered an item without a {field}: {_kind(item)}")
    return int(text)


def _kind(value: Any) -> str:
    return {
        dict: "a struct",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


class _HttpTransport(xmlrpc.client.Transport):
    """xmlrpc.client's transport over the agent's HTTP stack (`HttpClient`).

    ServerProxy hands it the host and path of the endpoint; every call is a
    POST of the XML to that endpoint, retried like any request, its answer
    read under the same caps and parsed here.
    """

    def __init__(self, endpoint: str, http: HttpClient):
        super().__init__()
        self.endpoint = endpoint
        self.http = http

    def request(
        self, host: Any, handler: Any, request_body: SizedBuffer, verbose: bool = False
    ) -> Any:
        try:
            response = self.http.request(
                "POST",
                self.endpoint,
                data=bytes(request_body),
                with_auth=False,
                headers={"Content-Type": "text/xml", "Accept": "text/xml"},
            )
        except Redirected as exc:
            raise XmlrpcUnavailable(
                f"XML-RPC at {shown(self.endpoint)} answered {exc.status} redirecting to "
                f"{shown(exc.location)}: the password is not sent through redirects; set "
                "wordpress.url to the site's final address"
            ) from None
        if response.status != 200:
            raise _unavailable(response.status, self.endpoint)
        if looks_like_html(response.body):
            title = html_summary(response.body)
            raise XmlrpcUnavailable(
                f"{shown(self.endpoint)} did not answer XML-RPC (an HTML "
                f"page{f': {quoted(title, 80)!r}' if title else ''})"
            )
        return self._parse(response.body)

    def _parse(self, body: bytes) -> Any:
        parser, unmarshaller = self.getparser()
        try:
            parser.feed(body)
            parser.close()
            return unmarshaller.close()
        except xmlrpc.client.Fault:
            raise
        except ExpatError:
            raise XmlrpcUnavailable(
                f"{shown(self.endpoint)} did not answer XML-RPC (not XML)"
            ) from None
        except xmlrpc.client.ResponseError:
            raise XmlrpcUnavailable(
                f"{shown(self.endpoint)} did not answer XML-RPC (XML, but no XML-RPC answer in it)"
            ) from None
        except (
            TypeError,
            KeyError,
            IndexError,
            ValueError,
            OverflowError,
            RecursionError,
            AttributeError,
        ) as exc:
            # e.g. a <fault> without faultCode or faultString, an <int> that is not one
            raise MalformedAnswer(
                f"XML-RPC at {shown(self.endpoint)} answered malformed "
                f"XML-RPC ({quoted(type(exc).__name__, 40)}: "
                f"{quoted(str(exc), 120)})"
            ) from None


def _unavailable(status: int, endpoint: str) -> XmlrpcUnavailable:
    if status in (401, 403):
        return XmlrpcUnavailable(f"XML-RPC at {shown(endpoint)} is blocked ({status})")
    if status == 405:
        return XmlrpcUnavailable(f"XML-RPC is disabled at {shown(endpoint)} (405)")
    return XmlrpcUnavailable(f"XML-RPC at {shown(endpoint)} answered {status}")
