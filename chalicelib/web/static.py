"""The few static files the pages need, served by the app itself (no separate bucket to keep in step)."""

from __future__ import annotations

import functools
from pathlib import Path

from chalice.app import Response

from chalicelib.errors import NotFound

_STATIC = Path(__file__).resolve().parent.parent / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@functools.cache
def _read(name: str) -> tuple[str, str]:
    path = _STATIC / name
    return path.read_text(encoding="utf-8"), _TYPES[path.suffix]


def serve(name: str) -> Response:
    # Only plain names of files that exist in the folder: no paths, no dot files.
    if "/" in name or "\\" in name or name.startswith(".") or not (_STATIC / name).is_file():
        raise NotFound("There is no such file.")
    if Path(name).suffix not in _TYPES:
        raise NotFound("There is no such file.")
    body, content_type = _read(name)
    return Response(body=body, status_code=200, headers={"Content-Type": content_type})
