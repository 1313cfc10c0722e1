"""The console's pages over HTTP (the app in-process, SQLite and PostgreSQL): access, forms, numbers, escaping.

- every page needs the sign-in (a fresh browser is sent to the login form);
- a read-scope session can look at everything and change nothing: every
  console form that changes something answers 403 and the database is as before;
- every form needs its token, whatever the key's scope;
- the numbers on the pages are the API's answers for the same range;
- data from strangers (subscriber names, template text, reply snippets) is
  shown as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fixtures.api_setup import ApiEnv, add_message, add_suppression, build_env, days_ago
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from litestar.testing import TestClient
from sqlalchemy import func, select

from api.labels import FAILURE_CATEGORIES
from mailer.campaigns import create_campaign, save_template
from mailer.subscribers import import_csv
from responsemaster.store import Store
from responsemaster.store.mailing import CampaignPlan, MailTemplate
from responsemaster.store.platform import ApiKey, Delivery, OperationLog
from responsemaster.store.subscribers import Campaign, ListMembership, Subscriber, Suppression

HOSTILE = "<script>window.top.name='pwned'</script>"
PAGES = ["/console", "/console/lists", "/console/lists?q=ann", "/console/lists/subscriber?address=ann@example.org",
         "/console/lists/import", "/console/templates", "/console/templates/new", "/console/templates/spring",
         "/console/campaigns", "/console/campaigns/spring", "/console/campaigns/spring/domains",
         "/console/campaigns/spring/preflight",
         "/console/sending", "/console/sending?outcome=sent",
         "/console/failures", "/console/failures?domain=example.org", "/console/failures/addresses?category=hard_bounce",
         "/console/failures/suppressions", "/console/failures/suppressions?q=ann"]
ADMIN_PAGES = ["/console/oplog", "/console/keys"]
#: What a write form may change, counted before and after a refused POST.
TABLES = (Subscriber, Suppression, ListMembership, MailTemplate, Campaign, Delivery, ApiKey)


@pytest.fixture
def env(store: Store, tmp_path: Path) -> Iterator[ApiEnv]:  # noqa: F811
    built = build_env(store, tmp_path)
    built.settings.sections["queue"] = {"url": "memory://"}
    built.settings.sections["verp"] = {"keys": {"k1": "console pages test secret, 32 bytes"}}
    with built.client, ExitStack() as stack:
        built.clients = stack  # type: ignore[attr-defined]
        yield built


def seed(store: Store) -> None:
    report = import_csv(store, f"email,name\nann@example.org,\"Ann {HOSTILE}\"\nbob@example.net,Bob\n".encode(), "news")
    assert report.added_to_list == 2
    save_template(store, "spring", "Hi {{ name }}", f"<p>Hello {{{{ name }}}}</p>{HOSTILE}", "Hello {{ name }}")
    create_campaign(store, "spring", "news", "spring")
    add_suppression(store, "ann@example.org")
    add_message(store, category="hard_bounce", reason="userunknown", subscriber="ann@example.org", campaign="spring",
                at=days_ago(2), recipients=[{"address": "ann@example.org", "status": "5.1.1"}])
    add_message(store, category="mailbox_full", reason="mailboxfull", subscriber="bob@example.net", campaign="spring",
                at=days_ago(40))
    add_message(store, category="user_reply", subscriber="bob@example.net", campaign="spring", review=0.4,
                reply_text=f"Thanks {HOSTILE}")


def sign_in(client: TestClient, key: str) -> None:  # type: ignore[type-arg]
    """As a browser does: the login form (its token and cookie), then the key."""
    form = re.search(r'name="csrf" value="([^"]+)"', client.get("/review/login?next=/console").text)
    assert form
    answer = client.post("/review/login", data={"key": key, "next": "/console", "csrf": form.group(1)},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"


def client_for(env: ApiEnv, scope: str) -> TestClient:  # type: ignore[type-arg]
    """A browser of its own (its own cookies), signed in with the key of ``scope``; closed with the test."""
    client = env.clients.enter_context(TestClient(env.app, base_url="https://testserver.local"))  # type: ignore[attr-defined]
    sign_in(client, env.keys[scope])
    return client


def form_token(client: TestClient, path: str = "/console/campaigns/spring") -> str:  # type: ignore[type-arg]
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, f"no form token on {path}"
    return found.group(1)


def post_routes(env: ApiEnv) -> list[str]:
    """Every console route that takes a POST, with real names filled in (so the test covers new forms)."""
    names = {"{name:str}": "spring"}
    paths = [route.path for route in env.app.routes if route.path.startswith("/console")
             and "POST" in getattr(route, "methods", set())]
    for placeholder, value in names.items():
        paths = [p.replace(placeholder, value) for p in paths]
    assert not [p for p in paths if "{" in p], paths
    return sorted(paths)


WRITE_FORMS = {
    "/console/lists/import": None,  # multipart, sent below
    "/console/templates": {"name": "spring", "subject": "changed", "html": "<p>x</p>", "text": "x", "action": "save"},
    "/console/campaigns": {"name": "autumn", "list": "news", "template": "spring", "audience": "all"},
    "/console/campaigns/spring/send": {"more": "all"},
    "/console/campaigns/spring/schedule": {"at": "2099-01-01T09:00"},
    "/console/campaigns/spring/pause": {},
    "/console/campaigns/spring/resume": {},
    "/console/failures/suppressions/resubscribe": {"address": "ann@example.org", "reason": "phoned", "confirm": "yes"},
    "/console/keys/revoke": {"name": "reader", "confirm": "yes"},
}


def counts(store: Store) -> dict[str, int]:
    with store.reader() as session:
        found = {t.__tablename__: int(session.execute(select(func.count()).select_from(t)).scalar_one())  # type: ignore[attr-defined]
                 for t in TABLES}
        found["revoked"] = int(session.execute(select(func.count()).select_from(ApiKey)
                                               .where(ApiKey.revoked_at.is_not(None))).scalar_one())  # type: ignore[union-attr]
        found["campaign_status"] = hash(tuple(session.execute(select(Campaign.status)).scalars()))
        found["subject"] = hash(session.execute(select(MailTemplate.subject)).scalars().first())
        found["limits"] = hash(tuple(session.execute(select(CampaignPlan.recipient_limit)).scalars()))
    return found


def _post(client: TestClient, path: str, data: dict[str, str] | None, token: str | None) -> Any:  # type: ignore[type-arg]
    fields = {} if token is None else {"csrf": token}
    if data is None:
        return client.post(path, data=fields, files={"file": ("x.csv", b"email\ncid@example.org\n", "text/csv")},
                           follow_redirects=False)
    return client.post(path, data={**data, **fields}, follow_redirects=False)


def test_every_page_needs_the_sign_in_and_shows_to_a_read_key(env: ApiEnv) -> None:
    seed(env.store)
    for path in PAGES + ADMIN_PAGES:
        answer = env.client.get(path, follow_redirects=False)
        assert answer.status_code in (302, 303) and answer.headers["location"].startswith("/review/login?next=/console")
    reader = client_for(env, "read")
    for path in PAGES:
        answer = reader.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert answer.headers["x-frame-options"] == "DENY"
    for path in ADMIN_PAGES:
        assert reader.get(path).status_code == 403  # names keys and client addresses: admin only, as in the API
    admin = client_for(env, "admin")
    for path in ADMIN_PAGES:
        assert admin.get(path).status_code == 200


def test_a_read_session_changes_nothing(env: ApiEnv) -> None:
    seed(env.store)
    routes = post_routes(env)
    assert set(routes) == set(WRITE_FORMS)  # a new form must be listed here (and so tested)
    reader = client_for(env, "read")
    token = form_token(reader)
    before = counts(env.store)
    for path, data in WRITE_FORMS.items():
        answer = _post(reader, path, data, token)
        assert answer.status_code == 403, (path, answer.status_code, answer.text[:300])
        assert "scope" in answer.text
    assert counts(env.store) == before
    assert "Pre-flight of spring" in reader.get("/console/campaigns/spring/preflight").text  # looking is allowed
    assert counts(env.store) == before


def test_every_form_needs_its_token(env: ApiEnv) -> None:
    seed(env.store)
    admin = client_for(env, "admin")
    before = counts(env.store)
    for path in post_routes(env):
        data = WRITE_FORMS.get(path, {})
        for token in (None, "0" * 32, ""):
            answer = _post(admin, path, data, token)
            assert answer.status_code == 403 and "form token" in answer.text, (path, token, answer.status_code)
    assert counts(env.store) == before
    # The same forms with the page's token go through (so the 403s above were the token's doing).
    token = form_token(admin)
    answer = _post(admin, "/console/campaigns", WRITE_FORMS["/console/campaigns"], token)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/campaigns/autumn?done=created"
    assert counts(env.store)["campaigns"] == before["campaigns"] + 1


def test_a_write_session_imports_saves_creates_and_is_logged(env: ApiEnv) -> None:
    seed(env.store)
    writer = client_for(env, "write")
    token = form_token(writer)
    page = writer.post("/console/lists/import", data={"csrf": token, "new_list": "vip"},
                       files={"file": ("vip.csv", b"email;name\ncid@example.org;Cid\nnot-an-address;X\n", "text/csv")})
    assert page.status_code == 200
    assert "line 3: " in page.text and "added to list: 1" in page.text  # the CLI's report, line numbers and all
    answer = _post(writer, "/console/templates", {"name": "t2", "subject": "S", "html": "", "text": "{{ oops",
                                                 "action": "save"}, token)
    assert answer.status_code == 400 and "Not saved" in answer.text
    answer = _post(writer, "/console/templates", {"name": "t2", "subject": "S {{ name }}", "html": "",
                                                 "text": "Hi {{ name }}", "action": "save"}, token)
    assert answer.status_code == 303
    shown = writer.get(answer.headers["location"]).text
    assert "Saved." in shown and 'id="preview-subject">S Ann &lt;script&gt;' in shown
    assert _post(writer, "/console/keys/revoke", {"name": "reader", "confirm": "yes"}, token).status_code == 403
    with env.store.reader() as session:
        rows = session.execute(select(OperationLog.actor, OperationLog.operation, OperationLog.target)
                               .where(OperationLog.operation != "session.login").order_by(OperationLog.id)).all()
    assert [tuple(r) for r in rows] == [("key:writeer", "subscribers.import", "vip"), ("key:writeer", "template.save", "t2")]


def test_resubscribe_asks_first_then_lifts_through_the_api_function(env: ApiEnv) -> None:
    seed(env.store)
    writer = client_for(env, "write")
    confirm = writer.get("/console/failures/suppressions/resubscribe?address=ann@example.org")
    assert "Re-subscribe ann@example.org?" in confirm.text and "hard_bounce" in confirm.text
    token = form_token(writer, "/console/failures/suppressions/resubscribe?address=ann@example.org")
    unticked = _post(writer, "/console/failures/suppressions/resubscribe", {"address": "ann@example.org",
                                                                          "reason": "phoned her"}, token)
    assert unticked.status_code == 400
    done = _post(writer, "/console/failures/suppressions/resubscribe", {"address": "ann@example.org",
                                                                      "reason": "phoned her", "confirm": "yes"}, token)
    assert done.status_code == 303
    assert env.client.get("/api/v1/subscribers/ann@example.org", headers=env.h()).json()["status"] == "active"
    logged = env.client.get("/api/v1/oplog/?operation=suppression.", headers=env.h("admin")).json()["items"]
    assert logged[0]["actor"] == "key:writeer" and logged[0]["detail"]["reason"] == "phoned her"


def test_the_pages_show_the_apis_numbers(env: ApiEnv) -> None:
    seed(env.store)
    reader = client_for(env, "read")
    for period in ("30d", "90d"):
        api = env.client.get(f"/api/v1/stats/categories?range={period}", headers=env.h()).json()
        page = reader.get(f"/console/failures?range={period}").text
        assert api["summary"] in page
        for line in api["failures"]:
            assert re.search(rf">{re.escape(line['label'])}</th>.*?>{line['count']}</a>", page, re.S)
        dash = reader.get(f"/console?range={period}").text
        total = sum(api["totals"].values())
        tile = re.search(r'id="range-h".*?<dt>Returned</dt><dd>([\d,]+)</dd>', dash, re.S)
        assert tile and int(tile.group(1).replace(",", "")) == total
        table = re.search(r'id="returns-table".*?<tfoot>(.*?)</tfoot>', dash, re.S)
        assert table and table.group(1).count(f">{total}<") == 1 if total else True
    domains = env.client.get("/api/v1/stats/domains?range=90d", headers=env.h()).json()["items"]
    page = reader.get("/console/failures?range=90d").text
    shown = dict(re.findall(r'<th scope="row"><a href="[^"]*">([^<]+)</a></th>\s*<td class="num"><a [^>]*>(\d+)</a>', page))
    failing = {d["domain"]: sum(n for c, n in d["categories"].items() if c in FAILURE_CATEGORIES) for d in domains}
    assert shown == {d: str(n) for d, n in failing.items() if n} and len(shown) == 2


def test_data_from_strangers_is_shown_as_text(env: ApiEnv) -> None:
    seed(env.store)
    reader = client_for(env, "read")
    for path in ("/console/lists/subscriber?address=ann@example.org", "/console/campaigns/spring",
                 "/console/templates/spring", "/console/lists?q=ann"):
        text = reader.get(path).text
        assert "<script>window" not in text, path
        assert "&lt;script&gt;window" in text or "&amp;lt;script" in text, path
    frame = re.search(r'srcdoc="([^"]*)"', reader.get("/console/templates/spring").text)
    assert frame and "&lt;script" not in frame.group(1).replace("&amp;lt;script", "")  # the template's script is gone


def test_the_range_and_forms_refuse_nonsense_with_a_page(env: ApiEnv) -> None:
    reader = client_for(env, "read")
    for path in ("/console?range=forever", "/console?since=2026-13-01", "/console/failures?since=2026-02-01&until=2026-01-01",
                 "/console/sending?outcome=lost"):
        answer = reader.get(path)
        assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/html"), path
    assert reader.get("/console/campaigns/nope").status_code == 404


def test_a_slow_campaign_by_domain_is_kept_and_says_when_it_was_computed(store: Store, tmp_path: Path) -> None:  # noqa: F811
    """On a big database the domains page is kept like the other sums (api/kept.py), and says so."""
    from api.kept import kept

    seed(store)
    built = build_env(store, tmp_path, keep_results_slower_than=1e-9)  # every result counts as slow
    with built.client:
        kept.forget()
        first = built.client.get("/console/campaigns/spring/domains", headers=built.h("admin"))
        assert first.status_code == 200 and "computed at" in first.text and "example.org" in first.text
    kept.forget()
    kept.slow = 1e9  # as every other test's app sets it
