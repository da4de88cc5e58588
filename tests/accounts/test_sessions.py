"""Sessions: random server-side tokens stored as hashes, __Host- cookies, timeouts, revocation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import time_machine

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import COOKIE_NAME
from tests.conftest import PARTNER_PASSWORD
from tests.support import WebClient

MINUTE = 60


def signed_in(new_browser: Any, account: Account, password: str = PARTNER_PASSWORD) -> WebClient:
    browser = new_browser()
    assert browser.sign_in(account.username, password).status == 200
    return browser


def test_session_cookie_has_host_prefix_and_strict_flags(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    reply = browser.sign_in(partner.username, PARTNER_PASSWORD)
    (cookie,) = [c for c in reply.set_cookies() if c.startswith(COOKIE_NAME + "=")]
    attributes = [part.strip() for part in cookie.split(";")]
    assert COOKIE_NAME.startswith("__Host-")
    assert "Secure" in attributes and "HttpOnly" in attributes and "SameSite=Strict" in attributes
    assert "Path=/" in attributes
    assert not any(a.lower().startswith("domain") for a in attributes)
    token = attributes[0].split("=", 1)[1]
    assert len(token) >= 43  # 256 bits, url-safe base64


def test_tokens_are_stored_only_as_hashes(new_browser: Any, partner: Account, stack: Any) -> None:
    browser = signed_in(new_browser, partner)
    token = browser.cookies[COOKIE_NAME]
    items = stack.client("dynamodb").scan(TableName=stack.env["SEALPOST_SESSIONS_TABLE"])["Items"]
    assert token not in repr(items)
    assert hashlib.sha256(token.encode()).hexdigest() in {item["pk"]["S"] for item in items}


def test_sign_in_rotates_the_session(new_browser: Any, partner: Account) -> None:
    browser = signed_in(new_browser, partner)
    first = browser.cookies[COOKIE_NAME]
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    assert browser.cookies[COOKIE_NAME] != first


def test_idle_timeout_ends_the_session_after_fifteen_minutes(new_browser: Any, partner: Account) -> None:
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        browser = signed_in(new_browser, partner)
        traveller.shift(14 * MINUTE)
        assert browser.get("/api/session").status == 200  # use keeps it alive
        traveller.shift(14 * MINUTE)
        assert browser.get("/api/session").status == 200
        traveller.shift(15 * MINUTE)
        reply = browser.get("/api/session")
        assert reply.status == 401
        assert reply.json["error"] == "session_expired"


def test_absolute_timeout_ends_even_an_active_session_after_twelve_hours(new_browser: Any, partner: Account) -> None:
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        browser = signed_in(new_browser, partner)
        for _ in range(12 * 60 // 10 - 1):
            traveller.shift(10 * MINUTE)
            assert browser.get("/api/session").status == 200
        traveller.shift(10 * MINUTE)
        assert browser.get("/api/session").status == 401


def test_sign_out_revokes_the_session_on_the_server(new_browser: Any, partner: Account) -> None:
    browser = signed_in(new_browser, partner)
    stolen = dict(browser.cookies)
    assert browser.request("DELETE", "/api/session").status == 200
    assert COOKIE_NAME not in browser.cookies
    thief = new_browser()
    thief.cookies.update(stolen)
    assert thief.get("/api/session").status == 401


def test_sign_out_everywhere_ends_every_session(new_browser: Any, partner: Account) -> None:
    laptop = signed_in(new_browser, partner)
    phone = signed_in(new_browser, partner)
    assert phone.post("/api/session/revoke-all").status == 200
    assert laptop.get("/api/session").status == 401
    assert phone.get("/api/session").status == 401


def test_lock_ends_every_session(new_browser: Any, partner: Account) -> None:
    laptop = signed_in(new_browser, partner)
    attacker = new_browser()
    for _ in range(3):
        attacker.post("/api/session", json_body={"username": partner.username, "password": "wrong guess again"})
    assert laptop.get("/api/session").status == 401


def test_termination_ends_every_session(new_browser: Any, partner: Account, associate_web: WebClient) -> None:
    laptop = signed_in(new_browser, partner)
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").status == 200
    assert laptop.get("/api/session").status == 401


def test_a_forged_or_malformed_cookie_is_just_signed_out(new_browser: Any, stack: Any) -> None:
    browser = new_browser()
    for value in ("x", "A" * 43, "../../etc", '"quoted"'):
        browser.cookies[COOKIE_NAME] = value
        assert browser.get("/api/session").status == 401


# --- what an associate sees of them (ASVS 7.4.5) ----------------------------------------------


def test_a_session_keeps_a_random_id_its_browser_and_its_address(
    new_browser: Any, partner: Account, stack: Any
) -> None:
    browser = new_browser()
    browser.user_agent = "Agent/" + "y" * 400
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    token = browser.cookies[COOKIE_NAME]
    (stored,) = [s for s in stack.services().sessions.list_for(partner.username) if s.user_agent.startswith("Agent")]
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(stored.sid) >= 16 and stored.sid not in (token, stored.token_hash)
    assert stored.user_agent == ("Agent/" + "y" * 400)[:200]
    assert stored.source_ip == "127.0.0.1"  # chalice's local source address


def test_ending_one_session_needs_its_account_and_leaves_the_others(
    new_browser: Any, make_partner: Any, stack: Any
) -> None:
    from chalicelib.errors import NotFound

    one, other = make_partner("one@clinic.example"), make_partner("two@clinic.example")
    first, second = signed_in(new_browser, one), signed_in(new_browser, one)
    sessions = stack.services().sessions
    second_hash = hashlib.sha256(second.cookies[COOKIE_NAME].encode()).hexdigest()
    (newest,) = [s for s in sessions.list_for(one.username) if s.token_hash == second_hash]
    with pytest.raises(NotFound):
        sessions.end_one(other.username, newest.sid)  # another account's session is not found under this one
    with pytest.raises(NotFound):
        sessions.end_one(one.username, "no-such-session-id")
    sessions.end_one(one.username, newest.sid)
    assert [first.get("/api/session").status, second.get("/api/session").status] == [200, 401]
    assert newest.sid not in {s.sid for s in sessions.list_for(one.username)}


# --- the live sessions, shared by one's own list (ASVS 7.5.2) and an associate's (7.4.5) ------


def test_live_sessions_leave_out_ended_ones_and_pending_ones_when_asked(
    new_browser: Any, partner: Account, stack: Any
) -> None:
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        idle = signed_in(new_browser, partner)
        traveller.shift(16 * MINUTE)  # idle: stored still, but ended
        active = signed_in(new_browser, partner)
        pending = new_browser().post(
            "/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD}
        )
        assert pending.json["second_factor_required"]
        sessions = stack.services().sessions
        account = stack.services().accounts.require(partner.username)
        hashes = {hashlib.sha256(b.cookies[COOKIE_NAME].encode()).hexdigest() for b in (idle, active)}
        idle_hash = hashlib.sha256(idle.cookies[COOKIE_NAME].encode()).hexdigest()
        assert len(sessions.list_for(partner.username)) >= 4  # + registration's, idle and pending ones
        every = sessions.live_for(account)
        full = sessions.live_for(account, full_only=True)
        assert [s.stage for s in every].count("factor") == 1 and all(s.stage == "full" for s in full)
        assert len(every) == len(full) + 1
        assert idle_hash not in {s.token_hash for s in every}
        assert {s.token_hash for s in full} == hashes - {idle_hash}


def test_ending_a_live_session_is_audited_and_another_accounts_sid_is_not_found(
    new_browser: Any, make_partner: Any, stack: Any
) -> None:
    from chalicelib.audit.records import RequestInfo
    from chalicelib.errors import NotFound
    from tests.support import audit_events

    one, other = make_partner("one@clinic.example"), make_partner("two@clinic.example")
    browser = signed_in(new_browser, other)
    sessions = stack.services().sessions
    theirs = hashlib.sha256(browser.cookies[COOKIE_NAME].encode()).hexdigest()
    (target,) = [s for s in sessions.list_for(other.username) if s.token_hash == theirs]

    def end(account: Account, sid: str) -> Any:
        return sessions.end_live(account, sid, actor=one.actor, request=RequestInfo("test"), reason="user_request")

    for sid in (target.sid, "", "no-such-session"):
        with pytest.raises(NotFound):
            end(one, sid)
    assert audit_events(stack, "session.ended") == []
    assert browser.get("/api/session").status == 200
    assert end(other, target.sid).sid == target.sid
    assert browser.get("/api/session").status == 401
    (record,) = audit_events(stack, "session.ended")
    assert (record["account"], record["reason"], record["detail"]) == (
        other.username,
        "user_request",
        {"session": target.sid},
    )
