"""Message content in and out of the message store, encrypted (R4).

Every part (a thread's subject, a message's content, each attachment) is sealed with its
binding (thread, message, part), encrypted under the thread's context for its purpose, and
stored as ciphertext under a key made of ids. The message's content is encrypted first, so
a KMS failure stores nothing; attachments then stream from their staged upload through the
Encryption SDK into a multipart upload, never whole in memory. Reading checks the
ciphertext's hash (``MessageStore``), the context and the binding (``Encryptor``); an
attachment streams out the same way, its hash compared at its end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chalicelib.messaging.content import AttachmentInfo, MessageContent
from chalicelib.messaging.drafts import Draft
from chalicelib.messaging.encryption import Binding, Encryptor, IntegrityError
from chalicelib.messaging.message_store import MessageStore, attachment_key, content_key, subject_key
from chalicelib.messaging.model import AttachmentRecord, MessageRecord, StoredObject, Thread, new_id
from chalicelib.messaging.uploads import StagedFile

PURPOSE_SUBJECT = "subject"
PURPOSE_CONTENT = "content"
PURPOSE_ATTACHMENT = "attachment"
UNREADABLE_SUBJECT = "(this subject failed its integrity check)"


def _subject_binding(thread_id: str) -> Binding:
    return Binding(thread_id, "-", "subject")


def _content_binding(thread_id: str, message_id: str) -> Binding:
    return Binding(thread_id, message_id, "content")


def _attachment_binding(thread_id: str, message_id: str, attachment_id: str) -> Binding:
    return Binding(thread_id, message_id, "attachment:" + attachment_id)


@dataclass(frozen=True)
class MessageVault:
    encryptor: Encryptor
    store: MessageStore

    # --- writing ----------------------------------------------------------------------------

    def seal_subject(self, thread_id: str, subject: str) -> StoredObject:
        ciphertext = self.encryptor.encrypt(_subject_binding(thread_id), subject.encode(), purpose=PURPOSE_SUBJECT)
        return self.store.put(subject_key(thread_id), ciphertext)

    def seal_message(
        self, thread_id: str, message_id: str, draft: Draft, files: Sequence[StagedFile]
    ) -> tuple[StoredObject, tuple[AttachmentRecord, ...]]:
        """Encrypt and store the message and its files (``files`` in the order of ``draft.attachments``)."""
        infos = tuple(
            AttachmentInfo(new_id(), wanted.filename, wanted.content_type, file.size)
            for wanted, file in zip(draft.attachments, files, strict=True)
        )
        content = MessageContent(draft.subject, draft.text, draft.html, infos)
        content_ciphertext = self.encryptor.encrypt(
            _content_binding(thread_id, message_id), content.to_bytes(), purpose=PURPOSE_CONTENT
        )
        records = tuple(
            AttachmentRecord(info.attachment_id, self._seal_file(thread_id, message_id, info.attachment_id, file))
            for info, file in zip(infos, files, strict=True)
        )
        return self.store.put(content_key(thread_id, message_id), content_ciphertext), records

    def _seal_file(self, thread_id: str, message_id: str, attachment_id: str, file: StagedFile) -> StoredObject:
        binding = _attachment_binding(thread_id, message_id, attachment_id)
        ciphertext = self.encryptor.encrypt_stream(binding, file.open(), file.size, purpose=PURPOSE_ATTACHMENT)
        return self.store.put_stream(attachment_key(thread_id, message_id, attachment_id), ciphertext)

    # --- reading ----------------------------------------------------------------------------

    def subject(self, thread: Thread) -> str:
        """The thread's subject; a fixed text when it fails its integrity check (lists must still show)."""
        try:
            plaintext = self.encryptor.decrypt(
                _subject_binding(thread.thread_id), self.store.get(thread.subject), purpose=PURPOSE_SUBJECT
            )
        except IntegrityError:
            return UNREADABLE_SUBJECT
        return plaintext.decode()

    def content(self, record: MessageRecord) -> MessageContent:
        """The message; ``IntegrityError`` when its ciphertext was changed or moved."""
        binding = _content_binding(record.thread_id, record.message_id)
        plaintext = self.encryptor.decrypt(binding, self.store.get(record.content), purpose=PURPOSE_CONTENT)
        return MessageContent.from_bytes(plaintext)

    def attachment(self, record: MessageRecord, attachment: AttachmentRecord) -> Iterator[bytes]:
        """The attachment's plaintext in chunks. An ``IntegrityError`` can come at any chunk, the last
        included: whoever streams it on must then abort what they sent."""
        binding = _attachment_binding(record.thread_id, record.message_id, attachment.attachment_id)
        body = self.store.open(attachment.stored)
        yield from self.encryptor.decrypt_stream(binding, body, purpose=PURPOSE_ATTACHMENT)
        body.finish()
