"""The IMAP source against a real Dovecot (tests/fixtures/dovecot.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.dovecot import dovecot, dovecot_user  # noqa: F401 - fixtures
from imapclient import IMAPClient

from responsemaster.ingest.imap_source import CLAIMED, ImapConfig, ImapSource, search_filter

pytestmark = pytest.mark.integration

Maker = Callable[..., ImapSource]


def _bounce(n: int, to: str = "bounces+abc@returns.example.org") -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\nSubject: Undelivered {n}\r\n"
        f"Message-ID: <b{n}@mx.example.net>\r\n\r\nThe mail system said no. {n}\r\n  trailing  \r\n"
    ).encode()


@pytest.fixture
def admin(dovecot, dovecot_user) -> Iterator[IMAPClient]:  # type: ignore[no-untyped-def]
    """A plain client on the test user's account, to put mail in and look at it."""
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
    client.login(*dovecot_user)
    yield client
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - a test may have kicked it
        pass


@pytest.fixture
def make_source(dovecot, dovecot_user, tmp_path: Path) -> Iterator[Maker]:  # type: ignore[no-untyped-def]
    """Factory fixture: an ImapSource on the test user's INBOX, tuned per test."""
    made: list[ImapSource] = []

    def make(name: str = "bounces", **overrides: object) -> ImapSource:
        config = ImapConfig(
            host=dovecot.host,
            port=dovecot.port,
            user=dovecot_user[0],
            password=dovecot_user[1],
            tls="none",
            state_dir=tmp_path / "state",
            timeout=10,
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        source = ImapSource(name, config)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def _folder_bodies(client: IMAPClient, folder: str, *criteria: str) -> list[bytes]:
    client.select_folder(folder, readonly=True)
    uids = client.search(list(criteria) or ["ALL"])
    data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [data[u][b"BODY[]"] for u in sorted(data)]


def _flags(client: IMAPClient, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    return {u: f[b"FLAGS"] for u, f in client.fetch(uids, ["FLAGS"]).items()} if uids else {}


def test_fetch_ack_quarantine_round_trip(admin: IMAPClient, make_source: Maker) -> None:
    messages = [_bounce(n) for n in range(3)]
    for data in messages:
        admin.append("INBOX", data)
    source = make_source()
    assert source.pending() == 3
    batch = source.fetch(10)
    assert [m.raw for m in batch] == messages
    assert all(m.key == f"{source.uidvalidity}:{n + 1}" for n, m in enumerate(batch))
    assert all(b"\\Seen" not in flags for flags in _flags(admin).values())  # BODY.PEEK[]
    source.ack(batch[0].key)
    source.ack(batch[1].key)
    source.quarantine(batch[2].key, "parse error: no headers\nat all")
    source.ack(batch[0].key)  # idempotent
    assert source.pending() == 0 and _folder_bodies(admin, "INBOX") == []
    assert _folder_bodies(admin, "Processed") == messages[:2]
    assert _folder_bodies(admin, "Errors", "NOT", "KEYWORD", "$RMReason") == [messages[2]]  # byte for byte
    [note] = _folder_bodies(admin, "Errors", "KEYWORD", "$RMReason")
    assert b"X-ResponseMaster-Quarantine-Reason: parse error: no headers at all" in note
    assert batch[2].sha256.encode() in note
    assert source.quarantined() == 1


def test_folders_are_created_and_configurable(admin: IMAPClient, make_source: Maker) -> None:
    admin.append("INBOX", _bounce(1))
    source = make_source(processed_folder="RM.Done", errors_folder="RM.Failed")
    [message] = source.fetch(5)
    source.ack(message.key)
    source.flush()
    assert admin.folder_exists("RM.Done") and admin.folder_exists("RM.Failed")
    assert _folder_bodies(admin, "RM.Done") == [_bounce(1)]


def test_filter_leaves_unrelated_mail_alone(admin: IMAPClient, make_source: Maker) -> None:
    admin.append("INBOX", b"From: boss@example.com\r\nTo: team@example.com\r\nSubject: lunch\r\n\r\nhi\r\n")
    admin.append("INBOX", _bounce(1))
    admin.append("INBOX", b"To: x@example.com\r\nDelivered-To: bounces+zz@returns.example.org\r\n\r\nDSN\r\n")
    source = make_source(criteria=search_filter({"recipient_contains": "bounces+"}))
    batch = source.fetch(10)
    assert [m.key.split(":")[1] for m in batch] == ["2", "3"]
    for message in batch:
        source.ack(message.key)
    assert source.pending() == 0  # (sends the gathered acks)
    assert _flags(admin) == {1: ()}  # not read, not flagged, not moved


def test_uidvalidity_change_rekeys(admin: IMAPClient, make_source: Maker) -> None:
    admin.create_folder("Returns")
    admin.append("Returns", _bounce(1))
    first = make_source(mailbox="Returns")
    [before] = first.fetch(5)
    old_validity = first.uidvalidity
    first.close()
    admin.delete_folder("Returns")  # rebuilt mailbox: new UIDVALIDITY, same mail
    admin.create_folder("Returns")
    admin.append("Returns", _bounce(1))
    second = make_source(mailbox="Returns")
    [after] = second.fetch(5)
    assert second.uidvalidity != old_validity and second.uidvalidity_changes == 1
    assert after.key != before.key and after.sha256 == before.sha256  # the store dedups by sha256
    second.ack(before.key)  # an old key is refused, not applied to another message
    assert second.pending() == 1
    second.ack(after.key)
    assert second.pending() == 0


def test_idle_wakes_up_on_append(admin: IMAPClient, make_source: Maker) -> None:
    source = make_source()
    assert source.fetch(5) == []
    threading.Timer(0.5, lambda: admin.append("INBOX", _bounce(7))).start()
    started = time.monotonic()
    assert source.wait(15) is True
    assert time.monotonic() - started < 10
    assert [m.raw for m in source.fetch(5)] == [_bounce(7)]


def test_reconnects_after_the_server_drops_the_connection(dovecot, dovecot_user, admin, make_source) -> None:  # type: ignore[no-untyped-def]
    admin.append("INBOX", _bounce(1))
    admin.append("INBOX", _bounce(2))
    source = make_source()
    [first] = source.fetch(1)
    dovecot.kick(dovecot_user[0])
    time.sleep(0.3)
    [second] = source.fetch(1)  # reconnects transparently; its own claim survives
    assert second.raw == _bounce(2)
    source.ack(first.key)
    source.ack(second.key)
    assert source.pending() == 0


def _drain_side_by_side(sources: list[ImapSource], batch: int) -> list[tuple[str, str]]:
    """Each source drains in its own thread; fails if two ever hold one key. (key, source) per fetch."""
    held: dict[str, str] = {}
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def drain(source: ImapSource) -> None:
        try:
            while batch_ := source.fetch(batch):
                with lock:
                    for message in batch_:
                        assert message.key not in held, f"{message.key} held by {held[message.key]} too"
                        held[message.key] = source.name
                        seen.append((message.key, source.name))
                time.sleep(0.01)
                for message in batch_:
                    with lock:
                        del held[message.key]
                    source.ack(message.key)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return seen


def test_two_sources_never_hold_the_same_uid(admin: IMAPClient, make_source: Maker) -> None:
    total = 60
    admin.multiappend("INBOX", [_bounce(n) for n in range(total)])
    seen = _drain_side_by_side([make_source(f"w{i}") for i in range(2)], 4)
    keys = [key for key, _ in seen]
    assert len(keys) == total and len(set(keys)) == total
    assert {worker for _, worker in seen} == {"w0", "w1"}  # both really drained
    assert make_source("check").pending() == 0


def test_three_workers_in_a_busy_shared_inbox_never_double_claim(dovecot, dovecot_user, admin, make_source) -> None:  # type: ignore[no-untyped-def]
    """CI's slice of benchmarks/imap_claims.py: a person keeps reading unrelated mail while three workers drain."""
    total = 300
    mixed = [m for n in range(total) for m in (_bounce(n), _bounce(n, to="team@example.org"))]
    for start in range(0, len(mixed), 100):
        admin.multiappend("INBOX", mixed[start:start + 100])
    stop = threading.Event()

    def person() -> None:
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30) as client:
            client.login(*dovecot_user)
            client.select_folder("INBOX")
            others = client.search(["NOT", "TO", "bounces+"])
            flip = True
            while not stop.is_set():
                (client.add_flags if flip else client.remove_flags)(others[:: 7], [b"\\Seen"])
                flip = not flip

    noise = threading.Thread(target=person)
    noise.start()
    try:
        filtered = {"criteria": search_filter({"recipient_contains": "bounces+"})}
        seen = _drain_side_by_side([make_source(f"w{i}", **filtered) for i in range(3)], 3)
    finally:
        stop.set()
        noise.join(30)
    keys = [key for key, _ in seen]
    assert len(keys) == total and len(set(keys)) == total
    assert make_source("check", **filtered).pending() == 0


def test_claims_of_a_crashed_worker_expire(admin: IMAPClient, make_source: Maker) -> None:
    admin.append("INBOX", _bounce(1))
    crashed = make_source("crashed", lease_seconds=1)
    [taken] = crashed.fetch(5)
    crashed._drop()  # dies without releasing (no close)
    crashed._held.clear()
    other = make_source("other", lease_seconds=1)
    assert other.fetch(5) == []  # claimed: not fetchable; first sight starts the lease clock
    assert CLAIMED.encode() in _flags(admin)[1]
    time.sleep(1.2)
    [again] = other.fetch(5)
    assert again.key == taken.key and again.raw == taken.raw


def test_a_released_message_is_fetched_again_at_once(admin: IMAPClient, make_source: Maker) -> None:
    """What the worker does with a message that failed, to try it again before it stops."""
    for n in range(2):
        admin.append("INBOX", _bounce(n))
    source = make_source(lease_seconds=600)
    first, second = source.fetch(5)
    assert source.fetch(5) == []  # both held
    source.release([second.key])
    [again] = source.fetch(5)  # long before the lease would have ended
    assert (again.key, again.raw) == (second.key, second.raw)
    assert make_source("other").fetch(5) == []  # held again, by the same worker


def test_conditional_store_refuses_the_loser(admin: IMAPClient, make_source: Maker) -> None:
    """The race itself: B claims between A's check (FETCH MODSEQ) and A's STORE."""
    admin.multiappend("INBOX", [_bounce(n) for n in range(3)])
    a, b = make_source("a"), make_source("b")
    won_by_b: list[str] = []
    real_store = a._store_unchangedsince

    def store_after_b(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not won_by_b:
            won_by_b.extend(m.key for m in b.fetch(2))  # B wins UIDs 1 and 2 in between
        return real_store(*args, **kwargs)

    a._store_unchangedsince = store_after_b  # type: ignore[method-assign]
    got_a = [m.key for m in a.fetch(3)]
    assert len(won_by_b) == 2
    assert set(got_a).isdisjoint(won_by_b)
    assert got_a == [f"{a.uidvalidity}:3"]  # only the one B did not take


def test_acks_are_gathered_into_one_move(admin: IMAPClient, make_source: Maker) -> None:
    admin.multiappend("INBOX", [_bounce(n) for n in range(5)])
    source = make_source()
    source.ack_batch = 3
    batch = source.fetch(10)
    for message in batch[:2]:
        source.ack(message.key)
    assert len(_folder_bodies(admin, "INBOX")) == 5  # not sent yet: still claimed by us
    source.ack(batch[2].key)  # the third reaches ack_batch
    assert len(_folder_bodies(admin, "INBOX")) == 2
    source.ack(batch[3].key)
    assert source.fetch(10) == []  # the fifth is ours already; the fetch sends the gathered ack first
    assert len(_folder_bodies(admin, "Processed")) == 4


def test_an_unsolicited_fetch_never_frees_a_claimed_message(admin: IMAPClient, make_source: Maker) -> None:
    """The double claim, reproduced: another session's flag change arrives during A's FETCH (MODSEQ FLAGS)
    as ``* <seq> FETCH`` without a UID. When that sequence number equals a UID A asked about, the
    other message's flags (no claim) and newer mod-sequence must not be read as that UID's."""
    admin.multiappend("INBOX", [_bounce(n) for n in range(6)])
    admin.select_folder("INBOX")
    admin.delete_messages([1])
    admin.uid_expunge([1])  # from now on sequence number s is UID s + 1
    a, b = make_source("a"), make_source("b")
    assert a.pending() == 5 and b.pending() == 5  # both connected, views in sync
    taken_by_b: list[str] = []
    real_claim = a._claim

    def claim_after_b(client, uids):  # type: ignore[no-untyped-def]
        if not taken_by_b:  # between A's SEARCH and A's FETCH: B claims UID 2, a person reads UID 3 (sequence 2)
            taken_by_b.extend(m.key for m in b.fetch(1))
            admin.add_flags([3], [b"\\Seen"])
        return real_claim(client, uids)

    a._claim = claim_after_b  # type: ignore[method-assign]
    got_a = [m.key for m in a.fetch(1)]
    assert taken_by_b == [f"{b.uidvalidity}:2"]
    assert taken_by_b[0] not in got_a, "A claimed the message B holds"


def test_an_ack_after_someone_else_moved_the_message_is_harmless(admin: IMAPClient, make_source: Maker) -> None:
    """A lease taken over (or a person filing the message) between fetch and ack: the MOVE is refused
    with [EXPUNGEISSUED] for the whole set; the other acks of the set must still go through."""
    admin.multiappend("INBOX", [_bounce(n) for n in range(3)])
    source = make_source()
    batch = source.fetch(3)
    admin.create_folder("Elsewhere")
    admin.select_folder("INBOX")
    admin.move([2], "Elsewhere")
    for message in batch:
        source.ack(message.key)
    source.flush()
    assert _folder_bodies(admin, "INBOX") == []
    assert _folder_bodies(admin, "Processed") == [_bounce(0), _bounce(2)]


def test_other_workers_claims_are_read_once_per_tenth_of_the_lease(admin: IMAPClient, make_source: Maker) -> None:
    """A worker gathers a batch in several fetches a moment apart: only the first reads the others' claims.

    Each look read the MODSEQ and FLAGS of every message another worker held
    (thousands of FETCH responses parsed per fetch once batches held thousands).
    """
    admin.multiappend("INBOX", [_bounce(n) for n in range(8)])
    b = make_source("b", lease_seconds=600)
    assert len(b.fetch(4)) == 4
    a = make_source("a", lease_seconds=600)
    looks: list[int] = []
    real = a._release_expired

    def counted(client: IMAPClient) -> None:
        looks.append(len(looks))
        real(client)

    a._release_expired = counted  # type: ignore[method-assign]
    taken = [m for _ in range(4) for m in a.fetch(1)]
    assert len(taken) == 4 and len(looks) == 1  # four fetches in a row, one look (the lease is 600 s)
    a._next_release = 0.0  # a tenth of the lease later
    assert a.fetch(1) == [] and len(looks) == 2
