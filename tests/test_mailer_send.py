"""Campaign sending against real local SMTP servers: VERP, headers, suppression, limits, retries, resume."""

from __future__ import annotations

import pytest
from fixtures.store_backends import db_url  # noqa: F401 - fixture: SQLite and PostgreSQL
from sqlalchemy import select
from test_mailer_support import ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from mailer.service import send_campaign
from mailer.settings import mailer_settings
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import Subscriber, Suppression
from responsemaster.verp import decode_token, parse_return_path, token_from_message_id


@pytest.fixture
def sink():
    server = ScriptedSink().start()
    yield server
    server.stop()


def _deliveries(store, campaign_id):
    with store.reader() as session:
        return {d.address: d for d in session.execute(select(Delivery).where(Delivery.campaign_id == campaign_id)).scalars()}


def test_campaign_sends_verp_tokened_personalised_messages(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    addresses = [f"user{i}@example.com" for i in range(25)]
    populate(store, addresses)
    cid = simple_campaign(store, html="<p>Hi {{ first_name }} {{ name }}</p>")
    result = send_campaign(settings, cid, store=store)
    assert result.status == "sent", result
    assert sorted(sink.accepted) == sorted(addresses)
    assert set(sink.accepted.values()) == {1}
    keyring = mailer_settings(settings).verp.keyring
    msg = next(m for m in sink.parsed() if m["To"].addresses[0].addr_spec == "user3@example.com")
    deliveries = _deliveries(store, cid)
    row = deliveries["user3@example.com"]
    data = parse_return_path(row.return_path, keyring, prefix="bounces")
    assert (data.campaign, data.subscriber) == (str(cid), str(row.subscriber_id))
    assert decode_token(token_from_message_id(msg["Message-ID"]), keyring).subscriber == str(row.subscriber_id)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "mailto:unsubscribe+1" in msg["List-Unsubscribe"] and "<https://example.org/u/1" in msg["List-Unsubscribe"]
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hi First3 Name 3</p>"
    assert msg.get_body(("plain",)).get_content().strip() == "Hello First3"
    assert all(d.status == "sent" and d.attempts == 1 for d in deliveries.values())


def test_suppressed_and_pruned_addresses_are_never_mailed(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["a@example.com", "b@example.com", "c@example.com", "d@example.com"])
    with store.transaction() as session:
        session.add(Suppression(address="B@example.com", address_key="b@example.com", domain="example.com", reason="complaint"))
        sub = session.execute(select(Subscriber).where(Subscriber.address_key == "c@example.com")).scalars().one()
        sub.status = "pruned"
    cid = simple_campaign(store)
    result = send_campaign(settings, cid, store=store)
    assert sorted(sink.accepted) == ["a@example.com", "d@example.com"]
    rows = _deliveries(store, cid)
    assert rows["b@example.com"].status == rows["c@example.com"].status == "suppressed"
    assert result.counts["suppressed"] == 2


def test_chosen_number_of_addresses_and_html_autoescape(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, [f"u{i}@example.com" for i in range(10)])
    with store.transaction() as session:
        sub = session.execute(select(Subscriber).where(Subscriber.address_key == "u0@example.com")).scalars().one()
        sub.name = "<script>alert(1)</script>"
    cid = simple_campaign(store, limit=4)
    send_campaign(settings, cid, store=store)
    assert len(sink.accepted) == 4
    html = next(m for m in sink.parsed() if m["To"].addresses[0].addr_spec == "u0@example.com").get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    again = send_campaign(settings, cid, store=store)  # a second run sends nobody new
    assert len(sink.accepted) == 4 and set(sink.accepted.values()) == {1} and again.status == "sent"


def test_4xx_is_retried_with_backoff_then_sent_once(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["slow@example.com", "fast@example.com"])
    sink.rcpt_script["slow@example.com"] = ["451 4.7.1 greylisted, come back later", "451 4.7.1 greylisted, come back later"]
    cid = simple_campaign(store)
    result = send_campaign(settings, cid, store=store)
    assert result.status == "sent"
    assert sink.accepted == {"slow@example.com": 1, "fast@example.com": 1}
    row = _deliveries(store, cid)["slow@example.com"]
    assert row.status == "sent" and row.attempts == 3


def test_4xx_until_max_attempts_gives_up_as_failed(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], max_attempts=2, db_url=db_url)
    store = open_test_store(settings)
    populate(store, ["never@example.com"])
    sink.rcpt_script["never@example.com"] = ["452 4.2.2 mailbox full"] * 5
    cid = simple_campaign(store)
    send_campaign(settings, cid, store=store)
    row = _deliveries(store, cid)["never@example.com"]
    assert row.status == "failed" and row.attempts == 2 and "452" in row.last_error
    assert not sink.accepted


@pytest.mark.parametrize("where", ["mail", "data"])
def test_relay_dropping_the_connection_mid_batch_never_double_sends(db_url, tmp_path, sink, where):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay(max_connections=1)], batch_size=10, db_url=db_url)
    store = open_test_store(settings)
    addresses = [f"r{i}@example.com" for i in range(30)]
    populate(store, addresses)
    if where == "mail":
        sink.drop_at_mail_after |= {7, 19}
    else:
        sink.drop_in_data_at |= {7, 19}
    cid = simple_campaign(store)
    send_campaign(settings, cid, store=store)
    assert max(sink.accepted.values()) == 1  # counted at the sink: nobody twice
    rows = _deliveries(store, cid)
    if where == "mail":  # dropped before DATA: safely resent on a new connection
        assert sorted(sink.accepted) == sorted(addresses)
        assert {r.status for r in rows.values()} == {"sent"}
    else:  # dropped after the payload went out: the relay had it, we never resend it
        uncertain = sorted(a for a, r in rows.items() if r.status == "uncertain")
        assert len(uncertain) == 2 and all(sink.accepted[a] == 1 for a in uncertain)
        assert sorted(sink.accepted) == sorted(addresses)
    again = send_campaign(settings, cid, store=store)
    assert max(sink.accepted.values()) == 1 and again.status == "sent"
