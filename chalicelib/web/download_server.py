"""The streaming download function: ``GET /d/<grant>`` answers with a decrypted attachment, streamed in
chunks, never whole in memory and never stored.

A WSGI application, so that one piece of code serves everywhere: in a deployment the AWS Lambda
Web Adapter starts it (``download_server.sh``) behind a Lambda function URL in RESPONSE_STREAM
mode (up to 200 MB; the first 6 MB at full speed, then about 2 MB/s), and ``make run`` serves it
on a local port. The grant is minted by the API after its membership check
(``DownloadService.deliver``) and used up here (``DownloadService.stream``).

The length is known (the attachment's size), so a stream cut short by a failed integrity check
(the ciphertext's hash or signature, checked at its end) reaches the browser shorter than its
``Content-Length`` and is discarded, not saved as a whole file. Nothing of a request (the grant
included) is logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from chalicelib import logs
from chalicelib.audit.records import RequestInfo
from chalicelib.errors import SealpostError
from chalicelib.messaging.content import Attachment
from chalicelib.messaging.downloads import content_disposition
from chalicelib.web.http.responses import HSTS
from chalicelib.web.http.status import status_for
from chalicelib.wiring.services import Services

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_GRANT_PATH = re.compile(r"^/d/([A-Za-z0-9_-]{43})$")
_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox"),
    ("Referrer-Policy", "no-referrer"),
    ("Strict-Transport-Security", HSTS),
]
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 410: "Gone", 500: "Internal Server Error"}


def application(services: Callable[[], Services]) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application, with the services passed in (built for the settings of each request)."""

    def serve(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":  # the web adapter's readiness check
            return _text(start_response, 200, "ready")
        found = _GRANT_PATH.match(path)
        if found is None:
            return _text(start_response, 404, "There is nothing here.")
        if environ.get("REQUEST_METHOD") != "GET":
            return _text(start_response, 405, "Downloads are fetched with GET.")
        try:
            attachment = services().downloads.stream(found.group(1), _request_info(environ))
        except SealpostError as error:
            return _text(start_response, status_for(error), error.public_message)
        except Exception as exc:  # logged by type only; no traceback or message leaves the server
            log.error("download refused by an unexpected %s", type(exc).__name__)
            return _text(start_response, 500, "Something went wrong on our side. Please try again.")
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", content_disposition(attachment.filename)),
                ("Content-Length", str(attachment.size)),
                *_SECURITY_HEADERS,
            ],
        )
        return _guarded(attachment)

    return serve


def _guarded(attachment: Attachment) -> Iterator[bytes]:
    """The chunks; a failure half-way ends the response early (the reader already audited tampering)."""
    try:
        yield from attachment.chunks
    except Exception as exc:
        log.warning("download cut short", extra={"error": type(exc).__name__})


def _text(start_response: StartResponse, status: int, message: str) -> list[bytes]:
    body = message.encode()
    start_response(
        f"{status} {_REASONS.get(status, 'Error')}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *_SECURITY_HEADERS],
    )
    return [body]


def _request_info(environ: dict[str, Any]) -> RequestInfo:
    """Who asked: the function URL's request context, as the web adapter passes it on."""
    try:
        context = json.loads(environ.get("HTTP_X_AMZN_REQUEST_CONTEXT") or "{}")
    except ValueError:
        context = {}
    http = context.get("http") if isinstance(context, dict) else None
    source_ip = http.get("sourceIp") if isinstance(http, dict) else None
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return RequestInfo(
        request_id=str(request_id or f"download-{uuid.uuid4()}"),
        source_ip=str(source_ip) if source_ip else environ.get("REMOTE_ADDR"),
        user_agent=environ.get("HTTP_USER_AGENT"),
    )


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """wsgiref writes every request line to stderr; these hold grants, so nothing is written."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def log_error(self, format: str, *args: Any) -> None:
        return


def make(host: str, port: int, services: Callable[[], Services]) -> WSGIServer:
    """The server on ``host:port`` (``make run`` and the Lambda function both use it)."""
    return make_server(host, port, application(services), server_class=_ThreadingServer, handler_class=_QuietHandler)


def main() -> int:
    """The Lambda function's process: serve on the port the web adapter forwards to."""
    from chalicelib.wiring import services

    logs.configure()
    port = int(os.environ.get("AWS_LWA_PORT") or os.environ.get("PORT") or "8080")
    make("127.0.0.1", port, services.current).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
