"""Attachment downloads that only a participant can fetch, within the deployment's limits.

Small files (up to ``inline_download_max_bytes``, default 4 MB, below Lambda's 6 MB
response payload) are decrypted and returned by the API itself. Larger files are
served through an S3 Object Lambda access point: the API answers with a 60-second
presigned GET on that access point, and the ``attachment_download`` function decrypts
the ciphertext on the fly (``object_lambda_get``). Either way no plaintext is ever
stored. In local mode (moto has no Object Lambda) every download is served inline.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from chalicelib.accounts.sessions import Principal
from chalicelib.audit.records import RequestInfo
from chalicelib.errors import NotFound, SealpostError
from chalicelib.messaging.content import Attachment
from chalicelib.messaging.reader import MessageReader
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

PRESIGNED_SECONDS = 60
_KEY = re.compile(r"^/?threads/([0-9a-f]{32})/([0-9a-f]{32})/attachments/([0-9a-f]{32})$")


@dataclass(frozen=True)
class Download:
    """Either the file itself or where to fetch it."""

    attachment: Attachment | None = None
    redirect_url: str | None = None


def content_disposition(filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:100] or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class DownloadService:
    settings: Settings
    reader: MessageReader
    s3_factory: Callable[[], Any]

    def deliver(
        self,
        principal: Principal,
        thread_id: str,
        message_id: str,
        attachment_id: str,
        request: RequestInfo,
        *,
        redirect_always: bool = False,
    ) -> Download:
        """The file inline, or a short-lived Object Lambda URL: for large files, and for every file when
        ``redirect_always`` (browsers' links: API Gateway returns binary bodies only when the first type
        of the Accept header is a binary one, and a browser's navigation asks for text/html first)."""
        located = self.reader.attachment(principal, thread_id, message_id, attachment_id, request)
        inline = not redirect_always and located.record.stored.size <= self.settings.inline_download_max_bytes
        if self.settings.local_mode or inline:
            return Download(attachment=self.reader.open_attachment(located))
        url = self.s3_factory().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.settings.download_access_point_arn,
                "Key": located.record.stored.key,
                "ResponseContentDisposition": content_disposition(located.info.filename),
            },
            ExpiresIn=PRESIGNED_SECONDS,
        )
        return Download(redirect_url=str(url))

    def object_lambda_get(self, event: dict[str, Any]) -> None:
        """The S3 Object Lambda transformation: decrypt the requested attachment, or answer with an error."""
        context = event["getObjectContext"]
        route, token = context["outputRoute"], context["outputToken"]
        s3 = self.s3_factory()
        match = _KEY.match(unquote(urlsplit(event.get("userRequest", {}).get("url", "")).path))
        try:
            if match is None:
                raise NotFound()
            thread_id, message_id, attachment_id = match.groups()
            located = self.reader.attachment_for_delivery(thread_id, message_id, attachment_id)
            attachment = self.reader.open_attachment(located)
        except SealpostError as error:
            log.warning("object lambda refused", extra={"code": error.code})
            s3.write_get_object_response(
                RequestRoute=route,
                RequestToken=token,
                StatusCode=404 if isinstance(error, NotFound) else 403,
                ErrorCode="NoSuchKey" if isinstance(error, NotFound) else "AccessDenied",
                ErrorMessage=error.public_message,
            )
            return
        s3.write_get_object_response(
            RequestRoute=route,
            RequestToken=token,
            Body=attachment.data,
            ContentType="application/octet-stream",
            ContentDisposition=content_disposition(attachment.filename),
            CacheControl="no-store",
        )
