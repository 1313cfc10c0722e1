"""A campaign's numbers per domain come from counts the database keeps (migration 0010), and equal a recount.

Every path that writes a counted row is driven for real on SQLite and
PostgreSQL: the mailer's sends (sent, refused at send and recorded as a
verdict, deferred then sent, suppressed after a prune), returns recorded one
by one and as a worker batch (SQLite's bulk path), a verdict with an error
(not counted), a reviewer's relabel, rows a dead run left ``sending``, and
deletes. After each, the API's ``by_domain``, the console's domains page and
:func:`mailer.analytics.domain_stats` must equal a count made here from the
raw rows, and each counter table its recount.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.api_setup import build_env
from fixtures.store_backends import db_url  # noqa: F401 - fixture: SQLite and PostgreSQL
from sqlalchemy import delete, select, text, update
from test_mailer_support import REPLY_TRY_LATER, ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from api.verdict_relabel import relabel_verdict
from mailer import deliveries as dl
from mailer.analytics import _add_delivery, _add_verdict, _empty, domain_stats, top_domains
from mailer.service import send_campaign
from responsemaster.ingest.source import RawMessage
from responsemaster.store import Store, make_engine, upgrade_to_head
from responsemaster.store.campaign_counts import recount_sql
from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.platform import Delivery
from responsemaster.store.recording import ToRecord, record_message, record_messages
from responsemaster.store.subscribers import Campaign
from responsemaster.verdict import Attribution, Verdict


@pytest.fixture
def sink():
    server = ScriptedSink().start()
    yield server
    server.stop()


def recount(store: Store, campaign_id: int) -> dict[str, dict[str, Any]]:
    """The campaign's numbers per domain, counted from ``deliveries`` and ``message_verdicts`` row by row."""
    out: dict[str, dict[str, Any]] = {}
    with store.reader() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        for domain, status in session.execute(select(Delivery.domain, Delivery.status)
                                              .where(Delivery.campaign_id == campaign_id)):
            _add_delivery(out.setdefault(domain, _empty()), status, 1)
        rows = session.execute(select(MessageVerdict.domain, MessageVerdict.category, RawMessageRow.source)
                               .join(RawMessageRow, RawMessageRow.id == MessageVerdict.message_id)
                               .where(MessageVerdict.campaign.in_([campaign.name, str(campaign.id)]),  # type: ignore[attr-defined]
                                      MessageVerdict.error.is_(None)))  # type: ignore[union-attr]
        for domain, category, source in rows:
            _add_verdict(out.setdefault(domain, _empty()), category, source == "mailer", 1)
    return out


def assert_tables_match_a_recount(store: Store) -> None:
    with store.engine.connect() as conn:
        for table, sql in recount_sql().items():
            kept = {tuple(r[:-1]): r[-1] for r in conn.execute(text(f"SELECT * FROM {table} WHERE n <> 0"))}
            counted = {tuple(r[:-1]): r[-1] for r in conn.execute(text(sql))}
            assert {k[:-1] + (bool(k[-1]),) if table.endswith("verdicts") else k: v for k, v in kept.items()} == \
                {k[:-1] + (bool(k[-1]),) if table.endswith("verdicts") else k: v for k, v in counted.items()}, table


def assert_every_reader_agrees(store: Store, env: Any, campaign_id: int) -> dict[str, dict[str, Any]]:
    expected = recount(store, campaign_id)
    with store.reader() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert domain_stats(session, campaign) == expected
        ordered = sorted(expected, key=lambda domain: (-expected[domain]["recipients"], domain))
        for top in (1, 2):  # what the console page shows: the domains with most recipients
            assert top_domains(session, campaign, top) == ({domain: expected[domain] for domain in ordered[:top]},
                                                           len(expected))
    answer = env.client.get(f"/api/v1/campaigns/{campaign.name}", headers=env.h())
    assert answer.status_code == 200 and answer.json()["by_domain"] == expected
    page = env.client.get(f"/console/campaigns/{campaign.name}/domains", headers=env.h("admin"))
    assert page.status_code == 200
    for domain, entry in expected.items():
        assert domain in page.text and str(entry["recipients"]) in page.text
    assert_tables_match_a_recount(store)
    return expected


def _return(n: int, address: str, campaign: str, category: str = "hard_bounce", error: str | None = None) -> ToRecord:
    verdict = Verdict(category if error is None else None, 0.9, "test", "userunknown" if category == "hard_bounce" else "",
                      attribution=Attribution(subscriber=address, campaign=campaign, via="verp"), error=error)
    return ToRecord(RawMessage("test", f"r{n}", b"%d" % n), verdict, "p")


def test_domain_numbers_equal_a_recount_through_sends_returns_relabel_prune_and_deletes(
        db_url: str, tmp_path: Any, sink: ScriptedSink) -> None:  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    env = build_env(store, tmp_path)
    addresses = ["ann@a.example", "bob@a.example", "cid@a.example", "ghost@b.example", "dan@b.example",
                 "late@c.example"]
    populate(store, addresses)
    sink.unknown_users.add("ghost@b.example")  # refused at RCPT: a hard bounce at send, and a prune
    sink.rcpt_script["late@c.example"] = [REPLY_TRY_LATER]  # deferred once, then sent
    cid = simple_campaign(store)
    send_campaign(settings, cid, store=store)
    first = assert_every_reader_agrees(store, env, cid)
    assert first["b.example"]["failed_at_send"] == 1 and first["b.example"]["failed_at_send_by_category"] == {
        "hard_bounce": 1} and first["b.example"]["bounced"] == 0
    assert first["a.example"]["sent"] == 3 and first["c.example"]["sent"] == 1

    with store.transaction() as session:  # returns: a worker batch (one INSERT), by name and by id
        record_messages(session, [_return(1, "ann@a.example", "spring"), _return(2, "bob@a.example", str(cid)),
                                  _return(3, "dan@b.example", "spring", "auto_reply"),
                                  _return(4, "cid@a.example", "spring", error="unparsable"),
                                  _return(5, "late@c.example", "", "user_reply")])
    with store.transaction() as session:  # and one at a time
        record_message(session, *_return(6, "late@c.example", "spring", "user_reply").__dict__.values())
    returned = assert_every_reader_agrees(store, env, cid)
    assert returned["a.example"]["bounced_by_category"] == {"hard_bounce": 2}
    assert returned["b.example"]["auto_replies"] == 1 and returned["c.example"]["human_replies"] == 1

    with store.transaction() as session:  # a reviewer says bob's bounce was an out-of-office
        verdict = session.execute(select(MessageVerdict).where(MessageVerdict.subscriber == "bob@a.example")).scalar_one()
        relabel_verdict(session, verdict, "auto_reply", "key:tester")
    relabelled = assert_every_reader_agrees(store, env, cid)
    assert relabelled["a.example"]["bounced"] == 1 and relabelled["a.example"]["auto_replies"] == 1

    populate(store, ["eve@c.example"])  # the pruned ghost is suppressed in the next campaign
    summer = simple_campaign(store, "summer")
    send_campaign(settings, summer, store=store)
    later = assert_every_reader_agrees(store, env, summer)
    assert later["b.example"]["suppressed"] == 1 and later["c.example"]["sent"] == 2

    with store.transaction() as session:  # a run died with rows in flight: they become uncertain
        session.execute(update(Delivery).where(Delivery.campaign_id == summer, Delivery.domain == "a.example")
                        .values(status="sending"))
        assert dl.resolve_interrupted(session, summer) == 3
    assert assert_every_reader_agrees(store, env, summer)["a.example"]["uncertain"] == 3

    with store.transaction() as session:  # deletes move the counts too
        session.execute(delete(Delivery).where(Delivery.campaign_id == summer, Delivery.domain == "c.example"))
        session.execute(delete(MessageVerdict).where(MessageVerdict.subscriber == "dan@b.example"))
    assert "c.example" not in assert_every_reader_agrees(store, env, summer)
    assert assert_every_reader_agrees(store, env, cid)["b.example"]["auto_replies"] == 0
    store.close()


def test_0010_backfills_the_counts_from_rows_already_there(db_url: str, tmp_path: Any, sink: ScriptedSink) -> None:  # noqa: F811
    from alembic import command

    from responsemaster.store.migrate import alembic_config

    engine = make_engine(db_url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0009_login_failures")
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = Store(engine, tmp_path / "var")
    populate(store, ["ann@a.example", "ghost@b.example", "cid@c.example"])
    sink.unknown_users.add("ghost@b.example")
    cid = simple_campaign(store)
    send_campaign(settings, cid, store=store)  # a refusal recorded at send, before the counts exist
    with store.transaction() as session:
        record_message(session, *_return(1, "ann@a.example", "spring").__dict__.values())
        record_message(session, *_return(2, "cid@c.example", str(cid), "auto_reply").__dict__.values())
    upgrade_to_head(engine)
    assert_tables_match_a_recount(store)
    with store.reader() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None
        assert domain_stats(session, campaign) == recount(store, cid)
    with engine.begin() as conn:  # and goes away cleanly
        config.attributes["connection"] = conn
        command.downgrade(config, "0009_login_failures")
    with store.transaction() as session:
        session.execute(update(Delivery).values(status="uncertain"))
    upgrade_to_head(engine)
    assert_tables_match_a_recount(store)
    store.close()
