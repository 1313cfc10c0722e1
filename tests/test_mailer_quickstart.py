"""docs/mailer.md's quick start, run exactly as written, against a local SMTP sink on the port it names.

Every ``sh`` block of the "Quick start" section is handed to bash as it is
in the document (no substitution), from an empty folder, with the installed
``responsemaster`` command: ``init``, six subscribers, a test copy, three
members, then the rest. The sink counts what it receives per recipient.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

DOC = Path(__file__).resolve().parent.parent / "docs" / "mailer.md"
HOST, PORT = "127.0.0.1", 1025  # what the quick start's `init --relay` names


def quick_start() -> tuple[str, list[str]]:
    """The section's text and its ``sh`` blocks, in order."""
    section = DOC.read_text(encoding="utf-8").split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return section, re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)


class Sink:
    """Keeps (recipient, message) in arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, object]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        with self.lock:
            self.received.extend((rcpt.lower(), msg) for rcpt in envelope.rcpt_tos)
        return "250 2.0.0 OK"


@pytest.fixture
def doc_sink() -> Iterator[Sink]:
    """The sink on the documented port; one test run at a time on this machine holds it."""
    with open(Path("/tmp") / f"responsemaster-quickstart-{PORT}.lock", "w") as lock:
        deadline = time.monotonic() + 300
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test run held {HOST}:{PORT} for 5 minutes")
                time.sleep(0.5)
        with socket.socket() as probe:
            if probe.connect_ex((HOST, PORT)) == 0:
                pytest.fail(f"{HOST}:{PORT} is taken by another program; docs/mailer.md's quick start names that port")
        sink = Sink()
        controller = Controller(sink, hostname=HOST, port=PORT)
        controller.start()
        try:
            yield sink
        finally:
            controller.stop()


def test_quick_start_sends_to_three_then_the_rest_once_each(doc_sink: Sink, tmp_path: Path) -> None:
    section, blocks = quick_start()
    assert len(blocks) >= 4 and blocks[0].startswith("responsemaster init")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSEMASTER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the installed command
    outputs = []
    for block in blocks:
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        outputs.append(done.stdout + done.stderr)
    config = tmp_path / "responsemaster.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds the VERP secret
    assert "plain http on a loopback host" in outputs[0]  # the one-line warning about the trial's links

    members = [row["email"] for row in csv.DictReader(io.StringIO((tmp_path / "subscribers.csv").read_text()))]
    assert len(members) == 6
    order = [rcpt for rcpt, _msg in doc_sink.received]
    test_copies = [msg for rcpt, msg in doc_sink.received if rcpt not in members]
    assert len(test_copies) == 1 and test_copies[0]["Subject"].startswith("[TEST] ")
    assert test_copies[0]["X-ResponseMaster-Test"]
    mailed = [rcpt for rcpt in order if rcpt in members]
    assert sorted(mailed) == sorted(members)  # six distinct recipients, nobody twice
    assert set(mailed[:3]) == set(members[:3]) and set(mailed[3:]) == set(members[3:])  # three, then the rest
    sends = "".join(outputs)
    assert sends.count("  sent: 3\n") == 2 and '"sent": 3,' in sends  # stats between the two sends saw three
    assert (tmp_path / "preview-spring-2026.html").read_text().startswith("<p>Hello Ann")
    assert "sink shows seven messages" in section and len(doc_sink.received) == 7
