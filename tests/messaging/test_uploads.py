"""Attachments up to 100 MB per message (the default) through presigned uploads, streamed into the
encrypted store and out again; anything bigger is refused and removed."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import requests

from tests.conftest import Conversation
from tests.support import all_s3_objects, fetch_attachment, upload

LIMIT = 100 * 1024 * 1024


def staged_versions(stack: Any) -> list[Any]:
    listing = stack.client("s3").list_object_versions(Bucket=stack.env["SEALPOST_STAGING_BUCKET"])
    return listing.get("Versions", []) + listing.get("DeleteMarkers", [])


def test_an_attachment_of_exactly_one_hundred_megabytes_streams_in_and_out_intact(
    conversation: Conversation, stack: Any
) -> None:
    data = os.urandom(LIMIT)
    upload_id = upload(conversation.associate, data)
    sent = conversation.associate.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "scan attached", "attachments": [{"upload_id": upload_id, "filename": "scan.dcm"}]},
    )
    assert sent.status == 201, sent.text
    assert staged_versions(stack) == []
    attachment = conversation.thread()["messages"][-1]["attachments"][0]
    assert attachment["size"] == LIMIT
    stored = stack.services().threads.messages(conversation.thread_id)[-1].attachments[0].stored
    assert stored.size > LIMIT  # ciphertext, in parts of a multipart upload
    downloaded = fetch_attachment(conversation.partner, attachment["url"], stack.services())
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()
    # No object or version in any bucket holds the plaintext (a sample from its start, middle and end).
    samples = [data[:64], data[LIMIT // 2 : LIMIT // 2 + 64], data[-64:]]
    for bucket, key, body in all_s3_objects(stack.client("s3")):
        assert not any(sample in body for sample in samples), (bucket, key)


def test_one_byte_more_is_refused_before_upload_with_413(conversation: Conversation, stack: Any) -> None:
    reply = conversation.associate.post("/api/uploads", json_body={"size": LIMIT + 1})
    assert reply.status == 413
    assert reply.json["error"] == "payload_too_large" and "100 MB" in reply.json["message"]
    assert staged_versions(stack) == []


def test_a_file_bigger_than_declared_is_refused_at_send_and_removed(conversation: Conversation, stack: Any) -> None:
    # moto (like a misbehaving client) does not enforce the POST policy's length range;
    # the server checks the stored size itself.
    ticket = conversation.associate.post("/api/uploads", json_body={"size": 10}).json
    requests.post(ticket["url"], data=ticket["fields"], files={"file": ("f", b"x" * (LIMIT + 1))}, timeout=60)
    reply = conversation.associate.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "t", "attachments": [{"upload_id": ticket["upload_id"], "filename": "big.bin"}]},
    )
    assert reply.status == 413
    assert staged_versions(stack) == []
    assert len(conversation.thread()["messages"]) == 1
    assert stack.client("s3").list_object_versions(Bucket=stack.env["SEALPOST_MESSAGES_BUCKET"]).get("Versions")


def test_files_together_over_the_limit_are_refused_and_removed(conversation: Conversation, stack: Any) -> None:
    half = LIMIT // 2 + 1
    first = upload(conversation.associate, b"a" * half)
    second = upload(conversation.associate, b"b" * half)
    reply = conversation.associate.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={
            "text": "t",
            "attachments": [{"upload_id": first, "filename": "a"}, {"upload_id": second, "filename": "b"}],
        },
    )
    assert reply.status == 413 and "together" in reply.json["message"]
    assert staged_versions(stack) == []


def test_upload_requests_need_a_sensible_size(conversation: Conversation) -> None:
    for size in (0, -1, "10", 1.5, True, None):
        reply = conversation.associate.post("/api/uploads", json_body={"size": size})
        assert reply.status == 400, size
        assert reply.json["field"] == "size"


def test_an_unknown_or_expired_upload_is_a_clear_400(conversation: Conversation) -> None:
    for upload_id in ("A" * 22, "not-an-id", "../../x"):
        reply = conversation.associate.post(
            f"/api/threads/{conversation.thread_id}/messages",
            json_body={"text": "t", "attachments": [{"upload_id": upload_id, "filename": "a"}]},
        )
        assert reply.status == 400 and reply.json["field"] == "attachments"


def test_presigned_posts_are_short_lived_and_encrypt_at_rest(conversation: Conversation) -> None:
    ticket = conversation.associate.post("/api/uploads", json_body={"size": 100}).json
    assert ticket["expires_in"] <= 15 * 60
    assert ticket["fields"]["x-amz-server-side-encryption"] == "aws:kms"
    assert ticket["fields"]["key"].startswith("uploads/alice@plan.example/")
    assert ticket["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
