"""The mbox/file import source: keys, progress across runs, quarantine."""

from __future__ import annotations

import json
from pathlib import Path

from responsemaster.ingest.mbox_source import MboxSource

MBOX = (
    b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
    b"Subject: one\n\nfirst\n>From the quoted line\n\n"
    b"From MAILER-DAEMON Mon Jan  1 00:00:01 2024\n"
    b"Subject: two\n\nsecond\n\n"
    b"From MAILER-DAEMON Mon Jan  1 00:00:02 2024\n"
    b"Subject: three\n\nthird\n"
)


def _source(tmp_path: Path, *paths: Path) -> MboxSource:
    return MboxSource(
        "import", paths, state_file=tmp_path / "state" / "mbox.json", quarantine=tmp_path / "quarantine"
    )


def test_keys_and_bytes(tmp_path: Path) -> None:
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(MBOX)
    single = tmp_path / "one.eml"
    single.write_bytes(b"Subject: single\n\nx\n")
    source = _source(tmp_path, mbox, single)
    batch = source.fetch(10)
    assert [m.key for m in batch] == [f"{mbox}#0", f"{mbox}#1", f"{mbox}#2", str(single)]
    assert batch[0].raw == b"Subject: one\n\nfirst\nFrom the quoted line\n"
    assert batch[3].raw == single.read_bytes()


def test_progress_survives_a_restart_and_out_of_order_acks(tmp_path: Path) -> None:
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(MBOX)
    before = mbox.read_bytes()
    source = _source(tmp_path, mbox)
    assert source.pending() == 3
    batch = source.fetch(2)
    source.ack(batch[1].key)  # #1 done, #0 in flight when the worker dies
    restarted = _source(tmp_path, mbox)
    assert restarted.pending() == 2
    again = restarted.fetch(10)
    assert [m.key for m in again] == [f"{mbox}#0", f"{mbox}#2"]
    for message in again:
        restarted.ack(message.key)
    assert restarted.pending() == 0 and restarted.fetch(10) == []
    state = json.loads((tmp_path / "state" / "mbox.json").read_text())
    assert state["files"][str(mbox)] == {"next": 3, "extra": []}
    assert mbox.read_bytes() == before  # never rewritten


def test_quarantine_copies_the_message_out(tmp_path: Path) -> None:
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(MBOX)
    source = _source(tmp_path, mbox)
    first, *_ = source.fetch(3)
    source.quarantine(first.key, "cannot parse")
    [copy] = (tmp_path / "quarantine" / "new").iterdir()
    assert copy.read_bytes() == first.raw
    [reason] = (tmp_path / "quarantine" / "reasons").iterdir()
    record = json.loads(reason.read_text())
    assert record["key"] == first.key and record["reason"] == "cannot parse"
    assert source.quarantined() == 1 and source.pending() == 2
    assert mbox.read_bytes() == MBOX


def test_missing_file_is_quarantined_not_fatal(tmp_path: Path) -> None:
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(MBOX)
    source = _source(tmp_path, tmp_path / "missing.mbox", mbox)
    assert len(source.fetch(10)) == 3
    assert source.quarantined() == 1
