"""Secure threads and messages. Sending (``sender``: start, reply, write to an associate,
continue; R2, R5, R8) and reading (``reader``: inbox, thread, attachments), sharing one
delivery component (``delivery``: pickup links, notices, TLS mail to associates, delivery
records; R7). Around them: who may see a thread (``access``), who takes part (``participants``),
what a message may be (``drafts``), content encrypted into the store (``vault``,
``encryption``, ``message_store``; R4), records in DynamoDB (``model``, ``thread_store``),
uploads and downloads, pickup links (``pickup``), the domain filter (``domain_filter``, R5)
and where each recipient stands (``delivery_status``).

May import: core, mail, audit, accounts.
"""
