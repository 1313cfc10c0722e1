"""API keys, scopes and the operation log, on SQLite and PostgreSQL; the apikey CLI."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.api_setup import ApiEnv, add_subscriber, add_suppression, api_env, build_env  # noqa: F401
from fixtures.store_backends import db_url, store  # noqa: F401
from sqlalchemy import select

from responsemaster.store.base import utcnow
from responsemaster.store.platform import ApiKey, OperationLog

WRITES = [
    ("post", "/api/v1/suppressions/", {"address": "x@example.org"}),
    ("post", "/api/v1/suppressions/x@example.org/resubscribe", {"reason": "asked us by phone"}),
    ("post", "/api/v1/review/1/resolve", {}),
    ("post", "/api/v1/review/1/relabel", {"category": "user_reply"}),
    ("post", "/api/v1/quarantine/0123456789abcdef/reprocess", None),
    ("post", "/api/v1/model/retrain", None),
]


@pytest.mark.parametrize("method,path,body", WRITES)
def test_every_write_endpoint_refuses_a_missing_or_wrong_key(api_env: ApiEnv, method: str, path: str, body) -> None:  # noqa: F811
    call = getattr(api_env.client, method)
    assert call(path, json=body).status_code == 401
    assert call(path, json=body, headers={"X-API-Key": "rmk_aaaaaaaaaaaa_" + "b" * 43}).status_code == 401
    assert call(path, json=body, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert call(path, json=body, headers=api_env.h("read")).status_code == 403


def test_every_guarded_route_in_the_app_needs_a_key(api_env: ApiEnv) -> None:  # noqa: F811
    """A new write route without a scope would be public: catch it here."""
    public = {"/health", "/metrics", "/unsubscribe/{token:str}", "/review/login", "/review/logout"}
    for route in api_env.app.routes:
        for handler in getattr(route, "route_handlers", []):
            methods = getattr(handler, "http_methods", set())
            if route.path.startswith(("/schema", "/review/static")) or route.path in public:
                continue
            scope = handler.opt.get("scope")
            assert scope in ("read", "write", "admin"), f"{route.path} {methods} has no scope"
            if methods & {"POST", "PUT", "PATCH", "DELETE"}:
                assert scope in ("write", "admin"), f"{route.path} writes with scope {scope}"


def test_reads_need_a_key_and_both_header_forms_work(api_env: ApiEnv) -> None:  # noqa: F811
    add_subscriber(api_env.store, "ann@example.org")
    path = "/api/v1/subscribers/ann@example.org"
    assert api_env.client.get(path).status_code == 401
    assert api_env.client.get(path, headers=api_env.h("read")).status_code == 200
    bearer = {"Authorization": f"Bearer {api_env.keys['read']}"}
    assert api_env.client.get(path, headers=bearer).status_code == 200
    assert api_env.client.get("/health").status_code == 200


def test_keys_are_stored_salted_and_hashed_and_revocation_is_immediate(api_env: ApiEnv) -> None:  # noqa: F811
    from api.keys import revoke_key

    with api_env.store.reader() as s:
        rows = list(s.execute(select(ApiKey)).scalars())
    stored = " ".join(r.key_hash for r in rows)
    for key in api_env.keys.values():
        assert key not in stored and key[17:] not in stored
    salts = {r.key_hash.split("$")[1] for r in rows}
    assert len(salts) == len(rows)
    path = "/api/v1/suppressions/"
    assert api_env.client.get(path, headers=api_env.h("write")).status_code == 200
    with api_env.store.transaction() as s:
        revoke_key(s, "writeer")
    assert api_env.client.get(path, headers=api_env.h("write")).status_code == 401


def test_a_revoked_key_is_refused_within_the_default_cache_time(store, tmp_path: Path) -> None:  # noqa: F811
    """With the default key cache (not switched off as elsewhere): served from the cache, refused once it expires."""
    from api.config import ApiSettings
    from api.keys import revoke_key

    ttl = ApiSettings().key_cache_seconds
    assert ttl == 2.0  # the documented default
    env = build_env(store, tmp_path, key_cache_seconds=ttl)
    with env.client:
        assert env.client.get("/api/v1/suppressions/", headers=env.h("write")).status_code == 200  # now cached
        with env.store.transaction() as s:
            revoke_key(s, "writeer")
        revoked_at = time.monotonic()
        time.sleep(max(0.0, revoked_at + ttl + 0.05 - time.monotonic()))
        assert env.client.get("/api/v1/suppressions/", headers=env.h("write")).status_code == 401
        assert env.client.get("/api/v1/suppressions/", headers=env.h("read")).status_code == 200  # others unaffected


def test_keys_never_appear_in_logs(api_env: ApiEnv, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    wrong = "rmk_aaaaaaaaaaaa_" + "c" * 43
    api_env.client.get("/api/v1/suppressions/", headers=api_env.h("read"))
    api_env.client.get("/api/v1/suppressions/", headers={"X-API-Key": wrong})
    api_env.client.post("/api/v1/model/retrain", headers=api_env.h("write"))
    api_env.client.post("/review/login", data={"key": api_env.keys["admin"], "next": "/review"})
    text = caplog.text
    assert "rejected an API key" in text
    for key in (*api_env.keys.values(), wrong):
        assert key not in text and key[17:] not in text


def test_operation_log_records_who_what_where_and_is_queryable(api_env: ApiEnv) -> None:  # noqa: F811
    sid = add_subscriber(api_env.store, "bob@example.org", status="pruned")
    add_suppression(api_env.store, "bob@example.org", "hard_bounce", sid)
    r = api_env.client.post("/api/v1/suppressions/bob@example.org/resubscribe", json={"reason": "typo fixed"},
                            headers=api_env.h("write"))
    assert r.status_code == 200, r.text
    assert api_env.client.post("/api/v1/model/retrain", headers=api_env.h("admin")).status_code == 202
    assert api_env.client.get("/api/v1/oplog/", headers=api_env.h("write")).status_code == 403
    page = api_env.client.get("/api/v1/oplog/", headers=api_env.h("admin")).json()
    ops = [e["operation"] for e in page["items"]]
    assert ops == ["model.retrain", "suppression.resubscribe"]
    entry = page["items"][1]
    assert entry["actor"] == "key:writeer" and entry["target"] == "bob@example.org"
    assert entry["detail"]["from"] == "testclient" and entry["detail"]["reason"] == "typo fixed"
    assert entry["detail"]["lifted"]["reason"] == "hard_bounce"
    only = api_env.client.get("/api/v1/oplog/", params={"operation": "suppression."}, headers=api_env.h("admin"))
    assert [e["operation"] for e in only.json()["items"]] == ["suppression.resubscribe"]
    future = (utcnow() + timedelta(hours=1)).isoformat()
    none = api_env.client.get("/api/v1/oplog/", params={"since": future}, headers=api_env.h("admin"))
    assert none.json()["items"] == []


def test_apikey_cli_creates_a_working_key_once_and_revokes_it(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    from responsemaster.cli import main
    from responsemaster.store import Store, make_engine, upgrade_to_head

    config = tmp_path / "responsemaster.toml"
    config.write_text(f'var_dir = "{tmp_path / "var"}"\n[database]\nurl = "{db_url}"\n')
    runner = CliRunner()
    made = runner.invoke(main, ["apikey", "create", "ci-bot", "--scope", "write", "--config", str(config)])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("rmk_")
    again = runner.invoke(main, ["apikey", "create", "ci-bot", "--config", str(config)])
    assert again.exit_code != 0 and "already exists" in again.output
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    env = build_env(Store(engine, tmp_path / "var"), tmp_path / "app")
    with env.client:
        assert env.client.get("/api/v1/suppressions/", headers={"X-API-Key": key}).status_code == 200
        revoked = runner.invoke(main, ["apikey", "revoke", "ci-bot", "--config", str(config)])
        assert revoked.exit_code == 0, revoked.output
        assert env.client.get("/api/v1/suppressions/", headers={"X-API-Key": key}).status_code == 401
    with env.store.reader() as s:
        log = [(r.operation, r.target, r.actor) for r in s.execute(select(OperationLog).order_by(OperationLog.id)).scalars()]
    assert [(op, target) for op, target, _ in log] == [("apikey.create", "ci-bot"), ("apikey.revoke", "ci-bot")]
    assert all(actor.startswith("cli:") for _, _, actor in log)
