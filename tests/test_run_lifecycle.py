"""How ``run`` starts, refuses to start, and how the processes it (and ``serve``) start end with it.

Refusals are one line naming what to change, a non-zero exit and no
traceback. Children of a killed parent exit on their own, with or without
the kernel's parent-death signal. (The SIGKILL rounds of ``run`` itself are
in tests/test_restart_under_fire.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from fixtures.processes import describe, start_run, tree, wait_gone, wait_greeting
from fixtures.servers import free_port
from fixtures.worker_setup import cli, fill_maildir, write_config


def _config(tmp_path: Path, **sections: object) -> Path:
    box = tmp_path / "box"
    (box / "new").mkdir(parents=True, exist_ok=True)
    base = {"receiver": {"enabled": True, "port": free_port(), "maildir": str(box)}, "worker": {"poll_seconds": 0.5}}
    for name, value in sections.items():
        base[name] = {**base.get(name, {}), **value} if isinstance(value, dict) else value  # type: ignore[dict-item]
    return write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}", **base)


def _one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The refusal is a single ``Error: ...`` line on stderr that names ``words``; no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_a_second_run_on_the_same_state_folder_says_who_runs_and_exits_1(tmp_path: Path, corpus_files: list[Path]) -> None:
    """And what the first prints: a line per message (category, reason, address, what decided it),
    one per batch, no library chatter at the default level."""
    config = _config(tmp_path)
    log = tmp_path / "first.log"
    first = start_run(config, log=log)
    try:
        assert wait_greeting(int(_receiver_port(config)), timeout=60) is not None
        second = cli("run", "--config", str(config), timeout=60)
        line = _one_line_refusal(second, f"already running (pid {first.pid})", str(tmp_path / "var"))
        assert second.returncode == 1, line
        assert first.poll() is None  # the first one is untouched
        fill_maildir(tmp_path / "box", corpus_files[:2], 2)
        (tmp_path / "box" / "new" / "1800000000.M9P9.blank").write_bytes(b"\n\n\n")
        deadline = time.monotonic() + 60
        while "2 processed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
    printed = log.read_text()
    exported = [json.loads(line) for line in cli("export", "verdicts", "--config", str(config)).stdout.splitlines()]
    processed = [v for v in exported if v["state"] == "processed"]
    assert len(processed) == 2, printed
    for verdict in processed:
        address = verdict["attribution"]["subscriber"] or (verdict["recipient"] or {}).get("address", "")
        assert any(f"{verdict['category']} {verdict['reason'] or '-'} {address}" in line and f"({verdict['decided_by']})" in line
                   for line in printed.splitlines()), (verdict, printed)
    [blank] = [v for v in exported if v["state"] == "quarantined"]
    assert f"quarantined {blank['key']}: {blank['error']}" in printed
    assert "2 processed, 0 already done, 1 quarantined" in printed
    assert "INFO" not in printed and "huey" not in printed.lower().replace("sqlitehuey", ""), printed


def test_a_taken_receiver_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path, receiver={"port": port})
        done = cli("run", "--config", str(config), timeout=60)
    _one_line_refusal(done, f"[receiver] 127.0.0.1:{port} is in use", "--no-receiver")


def test_an_unwritable_state_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = _config(tmp_path, var_dir=str(blocker / "var"))
    done = cli("run", "--config", str(config), timeout=60)
    _one_line_refusal(done, "var_dir", str(blocker / "var"))


@pytest.mark.parametrize("setting,value,named", [
    ("worker", {"batch_size": "many"}, "[worker] batch_size"),
    ("queue", {"url": "amqp://127.0.0.1/"}, "[queue] url"),
    ("receiver", {"port": "smtp"}, "receiver: key 'port'"),
    ("database", {"url": "postgresql://nobody@127.0.0.1:1/none"}, "[database] url"),
])
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, setting: str, value: dict, named: str) -> None:  # type: ignore[type-arg]
    config = _config(tmp_path, **{setting: value})
    done = cli("run", "--config", str(config), timeout=60)
    _one_line_refusal(done, named)
    assert not (tmp_path / "var" / "run.lock").exists() or not _lock_held(tmp_path / "var" / "run.lock")


def test_the_api_child_dies_with_the_sidecar_that_started_it(tmp_path: Path) -> None:
    """The sidecar SIGKILLed alone (not through run): its ``serve`` child must not keep the API port."""
    config = _config(tmp_path, api={"serve_with_run": True, "port": free_port()})
    run = start_run(config, "--log-level", "info", log=tmp_path / "run.log")
    try:
        _wait_http(int(_api_port(config)), timeout=90)
        sidecar = next(pid for pid, _ in tree(run.pid) if pid != run.pid and _is_parent_of_serve(pid))
        serve = tree(sidecar) - {p for p in tree(sidecar) if p[0] == sidecar}
        assert serve, describe(tree(run.pid))
        os.kill(sidecar, signal.SIGKILL)
        left = wait_gone(serve, timeout=5.0)
        assert not left, describe(left)
    finally:
        everything = tree(run.pid)
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        assert not wait_gone(everything, timeout=5.0)
    assert "Huey consumer started" in (tmp_path / "run.log").read_text()  # --log-level info shows the library's lines


def test_a_spawned_worker_dies_with_the_process_that_spawned_it(tmp_path: Path) -> None:
    """``serve --workers N``: uvicorn spawns its workers (multiprocessing, spawn), and each one calls
    ``tie_to_multiprocessing_parent`` in ``api.asgi.app_from_env``. The same, without the web server."""
    script = tmp_path / "spawner.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, sys, time

        def worker():
            from responsemaster.lifeline import tie_to_multiprocessing_parent
            tie_to_multiprocessing_parent()
            time.sleep(60)

        if __name__ == "__main__":
            child = multiprocessing.get_context("spawn").Process(target=worker)
            child.start()
            print(child.pid, flush=True)
            time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        time.sleep(1.0)  # let it reach the tie
        procs = {p for p in tree(parent.pid) if p[0] == child}
        assert procs
    finally:
        parent.kill()
        parent.wait(10)
    left = wait_gone(procs, timeout=5.0)
    assert not left, describe(left)


def test_the_portable_watch_alone_ends_an_orphan(tmp_path: Path) -> None:
    """Without the kernel's parent-death signal (not Linux), the getppid() watcher ends the child."""
    script = tmp_path / "family.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        from responsemaster import lifeline
        lifeline._libc[:] = [None]          # as on a system without prctl
        lifeline.tie_forked_children()
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        procs = {p for p in tree(parent.pid) if p[0] == child}
        assert procs
    finally:
        parent.kill()
        parent.wait(10)
    assert not wait_gone(procs, timeout=3.0)


def _receiver_port(config: Path) -> int:
    import tomllib

    return int(tomllib.loads(config.read_text())["receiver"]["port"])


def _api_port(config: Path) -> int:
    import tomllib

    return int(tomllib.loads(config.read_text())["api"]["port"])


def _wait_http(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"nothing answered on port {port} within {timeout} s")


def _is_parent_of_serve(pid: int) -> bool:
    return any(b"serve" in Path(f"/proc/{child}/cmdline").read_bytes() for child, _ in tree(pid) if child != pid)


def _lock_held(path: Path) -> bool:
    import fcntl

    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False
