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
