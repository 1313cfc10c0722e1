"""Signing in to the review page (and the console): server-side sessions, login CSRF, throttling, Secure cookies.

Issue 14 point 6 and issue 16 point 7: the cookie held the raw key for 12
hours, signing out did not end it, it had no ``Secure`` flag by default, the
login form had no CSRF token and failed sign-ins were not throttled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.api_setup import ApiEnv, add_message, api_env, build_env  # noqa: F401
from fixtures.store_backends import db_url, store  # noqa: F401
from litestar.testing import TestClient
from sqlalchemy import select, update

from api.app import create_app
from api.keys import revoke_key
from api.sessions import MAX_FAILURES
from responsemaster.store import Store
from responsemaster.store.base import utcnow
from responsemaster.store.platform import ApiSession, OperationLog


@pytest.fixture
def env(api_env: ApiEnv) -> ApiEnv:  # noqa: F811
    """``api_env`` whose client shows redirects instead of following them."""
    api_env.client.follow_redirects = False
    return api_env


def _form(client: Any, path: str = "/review/login") -> dict[str, str]:
    """GET the login form: its cookie lands in the client's jar, its token is returned."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    return {"csrf": token.group(1), "next": "/review"}


def sign_in(env: ApiEnv, scope: str = "write", client: Any = None, **headers: str) -> Any:
    client = client or env.client
    return client.post("/review/login", data={**_form(client), "key": env.keys[scope]}, headers=headers)


def _set_cookie(response: Any, name: str) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}="))


def test_signing_in_opens_a_server_side_session_and_the_cookie_holds_no_key(env: ApiEnv) -> None:
    response = sign_in(env)
    assert response.status_code == 303 and response.headers["location"] == "/review"
    cookie = _set_cookie(response, "rm_session")
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert env.keys["write"] not in cookie and len(session_id) >= 43
    assert {"httponly", "samesite=strict", "secure", "path=/"} <= {p.strip().lower() for p in cookie.split(";")}
    page = env.client.get("/review")
    assert page.status_code == 200 and "writeer" in page.text
    with env.store.reader() as db:
        rows = list(db.execute(select(ApiSession)).scalars())
        log = db.execute(select(OperationLog).where(OperationLog.operation == "session.login")).scalars().one()
    assert [r.id_hash for r in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]  # only the hash is kept
    assert rows[0].expires_at - rows[0].created_at == timedelta(hours=12)
    assert log.actor == "key:writeer" and log.target == "writeer"


def test_signing_out_ends_the_session_not_just_the_cookie(env: ApiEnv) -> None:
    sign_in(env)
    session_id = env.client.cookies["rm_session"]
    page = env.client.get("/review")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert env.client.post("/review/logout", data={"csrf": "wrong"}).status_code == 403
    out = env.client.post("/review/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/review/login"
    env.client.cookies.set("rm_session", session_id)  # a copy of the cookie kept from before
    again = env.client.get("/review")
    assert again.status_code in (302, 303) and again.headers["location"].startswith("/review/login")


def test_revoking_the_key_ends_its_sessions(env: ApiEnv) -> None:
    sign_in(env)
    assert env.client.get("/review").status_code == 200
    with env.store.transaction() as db:
        revoke_key(db, "writeer")
    with env.store.reader() as db:
        assert db.execute(select(ApiSession.revoked_at)).scalar_one() is not None
    assert env.client.get("/review").status_code in (302, 303)


def test_a_session_stops_at_its_expiry(env: ApiEnv) -> None:
    sign_in(env)
    assert env.client.get("/review").status_code == 200
    with env.store.transaction() as db:
        db.execute(update(ApiSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert env.client.get("/review").status_code in (302, 303)


def test_a_key_in_the_old_cookie_signs_nobody_in(env: ApiEnv) -> None:
    for name in ("rm_key", "rm_session"):
        env.client.cookies.set(name, env.keys["admin"])
        assert env.client.get("/review").status_code in (302, 303)
        env.client.cookies.clear()


def test_forms_need_the_sessions_token(env: ApiEnv) -> None:
    item = add_message(env.store, category="user_reply", review=0.5)["review_id"]
    sign_in(env)
    page = env.client.get(f"/review/{item}")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert env.client.post(f"/review/{item}/resolve", data={"csrf": "x" * 32}).status_code == 403
    assert env.client.post(f"/review/{item}/resolve", data={"csrf": token}).status_code == 303


def test_the_login_form_refuses_a_forged_post(env: ApiEnv) -> None:
    """Login CSRF: another site must not sign a reviewer in under a key of its choosing."""
    for case in ("no form cookie", "wrong token", "other origin", "cross-site fetch"):
        data = {**_form(env.client), "key": env.keys["admin"]}
        headers: dict[str, str] = {}
        if case == "no form cookie":
            env.client.cookies.clear()
        elif case == "wrong token":
            data["csrf"] = "forged"
        elif case == "other origin":
            headers["Origin"] = "https://evil.example"
        else:
            headers["Sec-Fetch-Site"] = "cross-site"
        response = env.client.post("/review/login", data=data, headers=headers)
        assert response.status_code == 403 and "rm_session" not in response.headers.get("set-cookie", ""), case
    with env.store.reader() as db:
        assert db.execute(select(ApiSession)).first() is None
    same = env.client.post("/review/login", data={**_form(env.client), "key": env.keys["admin"]},
                               headers={"Origin": "https://testserver.local", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303


def test_failed_sign_ins_are_throttled_per_client(store: Store, tmp_path: Path) -> None:  # noqa: F811
    env = build_env(store, tmp_path, trusted_proxies=["testclient"])
    env.client.follow_redirects = False
    with env.client:
        def attempt(key: str, client: str) -> Any:
            return env.client.post("/review/login", data={**_form(env.client), "key": key},
                                   headers={"X-Forwarded-For": client})

        for _ in range(MAX_FAILURES):
            assert attempt("rmk_aaaaaaaaaaaa_" + "b" * 43, "192.0.2.7").status_code == 401
        blocked = attempt(env.keys["read"], "192.0.2.7")  # even the right key, until the window passes
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in blocked.text
        assert attempt(env.keys["read"], "192.0.2.8").status_code == 303  # another client is not affected
        for _ in range(MAX_FAILURES - 1):
            attempt("nonsense", "192.0.2.9")
        assert attempt(env.keys["read"], "192.0.2.9").status_code == 303  # a success clears the count
        assert attempt("nonsense", "192.0.2.9").status_code == 401


def test_every_server_process_counts_the_same_failed_sign_ins(store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Two apps on one database, as ``serve --workers 2`` runs them: failures on one block the other."""
    env = build_env(store, tmp_path, trusted_proxies=["testclient"])
    other = TestClient(create_app(env.settings, store=store, tasks=env.app.state.ctx.tasks),
                       base_url=str(env.client.base_url))
    clients = (env.client, other)
    with env.client, other:
        def attempt(client: TestClient[Any], key: str) -> Any:
            client.follow_redirects = False
            return client.post("/review/login", data={**_form(client), "key": key},
                               headers={"X-Forwarded-For": "192.0.2.20"})

        for i in range(MAX_FAILURES):
            assert attempt(clients[i % 2], "nonsense").status_code == 401
        assert [attempt(client, env.keys["read"]).status_code for client in clients] == [429, 429]


def test_cookies_are_secure_by_default_except_plain_http_on_loopback(env: ApiEnv) -> None:
    def attempt(base_url: str, secure_cookies: bool | None = None) -> Any:
        env.app.state.ctx.api = dataclasses.replace(env.app.state.ctx.api, secure_cookies=secure_cookies)
        client = TestClient(env.app, base_url=base_url)
        client.follow_redirects = False
        return sign_in(env, "read", client)

    loopback = attempt("http://127.0.0.1:8025")
    assert loopback.status_code == 303 and "secure" not in _set_cookie(loopback, "rm_session").lower()
    remote = attempt("http://review.example.org")  # plain HTTP to another machine: refuse, and say why
    assert remote.status_code == 400 and "HTTPS" in remote.text and "rm_session=" not in str(remote.headers)
    https = attempt("https://review.example.org")
    assert https.status_code == 303 and "secure" in _set_cookie(https, "rm_session").lower()
    allowed = attempt("http://review.example.org", secure_cookies=False)
    assert allowed.status_code == 303 and "secure" not in _set_cookie(allowed, "rm_session").lower()
    forced = attempt("https://127.0.0.1:8025", secure_cookies=True)
    assert "secure" in _set_cookie(forced, "rm_session").lower()


def test_the_login_redirect_keeps_console_targets_and_refuses_others(env: ApiEnv) -> None:
    for target, expected in (("/console/campaigns", "/console/campaigns"), ("https://evil.example/", "/review"),
                             ("//evil.example", "/review"), ("/review/3", "/review/3")):
        response = env.client.post("/review/login", data={**_form(env.client), "key": env.keys["read"],
                                                               "next": target})
        assert response.status_code == 303 and response.headers["location"] == expected
