"""Sensitive-data scan: true positives, look-alikes that must not match, counts without values."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
import time_machine

from chalicelib.gateway.content_scan import (
    ScanResult,
    SensitiveKind,
    html_to_text,
    luhn_valid,
    npi_valid,
    scan,
    scan_html,
    scan_mail,
    scan_text,
)
from chalicelib.gateway.mime_intake import parse_mail

SSN, CARD, MBI, NPI, DOB = (
    SensitiveKind.SSN,
    SensitiveKind.PAYMENT_CARD,
    SensitiveKind.MEDICARE_MBI,
    SensitiveKind.NPI,
    SensitiveKind.DOB_WITH_NAME,
)


def kinds(text: str) -> dict[str, int]:
    return scan_text(text).as_record()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Member SSN 536-22-8174, thanks", SSN),
        ("536 22 8174", SSN),
        ("ssn: 536228174", SSN),
        ("Social Security Number 536228174", SSN),
        ("(536-22-8174)", SSN),
        ("card 4111 1111 1111 1111 exp 12/29", CARD),
        ("4111-1111-1111-1111", CARD),
        ("4111111111111111", CARD),
        ("Amex 3782 822463 10005", CARD),
        ("5555 5555 5555 4444", CARD),
        ("2223003122003222", CARD),
        ("6011111111111117", CARD),
        ("MBI 1EG4-TE5-MK73", MBI),
        ("1EG4TE5MK73", MBI),
        ("mbi: 1eg4te5mk73", MBI),
        ("NPI: 1234567893", NPI),
        ("Provider NPI 1245319599 on file", NPI),
        ("National Provider Identifier\n\n  1245319599", NPI),
        ("Patient: Jane Doe, DOB: 01/02/1960", DOB),
        ("Jane Doe (born 1960-01-02)", DOB),
        ("Name: jane doe   dob 1/2/60", DOB),
        ("John A. Smith, date of birth 2 January 1960", DOB),
        ("John Smith born on March 3rd, 1955", DOB),
        ("Smith, John  D.O.B. 31.12.1970", DOB),
        ("Dear Jane Doe, your DOB 01/02/1960 is on file", DOB),
    ],
)
def test_true_positives_are_found(text: str, kind: SensitiveKind) -> None:
    assert kinds(text) == {str(kind): 1}


@pytest.mark.parametrize(
    "text",
    [
        # SSN look-alikes and numbers never issued
        "536228174",  # nine bare digits without a keyword
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "536-00-8174",
        "536-22-0000",
        "078-05-1120",
        "123-45-6789",
        "111-11-1111",
        "536-22 8174",  # mixed separators
        "536-22-8174-99",
        "X536-22-8174",
        "call 555-123-4567",
        "ZIP 12345-6789",
        # card look-alikes
        "4111111111111112",  # Luhn fails
        "order 1234567890123452",  # passes Luhn, but no card scheme starts with 12
        "0000000000000000",
        "4111 1111 1111 1111 1111 1",  # 21 digits
        "tracking 1Z 999 AA1 01 2345 6784",
        "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6",
        "4111.1111.1111.1111",
        # MBI look-alikes
        "1SG4-TE5-MK73",  # S is never used
        "0EG4TE5MK73",  # cannot start with 0
        "1EG4-TE5MK73",  # dashes must be both or none
        "11G4TE5MK73",
        "A1EG4TE5MK73",
        # NPI look-alikes
        "1234567893",  # valid check digit, no keyword (as often a telephone number)
        "NPI 1234567890",  # check digit wrong
        "NPI 3234567893",  # NPIs start with 1 or 2
        "NPI 12345678931",
        # dates of birth without a name, or not a birth date
        "DOB: 01/02/1960",
        "Invoice date: 01/02/2020 John Smith",
        "John Smith DOB: 13/45/1960",
        "John Smith DOB 2099-01-01",
        "John Smith DOB 1850-01-01",
        "The Company was born 2001-05-06, Dear Sir",
        "Happy birthday! Monday Tuesday",
        "Born in the USA, Bruce Springsteen",
    ],
)
def test_look_alikes_do_not_match(text: str) -> None:
    assert kinds(text) == {}


def test_counts_add_up_by_kind() -> None:
    text = "SSNs 536-22-8174 and 536-22-8175; cards 4111111111111111, 5555555555554444; MBI 1EG4-TE5-MK73"
    result = scan_text(text)
    assert result.as_record() == {"ssn": 2, "payment_card": 2, "medicare_mbi": 1}
    assert result.found and result.count(SSN) == 2 and result.count(NPI) == 0


def test_results_never_hold_the_values() -> None:
    text = "SSN 536-22-8174 card 4111111111111111 NPI 1234567893 MBI 1EG4TE5MK73 Jane Doe DOB 01/02/1960"
    result = scan_text(text)
    rendered = repr(result) + str(result.as_record())
    for value in ("536", "8174", "4111", "1234567893", "1EG4", "1960", "Jane"):
        assert value not in rendered
    assert set(result.as_record().values()) == {1}


def test_hidden_separators_and_lookalike_digits_do_not_hide_a_number() -> None:
    assert kinds("536\u200b-22-8174") == {"ssn": 1}  # zero-width space
    assert kinds("５３６-２２-８１７４") == {"ssn": 1}  # full-width digits
    assert kinds("536\u201322\u20138174") == {"ssn": 1}  # en dashes
    assert kinds("4111\u00a01111\u00a01111\u00a01111") == {"payment_card": 1}  # no-break spaces


def test_html_is_scanned_as_the_text_a_reader_sees() -> None:
    html = "<p>SSN 536-22-<b>8174</b></p><script>var s = '536-22-8175'</script><style>.x{}</style>"
    assert html_to_text(html).strip() == "SSN 536-22-8174"
    assert scan_html(html).as_record() == {"ssn": 1}
    # Block elements separate: digits in two cells are not one number.
    assert scan_html("<table><tr><td>4111 1111</td><td>1111 1111</td></tr></table>").as_record() == {}
    assert scan_html("<p>NPI&#58; 1234567893</p>").as_record() == {"npi": 1}


def test_check_digit_helpers() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert not luhn_valid("") and not luhn_valid("12a4")
    assert npi_valid("1234567893") and not npi_valid("1234567890") and not npi_valid("123456789")


def test_a_birth_date_must_be_in_the_past() -> None:
    with time_machine.travel("2020-06-01T00:00:00Z"):
        assert kinds("John Smith DOB 2021-01-01") == {}
        assert kinds("John Smith DOB 2019-01-01") == {"dob_with_name": 1}


def test_scan_adds_up_several_texts_and_skips_missing_ones() -> None:
    assert scan(["SSN 536-22-8174", None, "", "NPI 1234567893"]).as_record() == {"ssn": 1, "npi": 1}
    assert scan([]) == ScanResult() and not ScanResult().found


def test_a_mail_is_scanned_in_subject_bodies_and_text_attachments() -> None:
    message = EmailMessage()
    message["From"] = "alice@plan.example"
    message["To"] = "bob@clinic.example"
    message["Subject"] = "Claim for member 1EG4-TE5-MK73"
    message.set_content("SSN 536-22-8174")
    message.add_alternative("<p>SSN 536-22-<i>8174</i></p>", subtype="html")
    message.add_attachment(b"name,card\nJane,4111111111111111\n", maintype="text", subtype="csv", filename="c.csv")
    message.add_attachment(b"%PDF-1.7 536-22-8174", maintype="application", subtype="pdf", filename="r.pdf")
    result = scan_mail(parse_mail(message.as_bytes()))
    # The SSN in both alternatives is one SSN; the PDF cannot be read as text and is reported as such.
    assert result.as_record() == {"ssn": 1, "payment_card": 1, "medicare_mbi": 1}
    assert result.unscanned_attachments == 1


def test_a_large_text_is_scanned_whole() -> None:
    filler = "Routine note without identifiers. " * 30_000  # ~1 MB
    assert kinds(filler + "SSN 536-22-8174") == {"ssn": 1}
