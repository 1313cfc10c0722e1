"""Credentials never reach a log line: unsubscribe tokens in paths, keys in headers or query strings.

The unit test pins the masking rules; the server test runs the real
``responsemaster serve`` (uvicorn's access log at info, the default) and reads
everything it printed.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from fixtures.worker_setup import cli
from test_run_serves_api import _read_until

from api.log_redact import MASK, RedactSecrets, redact

TOKEN = "1ajvtcqjkima6fqgpetok2mtap7ea"


def test_redact_masks_tokens_and_keys_and_keeps_the_rest() -> None:
    key = "rmk_abcdefghijkl_" + "x" * 43
    assert redact(f"/unsubscribe/{TOKEN}") == f"/unsubscribe/{MASK}"
    assert redact(f"POST /unsubscribe/{TOKEN}?utm=1 HTTP/1.1") == f"POST /unsubscribe/{MASK}?utm=1 HTTP/1.1"
    assert redact(f"/api/v1/x?limit=5&api_key={key}&X-Api-Key=abc&access_token=t#f") == (
        f"/api/v1/x?limit=5&api_key={MASK}&X-Api-Key={MASK}&access_token={MASK}#f")
    assert redact(f"got {key} from a header") == f"got rmk_{MASK} from a header"
    assert redact("Authorization: Bearer abc.def") == f"Authorization: Bearer {MASK}"
    plain = "/api/v1/subscribers/jane@example.org/verdicts?limit=50&before=2026-11-01"
    assert redact(plain) == plain


def test_the_filter_rewrites_uvicorn_access_records_positionally() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/unsubscribe/{TOKEN}", "1.1", 200), None)
    assert RedactSecrets().filter(record)
    assert record.args[2] == f"/unsubscribe/{MASK}" and record.getMessage().endswith(f'/unsubscribe/{MASK} HTTP/1.1" 200')


def test_the_served_access_log_holds_no_token_and_no_key(tmp_path: Path) -> None:
    config = tmp_path / "rm.toml"
    config.write_text(f'var_dir = "{tmp_path / "var"}"\n[queue]\nurl = "memory://"\n[api]\nport = 0\n')
    key = cli("apikey", "create", "ops", "--scope", "read", "--config", str(config)).stdout.strip()
    assert key.startswith("rmk_")
    proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = _read_until(proc, "Review page:", timeout=60)
        url = banner.split("Review page:", 1)[1].split()[0].removesuffix("/review")
        with httpx.Client(base_url=url, timeout=10) as http:
            http.get(f"/unsubscribe/{TOKEN}", params={"utm_source": "mail"})
            http.post(f"/unsubscribe/{TOKEN}", data={"List-Unsubscribe": "One-Click"})
            assert http.get("/api/v1/subscribers/a@example.org", params={"api_key": key},
                            headers={"X-API-Key": key}).status_code == 404
            assert http.get("/api/v1/suppressions/", headers={"Authorization": f"Bearer {key}x"}).status_code == 401
            http.post("/review/login", data={"key": key, "next": "/review"})
    finally:
        proc.send_signal(signal.SIGINT)
        out = banner + proc.communicate(timeout=30)[0].decode()
    assert f"/unsubscribe/{MASK}?utm_source=mail" in out and f"api_key={MASK}" in out  # the requests were logged ...
    assert TOKEN not in out and key not in out and key[:20] not in out  # ... without their credentials
