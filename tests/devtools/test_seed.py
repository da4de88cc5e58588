"""`make run`'s demo data, made through the product's own services: a partner who can sign in, a thread
with an attachment, one a message short of the limit, a TLS delivery, cached TLS decisions, a strike."""

from __future__ import annotations

from typing import Any

from devtools.seed import (
    DEMO_ASSOCIATE,
    DEMO_ASSOCIATE_PASSWORD,
    DEMO_ATTACHMENT,
    seed_associate,
    seed_demo,
)
from tests.support import WebClient, fetch_attachment, mail_text, sent_mail


def read_mail() -> list[tuple[tuple[str, ...], str]]:
    return [(tuple(a.addr_spec for a in m["To"].addresses), mail_text(m)) for m in reversed(sent_mail())]


def test_the_demo_data_gives_every_page_something_to_show(stack: Any, web: WebClient, new_browser: Any) -> None:
    services = stack.services()
    seed_associate(services, DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD, "Demo Associate")
    demo = seed_demo(services, read_mail)

    partner = web
    assert partner.sign_in(demo.partner_username, demo.partner_password).status == 200
    inbox = {t["subject"]: t for t in partner.get("/api/threads").json["threads"]}
    care = partner.get(f"/api/threads/{inbox['Care plan for your review (demo)']['thread_id']}").json
    (attachment,) = care["messages"][0]["attachments"]
    assert fetch_attachment(partner, attachment["url"], services) == DEMO_ATTACHMENT
    assert care["messages"][-1]["text"] == "Thank you, received."
    assert inbox["Claim review, nearly full (demo)"]["interactions_label"] == "11 of 12"

    associate = new_browser()
    assert associate.sign_in(DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD).status == 200
    assert len(demo.thread_ids) == 3
    lab = associate.get(f"/threads/{demo.thread_ids[2]}").text
    assert 'data-state="sent_tls"' in lab
    tls = associate.get("/tls").text
    assert "clinic.example" in tls and "lab.example" in tls and "Demo data" in tls
    strikes = associate.get("/domain-filter").text
    assert "Quinn Partner (demo)" in strikes and "1 of 3" in strikes
