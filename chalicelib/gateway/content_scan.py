"""Sensitive data in outgoing mail, reported by type and count only (never the values).

What counts, chosen for few false positives:

- ``ssn``: US Social Security numbers written ``AAA-GG-SSSS`` or ``AAA GG SSSS``; nine
  bare digits only right after an SSN keyword. Never issued numbers do not count: area
  000, 666 or 900-999, group 00, serial 0000, and well-known sample numbers.
- ``payment_card``: 13-19 digits, bare or in groups split by one kind of separator,
  that pass the Luhn check and start like a card scheme's number (IIN) of that length.
- ``medicare_mbi``: Medicare Beneficiary Identifiers in the CMS format (11 characters,
  letters other than S, L, O, I, B, Z), with or without the usual dashes.
- ``npi``: 10-digit National Provider Identifiers starting with 1 or 2 whose check digit
  is right (Luhn over ``80840`` + the number), after an NPI keyword (a bare 10-digit
  number is as often a telephone number).
- ``dob_with_name``: a date of birth after a label (DOB, date of birth, born, ...) that
  is a real past date, with a person's name nearby: a "Name:"-style label or a
  capitalised first and last name.

Text is normalised first (NFKC, invisible format characters removed, dashes unified), so
full-width digits or zero-width spaces do not hide a number.

What cannot be read counts too (R11, fail closed): ``scan_mail`` reads PDF and Office text
and forwarded messages through ``attachment_text`` and reports the rest by ``UnreadableKind``
(``unreadable_pdf``, ``unreadable_image``, ``forwarded_message``, ``html_comment``,
``smime_opaque``, ...), by kind and count only. File names are scanned as text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.gateway.attachment_text import Budget, Caps, Extracted, UnreadableKind, read_attachment

if TYPE_CHECKING:
    from chalicelib.gateway.mime_intake import InboundMail


class SensitiveKind(StrEnum):
    SSN = "ssn"
    PAYMENT_CARD = "payment_card"
    MEDICARE_MBI = "medicare_mbi"
    NPI = "npi"
    DOB_WITH_NAME = "dob_with_name"


@dataclass(frozen=True)
class ScanResult:
    """Findings by kind (only kinds found), and content that could not be read, by kind.

    Unreadable content counts as sensitive (``found``, and in ``as_record``) unless the
    deployment relaxed that (``unreadable_is_sensitive=False``): then only real findings count.
    """

    counts: tuple[tuple[SensitiveKind, int], ...] = ()
    unreadable: tuple[tuple[UnreadableKind, int], ...] = ()
    unreadable_is_sensitive: bool = True

    @classmethod
    def of(
        cls,
        counts: Counter[SensitiveKind],
        unreadable: Counter[UnreadableKind] | None = None,
        *,
        unreadable_is_sensitive: bool = True,
    ) -> ScanResult:
        return cls(
            tuple(sorted((k, n) for k, n in counts.items() if n > 0)),
            tuple(sorted((k, n) for k, n in (unreadable or Counter()).items() if n > 0)),
            unreadable_is_sensitive,
        )

    @property
    def found(self) -> bool:
        return bool(self.counts) or (self.unreadable_is_sensitive and bool(self.unreadable))

    def count(self, kind: SensitiveKind | UnreadableKind) -> int:
        return dict[str, int](self.counts + self.unreadable).get(kind, 0)

    def as_record(self) -> dict[str, int]:
        """For audit records: ``{"ssn": 2, "unreadable_pdf": 1, ...}``. Counts only, of what counts."""
        counted = self.counts + self.unreadable if self.unreadable_is_sensitive else self.counts
        return {str(kind): number for kind, number in counted}

    def unreadable_record(self) -> dict[str, int]:
        """Content that could not be read, by kind, whether or not it counts as sensitive."""
        return {str(kind): number for kind, number in self.unreadable}

    def __add__(self, other: ScanResult) -> ScanResult:
        total: Counter[SensitiveKind] = Counter(dict(self.counts))
        total.update(dict(other.counts))
        unreadable: Counter[UnreadableKind] = Counter(dict(self.unreadable))
        unreadable.update(dict(other.unreadable))
        # Fail closed: if either side counts unreadable content, the sum does.
        strict = self.unreadable_is_sensitive or other.unreadable_is_sensitive
        return ScanResult.of(total, unreadable, unreadable_is_sensitive=strict)


# --- helpers ----------------------------------------------------------------------------------

_DASHES = str.maketrans({ch: "-" for ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.translate(_DASHES)


def luhn_valid(digits: str) -> bool:
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _keyword_before(pattern: re.Pattern[str], text: str, start: int, window: int) -> bool:
    return pattern.search(text[max(0, start - window) : start]) is not None


# --- SSN --------------------------------------------------------------------------------------

_SSN_FORMATTED = re.compile(r"(?<![0-9A-Za-z-])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z]|[-.][0-9])")
_SSN_BARE = re.compile(r"(?<![0-9A-Za-z-])([0-9]{3})([0-9]{2})([0-9]{4})(?![0-9A-Za-z]|[-.][0-9])")
_SSN_KEYWORD = re.compile(
    r"\b(?:SSNs?|SS\s?#|S\.S\.N\.?|social\s+security(?:\s+(?:number|no\.?|#))?|soc\.?\s*sec\.?(?:\s*(?:no\.?|#))?)",
    re.IGNORECASE,
)
_SSN_SAMPLES = frozenset({"078051120", "219099999", "123456789"})


def _valid_ssn(area: str, group: str, serial: str) -> bool:
    number = area + group + serial
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return number not in _SSN_SAMPLES and len(set(number)) > 1


def _count_ssn(text: str) -> int:
    found = sum(1 for m in _SSN_FORMATTED.finditer(text) if _valid_ssn(m[1], m[3], m[4]))
    found += sum(
        1
        for m in _SSN_BARE.finditer(text)
        if _valid_ssn(m[1], m[2], m[3]) and _keyword_before(_SSN_KEYWORD, text, m.start(), 40)
    )
    return found


# --- payment cards ----------------------------------------------------------------------------

_CARD = re.compile(
    r"(?<![0-9])(?<![0-9][ -])"
    r"(?:[0-9]{4,6}(?P<sep>[ -])[0-9]{3,7}(?:(?P=sep)[0-9]{1,7}){1,3}|[0-9]{13,19})"
    r"(?![0-9]|[ -][0-9])"
)


def _card_scheme_allows(number: str) -> bool:
    """Whether ``number`` starts like a card of some scheme that issues numbers of its length."""
    length = len(number)
    two, three, four, six = int(number[:2]), int(number[:3]), int(number[:4]), int(number[:6])
    if number[0] == "4":
        return length in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16  # Mastercard
    if two in (34, 37):
        return length == 15  # American Express
    if four == 6011 or two == 65 or 644 <= three <= 649 or 622126 <= six <= 622925:
        return 16 <= length <= 19  # Discover
    if 3528 <= four <= 3589:
        return 16 <= length <= 19  # JCB
    if 300 <= three <= 305 or three == 309 or two in (36, 38, 39):
        return 14 <= length <= 19  # Diners Club
    if two == 62:
        return 16 <= length <= 19  # UnionPay
    if two == 50 or 56 <= two <= 69:
        return 13 <= length <= 19  # Maestro
    return False


def _count_cards(text: str) -> int:
    found = 0
    for match in _CARD.finditer(text):
        number = re.sub(r"[ -]", "", match[0])
        if 13 <= len(number) <= 19 and len(set(number)) > 1 and luhn_valid(number) and _card_scheme_allows(number):
            found += 1
    return found


# --- Medicare Beneficiary Identifier ------------------------------------------------------------

_L = "AC-HJKMNP-RT-Y"  # letters used in MBIs: no S, L, O, I, B, Z
_MBI = re.compile(
    rf"(?<![0-9A-Za-z-])[1-9][{_L}][{_L}0-9][0-9](-?)[{_L}][{_L}0-9][0-9]\1[{_L}]{{2}}[0-9]{{2}}(?![0-9A-Za-z]|-[0-9A-Za-z])",
    re.IGNORECASE,
)


def _count_mbi(text: str) -> int:
    return sum(1 for _ in _MBI.finditer(text))


# --- NPI ----------------------------------------------------------------------------------------

_NPI = re.compile(r"(?<![0-9A-Za-z-])[12][0-9]{9}(?![0-9A-Za-z]|[-.][0-9])")
_NPI_KEYWORD = re.compile(
    r"\b(?:NPIs?|national\s+provider(?:\s+(?:identifier|id|number))?|provider\s+(?:id|number|no\.?|#))", re.IGNORECASE
)


def npi_valid(number: str) -> bool:
    return len(number) == 10 and number[0] in "12" and luhn_valid("80840" + number)


def _count_npi(text: str) -> int:
    return sum(
        1 for m in _NPI.finditer(text) if npi_valid(m[0]) and _keyword_before(_NPI_KEYWORD, text, m.start(), 200)
    )


# --- dates of birth next to names -----------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<mname>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DOB = re.compile(
    r"\b(?P<label>D\.?O\.?B\.?|date\s+of\s+birth|birth\s*date|birthday|born(?:\s+on)?)"
    r"\s*[:#=-]?\s*(?:(?:is|was)\s+)?"
    r"(?:"
    r"(?P<a>[0-9]{1,2})(?P<s1>[/.-])(?P<b>[0-9]{1,2})(?P=s1)(?P<y1>[0-9]{4}|[0-9]{2})"
    r"|(?P<y2>[0-9]{4})(?P<s2>[/.-])(?P<m2>[0-9]{1,2})(?P=s2)(?P<d2>[0-9]{1,2})"
    r"|" + _MONTH + r"\s+(?P<d3>[0-9]{1,2})(?:st|nd|rd|th)?,?\s+(?P<y3>[0-9]{4})"
    r"|(?P<d4>[0-9]{1,2})(?:st|nd|rd|th)?\s+" + _MONTH.replace("mname", "mname4") + r",?\s+(?P<y4>[0-9]{4})"
    r")(?![0-9])",
    re.IGNORECASE,
)
_NAME_LABEL = re.compile(
    r"\b(?:(?:full|first|last|patient|member)\s+)?name\s*[:=-]"
    r"|\b(?:patient|member|insured|subscriber|beneficiary|enrollee|dependent)\s*:",
    re.IGNORECASE,
)
_CAPITALISED_NAME_AT = re.compile(r"(?=(\b([A-Z][a-z'’-]+),?(?:\s+[A-Z]\.?)?\s+([A-Z][a-z'’-]+)\b))")
# Capitalised words that are not (part of) a person's name in this context.
_NOT_NAME_WORDS = """
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Date Birth Born Birthday Dob Name Patient Member Insured Subscriber Beneficiary Enrollee Dependent
    Dear Hello Hi Thanks Thank Regards Best Sincerely Re Fwd Fw Subject From To Cc Sent Attn Please
    The This That These Those There Their Our Your We You He She They It Its And Or But For With
    Mr Mrs Ms Miss Dr Prof Sir Madam Plan Health Secure Secured Claim Claims Policy Account Number
    Id Ssn Npi Mbi Medicare Medicaid Provider Group Address Phone Email Street Avenue Suite City State
"""
_NOT_NAMES = frozenset({*(m.capitalize() for m in _MONTHS), *_NOT_NAME_WORDS.split()})


def _real_birth_date(match: re.Match[str]) -> bool:
    today = clock.now().date()
    candidates: list[tuple[int, int, int]] = []
    if match["a"]:
        a, b, year = int(match["a"]), int(match["b"]), int(match["y1"])
        if len(match["y1"]) == 2:
            year += 1900 if 2000 + year > today.year else 2000
        candidates = [(year, a, b), (year, b, a)]  # US month/day first, then day/month
    elif match["y2"]:
        candidates = [(int(match["y2"]), int(match["m2"]), int(match["d2"]))]
    elif match["mname"]:
        candidates = [(int(match["y3"]), _MONTHS[match["mname"].lower()], int(match["d3"]))]
    elif match["mname4"]:
        candidates = [(int(match["y4"]), _MONTHS[match["mname4"].lower()], int(match["d4"]))]
    for year, month, day in candidates:
        try:
            born = date(year, month, day)
        except ValueError:
            continue
        if born.year >= 1900 and born <= today:
            return True
    return False


class _NameSpans:
    """Where names and name labels are in a text, found once, looked up by position."""

    def __init__(self, text: str) -> None:
        spans = [m.span() for m in _NAME_LABEL.finditer(text)]
        # Overlapping matches (a lookahead), so "Dear Jane Doe" still yields "Jane Doe".
        for match in _CAPITALISED_NAME_AT.finditer(text):
            if match[2] not in _NOT_NAMES and match[3] not in _NOT_NAMES:
                spans.append((match.start(), match.start() + len(match[1])))
        spans.sort()
        self._spans = spans
        self._starts = [start for start, _ in spans]

    def within(self, low: int, high: int) -> bool:
        index = bisect_left(self._starts, low)
        while index < len(self._spans) and self._starts[index] < high:
            if self._spans[index][1] <= high:
                return True
            index += 1
        return False


def _count_dob(text: str, window: int = 80) -> int:
    births = [m for m in _DOB.finditer(text) if _real_birth_date(m)]
    if not births:
        return 0
    names = _NameSpans(text)
    return sum(
        1
        for m in births
        if names.within(max(0, m.start() - window), m.start()) or names.within(m.end(), m.end() + window)
    )


# --- scanning ------------------------------------------------------------------------------------


def scan_text(text: str | None) -> ScanResult:
    if not text:
        return ScanResult()
    prepared = normalise(text)
    counts: Counter[SensitiveKind] = Counter(
        {
            SensitiveKind.SSN: _count_ssn(prepared),
            SensitiveKind.PAYMENT_CARD: _count_cards(prepared),
            SensitiveKind.MEDICARE_MBI: _count_mbi(prepared),
            SensitiveKind.NPI: _count_npi(prepared),
            SensitiveKind.DOB_WITH_NAME: _count_dob(prepared),
        }
    )
    return ScanResult.of(counts)


_BLOCK_TAGS = """
    address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6
    header hr li main nav ol p pre section table tbody td tfoot th thead tr ul
"""


class _TextExtractor(HTMLParser):
    """Visible text (``pieces``); text a reader does not see but that travels with the mail
    (``hidden``: comments, alt and title attributes); and comments that hold text (``comments``)."""

    _BLOCKS = frozenset(_BLOCK_TAGS.split())
    _SKIPPED = frozenset({"script", "style", "template"})
    _HIDDEN_ATTRIBUTES = frozenset({"alt", "title", "aria-label", "placeholder", "value"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden: list[str] = []
        self.comments = 0
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += [value for name, value in attrs if value and name in self._HIDDEN_ATTRIBUTES]
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.pieces.append(data)

    def handle_comment(self, data: str) -> None:
        stripped = data.strip()
        if stripped.startswith("[if") and "]>" in stripped:
            # An Outlook conditional comment: Outlook shows what it holds, so it is read as HTML.
            visible, hidden, comments = html_parts(stripped.split("]>", 1)[1].rsplit("<![endif]", 1)[0])
            self.hidden += [visible, *hidden]
            self.comments += comments
        elif _HAS_TEXT.search(stripped) and not stripped.startswith("[endif]"):
            self.comments += 1
            self.hidden.append(data)


_HAS_TEXT = re.compile(r"[0-9A-Za-z]")


def html_parts(html: str) -> tuple[str, list[str], int]:
    """The visible text of ``html``, its hidden texts, and how many comments hold text."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return "".join(extractor.pieces), extractor.hidden, extractor.comments


def html_to_text(html: str) -> str:
    """The visible text of ``html`` (inline tags join, block tags break lines; scripts and styles dropped)."""
    return html_parts(html)[0]


def scan_html(html: str | None) -> ScanResult:
    """The visible text, and the hidden texts one by one; a comment holding text counts as unreadable
    (``html_comment``): a reader never sees it, and the scanner cannot tell what it is for."""
    if not html:
        return ScanResult()
    visible, hidden, comments = html_parts(html)
    return scan([visible, *hidden]) + ScanResult.of(Counter(), Counter({UnreadableKind.HTML_COMMENT: comments}))


def scan(texts: Iterable[str | None]) -> ScanResult:
    total = ScanResult()
    for text in texts:
        total = total + scan_text(text)
    return total


def _scan_extracted(extracted: Extracted) -> ScanResult:
    found = scan(extracted.texts) + ScanResult.of(Counter(), extracted.unreadable)
    for html in extracted.htmls:
        found = found + scan_html(html)
    return found


def scan_mail(mail: InboundMail, *, unscannable_is_sensitive: bool = True, caps: Caps | None = None) -> ScanResult:
    """Scan subject, bodies, file names and attachments (text, PDF and Office text extracted).

    Content that cannot be read (``UnreadableKind``: images, archives, forwarded messages,
    S/MIME, encrypted files, HTML comments, ...) counts as sensitive unless
    ``unscannable_is_sensitive`` is False (the ``UnscannableContentIsSensitive`` parameter);
    real findings count either way. The text and HTML bodies are usually the same content
    twice, so per kind the larger of their two counts is taken, not the sum. ``caps`` bounds the
    reading of documents (defaults: ``attachment_text.Caps``).
    """
    text, html = scan_text(mail.text), scan_html(mail.html)
    bodies: Counter[SensitiveKind] = Counter({kind: max(text.count(kind), html.count(kind)) for kind in SensitiveKind})
    result = scan_text(mail.subject) + ScanResult.of(bodies, Counter(dict(html.unreadable)))
    budget = Budget(caps or Caps())
    for attachment in mail.attachments:
        result = result + scan_text(attachment.filename.replace("_", " "))
        extracted = read_attachment(attachment.data, attachment.content_type, attachment.filename, budget)
        result = result + _scan_extracted(extracted)
    return ScanResult(result.counts, result.unreadable, unscannable_is_sensitive)
