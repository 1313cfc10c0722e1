"""Send-time refusals become verdicts (and prune), broken templates send nothing, quotas and a crash mid-run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fixtures.store_backends import db_url  # noqa: F401 - fixture: SQLite and PostgreSQL
from sqlalchemy import select, update
from test_mailer_support import ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from mailer.campaigns import take_lease
from mailer.service import send_campaign
from mailer.tasks import make_mailer_huey, register_mailer_tasks
from responsemaster.store.base import utcnow
from responsemaster.store.mailing import CampaignPlan, SenderUsage
from responsemaster.store.messages import MessageVerdict, RecipientVerdictRow
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import Campaign, Subscriber, Suppression


@pytest.fixture
def sink():
    server = ScriptedSink().start()
    yield server
    server.stop()


def _statuses(store, cid):
    with store.reader() as session:
        return {d.address: d.status for d in session.execute(select(Delivery).where(Delivery.campaign_id == cid)).scalars()}


def test_5xx_at_rcpt_is_a_hard_bounce_verdict_and_prunes(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["alive@example.com", "ghost@example.com"])
    sink.unknown_users.add("ghost@example.com")
    cid = simple_campaign(store)
    result = send_campaign(settings, cid, store=store)
    assert result.counts["verdicts_recorded"] == 1
    assert _statuses(store, cid) == {"alive@example.com": "sent", "ghost@example.com": "failed"}
    with store.reader() as session:
        verdict = session.execute(select(MessageVerdict)).scalars().one()
        rcpt = session.execute(select(RecipientVerdictRow)).scalars().one()
        ghost = session.execute(select(Subscriber).where(Subscriber.address_key == "ghost@example.com")).scalars().one()
        alive = session.execute(select(Subscriber).where(Subscriber.address_key == "alive@example.com")).scalars().one()
        suppressed = session.execute(select(Suppression.address_key)).scalars().all()
    assert (verdict.category, verdict.campaign, verdict.via) == ("hard_bounce", "spring", "verp")
    assert (rcpt.reason, rcpt.status, rcpt.reply_code) == ("userunknown", "5.1.1", "550")
    assert ghost.status == "pruned" and alive.status == "active"
    assert suppressed == ["ghost@example.com"]


def test_5xx_block_at_rcpt_is_recorded_but_never_prunes(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["blocked@example.com"])
    sink.rcpt_script["blocked@example.com"] = ["554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"]
    cid = simple_campaign(store)
    send_campaign(settings, cid, store=store)
    with store.reader() as session:
        verdict = session.execute(select(MessageVerdict)).scalars().one()
        sub = session.execute(select(Subscriber)).scalars().one()
    assert verdict.category == "mail_block"
    assert sub.status == "active"


def test_undefined_variable_fails_preflight_and_nothing_is_sent(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, [f"p{i}@example.com" for i in range(5)])
    cid = simple_campaign(store, html="<p>{{ first_name }} from {{ city }}</p>")
    result = send_campaign(settings, cid, store=store)
    assert result.status == "preflight_failed"
    assert "city" in result.note and len(result.preflight_errors) == 5
    assert not sink.messages and _statuses(store, cid) == {}
    with store.reader() as session:
        assert session.get(Campaign, cid).status == "draft"


def test_template_cannot_reach_python_internals(db_url, tmp_path):  # noqa: F811
    settings = make_settings(tmp_path, db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["x@example.com"])
    cid = simple_campaign(store, html="{{ name.__class__.__mro__[1].__subclasses__() }}")
    result = send_campaign(settings, cid, store=store)
    assert result.status == "preflight_failed"
    assert "SecurityError" in result.note and "unsafe" in result.note


def test_hourly_quota_stops_the_run_and_rotates_to_the_other_relay(db_url, tmp_path):  # noqa: F811
    first, second = ScriptedSink().start(), ScriptedSink().start()
    try:
        settings = make_settings(tmp_path, [first.relay("a", max_per_hour=3, max_connections=1),
                                            second.relay("b", max_per_day=4, max_connections=1)], db_url=db_url)
        store = open_test_store(settings)
        populate(store, [f"q{i}@example.com" for i in range(10)])
        cid = simple_campaign(store)
        result = send_campaign(settings, cid, store=store)
        assert len(first.messages) == 3 and len(second.messages) == 4
        assert result.status == "paused" and result.next_run_at is not None
        statuses = _statuses(store, cid)
        assert sorted(statuses.values()).count("queued") == 3 and "sending" not in statuses.values()
        with store.reader() as session:
            assert sorted(u.sent for u in session.execute(select(SenderUsage)).scalars()) == [3, 4]
        again = send_campaign(settings, cid, store=store)  # same hour: the stored usage still counts
        assert again.status == "paused" and len(first.messages) + len(second.messages) == 7
    finally:
        first.stop()
        second.stop()


def test_rows_left_sending_by_a_dead_run_become_uncertain_and_are_not_resent(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["one@example.com", "two@example.com"])
    cid = simple_campaign(store)
    with store.transaction() as session:  # what a run that died after marking leaves behind
        sub = session.execute(select(Subscriber).where(Subscriber.address_key == "one@example.com")).scalars().one()
        session.add(Delivery(campaign_id=cid, subscriber_id=sub.id, address=sub.address, status="sending", attempts=1))
    assert take_lease(store, cid, "dead-run", 300)
    busy = send_campaign(settings, cid, store=store)
    assert busy.status == "busy" and not sink.messages
    with store.transaction() as session:
        session.execute(update(CampaignPlan).values(lease_until=utcnow() - timedelta(seconds=1)))
    result = send_campaign(settings, cid, store=store)
    assert result.counts["uncertain_from_previous_run"] == 1
    assert dict(sink.accepted) == {"two@example.com": 1}
    assert _statuses(store, cid) == {"one@example.com": "uncertain", "two@example.com": "sent"}


def test_scheduled_send_through_huey(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["h1@example.com", "h2@example.com"])
    cid = simple_campaign(store)
    huey = make_mailer_huey(settings)
    assert huey.immediate and huey.name.endswith(".mailer")
    tasks = register_mailer_tasks(huey, settings)
    tasks.schedule(None, cid, eta=utcnow() + timedelta(hours=1))
    assert huey.scheduled_count() == 1 and not sink.messages  # not due yet
    tasks.schedule(None, cid)  # now: immediate mode runs it inline
    assert sorted(sink.accepted) == ["h1@example.com", "h2@example.com"]
