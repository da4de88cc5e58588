"""One incoming HTTP request, with strict parsing of its body.

Bodies are checked for size, content type, UTF-8 and shape before any service sees
them, so bad input gets a clear 4xx and never reaches DynamoDB or a traceback. Every
field of a JSON body or a form must be valid text: bytes that are not UTF-8 (raw or
percent-encoded, an encoded surrogate such as %ED%A0%80 included), a lone surrogate
(JSON's "\\ud800") or a NUL character is a 400 that names the field.
"""

from __future__ import annotations

import contextvars
import json
import re
import uuid
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import unquote_to_bytes

from chalice.app import Request

from chalicelib.accounts.signin import MAX_PASSWORD_INPUT
from chalicelib.audit.records import RequestInfo
from chalicelib.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from chalicelib.text import is_valid_text

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 50
MAX_FIELD_CHARS = 10_000
# Field names are ours; one that is not like ours is not repeated back in a message.
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_UNDECODABLE = re.compile(r"[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8


# The request being handled. Chalice keeps only one ``app.current_request`` per process,
# which `chalice local`'s threads would share; a context variable is per thread.
_current: contextvars.ContextVar[Incoming] = contextvars.ContextVar("incoming")


def current_request() -> Incoming:
    return _current.get()


def set_current_request(incoming: Incoming) -> None:
    _current.set(incoming)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass
class Incoming:
    request: Request
    request_id: str
    _cookies: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, request: Request) -> Incoming:
        """Wrap a Chalice request; its id is Lambda's request id (API Gateway's when there is no context)."""
        request_id = getattr(request.lambda_context, "aws_request_id", None) or request.context.get("requestId")
        return cls(request, str(request_id or uuid.uuid4()))

    # --- who and where ----------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.request.method.upper()

    @property
    def path(self) -> str:
        return str(self.request.context.get("path") or self.request.path)

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return str(value) if value is not None else None

    def query(self, name: str) -> str | None:
        params = self.request.query_params
        if not params:
            return None
        value = params.get(name)
        return str(value) if value is not None else None

    @property
    def source_ip(self) -> str | None:
        identity = self.request.context.get("identity") or {}
        return identity.get("sourceIp")

    def info(self) -> RequestInfo:
        return RequestInfo(
            request_id=self.request_id,
            source_ip=self.source_ip,
            user_agent=self.header("user-agent"),
        )

    def cookie(self, name: str) -> str | None:
        if self._cookies is None:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(self.header("cookie") or "")
            except CookieError:
                jar = SimpleCookie()
            self._cookies = {key: morsel.value for key, morsel in jar.items()}
        return self._cookies.get(name)

    @property
    def wants_json(self) -> bool:
        return self.path.startswith("/api/")

    # --- the body ---------------------------------------------------------------------

    def _body(self, limit: int) -> bytes:
        declared = self.header("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body may be at most {limit // 1024} KiB.")
        body = self.request.raw_body or b""
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body may be at most {limit // 1024} KiB.")
        return body

    def json_object(self, limit: int) -> dict[str, Any]:
        """The body as a JSON object; 415 for another content type, 413 when too large, 400 when malformed."""
        if _media_type(self.header("content-type")) != "application/json":
            raise UnsupportedMediaType("Send the request body as JSON with Content-Type: application/json.")
        body = self._body(limit)
        try:
            text, undecodable = body.decode("utf-8"), False
        except UnicodeDecodeError:
            # Parsed anyway, so that the answer can name the field that holds the bad bytes.
            text, undecodable = body.decode("utf-8", "surrogateescape"), True
        if not text.strip():
            raise InvalidRequest("The request body is empty; a JSON object is expected.")
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise InvalidRequest("The request body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        _require_valid_text(value, undecodable)
        if undecodable:  # not reached: undecodable bytes can only have been inside a string
            raise InvalidRequest("The request body is not valid UTF-8 text.")
        return value

    def form(self) -> dict[str, str]:
        """An HTML form post (application/x-www-form-urlencoded), one value per field."""
        if _media_type(self.header("content-type")) != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType("This form must be sent as application/x-www-form-urlencoded.")
        return parse_form(self._body(MAX_FORM_BYTES))


def _ours(name: str | None) -> str | None:
    """``name`` if it looks like one of our field names (so it may be repeated back), else None."""
    return name if name is not None and _FIELD_NAME.fullmatch(name) else None


def _the_field(name: str | None) -> str:
    return f"The field '{name}'" if _ours(name) else "A field"


def parse_form(body: bytes) -> dict[str, str]:
    """``name=value&...`` (``+`` for a space, %-escapes) into one text value per field, decoded
    from the bytes, so that a byte that is not UTF-8 (raw or escaped) is a 400 naming its field."""
    pairs = [pair for pair in body.split(b"&") if pair]
    if len(pairs) > MAX_FORM_FIELDS:
        raise InvalidRequest(f"The form may have at most {MAX_FORM_FIELDS} fields.")
    form: dict[str, str] = {}
    for pair in pairs:
        raw_name, _, raw_value = pair.partition(b"=")
        name = _form_text(raw_name, None, "A field name")
        value = _form_text(raw_value, _ours(name), _the_field(name))
        if name in form:
            raise InvalidRequest(f"{_the_field(name)} is sent more than once.", field=_ours(name))
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidRequest(f"{_the_field(name)} may be at most {MAX_FIELD_CHARS} characters.", field=_ours(name))
        form[name] = value
    return form


def _form_text(raw: bytes, field_name: str | None, where: str) -> str:
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        text = data.decode("utf-8")  # strict: an encoded surrogate (ED A0 80) is not UTF-8 either
    except UnicodeDecodeError:
        raise InvalidRequest(
            f"{where} holds bytes that are not valid UTF-8, so not valid text.", field=field_name
        ) from None
    if "\x00" in text:
        raise InvalidRequest(f"{where} holds a NUL character, which is not valid text here.", field=field_name)
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _require_valid_text(body: dict[str, Any], undecodable: bool = False) -> None:
    """400 for a string anywhere in a JSON body (keys included) that is not valid text, naming the
    top-level field it is in. ``undecodable``: the body held bytes that are not UTF-8, which
    surrogateescape made lone surrogates. A loop, not recursion: json.loads accepts nesting that deep."""
    pending: list[tuple[Any, str | None]] = [(body, None)]
    while pending:
        value, field_name = pending.pop()
        if isinstance(value, str) and (not is_valid_text(value) or "\x00" in value):
            where = _the_field(field_name) if field_name else "The request body"
            if "\x00" in value and is_valid_text(value):
                problem = "a NUL character, which is not valid text here"
            elif undecodable and _UNDECODABLE.search(value):
                problem = "bytes that are not valid UTF-8, so not valid text"
            else:
                problem = "a character that is not valid text (a lone UTF-16 surrogate)"
            raise InvalidRequest(f"{where} holds {problem}.", field=_ours(field_name))
        if isinstance(value, dict):
            pending.extend((key, field_name) for key in value)
            pending.extend((item, field_name or key) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((item, field_name) for item in value)


def require_valid_parameters(values: dict[str, str], what: str) -> None:
    """400 when a path or query parameter is not valid text (API Gateway decodes %ED%A0%80 to a surrogate)."""
    for name, value in values.items():
        if not (is_valid_text(str(name)) and is_valid_text(str(value))):
            raise InvalidRequest(f"The {what} holds a character that is not valid text.")


def text_field(body: dict[str, Any], name: str, *, required: bool = True, max_length: int = 1000) -> str | None:
    """A string field of a JSON object, with a clear error when missing, empty, mistyped or too long."""
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidRequest(f"The field '{name}' is required.", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"The field '{name}' must be text.", field=name)
    if len(value) > max_length:
        raise InvalidRequest(f"The field '{name}' may be at most {max_length} characters.", field=name)
    return value


def password_field(body: dict[str, Any], name: str = "password") -> str | None:
    """A password field of a JSON object: checked like any text; its rules are the accounts' business."""
    return text_field(body, name, max_length=MAX_PASSWORD_INPUT)


def token_field(body: dict[str, Any]) -> str:
    """The link token of a JSON object (an invitation or reset link's last part); empty when missing."""
    return text_field(body, "token", max_length=100) or ""
