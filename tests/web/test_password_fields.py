"""Every password field on every page is masked, names what it holds for password managers, takes
at least 64 characters and lets people paste (ASVS 5.0 6.2.6, 6.2.7, 6.2.9)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from tests.support import WebClient, link_in, sent_mail

PASTE_BLOCKERS = ("onpaste", "oncopy", "oncut", "ondrop", "onkeydown")


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append(dict(attrs))


def password_inputs(html: str) -> list[dict[str, str | None]]:
    parser = _Inputs()
    parser.feed(html)
    return [i for i in parser.inputs if "password" in (i.get("name") or "") or i.get("type") == "password"]


def assert_masked_and_pasteable(html: str, expected: int) -> None:
    fields = password_inputs(html)
    assert len(fields) == expected, fields
    for field in fields:
        assert field.get("type") == "password", field
        assert field.get("autocomplete") in ("current-password", "new-password"), field
        assert not any(blocker in field for blocker in PASTE_BLOCKERS), field
        assert field.get("maxlength") is None or int(field["maxlength"] or 0) >= 64, field
    assert "onpaste" not in html.lower()


def test_every_password_field_is_masked_and_may_be_pasted(associate_web: WebClient, new_browser: Any) -> None:
    assert_masked_and_pasteable(new_browser().get("/signin").text, 1)
    assert_masked_and_pasteable(associate_web.get("/account").text, 3)
    associate_web.post("/api/accounts", json_body={"email": "fields@clinic.example"})
    register = new_browser().get(link_in(sent_mail()[-1], "/register/"))
    assert register.status == 200
    assert_masked_and_pasteable(register.text, 2)


def test_the_check_finds_an_unmasked_or_paste_blocking_field() -> None:
    assert password_inputs('<input name="password" type="text">') == [{"name": "password", "type": "text"}]
    blocked = '<input name="password" type="password" autocomplete="current-password" onpaste="return false">'
    try:
        assert_masked_and_pasteable(blocked, 1)
    except AssertionError:
        return
    raise AssertionError("a paste-blocking field passed the check")
