"""The bounce score is cleared by proof that the address works, on SQLite and PostgreSQL.

Proof is mail *from* the address (a reply, an auto-reply: ``reset_score``) or a
report that our mail reached it (a success DSN, a read receipt: ``good_delivery``).
A delay warning, or mail from some other address, proves nothing.
"""

from __future__ import annotations

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import count_rows
from test_routing import bounce, route, router_for, subscriber

from responsemaster.config import ConfigError, Settings
from responsemaster.routing import load_routing
from responsemaster.store import Store
from responsemaster.store.actions import ActionTaken
from responsemaster.verdict import Attribution, RecipientVerdict, Verdict

JANE, JOE = "jane@example.org", "joe@example.org"


def _score(store: Store, address: str) -> tuple[float, str]:  # noqa: F811
    sub = subscriber(store, address)
    assert sub is not None
    return sub.bounce_score, sub.status


def _bouncing(store: Store, router, *addresses: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    for address in addresses:
        route(store, router, bounce("soft_bounce", "expired", address))
        assert _score(store, address) == (1.0, "bouncing")


def test_an_auto_reply_from_the_address_resets_its_score_one_from_elsewhere_does_not(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    _bouncing(store, router, JANE)
    away = Verdict("auto_reply", 0.9, "rule:vacation", "vacation", sender="noreply@example.org",
                   attribution=Attribution(JANE, "spring", "verp"))
    route(store, router, away)  # attributed to Jane, but not written from her address
    assert _score(store, JANE) == (1.0, "bouncing")
    route(store, router, Verdict("auto_reply", 0.9, "rule:vacation", "vacation", sender="JANE@example.org"))
    assert _score(store, JANE) == (0.0, "active")
    assert subscriber(store, JANE).last_bounce_at is None  # type: ignore[union-attr]


def test_a_success_dsn_resets_the_delivered_recipient_and_a_delay_changes_nothing(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    _bouncing(store, router, JANE, JOE)
    dsn = Verdict("delivery_status", 0.99, "rfc3464", "delivered", recipients=[
        RecipientVerdict(JANE, "delivery_status", "delivered", "2.0.0", "250", action="delivered"),
        RecipientVerdict(JOE, "delivery_status", "delayed", "4.4.7", action="delayed"),
    ])
    route(store, router, dsn)
    assert _score(store, JANE) == (0.0, "active")
    assert _score(store, JOE) == (1.0, "bouncing")
    assert count_rows(store, ActionTaken, disposition="good_delivery") == 1


def test_a_read_receipt_from_the_subscriber_resets_the_score(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    _bouncing(store, router, JANE)
    route(store, router, Verdict("delivery_status", 0.95, "mdn", "read_receipt", sender=JANE))
    assert _score(store, JANE) == (0.0, "active")


def test_reset_factor_decays_the_score_instead(store: Store) -> None:  # noqa: F811
    router = router_for(store, {"bounce_score": {"reset_factor": 0.5, "weights": {"soft_bounce": 4.0}}})
    reply = Verdict("user_reply", 0.9, "model:x", "reply", sender=JOE, reply_text="hi")
    route(store, router, bounce("soft_bounce", "expired", JOE))
    assert _score(store, JOE) == (4.0, "bouncing")
    route(store, router, reply)
    assert _score(store, JOE) == (2.0, "bouncing")  # halved, still bouncing
    route(store, router, reply)
    assert _score(store, JOE) == (1.0, "bouncing")


def test_a_pruned_address_stays_pruned_and_a_forged_report_changes_nothing(store: Store) -> None:  # noqa: F811
    router = router_for(store)
    route(store, router, bounce("hard_bounce", "userunknown", JANE))
    route(store, router, Verdict("user_reply", 0.9, "model:x", "reply", sender=JANE, reply_text="I am here"))
    assert subscriber(store, JANE).status == "pruned"  # type: ignore[union-attr]
    _bouncing(store, router, JOE)
    forged = Verdict("delivery_status", 0.99, "rfc3464", "delivered",
                     recipients=[RecipientVerdict(JOE, "delivery_status", "delivered", "2.0.0", action="delivered")],
                     attribution=Attribution(JOE, "spring", "verp", forged_token=True))
    route(store, router, forged)
    assert _score(store, JOE) == (1.0, "bouncing")
    assert count_rows(store, ActionTaken, disposition="good_delivery", status="flagged") == 1


@pytest.mark.parametrize("factor", [-0.1, 1.5])
def test_a_reset_factor_outside_0_to_1_is_refused(tmp_path, factor: float) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="reset_factor"):
        load_routing(Settings(base_dir=tmp_path, sections={"routing": {"bounce_score": {"reset_factor": factor}}}))
