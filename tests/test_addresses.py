"""One rule for mail addresses, from a form, the API or a mail header."""

from __future__ import annotations

import pytest

from chalicelib.addresses import domain_of, normalize_address, validate_email
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
