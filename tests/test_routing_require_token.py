"""``[routing] require_token_for_prune``: a spoofed DSN without our token prunes nobody; it waits for a person.

On SQLite and PostgreSQL, through the real router: an unsigned hard bounce
becomes a pending prune (action ``pending`` + review item), a signed one
prunes, a signed DSN prunes only the address its token names, unsigned soft
bounces are not scored, and with the option off nothing changes.
"""

from __future__ import annotations

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import count_rows as count
from sqlalchemy import select
from test_routing import bounce, route, router_for, subscriber

from responsemaster.config import ConfigError, Settings
from responsemaster.routing import load_routing, pending_prune
from responsemaster.store import Store
from responsemaster.store.actions import ActionTaken
from responsemaster.store.messages import MessageVerdict, RawMessageRow, ReviewItem
from responsemaster.store.subscribers import Subscriber, Suppression
from responsemaster.verdict import RecipientVerdict

STRICT = {"require_token_for_prune": True}


def _add(store: Store, *addresses: str) -> None:  # noqa: F811
    with store.transaction() as s:
        for address in addresses:
            s.add(Subscriber(address=address, address_key=address))


def test_an_unsigned_hard_bounce_waits_in_the_review_queue(store: Store) -> None:  # noqa: F811
    _add(store, "jane@example.org")
    route(store, router_for(store, STRICT), bounce("hard_bounce", "userunknown"))  # via "dsn": no token
    assert subscriber(store, "jane@example.org").status == "active"  # type: ignore[union-attr]
    assert count(store, Suppression) == 0
    assert count(store, ActionTaken, disposition="prune", status="pending", target="jane@example.org") == 1
    assert count(store, ReviewItem, state="open") == 1
    config = load_routing(Settings(base_dir=store.var.parent, sections={"routing": STRICT}))
    with store.transaction() as s:  # a person confirms it, as for a low-confidence one
        message = s.execute(select(RawMessageRow)).scalars().one()
        verdict = s.execute(select(MessageVerdict)).scalars().one()
        done = pending_prune.confirm(s, config, message, verdict, "key:alice")
    assert [(o.address, o.status) for o in done] == [("jane@example.org", "done")]
    assert subscriber(store, "jane@example.org").status == "pruned"  # type: ignore[union-attr]


def test_a_signed_hard_bounce_prunes_the_address_its_token_names_only(store: Store) -> None:  # noqa: F811
    _add(store, "jane@example.org", "bob@example.org")
    verdict = bounce("hard_bounce", "userunknown", via="verp")
    verdict.recipients.append(RecipientVerdict("bob@example.org", "hard_bounce", "userunknown", "5.1.1", "550"))
    route(store, router_for(store, STRICT), verdict)
    assert subscriber(store, "jane@example.org").status == "pruned"  # type: ignore[union-attr]
    assert subscriber(store, "bob@example.org").status == "active"  # type: ignore[union-attr]  # named, not signed
    assert count(store, ActionTaken, disposition="prune", status="pending", target="bob@example.org") == 1


def test_a_forged_token_prunes_nobody_and_unsigned_soft_bounces_are_not_scored(store: Store) -> None:  # noqa: F811
    _add(store, "jane@example.org")
    router = router_for(store, {**STRICT, "bounce_score": {"threshold": 1.0}})
    route(store, router, bounce("hard_bounce", "userunknown", via="verp", forged_token=True))
    route(store, router, bounce("soft_bounce", "mailboxfull"))
    sub = subscriber(store, "jane@example.org")
    assert sub is not None and (sub.status, sub.bounce_score) == ("active", 0.0)
    assert count(store, ActionTaken, disposition="bounce_score", status="skipped") == 1
    route(store, router, bounce("soft_bounce", "mailboxfull", via="verp"))  # signed: scored, and at 1.0 pruned
    assert subscriber(store, "jane@example.org").status == "pruned"  # type: ignore[union-attr]


def test_without_the_option_an_unsigned_hard_bounce_prunes_as_before(store: Store) -> None:  # noqa: F811
    _add(store, "jane@example.org")
    route(store, router_for(store), bounce("hard_bounce", "userunknown"))
    assert subscriber(store, "jane@example.org").status == "pruned"  # type: ignore[union-attr]
    assert count(store, ReviewItem) == 0


def test_the_option_must_be_a_boolean(store: Store) -> None:  # noqa: F811
    with pytest.raises(ConfigError, match="require_token_for_prune"):
        router_for(store, {"require_token_for_prune": "yes"})
