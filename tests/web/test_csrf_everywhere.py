"""Every state-changing route refuses a request without its CSRF proof (403), signed in or not."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import app
from tests.conftest import Conversation

CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# Reached before any session: protected by the double-submit form cookie (pages) or by the
# JSON content type plus the same-origin check (API); see chalicelib/web/http/guard.py.
BEFORE_SIGN_IN = re.compile(
    r"^/(signin|forgot|reset/|register/|p/|api/session$|api/register|api/password/(forgot|reset)|api/pickup/)"
)


def changing_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, path)
        for path, methods in app.routes.items()
        if "{p0}" not in path
        for method in methods
        if method in CHANGING
    )


@pytest.mark.parametrize(("method", "path"), changing_routes())
def test_a_change_without_its_csrf_proof_is_refused(
    method: str, path: str, conversation: Conversation, new_browser: Any
) -> None:
    concrete = re.sub(r"\{thread_id\}", conversation.thread_id, path)
    concrete = re.sub(r"\{username\}", conversation.partner_username, concrete)
    concrete = re.sub(r"\{[^}]+\}", "A" * 43, concrete)
    if BEFORE_SIGN_IN.match(path):
        browser = new_browser()
        if path.startswith("/api/"):
            reply = browser.request(method, concrete, json_body={}, headers={"origin": "https://evil.example"})
        else:
            reply = browser.request(method, concrete, form={"csrf_token": "forged"})
        assert reply.status == 403, (method, path, reply.status)
        return
    for web in (conversation.associate, conversation.partner):
        token, web.csrf_token = web.csrf_token, None  # keep the session, drop the proof
        try:
            if path.startswith("/api/"):
                reply = web.request(method, concrete, json_body={})
            else:
                reply = web.request(method, concrete, form={"text": "x"})
        finally:
            web.csrf_token = token
        assert reply.status == 403, (method, path, reply.status)
        if path.startswith("/api/"):
            assert reply.json["error"] == "csrf_rejected"
        else:
            assert "expired or did not come from this site" in reply.text
