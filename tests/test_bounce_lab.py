"""The bounce lab's generator keeps working: Postfix, a few catalogue replies, labelled DSNs.

A small slice of ``python -m benchmarks.bouncelab run``: Debian's Postfix
in its sandbox relays to the scripted receiver, which refuses one recipient
at RCPT, one at end of DATA (the same user-unknown words: userunknown at
RCPT, filtered at DATA), blocks one at RCPT, answers one with a temporary
"mailbox full" until the message expires (a delay warning first), and
accepts one. The DSNs Postfix writes must come back to the collector,
report exactly the planned recipients with the generator's labels, carry
the receiver's words, be written in the corpus format, and every process
and folder of the run must be gone afterwards.

Needs root (namespaces; Postfix's master drops to 'postfix'). Without
Postfix or root the test fails under CI and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from fixtures.servers import missing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the lab lives in benchmarks/, not a package

from benchmarks.bouncelab.catalogue import Catalogue, load
from benchmarks.bouncelab.lab import run_lab
from benchmarks.bouncelab.labels import write
from benchmarks.bouncelab.mtas import Timings
from benchmarks.bouncelab.plan import Planner

pytestmark = pytest.mark.integration

ENTRIES = ("gmail-nouser@rcpt", "gmail-nouser@data", "pf-rbl", "rfc-422")


@pytest.fixture(scope="module")
def outcome():
    if shutil.which("postfix") is None or shutil.which("unshare") is None or shutil.which("script") is None:
        missing("the bounce lab needs postfix, unshare and script (apt-get install postfix util-linux bsdutils)")
    if os.geteuid() != 0:
        missing("the bounce lab needs root: PID/mount namespaces and Postfix's master")
    full = load()
    catalogue = Catalogue({i: full.entries[i] for i in ENTRIES})
    planner = Planner(catalogue, seed=7)
    nouser_rcpt, nouser_data, rbl, full_temp = (catalogue.entries[i] for i in ENTRIES)
    planner.add("postfix", [planner.recipient(nouser_rcpt)])
    planner.add("postfix", [planner.recipient(rbl), planner.recipient(nouser_data), planner.recipient(None)])
    planner.add("postfix", [planner.recipient(full_temp)])
    plan = planner.plan
    timings = Timings(warn_after=6, expire_after=16, retry_every=3, connect_timeout=3, command_timeout=5)
    before = set(Path("/run").glob("bouncelab-*"))
    result = run_lab(plan, catalogue, ["postfix"], timings, log=lambda *_: None, settle=40)
    return plan, result, before


def _by_address(rows):
    out = {}
    for _raw, label in rows:
        for rcpt in label["recipients"]:
            out.setdefault(rcpt["address"], []).append((label, rcpt))
    return out


def test_every_planned_failure_comes_back_with_the_generators_label(outcome):
    plan, result, _ = outcome
    assert not result.pending, f"never reported: {result.pending}"
    assert not result.unlabelled
    reported = _by_address(result.rows)
    single, mixed, temporary = plan.messages
    want = {
        single.recipients[0].address: {"userunknown"},
        mixed.recipients[0].address: {"blocked"},
        mixed.recipients[1].address: {"filtered"},
        temporary.recipients[0].address: {"delayed", "mailboxfull"},
    }
    got = {address: {r["reason"] for _, r in rows} for address, rows in reported.items()}
    assert got == want
    accepted = mixed.recipients[2].address
    assert accepted not in reported
    for address, rows in reported.items():
        for label, rcpt in rows:
            assert label["source"] == "bouncelab:postfix" and label["mta"] == "postfix"
            assert label["category"] == label["recipients"][0]["category"]
            expected_category = {"userunknown": "hard_bounce", "blocked": "mail_block", "filtered": "mail_block",
                                 "delayed": "delivery_status", "mailboxfull": "mailbox_full"}[rcpt["reason"]]
            assert rcpt["category"] == expected_category


def test_the_dsns_carry_the_receivers_words_and_stage(outcome):
    _, result, _ = outcome
    for raw, label in result.rows:
        text = raw.decode("utf-8", "replace")
        assert b"Delivered-To: bounce-" in raw and "multipart/report" in text
        first = label["recipients"][0]
        if first["reason"] in ("userunknown", "filtered"):
            assert "does not exist" in text
            stage = "RCPT TO" if first["reason"] == "userunknown" else "end of DATA"
            assert f"in reply to {stage} command" in text
        if first["reason"] == "delayed":
            assert "Delayed Mail" in text and "Action: delayed" in text
        if first["reason"] == "mailboxfull":
            assert "452 4.2.2" in text and "Action: failed" in text


def test_the_set_is_written_in_the_corpus_format(outcome, tmp_path):
    _, result, _ = outcome
    assert write(tmp_path, result.rows) == len(result.rows)
    lines = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert len(lines) == len(result.rows) == len(list(tmp_path.glob("*.eml")))
    for line in lines:
        assert (tmp_path / line["file"]).is_file() and len(line["file"]) == len("0123456789abcdef.eml")
        assert {"address", "reason", "category", "status", "reply_code", "stage"} <= set(line["recipients"][0])
    assert write(tmp_path, result.rows) == 0  # the same bytes are not written twice


def test_nothing_of_the_run_is_left_behind(outcome):
    _, _, before = outcome
    assert set(Path("/run").glob("bouncelab-*")) == before
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_lab_process(p)]
    assert not leftovers


def _is_lab_process(proc: Path) -> bool:
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"/run/bouncelab-" in cmdline


KILLED_RUN = """
import sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from benchmarks.bouncelab.mtas import Setup
from benchmarks.bouncelab.mtas.postfix import Postfix
root = Path(tempfile.mkdtemp(prefix="bouncelab-killed-", dir="/run"))
root.chmod(0o755)
mta = Postfix(Setup(root, "127.77.10.9", {port}, {port}))
mta.configure()
mta.start()
mta.wait_ready()
print(mta.sandbox.process.pid, root, flush=True)
time.sleep(600)
"""


def test_a_killed_lab_takes_its_mta_with_it():
    """SIGKILL the script that started Postfix: every process of Postfix's namespace dies too."""
    import signal
    import subprocess
    import time

    if shutil.which("postfix") is None or os.geteuid() != 0:
        missing("needs postfix and root")
    from benchmarks.bouncelab.lab import _free_port

    repo = str(Path(__file__).resolve().parent.parent)
    script = KILLED_RUN.format(repo=repo, port=_free_port("127.77.10.9", 2700))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        unshare_pid, root = child.stdout.readline().split()
        namespace = os.readlink(f"/proc/{_first_child(int(unshare_pid))}/ns/pid")
        members = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _namespace_of(p) == namespace]
        assert len(members) >= 3  # the shell, master, and its daemons
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.exists() for p in members):
        time.sleep(0.2)
    assert not [p.name for p in members if p.exists()]
    shutil.rmtree(root, ignore_errors=True)


def _first_child(pid: int) -> int:
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


def _namespace_of(proc: Path) -> str:
    try:
        return os.readlink(proc / "ns" / "pid")
    except OSError:
        return ""
