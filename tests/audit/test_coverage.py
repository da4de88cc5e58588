"""Every audited action, once: each produces exactly its records, with every field and no secret.

One scenario walks through the product; after each step the new audit records are compared
with the records that step must produce, no more and no fewer. At the end every event type
has been seen, and no audit object holds a password, token, cookie, subject or message text.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from chalice.local import LambdaEventConverter

from chalicelib.accounts.sessions import COOKIE_NAME
from chalicelib.audit.records import RECORD_COLUMNS, AuditEvent
from tests.conftest import PARTNER_PASSWORD, Gateway
from tests.support import (
    DEMO_PASSWORD,
    HARMLESS,
    PORTAL_URL,
    audit_objects,
    audit_records,
    link_in,
    mail_text,
    mime,
    sent_mail,
    stream_download,
    upload,
)

SUBJECT = "Coverage subject about Jane Roe"
BODY = "Coverage body: Jane Roe's chart is attached."
REPLY = "Coverage reply from the clinic."
NEW_PASSWORD = "an entirely different passphrase"
RESET_PASSWORD = "yet another brand new passphrase"


class Steps:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.seen: Counter[str] = Counter()
        self.count = 0

    def records(self) -> list[dict[str, Any]]:
        return audit_records(self.stack.client("s3"), self.stack.audit_bucket)

    def expect(self, expected: list[str], action: Callable[[], Any]) -> Any:
        before = self.records()
        result = action()
        after = self.records()
        new = after[len(before) :] if after[: len(before)] == before else [r for r in after if r not in before]
        assert Counter(r["event"] for r in new) == Counter(expected), (expected, [r["event"] for r in new])
        for record in new:
            assert list(record) == sorted(name for name, _ in RECORD_COLUMNS)
            assert record["time"].endswith("Z") and record["request_id"] and record["actor"] and record["actor_role"]
            assert record["outcome"] in ("success", "failure", "denied")
        self.seen.update(r["event"] for r in new)
        return result


def test_every_audited_action_produces_exactly_its_records(
    gateway: Gateway,
    associate: Any,
    new_browser: Any,
    stack: Any,
    admin_cli: Callable[..., Any],
    deliver_account_mail: Callable[[], Any],
    idp: Any,
) -> None:
    steps = Steps(stack)
    secrets: list[str] = [DEMO_PASSWORD, PARTNER_PASSWORD, NEW_PASSWORD, RESET_PASSWORD, SUBJECT, BODY, REPLY]

    # --- sign-in and accounts
    alice = new_browser()
    # MfaPolicy=required: the first sign-in sets up the TOTP app (its recovery codes shown once).
    first_sign_in = ["mfa.enrolled", "mfa.recovery_codes_issued", "signin.succeeded"]
    steps.expect(first_sign_in, lambda: alice.sign_in(associate.username, DEMO_PASSWORD))
    steps.expect(["signin.failed"], lambda: new_browser().sign_in("nobody-000000", "wrong guess for nobody"))
    with pytest.MonkeyPatch.context() as patch:  # one address, a budget of one failure
        patch.setenv("SEALPOST_SOURCE_FAILURE_BUDGET", "1")
        patch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "203.0.113.9")
        guesser = new_browser()
        steps.expect(["signin.failed"], lambda: guesser.sign_in("nobody-000001", "wrong guess for nobody"))
        steps.expect(["signin.throttled"], lambda: guesser.sign_in("nobody-000002", "wrong guess for nobody"))
    created = steps.expect(
        ["account.created"], lambda: alice.post("/api/accounts", json_body={"email": "pat@clinic.example"})
    )
    pat_name = created.json["account"]["username"]
    invitation_token = link_in(sent_mail()[-1], "/register/").rsplit("/", 1)[1]
    secrets.append(invitation_token)
    pat = new_browser()
    registered = steps.expect(
        ["password.set"],
        lambda: pat.post("/api/register", json_body={"token": invitation_token, "password": PARTNER_PASSWORD}),
    )
    steps.expect(
        ["mfa.enrolled", "mfa.recovery_codes_issued"], lambda: pat.second_factor(registered, "pat@clinic.example")
    )
    pat_recovery_codes = pat.recovery_codes
    pat.csrf_token = pat.get("/api/session").json["csrf_token"]
    steps.expect(["access.denied"], lambda: pat.post("/api/accounts", json_body={"email": "x@y.example"}))

    attacker = new_browser()
    steps.expect(["signin.failed"], lambda: attacker.sign_in(pat_name, "wrong guess number one"))
    steps.expect(["signin.failed"], lambda: attacker.sign_in(pat_name, "wrong guess number two"))
    steps.expect(["signin.failed", "account.locked"], lambda: attacker.sign_in(pat_name, "wrong guess number three"))
    steps.expect(["account.unlocked"], lambda: alice.post(f"/api/accounts/{pat_name}/unlock"))
    pat = new_browser()
    steps.expect(["signin.succeeded"], lambda: pat.sign_in(pat_name, PARTNER_PASSWORD))
    changed = steps.expect(
        ["password.changed"],
        lambda: pat.post(
            "/api/password", json_body={"current_password": PARTNER_PASSWORD, "new_password": NEW_PASSWORD}
        ),
    )
    pat.csrf_token = changed.json["csrf_token"]
    steps.expect(["session.revoked_all"], lambda: pat.post("/api/session/revoke-all"))
    pat = new_browser()
    steps.expect(["signin.succeeded"], lambda: pat.sign_in(pat_name, NEW_PASSWORD))
    steps.expect(["session.signed_out"], lambda: pat.request("DELETE", "/api/session"))
    watched = new_browser()  # an associate ends one session of a partner (ASVS 7.4.5)
    steps.expect(["signin.succeeded"], lambda: watched.sign_in(pat_name, NEW_PASSWORD))
    watched_hash = hashlib.sha256(watched.cookies[COOKIE_NAME].encode()).hexdigest()
    sid = next(s.sid for s in stack.services().sessions.list_for(pat_name) if s.token_hash == watched_hash)
    sessions_page = f"/accounts/{pat_name}/sessions"
    steps.expect(["session.ended"], lambda: alice.submit(sessions_page, f"{sessions_page}/{sid}/end", {}))
    assert watched.get("/api/session").status == 401
    idle = new_browser()
    steps.expect(["signin.succeeded"], lambda: idle.sign_in(pat_name, NEW_PASSWORD))
    secrets += [idle.cookies[COOKIE_NAME], str(idle.csrf_token)]
    with time_machine.travel(time.time() + 16 * 60, tick=False):
        steps.expect(["session.expired"], lambda: idle.get("/api/session"))
    forgot = new_browser().post("/api/password/forgot", json_body={"identifier": pat_name})
    assert forgot.status == 202
    # The request is only queued; the worker (send_account_mail) records it, with the request's id.
    steps.expect(["password.reset_requested"], deliver_account_mail)
    reset_token = re.search(r"/reset/([A-Za-z0-9_-]{43})", mail_text(sent_mail()[-1])).group(1)
    secrets.append(reset_token)
    steps.expect(
        ["password.reset_completed"],
        lambda: new_browser().post("/api/password/reset", json_body={"token": reset_token, "password": RESET_PASSWORD}),
    )

    # --- the second factor
    second_factor(steps, new_browser, alice, pat_name, pat_recovery_codes, secrets)

    # --- threads and messages
    pat = new_browser()
    steps.expect(["signin.succeeded"], lambda: pat.sign_in(pat_name, RESET_PASSWORD))
    secrets += [pat.cookies[COOKIE_NAME], str(pat.csrf_token), alice.cookies[COOKIE_NAME], str(alice.csrf_token)]
    upload_id = upload(alice, b"%PDF chart of Jane Roe")
    started = steps.expect(
        ["thread.created", "message.sent", "pickup.link_sent"],
        lambda: alice.post(
            "/api/threads",
            json_body={
                "recipients": ["pat@clinic.example"],
                "subject": SUBJECT,
                "text": BODY,
                "attachments": [{"upload_id": upload_id, "filename": "jane-roe-chart.pdf"}],
            },
        ),
    )
    thread_id = started.json["thread"]["thread_id"]
    view = steps.expect(["message.opened"], lambda: pat.get(f"/api/threads/{thread_id}")).json
    steps.expect(
        ["message.downloaded"], lambda: pat.get(view["messages"][0]["attachments"][0]["url"], headers={"accept": "*/*"})
    )
    # A page's link: the grant first, then the streaming download function streams (and audits) it.
    page_link = "/threads/{}/messages/{}/attachments/{}".format(
        thread_id, view["messages"][0]["message_id"], view["messages"][0]["attachments"][0]["attachment_id"]
    )
    granted = steps.expect(["message.download_granted"], lambda: pat.get(page_link))
    secrets.append(granted.header("location").rsplit("/", 1)[1])
    steps.expect(["message.downloaded"], lambda: stream_download(granted.header("location"), gateway.stack.services()))
    steps.expect(
        ["message.sent", "message.replied", "message.delivered_tls"],
        lambda: pat.post(f"/api/threads/{thread_id}/messages", json_body={"text": REPLY}),
    )
    steps.expect(
        ["message.sent", "message.replied", "pickup.link_sent"],
        lambda: alice.post(f"/api/threads/{thread_id}/messages", json_body={"text": HARMLESS}),
    )
    steps.expect(["thread.removed_from_view"], lambda: pat.post(f"/api/threads/{thread_id}/remove-from-view"))
    steps.expect(
        ["filter.blocked", "filter.strike"],
        lambda: pat.post("/api/threads", json_body={"recipients": ["pal@gmail.example"], "subject": "s", "text": "t"}),
    )
    from devtools.seed import seed_associate

    seed_associate(stack.services(), "carl@plan.example", "colleague passphrase for carl", "Carl")
    steps.expect(
        ["thread.created", "message.sent", "pickup.link_sent", "message.notification_sent"],
        lambda: alice.post(
            "/api/threads",
            json_body={"recipients": ["pat@clinic.example", "carl@plan.example"], "subject": "s", "text": "t"},
        ),
    )
    pickup = re.search(
        r"(/p/[A-Za-z0-9_-]{43})",
        mail_text(sent_mail()[-2] if "/p/" in mail_text(sent_mail()[-2]) else sent_mail()[-1]),
    )
    used = pickup.group(1)
    new_browser().submit(used, used + "/signin", {"password": RESET_PASSWORD})  # uses the link up
    steps.expect(["pickup.new_link_requested"], lambda: new_browser().submit(used, used + "/renew", {}))

    # --- tampering
    services = stack.services()
    record = services.threads.messages(thread_id)[0]
    s3 = stack.client("s3")
    bucket = stack.env["SEALPOST_MESSAGES_BUCKET"]
    ciphertext = bytearray(s3.get_object(Bucket=bucket, Key=record.content.key)["Body"].read())
    ciphertext[100] ^= 1
    s3.put_object(Bucket=bucket, Key=record.content.key, Body=bytes(ciphertext))
    steps.expect(["integrity.tamper_detected"], lambda: alice.get(f"/api/threads/{thread_id}"))

    # --- the email gateway
    steps.expect(
        ["account.created", "thread.created", "message.sent", "message.tls_decided", "message.delivered_tls"],
        lambda: gateway.inbound(mime("quinn@good.test", subject=SUBJECT, body=HARMLESS)),
    )
    (tls,) = [
        r
        for r in gateway.sent(configuration_set=gateway.tls_set)
        if r["Destination"]["ToAddresses"] == ["quinn@good.test"]
    ]
    tags = {t["Name"]: [t["Value"]] for t in tls["EmailTags"]}
    bounce = {
        "eventType": "Bounce",
        "mail": {"messageId": "ses-cov", "destination": ["quinn@good.test"], "tags": tags},
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "quinn@good.test"}]},
    }
    steps.expect(
        ["message.bounced", "pickup.link_sent"], lambda: gateway.deliver("handle_delivery_events", json.dumps(bounce))
    )
    steps.expect(["mail.sender_refused"], lambda: gateway.inbound(mime("quinn@good.test"), verdicts={"dkim": "FAIL"}))
    broken = (
        b"From: Alice <alice@plan.example>\r\nTo: q@good.test\r\n"
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
    )
    steps.expect(["mail.refused"], lambda: gateway.inbound(broken))

    # --- the plan's own accounts (sealpost-admin)
    def admin(*args: str) -> Any:
        run = admin_cli(*args)
        assert run.code == 0, run.err
        return run

    def printed(run: Any, pattern: str) -> str:
        secret = re.search(pattern, run.out, re.MULTILINE).group(1)
        secrets.append(secret)
        return secret

    link = r"/register/([A-Za-z0-9_-]{43})$"
    printed(
        steps.expect(["account.created"], lambda: admin("create-associate", "dora@plan.example", "--print-link")), link
    )
    dora_token = printed(
        steps.expect(["account.created"], lambda: admin("invite", "dora@plan.example", "--print-link")), link
    )
    steps.expect(
        ["password.set"],
        lambda: new_browser().post("/api/register", json_body={"token": dora_token, "password": NEW_PASSWORD}),
    )
    for _ in range(2):
        steps.expect(["signin.failed"], lambda: new_browser().sign_in("dora@plan.example", "wrong guess for dora"))
    steps.expect(["signin.failed", "account.locked"], lambda: new_browser().sign_in("dora@plan.example", "wrong again"))
    steps.expect(["account.unlocked"], lambda: admin("unlock", "dora@plan.example"))
    steps.expect(["account.terminated"], lambda: admin("disable", "dora@plan.example"))
    printed(steps.expect(["account.reenabled"], lambda: admin("enable", "dora@plan.example", "--print-link")), link)
    steps.expect([], lambda: admin("list"))
    passphrase = r"^    ([a-z2-9-]{35})$"
    glass = printed(
        steps.expect(["account.created"], lambda: admin("break-glass", "create", "glass@plan.example")), passphrase
    )
    steps.expect(["signin.succeeded", "signin.break_glass"], lambda: new_browser().sign_in("glass@plan.example", glass))
    printed(
        steps.expect(["password.changed"], lambda: admin("break-glass", "rotate", "glass@plan.example")), passphrase
    )
    # A table put back from a restored copy of itself (here: a copy made now, so nothing changes).
    tokens = stack.env["SEALPOST_TOKENS_TABLE"]
    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName="tokens-restored",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in ddb.scan(TableName=tokens)["Items"]:
        ddb.put_item(TableName="tokens-restored", Item=item)
    steps.expect(
        ["admin.table_restored"], lambda: admin("restore-table", "tokens", "--from", "tokens-restored", "--yes")
    )
    # The router's dead letters sent back to its queue (none wait: the command is audited all the same).
    steps.expect(["admin.queue_redriven"], lambda: admin("redrive", "inbound-mail", "--yes"))

    # --- associates through the plan's OpenID provider (tests/identity_provider.py)
    from tests.identity_provider import CLIENT_SECRET, sign_in_through, use_associates_idp

    secrets.append(CLIENT_SECRET)
    with pytest.MonkeyPatch.context() as patch:
        use_associates_idp(stack, idp, patch)
        through = lambda login: sign_in_through(new_browser(), idp, login, portal_url=PORTAL_URL)  # noqa: E731
        steps.expect(["account.created", "signin.succeeded"], lambda: through("ann"))  # federated_first_signin
        steps.expect(["signin.failed"], lambda: through("eve"))  # outside_domain
        steps.expect(["account.created"], lambda: admin("create-associate", "boss@plan.example"))
        # The invited associate's first sign-in there: linked, and an administrator by the admin group.
        steps.expect(["account.linked", "account.role_changed", "signin.succeeded"], lambda: through("boss"))

    # --- the end of an account
    steps.expect(["account.terminated"], lambda: alice.post(f"/api/accounts/{pat_name}/terminate"))

    assert set(steps.seen) == {str(event) for event in AuditEvent}, set(map(str, AuditEvent)) - set(steps.seen)
    for blob in audit_objects(stack.client("s3"), stack.audit_bucket):
        text = blob.decode()
        for secret in [*secrets, "Jane Roe", "jane-roe-chart.pdf", REPLY]:
            assert secret not in text, secret
    assert PORTAL_URL not in "".join(b.decode() for b in audit_objects(stack.client("s3"), stack.audit_bucket))


def second_factor(
    steps: Steps, new_browser: Callable[[], Any], alice: Any, pat_name: str, codes: list[str], secrets: list[str]
) -> None:
    """Wrong and replayed codes, a recovery code, new recovery codes, an associate's reset, removal."""
    import pyotp

    from tests.support import SECOND_FACTORS

    email, api = "pat@clinic.example", "/api/session/second-factor"

    def pending() -> Any:
        browser = new_browser()
        first = browser.post("/api/session", json_body={"username": pat_name, "password": RESET_PASSWORD})
        assert first.json["second_factor_required"], first.text
        browser.csrf_token = first.json["csrf_token"]
        return browser

    right = SECOND_FACTORS.code(email)
    wrong = f"{(int(pyotp.TOTP(SECOND_FACTORS.seeds[email]).now()) + 1) % 1_000_000:06d}"
    steps.expect(["signin.failed"], lambda: pending().post(api, json_body={"code": wrong}))  # wrong_second_factor
    steps.expect(["signin.succeeded"], lambda: pending().post(api, json_body={"code": right}))
    steps.expect(["signin.failed"], lambda: pending().post(api, json_body={"code": right}))  # totp_replayed
    holder = pending()
    used = steps.expect(
        ["mfa.recovery_code_used", "signin.succeeded"], lambda: holder.post(api, json_body={"code": codes[0]})
    )
    holder.csrf_token = used.json["csrf_token"]
    issued = steps.expect(
        ["mfa.recovery_codes_issued"], lambda: holder.post(api + "/recovery-codes", json_body={"proof": RESET_PASSWORD})
    )
    secrets += [*codes, *issued.json["recovery_codes"], SECOND_FACTORS.seeds[email]]
    steps.expect(["mfa.reset"], lambda: alice.post(f"/api/accounts/{pat_name}/second-factor/reset"))
    again = new_browser()
    steps.expect(
        ["mfa.enrolled", "mfa.recovery_codes_issued", "signin.succeeded"],
        lambda: again.sign_in(pat_name, RESET_PASSWORD),
    )
    secrets.append(SECOND_FACTORS.seeds[email])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEALPOST_MFA_POLICY", "optional")
        steps.expect(["mfa.removed"], lambda: again.post(api + "/remove", json_body={"proof": RESET_PASSWORD}))
    steps.expect(
        ["mfa.enrolled", "mfa.recovery_codes_issued", "signin.succeeded"],
        lambda: new_browser().sign_in(pat_name, RESET_PASSWORD),
    )


def test_the_life_of_a_message_sent_through_the_pickup_path(
    gateway: Gateway, associate: Any, new_browser: Any, stack: Any
) -> None:
    """`sealpost-audit history MESSAGE_ID` for a mail that went the pickup way: sent, notified, opened, replied."""
    import io

    from chalicelib.audit.cli import main

    report = gateway.inbound(mime("rita@plain.test", body=HARMLESS))
    message_id = report_message_id(gateway)
    mail = next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == "rita@plain.test")
    token = re.search(r"/p/([A-Za-z0-9_-]{43})", mail_text(mail)).group(1)
    browser = new_browser()
    registered = browser.post(f"/api/pickup/{token}/register", json_body={"password": "violet canyon anchor drum"})
    browser.second_factor(registered, "rita@plain.test")
    thread_id = registered.json["thread_id"]
    browser.get(f"/api/threads/{thread_id}")
    browser.post(f"/api/threads/{thread_id}/messages", json_body={"text": "Thanks."})
    assert report["outcome"] == "routed"

    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--bucket", stack.audit_bucket, "history", message_id, "--format", "jsonl"],
        out=out,
        err=err,
        clients=lambda service, _region: stack.client(service),
    )
    assert code == 0, err.getvalue()
    life = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert life == ["message.sent", "message.tls_decided", "pickup.link_sent", "message.opened", "message.replied"]


def report_message_id(gateway: Gateway) -> str:
    records = audit_records(gateway.stack.client("s3"), gateway.stack.audit_bucket)
    return str(next(r for r in reversed(records) if r["event"] == "message.sent")["message_id"])
