"""``responsemaster run`` (the README's command) also serves the API and the review page, and stops cleanly.

The real command in a subprocess on a temporary configuration: it must print
the addresses, answer on them over HTTP, tell a fresh user how to get a key,
and on SIGTERM or SIGINT take its API process down with it (the port is free
again). ``run --once`` serves nothing.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fixtures.servers import free_port
from fixtures.worker_setup import cli, write_config


def _config(tmp_path: Path, **api: object) -> Path:
    box = tmp_path / "box"
    (box / "new").mkdir(parents=True)
    return write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
                        receiver={"enabled": True, "port": free_port(), "maildir": str(box)},
                        worker={"poll_seconds": 0.5}, api={"port": 0, "serve_with_run": True, **api})


def _read_until(proc: subprocess.Popen[bytes], marker: str, timeout: float) -> str:
    """Stdout of ``proc`` until it holds ``marker`` (fails after ``timeout``); raw reads, so no line is left in a buffer."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while marker.encode() not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise AssertionError(f"no {marker!r} within {timeout}s (exit {proc.poll()}); stdout so far:\n{seen!r}")
            if sel.select(left):
                seen += os.read(proc.stdout.fileno(), 65536)
    return seen.decode()


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_serves_the_api_and_the_review_page_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    config = _config(tmp_path)
    stderr = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=stderr)
    try:
        banner = _read_until(proc, "responsemaster apikey create", timeout=90)
        base = re.search(r"Review page:\s+(http://127\.0\.0\.1:(\d+))/review", banner)
        assert base, banner
        url, port = base.group(1), int(base.group(2))
        assert f"OpenAPI schema: {url}/schema/openapi.json" in banner
        assert f"--config {config}" in banner  # the key hint names the same configuration
        with httpx.Client(base_url=url, timeout=10) as http:
            health = http.get("/health")
            assert health.status_code == 200 and health.json()["database"] == "ok"
            assert http.get("/schema/openapi.json").json()["info"]["title"] == "ResponseMaster API"
            first = http.get("/review")  # a fresh user is sent to sign in ...
            assert first.status_code in (302, 303) and first.headers["location"].startswith("/review/login")
            assert "Sign in" in http.get("/review/login").text
            key = cli("apikey", "create", "me", "--scope", "admin", "--config", str(config)).stdout.strip()
            page = http.get("/review", headers={"X-API-Key": key})  # ... and gets in with the key the hint names
            assert page.status_code == 200 and "Review queue" in page.text
    finally:
        proc.send_signal(stop_signal)
        try:
            code = proc.wait(timeout=45)
        finally:
            if proc.poll() is None:
                proc.kill()
            stderr.close()
    log = (tmp_path / "stderr.txt").read_text()
    assert code == 0, log
    from responsemaster.worker_pool import default_workers

    assert f"worker: {default_workers()} consumer(s)" in log and "receiver: listening" in log  # one per CPU
    assert "API stopped" not in log  # it ran until we stopped the whole thing
    assert "huey.consumer" not in log, log  # the API child's task consumers start quietly (--log-level info shows them)
    assert _port_closed(port), "the API process outlived run"


def test_run_once_serves_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = cli("run", "--once", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "Review page" not in done.stdout and "done returns: 0 processed" in done.stderr


def test_run_goes_on_when_the_api_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(tmp_path, port=taken.getsockname()[1])
        log_path = tmp_path / "stderr.txt"
        with log_path.open("w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--config", str(config)],
                                    stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                deadline = time.monotonic() + 90
                while "API stopped" not in log_path.read_text() and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.3)
                assert proc.poll() is None, "run died with its API"  # the worker is the main job: it stays up
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=45)
    log = log_path.read_text()
    assert code == 0 and "address already in use" in log and "[api] serve_with_run = false" in log, log
