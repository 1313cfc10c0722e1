"""Workers sharing a PostgreSQL database: every recording transaction first takes advisory locks on
the batch's bytes and addresses in one order, and a batch that deadlocks anyway is recorded whole again.

Before, row locks were taken message by message in each batch's own order:
six workers draining mail that shared addresses deadlocked on subscriber
rows, the batch fell back to one savepoint per message, and a message whose
three tries all deadlocked was left unrecorded by ``run --once``. These tests
use real locks held by a second connection (the "other worker"), never a mock.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from fixtures.postgres import cluster
from fixtures.worker_setup import deliver_to_maildir
from sqlalchemy import text

from responsemaster.config import Settings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.routing import Router, load_routing
from responsemaster.store import Store, make_engine, upgrade_to_head
from responsemaster.verdict import RecipientVerdict, Verdict
from responsemaster.worker import BatchResult, WorkerOptions, process_batch
from responsemaster.worker_recording import ADDRESS_LOCKS, address_lock_key

MESSAGES = 6


class OneRecipientEach:
    """A hard bounce for the address in each message's X-Rcpt (so the test knows what a batch routes)."""

    def classify(self, raw: bytes) -> Verdict:
        address = raw.split(b"X-Rcpt: ", 1)[1].split(b"\n", 1)[0].decode()
        return Verdict("hard_bounce", 0.99, "test", "userunknown",
                       recipients=[RecipientVerdict(address, "hard_bounce", "userunknown", status="5.1.1")],
                       sender="mailer-daemon@example.net")


def _addresses() -> list[str]:
    return [f"user{n}@example.org" for n in range(MESSAGES)]


def _fill(box: Path) -> None:
    deliver_to_maildir(box, [f"X-Rcpt: {a}\nFrom: mailer-daemon@example.net\nSubject: failure {n}\n\nno\n".encode()
                             for n, a in enumerate(_addresses())])


def _process(store: Store, box: Path, bulk: bool, out: list[BatchResult]) -> None:
    router = Router(load_routing(Settings(base_dir=store.var.parent, sections={})), store.var)
    source = MaildirSource("returns", box, quarantine=box.parent / "quarantine")
    out.append(process_batch(source, OneRecipientEach(), store, router,
                             options=WorkerOptions(batch_size=MESSAGES, bulk=bulk), owner="w1"))


def _waiting_for(other: object, key: int, timeout: float = 20.0) -> bool:
    """Whether another backend comes to wait for the address lock ``key`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = other.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2 "
            "AND classid = :space AND objid = :key AND pid <> pg_backend_pid()"),
            {"space": ADDRESS_LOCKS, "key": key & 0xFFFFFFFF}).scalar_one()
        if found:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def pg(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = cluster().create_database()
    engine = make_engine(url)
    upgrade_to_head(engine)
    store = Store(engine, tmp_path / "var")
    other = make_engine(url)
    yield store, other
    other.dispose()
    store.close()


@pytest.mark.parametrize("bulk", [True, False])
def test_a_batch_waits_for_another_transaction_holding_one_of_its_addresses(pg, tmp_path: Path, bulk: bool) -> None:  # type: ignore[no-untyped-def]
    store, other = pg
    box = tmp_path / "box"
    _fill(box)
    held = address_lock_key("User3@Example.org")  # the lock is on the address's normal form
    with other.connect() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": ADDRESS_LOCKS, "key": held})
        results: list[BatchResult] = []
        worker = threading.Thread(target=_process, args=(store, box, bulk, results))
        worker.start()
        assert _waiting_for(conn, held), "the batch did not ask for its addresses' lock"
        assert not results  # nothing recorded while another transaction holds an address the batch routes
        conn.rollback()  # the other transaction ends: its lock goes
        worker.join(timeout=60)
    assert results and (results[0].processed, results[0].failed) == (MESSAGES, 0)


def test_a_batch_that_deadlocks_is_recorded_whole_again(pg, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """The other transaction holds the batch's last address lock, waits for the batch to queue on it, then
    asks for the batch's first: a cycle. PostgreSQL ends the batch's transaction (the other one checks
    for deadlocks later); the batch is recorded whole again, not message by message."""
    store, other = pg
    box = tmp_path / "box"
    _fill(box)
    keys = sorted(address_lock_key(a) for a in _addresses())
    with other.connect() as conn:
        conn.execute(text("SET deadlock_timeout = '10s'"))  # the batch's backend (1 s) finds the cycle first
        conn.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": ADDRESS_LOCKS, "key": keys[-1]})
        results: list[BatchResult] = []
        with caplog.at_level(logging.INFO, logger="responsemaster.worker"):
            worker = threading.Thread(target=_process, args=(store, box, True, results))
            worker.start()
            assert _waiting_for(conn, keys[-1]), "the batch did not ask for its addresses' lock"
            conn.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": ADDRESS_LOCKS, "key": keys[0]})
            conn.rollback()
            worker.join(timeout=60)
    assert results and (results[0].processed, results[0].failed) == (MESSAGES, 0)
    said = [r.getMessage() for r in caplog.records]
    assert any("recorded whole again" in line and "DeadlockDetected" in line for line in said), said
    assert not any("message by message" in line for line in said), said


def _raised(run) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - the fault under test
        return exc
    raise AssertionError("no fault")


def test_passing_faults_are_told_from_the_others(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Real faults: a busy SQLite, a PostgreSQL backend killed under a connection, a unique violation."""
    from sqlalchemy import create_engine

    from responsemaster.worker_recording import passing_fault

    store, other = pg
    lite = create_engine(f"sqlite:///{tmp_path / 'busy.db'}", connect_args={"timeout": 0})
    with lite.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    with lite.connect() as holder, lite.connect() as waiter:
        holder.exec_driver_sql("BEGIN IMMEDIATE")
        busy = _raised(lambda: waiter.execute(text("INSERT INTO t VALUES (1)")))
        holder.rollback()
    with store.engine.connect() as conn, other.connect() as killer:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        lost = _raised(lambda: conn.execute(text("SELECT 1")))
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE u (x INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO u VALUES (1)"))
        duplicate = _raised(lambda: conn.execute(text("INSERT INTO u VALUES (1)")))
    assert (passing_fault(busy), passing_fault(lost), passing_fault(duplicate), passing_fault(OSError("disk"))) == (
        True, True, False, False)
    lite.dispose()
