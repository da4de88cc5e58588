"""Sensitive-data scan: true positives, look-alikes that must not match, counts without values."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
import time_machine

from chalicelib.gateway.attachment_text import Caps
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
from tests.gateway import documents

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
    # The SSN in both alternatives is one SSN; the broken PDF cannot be read and counts as such.
    assert result.as_record() == {"ssn": 1, "payment_card": 1, "medicare_mbi": 1, "unreadable_pdf": 1}
    assert result.unreadable_record() == {"unreadable_pdf": 1}


def test_a_large_text_is_scanned_whole() -> None:
    filler = "Routine note without identifiers. " * 30_000  # ~1 MB
    assert kinds(filler + "SSN 536-22-8174") == {"ssn": 1}


# --- what the scanner cannot read counts as sensitive (R11, fail closed) ------------------------

OFFICE_WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def scanned(*attachments: tuple[str, str, bytes], **options: Any) -> ScanResult:
    return scan_mail(parse_mail(documents.mail_with("bob@clinic.example", attachments=attachments)), **options)


def test_the_text_of_a_pdf_is_scanned_and_its_findings_keep_their_kind() -> None:
    result = scanned(("claim.pdf", "application/pdf", documents.pdf("Claim notes", "Member SSN 536-22-8174")))
    assert result.as_record() == {"ssn": 1} and result.found


def test_a_readable_pdf_without_sensitive_text_is_not_sensitive() -> None:
    result = scanned(("agenda.pdf", "application/pdf", documents.pdf("Agenda for Thursday", "Room 4")))
    assert result.as_record() == {} and result.unreadable_record() == {} and not result.found


def test_a_pdf_is_recognised_by_its_bytes_whatever_type_it_is_sent_as() -> None:
    result = scanned(("notes", "application/octet-stream", documents.pdf("SSN 536-22-8174")))
    assert result.as_record() == {"ssn": 1}


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (documents.encrypted_pdf("Agenda only"), "encrypted_file"),  # a password is needed to open it
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> trailer broken", "unreadable_pdf"),
        (b"not a pdf at all", "unreadable_pdf"),  # declared as PDF, but it is not one
        (documents.pdf("Scanned form", image=True), "unreadable_image"),  # pictures on a page
    ],
)
def test_a_pdf_that_cannot_be_read_whole_counts_as_sensitive(data: bytes, kind: str) -> None:
    result = scanned(("form.pdf", "application/pdf", data))
    assert result.found and result.as_record() == {kind: 1}


def test_a_pdf_with_only_the_empty_password_is_read() -> None:
    result = scanned(("c.pdf", "application/pdf", documents.encrypted_pdf("SSN 536-22-8174", password="")))
    assert result.as_record() == {"ssn": 1}


def test_a_pdf_over_the_page_cap_counts_as_unreadable_never_half_read() -> None:
    many = documents.pdf(*["Nothing here"] * 5, "SSN 536-22-8174")
    assert scanned(("b.pdf", "application/pdf", many)).as_record() == {"ssn": 1}
    assert scanned(("b.pdf", "application/pdf", many), caps=Caps(pdf_pages=5)).as_record() == {"unreadable_pdf": 1}


def test_word_text_split_over_runs_is_scanned_as_one_text() -> None:
    word = documents.docx(["Card ", "4111 1111 ", "1111 1111"], ["Regards"])
    assert scanned(("card.docx", OFFICE_WORD, word)).as_record() == {"payment_card": 1}
    assert scanned(("plain.docx", OFFICE_WORD, documents.docx(["Regards"]))).as_record() == {}


def test_spreadsheet_strings_and_cells_are_scanned() -> None:
    sheet = documents.xlsx("Patient: Jane Doe", "DOB 01/02/1960", numbers=("4111111111111111",))
    result = scanned(("list.xlsx", "application/vnd.ms-excel", sheet))
    assert result.as_record() == {"dob_with_name": 1, "payment_card": 1}


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "kind"),
    [
        ("logo.png", "image/png", documents.PNG, "unreadable_image"),
        ("scan", "application/octet-stream", documents.PNG, "unreadable_image"),  # known by its bytes
        ("files.zip", "application/zip", documents.zip_of({"a.txt": b"SSN 536-22-8174"}), "unreadable_archive"),
        ("old.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "unreadable_office"),
        ("pic.docx", OFFICE_WORD, documents.docx(["Regards"], media=True), "unreadable_image"),
        ("locked.docx", OFFICE_WORD, documents.docx(["Regards"], encrypt_flag=True), "encrypted_file"),
        ("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22\x00\x00", "unreadable_tnef"),
        ("smime.p7m", "application/pkcs7-mime", b"\x30\x82\x01\x00", "smime_opaque"),
        ("smime.p7m", "application/x-pkcs7-mime", b"\x30\x82\x01\x00", "smime_opaque"),
        (
            "m.asc",
            "application/octet-stream",
            b"-----BEGIN PGP MESSAGE-----\nhQEM\n-----END PGP MESSAGE-----\n",
            "encrypted_file",
        ),
        ("data.bin", "application/octet-stream", bytes(range(256)) * 4, "unreadable_attachment"),
    ],
)
def test_content_the_scanner_cannot_read_counts_as_sensitive_by_kind(
    filename: str, content_type: str, data: bytes, kind: str
) -> None:
    result = scanned((filename, content_type, data))
    assert result.found and result.as_record() == {kind: 1}
    assert filename not in repr(result) + str(result.as_record())


def test_a_docx_with_a_doctype_is_refused_not_expanded() -> None:
    laughs = (
        "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'SSN 536-22-8174'>]>"
        "<w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/main'>"
        "<w:body><w:p><w:r><w:t>&a;</w:t></w:r></w:p></w:body></w:document>"
    )
    word = documents.zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": laughs.encode()})
    assert scanned(("x.docx", OFFICE_WORD, word)).as_record() == {"unreadable_office": 1}


def test_an_office_file_whose_parts_inflate_past_the_cap_is_unreadable() -> None:
    zeros = "<w:document xmlns:w='w'><w:body>" + " " * (6 * 1024 * 1024) + "</w:body></w:document>"
    word = documents.zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": zeros.encode()})
    assert len(word) < 64 * 1024  # a small file that inflates a hundredfold
    assert scanned(("z.docx", OFFICE_WORD, word)).as_record() == {}  # 6 MB of blanks: under the default cap
    capped = Caps(office_xml_bytes=5 * 1024 * 1024)
    assert scanned(("z.docx", OFFICE_WORD, word), caps=capped).as_record() == {"unreadable_office": 1}


def test_a_detached_smime_signature_is_not_unreadable_content() -> None:
    result = scanned(("smime.p7s", "application/pkcs7-signature", b"\x30\x82\x01\x00"))
    assert result.as_record() == {} and not result.found


def test_a_forwarded_message_counts_and_its_text_is_still_scanned() -> None:
    raw = documents.mail_with("bob@clinic.example", forward=documents.forwarded("Nothing in here."))
    assert scan_mail(parse_mail(raw)).as_record() == {"forwarded_message": 1}
    raw = documents.mail_with("bob@clinic.example", forward=documents.forwarded("Member SSN 536-22-8174"))
    result = scan_mail(parse_mail(raw), unscannable_is_sensitive=False)
    assert result.as_record() == {"ssn": 1} and result.found  # a finding inside keeps its kind


def test_an_attached_eml_file_is_a_forwarded_message() -> None:
    eml = documents.forwarded("Nothing in here.")
    assert scanned(("fwd.eml", "application/octet-stream", eml)).as_record() == {"forwarded_message": 1}


def test_an_html_comment_holding_text_counts_and_its_text_is_scanned() -> None:
    hidden = "<p>See you Thursday.</p><!-- member SSN 536-22-8174 -->"
    raw = documents.mail_with("bob@clinic.example", html=hidden)
    assert scan_mail(parse_mail(raw)).as_record() == {"html_comment": 1, "ssn": 1}
    note = documents.mail_with("bob@clinic.example", html="<p>Thursday.</p><!-- internal note -->")
    assert scan_mail(parse_mail(note)).as_record() == {"html_comment": 1}


def test_outlook_conditional_comments_are_read_as_html_and_empty_comments_do_not_count() -> None:
    outlook = (
        "<html><head><style><!-- p.MsoNormal {margin:0} --></style>"
        "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings/></xml><![endif]--></head>"
        "<body><!----><!-- --><p>Thursday.</p><!--[if mso]><p>Card 4111 1111 1111 1111</p><![endif]--></body></html>"
    )
    assert scan_html(outlook).as_record() == {"payment_card": 1}


def test_image_alt_text_is_scanned() -> None:
    assert scan_html('<img alt="SSN 536-22-8174" src="cid:x">').as_record() == {"ssn": 1}


def test_file_names_are_scanned_and_never_reported() -> None:
    result = scanned(("SSN 536-22-8174 claim.txt", "text/plain", b"Nothing here."))
    assert result.as_record() == {"ssn": 1}
    assert "536" not in repr(result) + str(result.as_record())
    assert scanned(("ssn_536228174.csv", "text/csv", b"a,b")).as_record() == {"ssn": 1}


def test_relaxing_the_setting_turns_unreadable_content_off_but_keeps_real_findings() -> None:
    picture = ("scan.png", "image/png", documents.PNG)
    relaxed = scanned(picture, unscannable_is_sensitive=False)
    assert not relaxed.found and relaxed.as_record() == {}
    assert relaxed.unreadable_record() == {"unreadable_image": 1}  # still known, not counted
    with_ssn = scanned(
        picture, ("c.pdf", "application/pdf", documents.pdf("SSN 536-22-8174")), unscannable_is_sensitive=False
    )
    assert with_ssn.found and with_ssn.as_record() == {"ssn": 1}
    strict = scanned(picture)
    assert strict.found and strict.as_record() == {"unreadable_image": 1}


def test_text_attachments_of_any_declared_type_are_read_when_their_bytes_are_text() -> None:
    result = scanned(("notes.dat", "application/octet-stream", "Member SSN 536-22-8174 – notes".encode()))
    assert result.as_record() == {"ssn": 1}
    assert scanned(("l.txt", "text/plain", "Ärztin, SSN 536-22-8174".encode("cp1252"))).as_record() == {"ssn": 1}


def test_the_mail_budget_makes_later_documents_unreadable_instead_of_slow() -> None:
    first, second = documents.pdf("Agenda"), documents.pdf("SSN 536-22-8174")
    raw = documents.mail_with(
        "bob@clinic.example",
        attachments=(("a.pdf", "application/pdf", first), ("b.pdf", "application/pdf", second)),
    )
    assert scan_mail(parse_mail(raw)).as_record() == {"ssn": 1}
    assert scan_mail(parse_mail(raw), caps=Caps(mail_bytes=len(first) + 10)).as_record() == {"unreadable_pdf": 1}
