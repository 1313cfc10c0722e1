"""Several IMAP workers on one mailbox: does any message get claimed twice?

    python benchmarks/imap_claims.py [--workers 3] [--messages 2000] [--rounds 5] [--batch 5]
                                     [--no-noise] [--naive-fetch] [--claim-by-move]

Starts a throwaway Dovecot (configured as tests/fixtures/dovecot.py's fixture),
and per round: APPENDs ``--messages`` returned messages interleaved with as
many unrelated ones (a shared inbox), then drains the returned ones with
``--workers`` processes, each an ``ImapSource`` (its own connection) claiming
``--batch`` messages at a time and acking them. Meanwhile a "person" session
keeps marking unrelated messages read and unread: each change reaches the
workers as an unsolicited ``FETCH`` keyed by sequence number, the traffic that
made two workers hold one message before the fix (``--naive-fetch`` puts the
old way of reading MODSEQ and FLAGS back, to compare in the same run).

A double claim is a message returned by ``fetch`` to more than one worker, or
twice to one. ``--claim-by-move`` measures the design we did not take: each
worker claims with ``UID MOVE`` into a folder of its own and counts what the
server's COPYUID says it moved. Prints one row per round and the totals. Nothing is timed as a
target; the rate is printed to show how much contention there was.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from drain_bench import Dovecot  # noqa: E402

SUBJECT = "Undelivered Mail Returned to Sender"


def returned(n: int) -> bytes:
    return (f"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces+{n}@returns.example.org\r\n"
            f"Subject: {SUBJECT}\r\nMessage-ID: <claim-{n}@bench.invalid>\r\n\r\nuser unknown {n}\r\n").encode()


def unrelated(n: int) -> bytes:
    return (f"From: colleague@example.org\r\nTo: team@example.org\r\nSubject: lunch {n}\r\n"
            f"Message-ID: <other-{n}@bench.invalid>\r\n\r\nsee you\r\n").encode()


def _naive_modseq_and_flags(self, uids):  # type: ignore[no-untyped-def]
    """The reading before the fix: imapclient's fetch, which files UID-less unsolicited responses under their number."""
    return self._client.fetch(uids, ["MODSEQ", "FLAGS"])


def worker(index: int, port: int, user: str, password: str, batch: int, naive: bool, state: str, out) -> None:  # type: ignore[no-untyped-def]
    from responsemaster.ingest.imap_source import ImapConfig, ImapSource

    if naive:
        ImapSource._modseq_and_flags = _naive_modseq_and_flags  # type: ignore[method-assign]
    config = ImapConfig(host="127.0.0.1", port=port, user=user, password=password, tls="none", idle=False,
                        state_dir=Path(state) / user / f"w{index}", timeout=60, criteria=f'SUBJECT "{SUBJECT}"')
    source = ImapSource(f"w{index}", config)
    got: list[str] = []
    error = ""
    try:
        while True:
            messages = source.fetch(batch)
            if not messages:
                if source.pending() == 0:
                    break
                time.sleep(0.02)
                continue
            got.extend(m.raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode() for m in messages)
            for message in messages:
                source.ack(message.key)
    except Exception as exc:  # noqa: BLE001 - reported in the table (a worker acking what another moved, say)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        source.close()
        out.put((got, error))


def mover(index: int, port: int, user: str, password: str, batch: int, out) -> None:  # type: ignore[no-untyped-def]
    """Claims by ``UID MOVE`` into its own folder; what COPYUID reports it moved."""
    from imapclient import IMAPClient

    got: list[str] = []
    with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=60) as client:
        client.login(user, password)
        folder = f"Claims{index}"
        client.create_folder(folder)
        client.select_folder("INBOX")
        imap = client._imap
        while uids := client.search(["SUBJECT", SUBJECT, "NOT", "DELETED"]):
            imap.untagged_responses.pop("COPYUID", None)
            imap.uid("MOVE", ",".join(str(u) for u in sorted(uids)[:batch]), folder)
            for item in imap.untagged_responses.pop("COPYUID", []):
                got.extend(f"uid-{u}" for u in _uid_set((item.decode() if isinstance(item, bytes) else item).split()[1]))
    out.put((got, ""))


def _uid_set(text: str) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


def person(port: int, user: str, password: str, stop) -> None:  # type: ignore[no-untyped-def]
    """Marks every seventh unrelated message read, then unread, as fast as the server lets it."""
    from imapclient import IMAPClient

    with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=60) as client:
        client.login(user, password)
        client.select_folder("INBOX")
        others = client.search(["NOT", "SUBJECT", SUBJECT])[::7]
        flip = True
        while not stop.is_set() and others:
            (client.add_flags if flip else client.remove_flags)(others, [b"\\Seen"])
            flip = not flip


def one_round(dovecot: Dovecot, args: argparse.Namespace, state: str) -> dict[str, float]:
    user = dovecot.new_user()
    mail = [m for n in range(args.messages) for m in (returned(n), unrelated(n))]
    dovecot.append(user, mail)
    ctx = multiprocessing.get_context("fork")
    out, stop = ctx.Queue(), ctx.Event()
    noise = None if args.no_noise else ctx.Process(target=person, args=(dovecot.port, user, dovecot.fx.PASSWORD, stop))
    if noise is not None:
        noise.start()
    started = time.monotonic()
    if args.claim_by_move:
        procs = [ctx.Process(target=mover, args=(i, dovecot.port, user, dovecot.fx.PASSWORD, args.batch, out))
                 for i in range(args.workers)]
    else:
        procs = [ctx.Process(target=worker, args=(i, dovecot.port, user, dovecot.fx.PASSWORD, args.batch, args.naive_fetch,
                                                  state, out)) for i in range(args.workers)]
    for proc in procs:
        proc.start()
    finished = [out.get(timeout=1800) for _ in procs]
    results = [got for got, _ in finished]
    errors = [error for _, error in finished if error]
    seconds = time.monotonic() - started
    for proc in procs:
        proc.join()
    stop.set()
    if noise is not None:
        noise.join()
    claimed = Counter(key for got in results for key in got)
    return {"claims": sum(claimed.values()), "distinct": len(claimed), "double": sum(1 for n in claimed.values() if n > 1),
            "seconds": seconds, "per_worker": [len(got) for got in results], "errors": errors}  # type: ignore[dict-item]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5, help="messages per fetch (small: more contention)")
    parser.add_argument("--no-noise", action="store_true", help="no person changing flags on unrelated mail")
    parser.add_argument("--naive-fetch", action="store_true", help="the MODSEQ/FLAGS reading before the fix")
    parser.add_argument("--claim-by-move", action="store_true", help="claim by UID MOVE into per-worker folders instead")
    args = parser.parse_args()
    dovecot = Dovecot()
    doubles = 0
    print(f"# {args.workers} workers, {args.messages} returned + {args.messages} unrelated messages per round, "
          f"batch {args.batch}, noise {'off' if args.no_noise else 'on'}, "
          f"{'claim by UID MOVE' if args.claim_by_move else ('naive' if args.naive_fetch else 'UID-checked') + ' FETCH'}; {platform.node()}, Python {platform.python_version()}")
    print("| round | claims | distinct | double claims | per worker | seconds | worker errors |\n|---|---|---|---|---|---|---|")
    try:
        with tempfile.TemporaryDirectory() as state:
            for number in range(1, args.rounds + 1):
                row = one_round(dovecot, args, state)
                doubles += int(row["double"]) + len(row["errors"])
                print(f"| {number} | {row['claims']} | {row['distinct']} | {row['double']} | {row['per_worker']} | {row['seconds']:.1f} | {'; '.join(row['errors'])[:200] or '-'} |",
                      flush=True)
    finally:
        dovecot.stop()
    print(f"\ndouble claims and worker errors in {args.rounds} rounds: {doubles}")
    return 1 if doubles and not (args.naive_fetch or args.claim_by_move) else 0


if __name__ == "__main__":
    sys.exit(main())
