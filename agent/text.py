"""Text from peers, made fit for an operator's terminal and log: one line, short, inert.

What a backend, a WordPress site or an XML-RPC fault says is quoted in the
agent's messages. It may be an HTML error page, hold newlines or terminal
escape sequences, or be megabytes long; these helpers make it one printable
line of bounded length.
"""

from __future__ import annotations

import html
import re

from agent.secret import mask_known

MESSAGE_LIMIT = 500

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_DROPPED_ELEMENTS = re.compile(rb"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(rb"<[^>]*>")


def printable(text: str) -> str:
    """`text` with control characters (and bidi overrides) shown as escapes, e.g. `\\x1b`."""
    return _CONTROL.sub(lambda m: _escape(m.group(0)), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) become one space; other controls are escaped."""
    return printable(_WHITESPACE.sub(" ", text).strip())


def sentence(text: str) -> str:
    """`text` with its first letter upper-cased (and nothing else changed)."""
    return text[:1].upper() + text[1:]


def cut(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A peer's message as the agent quotes it: the config's secrets masked (a page may
    echo a request's credentials), one line, at most `limit` characters."""
    return cut(one_line(mask_known(text)), limit) or "(empty)"


def looks_like_html(body: bytes) -> bool:
    start = body[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<h1"))


def html_summary(body: bytes) -> str:
    """An HTML page reduced to its title, else its first text."""
    title = _TITLE.search(body)
    if title is not None:
        text = _decode(title.group(1))
        if text:
            return text
    without_code = _DROPPED_ELEMENTS.sub(b" ", body)
    return _decode(_TAG.sub(b" ", without_code))


def _decode(raw: bytes) -> str:
    return one_line(html.unescape(raw.decode("utf-8", errors="replace")))
