"""The plan's brand on every page: name, logo, colours, support contact and footer text.

Colours are checked when settings are read, so a deployment cannot make the portal
unreadable: the brand colour carries white text (header, buttons) and must reach the
WCAG 2.2 AA contrast of 4.5:1 against white. Everything here is plain data that the
templates put into a nonce'd ``<style>`` block and the page chrome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_LOGO = "/static/sealpost-logo.svg"
DEFAULT_BRAND_COLOR = "#1d4f91"
DEFAULT_ACCENT_COLOR = "#ffbf47"
MIN_TEXT_CONTRAST = 4.5

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_STATIC_LOGO = re.compile(r"^/static/[A-Za-z0-9][A-Za-z0-9_.-]*\.svg$")


def parse_color(value: str) -> str:
    """A ``#rrggbb`` colour, lower-cased; ``ValueError`` for anything else."""
    if not _HEX.match(value):
        raise ValueError("must be a colour written as #rrggbb")
    return value.lower()


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(first: str, second: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    high, low = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def darker(color: str, factor: float = 0.7) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * factor):02x}" for c in (r, g, b))


def check_brand_color(value: str) -> str:
    color = parse_color(value)
    if contrast_ratio(color, "#ffffff") < MIN_TEXT_CONTRAST:
        raise ValueError(f"must have a contrast of at least {MIN_TEXT_CONTRAST}:1 with white text")
    return color


def check_logo_url(value: str) -> str:
    """A logo served by the app itself (``/static/<name>.svg``) or an ``https://`` image URL."""
    if _STATIC_LOGO.match(value):
        return value
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.netloc and not parts.username and '"' not in value:
        return value
    raise ValueError("must be /static/<name>.svg or an https:// address")


@dataclass(frozen=True)
class Brand:
    plan_name: str
    logo_url: str
    color: str
    accent: str
    support_contact: str
    footer_text: str

    @property
    def color_dark(self) -> str:
        return darker(self.color)

    @property
    def logo_origin(self) -> str | None:
        """The origin a logo on another host is loaded from (for the page's img-src), if any."""
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme == "https" else None

    @property
    def footer(self) -> str:
        return self.footer_text or (
            f"Messages sent through {self.plan_name} Secure Messaging are encrypted and retained for audit purposes."
        )


NEUTRAL = Brand(
    plan_name="Sealpost",
    logo_url=DEFAULT_LOGO,
    color=DEFAULT_BRAND_COLOR,
    accent=DEFAULT_ACCENT_COLOR,
    support_contact="the associate with whom you regularly conduct business",
    footer_text="",
)
