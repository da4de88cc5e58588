"""Jinja2 environments: HTML with autoescaping for pages and mail, plain text for text mail."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def html_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def text_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - plain-text mail bodies, never HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_html(name: str, **context: object) -> str:
    return html_environment().get_template(name).render(**context)


def render_text(name: str, **context: object) -> str:
    return text_environment().get_template(name).render(**context)
