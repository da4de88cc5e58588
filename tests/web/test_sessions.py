"""One's own sessions on ``/account`` and under ``/api/sessions`` (OWASP ASVS 5.0 7.5.2): the person sees
every browser signed in to their account and ends any of them; nobody else's session can be ended."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.accounts.model import Account
from tests.conftest import PARTNER_PASSWORD
from tests.support import WebClient, audit_events

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def browser_of(new_browser: Any, account: Account, agent: str) -> WebClient:
    browser = new_browser()
    browser.user_agent = agent
    assert browser.sign_in(account.username, PARTNER_PASSWORD).status == 200
    return browser


def own_sessions(browser: WebClient) -> list[dict[str, Any]]:
    listed = browser.get("/api/sessions")
    assert listed.status == 200, listed.text
    return list(listed.json["sessions"])


def sid_of(browser: WebClient) -> str:
    (mine,) = [s for s in own_sessions(browser) if s["current"]]
    return str(mine["sid"])


def test_the_account_page_lists_ones_sessions_and_marks_this_one(
    new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalice.local import LambdaEventConverter

    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.7")
    laptop = browser_of(new_browser, partner, FIREFOX)
    phone = browser_of(new_browser, partner, IPHONE)
    page = laptop.get("/account")
    assert page.status == 200
    assert "Firefox 128 on Windows" in page.text and "Safari 17 on iPhone" in page.text
    assert "198.51.100.7" in page.text and "This session" in page.text
    phone_sid, laptop_sid = sid_of(phone), sid_of(laptop)
    # An End button for the other browser, none for this one (it has "Sign out" and "Sign out everywhere").
    assert f'action="/account/sessions/{phone_sid}/end"' in page.text
    assert f'action="/account/sessions/{laptop_sid}/end"' not in page.text
    assert 'action="/account/sign-out-everywhere"' in page.text


def test_the_json_list_gives_browser_address_times_and_which_one_is_this(new_browser: Any, partner: Account) -> None:
    laptop = browser_of(new_browser, partner, FIREFOX)
    browser_of(new_browser, partner, IPHONE)
    listed = own_sessions(laptop)
    by_name = {s["browser_name"]: s for s in listed}  # (newest first; these started in the same second)
    phone, this = by_name["Safari 17 on iPhone"], by_name["Firefox 128 on Windows"]
    assert (phone["current"], this["current"]) == (False, True)
    assert this["browser"] == FIREFOX and this["address"] == "127.0.0.1"
    assert this["started"] <= this["last_seen"] and not this["pending"]
    assert sum(s["current"] for s in listed) == 1


def test_ending_another_of_ones_sessions_signs_that_browser_out_and_is_audited(
    new_browser: Any, partner: Account, stack: Any
) -> None:
    laptop = browser_of(new_browser, partner, FIREFOX)
    phone = browser_of(new_browser, partner, IPHONE)
    phone_sid = sid_of(phone)
    ended = laptop.submit("/account", f"/account/sessions/{phone_sid}/end", {})
    assert ended.status == 303 and ended.header("location").endswith("/account?notice=browser_signed_out")
    assert phone.get("/api/session").status == 401
    assert laptop.get("/api/session").status == 200
    after = laptop.get("/account?notice=browser_signed_out")
    assert "That session has ended" in after.text and phone_sid not in after.text
    (record,) = audit_events(stack, "session.ended")
    assert (record["actor"], record["account"], record["reason"]) == (
        partner.username,
        partner.username,
        "user_request",
    )
    assert record["detail"] == {"session": phone_sid}
    again = laptop.submit("/account", f"/account/sessions/{phone_sid}/end", {})
    assert again.status == 404


def test_the_api_ends_one_session_and_ending_this_one_signs_out(new_browser: Any, partner: Account) -> None:
    laptop = browser_of(new_browser, partner, FIREFOX)
    phone = browser_of(new_browser, partner, IPHONE)
    ended = laptop.post(f"/api/sessions/{sid_of(phone)}/end")
    assert ended.status == 200 and ended.json["this_session"] is False
    assert phone.get("/api/session").status == 401
    this = laptop.post(f"/api/sessions/{sid_of(laptop)}/end")
    assert this.status == 200 and this.json["this_session"] is True
    assert laptop.get("/api/session").status == 401


def test_a_session_of_someone_else_cannot_be_ended_and_nothing_tells_it_exists(
    new_browser: Any, make_partner: Any, stack: Any
) -> None:
    mine = make_partner("one@clinic.example")
    theirs = make_partner("two@clinic.example")
    me = browser_of(new_browser, mine, FIREFOX)
    them = browser_of(new_browser, theirs, IPHONE)
    their_sid = sid_of(them)
    by_api = me.post(f"/api/sessions/{their_sid}/end")
    unknown = me.post("/api/sessions/no-such-session-id/end")
    assert by_api.status == unknown.status == 404
    assert {**by_api.json, "request_id": ""} == {**unknown.json, "request_id": ""}
    by_page = me.submit("/account", f"/account/sessions/{their_sid}/end", {})
    assert by_page.status == 404
    assert them.get("/api/session").status == 200
    assert their_sid not in me.get("/account").text
    assert their_sid not in {s["sid"] for s in own_sessions(me)}
    assert audit_events(stack, "session.ended") == []


def test_a_session_still_waiting_for_its_second_factor_is_not_listed_nor_endable(
    new_browser: Any, partner: Account, stack: Any
) -> None:
    laptop = browser_of(new_browser, partner, FIREFOX)
    half = new_browser()
    first_step = half.post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert first_step.status == 200 and first_step.json["second_factor_required"]
    (pending,) = [s for s in stack.services().sessions.list_for(partner.username) if s.stage != "full"]
    assert pending.sid not in {s["sid"] for s in own_sessions(laptop)}
    assert laptop.post(f"/api/sessions/{pending.sid}/end").status == 404


def test_ending_a_session_needs_the_csrf_token(new_browser: Any, partner: Account) -> None:
    laptop = browser_of(new_browser, partner, FIREFOX)
    phone = browser_of(new_browser, partner, IPHONE)
    refused = laptop.post(f"/account/sessions/{sid_of(phone)}/end", form={})
    assert refused.status == 403
    assert phone.get("/api/session").status == 200


def test_signing_out_ends_the_list_to_a_sign_in(web: WebClient) -> None:
    assert web.get("/api/sessions").status == 401
    assert web.get("/account").status == 303
