"""A session is shown with its browser in a few readable words, its random id, never its token's hash."""

from __future__ import annotations

import pytest

from chalicelib.accounts.sessions import FACTOR, Session
from chalicelib.web.session_list import UNKNOWN_CUT, browser_name, session_view

AGENTS = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 Edg/126.0.2592.87": "Edge 126 on Windows",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15": "Safari 17 on macOS",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36": (
        "Chrome 126 on Linux"
    ),
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 "
    "Mobile Safari/537.36": "Chrome 126 on Android",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 "
    "Mobile/15E148 Safari/605.1.15": "Firefox 127 on iPad",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 OPR/111.0.0.0": "Opera 111 on ChromeOS",
    "curl/8.5.0": "curl/8.5.0",
    "": "",
}


@pytest.mark.parametrize(("agent", "shown"), AGENTS.items())
def test_a_user_agent_is_named_by_its_browser_version_and_system(agent: str, shown: str) -> None:
    assert browser_name(agent) == shown


def test_an_unknown_long_user_agent_is_cut_short() -> None:
    shown = browser_name("x" * 200)
    assert len(shown) == UNKNOWN_CUT and shown.endswith("\u2026")


def test_the_view_marks_the_current_session_and_never_shows_the_token_hash() -> None:
    session = Session("hash-of-the-token", "bob", "partner", 0, 1_900_000_000, 1_900_000_060, sid="sid-1")
    view = session_view(session, current_sid="sid-1")
    assert view["current"] is True and view["sid"] == "sid-1"
    assert "hash-of-the-token" not in repr(view)
    assert (view["started"][:19], view["last_seen"][:19]) == ("2030-03-17T17:46:40", "2030-03-17T17:47:40")
    assert session_view(session)["current"] is False
    assert session_view(Session("h", "bob", "partner", 0, 0, 0, stage=FACTOR))["pending"] is True
    # A session stored before sessions had ids is never "this one".
    assert session_view(Session("h", "bob", "partner", 0, 0, 0), current_sid="")["current"] is False
