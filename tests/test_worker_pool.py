"""``run --once`` on several cores: N worker processes on one Maildir, claims given back by a
worker that dies, and no worker left behind by a parent that dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.store_backends import db_url  # noqa: F401 - fixture
from fixtures.worker_setup import cli, fill_maildir, maildir_counts, write_config
from sqlalchemy import func, select

from responsemaster.config import load_settings
from responsemaster.store import open_store
from responsemaster.store.actions import MessageClaim
from responsemaster.worker_pool import default_workers


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _start_once(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--once", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _workers_of(proc: subprocess.Popen[str], count: int, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _children(proc.pid)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"run --once did not start {count} workers: {_children(proc.pid)}")


def _owners(config: Path) -> int:
    store = open_store(load_settings(config))
    with store.reader() as s:
        owners = s.execute(select(func.count(func.distinct(MessageClaim.owner)))).scalar_one()
    store.close()
    return int(owners)


def test_the_default_is_one_worker_per_cpu_this_process_may_use() -> None:
    assert default_workers() == len(os.sched_getaffinity(0))


def test_two_workers_drain_one_maildir_and_each_message_is_recorded_once(
    db_url: str, tmp_path: Path, corpus_files: list[Path]  # noqa: F811
) -> None:
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 600, poison_every=100)
    config = write_config(tmp_path / "rm.toml", box, db_url, worker={"batch_size": 20})
    run = cli("run", "--once", "--workers", "2", "--config", str(config), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "done returns: 594 processed, 0 already done, 6 quarantined, 0 failed" in run.stderr
    status = json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]
    assert (status["processed"], status["quarantined"], status["pending"]) == (594, 6, 0)
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 594}
    assert _owners(config) == 2  # both workers took messages


def test_a_worker_that_dies_gives_its_claims_back_and_the_run_still_drains_everything(
    tmp_path: Path, corpus_files: list[Path]
) -> None:
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 1500)
    # A long lease: only giving the claims back (not their expiry) lets the others take them in time.
    config = write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
                          worker={"batch_size": 50, "lease_seconds": 3600, "settle_seconds": 20},
                          sources=[{"name": "returns", "type": "maildir", "path": str(box), "lease_seconds": 3600}])
    proc = _start_once(config, "--workers", "2")
    victim = _workers_of(proc, 2)[0]
    deadline = time.monotonic() + 120
    while not any(f".{victim}." in name.name for name in (box / "rm-claimed").glob("*")):  # it holds a batch
        assert time.monotonic() < deadline and proc.poll() is None, "the worker never claimed anything"
        time.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert f"worker {victim} died (signal SIGKILL)" in err
    status = json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]
    assert (status["processed"], status["pending"]) == (1500, 0)
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 1500}


def test_a_parent_killed_with_sigkill_leaves_no_worker_behind(tmp_path: Path, corpus_files: list[Path]) -> None:
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 5000)  # more than two workers drain in the seconds the test waits
    config = write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}")
    proc = _start_once(config, "--workers", "2")
    workers = _workers_of(proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 3
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)], "a worker outlived its parent"


def test_run_once_fails_when_every_replacement_worker_dies_too(tmp_path: Path, corpus_files: list[Path],
                                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from responsemaster import worker_pool

    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 20)
    settings = load_settings(write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}"))
    started: list[int] = []
    monkeypatch.setattr(worker_pool, "_drain_here", lambda *args: os._exit(3))  # what the forked workers run
    with pytest.raises(worker_pool.WorkersDied):
        worker_pool.drain_once(settings, 2, settle_seconds=0, say=lambda line: started.append(int(line.split()[1])))
    assert len(started) == 2 + worker_pool.RESTARTS_PER_WORKER * 2  # the two, then every replacement
    assert maildir_counts(box)["inbox"] == 20
