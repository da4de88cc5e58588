"""Secure threads end to end through the JSON API: R2 (12 interactions, credential scopes),
R4/R6 (only ciphertext at rest, retention), R5 (domain filter), R8 (reply, new message), membership."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import PARTNER_PASSWORD, Conversation, register_from_invitation
from tests.support import (
    WebClient,
    all_dynamodb_items,
    all_s3_objects,
    audit_records,
    mail_text,
    sent_mail,
    upload,
)

SECRET_SUBJECT = "Oncology referral for Maria Gonzalez"
SECRET_BODY = "Biopsy confirmed stage II; MRN 004471; call her at home."
SECRET_FILENAME = "gonzalez-maria-pathology.pdf"
SECRET_FILE = b"%PDF-1.7 pathology report of Maria Gonzalez, confidential " * 40
REPLY_BODY = "Thanks, scheduling surgery for Maria next week."
NEW_SUBJECT = "Question about coverage for Maria"
NEW_BODY = "Is the PET scan covered under her plan?"


def events(stack: Any, name: str) -> list[dict[str, Any]]:
    return [r for r in audit_records(stack.client("s3"), stack.audit_bucket) if r["event"] == name]


# --- acceptance 1: a full flow leaves no plaintext anywhere --------------------------------


def test_a_full_flow_stores_no_plaintext_in_s3_or_dynamodb(
    associate_web: WebClient, new_browser: Any, stack: Any
) -> None:
    upload_id = upload(associate_web, SECRET_FILE)
    sent = associate_web.post(
        "/api/threads",
        json_body={
            "recipients": ["maria.clinic@clinic.example"],
            "subject": SECRET_SUBJECT,
            "text": SECRET_BODY,
            "attachments": [{"upload_id": upload_id, "filename": SECRET_FILENAME, "content_type": "application/pdf"}],
        },
    )
    assert sent.status == 201, sent.text
    thread_id = sent.json["thread"]["thread_id"]
    partner = new_browser()
    register_from_invitation(partner, "maria.clinic@clinic.example")
    view = partner.get(f"/api/threads/{thread_id}").json
    (message,) = view["messages"]
    assert view["subject"] == SECRET_SUBJECT and message["text"] == SECRET_BODY
    (attachment,) = message["attachments"]
    assert attachment["filename"] == SECRET_FILENAME
    downloaded = partner.get(attachment["url"], headers={"accept": "*/*"})
    assert downloaded.status == 200 and downloaded.body == SECRET_FILE
    assert partner.post(f"/api/threads/{thread_id}/messages", json_body={"text": REPLY_BODY}).status == 201
    new = partner.post(
        "/api/threads", json_body={"recipients": ["alice@plan.example"], "subject": NEW_SUBJECT, "text": NEW_BODY}
    )
    assert new.status == 201, new.text

    secrets = [
        SECRET_SUBJECT,
        SECRET_BODY,
        SECRET_FILENAME,
        SECRET_FILE[:40].decode(),
        REPLY_BODY,
        NEW_SUBJECT,
        NEW_BODY,
    ]
    objects = all_s3_objects(stack.client("s3"))
    assert any(key.endswith("/content") for _, key, _ in objects)
    for bucket, key, body in objects:
        for secret in secrets:
            for encoded in (secret.encode(), base64.b64encode(secret.encode())):
                assert encoded not in body, (bucket, key, secret)
            assert secret not in key
    items = repr(all_dynamodb_items(stack.client("dynamodb")))
    for secret in secrets:
        assert secret not in items
    # Nothing plaintext stays in the staging bucket: every version of the upload is gone.
    staging = stack.env["SEALPOST_STAGING_BUCKET"]
    assert stack.client("s3").list_object_versions(Bucket=staging).get("Versions", []) == []


def test_no_notification_or_invitation_holds_phi(associate_web: WebClient, start_thread: Any) -> None:
    start_thread(["erin@clinic.example"], subject=SECRET_SUBJECT, text=SECRET_BODY)
    for mail in sent_mail():
        raw = mail.as_string()
        assert SECRET_SUBJECT not in raw and SECRET_BODY not in raw


# --- R2: twelve interactions, and the linked new thread ------------------------------------


def fill(conversation: Conversation, until: int = 12) -> None:
    for n in range(2, until + 1):
        web = conversation.partner if n % 2 == 0 else conversation.associate
        reply = web.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": f"message {n}"})
        assert reply.status == 201, (n, reply.text)
        assert reply.json["thread"]["interactions_label"] == f"{n} of 12"


def test_the_inbox_shows_n_of_twelve(conversation: Conversation) -> None:
    (item,) = conversation.partner.get("/api/threads").json["threads"]
    assert item["interactions_label"] == "1 of 12" and item["unread"] is True
    conversation.thread()
    (item,) = conversation.partner.get("/api/threads").json["threads"]
    assert item["unread"] is False


def test_the_thirteenth_interaction_is_refused_with_a_clear_message(conversation: Conversation, stack: Any) -> None:
    fill(conversation)
    for web in (conversation.partner, conversation.associate):
        refused = web.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "one more"})
        assert refused.status == 409
        assert refused.json["error"] == "thread_full"
        assert "limit of 12 messages" in refused.json["message"] and "new thread" in refused.json["message"]
    assert len(conversation.thread()["messages"]) == 12


@pytest.mark.parametrize("who", ["partner", "associate"])
def test_a_full_thread_continues_in_a_new_linked_thread(conversation: Conversation, who: str) -> None:
    web = getattr(conversation, who)
    early = web.post(f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "x", "text": "y"})
    assert early.status == 409
    fill(conversation)
    continued = web.post(
        f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "Continued", "text": "go on"}
    )
    assert continued.status == 201, continued.text
    new_id = continued.json["thread"]["thread_id"]
    assert continued.json["thread"]["predecessor_id"] == conversation.thread_id
    assert conversation.thread()["successor_id"] == new_id
    other = conversation.associate if who == "partner" else conversation.partner
    linked = other.get(f"/api/threads/{new_id}").json
    assert linked["interactions_label"] == "1 of 12" and linked["predecessor_id"] == conversation.thread_id
    again = web.post(f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "x", "text": "y"})
    assert again.status == 409


def test_concurrent_last_places_cannot_pass_twelve(conversation: Conversation, stack: Any, monkeypatch: Any) -> None:
    fill(conversation, until=11)
    # Two senders read the thread at 11; both try to write message 12.
    from chalicelib.messaging.sender import MessageSender

    real = MessageSender._previous_message
    calls: list[int] = []

    def slow_previous(self: MessageSender, thread: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            other = conversation.associate.post(
                f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "racing"}
            )
            assert other.status == 201
        return real(self, thread)

    monkeypatch.setattr(MessageSender, "_previous_message", slow_previous)
    late = conversation.partner.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "late"})
    assert late.status == 409
    assert late.json["error"] == "thread_full"
    assert len(conversation.thread()["messages"]) == 12


# --- credential scopes ---------------------------------------------------------------------


def test_recipient_scope_registers_once_and_shows_every_thread(
    associate_web: WebClient, new_browser: Any, start_thread: Any
) -> None:
    first = start_thread(["fay@clinic.example"], subject="First")
    partner = new_browser()
    register_from_invitation(partner, "fay@clinic.example")
    second = start_thread(["fay@clinic.example"], subject="Second")
    assert first["invited"] and second["invited"] == []  # the second thread reuses the account
    subjects = {t["subject"] for t in partner.get("/api/threads").json["threads"]}
    assert subjects == {"First", "Second"}
    notice = sent_mail()[-1]
    assert "new secure message" in str(notice["Subject"]) and "/p/" in mail_text(notice)


def test_thread_scope_gives_a_user_name_and_password_per_thread(
    associate_web: WebClient, new_browser: Any, start_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    first = start_thread(["gus@clinic.example"], subject="Thread one")
    one = new_browser()
    user_one = register_from_invitation(one, "gus@clinic.example")
    second = start_thread(["gus@clinic.example"], subject="Thread two")
    two = new_browser()
    user_two = register_from_invitation(two, "gus@clinic.example", "another partner passphrase")
    assert user_one != user_two
    assert [t["subject"] for t in one.get("/api/threads").json["threads"]] == ["Thread one"]
    assert [t["subject"] for t in two.get("/api/threads").json["threads"]] == ["Thread two"]
    assert one.get(f"/api/threads/{second['thread']['thread_id']}").status == 404
    assert two.get(f"/api/threads/{first['thread']['thread_id']}").status == 404
    # Each account signs in with its own password to its own thread.
    again = new_browser()
    assert again.sign_in(user_two, "another partner passphrase").status == 200
    assert [t["subject"] for t in again.get("/api/threads").json["threads"]] == ["Thread two"]
    assert one.post(f"/api/threads/{first['thread']['thread_id']}/messages", json_body={"text": "ok"}).status == 201


def test_thread_scope_continuation_invites_the_partner_to_a_new_account(
    associate_web: WebClient, new_browser: Any, start_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    sent = start_thread(["hal@clinic.example"])
    partner = new_browser()
    first_user = register_from_invitation(partner, "hal@clinic.example")
    conversation = Conversation(associate_web, partner, first_user, sent["thread"]["thread_id"], sent["message_id"])
    fill(conversation)
    continued = associate_web.post(
        f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "Part two", "text": "more"}
    )
    assert continued.status == 201
    (new_user,) = continued.json["invited"]
    assert new_user != first_user
    successor = new_browser()
    assert register_from_invitation(successor, "hal@clinic.example", "a third partner passphrase") == new_user
    assert [t["subject"] for t in successor.get("/api/threads").json["threads"]] == ["Part two"]


# --- R8: partners reply and write to their associates; R5: only to the plan -----------------


def test_a_partner_starts_a_new_message_to_an_associate_they_know(conversation: Conversation) -> None:
    new = conversation.partner.post(
        "/api/threads", json_body={"recipients": ["alice@plan.example"], "subject": "New topic", "text": "Hi"}
    )
    assert new.status == 201
    thread_id = new.json["thread"]["thread_id"]
    assert conversation.associate.get(f"/api/threads/{thread_id}").json["subject"] == "New topic"
    # The associate receives the message itself in their own mailbox, over enforced TLS.
    mail = sent_mail()[-1]
    assert mail["To"].addresses[0].addr_spec == "alice@plan.example"
    assert str(mail["Subject"]) == "[Secure] New topic" and mail_text(mail).strip() == "Hi"
    assert "via" in str(mail["From"]) and mail["Reply-To"].addresses[0].addr_spec.startswith("secure-gateway@")


def test_a_partner_cannot_write_to_an_associate_they_do_not_know(conversation: Conversation, stack: Any) -> None:
    from devtools.seed import seed_associate

    seed_associate(stack.services(), "stranger@plan.example", "an associate passphrase here", "Stranger")
    reply = conversation.partner.post(
        "/api/threads", json_body={"recipients": ["stranger@plan.example"], "subject": "Hi", "text": "Hello"}
    )
    assert reply.status == 403 and reply.json["error"] == "recipient_not_allowed"
    assert stack.services().accounts.get(conversation.partner_username).strikes == 0


def test_an_outside_recipient_is_blocked_audited_counted_and_reported(conversation: Conversation, stack: Any) -> None:
    mails_before = len(sent_mail())
    threads_before = len(conversation.partner.get("/api/threads").json["threads"])
    reply = conversation.partner.post(
        "/api/threads",
        json_body={"recipients": ["friend@gmail.example"], "subject": SECRET_SUBJECT, "text": SECRET_BODY},
    )
    assert reply.status == 403
    assert reply.json["error"] == "recipient_not_allowed"
    assert "plan.example" in reply.json["message"] and "strike 1 of 3" in reply.json["message"]
    assert len(conversation.partner.get("/api/threads").json["threads"]) == threads_before
    blocked = events(stack, "filter.blocked")
    assert blocked[-1]["account"] == conversation.partner_username
    assert blocked[-1]["detail"] == {"blocked_count": "1", "blocked_domains": "gmail.example"}
    assert events(stack, "filter.strike")[-1]["detail"]["strikes"] == "1"
    new_mail = sent_mail()[mails_before:]
    assert [m["To"].addresses[0].addr_spec for m in new_mail] == ["alice@plan.example"]
    assert "strike 1" in str(new_mail[0]["Subject"])
    assert SECRET_SUBJECT not in new_mail[0].as_string()


def test_the_third_strike_terminates_the_partner_account(
    conversation: Conversation, stack: Any, new_browser: Any
) -> None:
    for strike in (1, 2, 3):
        reply = conversation.partner.post(
            "/api/threads", json_body={"recipients": ["x@elsewhere.example"], "subject": "s", "text": "t"}
        )
        assert reply.status == 403, strike
    assert "terminated" in reply.json["message"]
    account = stack.services().accounts.get(conversation.partner_username)
    assert str(account.status) == "terminated"
    assert conversation.partner.get("/api/threads").status == 401
    assert new_browser().sign_in(conversation.partner_username, PARTNER_PASSWORD).json["error"] == "account_closed"
    assert events(stack, "account.terminated")[-1]["reason"] == "domain_filter_strikes"


def test_mixed_recipients_are_refused_whole(conversation: Conversation) -> None:
    reply = conversation.partner.post(
        "/api/threads",
        json_body={"recipients": ["alice@plan.example", "x@elsewhere.example"], "subject": "s", "text": "t"},
    )
    assert reply.status == 403
    assert len(conversation.associate.get("/api/threads").json["threads"]) == 1


# --- membership: deny by default --------------------------------------------------------------


def test_only_participants_can_read_a_thread(
    conversation: Conversation, make_partner: Any, new_browser: Any, stack: Any
) -> None:
    from devtools.seed import seed_associate

    outsider = make_partner("olga@lab.example")
    browser = new_browser()
    browser.sign_in(outsider.username, PARTNER_PASSWORD)
    seed_associate(stack.services(), "carl@plan.example", "colleague passphrase here", "Carl")
    colleague = new_browser()
    colleague.sign_in("carl@plan.example", "colleague passphrase here")
    for web in (browser, colleague):
        for path in (
            f"/api/threads/{conversation.thread_id}",
            f"/api/threads/{'0' * 32}",
            "/api/threads/not-an-id",
        ):
            reply = web.get(path)
            assert reply.status == 404, path
            assert "Prior authorization" not in reply.text
        refused = web.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "let me in"})
        assert refused.status == 404
    assert events(stack, "access.denied")


def test_attachments_are_only_for_participants(conversation: Conversation, make_partner: Any, new_browser: Any) -> None:
    upload_id = upload(conversation.associate, b"private file")
    sent = conversation.associate.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "file", "attachments": [{"upload_id": upload_id, "filename": "a.txt"}]},
    )
    assert sent.status == 201
    url = conversation.thread()["messages"][-1]["attachments"][0]["url"]
    outsider = make_partner("peek@lab.example")
    browser = new_browser()
    browser.sign_in(outsider.username, PARTNER_PASSWORD)
    reply = browser.get(url, headers={"accept": "*/*"})
    assert reply.status == 404 and b"private file" not in reply.body
    assert conversation.partner.get(url, headers={"accept": "*/*"}).body == b"private file"


def test_uploads_of_another_user_cannot_be_attached(conversation: Conversation) -> None:
    upload_id = upload(conversation.associate, b"associate's file")
    reply = conversation.partner.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "steal", "attachments": [{"upload_id": upload_id, "filename": "a.txt"}]},
    )
    assert reply.status == 400 and reply.json["field"] == "attachments"


# --- reads are audited, and associates see who opened what ----------------------------------


def test_reads_are_audited_and_the_associate_sees_when_a_message_was_opened(
    conversation: Conversation, stack: Any
) -> None:
    assert conversation.thread(conversation.associate)["messages"][0]["opened_by"] == {}
    conversation.thread()
    opened = conversation.thread(conversation.associate)["messages"][0]["opened_by"]
    assert list(opened) == [conversation.partner_username]
    records = [r for r in events(stack, "message.opened") if r["actor"] == conversation.partner_username]
    assert records[-1]["message_id"] == conversation.first_message_id
    assert records[-1]["thread_id"] == conversation.thread_id
    assert "opened_by" not in conversation.thread()["messages"][0]  # partners do not see read receipts


def test_html_bodies_are_kept_as_sent_and_shown_sanitised(
    associate_web: WebClient, start_thread: Any, stack: Any
) -> None:
    html = '<p onclick="steal()">Hello <b>there</b><script>alert(1)</script><a href="javascript:x">x</a></p>'
    sent = start_thread(["html@clinic.example"], html=html, text="")
    shown = associate_web.get(f"/api/threads/{sent['thread']['thread_id']}").json["messages"][0]["html"]
    assert "<b>there</b>" in shown
    assert "script" not in shown and "onclick" not in shown and "javascript" not in shown
    from chalicelib.messaging.content import MessageContent

    services = stack.services()
    record = services.threads.messages(sent["thread"]["thread_id"])[0]
    stored = services.vault.content(record)
    assert isinstance(stored, MessageContent) and stored.html == html


# --- R6: removing from view keeps the retained copy ---------------------------------------------


def test_removing_a_thread_from_view_keeps_the_retained_copy(conversation: Conversation, stack: Any) -> None:
    assert conversation.partner.post(f"/api/threads/{conversation.thread_id}/remove-from-view").status == 200
    assert conversation.partner.get("/api/threads").json["threads"] == []
    assert len(conversation.associate.get("/api/threads").json["threads"]) == 1  # only my view changed
    services = stack.services()
    assert services.threads.thread(conversation.thread_id) is not None
    assert len(services.threads.messages(conversation.thread_id)) == 1
    assert events(stack, "thread.removed_from_view")[-1]["actor"] == conversation.partner_username
    # A new message brings the thread back into view.
    conversation.associate.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "follow-up"})
    assert len(conversation.partner.get("/api/threads").json["threads"]) == 1


def test_no_user_can_delete_a_thread_or_its_ciphertext(conversation: Conversation, stack: Any) -> None:
    for web in (conversation.partner, conversation.associate):
        assert web.request("DELETE", f"/api/threads/{conversation.thread_id}").status in (404, 405)
    s3 = stack.client("s3")
    bucket = stack.env["SEALPOST_MESSAGES_BUCKET"]
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert versions
    for version in versions:
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    head = s3.head_object(Bucket=bucket, Key=versions[0]["Key"], VersionId=versions[0]["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"


# --- tampering ---------------------------------------------------------------------------------


def content_key_of(stack: Any, thread_id: str, seq: int = 1) -> str:
    record = stack.services().threads.messages(thread_id)[seq - 1]
    return str(record.content.key)


def test_a_changed_byte_is_refused_audited_and_shows_no_plaintext(conversation: Conversation, stack: Any) -> None:
    s3 = stack.client("s3")
    bucket = stack.env["SEALPOST_MESSAGES_BUCKET"]
    key = content_key_of(stack, conversation.thread_id)
    ciphertext = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    ciphertext[len(ciphertext) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(ciphertext))  # a new version: Object Lock allows it
    reply = conversation.partner.get(f"/api/threads/{conversation.thread_id}")
    assert reply.status == 409
    assert reply.json["error"] == "integrity_check_failed"
    assert "Details inside" not in reply.text
    tamper = events(stack, "integrity.tamper_detected")
    assert tamper[-1]["message_id"] == conversation.first_message_id


def test_a_changed_byte_is_refused_even_when_the_record_is_updated_to_match(
    conversation: Conversation, stack: Any
) -> None:
    # An attacker with write access to S3 and DynamoDB: the signature and tag still fail.
    services = stack.services()
    s3 = stack.client("s3")
    bucket = stack.env["SEALPOST_MESSAGES_BUCKET"]
    record = services.threads.messages(conversation.thread_id)[0]
    ciphertext = bytearray(s3.get_object(Bucket=bucket, Key=record.content.key)["Body"].read())
    ciphertext[-10] ^= 0x01
    s3.put_object(Bucket=bucket, Key=record.content.key, Body=bytes(ciphertext))
    table = stack.client("dynamodb")
    table.update_item(
        TableName=stack.env["SEALPOST_THREADS_TABLE"],
        Key={"pk": {"S": "THREAD#" + conversation.thread_id}, "sk": {"S": "MSG#001"}},
        UpdateExpression="SET content.sha256 = :h",
        ExpressionAttributeValues={":h": {"S": hashlib.sha256(bytes(ciphertext)).hexdigest()}},
    )
    reply = conversation.partner.get(f"/api/threads/{conversation.thread_id}")
    assert reply.status == 409 and "Details inside" not in reply.text


def test_a_ciphertext_moved_onto_another_message_is_refused(conversation: Conversation, stack: Any) -> None:
    conversation.associate.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "second one"})
    services = stack.services()
    first, second = services.threads.messages(conversation.thread_id)
    # Point the second message's record at the first message's ciphertext (same thread: same context).
    stack.client("dynamodb").update_item(
        TableName=stack.env["SEALPOST_THREADS_TABLE"],
        Key={"pk": {"S": "THREAD#" + conversation.thread_id}, "sk": {"S": "MSG#002"}},
        UpdateExpression="SET content = :c",
        ExpressionAttributeValues={
            ":c": {
                "M": {
                    "key": {"S": first.content.key},
                    "sha256": {"S": first.content.sha256},
                    "size": {"N": str(first.content.size)},
                }
            }
        },
    )
    reply = conversation.partner.get(f"/api/threads/{conversation.thread_id}")
    assert reply.status == 409
    assert "Details inside" not in reply.text and "second one" not in reply.text
    assert events(stack, "integrity.tamper_detected")[-1]["message_id"] == second.message_id


# --- faults: KMS and S3 ----------------------------------------------------------------------------


@pytest.fixture
def kms_fault(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make KMS data-key calls fail as a throttled or unreachable KMS does, at the HTTP layer below the SDK."""
    import botocore.session
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import EndpointConnectionError

    from chalicelib.wiring import services as services_module

    real_session = botocore.session.get_session

    def start(kind: str) -> None:
        def throttle(**_: Any) -> Any:
            body = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            return AWSResponse("https://kms", 400, {}, None), body

        def unreachable(**_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com")

        def faulty_session() -> Any:
            session = real_session()
            events = session.get_component("event_emitter")
            for operation in ("GenerateDataKey", "Decrypt"):
                if kind == "throttled":
                    events.register_first(f"before-call.kms.{operation}", throttle)
                else:
                    events.register_first(f"before-send.kms.{operation}", unreachable)
            return session

        monkeypatch.setattr(botocore.session, "get_session", faulty_session)
        services_module.reset()  # a fresh Lambda container: no cached data keys

    return start


@pytest.mark.parametrize("kind", ["throttled", "unreachable"])
def test_kms_trouble_gives_503_with_retry_after_and_stores_nothing(
    associate_web: WebClient, stack: Any, kms_fault: Any, kind: str
) -> None:
    kms_fault(kind)
    reply = associate_web.post(
        "/api/threads", json_body={"recipients": ["kms@clinic.example"], "subject": "s", "text": "t"}
    )
    assert reply.status == 503
    assert int(reply.header("retry-after")) > 0
    assert reply.json["error"] == "encryption_unavailable"
    assert stack.client("s3").list_object_versions(Bucket=stack.env["SEALPOST_MESSAGES_BUCKET"]).get("Versions") is None
    assert [i for i in all_dynamodb_items(stack.client("dynamodb")) if i["pk"]["S"].startswith("THREAD#")] == []
    assert stack.services().accounts.username_for_email("kms@clinic.example") is None
    assert sent_mail() == []


@pytest.mark.parametrize("kind", ["throttled", "unreachable"])
def test_kms_trouble_while_reading_gives_503_not_an_integrity_error(
    conversation: Conversation, stack: Any, kms_fault: Any, kind: str
) -> None:
    kms_fault(kind)
    reply = conversation.partner.get(f"/api/threads/{conversation.thread_id}")
    assert reply.status == 503 and reply.json["error"] == "encryption_unavailable"
    assert not events(stack, "integrity.tamper_detected")


def test_a_failed_s3_write_leaves_no_record_pointing_at_a_missing_object(
    conversation: Conversation, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.messaging.message_store import MessageStore

    real_put = MessageStore.put
    calls: list[str] = []

    def failing_put(self: MessageStore, key: str, ciphertext: bytes) -> Any:
        calls.append(key)
        if key.endswith("/content"):  # the attachment is stored, the content write fails
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "PutObject")
        return real_put(self, key, ciphertext)

    upload_id = upload(conversation.partner, b"attached")
    with monkeypatch.context() as patch:
        patch.setattr(MessageStore, "put", failing_put)
        reply = conversation.partner.post(
            f"/api/threads/{conversation.thread_id}/messages",
            json_body={"text": "x", "attachments": [{"upload_id": upload_id, "filename": "a.txt"}]},
        )
    assert reply.status in (500, 503)
    assert "Traceback" not in reply.text
    services = stack.services()
    assert len(services.threads.messages(conversation.thread_id)) == 1
    s3 = stack.client("s3")
    bucket = stack.env["SEALPOST_MESSAGES_BUCKET"]
    for record in services.threads.messages(conversation.thread_id):
        s3.head_object(Bucket=bucket, Key=record.content.key)
        for attachment in record.attachments:
            s3.head_object(Bucket=bucket, Key=attachment.stored.key)
    # The upload is kept so that the user can simply send again.
    assert (
        conversation.partner.post(
            f"/api/threads/{conversation.thread_id}/messages",
            json_body={"text": "x", "attachments": [{"upload_id": upload_id, "filename": "a.txt"}]},
        ).status
        == 201
    )


def test_a_failed_audit_write_sends_nothing(
    conversation: Conversation, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setenv("SEALPOST_AUDIT_BUCKET", "no-such-audit-bucket")
        reply = conversation.partner.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "x"})
    assert reply.status == 503
    assert len(stack.services().threads.messages(conversation.thread_id)) == 1
