"""Reading through the JSON API: only participants, every read audited, HTML shown sanitised,
removing from view keeps the retained copy (R6), tampered ciphertext refused."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import PARTNER_PASSWORD, Conversation
from tests.support import (
    WebClient,
    all_dynamodb_items,
    audit_events,
    sent_mail,
    upload,
)

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
    assert audit_events(stack, "access.denied")


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
    records = [r for r in audit_events(stack, "message.opened") if r["actor"] == conversation.partner_username]
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
    assert audit_events(stack, "thread.removed_from_view")[-1]["actor"] == conversation.partner_username
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
    tamper = audit_events(stack, "integrity.tamper_detected")
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
    assert audit_events(stack, "integrity.tamper_detected")[-1]["message_id"] == second.message_id


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
    assert not audit_events(stack, "integrity.tamper_detected")


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
