"""Recovery codes: ten, about 124 bits each, shown once, stored as SHA-256 hashes, each usable once."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from chalicelib.accounts.model import Account
from chalicelib.mfa import recovery
from tests.conftest import PARTNER_PASSWORD
from tests.support import SECOND_FACTORS, WebClient, all_dynamodb_items, audit_events

API = "/api/session/second-factor"


def pending(browser: WebClient, account: Account) -> WebClient:
    first = browser.post("/api/session", json_body={"username": account.username, "password": PARTNER_PASSWORD})
    assert first.status == 200 and first.json["second_factor_required"], first.text
    browser.csrf_token = first.json["csrf_token"]
    return browser


def test_ten_codes_of_about_124_bits_from_an_unambiguous_alphabet() -> None:
    codes = recovery.new_codes()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"([a-km-np-z2-9]{5}-){4}[a-km-np-z2-9]{5}", code), code
        assert not set(code) & set("01lio")
    assert 25 * math.log2(len(recovery.PASSPHRASE_ALPHABET)) > 123


def test_a_code_is_read_whatever_its_case_spacing_and_hyphens() -> None:
    code = recovery.new_codes()[0]
    typed = code.upper().replace("-", " ")
    assert (
        recovery.code_hash(typed)
        == recovery.code_hash(code)
        == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    )
    assert recovery.clean_code("123456") is None


def test_a_recovery_code_works_once(make_partner: Any, new_browser: Any, stack: Any) -> None:
    partner = make_partner()
    codes = SECOND_FACTORS.recovery[partner.email]
    first = pending(new_browser(), partner).post(API, json_body={"code": codes[0].upper()})
    assert first.status == 200, first.text
    again = pending(new_browser(), partner).post(API, json_body={"code": codes[0]})
    assert again.status == 401
    other = pending(new_browser(), partner).post(API, json_body={"code": codes[1]})
    assert other.status == 200, other.text
    used = audit_events(stack, "mfa.recovery_code_used")
    assert [r["detail"]["recovery_codes_left"] for r in used] == ["9", "8"]
    assert audit_events(stack, "signin.failed")[-1]["reason"] == "wrong_second_factor"
    assert stack.services().second_factor.factors.get(partner.email).recovery_left == 8


def test_recovery_codes_are_stored_as_hashes(make_partner: Any, stack: Any) -> None:
    partner = make_partner()
    codes = SECOND_FACTORS.recovery[partner.email]
    stored = stack.services().second_factor.factors.get(partner.email).recovery
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    everything = repr(all_dynamodb_items(stack.client("dynamodb")))
    for code in codes:
        assert code not in everything and code.replace("-", "") not in everything


def test_new_recovery_codes_end_the_old_ones(partner: Account, new_browser: Any, stack: Any) -> None:
    browser = new_browser()
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    old = SECOND_FACTORS.recovery[partner.email]
    wrong = browser.post(API + "/recovery-codes", json_body={"proof": "not my password at all"})
    assert wrong.status == 401
    fresh = browser.post(API + "/recovery-codes", json_body={"proof": PARTNER_PASSWORD})
    assert fresh.status == 201 and len(fresh.json["recovery_codes"]) == 10
    assert pending(new_browser(), partner).post(API, json_body={"code": old[0]}).status == 401
    assert pending(new_browser(), partner).post(API, json_body={"code": fresh.json["recovery_codes"][0]}).status == 200
    assert SECOND_FACTORS.seeds[partner.email]
