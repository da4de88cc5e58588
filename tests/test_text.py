"""Text from outside becomes one safe line, whatever it holds."""

from __future__ import annotations

from chalicelib.text import one_line


def test_line_breaks_of_every_kind_become_spaces() -> None:
    assert one_line("a\r\nBcc: x@evil.test\rb\nc\u2028d\u2029e\x85f") == "a Bcc: x@evil.test b c d e f"


def test_bidirectional_controls_are_removed_and_spaces_collapse() -> None:
    assert one_line("  invoice\u202e  fdp.exe \u2066x\u2069 ") == "invoice fdp.exe x"


def test_undecodable_bytes_and_lone_surrogates_become_replacement_characters() -> None:
    from_mail = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert one_line(from_mail) == "caf\ufffd"
    assert one_line("a\ud800b\udfffc") == "a\ufffdb\ufffdc"


def test_the_result_is_cut_and_never_none() -> None:
    assert one_line("x" * 50, 10) == "x" * 10
    assert one_line(None) == ""
    assert one_line(42) == "42"


def _word(text: str, encoding: str = "b") -> str:
    """``text`` as one RFC 2047 encoded word, B (base64) or Q (quoted-printable)."""
    import base64
    from email import quoprimime

    if encoding == "q":
        return quoprimime.header_encode(text.encode(), charset="utf-8")
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def test_encoded_words_are_decoded_and_their_line_breaks_cleaned_too() -> None:
    from chalicelib.text import header_text

    assert header_text("[Secure] " + _word("Lab results\r\nBcc: evil@x.example")) == (
        "[Secure] Lab results Bcc: evil@x.example"
    )
    assert header_text(_word("Pat\nReply-To: z@x.example", "q")) == "Pat Reply-To: z@x.example"
    assert header_text(_word(_word(_word("a\r\nb")))) == "a b"  # nested words, decoded to the end
    assert header_text("=?utf-8?q?caf=C3=A9?= and plain = ? text") == "café and plain = ? text"


def test_encoded_words_that_cannot_be_decoded_or_nest_too_deep_are_left_harmless() -> None:
    import re

    from chalicelib.text import header_text

    assert header_text("=?x-no-such-charset?b?AAAA?= hi") == "hi"
    assert header_text("=?utf-8?b?#####?= hi") == "hi"  # not base64
    # Words with spaces inside are no encoded words: the email package writes them as they are.
    assert header_text("=?utf-8?q?a b?= hi") == "=?utf-8?q?a b?= hi"
    deep = "a\r\nBcc: evil@x.example"
    for _ in range(8):
        deep = _word(deep)
    cleaned = header_text(deep, 2000)
    assert not re.search(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=", cleaned) and "\n" not in cleaned


def test_a_long_encoded_word_is_cut_after_decoding() -> None:
    from chalicelib.text import header_text

    assert header_text(_word("x" * 150), 100) == "x" * 100
