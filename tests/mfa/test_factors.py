"""Factors belong to a mail address: in the thread scope one enrolment covers every thread account."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import register_from_invitation
from tests.support import SECOND_FACTORS, all_dynamodb_items, audit_events, mail_text, sent_mail


def test_thread_scope_enrols_once_per_mail_address(
    associate_web: Any, new_browser: Any, start_thread: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    start_thread(["gus@clinic.example"], subject="Thread one")
    one = new_browser()
    register_from_invitation(one, "gus@clinic.example")
    assert audit_events(stack, "mfa.enrolled")[-1]["reason"] == "first"
    enrolments = len(audit_events(stack, "mfa.enrolled"))
    seed_before = stack.services().second_factor.factors.get("gus@clinic.example").totp_seed
    start_thread(["gus@clinic.example"], subject="Thread two")
    mail = [m for m in sent_mail() if m["To"].addresses[0].addr_spec == "gus@clinic.example"][-1]
    found = re.search(r"/p/([A-Za-z0-9_-]{43})", mail_text(mail))
    assert found
    token = found.group(1)
    two = new_browser()
    registered = two.post(f"/api/pickup/{token}/register", json_body={"password": "another partner passphrase"})
    assert registered.status == 201
    # The second thread account of the address asks for the code of the app set up for the first.
    assert registered.json.get("second_factor_required") is True and "enrolment_required" not in registered.json
    signed_in = two.second_factor(registered, "gus@clinic.example")
    assert signed_in.status == 200 and signed_in.json["username"] != one.get("/api/session").json["username"]
    assert len(audit_events(stack, "mfa.enrolled")) == enrolments
    # One item for the address, its seed unchanged by the second account.
    assert stack.services().second_factor.factors.get("gus@clinic.example").totp_seed == seed_before
    factor_keys = [i["pk"]["S"] for i in all_dynamodb_items(stack.client("dynamodb")) if "gus" in i["pk"]["S"]]
    assert [k for k in factor_keys if k.startswith("FACTORS#")] == ["FACTORS#gus@clinic.example"]
    assert len([k for k in factor_keys if k.startswith("ACCOUNT#")]) == 2  # two thread accounts, one enrolment
    assert SECOND_FACTORS.seeds["gus@clinic.example"]
