"""Sending to the rest of a list, test copies, previews and listings, through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fixtures.store_backends import db_url  # noqa: F401 - fixture: SQLite and PostgreSQL
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from test_mailer_support import ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from mailer.one_copy import NOBODY, TEST_HEADER
from mailer.settings import mailer_settings
from responsemaster.cli import main
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import Subscriber, Suppression
from responsemaster.verp import parse_return_path

MEMBERS = [f"m{i}@example.com" for i in range(6)]


@pytest.fixture
def sink():
    server = ScriptedSink().start()
    yield server
    server.stop()


@pytest.fixture
def setup(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url)
    store = open_test_store(settings)
    populate(store, MEMBERS)
    cid = simple_campaign(store, "spring")
    yield settings, store, cid
    store.close()


def cli(settings, *args: str):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, [*args, "--config", str(settings.base_dir / "responsemaster.toml")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def deliveries(store, cid) -> list[Delivery]:  # type: ignore[no-untyped-def]
    with store.reader() as session:
        return list(session.execute(select(Delivery).where(Delivery.campaign_id == cid)).scalars())


def test_send_limit_reaches_the_next_members_and_never_the_same_one_twice(setup, sink):
    settings, store, cid = setup
    first = cli(settings, "mailer", "send", "spring", "--limit", "3")
    assert first.exit_code == 0 and sorted(sink.accepted) == MEMBERS[:3], first.output
    again = cli(settings, "mailer", "send", "spring")  # the limit stays: nobody new, and it says why
    assert len(sink.accepted) == 3 and "holds back 3 members" in again.output
    cli(settings, "mailer", "send", "spring", "--limit", "5")
    assert sorted(sink.accepted) == MEMBERS[:5]
    for _ in range(2):  # 'all', twice: the rest, once
        assert cli(settings, "mailer", "send", "spring", "--limit", "all").exit_code == 0
    cli(settings, "mailer", "send", "spring", "--limit", "2")  # lowering it un-sends nothing and sends nothing
    assert sorted(sink.accepted) == MEMBERS and set(sink.accepted.values()) == {1}
    assert sorted(d.address for d in deliveries(store, cid) if d.status == "sent") == MEMBERS
    bad = cli(settings, "mailer", "send", "spring", "--limit", "0")
    assert bad.exit_code == 2 and "positive number or 'all'" in bad.output


def test_the_database_refuses_a_second_delivery_row_for_a_campaign_and_subscriber(setup):
    settings, store, cid = setup
    with store.transaction() as session:
        session.add(Delivery(campaign_id=cid, subscriber_id=1, address=MEMBERS[0], status="sent"))
    with pytest.raises(IntegrityError), store.transaction() as session:
        session.add(Delivery(campaign_id=cid, subscriber_id=1, address=MEMBERS[0], status="queued"))


def test_a_test_copy_is_marked_counted_nowhere_and_tokened_for_nobody(setup, sink):
    settings, store, cid = setup
    sent = cli(settings, "mailer", "test", "spring", "--to", "Me@Example.org", "--subscriber", MEMBERS[2])
    assert sent.exit_code == 0 and "250" in sent.output, sent.output
    assert dict(sink.accepted) == {"me@example.org": 1}
    msg = sink.parsed()[0]
    assert msg["Subject"] == "[TEST] News for Name 2" and "m2@example.com" in msg[TEST_HEADER]
    assert msg.get_body(("plain",)).get_content().strip() == "Hello First2"  # rendered for that member
    token = parse_return_path(sink.senders[0], mailer_settings(settings).verp.keyring)
    assert (token.campaign, token.subscriber) == (str(cid), str(NOBODY))
    assert deliveries(store, cid) == []
    stats = json.loads(cli(settings, "mailer", "stats", "spring").output)
    assert stats["recipients"] == stats["sent"] == 0
    cli(settings, "mailer", "send", "spring")  # the real send still reaches everyone, the tested member too
    assert sorted(a for a in sink.accepted if a != "me@example.org") == MEMBERS
    refused = cli(settings, "mailer", "test", "spring", "--to", "undisclosed recipients")
    assert refused.exit_code == 2 and "--to" in refused.output


def test_preview_writes_what_a_member_would_receive_and_sends_nothing(setup, sink, tmp_path):
    settings, store, cid = setup
    out = cli(settings, "mailer", "preview", "spring", "--subscriber", "M1@example.com", "-o", str(tmp_path / "p"))
    assert out.exit_code == 0 and "subject: News for Name 1" in out.output, out.output
    assert (tmp_path / "p.html").read_text().strip() == "<p>Hello First1 &amp; Name 1</p>"
    assert (tmp_path / "p.txt").read_text().strip() == "Hello First1"
    assert not sink.messages and deliveries(store, cid) == []
    unknown = cli(settings, "mailer", "preview", "spring", "--subscriber", "nobody@example.com")
    assert unknown.exit_code == 1 and "not on list 'news'" in unknown.output


def test_lists_templates_and_campaigns_say_what_exists(setup, sink):
    settings, store, cid = setup
    with store.transaction() as session:
        session.add(Suppression(address=MEMBERS[5], address_key=MEMBERS[5], domain="example.com", reason="complaint"))
    cli(settings, "mailer", "send", "spring", "--limit", "2")
    lists = json.loads(cli(settings, "mailer", "lists", "--json").output)
    assert [(row["name"], row["subscribed"], row["mailable"]) for row in lists] == [("news", 6, 5)]
    templates = json.loads(cli(settings, "mailer", "templates", "--json").output)
    assert [(t["name"], t["parts"]) for t in templates] == [("tpl-spring", "html+text")]
    campaigns = json.loads(cli(settings, "mailer", "campaigns", "--json").output)
    assert [(c["name"], c["list"], c["limit"], c["recipients"], c["sent"]) for c in campaigns] == [("spring", "news", 2, 2, 2)]
    table = cli(settings, "mailer", "campaigns").output.splitlines()
    assert table[0].split()[:6] == ["id", "name", "list", "template", "status", "limit"]
    assert table[1].split()[1:3] == ["spring", "news"]


def test_verp_decode_names_the_campaign_and_the_address(setup):
    settings, store, cid = setup
    with store.reader() as session:
        sid = session.execute(select(Subscriber.id).where(Subscriber.address_key == MEMBERS[4])).scalar_one()
    encoded = json.loads(cli(settings, "verp", "encode", "--campaign", str(cid), "--subscriber", str(sid), "--json").output)
    decoded = json.loads(cli(settings, "verp", "decode", encoded["return_path"]).output)
    assert (decoded["campaign_name"], decoded["address"]) == ("spring", MEMBERS[4])
    stranger = json.loads(cli(settings, "verp", "encode", "--campaign", "999", "--subscriber", "999", "--json").output)
    unknown = json.loads(cli(settings, "verp", "decode", stranger["token"]).output)
    assert (unknown["campaign"], unknown["campaign_name"], unknown["address"]) == ("999", None, None)
