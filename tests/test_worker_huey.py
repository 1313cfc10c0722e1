"""The long-running worker on Huey: SqliteHuey by default, Redis-backed Huey with several consumers."""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures.redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from fixtures.servers import free_port
from fixtures.store_backends import db_url  # noqa: F401 - fixture
from fixtures.worker_setup import cli, fill_maildir, maildir_counts, write_config
from huey import MemoryHuey, RedisHuey, SqliteHuey

from responsemaster.config import ConfigError, Settings
from responsemaster.queue import make_huey


def test_make_huey_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONSEMASTER_QUEUE_URL", raising=False)
    default = make_huey(Settings(base_dir=tmp_path))
    assert isinstance(default, SqliteHuey) and (tmp_path / "var" / "huey.db").exists()
    assert isinstance(make_huey(Settings(base_dir=tmp_path, sections={"queue": {"url": "redis://127.0.0.1:1/0"}})), RedisHuey)
    assert isinstance(make_huey(Settings(base_dir=tmp_path, sections={"queue": {"url": "memory://"}})), MemoryHuey)
    with pytest.raises(ConfigError, match="queue"):
        make_huey(Settings(base_dir=tmp_path, sections={"queue": {"url": "amqp://x"}}))


def _start(config: Path, workers: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--config", str(config), "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(config: Path, done: int, timeout: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]
        if status["processed"] + status["quarantined"] >= done and status["pending"] == 0:
            return status
        time.sleep(1)
    raise AssertionError(f"not drained in {timeout}s: {status}")


def _stop(procs: list[subprocess.Popen[str]]) -> list[str]:
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    logs = []
    for proc in procs:
        try:
            logs.append(proc.communicate(timeout=60)[1])
        except subprocess.TimeoutExpired:
            proc.kill()
            logs.append(proc.communicate()[1])
    return logs


def test_redis_huey_with_several_consumers_processes_each_message_once(
    db_url: str, redis_server: RedisServer, tmp_path: Path, corpus_files: list[Path]  # noqa: F811
) -> None:
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 400, poison_every=100)
    for machine in ("a", "b"):
        (tmp_path / machine).mkdir()
    configs = [write_config(tmp_path / machine / "rm.toml", box, db_url,  # two "machines": a state folder each
                            queue={"url": redis_server.url(1), "worker_type": "process"},
                            worker={"batch_size": 20, "poll_seconds": 0.5}) for machine in ("a", "b")]
    config = configs[0]
    procs = [_start(configs[0], 2), _start(configs[1], 2)]  # two consumer processes each
    try:
        status = _wait_for(config, 400, timeout=180)
    finally:
        logs = _stop(procs)
    assert (status["processed"], status["quarantined"]) == (396, 4), logs
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 396}
    assert all("RedisHuey" in log for log in logs)


def test_default_run_receives_by_smtp_and_drains_with_sqlite_huey(tmp_path: Path) -> None:
    box = tmp_path / "box"
    port = free_port()
    config = write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
                          receiver={"enabled": True, "port": port, "maildir": str(box)},
                          worker={"poll_seconds": 0.5})  # default queue: SqliteHuey, process workers
    proc = _start(config, 1)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "jane@example.org", "bounces@example.net", "Re: our news"
        msg.set_content("Thank you, please keep me posted.")
        with smtp:
            smtp.send_message(msg)
        status = _wait_for(config, 1, timeout=60)
    finally:
        (log,) = _stop([proc])
    assert status["processed"] == 1, log
    assert "SqliteHuey" in log and "receiver: listening" in log
