"""Jinja2 environments: HTML with autoescaping for pages and mail, plain text for text mail."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def html_environment(*more_folders: Path) -> Environment:
    """Pages and HTML mail; ``more_folders`` are searched first (tools that add pages of their own)."""
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in (*more_folders, TEMPLATES)]),
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


def render_html_from(more_folders: tuple[Path, ...], name: str, **context: object) -> str:
    """``render_html`` that also finds templates in ``more_folders`` (searched first)."""
    return html_environment(*more_folders).get_template(name).render(**context)


def render_text(name: str, **context: object) -> str:
    return text_environment().get_template(name).render(**context)
