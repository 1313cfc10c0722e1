"""Scheduled sends through a real `mailer worker` (Huey consumer, SqliteHuey), and per-domain throttling.

The consumer is the command an operator runs, in its own process, reading
the same configuration file; the campaign is scheduled with `mailer send
--at`. Throttling is checked by lower bounds the throttle guarantees (a
message cannot leave before its domain's slot) and by order (an unthrottled
domain's mail is not held behind a throttled one), never by how fast
anything runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import tomllib
from datetime import timedelta

import pytest
import tomli_w
from click.testing import CliRunner
from fixtures.store_backends import db_url  # noqa: F401 - fixture: SQLite and PostgreSQL
from sqlalchemy import select
from test_mailer_support import REPLY_TRY_LATER, ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from mailer.service import send_campaign
from responsemaster.cli import main
from responsemaster.store.base import utcnow
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import Campaign


@pytest.fixture
def sink():
    server = ScriptedSink().start()
    yield server
    server.stop()


def _wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.2)


def test_a_scheduled_send_and_its_continuation_run_in_a_real_mailer_worker(db_url, tmp_path, sink):  # noqa: F811
    settings = make_settings(tmp_path, [sink.relay()], db_url=db_url, in_run_retry_seconds=0, retry_base_seconds=1)
    config = tmp_path / "responsemaster.toml"
    data = tomllib.loads(config.read_text())
    data["queue"] = {"url": f"sqlite:///{tmp_path / 'var' / 'huey.db'}"}  # the embedded default, in this folder
    config.write_text(tomli_w.dumps(data))
    store = open_test_store(settings)
    members = ["s1@example.com", "s2@example.com", "later@example.com"]
    populate(store, members)
    cid = simple_campaign(store, "spring")
    sink.rcpt_script["later@example.com"] = [REPLY_TRY_LATER]  # deferred: the run schedules its continuation
    when = (utcnow() + timedelta(seconds=2)).isoformat()
    scheduled = CliRunner().invoke(main, ["mailer", "send", "spring", "--at", when, "--config", str(config)])
    assert scheduled.exit_code == 0 and "scheduled for" in scheduled.output, scheduled.output
    with store.reader() as session:
        assert session.get(Campaign, cid).status == "scheduled"
    assert not sink.messages
    worker = subprocess.Popen([sys.executable, "-m", "responsemaster", "mailer", "worker", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until(lambda: len(sink.accepted) == 3, 90, f"three members mailed, got {dict(sink.accepted)}")
        _wait_until(lambda: _status(store, cid) == "sent", 30, "the campaign marked sent")
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            _out, err = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            _out, err = worker.communicate()
    assert dict(sink.accepted) == dict.fromkeys(members, 1), err
    with store.reader() as session:
        later = session.execute(select(Delivery).where(Delivery.address == "later@example.com")).scalars().one()
    assert (later.status, later.attempts) == ("sent", 2)  # the second attempt came from the scheduled continuation
    assert "Traceback" not in err, err


def _status(store, cid) -> str:  # type: ignore[no-untyped-def]
    with store.reader() as session:
        return session.get(Campaign, cid).status


def test_per_domain_throttling_spaces_one_domain_and_holds_nobody_else_back(tmp_path, sink):
    # Default: one message every 2 s to a domain; fast.example is exempt (0: no limit).
    settings = make_settings(tmp_path, [sink.relay(max_connections=2)], per_domain_rate=0.5,
                             domain_rates={"fast.example": 0})
    store = open_test_store(settings)
    slow = [f"s{i}@slow.example" for i in range(3)]
    fast = [f"f{i}@fast.example" for i in range(6)]
    populate(store, slow + fast)  # the throttled domain first in list order
    cid = simple_campaign(store)
    start = time.monotonic()
    result = send_campaign(settings, cid, store=store)
    assert result.status == "sent" and sorted(sink.accepted) == sorted(slow + fast)
    arrivals = {rcpt: at - start for at, rcpt in sink.arrivals}
    slow_times = sorted(arrivals[a] for a in slow)
    assert slow_times[1] >= 2.0 and slow_times[2] >= 4.0  # each slot is 1 / rate after the previous one
    assert max(arrivals[a] for a in fast) < slow_times[1]  # the exempt domain did not wait behind the slow one


def test_throttled_jobs_still_waiting_when_the_quota_runs_out_go_back_to_queued(tmp_path, sink):
    settings = make_settings(tmp_path, [sink.relay(max_per_hour=2, max_connections=1)], per_domain_rate=5)
    store = open_test_store(settings)
    populate(store, [f"q{i}@slow.example" for i in range(5)])
    cid = simple_campaign(store)
    result = send_campaign(settings, cid, store=store)
    assert result.status == "paused" and len(sink.messages) == 2
    with store.reader() as session:
        statuses = sorted(d.status for d in session.execute(select(Delivery).where(Delivery.campaign_id == cid)).scalars())
    assert statuses == ["queued", "queued", "queued", "sent", "sent"]  # none left 'sending' (it would become uncertain)
