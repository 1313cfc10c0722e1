"""Dispositions per category, on SQLite and PostgreSQL: prune, score, unsubscribe, complaints, forgery."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import count_rows as count
from sqlalchemy import select

from responsemaster.config import ConfigError, Settings
from responsemaster.ingest.source import RawMessage
from responsemaster.routing import Router, load_routing
from responsemaster.routing.context import RouteContext
from responsemaster.store import Store
from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.store.base import address_key
from responsemaster.store.messages import MessageVerdict, ReviewItem
from responsemaster.store.recording import record_message
from responsemaster.store.subscribers import ListMembership, MailingList, Subscriber, Suppression
from responsemaster.verdict import Attribution, RecipientVerdict, Verdict

_keys = itertools.count()
REPLY = b"From: Jane <jane@example.org>\nTo: news@list.example\nSubject: Re: news\n\nThanks, see you.\n"


def router_for(store: Store, routing: dict | None = None) -> Router:  # type: ignore[type-arg]  # noqa: F811
    settings = Settings(base_dir=store.var.parent, sections={"routing": routing or {}})
    return Router(load_routing(settings), store.var)


def route(store: Store, router: Router, verdict: Verdict, raw: bytes = b"x") -> RouteContext:  # noqa: F811
    msg = RawMessage("returns", f"k{next(_keys)}", raw)
    path = store.raw_files.keep(raw)
    with store.transaction() as session:
        row, vrow = record_message(session, msg, verdict, path)
        return router.route(session, row, vrow, verdict, raw, fresh=True)  # as the worker does


def bounce(category: str, reason: str, address: str = "jane@example.org", **attribution: object) -> Verdict:
    return Verdict(category, 0.99, "rfc3464", reason,
                   recipients=[RecipientVerdict(address, category, reason, "5.1.1", "550")],
                   attribution=Attribution(address, "spring", **{"via": "dsn", **attribution}))  # type: ignore[arg-type]


def subscriber(store: Store, address: str) -> Subscriber | None:  # noqa: F811
    with store.reader() as s:
        return s.execute(select(Subscriber).where(Subscriber.address_key == address_key(address))).scalars().first()


def test_hard_bounce_prunes_without_deleting(store: Store) -> None:  # noqa: F811
    with store.transaction() as s:
        s.add(Subscriber(address="Jane@example.org", address_key="jane@example.org"))
        s.add(MailingList(name="news"))
    with store.transaction() as s:
        s.add(ListMembership(list_id=1, subscriber_id=1))
    route(store, router_for(store), bounce("hard_bounce", "userunknown", "JANE@example.org"))
    sub = subscriber(store, "jane@example.org")
    assert sub is not None and sub.status == "pruned" and sub.status_reason == "hard_bounce:userunknown"
    assert count(store, Suppression, address_key="jane@example.org", reason="hard_bounce") == 1
    assert count(store, ListMembership, status="unsubscribed") == 1
    assert count(store, Subscriber) == 1


def test_soft_bounces_score_once_a_day_go_stale_and_prune_at_threshold(store: Store) -> None:  # noqa: F811
    router = router_for(store, {"bounce_score": {"threshold": 3.0, "stale_days": 7}})
    route(store, router, bounce("soft_bounce", "expired"))
    route(store, router, bounce("soft_bounce", "expired"))  # same day: not counted again
    sub = subscriber(store, "jane@example.org")
    assert sub is not None and (sub.bounce_score, sub.status) == (1.0, "bouncing")
    for days_ago, expected in ((2, 2.0), (30, 1.0)):  # a stale score starts again
        with store.transaction() as s:
            row = s.get(Subscriber, sub.id)
            row.last_bounce_at = row.last_bounce_at - timedelta(days=days_ago)  # type: ignore[union-attr,operator]
        route(store, router, bounce("soft_bounce", "expired"))
        assert subscriber(store, "jane@example.org").bounce_score == expected  # type: ignore[union-attr]
    for _ in range(2):
        with store.transaction() as s:
            row = s.get(Subscriber, sub.id)
            row.last_bounce_at = row.last_bounce_at - timedelta(days=1)  # type: ignore[union-attr,operator]
        route(store, router, bounce("soft_bounce", "expired"))
    final = subscriber(store, "jane@example.org")
    assert final is not None and final.status == "pruned" and final.bounce_score == 3.0
    assert count(store, Suppression, reason="bounce_score") == 1


def test_mailbox_full_weighs_less_and_a_reply_resets_the_score(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    route(store, router, bounce("mailbox_full", "mailboxfull"))
    assert subscriber(store, "jane@example.org").bounce_score == 0.5  # type: ignore[union-attr]
    reply = Verdict("user_reply", 0.9, "model:x", "reply", sender="Jane@Example.org", reply_text="Thanks")
    route(store, router, reply, REPLY)
    sub = subscriber(store, "jane@example.org")
    assert sub is not None and (sub.bounce_score, sub.status) == (0.0, "active")


def test_forged_token_never_prunes_or_unsubscribes(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    route(store, router, bounce("hard_bounce", "userunknown", via="verp", forged_token=True))
    route(store, router, Verdict("unsubscribe_request", 0.9, "rule:x", "unsubscribe", sender="jane@example.org",
                                  attribution=Attribution("jane@example.org", "c", "verp", forged_token=True)))
    sub = subscriber(store, "jane@example.org")
    assert sub is None or sub.status == "active"
    assert count(store, Suppression) == 0
    assert count(store, ActionTaken, status="flagged") >= 3  # the flag + each refused disposition
    assert count(store, MessageVerdict) == 2  # both logged as usual: their verdict rows


def test_moved_notice_records_the_suggested_address_only(store: Store) -> None:  # noqa: F811
    verdict = Verdict("auto_reply", 0.9, "rule:moved", "moved", sender="jane@example.org",
                      attribution=Attribution("jane@example.org", "c", "from"), suggested_address="jane@new.example")
    route(store, router_for(store), verdict)
    sub = subscriber(store, "jane@example.org")
    assert sub is not None and (sub.suggested_address, sub.status, sub.address) == ("jane@new.example", "active", "jane@example.org")


@pytest.mark.parametrize("category,status,reason", [("feedback_loop", "complained", "complaint"),
                                                      ("unsubscribe_request", "unsubscribed", "unsubscribe")])
def test_complaints_and_requests_unsubscribe_and_suppress(store: Store, category: str, status: str, reason: str) -> None:  # noqa: F811
    verdict = Verdict(category, 0.95, "arf", "feedback", sender="jane@example.org", feedback_type="abuse",
                      attribution=Attribution("jane@example.org", "c", "headers"))
    route(store, router_for(store), verdict)
    assert subscriber(store, "jane@example.org").status == status  # type: ignore[union-attr]
    assert count(store, Suppression, reason=reason) == 1


def test_one_batch_suppresses_each_address_once_and_a_complaint_wins(store: Store) -> None:  # noqa: F811
    """Several messages of one batch about the same addresses: one suppression row each, as if they had
    been written one by one (a complaint replaces a weaker reason, with its message; nothing replaces a
    complaint). PostgreSQL writes the batch's rows in one statement, which may not change a row twice."""
    from responsemaster.routing.pending import begin_batch, finish_batch

    def complaint(address: str) -> Verdict:
        return Verdict("feedback_loop", 0.95, "arf", "feedback", sender=address, feedback_type="abuse",
                       attribution=Attribution(address, "c", "headers"))

    def request(address: str) -> Verdict:
        return Verdict("unsubscribe_request", 0.95, "rule:u", "unsubscribe", sender=address,
                       attribution=Attribution(address, "c", "headers"))

    router = router_for(store)
    route(store, router, request("old@example.org"))  # a suppression from an earlier batch
    batch = [request("ann@example.org"), complaint("ann@example.org"), request("ann@example.org"),
             complaint("bob@example.org"), request("bob@example.org"),
             request("old@example.org"), complaint("old@example.org")]
    uids = []
    with store.transaction() as session:
        begin_batch(session)
        for number, verdict in enumerate(batch):
            msg = RawMessage("returns", f"batch-{next(_keys)}", b"x%d" % number)
            row, vrow = record_message(session, msg, verdict, store.raw_files.keep(msg.raw))
            router.route(session, row, vrow, verdict, msg.raw, fresh=True)
            uids.append(row.uid)
        finish_batch(session)
    with store.reader() as session:
        rows = {s.address_key: (s.reason, s.by) for s in session.execute(select(Suppression)).scalars()}
    assert rows == {"ann@example.org": ("complaint", f"message:{uids[1]}"),
                    "bob@example.org": ("complaint", f"message:{uids[3]}"),
                    "old@example.org": ("complaint", f"message:{uids[6]}")}


def test_a_known_subscribers_last_verdict_is_the_batchs_latest(store: Store) -> None:  # noqa: F811
    """Three messages about one subscriber in one batch (a soft bounce, a hard bounce that prunes, another
    soft bounce): the row ends with the latest verdict as its last, in the database and on the row the
    transaction holds, and the prune's status and score are kept."""
    from responsemaster.routing.context import find_subscriber
    from responsemaster.routing.pending import begin_batch, finish_batch

    with store.transaction() as session:
        session.add(Subscriber(address="jane@example.org", address_key="jane@example.org"))
    router = router_for(store)
    verdict_ids, held = [], None
    with store.transaction() as session:
        begin_batch(session)
        for number, verdict in enumerate([bounce("soft_bounce", "mailboxfull"), bounce("hard_bounce", "userunknown"),
                                          bounce("soft_bounce", "expired")]):
            msg = RawMessage("returns", f"batch-{next(_keys)}", b"y%d" % number)
            row, vrow = record_message(session, msg, verdict, store.raw_files.keep(msg.raw))
            ctx = router.route(session, row, vrow, verdict, msg.raw, fresh=True)
            verdict_ids.append(vrow.id)
            held = find_subscriber(ctx, "jane@example.org")
            assert held is not None and held.last_verdict_id == vrow.id  # the row in memory, at once
        finish_batch(session)
    sub = subscriber(store, "jane@example.org")
    assert sub is not None
    assert (sub.last_verdict_id, sub.last_category, sub.status) == (verdict_ids[-1], "soft_bounce", "pruned")
    assert sub.last_verdict_at is not None and sub.bounce_score > 0


def test_mail_block_alerts_and_never_prunes(store: Store) -> None:  # noqa: F811
    router = router_for(store, {"alert_to": "deliverability@example.net", "max_alerts_per_domain": 2})
    for _ in range(3):
        route(store, router, bounce("mail_block", "blocked"))
    assert subscriber(store, "jane@example.org") is None
    assert count(store, OutboxItem, kind="alert") == 2
    assert count(store, ActionTaken, disposition="alert", status="skipped") == 1


def test_user_reply_is_forwarded_and_reviewed_but_auto_replies_are_not(store: Store) -> None:  # noqa: F811
    router = router_for(store, {"forward_to": "support@example.net", "max_forwards_per_sender": 2})
    reply = Verdict("user_reply", 0.9, "model:x", "reply", sender="jane@example.org", reply_text="Thanks")
    for _ in range(3):
        route(store, router, reply, REPLY)
    auto = b"From: jane@example.org\nAuto-Submitted: auto-replied\nSubject: away\n\nI am away.\n"
    route(store, router, reply, auto)
    assert count(store, OutboxItem, kind="forward") == 2
    assert count(store, ActionTaken, disposition="forward", status="skipped") == 2  # the cap, then Auto-Submitted
    assert count(store, ReviewItem, state="open") == 4
    challenge = Verdict("challenge_response", 0.9, "rule:c", "challenge", sender="bot@example.com")
    route(store, router, challenge, b"From: bot@example.com\nAuto-Submitted: auto-replied\n\nClick to verify\n")
    assert count(store, OutboxItem, kind="forward") == 3


def test_operator_overrides_and_move_folder(store: Store) -> None:  # noqa: F811
    router = router_for(store, {"categories": {"hard_bounce": {"actions": ["log", "move:Bounces"]}}})
    ctx = route(store, router, bounce("hard_bounce", "userunknown"), b"bounce bytes")
    assert subscriber(store, "jane@example.org") is None
    assert (store.var / "folders" / "Bounces" / "new" / f"{ctx.uid}.eml").read_bytes() == b"bounce bytes"


def test_every_action_is_idempotent_per_message(store: Store) -> None:  # noqa: F811
    router = router_for(store, {"forward_to": "support@example.net"})
    reply = Verdict("user_reply", 0.9, "model:x", "reply", sender="jane@example.org", reply_text="Thanks")
    ctx = route(store, router, reply, REPLY)
    with store.transaction() as session:
        again = router.route(session, ctx.message, ctx.verdict_row, reply, REPLY)
    assert again.outbox_ids == []
    assert count(store, ActionTaken) == len({"forward", "review"})  # log writes no row: the verdict rows are the log


def test_log_keeps_the_latest_verdict_when_an_older_message_is_routed_again(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    with store.transaction() as session:
        session.add(Subscriber(address="jane@example.org", address_key="jane@example.org", domain="example.org"))
    older = route(store, router, bounce("soft_bounce", "mailbox_full"))
    newer = route(store, router, bounce("delivery_status", "delayed"))
    with store.transaction() as session:
        router.route(session, older.message, older.verdict_row, older.verdict, b"x")
    sub = subscriber(store, "jane@example.org")
    assert sub is not None and (sub.last_verdict_id, sub.last_category) == (newer.verdict_row.id, "delivery_status")


@pytest.mark.parametrize("routing,message", [
    ({"categories": {"hard_bounce": {"actions": ["log", "explode"]}}}, "unknown action 'explode'"),
    ({"categories": {"bounces": {"actions": ["log"]}}}, "unknown category"),
    ({"smtp": {"tls": "maybe"}}, "tls must be"),
    ({"outbox": {"lease_seconds": 10}, "smtp": {"timeout": 30}}, "must exceed the SMTP and webhook timeouts"),
])
def test_bad_routing_config_is_refused_with_the_key(tmp_path: Path, routing: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        load_routing(Settings(base_dir=tmp_path, sections={"routing": routing}))
