"""Text from outside cut down to one safe line: mail headers, display names, subjects and file names
are rebuilt with ``one_line`` (``header_text`` where the value goes into a mail header, encoded words
decoded first), never copied raw, so nothing can inject a header or hide a line break. Also the
rule for lone surrogates, which no UTF-8 can hold (``without_surrogates``, ``is_valid_text``)."""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

# Characters that str.splitlines() breaks on, and anything else below 0x20, DEL and C1.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional overrides and isolates: they make text display differently from what it is.
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# An RFC 2047 encoded word: the email package decodes these when a header is set from text, so
# what one hides (a line break, a second header) would be written out.
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
_DECODE_ROUNDS = 4


def one_line(value: object, limit: int = 200) -> str:
    """A value rebuilt for onward use: one line, no control, line-breaking or bidi characters.

    Undecodable bytes (kept by the parser as surrogates) become U+FFFD, whitespace runs
    collapse to one space, and the result is cut to ``limit`` characters. Never raises.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        text = without_surrogates(text)
    text = _BIDI_CONTROLS.sub("", _LINE_BREAKING.sub(" ", text))
    return " ".join(text.split())[:limit].strip()


def without_surrogates(value: str) -> str:
    """``value`` with each lone surrogate made U+FFFD (a charset such as UTF-7 can decode to them,
    and no UTF-8 can hold one: encrypting or storing the text would fail)."""
    return _SURROGATES.sub("\ufffd", value)


def is_valid_text(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8: no lone surrogate (JSON's "\\ud800" escapes and
    undecodable bytes become one in Python, and they fail wherever the text is encoded later)."""
    return not _SURROGATES.search(value)


def header_text(value: object, limit: int = 200) -> str:
    """``one_line`` for a value that becomes (part of) a mail header: encoded words are decoded and
    the decoded text is cleaned as well, however deeply they nest, so the header holds plain text
    that the email package writes out as it is, whatever the Python patch release."""
    room = limit * 4  # encoded text is longer than what it says; cut only once decoded
    text = one_line(value, room)
    for _ in range(_DECODE_ROUNDS):
        if not _ENCODED_WORD.search(text):
            return one_line(text, limit)
        text = one_line(_decoded(text), room)
    # Still nesting after several rounds: nobody writes that; keep the text, break the syntax.
    return one_line(_ENCODED_WORD.sub(lambda word: word.group(0).replace("=?", "= ?"), text), limit)


def _decoded(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):  # an unknown charset, bad base64
        return _ENCODED_WORD.sub(" ", text)
