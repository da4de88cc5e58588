"""The router under retries: a run killed at any step (a timeout, out of memory) is received
again from the queue once its claim has lapsed, and the retry resumes: one thread, one notice
per outside recipient, every recipient served, nothing twice.

A kill is a ``BaseException``: nothing in the run may catch it or release its claim, exactly
like a process that stops. The retry comes after the queue's visibility timeout, which is far
longer than the function's timeout, so the killed run's claim (which lapses when its invocation
ends) is gone by then: ``later()`` travels that far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine

from chalicelib.mail.secure_mail import TlsDelivery
from chalicelib.messaging.delivery import MessageDelivery
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.thread_store import ThreadRepository
from tests.conftest import Gateway, RecordFailed
from tests.support import HARMLESS, mail_text, mime, sent_mail

TLS_RECIPIENT = "bob@good.test"
PICKUP_RECIPIENTS = ("carol@plain.test", "dan@plain.test")


class Killed(BaseException):
    """The process ends here (no ``except Exception`` sees it)."""


def kill_at(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, *, after: int = 0) -> None:
    """The ``after + 1``-th call of ``owner.name`` kills the run; the calls before and after it work."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = {"n": 0}

    def maybe_killed(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == after + 1:
            raise Killed(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, maybe_killed)


@contextmanager
def later() -> Iterator[None]:
    """Past the visibility timeout (6 × the router's 300 s): the queue hands the record out again."""
    with time_machine.travel(time.time() + 1800, tick=True):
        yield


def threads_stored(gateway: Gateway) -> list[dict[str, Any]]:
    table = gateway.stack.client("dynamodb")
    items = table.scan(TableName=gateway.stack.env["SEALPOST_THREADS_TABLE"])["Items"]
    return [i for i in items if i["pk"]["S"].startswith("THREAD#") and i["sk"]["S"] == "META"]


def only_thread(gateway: Gateway) -> tuple[str, list[str]]:
    """The id and participants of the one thread stored (it fails when there are more)."""
    (thread,) = threads_stored(gateway)
    return thread["pk"]["S"].removeprefix("THREAD#"), [u["S"] for u in thread["participants"]["L"]]


def notified_addresses() -> list[str]:
    """Who got a pickup notice, one entry per notice, sorted."""
    return sorted(m["To"].addresses[0].addr_spec for m in sent_mail() if "/p/" in mail_text(m))


def pickup_notices(address: str) -> int:
    return sum(1 for m in sent_mail() if m["To"].addresses[0].addr_spec == address and "/p/" in mail_text(m))


def tls_mails(gateway: Gateway, address: str) -> int:
    return sum(
        1 for r in gateway.sent(configuration_set=gateway.tls_set) if r["Destination"]["ToAddresses"] == [address]
    )


def deliveries(gateway: Gateway) -> dict[str, str]:
    """Recipient user name → how the (only) message reached them."""
    thread_id, _ = only_thread(gateway)
    return {d.username: str(d.state) for d in gateway.stack.services().threads.deliveries(thread_id)}


def assert_served_exactly_once(gateway: Gateway) -> None:
    assert len(threads_stored(gateway)) == 1
    assert tls_mails(gateway, TLS_RECIPIENT) == 1
    assert pickup_notices(TLS_RECIPIENT) == 0
    for address in PICKUP_RECIPIENTS:
        assert pickup_notices(address) == 1, address
    states = sorted(deliveries(gateway).values())
    assert states == ["pickup_notified", "pickup_notified", "sent_tls"]


MAIL = mime(", ".join((TLS_RECIPIENT, *PICKUP_RECIPIENTS)), body=HARMLESS)


@pytest.mark.parametrize(
    ("owner", "name", "after"),
    [
        (ThreadRepository, "add_new_thread", 0),  # before the thread is stored
        (MessageDelivery, "announce", 0),  # after the thread is stored, before anyone is told
        (PickupService, "offer", 1),  # between two recipients: the first pickup notice went out
        (TlsDelivery, "send", 0),  # during the TLS send, before SES took it
        # (0 would be inside the TLS delivery's records, after SES took the mail: the one window in
        # which a kill sends that copy twice, since SES cannot be asked whether it has it.)
        (ThreadRepository, "remember_mail_ids", 1),  # after every recipient was served
    ],
    ids=["before_store", "after_store", "between_recipients", "during_tls_send", "after_delivery"],
)
def test_a_run_killed_at_any_step_is_resumed_by_the_retry_and_serves_everyone_once(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch, owner: type, name: str, after: int
) -> None:
    kill_at(monkeypatch, owner, name, after=after)
    with pytest.raises(Killed):
        gateway.inbound(MAIL, ses_id="ses-killed")
    with later():
        report = gateway.inbound(MAIL, ses_id="ses-killed")
    assert report["outcome"] == "routed"
    assert_served_exactly_once(gateway)
    with later(), later():
        assert gateway.inbound(MAIL, ses_id="ses-killed")["outcome"] == "duplicate"
    assert_served_exactly_once(gateway)


def test_a_duplicate_while_the_first_run_is_still_alive_backs_off_and_is_received_again(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_at(monkeypatch, MessageDelivery, "announce")
    with pytest.raises(Killed):
        gateway.inbound(MAIL, ses_id="ses-alive")
    # Within the first invocation's time its claim holds: the duplicate fails and stays in the queue.
    with pytest.raises(RecordFailed):
        gateway.inbound(MAIL, ses_id="ses-alive")
    with later():
        assert gateway.inbound(MAIL, ses_id="ses-alive")["outcome"] == "routed"
    assert_served_exactly_once(gateway)


def test_a_failure_after_the_thread_is_stored_is_retried_without_a_second_thread(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ordinary exception (not a kill): the record is reported failed, the claim given back, and
    the immediate retry resumes the stored thread (the bounce-part mail of the issue, any cause)."""
    original = PickupService.offer
    calls = {"n": 0}

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the second notice failed")
        return original(*args, **kwargs)

    monkeypatch.setattr(PickupService, "offer", fails_once)
    with pytest.raises(RecordFailed):
        gateway.inbound(MAIL, ses_id="ses-fails")
    assert gateway.inbound(MAIL, ses_id="ses-fails")["outcome"] == "routed"
    assert_served_exactly_once(gateway)


def test_a_resumed_mail_gives_a_new_partner_a_first_link_that_registers_them(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch, new_browser: Any
) -> None:
    """The first run stored the new partner but died before their notice: the retry's link is a
    first-time link (choose a password), not a sign-in prompt they could never pass."""
    kill_at(monkeypatch, MessageDelivery, "announce")
    raw = mime("erin@plain.test", body=HARMLESS)
    with pytest.raises(Killed):
        gateway.inbound(raw, ses_id="ses-new-partner")
    with later():
        gateway.inbound(raw, ses_id="ses-new-partner")
        (notice,) = [m for m in sent_mail() if m["To"].addresses[0].addr_spec == "erin@plain.test"]
        link = next(w for w in mail_text(notice).split() if "/p/" in w)
        page = new_browser().get(link[link.index("/p/") :])
    assert page.status == 200 and "Choose your password" in page.text


def test_a_notice_that_could_not_be_sent_is_sent_by_the_retry_and_nothing_else_again(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.mail.notices import Notifier

    original = Notifier.pickup
    refused = {"n": 0}

    def refused_once_for_dan(self: Notifier, recipient: Any, *args: Any, **kwargs: Any) -> bool:
        if recipient.email == "dan@plain.test" and not refused["n"]:
            refused["n"] += 1
            return False
        return original(self, recipient, *args, **kwargs)

    monkeypatch.setattr(Notifier, "pickup", refused_once_for_dan)
    with pytest.raises(RecordFailed):
        gateway.inbound(MAIL, ses_id="ses-refused-notice")
    assert pickup_notices("dan@plain.test") == 0
    assert gateway.inbound(MAIL, ses_id="ses-refused-notice")["outcome"] == "routed"
    assert_served_exactly_once(gateway)


def test_a_killed_answer_that_joined_a_thread_is_resumed_in_that_thread_once(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mime("carol@plain.test", body=HARMLESS)
    gateway.inbound(first)
    first_id = first.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip().decode()
    answer = mime("carol@plain.test", subject="Re: lab order", body="A follow-up.", headers={"In-Reply-To": first_id})
    kill_at(monkeypatch, MessageDelivery, "announce")
    with pytest.raises(Killed):
        gateway.inbound(answer, ses_id="ses-answer")
    with later():
        assert gateway.inbound(answer, ses_id="ses-answer")["outcome"] == "routed"
    (thread,) = threads_stored(gateway)
    assert thread["interaction_count"]["N"] == "2"
    assert pickup_notices("carol@plain.test") == 2  # one for the first mail, one for the answer


# --- many recipients: more than one DynamoDB transaction holds ------------------------------


def many(count: int, domain: str = "plain.test") -> list[str]:
    return [f"patient.{n:03d}@{domain}" for n in range(count)]


def test_a_mail_to_500_new_outside_recipients_routes_to_each_of_them_once(gateway: Gateway, associate: Any) -> None:
    recipients = many(500)
    report = gateway.inbound(mime(", ".join(recipients), body=HARMLESS), ses_id="ses-500")
    assert report["outcome"] == "routed"
    thread_id, participants = only_thread(gateway)
    assert len(participants) == 501
    assert notified_addresses() == sorted(recipients)
    entries = [gateway.stack.services().threads.entry(username, thread_id) for username in participants]
    assert all(e is not None and e.interaction_count == 1 for e in entries)


def test_a_run_killed_between_the_entries_of_a_large_thread_is_completed_by_the_retry(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipients = many(150)  # 150 new partners: 450 items before the entries, far past one transaction
    raw = mime(", ".join(recipients), body=HARMLESS)
    kill_at(monkeypatch, ThreadRepository, "put_entries_once")
    with pytest.raises(Killed):
        gateway.inbound(raw, ses_id="ses-150")
    with later():
        assert gateway.inbound(raw, ses_id="ses-150")["outcome"] == "routed"
    thread_id, participants = only_thread(gateway)
    assert all(gateway.stack.services().threads.entry(username, thread_id) for username in participants)
    assert notified_addresses() == sorted(recipients)
