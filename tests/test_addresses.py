"""One rule for mail addresses, from a form, the API or a mail header."""

from __future__ import annotations

import pytest

from chalicelib.addresses import Recipient, domain_of, normalize_address, parse_recipient_list, validate_email
from chalicelib.errors import InvalidRequest


def test_addresses_are_normalised_and_lower_cased() -> None:
    assert normalize_address(" Bob@Clinic.Example ") == "bob@clinic.example"
    assert normalize_address("ｂｏｂ@clinic.example") == "bob@clinic.example"
    assert validate_email("Bob@Clinic.Example") == "bob@clinic.example"
    assert domain_of("bob@Clinic.Example") == "clinic.example"


@pytest.mark.parametrize(
    "raw", ["bob", "bob@", "@clinic.example", "bob@clinic", "b ob@clinic.example", "a" * 65 + "@x.example"]
)
def test_what_is_not_an_address_is_refused_with_the_field_named(raw: str) -> None:
    assert normalize_address(raw) is None
    with pytest.raises(InvalidRequest, match="not a valid mail address") as refused:
        validate_email(raw, "recipients")
    assert refused.value.field == "recipients"


def test_an_empty_or_missing_address_asks_for_one() -> None:
    for raw in ("", "  ", None, 7):
        with pytest.raises(InvalidRequest, match="Enter a mail address"):
            validate_email(raw)


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("Dana Ortiz <dana@clinic.example>", [("dana@clinic.example", "Dana Ortiz")]),
        ('"Ortiz, Dana" <Dana@Clinic.Example>', [("dana@clinic.example", "Ortiz, Dana")]),
        (
            "dana@clinic.example; Bob Lee <bob@clinic.example>",
            [("dana@clinic.example", ""), ("bob@clinic.example", "Bob Lee")],
        ),
        (
            '  "Ortiz, Dana" <dana@clinic.example>,\n bob@clinic.example \r\n',
            [("dana@clinic.example", "Ortiz, Dana"), ("bob@clinic.example", "")],
        ),
        ("dana@clinic.example bob@clinic.example", [("dana@clinic.example", ""), ("bob@clinic.example", "")]),
    ],
)
def test_recipients_pasted_from_mail_programs_are_read_with_their_names(
    pasted: str, expected: list[tuple[str, str]]
) -> None:
    found = parse_recipient_list(pasted)
    assert found.bad == ()
    assert [(r.address, r.display_name) for r in found.recipients] == expected


def test_duplicate_recipients_in_any_case_are_collapsed_keeping_a_given_name() -> None:
    found = parse_recipient_list("DANA@clinic.example; Dana Ortiz <dana@CLINIC.example>, dana@clinic.example")
    assert found.recipients == (Recipient("dana@clinic.example", "Dana Ortiz"),)


def test_every_bad_entry_of_a_pasted_list_is_named_as_typed() -> None:
    found = parse_recipient_list("dana@clinic.example, dana@; bob at clinic\nEve <eve@clinic>, <>")
    assert found.bad == ("dana@", "bob at clinic", "Eve <eve@clinic>", "<>")
    assert [r.address for r in found.recipients] == ["dana@clinic.example"]
