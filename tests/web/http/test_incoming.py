"""Bad input gets a clear 4xx in our error shape, never a 500 or a traceback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Reply, WebClient


def assert_clear_error(reply: Reply, status: int, code: str | None = None) -> None:
    assert reply.status == status, reply.text
    body = reply.json
    assert set(body) == {"error", "message", "field", "warning", "request_id"}
    assert body["message"] and "Traceback" not in reply.text and 'File "' not in reply.text
    if code:
        assert body["error"] == code


def sign_in_raw(web: WebClient, body: bytes, content_type: str | None = "application/json") -> Reply:
    headers = {"content-type": content_type} if content_type else {}
    return web.post("/api/session", body=body, headers=headers)


def test_malformed_json_is_a_400(web: WebClient) -> None:
    assert_clear_error(sign_in_raw(web, b'{"username": "x",'), 400, "invalid_request")


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_a_400(web: WebClient, body: bytes) -> None:
    assert_clear_error(sign_in_raw(web, body), 400, "invalid_request")


def test_nan_and_infinity_are_not_json(web: WebClient) -> None:
    assert_clear_error(sign_in_raw(web, b'{"username": NaN}'), 400)


def test_empty_body_is_a_400(web: WebClient) -> None:
    assert_clear_error(sign_in_raw(web, b""), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_a_415(web: WebClient, content_type: str | None) -> None:
    reply = sign_in_raw(web, b'{"username": "a", "password": "b"}', content_type)
    assert_clear_error(reply, 415, "unsupported_media_type")
    assert "application/json" in reply.json["message"]


def test_oversized_body_is_a_413(web: WebClient) -> None:
    huge = b'{"username": "' + b"a" * (70 * 1024) + b'", "password": "x"}'
    assert_clear_error(sign_in_raw(web, huge), 413, "payload_too_large")


def test_invalid_utf8_is_a_400(web: WebClient) -> None:
    assert_clear_error(sign_in_raw(web, b'{"username": "\xff\xfe", "password": "x"}'), 400, "invalid_request")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"username": "bob-123456", "password": "pass\\ud800word"}', "password"),
        (b'{"username": "\\udfffbob", "password": "x"}', "username"),
        (b'{"username": "bob-123456", "password": "x", "extra": {"deep": ["\\udc80"]}}', "extra"),
        (b'{"\\ud800": "x", "username": "bob-123456"}', None),
    ],
)
def test_a_lone_surrogate_anywhere_in_a_json_body_is_a_400_naming_the_field(
    web: WebClient, body: bytes, field: str | None
) -> None:
    # Valid JSON and valid UTF-8, but "\ud800" decodes to a character no UTF-8 can hold.
    reply = sign_in_raw(web, body)
    assert_clear_error(reply, 400, "invalid_request")
    assert reply.json["field"] == field and "not valid text" in reply.json["message"]


def test_json_nested_as_deep_as_the_parser_allows_is_answered_without_a_server_error(web: WebClient) -> None:
    for depth in (500, 900, 5000):
        nested = b'{"username": "bob-123456", "password": "x", "extra": ' + b"[" * depth + b"]" * depth + b"}"
        reply = sign_in_raw(web, nested)
        assert reply.status < 500, (depth, reply.status)
    deep_surrogate = (
        b'{"username": "bob-123456", "password": "x", "extra": ' + b"[" * 800 + b'"\\ud800"' + b"]" * 800 + b"}"
    )
    reply = sign_in_raw(web, deep_surrogate)
    assert_clear_error(reply, 400, "invalid_request")
    assert reply.json["field"] == "extra"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "something long"}, "username"),
        ({"username": "", "password": "something long"}, "username"),
        ({"username": "   ", "password": "something long"}, "username"),
        ({"username": 42, "password": "something long"}, "username"),
        ({"username": "bob-123456"}, "password"),
        ({"username": "bob-123456", "password": ""}, "password"),
        ({"username": "x" * 300, "password": "pw"}, "username"),
        ({"username": "bob-123456", "password": "p" * 2000}, "password"),
        ({"username": "bad name!", "password": "pw"}, "username"),
    ],
)
def test_missing_empty_mistyped_or_overlong_fields_are_a_400_naming_the_field(
    web: WebClient, body: dict[str, Any], field: str
) -> None:
    reply = web.post("/api/session", json_body=body)
    assert_clear_error(reply, 400, "invalid_request")
    assert reply.json["field"] == field


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-address"},
        {"email": ""},
        {"email": "x@" + "a" * 300 + ".example"},
        {"email": ["a@b.example"]},
        {"email": "ok@clinic.example", "display_name": "x" * 101},
        {"email": "ok@clinic.example", "display_name": "line\u0000break"},
    ],
)
def test_account_creation_rejects_bad_fields(associate_web: WebClient, payload: dict[str, Any]) -> None:
    assert_clear_error(associate_web.post("/api/accounts", json_body=payload), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/api/nothing", "/api/accounts/x/y/z", "/no/such/page/at/all", "/a/b/c/d/e/f/g/h"])
def test_unknown_routes_are_a_404(web: WebClient, stack: Any, path: str) -> None:
    reply = web.get(path)
    assert reply.status == 404
    if path.startswith("/api/"):
        assert_clear_error(reply, 404, "not_found")
    else:
        assert "Page not found" in reply.text


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/api/session"), ("PATCH", "/api/accounts"), ("DELETE", "/signin")]
)
def test_unsupported_methods_are_a_405(web: WebClient, stack: Any, method: str, path: str) -> None:
    reply = web.request(method, path)
    assert reply.status == 405
    assert reply.header("allow")
    if path.startswith("/api/"):
        assert_clear_error(reply, 405, "method_not_allowed")


def test_malformed_forms_are_a_400(web: WebClient, stack: Any) -> None:
    reply = web.post(
        "/signin", body=b"username=%ff%fe&password=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 400
    duplicated = web.post(
        "/signin", body=b"username=a&username=b", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert duplicated.status == 400


def test_an_unexpected_failure_is_a_generic_500_without_details(web: WebClient, stack: Any, monkeypatch: Any) -> None:
    from chalicelib.accounts import signin

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(signin.SignInService, "sign_in", explode)
    reply = web.post("/api/session", json_body={"username": "a-b-c", "password": "x"})
    assert reply.status == 500
    assert "secret detail" not in reply.text and "RuntimeError" not in reply.text
    assert reply.json["request_id"]
