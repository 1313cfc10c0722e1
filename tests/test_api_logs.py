"""Credentials and forged lines never reach a log line: tokens in paths, keys anywhere, control characters.

The unit tests pin the masking rules (on the percent-decoded view) and the
escaping; the server tests run the real ``responsemaster serve`` (uvicorn's
access log at info, the default), replay the hostile requests of issue 16 on
raw sockets (so no client library normalises them first) and read everything
it printed.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from fixtures.worker_setup import cli
from sqlalchemy import select
from test_run_serves_api import _read_until

from api.log_redact import MASK, RedactSecrets, redact, safe_traceback
from responsemaster.config import load_settings
from responsemaster.store import open_store
from responsemaster.store.subscribers import Subscriber, SubscriberStatus
from responsemaster.verp import Keyring, encode_token

TOKEN = "1ajvtcqjkima6fqgpetok2mtap7ea"
KEY = "rmk_abcdefghijkl_" + "x" * 43
VERP_SECRET = "0123456789abcdef0123456789abcdef"


def test_redact_masks_tokens_and_keys_and_keeps_the_rest() -> None:
    assert redact(f"/unsubscribe/{TOKEN}") == f"/unsubscribe/{MASK}"
    assert redact(f"POST /unsubscribe/{TOKEN}?utm=1 HTTP/1.1") == f"POST /unsubscribe/{MASK}?utm=1 HTTP/1.1"
    assert redact(f"/api/v1/x?limit=5&api_key={KEY}&X-Api-Key=abc&access_token=t#f") == (
        f"/api/v1/x?limit=5&api_key={MASK}&X-Api-Key={MASK}&access_token={MASK}#f")
    assert redact(f"got {KEY} from a header") == f"got rmk_{MASK} from a header"
    assert redact("Authorization: Bearer abc.def") == f"Authorization: Bearer {MASK}"
    plain = "/api/v1/subscribers/jane@example.org/verdicts?limit=50&before=2026-11-01"
    assert redact(plain) == plain


def test_redact_reads_the_percent_decoded_target() -> None:
    """Every spelling the router or the key check accepts is masked, and the line stays one encoded target."""
    encoded_key = KEY.replace("_", "%5F")
    cases = {
        f"POST /%75nsubscribe/{TOKEN} HTTP/1.1": f"POST /unsubscribe/{MASK} HTTP/1.1",
        f"GET /unsubscribe//{TOKEN} HTTP/1.1": f"GET /unsubscribe/{MASK} HTTP/1.1",
        f"GET /unsubscribe%2F{TOKEN}": f"GET /unsubscribe/{MASK}",
        f"/%2575nsubscribe/{TOKEN}": f"/unsubscribe/{MASK}",          # encoded twice
        f"/api/v1/s?q={encoded_key}&page=2": f"/api/v1/s?q=rmk_{MASK}&page=2",
        f"/api/v1/s?x=Bearer%20{KEY}": f"/api/v1/s?x=Bearer%20{MASK}",
        "/api/v1/s?x=Bearer+abc.def&y=1": f"/api/v1/s?x=Bearer+{MASK}&y=1",
        "/api/v1/s?api%5Fkey=zzz&b=2": f"/api/v1/s?api_key={MASK}&b=2",
        "/api/v1/subscribers/j%C3%A9@example.org": "/api/v1/subscribers/j%C3%A9@example.org",
    }
    for line, expected in cases.items():
        assert redact(line) == expected, line


def test_control_characters_are_escaped_in_every_value() -> None:
    assert redact("/api/v1/x%0a2026-01-01 ERROR forged") == "/api/v1/x%0A2026-01-01 ERROR forged"
    assert redact("/review/static/\x00") == "/review/static/\\x00"
    assert redact("a\nERROR forged\r\x1b[31m") == "a\\x0aERROR forged\\x0d\\x1b[31m"
    assert redact("gro.elpmaxe\u202e@evil") == "gro.elpmaxe\\u202e@evil"
    record = logging.LogRecord("api", logging.ERROR, __file__, 1, "internal error on %s %s (%d)",
                               ("GET", "/x\nERROR forged", 3), None)
    assert RedactSecrets().filter(record)
    assert "\n" not in record.getMessage() and record.getMessage().endswith("ERROR forged (3)")


def test_tracebacks_keep_their_frames_and_lose_the_forged_lines() -> None:
    try:
        raise ValueError(f"bad value\n2026-01-01 ERROR forged line with {KEY}")
    except ValueError:
        text = safe_traceback(sys.exc_info())
        record = logging.LogRecord("api", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[1].startswith("  File ")
    assert lines[-1] == f"ValueError: bad value\\x0a2026-01-01 ERROR forged line with rmk_{MASK}"
    assert RedactSecrets().filter(record) and record.exc_text == text
    formatted = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert not any(line.startswith("2026-01-01") for line in formatted.splitlines()) and KEY not in formatted


def test_the_filter_rewrites_uvicorn_access_records_positionally() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/%75nsubscribe/{TOKEN}", "1.1", 200), None)
    assert RedactSecrets().filter(record)
    assert record.args[2] == f"/unsubscribe/{MASK}" and record.getMessage().endswith(f'/unsubscribe/{MASK} HTTP/1.1" 200')


def _serve(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "serve", "--config", str(tmp_path / "rm.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    banner = _read_until(proc, "Review page:", timeout=60)
    url = banner.split("Review page:", 1)[1].split()[0].removesuffix("/review")
    return proc, url, banner


def _stop(proc: subprocess.Popen[bytes], banner: str) -> str:
    proc.send_signal(signal.SIGINT)
    return banner + proc.communicate(timeout=30)[0].decode("utf-8", "backslashreplace")


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "rm.toml"
    config.write_text(f'var_dir = "{tmp_path / "var"}"\n[queue]\nurl = "memory://"\n[api]\nport = 0\n')
    return config


def test_the_served_access_log_holds_no_token_and_no_key(tmp_path: Path) -> None:
    config = _config(tmp_path)
    key = cli("apikey", "create", "ops", "--scope", "read", "--config", str(config)).stdout.strip()
    assert key.startswith("rmk_")
    proc, url, banner = _serve(tmp_path, dict(os.environ))
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            http.get(f"/unsubscribe/{TOKEN}", params={"utm_source": "mail"})
            http.post(f"/unsubscribe/{TOKEN}", data={"List-Unsubscribe": "One-Click"})
            assert http.get("/api/v1/subscribers/a@example.org", params={"api_key": key},
                            headers={"X-API-Key": key}).status_code == 404
            assert http.get("/api/v1/suppressions/", headers={"Authorization": f"Bearer {key}x"}).status_code == 401
            http.post("/review/login", data={"key": key, "next": "/review"})
    finally:
        out = _stop(proc, banner)
    assert f"/unsubscribe/{MASK}?utm_source=mail" in out and f"api_key={MASK}" in out  # the requests were logged ...
    assert TOKEN not in out and key not in out and key[:20] not in out  # ... without their credentials


def _raw(base: str, request: str) -> int:
    """Send ``request`` byte for byte (no client library normalises it) and return the status code."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode("latin-1"))
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_hostile_requests_against_a_real_serve_leave_no_secret_and_no_forged_line(tmp_path: Path) -> None:
    """Issue 16's reproductions on a real ``serve``: what they do, and what the log then holds."""
    config = _config(tmp_path)
    key = cli("apikey", "create", "ops", "--scope", "admin", "--config", str(config)).stdout.strip()
    env = {**os.environ, "RESPONSEMASTER_VERP_SECRET": VERP_SECRET}
    store = open_store(load_settings(config))
    with store.transaction() as s:
        s.add(Subscriber(address="ann@example.org", address_key="ann@example.org", domain="example.org"))
    token = encode_token("c1", "ann@example.org", Keyring({"k1": VERP_SECRET.encode()}, current="k1"))
    proc, url, banner = _serve(tmp_path, env)
    one_click = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\nList-Unsubscribe=One-Click"
    try:
        statuses = {name: _raw(url, f"{request}\r\nHost: x\r\nConnection: close\r\n" + extra) for name, request, extra in [
            ("encoded unsubscribe", f"POST /%75nsubscribe/{token} HTTP/1.1", one_click),
            ("double slash", f"GET /unsubscribe//{token} HTTP/1.1", "\r\n"),
            ("encoded key", f"GET /api/v1/subscribers/a@b.org?q={key.replace('_', '%5F')} HTTP/1.1", "\r\n"),
            ("encoded bearer", f"GET /api/v1/subscribers/a@b.org?x=Bearer%20{key} HTTP/1.1", "\r\n"),
            ("forged line", "GET /api/v1/x%0a2026-01-01%2000:00:00%20ERROR%20forged HTTP/1.1", "\r\n"),
            ("forged line, page", "GET /review/x%0d%0aERROR%20forged HTTP/1.1", "\r\n"),
            ("NUL", "GET /review/static/%00 HTTP/1.1", "\r\n"),
            ("superscript", f"GET /api/v1/campaigns/%C2%B2 HTTP/1.1\r\nX-API-Key: {key}", "\r\n"),
            ("wrong key", f"GET /api/v1/subscribers/a@b.org HTTP/1.1\r\nX-API-Key: {key}x", "\r\n"),
        ]}
    finally:
        out = _stop(proc, banner)
    assert statuses == {"encoded unsubscribe": 200, "double slash": 200, "encoded key": 401, "encoded bearer": 401,
                        "forged line": 400, "forged line, page": 400, "NUL": 400, "superscript": 404,
                        "wrong key": 401}
    with store.reader() as s:  # the encoded spelling really unsubscribed: that is why its token must not be logged
        assert s.execute(select(Subscriber.status)).scalar_one() == SubscriberStatus.UNSUBSCRIBED
    store.close()
    assert f"/unsubscribe/{MASK}" in out and "rmk_[redacted]" in out and "Bearer%20[redacted]" in out
    assert token not in out and TOKEN not in out and key not in out and key[4:20] not in out and key[-20:] not in out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out), "a control character reached the log"
    forged = [line for line in out.splitlines() if "forged" in line]
    assert len(forged) == 2 and all(line.startswith("INFO:") for line in forged), forged
    assert "500 Internal Server Error" not in out and "Traceback" not in out
