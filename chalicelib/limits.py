"""What a message may hold, whichever way it comes in (portal pages, JSON API, mail gateway):
one set of limits, and the one rule for attachment file names and content types.

Per-deployment sizes (attachment bytes per message, mail size) are settings; these are the
fixed limits of the product.
"""

from __future__ import annotations

import re
import unicodedata

from chalicelib.text import one_line

MAX_SUBJECT = 200
MAX_TEXT = 200_000
MAX_HTML = 500_000
MAX_ATTACHMENTS = 20
MAX_RECIPIENTS = 20
MAX_DISPLAY_NAME = 100
# Short enough to save on any desktop (Windows paths stop at 260 characters).
MAX_FILENAME = 120
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# A partner's message reaches associates' mailboxes in full only up to this much attachment
# (SES takes 40 MB a mail, base64 adds a third); above it they get a notice and read it in the portal.
MAX_MAILED_ATTACHMENT_BYTES = 10 * 1024 * 1024

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_IN_FILENAME = re.compile(r'[<>:"|?*\\/\x00-\x1f\x7f]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)


def clean_filename(raw: object) -> str:
    """A file name safe to store, mail and offer for download: no path, no control, reserved or
    line-breaking characters, at most ``MAX_FILENAME`` characters with its extension kept.
    Empty when nothing usable is left (callers refuse it or name the file themselves)."""
    if not isinstance(raw, str):
        return ""
    name = unicodedata.normalize("NFKC", one_line(raw, 1000)).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(_UNSAFE_IN_FILENAME.sub("_", name).split()).strip(" .")
    if name and name.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_FILENAME - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    return name


def clean_content_type(raw: object) -> str:
    """A lower-case ``type/subtype``, or ``application/octet-stream`` for anything else."""
    value = raw.strip().lower() if isinstance(raw, str) else ""
    return value if _CONTENT_TYPE.match(value) else DEFAULT_CONTENT_TYPE
