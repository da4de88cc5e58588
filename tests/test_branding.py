"""The plan's brand by settings: name, logo, colours, support contact, footer; a neutral default."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.branding import NEUTRAL, contrast_ratio
from chalicelib.errors import ConfigurationError
from chalicelib.settings import Settings
from tests.support import SETTINGS_ENV as BASE
from tests.support import WebClient


def test_contrast_ratios_follow_wcag() -> None:
    assert round(contrast_ratio("#ffffff", "#000000"), 1) == 21.0
    assert round(contrast_ratio("#777777", "#ffffff"), 2) == 4.48
    assert contrast_ratio(NEUTRAL.color, "#ffffff") >= 4.5
    assert contrast_ratio(NEUTRAL.color_dark, "#ffffff") > contrast_ratio(NEUTRAL.color, "#ffffff")


def test_the_default_brand_is_neutral() -> None:
    brand = Settings.from_env(BASE).brand
    assert brand == NEUTRAL
    assert "encrypted and retained for audit" in brand.footer


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEALPOST_BRAND_COLOR", "#7a9cc6", "contrast of at least 4.5:1"),
        ("SEALPOST_BRAND_COLOR", "blue", "#rrggbb"),
        ("SEALPOST_BRAND_COLOR", "#1d4f91; background: url(x)", "#rrggbb"),
        ("SEALPOST_ACCENT_COLOR", "#12345", "#rrggbb"),
        ("SEALPOST_LOGO_URL", "http://cdn.example/logo.png", "https://"),
        ("SEALPOST_LOGO_URL", "javascript:alert(1)", "https://"),
        ("SEALPOST_LOGO_URL", "/static/../app.py", "https://"),
    ],
)
def test_unusable_brand_settings_are_refused_with_the_setting_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as caught:
        Settings.from_env({**BASE, name: value})
    assert name in str(caught.value)


@pytest.fixture
def branded(monkeypatch: pytest.MonkeyPatch, stack: Any) -> None:
    monkeypatch.setenv("SEALPOST_PLAN_NAME", "Riverside Health Plan")
    monkeypatch.setenv("SEALPOST_LOGO_URL", "https://cdn.riverside.example/logo.svg")
    monkeypatch.setenv("SEALPOST_BRAND_COLOR", "#0b6e4f")
    monkeypatch.setenv("SEALPOST_ACCENT_COLOR", "#f2c14e")
    monkeypatch.setenv("SEALPOST_SUPPORT_CONTACT", "Provider Services at 1-800-555-0100")
    monkeypatch.setenv("SEALPOST_FOOTER_TEXT", "Riverside Health Plan <Secure> Messaging")


def test_pages_carry_the_plan_brand_from_settings(web: WebClient, branded: None) -> None:
    reply = web.get("/signin")
    page = reply.text
    assert "<title>Sign in · Riverside Health Plan Secure Messaging</title>" in page
    assert '<img class="brand-logo" src="https://cdn.riverside.example/logo.svg" alt=""' in page
    nonce = re.search(r"'nonce-([^']+)'", reply.header("content-security-policy")).group(1)
    assert f'<style nonce="{nonce}">:root {{ --brand: #0b6e4f; --brand-dark: #084d37; --accent: #f2c14e; }}' in page
    assert "Riverside Health Plan &lt;Secure&gt; Messaging" in page
    assert "For help, contact Provider Services at 1-800-555-0100." in page
    img_src = re.search(r"img-src ([^;]+)", reply.header("content-security-policy")).group(1)
    assert img_src == "'self' data: https://cdn.riverside.example"


def test_error_pages_carry_the_brand_too(web: WebClient, branded: None) -> None:
    reply = web.get("/no/such/page")
    assert reply.status == 404
    assert "Riverside Health Plan Secure Messaging" in reply.text and "brand-logo" in reply.text


def test_the_neutral_logo_is_served_by_the_app(web: WebClient, stack: Any) -> None:
    page = web.get("/signin").text
    assert 'src="/static/sealpost-logo.svg"' in page
    logo = web.get("/static/sealpost-logo.svg")
    assert logo.status == 200 and logo.header("content-type").startswith("image/svg+xml")
    assert b"<script" not in logo.body
