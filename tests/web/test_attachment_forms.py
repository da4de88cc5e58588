"""Attachments on the pages' forms: without JavaScript through S3's browser-based POST and back, and
with the script's fields (upload id + file name); unchecked files go, foreign uploads are refused."""

from __future__ import annotations

import hashlib
import re
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import Conversation
from tests.support import PORTAL_URL, WebClient, fetch_attachment, upload


def upload_form(page: str) -> tuple[str, dict[str, str]]:
    """The page's no-JavaScript upload form: its action and hidden fields."""
    found = re.search(r'<form class="upload-form" method="post" action="([^"]+)"(.*?)</form>', page, re.S)
    assert found, "no upload form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.group(2)))
    return unescape(found.group(1)), {k: unescape(v) for k, v in fields.items()}


def post_file_as_browser(web: WebClient, page_path: str, filename: str, data: bytes) -> str:
    """What a browser without JavaScript does: post the form to S3, follow S3's 303 back to the portal,
    and follow the bounce page to the draft. Returns the draft page."""
    action, fields = upload_form(web.get(page_path).text)
    stored = requests.post(action, data=fields, files={"file": (filename, data)}, allow_redirects=False, timeout=60)
    assert stored.status_code == 303, stored.text
    back = urlsplit(stored.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == PORTAL_URL and back.path == "/uploads/received"
    bounce = web.get(f"{back.path}?{back.query}")
    assert bounce.status == 200
    target = unescape(re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', bounce.text).group(1))
    assert target.startswith(page_path)
    page = web.get(target)
    assert page.status == 200
    return page.text


def checked_files(page: str) -> dict[str, str]:
    """File name -> upload id of the boxes checked in the message form."""
    boxes = re.findall(
        r'<input type="checkbox" id="(attachment-\d+)" name="attachment-\d+" value="([^"]+)"( checked)?>\s*'
        r'<label class="check-label" for="attachment-\d+">([^<(]+)',
        page,
    )
    return {name.strip(): upload_id for _, upload_id, checked, name in boxes if checked}


def test_without_javascript_a_file_goes_to_s3_and_back_and_is_sent_with_the_reply(
    conversation: Conversation, stack: Any
) -> None:
    path = f"/threads/{conversation.thread_id}"
    data = b"%PDF-1.4 lab report " * 500
    page = post_file_as_browser(conversation.partner, path, "lab report.pdf", data)
    assert "The file has been uploaded" in page
    assert list(checked_files(page)) == ["lab report.pdf"]

    fields = {"text": "Report attached.", "attachment-1": checked_files(page)["lab report.pdf"]}
    sent = conversation.partner.submit(path, path + "/reply", {**fields, "attachment-1-name": "lab report.pdf"})
    assert sent.status == 303
    attachment = conversation.thread()["messages"][-1]["attachments"][0]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == (
        "lab report.pdf",
        "application/pdf",
        len(data),
    )
    downloaded = fetch_attachment(conversation.associate, attachment["url"], stack.services())
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()
    staging = stack.client("s3").list_object_versions(Bucket=stack.env["SEALPOST_STAGING_BUCKET"])
    assert staging.get("Versions", []) == [] and staging.get("DeleteMarkers", []) == []
    assert "lab report.pdf" not in conversation.partner.get(path).text.split("Reply securely")[1]


def test_the_upload_form_posts_to_the_staging_bucket_which_the_page_csp_allows(conversation: Conversation) -> None:
    reply = conversation.partner.get(f"/threads/{conversation.thread_id}")
    action, fields = upload_form(reply.text)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(action))
    directives = dict(d.strip().split(" ", 1) for d in reply.header("content-security-policy").split(";"))
    assert origin in directives["form-action"] and origin in directives["connect-src"]
    assert fields["key"].endswith("/" + conversation.thread_id + "/${filename}")
    assert fields["key"].startswith(f"uploads/{conversation.partner_username}/")
    assert fields["success_action_redirect"] == (f"{PORTAL_URL}/uploads/received?to=/threads/{conversation.thread_id}")
    assert fields["x-amz-server-side-encryption"] == "aws:kms"
    assert 'enctype="multipart/form-data"' in reply.text
    # Other pages keep form-action to themselves.
    other = conversation.partner.get("/account").header("content-security-policy")
    assert origin not in other


def test_files_left_unchecked_are_removed_when_the_message_is_sent(conversation: Conversation, stack: Any) -> None:
    path = f"/threads/{conversation.thread_id}"
    post_file_as_browser(conversation.partner, path, "keep.txt", b"keep")
    page = post_file_as_browser(conversation.partner, path, "drop.txt", b"drop")
    files = checked_files(page)
    assert set(files) == {"keep.txt", "drop.txt"}
    sent = conversation.partner.submit(
        path, path + "/reply", {"text": "One file.", "attachment-1": files["keep.txt"], "attachment-1-name": "keep.txt"}
    )
    assert sent.status == 303
    names = [a["filename"] for a in conversation.thread()["messages"][-1]["attachments"]]
    assert names == ["keep.txt"]
    staging = stack.client("s3").list_objects_v2(Bucket=stack.env["SEALPOST_STAGING_BUCKET"])
    assert staging.get("KeyCount", 0) == 0


def test_a_draft_lists_only_its_own_files(conversation: Conversation) -> None:
    post_file_as_browser(conversation.partner, f"/threads/{conversation.thread_id}", "for-the-thread.txt", b"t")
    new_page = conversation.partner.get("/threads/new").text
    assert "for-the-thread.txt" not in new_page
    page = post_file_as_browser(conversation.partner, "/threads/new", "for-a-new-message.txt", b"n")
    assert list(checked_files(page)) == ["for-a-new-message.txt"]


def test_after_a_failed_send_the_boxes_keep_what_was_chosen(conversation: Conversation) -> None:
    path = f"/threads/{conversation.thread_id}"
    page = post_file_as_browser(conversation.partner, path, "chosen.txt", b"c")
    upload_id = checked_files(page)["chosen.txt"]
    scripted = upload(conversation.partner, b"from the script")
    failed = conversation.partner.submit(
        path,
        path + "/reply",
        {"text": "", "attachment-1": scripted, "attachment-1-name": "scripted.txt"},
    )
    assert failed.status == 400 and 'id="text-error"' in failed.text and "There is a problem" in failed.text
    assert checked_files(failed.text) == {"scripted.txt": scripted}
    assert f'value="{upload_id}">' in failed.text  # still listed, now unchecked


def test_the_script_fields_attach_an_upload_with_its_file_name(conversation: Conversation) -> None:
    upload_id = upload(conversation.associate, b"col1,col2\n1,2\n")
    sent = conversation.associate.submit(
        "/threads/new",
        "/threads",
        {
            "recipients": "eve@clinic.example",
            "subject": "Spreadsheet",
            "text": "See the file.",
            "attachment-1": upload_id,
            "attachment-1-name": "../../claims.csv",
        },
    )
    assert sent.status == 303
    thread = conversation.associate.get("/api/threads/" + sent.header("location").rsplit("/", 1)[1]).json
    (attachment,) = thread["messages"][0]["attachments"]
    assert attachment["filename"] == "claims.csv" and attachment["content_type"] == "text/csv"


def test_another_users_upload_cannot_be_attached_from_a_page(conversation: Conversation) -> None:
    theirs = upload(conversation.associate, b"the associate's file")
    path = f"/threads/{conversation.thread_id}"
    reply = conversation.partner.submit(
        path, path + "/reply", {"text": "x", "attachment-1": theirs, "attachment-1-name": "a.txt"}
    )
    assert reply.status == 400
    assert 'id="attachments-error"' in reply.text and 'href="#file"' in reply.text
    assert len(conversation.thread()["messages"]) == 1


def test_more_than_twenty_attachment_fields_are_a_clear_400(conversation: Conversation) -> None:
    path = f"/threads/{conversation.thread_id}"
    fields = {"text": "x"}
    for n in range(1, 22):
        fields[f"attachment-{n}"] = "A" * 22
    reply = conversation.partner.submit(path, path + "/reply", fields)
    assert reply.status == 400 and "At most 20 attachments" in reply.text


@pytest.mark.parametrize(
    ("to", "target"),
    [
        ("/threads/new", "/threads/new?notice=file_uploaded"),
        ("https://evil.example/x", "/home?notice=file_uploaded"),
        ("//evil.example/x", "/home?notice=file_uploaded"),
    ],
)
def test_the_upload_bounce_page_sends_browsers_to_local_paths_only(
    web: WebClient, stack: Any, to: str, target: str
) -> None:
    reply = web.get("/uploads/received?to=" + requests.utils.quote(to, safe="") + "&bucket=b&key=k&etag=e")
    assert reply.status == 200
    assert f'content="0; url={target}"' in unescape(reply.text)
    assert f'href="{target}"' in unescape(reply.text)
