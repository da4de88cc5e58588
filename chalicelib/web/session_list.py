"""How a session is shown: to its owner on ``/account`` and to an associate on a partner's sessions
page (the random ``sid``, never the token's hash), with the browser named in a few readable words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from chalicelib import clock
from chalicelib.accounts.sessions import FULL, Session

# The first that a user agent names wins: Edge, Opera and Samsung's browser say "Chrome" too, and
# Chrome says "Safari"; Safari names its version as ``Version/``.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS|Chromium)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
UNKNOWN_CUT = 60


def browser_name(user_agent: str) -> str:
    """A user agent in a few words (``Firefox 128 on Windows``); one it does not know, cut to
    ``UNKNOWN_CUT`` characters; an empty one stays empty."""
    browser = next((f"{name} {found.group(1)}" for name, rx in _BROWSERS if (found := rx.search(user_agent))), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    return user_agent if len(user_agent) <= UNKNOWN_CUT else user_agent[: UNKNOWN_CUT - 1] + "\u2026"


def _when(epoch: int) -> str:
    return clock.iso(datetime.fromtimestamp(epoch, tz=UTC))


def session_view(session: Session, *, current_sid: str = "") -> dict[str, Any]:
    """What a page or the JSON API shows of a session; ``current`` marks the one the request came with."""
    return {
        "sid": session.sid,
        "started": _when(session.created_at),
        "last_seen": _when(session.last_seen),
        "browser": session.user_agent,
        "browser_name": browser_name(session.user_agent),
        "address": session.source_ip,
        "pending": session.stage != FULL,
        "current": bool(current_sid) and session.sid == current_sid,
    }
