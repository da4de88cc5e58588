"""Large attachments leave through S3 Object Lambda (deployment) instead of the API's payload."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Conversation
from tests.support import fetch_attachment, upload


@pytest.fixture
def large_attachment(conversation: Conversation, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SEALPOST_INLINE_DOWNLOAD_MAX_BYTES", "1024")
    upload_id = upload(conversation.associate, b"L" * 5000)
    conversation.associate.post(
        f"/api/threads/{conversation.thread_id}/messages",
        json_body={"text": "big", "attachments": [{"upload_id": upload_id, "filename": "résumé big.pdf"}]},
    )
    return str(conversation.thread()["messages"][-1]["attachments"][0]["url"])


def test_large_attachments_redirect_to_a_short_lived_object_lambda_url(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    reply = conversation.partner.get(large_attachment, headers={"accept": "*/*"})
    assert reply.status == 303
    location = urlsplit(reply.header("location"))
    assert "s3-object-lambda" in location.netloc
    query = parse_qs(location.query)
    assert int(query["X-Amz-Expires"][0]) <= 60
    assert "attachment;" in query["response-content-disposition"][0]
    assert location.path.startswith("/threads/")


def test_the_object_lambda_decrypts_the_requested_attachment(
    conversation: Conversation, large_attachment: str, stack: Any
) -> None:
    assert fetch_attachment(conversation.partner, large_attachment, stack.services()) == b"L" * 5000


def test_the_object_lambda_answers_with_the_file_name_and_no_caching(
    conversation: Conversation, large_attachment: str, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = conversation.partner.get(large_attachment, headers={"accept": "*/*"}).header("location")
    written: list[dict[str, Any]] = []
    services = stack.services()
    monkeypatch.setattr(
        services.downloads.s3_factory(), "write_get_object_response", lambda **kw: written.append(kw), raising=False
    )
    services.downloads.object_lambda_get(
        {"getObjectContext": {"outputRoute": "r1", "outputToken": "t1"}, "userRequest": {"url": location}}
    )
    (response,) = written
    assert response["RequestRoute"] == "r1" and response["RequestToken"] == "t1"
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20big.pdf" in response["ContentDisposition"]
    assert response["CacheControl"] == "no-store" and response["ContentType"] == "application/octet-stream"


def test_the_object_lambda_refuses_keys_that_are_not_attachments(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[dict[str, Any]] = []
    services = stack.services()
    s3 = services.downloads.s3_factory()
    monkeypatch.setattr(s3, "write_get_object_response", lambda **kwargs: written.append(kwargs), raising=False)
    for path in (
        "/threads/x/subject",
        "/records/dt=2026-01-01/x",
        "/threads/" + "a" * 32 + "/" + "b" * 32 + "/content",
    ):
        services.downloads.object_lambda_get(
            {"getObjectContext": {"outputRoute": "r", "outputToken": "t"}, "userRequest": {"url": "https://ap" + path}}
        )
    assert [w["StatusCode"] for w in written] == [404, 404, 404]
    assert all("Body" not in w for w in written)
