"""The outbox against real local servers: forwards and alerts over SMTP, webhooks over HTTP."""

from __future__ import annotations

import threading
import time

from fixtures.sinks import SmtpSink, WebhookSink, smtp_sink, webhook_sink  # noqa: F401 - fixtures
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from sqlalchemy import select
from test_routing import REPLY, route, router_for

from responsemaster.routing import OutboxDeliverer
from responsemaster.store import Store
from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.verdict import Attribution, RecipientVerdict, Verdict


def _reply() -> Verdict:
    return Verdict("user_reply", 0.9, "model:x", "reply", sender="jane@example.org", subject="Re: news",
                   reply_text="Thanks, see you.", attribution=Attribution("jane@example.org", "spring", "message-id"))


def _smtp(sink: SmtpSink, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"forward_to": "support@example.net", "alert_to": "deliverability@example.net",
            "from_address": "rm@example.net", "smtp": {"host": "127.0.0.1", "port": sink.port, "timeout": 5}, **extra}


def test_forward_carries_reply_on_top_original_attached_and_a_stable_message_id(store: Store, smtp_sink: SmtpSink) -> None:  # noqa: F811
    router = router_for(store, _smtp(smtp_sink))
    ctx = route(store, router, _reply(), REPLY)
    deliverer = OutboxDeliverer(store, router.config, "w1")
    assert deliverer.deliver_due(ids=ctx.outbox_ids) == 1
    assert deliverer.deliver_due() == 0
    (msg,) = smtp_sink.parsed()
    assert msg["Message-ID"] == f"<rm-forward.{ctx.uid}@example.net>"
    assert msg["X-ResponseMaster-Category"] == "user_reply"
    assert msg["X-ResponseMaster-Subscriber"] == "jane@example.org"
    assert msg["Reply-To"] == "jane@example.org"
    parts = list(msg.iter_parts())
    assert parts[0].get_content().startswith("Thanks, see you.")
    assert parts[1].get_content_type() == "message/rfc822"
    assert parts[1].get_content()["Subject"] == "Re: news"
    with store.reader() as s:
        assert s.execute(select(OutboxItem.state)).scalar_one() == "done"
        assert s.execute(select(ActionTaken.status).where(ActionTaken.disposition == "forward")).scalar_one() == "sent"


def test_the_daily_forward_cap_counts_forwards_already_sent(store: Store, smtp_sink: SmtpSink) -> None:  # noqa: F811
    """The cap is the loop guard against an autoresponder answering every forward: forwards the
    outbox delivered between two batches count as much as those still queued."""
    router = router_for(store, _smtp(smtp_sink, max_forwards_per_sender=2))
    deliverer = OutboxDeliverer(store, router.config, "w1")
    for _ in range(2):
        route(store, router, _reply(), REPLY)
        assert deliverer.deliver_due() == 1  # sent before the next message comes in
    route(store, router, _reply(), REPLY)
    assert deliverer.deliver_due() == 0
    assert smtp_sink.received == 2
    with store.reader() as s:
        statuses = s.execute(select(ActionTaken.status).where(ActionTaken.disposition == "forward")).scalars().all()
    assert sorted(statuses) == ["sent", "sent", "skipped"]


def test_two_deliverers_never_send_the_same_effect(store: Store, smtp_sink: SmtpSink) -> None:  # noqa: F811
    router = router_for(store, _smtp(smtp_sink, max_forwards_per_sender=100))
    for _ in range(30):
        route(store, router, _reply(), REPLY)
    deliverers = [OutboxDeliverer(store, router.config, f"w{i}") for i in range(3)]
    threads = [threading.Thread(target=d.deliver_due) for d in deliverers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert smtp_sink.received == smtp_sink.distinct == 30
    assert deliverers[0].pending() == 0


def test_mail_block_alert_reaches_the_deliverability_address(store: Store, smtp_sink: SmtpSink) -> None:  # noqa: F811
    router = router_for(store, _smtp(smtp_sink))
    verdict = Verdict("mail_block", 0.99, "rfc3464", "blocked",
                      recipients=[RecipientVerdict("jane@example.org", "mail_block", "blocked", "5.7.1", "554", "mx.example.org", "listed on a blocklist")])
    ctx = route(store, router, verdict)
    OutboxDeliverer(store, router.config, "w1").deliver_due(ids=ctx.outbox_ids)
    (msg,) = smtp_sink.parsed()
    assert msg["To"] == "deliverability@example.net" and "example.org" in msg["Subject"]
    assert "listed on a blocklist" in msg.get_content()


def test_webhook_is_retried_with_backoff_then_delivered_once(store: Store, webhook_sink: WebhookSink) -> None:  # noqa: F811
    router = router_for(store, {"categories": {"user_reply": {"actions": ["log", "webhook"]}},
                                "webhook": {"url": webhook_sink.url, "timeout": 5},
                                "outbox": {"backoff_seconds": 0.2, "max_attempts": 5}})
    webhook_sink.fail_next = 2
    ctx = route(store, router, _reply(), REPLY)
    deliverer = OutboxDeliverer(store, router.config, "w1")
    deadline = time.monotonic() + 10
    while deliverer.pending() and time.monotonic() < deadline:
        deliverer.deliver_due()
        time.sleep(0.1)
    assert webhook_sink.received == webhook_sink.distinct == 1
    (body,) = webhook_sink.bodies
    assert body["message_uid"] == ctx.uid and body["verdict"]["category"] == "user_reply"
    with store.reader() as s:
        item = s.execute(select(OutboxItem)).scalars().one()
    assert (item.state, item.attempts) == ("done", 3)


def test_an_unreachable_server_ends_dead_after_max_attempts(store: Store) -> None:  # noqa: F811
    from fixtures.servers import free_port

    router = router_for(store, {"forward_to": "support@example.net", "smtp": {"port": free_port(), "timeout": 2},
                                "outbox": {"backoff_seconds": 0.05, "max_attempts": 3}})
    route(store, router, _reply(), REPLY)
    deliverer = OutboxDeliverer(store, router.config, "w1")
    for _ in range(40):
        deliverer.deliver_due()
        if not deliverer.pending():
            break
        time.sleep(0.1)
    with store.reader() as s:
        item = s.execute(select(OutboxItem)).scalars().one()
    assert (item.state, item.attempts) == ("dead", 3) and "127.0.0.1" in item.last_error


def test_an_original_with_overlong_lines_is_attached_byte_exact(store: Store, smtp_sink: SmtpSink) -> None:  # noqa: F811
    raw = REPLY + b"x" * 3000 + b"\n"
    router = router_for(store, _smtp(smtp_sink))
    ctx = route(store, router, _reply(), raw)
    assert OutboxDeliverer(store, router.config, "w1").deliver_due(ids=ctx.outbox_ids) == 1
    (msg,) = smtp_sink.parsed()
    attachment = list(msg.iter_parts())[1]
    assert attachment.get_filename() == "original.eml" and attachment.get_content() == raw
