"""Accounts are initiated by associates only (R1); associates unlock and terminate them (R3)."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.model import Account
from tests.conftest import PARTNER_PASSWORD
from tests.support import WebClient, audit_events, link_in, mail_text, sent_mail


def test_an_associate_creates_a_partner_account_and_the_partner_is_invited(associate_web: WebClient) -> None:
    reply = associate_web.post("/api/accounts", json_body={"email": "Dana@Clinic.example", "display_name": "Dana"})
    assert reply.status == 201
    account = reply.json["account"]
    assert account["email"] == "dana@clinic.example"
    assert account["status"] == "invited" and account["role"] == "partner"
    assert reply.json["invitation_sent"] is True
    invitation = sent_mail()[-1]
    assert invitation["To"].addresses[0].addr_spec == "dana@clinic.example"
    assert account["username"] in mail_text(invitation)
    assert link_in(invitation, "/register/")


def test_an_outsider_cannot_create_an_account(web: WebClient, stack: Any) -> None:
    reply = web.post("/api/accounts", json_body={"email": "eve@evil.example"})
    assert reply.status == 401
    assert reply.json["error"] == "authentication_required"


def test_a_partner_cannot_create_an_account(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    reply = browser.post("/api/accounts", json_body={"email": "friend@elsewhere.example"})
    assert reply.status == 403
    assert reply.json["error"] == "access_denied"


def test_there_is_no_self_registration_without_an_invitation(web: WebClient, stack: Any) -> None:
    reply = web.post("/api/register", json_body={"token": "A" * 43, "password": "a long passphrase here ok"})
    assert reply.status == 410
    assert reply.json["error"] == "link_not_valid"


def test_an_address_can_have_only_one_account_in_recipient_scope(associate_web: WebClient) -> None:
    assert associate_web.post("/api/accounts", json_body={"email": "dup@clinic.example"}).status == 201
    again = associate_web.post("/api/accounts", json_body={"email": "DUP@clinic.example"})
    assert again.status == 409
    assert again.json["error"] == "account_exists"


def test_internal_addresses_are_not_partner_accounts(associate_web: WebClient) -> None:
    reply = associate_web.post("/api/accounts", json_body={"email": "colleague@plan.example"})
    assert reply.status == 400
    assert reply.json["field"] == "email"


def test_an_associate_unlocks_a_locked_account(associate_web: WebClient, new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    for _ in range(3):
        browser.post("/api/session", json_body={"username": partner.username, "password": "wrong guess again"})
    listed = {a["username"]: a for a in associate_web.get("/api/accounts").json["accounts"]}
    assert listed[partner.username]["locked"] is True
    reply = associate_web.post(f"/api/accounts/{partner.username}/unlock")
    assert reply.status == 200
    assert reply.json["account"]["locked"] is False
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200


def test_a_lock_ends_the_accounts_sessions_for_good_so_an_unlock_does_not_revive_them(
    associate_web: WebClient, new_browser: Any, partner: Account
) -> None:
    signed_in = new_browser()
    assert signed_in.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    assert signed_in.get("/api/threads").status == 200
    guesser = new_browser()
    for _ in range(3):
        guesser.post("/api/session", json_body={"username": partner.username, "password": "wrong guess again"})
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 200
    assert signed_in.get("/api/threads").status == 401
    again = new_browser()
    assert again.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    assert again.get("/api/threads").status == 200


def test_a_session_from_before_the_lock_stays_dead_after_a_self_service_unlock(
    new_browser: Any, partner: Account, monkeypatch: Any, deliver_account_mail: Any
) -> None:
    monkeypatch.setenv("SEALPOST_SELF_SERVICE_UNLOCK", "true")
    signed_in = new_browser()
    assert signed_in.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    guesser = new_browser()
    for _ in range(3):
        guesser.post("/api/session", json_body={"username": partner.username, "password": "wrong guess again"})
    owner = new_browser()
    owner.post("/api/password/forgot", json_body={"identifier": partner.email})
    deliver_account_mail()
    token = link_in(sent_mail()[-1], "/reset/").rsplit("/", 1)[1]
    new_password = "the partner's new long passphrase"
    reset = owner.post("/api/password/reset", json_body={"token": token, "password": new_password})
    assert reset.status == 200 and reset.json["locked"] is False
    assert signed_in.get("/api/threads").status == 401
    assert new_browser().sign_in(partner.username, new_password).status == 200


def test_an_unlock_ends_sessions_even_when_the_lock_did_not(
    associate_web: WebClient, new_browser: Any, partner: Account, stack: Any
) -> None:
    signed_in = new_browser()
    assert signed_in.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    accounts = stack.services().accounts
    for _ in range(3):  # a lock counted elsewhere (a second factor's), which ended no session itself
        accounts.count_failure("ACCOUNT#" + partner.username, 3)
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 200
    assert signed_in.get("/api/threads").status == 401


def test_unlocking_an_account_that_is_not_locked_is_a_conflict(associate_web: WebClient, partner: Account) -> None:
    reply = associate_web.post(f"/api/accounts/{partner.username}/unlock")
    assert reply.status == 409


def test_a_partner_cannot_unlock_or_terminate(new_browser: Any, make_partner: Any) -> None:
    one = make_partner("one@clinic.example")
    other = make_partner("two@clinic.example")
    browser = new_browser()
    browser.sign_in(one.username, PARTNER_PASSWORD)
    assert browser.post(f"/api/accounts/{other.username}/unlock").status == 403
    assert browser.post(f"/api/accounts/{other.username}/terminate").status == 403


def test_termination_is_final(associate_web: WebClient, partner: Account) -> None:
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").json["account"]["status"] == "terminated"
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").status == 409
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 409


def test_actions_on_unknown_accounts_are_not_found(associate_web: WebClient) -> None:
    assert associate_web.post("/api/accounts/nobody-000000/terminate").status == 404
    assert associate_web.post("/api/accounts/alice@plan.example/terminate").status == 404  # associates are not partners


def test_resending_an_invitation_invalidates_the_earlier_link(
    associate_web: WebClient, new_browser: Any, stack: Any
) -> None:
    created = associate_web.post("/api/accounts", json_body={"email": "late@clinic.example"}).json["account"]
    first = link_in(sent_mail()[-1], "/register/").rsplit("/", 1)[1]
    assert new_browser().get(f"/register/{first}").status == 200  # good until the invitation is sent again
    assert associate_web.post(f"/api/accounts/{created['username']}/invitation").status == 200
    second = link_in(sent_mail()[-1], "/register/").rsplit("/", 1)[1]
    assert first != second
    # The earlier link is refused at once, before anyone registers, on the page and in the API.
    assert new_browser().get(f"/register/{first}").status == 410
    old = new_browser().post("/api/register", json_body={"token": first, "password": PARTNER_PASSWORD})
    assert (old.status, old.json["error"]) == (410, "link_not_valid")
    assert stack.services().accounts.require(created["username"]).status.value == "invited"
    # The newest one works, once.
    assert new_browser().post("/api/register", json_body={"token": second, "password": PARTNER_PASSWORD}).status == 201
    again = new_browser().post("/api/register", json_body={"token": second, "password": PARTNER_PASSWORD})
    assert again.status == 410


def test_a_resent_invitation_leaves_a_first_pickup_link_good(
    associate_web: WebClient, start_thread: Any, new_browser: Any, stack: Any
) -> None:
    start_thread(["nina@clinic.example"])  # a new partner: the notice carries a first-pickup link
    pickup = link_in(mail_to("nina@clinic.example"), "/p/").rsplit("/", 1)[1]
    (account,) = stack.services().accounts.list_by_email("nina@clinic.example")
    assert associate_web.post(f"/api/accounts/{account.username}/invitation").status == 200
    invitation = link_in(mail_to("nina@clinic.example"), "/register/").rsplit("/", 1)[1]
    # Only a newer invitation replaces an older one: the message's pickup link still registers the partner.
    registered = new_browser().post(f"/api/pickup/{pickup}/register", json_body={"password": PARTNER_PASSWORD})
    assert registered.status == 201, registered.text
    assert new_browser().get(f"/register/{invitation}").status == 410  # registered now: no link is good


def mail_to(address: str) -> Any:
    return next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == address)


def test_the_associate_page_creates_unlocks_and_terminates(associate: Account, new_browser: Any) -> None:
    from tests.support import DEMO_PASSWORD

    browser = new_browser()
    page = browser.sign_in_page(associate.username, DEMO_PASSWORD)
    assert page.status == 303
    created = browser.submit("/accounts", "/accounts", {"email": "page@clinic.example", "display_name": "Page"})
    assert created.status == 303 and "account_created" in created.header("location")
    home = browser.get("/accounts?notice=account_created")
    assert "page@clinic.example" in home.text and "The account has been created" in home.text
    username = next(a for a in associate_web_accounts(browser) if a["email"] == "page@clinic.example")["username"]
    terminated = browser.submit("/accounts", f"/accounts/{username}/terminate", {})
    assert terminated.status == 303
    assert "Terminated" in browser.get("/accounts").text


def associate_web_accounts(browser: WebClient) -> list[dict[str, Any]]:
    return list(browser.get("/api/accounts").json["accounts"])


# --- a partner's sessions (ASVS 7.4.5) -------------------------------------------------------


def partner_browsers(new_browser: Any, partner: Account, *agents: str) -> list[WebClient]:
    browsers = []
    for agent in agents:
        browser = new_browser()
        browser.user_agent = agent
        assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
        browsers.append(browser)
    return browsers


def stored_sessions(stack: Any, username: str) -> list[Any]:
    return stack.services().sessions.list_for(username)


def test_an_associate_sees_and_ends_one_partner_session(
    associate_web: WebClient, new_browser: Any, partner: Account, stack: Any, monkeypatch: Any
) -> None:
    from chalice.local import LambdaEventConverter

    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.7")
    laptop, phone = partner_browsers(new_browser, partner, "Laptop-Firefox/128.0", "Phone-Safari/17 " + "x" * 300)
    page = associate_web.get(f"/accounts/{partner.username}/sessions")
    assert page.status == 200
    assert "Laptop-Firefox/128.0" in page.text and "198.51.100.7" in page.text
    assert "x" * 300 not in page.text and "Phone-Safari/17 " + "x" * 184 in page.text  # cut to 200 characters
    sessions = stored_sessions(stack, partner.username)
    # The registration's session (the partner fixture's browser), then the two sign-ins.
    assert sorted(s.user_agent[:8] for s in sessions) == ["Laptop-F", "Phone-Sa", "pytest-b"]
    assert all(s.token_hash not in page.text for s in sessions)  # the random id is shown, never the hash
    (phone_session,) = [s for s in sessions if s.user_agent.startswith("Phone")]
    assert len(phone_session.user_agent) == 200 and phone_session.source_ip == "198.51.100.7"
    assert phone_session.sid in page.text

    ended = associate_web.submit(
        f"/accounts/{partner.username}/sessions", f"/accounts/{partner.username}/sessions/{phone_session.sid}/end", {}
    )
    assert ended.status == 303 and "partner_session_ended" in ended.header("location")
    assert phone.get("/api/session").status == 401
    assert laptop.get("/api/session").status == 200
    after = associate_web.get(f"/accounts/{partner.username}/sessions?notice=partner_session_ended")
    assert "Laptop-Firefox" in after.text and "Phone-Safari" not in after.text
    (record,) = audit_events(stack, "session.ended")
    assert (record["actor"], record["account"], record["reason"]) == (
        "alice@plan.example",
        partner.username,
        "associate_request",
    )
    assert record["detail"] == {"session": phone_session.sid}
    # A session that has ended is not found again.
    again = associate_web.submit(
        f"/accounts/{partner.username}/sessions", f"/accounts/{partner.username}/sessions/{phone_session.sid}/end", {}
    )
    assert again.status == 404


def test_an_associate_ends_every_partner_session(
    associate_web: WebClient, new_browser: Any, partner: Account, stack: Any
) -> None:
    browsers = partner_browsers(new_browser, partner, "One/1.0", "Two/2.0")
    assert f'href="/accounts/{partner.username}/sessions"' in associate_web.get("/accounts").text
    ended = associate_web.submit(
        f"/accounts/{partner.username}/sessions", f"/accounts/{partner.username}/sessions/end-all", {}
    )
    assert ended.status == 303 and "partner_sessions_ended" in ended.header("location")
    assert [b.get("/api/session").status for b in browsers] == [401, 401]
    assert "No browser is signed in" in associate_web.get(f"/accounts/{partner.username}/sessions").text
    revoked = audit_events(stack, "session.revoked_all")
    assert [(r["actor"], r["account"], r["reason"]) for r in revoked] == [
        ("alice@plan.example", partner.username, "associate_request")
    ]
    # The partner is not locked out: the password still signs in.
    assert partner_browsers(new_browser, partner, "Three/3.0")[0].get("/api/session").status == 200


def test_a_partner_cannot_list_sessions(new_browser: Any, make_partner: Any, stack: Any) -> None:
    one = make_partner("one@clinic.example")
    other = make_partner("two@clinic.example")
    (browser,) = partner_browsers(new_browser, one, "Mine/1.0")
    (others,) = partner_browsers(new_browser, other, "Theirs/1.0")
    for whose in (other, one):
        page = browser.get(f"/accounts/{whose.username}/sessions")
        assert page.status == 403 and "Theirs/1.0" not in page.text
    token = browser.form_token("/account")
    sid = stored_sessions(stack, other.username)[0].sid
    for action in (f"sessions/{sid}/end", "sessions/end-all"):
        refused = browser.post(f"/accounts/{other.username}/{action}", form={"csrf_token": token})
        assert refused.status == 403
    assert others.get("/api/session").status == 200
    denied = [r["detail"]["action"] for r in audit_events(stack, "access.denied")]
    assert denied == ["list_sessions", "list_sessions", "end_session", "end_sessions"]


def test_an_associate_sees_no_sessions_of_another_associate(associate_web: WebClient) -> None:
    assert associate_web.get("/accounts/alice@plan.example/sessions").status == 404
