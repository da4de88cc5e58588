"""HTML bodies are shown only after sanitising with nh3."""

from __future__ import annotations

from chalicelib.messaging.html_sanitize import sanitize


def test_scripts_handlers_styles_and_dangerous_links_are_removed() -> None:
    dirty = (
        '<p onclick="x()" style="color:red">Hi<script>alert(1)</script><style>p{}</style>'
        '<img src="https://tracker.example/p.gif"><iframe src="x"></iframe>'
        '<a href="javascript:alert(1)">j</a><form><input></form></p>'
    )
    clean = sanitize(dirty)
    for banned in ("onclick", "style", "script", "img", "iframe", "javascript", "form", "input"):
        assert banned not in clean
    assert clean.startswith("<p>Hi")


def test_ordinary_formatting_and_safe_links_stay() -> None:
    clean = sanitize('<h2>Plan</h2><ul><li><b>Step</b></li></ul><a href="https://plan.example/help">help</a>')
    assert "<h2>Plan</h2>" in clean and "<b>Step</b>" in clean
    assert 'href="https://plan.example/help"' in clean and 'rel="noopener noreferrer nofollow"' in clean
