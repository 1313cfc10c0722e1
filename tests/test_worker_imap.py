"""Several workers on one Dovecot mailbox (tests/fixtures/dovecot.py): each message processed once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.dovecot import dovecot, dovecot_user  # noqa: F401 - fixtures
from fixtures.worker_setup import cli, unique_copy, write_config
from imapclient import IMAPClient

pytestmark = pytest.mark.integration
MESSAGES = 240


def _append(dovecot, user: tuple[str, str], corpus_files: list[Path]) -> int:  # type: ignore[no-untyped-def]  # noqa: F811
    import random

    sources = [p.read_bytes() for p in corpus_files]
    random.Random(4).shuffle(sources)
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30) as client:
        client.login(*user)
        for seq in range(MESSAGES):
            client.append("INBOX", unique_copy(sources[seq % len(sources)], seq))
        return int(client.select_folder("INBOX")[b"EXISTS"])


def _count(dovecot, user: tuple[str, str], folder: str) -> int:  # type: ignore[no-untyped-def]  # noqa: F811
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30) as client:
        client.login(*user)
        if not client.folder_exists(folder):
            return 0
        return int(client.select_folder(folder, readonly=True)[b"EXISTS"])


def test_several_workers_on_one_imap_mailbox_process_each_message_once(  # type: ignore[no-untyped-def]
    dovecot, dovecot_user, tmp_path: Path, corpus_files: list[Path]  # noqa: F811
) -> None:
    assert _append(dovecot, dovecot_user, corpus_files) == MESSAGES
    source = {"name": "imap", "type": "imap", "host": dovecot.host, "port": dovecot.port, "user": dovecot_user[0],
              "password": dovecot_user[1], "tls": "none", "idle": False, "lease_seconds": 60}
    config = write_config(tmp_path / "rm.toml", tmp_path / "unused", f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
                          sources=[source], worker={"batch_size": 20, "settle_seconds": 5})
    procs = [subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--once", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outputs]
    status = json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]
    assert (status["name"], status["processed"] + status["quarantined"], status["pending"]) == ("imap", MESSAGES, 0)
    assert _count(dovecot, dovecot_user, "INBOX") == 0
    assert _count(dovecot, dovecot_user, "Processed") == status["processed"]
    lines = [json.loads(line) for line in cli("export", "verdicts", "--config", str(config)).stdout.splitlines()]
    assert len({line["id"] for line in lines}) == MESSAGES
