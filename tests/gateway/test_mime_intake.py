"""Inbound MIME: what is read from a mail, the limits, malformed input, header rebuilding, SES verdicts."""

from __future__ import annotations

import base64
import logging
import random
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest

from chalicelib.gateway import mime_intake
from chalicelib.gateway.mime_intake import (
    Limits,
    MailRefused,
    RefusalReason,
    attachment_filename,
    check_receipt,
    parse_mail,
)
from chalicelib.mail.mailer import Mailer, OutgoingMail
from chalicelib.settings import Settings
from chalicelib.text import one_line
from tests.support import SETTINGS_ENV

GATEWAY = "secure@gateway.plan.example"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4
SUBJECT = "Lab results for Jane Roe"
BODY = "Her MBI is 1EG4-TE5-MK73; please call."


def sample(**overrides: Any) -> EmailMessage:
    message = EmailMessage()
    message["From"] = overrides.get("sender", "Alice Associate <Alice@Plan.Example>")
    message["To"] = overrides.get("to", f"Bob <BOB@clinic.example>, {GATEWAY}")
    message["Cc"] = overrides.get("cc", "carol@lab.example, bob@clinic.example")
    message["Subject"] = overrides.get("subject", SUBJECT)
    message["Message-ID"] = "<m2@plan.example>"
    message["In-Reply-To"] = "<m1@clinic.example>"
    message["References"] = "<m0@plan.example> <m1@clinic.example>"
    message.set_content(BODY)
    message.add_alternative(f"<p>{BODY}</p>", subtype="html")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="../../results.pdf")
    return message


def refused(raw: bytes, reason: RefusalReason, limits: Limits | None = None) -> MailRefused:
    with pytest.raises(MailRefused) as caught:
        parse_mail(raw, limits)
    assert caught.value.reason is reason, caught.value.reason
    return caught.value


# --- what is read ---------------------------------------------------------------------------


def test_a_typical_mail_is_read_whole() -> None:
    raw = sample().as_bytes()
    mail = parse_mail(raw, ignore=[GATEWAY.upper()])
    assert mail.sender == "alice@plan.example"
    assert mail.sender_name == "Alice Associate"
    assert mail.recipients == ("bob@clinic.example", "carol@lab.example")
    assert mail.subject == SUBJECT
    assert mail.message_id == "m2@plan.example"
    assert mail.in_reply_to == ("m1@clinic.example",)
    assert mail.references == ("m0@plan.example", "m1@clinic.example")
    assert mail.thread_ids == ("m1@clinic.example", "m0@plan.example")
    assert mail.text is not None and mail.text.strip() == BODY
    assert mail.html is not None and mail.html.strip() == f"<p>{BODY}</p>"
    (attachment,) = mail.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == ("results.pdf", "application/pdf", PDF)
    assert mail.size == len(raw)


def test_bcc_counts_and_the_gateway_address_is_not_a_recipient() -> None:
    message = sample(to=GATEWAY, cc="")
    del message["Cc"]
    message["Bcc"] = "Dan <dan@firm.example>"
    assert parse_mail(message.as_bytes(), ignore=[GATEWAY]).recipients == ("dan@firm.example",)


def test_the_html_body_is_kept_exactly_as_sent() -> None:
    html = '<html><body><p style="color:red">Hi &amp; <b>bye</b></p><script>x()</script></body></html>'
    message = EmailMessage()
    message["From"] = "alice@plan.example"
    message["To"] = "bob@clinic.example"
    message.set_content(html, subtype="html")
    mail = parse_mail(message.as_bytes())
    assert mail.html == html + "\n"
    assert mail.text is None and mail.attachments == ()


def test_a_forwarded_mail_travels_as_one_attachment() -> None:
    inner = sample()
    outer = EmailMessage()
    outer["From"] = "alice@plan.example"
    outer["To"] = "bob@clinic.example"
    outer.set_content("See the forwarded mail.")
    outer.add_attachment(inner)
    mail = parse_mail(outer.as_bytes())
    assert mail.text == "See the forwarded mail.\n"
    (attachment,) = mail.attachments
    assert attachment.content_type == "message/rfc822"
    assert b"Lab results for Jane Roe" in attachment.data and PDF not in attachment.data  # still encoded inside


def test_inline_images_keep_their_content_id() -> None:
    message = EmailMessage()
    message["From"] = "alice@plan.example"
    message["To"] = "bob@clinic.example"
    message.set_content("text")
    message.add_alternative('<img src="cid:logo@plan">', subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(b"\x89PNG....", maintype="image", subtype="png", cid="<logo@plan>")
    mail = parse_mail(message.as_bytes())
    (image,) = mail.attachments
    assert (image.content_id, image.inline, image.filename) == ("logo@plan", True, "attachment-1.png")
    assert mail.html is not None and "cid:logo@plan" in mail.html


def test_text_in_a_declared_charset_is_decoded() -> None:
    raw = (
        b"From: alice@plan.example\r\nTo: bob@clinic.example\r\nSubject: =?iso-8859-1?q?R=E9sultat?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9\r\n"
    )
    mail = parse_mail(raw)
    assert (mail.subject, mail.text) == ("Résultat", "Café\r\n")


# --- limits ---------------------------------------------------------------------------------


def multipart_with(parts: int) -> bytes:
    """A mail of ``parts`` MIME parts in all: the multipart root and ``parts - 1`` leaves."""
    head = b"From: alice@plan.example\r\nTo: bob@clinic.example\r\nMIME-Version: 1.0\r\n"
    head += b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
    body = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts - 1))
    return head + body + b"--B--\r\n"


def deep(levels: int) -> bytes:
    """A mail whose text part sits at nesting level ``levels`` (the message itself is level 1)."""
    part = b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for i in range(levels - 1):
        boundary = b"b%d" % i
        part = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\r\n\r\n--"
            + boundary
            + b"\r\n"
            + part
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: alice@plan.example\r\nTo: bob@clinic.example\r\nMIME-Version: 1.0\r\n" + part


def test_size_limit_defaults_to_25_mb_and_is_exact() -> None:
    limit = Limits().max_bytes
    assert limit == 25 * 1024 * 1024
    message = EmailMessage()
    message["From"] = "alice@plan.example"
    message["To"] = "bob@clinic.example"
    message.set_content("x")
    raw = message.as_bytes()
    assert parse_mail(raw + b" " * (limit - len(raw))).sender == "alice@plan.example"
    refused(raw + b" " * (limit - len(raw) + 1), RefusalReason.TOO_LARGE)


def test_a_smaller_size_limit_from_settings_is_honoured() -> None:

    limits = Limits.for_settings(Settings.from_env({**SETTINGS_ENV, "SEALPOST_MAX_MAIL_MB": "1"}))
    assert limits.max_bytes == 1024 * 1024
    raw = sample().as_bytes()
    refused(raw + b" " * (1024 * 1024 - len(raw) + 1), RefusalReason.TOO_LARGE, limits)
    assert parse_mail(raw + b" " * (1024 * 1024 - len(raw)), limits)


def test_at_most_100_mime_parts() -> None:
    assert len(parse_mail(multipart_with(100)).attachments) == 98  # 99 leaves: one is the body
    refused(multipart_with(101), RefusalReason.TOO_MANY_PARTS)


def test_a_flood_of_tiny_parts_is_refused_early() -> None:
    raw = multipart_with(400_000)  # ~13 MB, under the size limit
    refused(raw, RefusalReason.TOO_MANY_PARTS)


def test_nesting_depth_at_most_10() -> None:
    assert parse_mail(deep(10)).text == "hi\r\n"
    refused(deep(11), RefusalReason.TOO_DEEP)
    refused(deep(60), RefusalReason.TOO_DEEP)


def test_headers_at_most_64_kib() -> None:
    def with_header_block(size: int) -> bytes:
        base = b"From: alice@plan.example\r\nTo: bob@clinic.example\r\n"
        filler = size - len(base) - len(b"X-Filler: \r\n")
        return base + b"X-Filler: " + b"a" * filler + b"\r\n\r\nbody\r\n"

    assert parse_mail(with_header_block(64 * 1024 - 100))
    refused(with_header_block(64 * 1024 + 100), RefusalReason.HEADERS_TOO_LARGE)


def test_more_than_500_recipients_are_refused_and_500_are_read() -> None:
    many = [f"r{i}@clinic.example" for i in range(500)]
    refused(sample(to=", ".join(many), cc="x@lab.example").as_bytes(), RefusalReason.TOO_MANY_RECIPIENTS)
    assert len(parse_mail(sample(to=", ".join(many), cc="r0@clinic.example").as_bytes()).recipients) == 500


# --- malformed ------------------------------------------------------------------------------

HEAD = b"From: alice@plan.example\r\nTo: bob@clinic.example\r\nMIME-Version: 1.0\r\n"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", RefusalReason.MALFORMED),
        (b"   \r\n", RefusalReason.MALFORMED),
        (b"just some text without headers", RefusalReason.MALFORMED),
        (b" continuation first\r\n" + HEAD + b"\r\nx", RefusalReason.MALFORMED),
        (HEAD + b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n", RefusalReason.MALFORMED),
        (HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\nnever starts\r\n", RefusalReason.MALFORMED),
        (
            HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\ncut",
            RefusalReason.MALFORMED,
        ),
        (
            HEAD + b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBE!!!Ri0x\r\n",
            RefusalReason.MALFORMED,
        ),
        (
            HEAD + b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBER\r\n",
            RefusalReason.MALFORMED,
        ),
        (HEAD + b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n", RefusalReason.UNSUPPORTED_ENCODING),
        (HEAD + b"Content-Transfer-Encoding: rot13\r\n\r\nuryyb\r\n", RefusalReason.UNSUPPORTED_ENCODING),
        (HEAD + b"Content-Type: text/plain; charset=x-no-such\r\n\r\nhello\r\n", RefusalReason.UNKNOWN_CHARSET),
        (HEAD + b"Subject: one\r\nSubject: two\r\n\r\nbody\r\n", RefusalReason.MALFORMED),
    ],
    ids=[
        "empty",
        "blank",
        "no-headers",
        "continuation-first",
        "no-boundary",
        "boundary-never-starts",
        "truncated",
        "base64-garbage",
        "base64-bad-length",
        "uuencode",
        "unknown-encoding",
        "unknown-charset",
        "two-subjects",
    ],
)
def test_malformed_mail_is_refused_with_a_reason(raw: bytes, reason: RefusalReason) -> None:
    refused(raw, reason)


def test_input_that_is_not_bytes_is_refused() -> None:
    with pytest.raises(MailRefused) as caught:
        parse_mail("From: a@b.example\r\n\r\nx")  # type: ignore[arg-type]
    assert caught.value.reason is RefusalReason.MALFORMED


@pytest.mark.parametrize(
    "sender",
    [
        None,
        "alice@plan.example, eve@evil.example",
        "Alice <alice@plan.example",
        "not an address",
        "alice@",
        "<>",
        "undisclosed:;",
    ],
)
def test_the_sender_must_be_exactly_one_valid_address(sender: str | None) -> None:
    raw = b"To: bob@clinic.example\r\n"
    if sender is not None:
        raw += b"From: " + sender.encode() + b"\r\n"
    refused(raw + b"\r\nbody\r\n", RefusalReason.BAD_SENDER)


def test_two_from_headers_are_refused() -> None:
    refused(b"From: a@plan.example\r\nFrom: b@plan.example\r\n" + HEAD[26:] + b"\r\nx", RefusalReason.BAD_SENDER)


@pytest.mark.parametrize("to", ["bob@", "bob@clinic.example, <not valid>", "Bob <bob@clinic..example>", "bob"])
def test_every_recipient_must_be_a_valid_address(to: str) -> None:
    raw = b"From: alice@plan.example\r\nTo: " + to.encode() + b"\r\n\r\nbody\r\n"
    refused(raw, RefusalReason.BAD_RECIPIENT)


def test_a_mail_only_to_the_gateway_has_no_recipients() -> None:
    raw = b"From: alice@plan.example\r\nTo: " + GATEWAY.encode() + b", undisclosed-recipients:;\r\n\r\nx\r\n"
    with pytest.raises(MailRefused) as caught:
        parse_mail(raw, ignore=[GATEWAY])
    assert caught.value.reason is RefusalReason.NO_RECIPIENTS


def test_random_damage_never_escapes_as_anything_but_a_refusal() -> None:
    original = sample().as_bytes()
    rng = random.Random(20240611)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(300):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 30)):
            position = rng.randrange(len(damaged))
            action = rng.random()
            if action < 0.4:
                damaged[position] = rng.randrange(256)
            elif action < 0.7:
                del damaged[position : position + rng.randint(1, 40)]
            else:
                damaged[position:position] = rng.choice(
                    [b"\r\n", b"--", b"=?utf-8?b?", b":", b"\x00", b"<", b"\r\n\r\n"]
                )
        try:
            parse_mail(bytes(damaged))
            outcomes["parsed"] += 1
        except MailRefused:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 300


def test_an_unexpected_parser_failure_is_a_refusal_and_logs_no_content(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any) -> None:
        raise IndexError(SUBJECT)

    monkeypatch.setattr(mime_intake, "_extract", broken)
    caplog.set_level(logging.DEBUG)
    error = refused(sample().as_bytes(), RefusalReason.MALFORMED)
    assert SUBJECT not in caplog.text and SUBJECT not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_refusals_and_reprs_hold_no_content() -> None:
    mail = parse_mail(sample().as_bytes())
    assert SUBJECT not in repr(mail) and "MBI" not in repr(mail) and "%PDF" not in repr(mail)
    for reason in RefusalReason:
        error = MailRefused(reason)
        assert error.public_message and error.code == "mail_refused"


# --- header values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?q?Hello=0D=0ABcc:_eve@evil.example?=",
        "=?utf-8?b?" + base64.b64encode(b"Hello\r\nBcc: eve@evil.example").decode() + "?=",
        "=?utf-8?q?Hello=E2=80=A8Bcc:_eve@evil.example?=",
        "=?utf-8?q?Hello=C2=85Bcc:_eve@evil.example?=",
    ],
)
def test_a_subject_that_tries_header_injection_comes_out_as_one_line(subject: str) -> None:
    raw = b"From: alice@plan.example\r\nTo: bob@clinic.example\r\nSubject: " + subject.encode() + b"\r\n\r\nx\r\n"
    mail = parse_mail(raw)
    assert mail.subject == "Hello Bcc: eve@evil.example"
    assert len(mail.subject.splitlines()) == 1
    # Handed onward, it builds a mail with one Subject and no Bcc header.
    built = Mailer("no-reply@plan.example", "Plan", lambda: None).build(
        OutgoingMail(to="bob@clinic.example", subject="[Secure] " + mail.subject, text="x")
    )
    wire = built.as_bytes(policy=SMTP)
    assert b"\r\nBcc:" not in wire and wire.count(b"\r\nSubject:") == 1


def test_header_value_removes_breaks_controls_and_bidi_overrides_and_bounds_length() -> None:
    assert one_line("a\r\nb\tc\x00d\x85e\u2028f\u2029g") == "a b c d e f g"
    assert one_line("invoice\u202egnp.exe") == "invoicegnp.exe"
    assert one_line("caf\udcc3\udca9 ok") == "café ok"  # undecodable bytes as the parser keeps them
    assert one_line("\udcff") == "\ufffd"
    assert one_line("x" * 500, 10) == "x" * 10
    assert one_line(None) == ""


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        ("report.pdf", "application/pdf", "report.pdf"),
        ("../../etc/passwd", "text/plain", "passwd"),
        ("C:\\Users\\bob\\evil.exe", "application/octet-stream", "evil.exe"),
        ("CON.txt", "text/plain", "_CON.txt"),
        ("a<b>c:d|e?f*g.txt", "text/plain", "a_b_c_d_e_f_g.txt"),
        ("line\r\nbreak.txt", "text/plain", "line break.txt"),
        ("...", "application/pdf", "attachment-3.pdf"),
        (None, "application/pdf", "attachment-3.pdf"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 116 + ".pdf"),
        ("ｆｕｌｌ.txt", "text/plain", "full.txt"),
    ],
)
def test_attachment_names_are_sanitised(raw: str | None, content_type: str, expected: str) -> None:
    assert attachment_filename(raw, content_type, 3) == expected


def test_an_rfc2231_filename_is_decoded_then_sanitised() -> None:
    message = EmailMessage()
    message["From"] = "alice@plan.example"
    message["To"] = "bob@clinic.example"
    message.set_content("x")
    message.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="../Résumé\r\n.txt")
    (attachment,) = parse_mail(message.as_bytes()).attachments
    assert attachment.filename == "Résumé .txt"


# --- SES receipt verdicts ----------------------------------------------------------------------


def receipt(**statuses: str) -> dict[str, Any]:
    verdicts = {"spf": "PASS", "dkim": "PASS", "dmarc": "PASS", "spam": "PASS", "virus": "PASS", **statuses}
    return {
        "timestamp": "2024-06-11T10:00:00.000Z",
        "recipients": [GATEWAY],
        **{f"{name}Verdict": {"status": status} for name, status in verdicts.items() if status != "missing"},
        "action": {"type": "SNS", "topicArn": "arn:aws:sns:us-east-1:123456789012:inbound", "encoding": "BASE64"},
    }


def test_a_receipt_with_every_verdict_passing_is_accepted() -> None:
    check_receipt(receipt())
    check_receipt(receipt(spam="GRAY", virus="PROCESSING_FAILED"))  # only FAIL refuses for spam and virus


@pytest.mark.parametrize(
    ("statuses", "reason", "failed"),
    [
        ({"spf": "FAIL"}, RefusalReason.NOT_AUTHENTICATED, ("spf",)),
        ({"dkim": "GRAY"}, RefusalReason.NOT_AUTHENTICATED, ("dkim",)),
        ({"dmarc": "PROCESSING_FAILED"}, RefusalReason.NOT_AUTHENTICATED, ("dmarc",)),
        ({"spf": "pass", "dmarc": "FAIL"}, RefusalReason.NOT_AUTHENTICATED, ("spf", "dmarc")),
        ({"virus": "FAIL"}, RefusalReason.VIRUS, ("virus",)),
        ({"spam": "FAIL"}, RefusalReason.SPAM, ("spam",)),
        ({"dkim": "missing"}, RefusalReason.RECEIPT_INCOMPLETE, ("dkim",)),
        ({"virus": "missing"}, RefusalReason.RECEIPT_INCOMPLETE, ("virus",)),
    ],
)
def test_receipts_failing_a_check_are_refused_naming_it(
    statuses: dict[str, str], reason: RefusalReason, failed: tuple[str, ...]
) -> None:
    with pytest.raises(MailRefused) as caught:
        check_receipt(receipt(**statuses))
    assert caught.value.reason is reason and caught.value.failed == failed


@pytest.mark.parametrize("bad", [None, "PASS", [], {"spfVerdict": "PASS"}, {"spfVerdict": {"status": 1}}])
def test_a_receipt_of_the_wrong_shape_is_refused(bad: Any) -> None:
    with pytest.raises(MailRefused) as caught:
        check_receipt(bad)
    assert caught.value.reason is RefusalReason.RECEIPT_INCOMPLETE


RAW_HEAD = (
    b"From: Alice <alice@plan.example>\r\n"
    b"To: bo@clinic.example\r\n"
    b"Subject: Lab results{stray}Bcc: thief@evil.example\r\n"
    b"Message-ID: <m1@plan.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Body line one\r\nline two\r\n"
)


@pytest.mark.parametrize("stray", [b"\r", b"\n", b"\r\r"])
def test_a_stray_cr_or_lf_inside_a_header_line_ends_no_header(stray: bytes) -> None:
    mail = parse_mail(RAW_HEAD.replace(b"{stray}", stray))
    assert mail.recipients == ("bo@clinic.example",)  # no smuggled Bcc: recipient
    assert one_line(mail.subject) == "Lab results Bcc: thief@evil.example"
    assert mail.message_id == "m1@plan.example" and mail.text == "Body line one\r\nline two\r\n"


def test_mail_with_unix_line_endings_still_reads_whole_and_a_bare_cr_is_a_space() -> None:
    raw = RAW_HEAD.replace(b"{stray}", b"\r").replace(b"\r\n", b"\n")
    mail = parse_mail(raw)
    assert mail.recipients == ("bo@clinic.example",)
    assert one_line(mail.subject) == "Lab results Bcc: thief@evil.example"
    assert mail.text == "Body line one\nline two\n"


def test_a_bare_cr_in_the_body_is_left_as_it_came() -> None:
    raw = RAW_HEAD.replace(b"{stray}", b" ").replace(b"line two", b"line\rtwo")
    assert parse_mail(raw).text == "Body line one\r\nline\rtwo\r\n"


UTF7_MAIL = (
    b"From: Alice <alice@plan.example>\r\nTo: bo@clinic.example\r\n"
    b"Subject: =?utf-7?q?Lab_+2D0-x?=\r\nMessage-ID: <m7@plan.example>\r\n"
    b"Content-Type: text/plain; charset=utf-7\r\n\r\nHello +2D0- there +ZeVnLIqe-\r\n"
)


def test_a_charset_that_decodes_to_lone_surrogates_gives_text_that_utf8_can_hold() -> None:
    # UTF-7's "+2D0-" is half of a surrogate pair: Python decodes it to a lone surrogate.
    mail = parse_mail(UTF7_MAIL)
    assert mail.text == "Hello \ufffd there \u65e5\u672c\u8a9e\r\n"
    assert mail.subject == "Lab \ufffdx"
    mail.text.encode("utf-8")
    mail.subject.encode("utf-8")


def test_a_mail_of_lf_lines_with_crlf_in_its_body_keeps_its_headers() -> None:
    raw = RAW_HEAD.replace(b"{stray}", b" ").replace(b"\r\n", b"\n").replace(b"line two", b"line\r\ntwo")
    mail = parse_mail(raw)
    assert mail.recipients == ("bo@clinic.example",) and mail.message_id == "m1@plan.example"


# --- headers whose encoded words decode to lone surrogates (chalicelib/gateway/mime_headers.py) ---


def test_a_from_display_name_in_utf7_is_read_with_its_surrogate_replaced() -> None:
    raw = UTF7_MAIL.replace(b"From: Alice", b"From: =?utf-7?q?Alice_+2D0-_A?=")
    mail = parse_mail(raw)
    assert mail.sender == "alice@plan.example" and mail.sender_name == "Alice \ufffd A"
    assert mail.recipients == ("bo@clinic.example",)


def test_an_attachment_name_in_utf7_is_read_and_the_file_kept() -> None:
    raw = (
        b"From: alice@plan.example\r\nTo: bo@clinic.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee file.\r\n'
        b'--b\r\nContent-Type: application/pdf; name="=?utf-7?q?r+2D0-.pdf?="\r\n'
        b'Content-Disposition: attachment; filename="=?utf-7?q?r+2D0-.pdf?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"%PDF-1.4") + b"\r\n--b--\r\n"
    )
    (attachment,) = parse_mail(raw).attachments
    assert attachment.data == b"%PDF-1.4" and attachment.content_type == "application/pdf"
    assert "\ufffd" in attachment.filename and attachment.filename.endswith(".pdf")
    attachment.filename.encode("utf-8")


def test_a_utf7_display_name_that_decodes_to_a_line_break_adds_no_recipient() -> None:
    # "+AA0ACg-" is CR LF in UTF-7; "+2D0-" makes the word need the tolerant reading.
    raw = UTF7_MAIL.replace(
        b"To: bo@clinic.example", b"To: =?utf-7?q?Bo+2D0AAAANAAo-Bcc:_thief@evil.example?= <bo@clinic.example>"
    )
    try:
        mail = parse_mail(raw)
    except MailRefused as refused:
        assert refused.reason is RefusalReason.BAD_RECIPIENT
    else:
        assert mail.recipients == ("bo@clinic.example",)


def test_the_tolerant_policy_leaves_other_headers_as_the_standard_library_reads_them() -> None:
    from email import message_from_bytes
    from email.policy import default

    from chalicelib.gateway.mime_headers import TOLERANT_POLICY, utf8_encoded_words

    raw = b"From: =?iso-8859-1?q?J=F6rg?= <j@plan.example>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n"
    for name in ("From", "Subject"):
        assert str(message_from_bytes(raw, policy=TOLERANT_POLICY)[name]) == str(
            message_from_bytes(raw, policy=default)[name]
        )
    assert utf8_encoded_words("=?utf-7?q?a+2D0-b?= plain") == "=?utf-8?b?Ye+/vWI=?= plain"
