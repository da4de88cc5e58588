"""Every route, every method, hostile path parameters and bodies, as associate, partner and stranger:
the answer is never a 500 (bad input gets a clear 4xx, R: "never a 500 or a traceback")."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from app import app
from tests.conftest import Conversation

PATH_VALUES = ["x", "0" * 32, "../../etc", "%00", "a" * 300, "\u00fcn\u00ef", "alice@plan.example", "A" * 43]
WRONG_TYPES = {
    "recipients": 5,
    "subject": ["x"],
    "text": {"a": 1},
    "attachments": "x",
    "size": "1",
    "token": 3,
    "password": 7,
    "email": None,
    "identifier": 9,
    "current_password": [],
    "new_password": {},
}
ODD_ATTACHMENTS = {
    "recipients": ["a@b.example"],
    "subject": "s",
    "text": "t",
    "attachments": [{"upload_id": "x" * 22, "filename": "f"}, 5],
}
BODILESS = {("DELETE", "/api/session")}
# Every field the routes read, each holding a lone surrogate (valid JSON, no valid text).
SURROGATES = json.dumps({name: "x\udc80" for name in [*WRONG_TYPES, "csrf_token", "next"]}).encode()
BODIES: list[tuple[dict[str, str], bytes]] = [
    ({"content-type": "application/json"}, SURROGATES),
    ({"content-type": "application/x-www-form-urlencoded"}, b"csrf_token=x&text=%ED%A0%80&subject=%ED%B2%80"),
    ({"content-type": "application/json"}, b"{}"),
    ({"content-type": "application/json"}, json.dumps(WRONG_TYPES).encode()),
    ({"content-type": "application/json"}, json.dumps(ODD_ATTACHMENTS).encode()),
    ({"content-type": "application/x-www-form-urlencoded"}, b"csrf_token=x&text=&subject=&recipients=%FF"),
    ({"content-type": "application/x-www-form-urlencoded"}, b"attachment-1=zzz&attachment-1-name=../x&text=hi"),
    ({"content-type": "multipart/form-data; boundary=x"}, b"--x--"),
    ({}, b"\xff\xfe"),
]


def test_no_route_answers_hostile_input_with_a_server_error(
    associate_web: Any, conversation: Conversation, new_browser: Any
) -> None:
    failures = []
    for web in (associate_web, conversation.partner, new_browser()):
        for path, methods in app.routes.items():
            if "{p0}" in path:
                continue  # the catch-all 404 routes
            values = [*PATH_VALUES, conversation.thread_id] if "thread" in path else PATH_VALUES
            for method in methods:
                # Signing out (DELETE /api/session) reads no body: it rightly answers any.
                ignores_body = (method, path) in BODILESS
                for value in values:
                    concrete = re.sub(r"\{[^}]+\}", value, path)
                    for headers, body in BODIES if method != "GET" else [({}, b"")]:
                        reply = web.request(method, concrete, headers={"accept": "*/*", **headers}, body=body)
                        if reply.status >= 500 or (body == SURROGATES and reply.status < 400 and not ignores_body):
                            failures.append((method, concrete[:60], reply.status, body[:40]))
    assert failures == []


# --- invalid UTF-8, encoded surrogates and NUL in every field of every JSON and form route --------

# Every field a route reads (and some no route reads: a body is checked whole).
FIELDS = [
    "username",
    "password",
    "password_confirmation",
    "current_password",
    "new_password",
    "new_password_confirmation",
    "token",
    "identifier",
    "email",
    "display_name",
    "recipients",
    "subject",
    "text",
    "attachments",
    "filename",
    "size",
    "csrf_token",
    "next",
]
# JSON routes that read no body at all (their path and the session say everything).
JSON_WITHOUT_BODY = {
    ("DELETE", "/api/session"),
    ("POST", "/api/session/revoke-all"),
    ("POST", "/api/sessions/{sid}/end"),
    ("POST", "/api/accounts/{username}/unlock"),
    ("POST", "/api/accounts/{username}/terminate"),
    ("POST", "/api/accounts/{username}/invitation"),
    ("POST", "/api/threads/{thread_id}/remove-from-view"),
    ("POST", "/api/threads/{thread_id}/participants/{username}/pickup-link"),
    ("POST", "/api/accounts/{username}/second-factor/reset"),
    ("POST", "/api/associates/{username}/disable"),
    ("POST", "/api/associates/{username}/enable"),
    ("POST", "/api/associates/{username}/end-sessions"),
    ("POST", "/api/associates/{username}/unlock"),
}
# Bytes inside a JSON string: not UTF-8, an encoded surrogate (U+D800 as UTF-8), a NUL escape.
JSON_VALUES = [b"x\xff\xfe", b"\xed\xa0\x80", b"a\\u0000b"]
# Form values: an encoded surrogate, an escaped byte that is not UTF-8, a raw one, a NUL.
FORM_VALUES = [b"%ED%A0%80", b"%FF", b"ok\xffok", b"a%00b"]


def changing_routes(api: bool) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, methods in app.routes.items()
        if "{p0}" not in path and path.startswith("/api/") == api
        for method in methods
        if method != "GET"
    ]


def concrete(path: str, conversation: Conversation) -> str:
    return re.sub(r"\{[^}]+\}", "x", path.replace("{thread_id}", conversation.thread_id))


def stored_state(stack: Any) -> Any:
    """Everything a request could write, but sessions (a signed-in request may refresh its own)."""
    dynamodb, s3 = stack.client("dynamodb"), stack.client("s3")
    tables = sorted(
        value for name, value in stack.env.items() if name.endswith("_TABLE") and name != "SEALPOST_SESSIONS_TABLE"
    )
    buckets = sorted(value for name, value in stack.env.items() if name.endswith("_BUCKET"))
    items = {table: sorted(map(repr, dynamodb.scan(TableName=table)["Items"])) for table in tables}
    keys = {bucket: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] for bucket in buckets}
    return items, keys


def test_every_json_route_answers_bytes_that_are_not_text_in_any_field_with_a_400_naming_it(
    associate_web: Any, conversation: Conversation, stack: Any
) -> None:
    routes = changing_routes(api=True)
    assert set(routes) >= JSON_WITHOUT_BODY
    before = stored_state(stack)
    failures = []
    for method, path in routes:
        if (method, path) in JSON_WITHOUT_BODY:
            continue
        for name in FIELDS:
            for value in JSON_VALUES:
                body = b'{"' + name.encode() + b'": "' + value + b'"}'
                reply = associate_web.request(
                    method, concrete(path, conversation), headers={"content-type": "application/json"}, body=body
                )
                named = reply.status == 400 and reply.json["field"] == name and f"'{name}'" in reply.json["message"]
                if not named:
                    failures.append((method, path, name, value, reply.status, reply.text[:120]))
    assert failures == []
    assert stored_state(stack) == before


def test_every_form_route_answers_bytes_that_are_not_text_in_any_field_with_a_400_page_naming_it(
    associate_web: Any, conversation: Conversation, stack: Any
) -> None:
    routes = changing_routes(api=False)
    assert ("POST", "/signin") in routes and ("POST", "/threads/{thread_id}/reply") in routes
    before = stored_state(stack)
    failures = []
    for method, path in routes:
        for name in FIELDS:
            others = b"&".join(f"{other}=ok".encode() for other in FIELDS if other != name)
            for value in FORM_VALUES:
                body = others + b"&" + name.encode() + b"=" + value
                reply = associate_web.request(
                    method,
                    concrete(path, conversation),
                    headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
                    body=body,
                )
                page = html.unescape(reply.text)
                if not (reply.status == 400 and "text/html" in reply.header("content-type") and f"'{name}'" in page):
                    failures.append((method, path, name, value, reply.status))
    assert failures == []
    assert stored_state(stack) == before
