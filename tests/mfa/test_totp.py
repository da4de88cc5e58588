"""TOTP codes: accepted one step either side of now, never twice (ASVS 6.5.1), and the enrolment's
QR code and seed."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import time_machine

from chalicelib.accounts.model import Account
from chalicelib.mfa import totp
from tests.conftest import PARTNER_PASSWORD
from tests.support import SECOND_FACTORS, WebClient, audit_events

API = "/api/session/second-factor"


def pending(browser: WebClient, account: Account) -> WebClient:
    first = browser.post("/api/session", json_body={"username": account.username, "password": PARTNER_PASSWORD})
    assert first.status == 200 and first.json["second_factor_required"], first.text
    browser.csrf_token = first.json["csrf_token"]
    return browser


def test_a_code_matches_its_step_and_one_either_side_only() -> None:
    seed = totp.new_seed()
    at = 1_800_000_000 - 1_800_000_000 % 30 + 5
    with time_machine.travel(at, tick=False):
        step = at // 30
        for offset in (-1, 0, 1):
            assert totp.matched_step(seed, pyotp.TOTP(seed).at((step + offset) * 30)) == step + offset
        for offset in (-3, -2, 2, 3):
            assert totp.matched_step(seed, pyotp.TOTP(seed).at((step + offset) * 30)) is None


def test_a_new_seed_has_160_bits_and_is_shown_in_groups_of_four() -> None:
    seed = totp.new_seed()
    assert len(seed) == 32 and set(seed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")  # 32 × 5 bits
    assert totp.grouped(seed).split(" ") == [seed[i : i + 4] for i in range(0, 32, 4)]
    assert totp.new_seed() != seed


def test_the_qr_code_is_inline_svg_without_script_or_style() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_seed(), "bob@clinic.example", "Plan"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<script" not in svg and "<style" not in svg and "style=" not in svg and "on" + "load" not in svg


def test_a_code_is_only_six_digits() -> None:
    assert totp.clean_code(" 123 456 ") == "123456"
    assert totp.clean_code("12345") is None and totp.clean_code("abcdef") is None and totp.clean_code("1234567") is None


def test_a_totp_code_cannot_be_replayed_in_its_window(partner: Account, new_browser: Any, stack: Any) -> None:
    seed = SECOND_FACTORS.seeds[partner.email]
    step = int(time.time()) // 30 + 2  # a step no helper has used yet, 5 and 25 seconds into it
    with time_machine.travel(step * 30 + 5, tick=False):
        code = pyotp.TOTP(seed).now()
        first = pending(new_browser(), partner).post(API, json_body={"code": code})
        assert first.status == 200, first.text
    with time_machine.travel(step * 30 + 25, tick=False):
        replayed = pending(new_browser(), partner).post(API, json_body={"code": code})
        assert replayed.status == 401 and replayed.json["error"] == "invalid_credentials"
        assert "__Host-sealpost_session" not in "".join(replayed.set_cookies())
        # The code of the previous step, still inside the window, is refused too: its step is older.
        older = pending(new_browser(), partner).post(API, json_body={"code": pyotp.TOTP(seed).at((step - 1) * 30)})
        assert older.status == 401
    with time_machine.travel((step + 1) * 30 + 5, tick=False):
        later = pending(new_browser(), partner).post(API, json_body={"code": pyotp.TOTP(seed).now()})
        assert later.status == 200, later.text
    reasons = [r["reason"] for r in audit_events(stack, "signin.failed")]
    assert reasons == ["totp_replayed", "totp_replayed"]  # a right code whose step is used up
    succeeded = audit_events(stack, "signin.succeeded")[-1]
    assert succeeded["detail"] == {"method": "password", "second_factor": "totp"}
