"""Pickup links: single use, bound to recipient and thread, hashed, expiring; renewal notifies the associate."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import time_machine

from tests.support import PORTAL_URL, WebClient, mail_text, sent_mail

PASSWORD = "quiet orchard lantern maps"


def pickup_link(address: str) -> str:
    mail = next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == address and "/p/" in mail_text(m))
    found = re.search(re.escape(PORTAL_URL) + r"(/p/[A-Za-z0-9_-]{43})\s", mail_text(mail))
    assert found
    return found.group(1)


def register(browser: WebClient, link: str) -> Any:
    """Register from the pickup page, then set up the TOTP app (MfaPolicy=required) as the person would."""
    return browser.through_second_factor(
        browser.submit(link, link, {"password": PASSWORD, "password_confirmation": PASSWORD}), ""
    )


def test_pickup_tokens_are_long_random_and_stored_only_as_hashes(start_thread: Any, stack: Any) -> None:
    start_thread(["ivy@clinic.example"])
    token = pickup_link("ivy@clinic.example").rsplit("/", 1)[1]
    assert len(token) == 43  # 256 bits
    items = stack.client("dynamodb").scan(TableName=stack.env["SEALPOST_TOKENS_TABLE"])["Items"]
    assert token not in repr(items)
    (item,) = [i for i in items if i["purpose"]["S"] == "pickup"]
    assert item["pk"]["S"] == hashlib.sha256(token.encode()).hexdigest()
    assert item["thread_id"]["S"] and item["username"]["S"].startswith("ivy-")


def test_the_first_pickup_registers_and_mails_the_user_name(start_thread: Any, new_browser: Any) -> None:
    sent = start_thread(["ivy@clinic.example"])
    link = pickup_link("ivy@clinic.example")
    browser = new_browser()
    assert "Choose your password" in browser.get(link).text
    done = register(browser, link)
    assert done.status == 303 and done.header("location").startswith(f"/threads/{sent['thread']['thread_id']}")
    welcome = sent_mail()[-1]
    assert "account is ready" in str(welcome["Subject"]) and "Your user name: ivy-" in mail_text(welcome)


def test_a_used_link_shows_a_clear_page_that_offers_a_new_one(
    start_thread: Any, new_browser: Any, associate: Any
) -> None:
    start_thread(["ivy@clinic.example"])
    link = pickup_link("ivy@clinic.example")
    register(new_browser(), link)
    browser = new_browser()
    page = browser.get(link)
    assert page.status == 410 and "no longer valid" in page.text and "Ask for a new link" in page.text
    before = len(sent_mail())
    asked = browser.submit(link, link + "/renew", {})
    assert asked.status == 200 and "asked for a new link" in asked.text
    (notice,) = sent_mail()[before:]
    assert notice["To"].addresses[0].addr_spec == associate.email
    assert "already been used" in mail_text(notice) and "SP-" in mail_text(notice)


def test_an_expired_link_can_be_renewed_and_the_associate_sends_a_fresh_one(associate: Any, new_browser: Any) -> None:
    from tests.support import DEMO_PASSWORD

    with time_machine.travel(time.time(), tick=False) as traveller:
        admin = new_browser()
        admin.sign_in(associate.username, DEMO_PASSWORD)
        sent = admin.post(
            "/api/threads", json_body={"recipients": ["ivy@clinic.example"], "subject": "Claim", "text": "Body"}
        ).json
        link = pickup_link("ivy@clinic.example")
        traveller.shift(73 * 3600)
        browser = new_browser()
        assert browser.get(link).status == 410
        browser.submit(link, link + "/renew", {})
        assert "expired" in mail_text(sent_mail()[-1])
        admin = new_browser()
        admin.sign_in(associate.username, DEMO_PASSWORD)
        username = sent["invited"][0]
        thread_id = sent["thread"]["thread_id"]
        resent = admin.post(f"/api/threads/{thread_id}/participants/{username}/pickup-link")
        assert resent.status == 200
        fresh = pickup_link("ivy@clinic.example")
        assert fresh != link
        assert register(new_browser(), fresh).status == 303


def test_unknown_links_get_the_same_page_and_renewal_tells_nobody(start_thread: Any, new_browser: Any) -> None:
    browser = new_browser()
    link = "/p/" + "A" * 43
    page = browser.get(link)
    assert page.status == 410 and "Ask for a new link" in page.text
    before = len(sent_mail())
    assert browser.submit(link, link + "/renew", {}).status == 200
    assert len(sent_mail()) == before


def test_only_an_associate_on_the_thread_can_send_a_new_link(
    start_thread: Any, make_partner: Any, new_browser: Any, stack: Any
) -> None:
    from devtools.seed import seed_associate
    from tests.conftest import PARTNER_PASSWORD

    sent = start_thread(["ivy@clinic.example"])
    path = f"/api/threads/{sent['thread']['thread_id']}/participants/{sent['invited'][0]}/pickup-link"
    seed_associate(stack.services(), "other@plan.example", "another associate passphrase", "Other")
    other = new_browser()
    other.sign_in("other@plan.example", "another associate passphrase")
    assert other.post(path).status == 404
    partner = make_partner("zed@lab.example")
    outsider = new_browser()
    outsider.sign_in(partner.username, PARTNER_PASSWORD)
    assert outsider.post(path).status == 404


def test_a_later_link_signs_in_with_the_password_and_is_then_used_up(start_thread: Any, new_browser: Any) -> None:
    start_thread(["ivy@clinic.example"])
    register(new_browser(), pickup_link("ivy@clinic.example"))
    start_thread(["ivy@clinic.example"], subject="Second")
    second = pickup_link("ivy@clinic.example")
    browser = new_browser()
    wrong = browser.submit(second, second + "/signin", {"password": "not the password at all"})
    assert wrong.status == 401 and "not correct" in wrong.text
    right = browser.through_second_factor(
        browser.submit(second, second + "/signin", {"password": PASSWORD}), "ivy@clinic.example"
    )
    assert right.status == 303 and "Second" in browser.get(right.header("location")).text
    assert new_browser().get(second).status == 410
