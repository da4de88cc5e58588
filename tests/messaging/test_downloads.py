"""Downloads through a download grant and the streaming download function: short-lived, single-use,
bound to the participant and the attachment, audited, streamed; small files inline for API clients."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import time_machine

from chalicelib.messaging.downloads import GRANT_SECONDS
from tests.conftest import Conversation
from tests.support import DOWNLOADS_URL, audit_events, fetch_attachment, stream_download, upload

LARGE = bytes(range(256)) * 40  # 10 KiB: above the lowered inline limit below


@pytest.fixture
def large_attachment(conversation: Conversation, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SEALPOST_INLINE_DOWNLOAD_MAX_BYTES", "1024")
    upload_id = upload(conversation.associate, LARGE)
    conversation.associate.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "big", "attachments": [{"upload_id": upload_id, "filename": "résumé big.pdf"}]},
    )
    return str(conversation.thread()["messages"][-1]["attachments"][0]["url"])


def grant_location(conversation: Conversation, url: str) -> str:
    reply = conversation.partner.get(url, headers={"accept": "*/*"})
    assert reply.status == 303, reply.text
    return str(reply.header("location"))


def test_a_large_attachment_redirects_to_a_grant_on_the_download_function(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    location = grant_location(conversation, large_attachment)
    assert location.startswith(DOWNLOADS_URL + "/d/")
    granted = audit_events(stack, "message.download_granted")
    assert granted and granted[-1]["actor"] == conversation.partner_username
    assert granted[-1]["detail"]["size"] == str(len(LARGE))
    # The grant is stored as its hash only, with the attachment it is for and a minute to start.
    secret = location.rsplit("/", 1)[1]
    items = stack.client("dynamodb").scan(TableName=stack.env["SEALPOST_TOKENS_TABLE"])["Items"]
    grants = [i for i in items if i["purpose"]["S"] == "download"]
    assert len(grants) == 1 and secret not in json.dumps(items)
    assert int(grants[0]["expires_at"]["N"]) - int(grants[0]["created_at"]["N"]) == GRANT_SECONDS


def test_the_download_function_streams_the_decrypted_file_with_its_name_and_no_caching(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    streamed = stream_download(grant_location(conversation, large_attachment), stack.services())
    assert streamed.status == 200 and streamed.body == LARGE
    assert streamed.headers["Content-Length"] == str(len(LARGE))
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20big.pdf" in streamed.headers["Content-Disposition"]
    assert streamed.headers["Cache-Control"] == "no-store"
    assert streamed.headers["Content-Type"] == "application/octet-stream"
    assert "sandbox" in streamed.headers["Content-Security-Policy"]
    downloaded = audit_events(stack, "message.downloaded")
    assert downloaded[-1]["actor"] == conversation.partner_username


def test_a_grant_works_once(conversation: Conversation, large_attachment: str, stack: Any) -> None:
    location = grant_location(conversation, large_attachment)
    assert stream_download(location, stack.services()).status == 200
    again = stream_download(location, stack.services())
    assert again.status == 410 and b"expired or has already been used" in again.body
    assert audit_events(stack, "access.denied")[-1]["reason"] == "download_grant_not_valid"


def test_a_grant_expires_after_a_minute(conversation: Conversation, large_attachment: str, stack: Any) -> None:
    location = grant_location(conversation, large_attachment)
    with time_machine.travel(time.time() + GRANT_SECONDS + 1, tick=False):
        assert stream_download(location, stack.services()).status == 410


def test_a_grant_of_a_terminated_account_is_refused(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    location = grant_location(conversation, large_attachment)
    stack.services().accounts.terminate(conversation.partner_username, "test")
    refused = stream_download(location, stack.services())
    assert refused.status == 410 and refused.body.count(bytes(LARGE[:16])) == 0
    assert audit_events(stack, "access.denied")[-1]["reason"] == "download_grant_account"


def test_a_grant_for_someone_no_longer_in_the_thread_is_refused(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    location = grant_location(conversation, large_attachment)
    table = stack.client("dynamodb")
    table.delete_item(
        TableName=stack.env["SEALPOST_THREADS_TABLE"],
        Key={"pk": {"S": "USER#" + conversation.partner_username}, "sk": {"S": "THREAD#" + conversation.thread_id}},
    )
    refused = stream_download(location, stack.services())
    assert refused.status == 404 and LARGE[:64] not in refused.body


def test_tampered_ciphertext_cuts_the_stream_short_and_is_audited(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    record = stack.services().threads.messages(conversation.thread_id)[-1]
    key = record.attachments[0].stored.key
    s3, bucket = stack.client("s3"), stack.env["SEALPOST_MESSAGES_BUCKET"]
    ciphertext = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    ciphertext[len(ciphertext) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(ciphertext))
    streamed = stream_download(grant_location(conversation, large_attachment), stack.services())
    assert streamed.status == 200  # the headers left before the bad frame was read
    assert len(streamed.body) < int(streamed.headers["Content-Length"])
    assert audit_events(stack, "integrity.tamper_detected")


def test_paths_that_are_not_grants_find_nothing_and_only_get_streams(stack: Any) -> None:
    services = stack.services()
    for path in ("/", "/d/short", "/threads/" + "a" * 32, "/d/" + "A" * 43 + "/x"):
        assert stream_download(DOWNLOADS_URL + path, services).status == 404
    assert stream_download(DOWNLOADS_URL + "/healthz", services).status == 200
    assert stream_download(DOWNLOADS_URL + "/d/" + "A" * 43, services, method="POST").status == 405


def test_the_request_context_of_the_function_url_is_what_the_audit_records(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    context = json.dumps({"requestId": "req-url-1", "http": {"sourceIp": "198.51.100.7"}})
    stream_download(grant_location(conversation, large_attachment), stack.services(), context=context)
    downloaded = audit_events(stack, "message.downloaded")[-1]
    assert downloaded["request_id"] == "req-url-1" and downloaded["source_ip"] == "198.51.100.7"


def test_small_files_come_inline_to_api_clients(conversation: Conversation, stack: Any) -> None:
    upload_id = upload(conversation.partner, b"small file")
    conversation.partner.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "small", "attachments": [{"upload_id": upload_id, "filename": "s.txt"}]},
    )
    url = conversation.thread()["messages"][-1]["attachments"][0]["url"]
    reply = conversation.associate.get(url, headers={"accept": "*/*"})
    assert reply.status == 200 and reply.body == b"small file"
    assert fetch_attachment(conversation.associate, url, stack.services()) == b"small file"
    assert audit_events(stack, "message.downloaded")[-1]["actor"] == "alice@plan.example"
