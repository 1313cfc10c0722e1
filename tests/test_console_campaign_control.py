"""Pausing and resuming a campaign by hand (what the console's buttons call), against a real SMTP sink.

A pause stops a run after its current batch, keeps the campaign paused (no
continuation is scheduled), and a scheduled or continued run that comes due
while paused sends nothing. Resuming sends the rest, and nobody gets the
campaign twice. Every delivery records the relay that took it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_mailer_support import ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from mailer.campaigns import pause_campaign, paused_by, resume_campaign
from mailer.service import send_campaign
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import Campaign


class PausingSink(ScriptedSink):
    """Pauses the campaign (as an operator would) when the first message arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.store = None
        self.campaign_id = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if not self.messages and self.store is not None:
            assert pause_campaign(self.store, self.campaign_id, "key:ops")
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink():
    server = PausingSink().start()
    yield server
    server.stop()


def _status(store, campaign_id: int) -> str:  # type: ignore[no-untyped-def]
    with store.reader() as session:
        return session.get(Campaign, campaign_id).status  # type: ignore[union-attr]


def test_a_pause_stops_the_run_and_resume_sends_the_rest_once(tmp_path, sink) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, [sink.relay("primary")], batch_size=2)
    store = open_test_store(settings)
    addresses = [f"user{i}@example.com" for i in range(40)]
    populate(store, addresses)
    cid = simple_campaign(store)
    sink.store, sink.campaign_id = store, cid
    first = send_campaign(settings, cid, store=store)
    assert first.status == "paused" and first.next_run_at is None and "key:ops" in first.note
    assert _status(store, cid) == "paused" and paused_by(store, cid) == "key:ops"
    sent_before = len(sink.messages)
    assert 1 <= sent_before < len(addresses)  # stopped after the batches in flight
    again = send_campaign(settings, cid, store=store)  # a scheduled run that comes due while paused
    assert again.status == "paused" and len(sink.messages) == sent_before
    assert pause_campaign(store, cid, "key:other") is False  # already paused
    assert resume_campaign(store, cid) == "sending" and paused_by(store, cid) == ""
    sink.store = None
    done = send_campaign(settings, cid, store=store)
    assert done.status == "sent"
    assert sorted(sink.accepted) == sorted(addresses) and set(sink.accepted.values()) == {1}
    with store.reader() as session:
        relays = set(session.execute(select(Delivery.relay).where(Delivery.campaign_id == cid)).scalars())
    assert relays == {"primary"}
    assert resume_campaign(store, cid) == ""  # nothing paused any more
    assert pause_campaign(store, cid, "key:ops") is False  # sent: nothing to pause
