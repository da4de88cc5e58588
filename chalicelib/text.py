"""Text from outside cut down to one safe line: mail headers, display names, subjects and file names
are rebuilt with ``one_line``, never copied raw, so nothing can inject a header or hide a line break."""

from __future__ import annotations

import re

# Characters that str.splitlines() breaks on, and anything else below 0x20, DEL and C1.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional overrides and isolates: they make text display differently from what it is.
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


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
        text = _SURROGATES.sub("\ufffd", text)
    text = _BIDI_CONTROLS.sub("", _LINE_BREAKING.sub(" ", text))
    return " ".join(text.split())[:limit].strip()
