"""The few static files the pages need, served by the app itself (no separate bucket to keep in step)."""

from __future__ import annotations

import functools
from pathlib import Path

from chalice.app import Response

from chalicelib.errors import NotFound
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.routing import Routes
from chalicelib.wiring.services import Services

routes = Routes(__name__)

_STATIC = Path(__file__).resolve().parent.parent / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@functools.cache
def _available() -> frozenset[str]:
    """The servable files, listed once: a request name is looked up here, never used as a path."""
    return frozenset(p.name for p in _STATIC.iterdir() if p.is_file() and p.suffix in _TYPES)


@functools.cache
def _read(name: str) -> tuple[str, str]:
    path = _STATIC / name
    return path.read_text(encoding="utf-8"), _TYPES[path.suffix]


@routes.route("/static/{name}", "GET")
def serve(incoming: Incoming, services: Services, name: str) -> Response:
    if name not in _available():
        raise NotFound("There is no such file.")
    body, content_type = _read(name)
    return Response(body=body, status_code=200, headers={"Content-Type": content_type})
