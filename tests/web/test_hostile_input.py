"""Every route, every method, hostile path parameters and bodies, as associate, partner and stranger:
the answer is never a 500 (bad input gets a clear 4xx, R: "never a 500 or a traceback")."""

from __future__ import annotations

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
