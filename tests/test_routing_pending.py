"""Uncertain does not prune (docs/bounces.md): a hard bounce below the threshold waits for a person."""

from __future__ import annotations

from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from sqlalchemy import select
from test_routing import route, router_for, subscriber

from responsemaster.routing import load_routing, pending_prune
from responsemaster.config import Settings
from responsemaster.store import Store
from responsemaster.store.actions import ActionTaken
from responsemaster.store.messages import MessageVerdict, RawMessageRow, ReviewItem
from responsemaster.store.subscribers import Subscriber, Suppression
from responsemaster.verdict import Attribution, RecipientVerdict, Verdict

JANE = "jane@example.org"


def _hard(confidence: float, address: str = JANE) -> Verdict:
    rcpt = RecipientVerdict(address, "hard_bounce", "userunknown", "5.0.0", "550", confidence=confidence)
    return Verdict("hard_bounce", confidence, "rfc3464", "userunknown", recipients=[rcpt],
                   attribution=Attribution(address, "spring", via="dsn"))


def _actions(store: Store) -> list[tuple[str, str]]:  # noqa: F811
    with store.reader() as s:
        return [(a.disposition, a.status) for a in s.execute(select(ActionTaken).where(
            ActionTaken.disposition == "prune")).scalars()]


def _add_jane(store: Store) -> None:  # noqa: F811
    with store.transaction() as s:
        s.add(Subscriber(address=JANE, address_key=JANE))


def test_an_unsure_hard_bounce_waits_in_the_review_queue(store: Store) -> None:  # noqa: F811
    _add_jane(store)
    route(store, router_for(store), _hard(0.55))
    assert subscriber(store, JANE).status == "active"  # type: ignore[union-attr]
    assert _actions(store) == [("prune", "pending")]
    with store.reader() as s:
        item = s.execute(select(ReviewItem)).scalars().one()
        assert (item.category, item.state, round(item.confidence, 2)) == ("hard_bounce", "open", 0.55)
        assert s.execute(select(Suppression)).first() is None


def test_a_sure_hard_bounce_prunes_at_once_and_the_threshold_is_configuration(store: Store) -> None:  # noqa: F811
    _add_jane(store)
    route(store, router_for(store), _hard(0.95))
    assert subscriber(store, JANE).status == "pruned"  # type: ignore[union-attr]
    other = "joe@example.org"
    route(store, router_for(store, {"prune_confidence": 0.5}), _hard(0.55, other))
    assert subscriber(store, other).status == "pruned"  # type: ignore[union-attr]
    assert _actions(store) == [("prune", "done"), ("prune", "done")]


def test_a_person_confirms_or_cancels_a_pending_prune(store: Store) -> None:  # noqa: F811
    _add_jane(store)
    route(store, router_for(store), _hard(0.4))
    route(store, router_for(store), _hard(0.4, "joe@example.org"))
    config = load_routing(Settings(base_dir=store.var.parent))
    with store.transaction() as s:
        first, second = s.execute(select(RawMessageRow).order_by(RawMessageRow.id)).scalars().all()
        mv = s.execute(select(MessageVerdict).where(MessageVerdict.message_id == first.id)).scalars().one()
        done = pending_prune.confirm(s, config, first, mv, "key:alice")
        cancelled = pending_prune.cancel(s, second.id, "key:alice", relabelled_to="mail_block")
    assert [(o.address, o.status) for o in done] == [(JANE, "done")]
    assert [(o.address, o.status) for o in cancelled] == [("joe@example.org", "cancelled")]
    assert subscriber(store, JANE).status == "pruned"  # type: ignore[union-attr]
    assert subscriber(store, "joe@example.org") is None  # never touched
    with store.reader() as s:
        assert [x.address for x in s.execute(select(Suppression)).scalars()] == [JANE]
        details = [a.detail for a in s.execute(select(ActionTaken).order_by(ActionTaken.id)).scalars()
                   if a.disposition == "prune"]
    assert "confirmed by key:alice" in details[0] and "cancelled by key:alice" in details[1]
    with store.transaction() as s:  # nothing is left to confirm twice
        assert pending_prune.confirm(s, config, first, mv, "key:bob") == []
