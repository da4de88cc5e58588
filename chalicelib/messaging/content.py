"""What a message says, as its participants read it: subject, text, HTML and the attachments'
names and sizes. Only ever held in memory; stored encrypted by ``messaging.vault``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from chalicelib.messaging.html_sanitize import sanitize


@dataclass(frozen=True)
class AttachmentInfo:
    attachment_id: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MessageContent:
    """A message as decrypted for someone allowed to read it."""

    subject: str
    text: str
    html: str | None
    attachments: tuple[AttachmentInfo, ...]

    @property
    def safe_html(self) -> str | None:
        return sanitize(self.html) if self.html else None

    def attachment(self, attachment_id: str) -> AttachmentInfo | None:
        return next((a for a in self.attachments if a.attachment_id == attachment_id), None)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "subject": self.subject,
                "text": self.text,
                "html": self.html,
                "attachments": [asdict(a) for a in self.attachments],
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> MessageContent:
        raw = json.loads(data)
        return cls(
            subject=raw["subject"],
            text=raw["text"],
            html=raw.get("html"),
            attachments=tuple(AttachmentInfo(**a) for a in raw.get("attachments", [])),
        )


@dataclass(frozen=True)
class Attachment:
    """A decrypted attachment on its way to a participant: its plaintext comes as a stream of chunks."""

    filename: str
    content_type: str
    size: int
    chunks: Iterator[bytes] = field(repr=False)
