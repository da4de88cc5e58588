"""Only ciphertext at rest (R4): a whole flow leaves no plaintext in S3 or DynamoDB."""

from __future__ import annotations

import base64
from typing import Any

from tests.conftest import register_from_invitation
from tests.support import (
    WebClient,
    all_dynamodb_items,
    all_s3_objects,
    upload,
)

SECRET_SUBJECT = "Oncology referral for Maria Gonzalez"
SECRET_BODY = "Biopsy confirmed stage II; MRN 004471; call her at home."
SECRET_FILENAME = "gonzalez-maria-pathology.pdf"
SECRET_FILE = b"%PDF-1.7 pathology report of Maria Gonzalez, confidential " * 40
REPLY_BODY = "Thanks, scheduling surgery for Maria next week."
NEW_SUBJECT = "Question about coverage for Maria"
NEW_BODY = "Is the PET scan covered under her plan?"


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
