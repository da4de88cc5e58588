"""The parsing policy for inbound mail: the standard library's ``policy.default``, except that a
header whose encoded words decode to lone surrogates is read instead of crashing.

A charset such as UTF-7 decodes ``+2D0-`` to an unpaired surrogate. The standard library's
header classes then raise ``UnicodeEncodeError`` (``email.utils._sanitize``) for address,
Content-Type and Content-Disposition headers alike, so a From display name or an attachment's
file name in UTF-7 would make a whole mail unreadable. ``TOLERANT_POLICY`` builds such a
header again with each of those encoded words re-encoded as UTF-8, its surrogates made U+FFFD
(``chalicelib.text.without_surrogates``); every other header is parsed exactly as by
``policy.default``. The value stays one encoded word, so nothing it decodes to (a line break
included) becomes header syntax; callers clean values with ``one_line`` as before.
"""

from __future__ import annotations

import base64
import re
from email.header import decode_header
from email.headerregistry import HeaderRegistry
from email.policy import EmailPolicy
from typing import Any

from chalicelib.text import without_surrogates

# One RFC 2047 encoded word: charset (with an optional *language), B or Q, the encoded text.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _as_utf8_word(match: re.Match[str]) -> str:
    word = match.group(0)
    try:
        ((data, charset),) = decode_header(word)
    except (ValueError, LookupError, UnicodeError):
        return word
    if not isinstance(data, bytes) or not charset:
        return word
    try:
        text = data.decode(charset, "replace")
    except (LookupError, UnicodeError):  # an unknown charset: the standard library handles it itself
        return word
    return "=?utf-8?b?" + base64.b64encode(without_surrogates(text).encode("utf-8")).decode("ascii") + "?="


def utf8_encoded_words(value: str) -> str:
    """``value`` with each encoded word re-encoded as UTF-8 text without lone surrogates."""
    return _ENCODED_WORD.sub(_as_utf8_word, value)


class TolerantHeaders(HeaderRegistry):
    """The standard header classes; a header they cannot build for a lone surrogate is built again
    from ``utf8_encoded_words`` of its value (on reading a header and on writing one out alike)."""

    def __call__(self, name: str, value: str) -> Any:
        try:
            return super().__call__(name, value)
        except UnicodeError:
            return super().__call__(name, utf8_encoded_words(value))


TOLERANT_POLICY = EmailPolicy(header_factory=TolerantHeaders())
