"""List hygiene through the API on SQLite and PostgreSQL: subscribers, suppressions, counts, quarantine, metrics."""

from __future__ import annotations

import csv
import io

from fixtures.api_setup import (  # noqa: F401 - fixtures
    ApiEnv,
    add_message,
    add_subscriber,
    add_suppression,
    api_env,
    days_ago,
)
from fixtures.store_backends import db_url, store  # noqa: F401
from sqlalchemy import insert, select

from responsemaster.store.base import address_key
from responsemaster.store.subscribers import ListMembership, MailingList, Subscriber, Suppression


def test_subscriber_status_score_and_full_verdict_history(api_env: ApiEnv) -> None:  # noqa: F811
    add_subscriber(api_env.store, "Jane@Example.org", status="bouncing", score=1.5)
    add_message(api_env.store, category="hard_bounce", reason="userunknown", subscriber="jane@example.org",
                at=days_ago(3), recipients=[{"address": "jane@example.org", "status": "5.1.1", "reply_code": "550",
                                             "diagnostic": "550 5.1.1 no such user"}])
    add_message(api_env.store, category="auto_reply", reason="vacation", subscriber="jane@example.org", at=days_ago(1))
    add_message(api_env.store, category="soft_bounce", reason="expired", subscriber="other@example.org",
                recipients=[{"address": "JANE@example.org"}, {"address": "other@example.org"}], at=days_ago(2))
    h = api_env.h()
    sub = api_env.client.get("/api/v1/subscribers/JANE@example.ORG", headers=h).json()
    assert sub["address"] == "Jane@Example.org" and sub["status"] == "bouncing" and sub["bounce_score"] == 1.5
    assert sub["suppression"] is None
    history = api_env.client.get("/api/v1/subscribers/jane@example.org/verdicts", headers=h).json()
    assert [(v["category"], v["role"]) for v in history["items"]] == [
        ("auto_reply", "subject"), ("soft_bounce", "recipient"), ("hard_bounce", "recipient")]
    assert history["items"][2]["status"] == "5.1.1" and history["items"][2]["reply_code"] == "550"
    paged = api_env.client.get("/api/v1/subscribers/jane@example.org/verdicts", params={"limit": 2}, headers=h).json()
    assert len(paged["items"]) == 2 and paged["next_before"]
    rest = api_env.client.get("/api/v1/subscribers/jane@example.org/verdicts",
                              params={"limit": 2, "before": paged["next_before"]}, headers=h).json()
    assert [v["category"] for v in rest["items"]] == ["hard_bounce"] and rest["next_before"] is None
    assert api_env.client.get("/api/v1/subscribers/nobody@example.org", headers=h).status_code == 404


def test_suppressions_are_paged_and_exported_as_streamed_csv(api_env: ApiEnv) -> None:  # noqa: F811
    with api_env.store.transaction() as s:
        s.execute(insert(Suppression), [
            {"address": f"u{i}@d{i % 3}.example", "address_key": f"u{i}@d{i % 3}.example", "domain": f"d{i % 3}.example",
             "reason": "hard_bounce" if i % 2 else "unsubscribe", "since": days_ago(i % 10), "by": "test"}
            for i in range(2500)])
    h = api_env.h()
    page = api_env.client.get("/api/v1/suppressions/", params={"page": 2, "per_page": 100}, headers=h).json()
    assert page["total"] == 2500 and len(page["items"]) == 100 and page["page"] == 2
    only = api_env.client.get("/api/v1/suppressions/", params={"reason": "unsubscribe", "domain": "D1.example"},
                              headers=h).json()
    assert only["total"] == len([i for i in range(2500) if i % 2 == 0 and i % 3 == 1])
    with api_env.client.stream("GET", "/api/v1/suppressions/export.csv", headers=h) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        body = b"".join(response.iter_bytes()).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 2500 and set(rows[0]) == {"address", "domain", "reason", "since", "by"}
    assert len({r["address"] for r in rows}) == 2500
    assert api_env.client.get("/api/v1/suppressions/", params={"per_page": 5000}, headers=h).status_code == 400


def test_resubscribe_lifts_the_suppression_restores_lists_and_is_logged(api_env: ApiEnv) -> None:  # noqa: F811
    sid = add_subscriber(api_env.store, "bob@example.org", status="pruned", score=3.0)
    with api_env.store.transaction() as s:
        lst = MailingList(name="news")
        s.add(lst)
        s.flush()
        s.add(ListMembership(list_id=lst.id, subscriber_id=sid, status="unsubscribed", left_at=days_ago(0, 1)))  # type: ignore[arg-type]
    add_suppression(api_env.store, "bob@example.org", "hard_bounce", sid, since=days_ago(0, 1))
    r = api_env.client.post("/api/v1/suppressions/BOB@example.org/resubscribe", json={"reason": "new mailbox, confirmed"},
                            headers=api_env.h("write"))
    assert r.status_code == 200, r.text
    with api_env.store.reader() as s:
        assert s.execute(select(Suppression)).first() is None
        sub = s.execute(select(Subscriber)).scalars().one()
        assert (sub.status, sub.bounce_score) == ("active", 0.0)
        assert sub.status_reason == "resubscribed: new mailbox, confirmed"
        assert s.execute(select(ListMembership.status)).scalar_one() == "subscribed"
    assert api_env.client.post("/api/v1/suppressions/bob@example.org/resubscribe", json={"reason": "again"},
                               headers=api_env.h("write")).status_code == 404
    assert api_env.client.post("/api/v1/suppressions/bob@example.org/resubscribe", json={"reason": ""},
                               headers=api_env.h("write")).status_code == 400


def test_lifting_a_complaint_needs_an_admin_key(api_env: ApiEnv) -> None:  # noqa: F811
    add_suppression(api_env.store, "angry@example.org", "complaint")
    path = "/api/v1/suppressions/angry@example.org/resubscribe"
    assert api_env.client.post(path, json={"reason": "says it was a mistake"}, headers=api_env.h("write")).status_code == 403
    assert api_env.client.post(path, json={"reason": "says it was a mistake"}, headers=api_env.h("admin")).status_code == 200


def test_manual_suppression(api_env: ApiEnv) -> None:  # noqa: F811
    r = api_env.client.post("/api/v1/suppressions/", json={"address": "Spam@Trap.example", "reason": "spamtrap"},
                            headers=api_env.h("write"))
    assert r.status_code == 201 and r.json()["by"] == "api:writeer"
    with api_env.store.reader() as s:
        assert s.execute(select(Suppression.address_key)).scalar_one() == address_key("spam@trap.example")


def _seed_counts(env: ApiEnv) -> None:
    for i in range(18):
        add_message(env.store, category="hard_bounce", reason="userunknown", subscriber=f"u{i}@gmail.example",
                    campaign="spring", at=days_ago(i % 5))
    for i in range(4):
        add_message(env.store, category="mailbox_full", reason="mailboxfull", subscriber=f"f{i}@yahoo.example",
                    campaign="spring", at=days_ago(2))
    for i in range(35):
        add_message(env.store, category="mail_block", reason="rejected", subscriber=f"b{i}@corp.example",
                    campaign="summer", at=days_ago(1))
    add_message(env.store, category="auto_reply", reason="vacation", subscriber="v@gmail.example", at=days_ago(0))
    add_message(env.store, category="hard_bounce", reason="userunknown", subscriber="old@gmail.example", at=days_ago(60))
    add_message(env.store, category="user_reply", subscriber="q@gmail.example", state="quarantined", error="boom")


def test_counts_per_category_per_day_with_the_failures_summary(api_env: ApiEnv) -> None:  # noqa: F811
    _seed_counts(api_env)
    h = api_env.h()
    report = api_env.client.get("/api/v1/stats/categories", params={"range": "30d"}, headers=h).json()
    assert report["totals"]["hard_bounce"] == 18 and report["totals"]["mail_block"] == 35
    assert report["totals"]["user_reply"] == 0  # a quarantined message's verdict is not a hygiene fact
    assert report["summary"] == "failures: 35 rejected, 18 addresses do not exist, 4 mailboxes full"
    assert sum(d["count"] for d in report["per_day"] if d["category"] == "hard_bounce") == 18
    wide = api_env.client.get("/api/v1/stats/categories", params={"range": "90d"}, headers=h).json()
    assert wide["totals"]["hard_bounce"] == 19
    one_day = api_env.client.get("/api/v1/stats/categories", params={"since": days_ago(2).date().isoformat(),
                                 "until": days_ago(2).date().isoformat()}, headers=h).json()
    assert one_day["totals"]["mailbox_full"] == 4 and one_day["totals"]["mail_block"] == 0
    by_campaign = api_env.client.get("/api/v1/stats/categories", params={"campaign": "spring"}, headers=h).json()
    assert by_campaign["summary"] == "failures: 18 addresses do not exist, 4 mailboxes full"
    bad = api_env.client.get("/api/v1/stats/categories", params={"since": "2026-02-02", "until": "2026-02-01"}, headers=h)
    assert bad.status_code == 400
    assert api_env.client.get("/api/v1/stats/categories", params={"range": "decade"}, headers=h).status_code == 400


def test_counts_per_domain_and_per_campaign(api_env: ApiEnv) -> None:  # noqa: F811
    _seed_counts(api_env)
    h = api_env.h()
    domains = api_env.client.get("/api/v1/stats/domains", params={"range": "30d"}, headers=h).json()["items"]
    assert [(d["domain"], d["total"]) for d in domains] == [("corp.example", 35), ("gmail.example", 19),
                                                           ("yahoo.example", 4)]
    assert domains[1]["categories"] == {"hard_bounce": 18, "auto_reply": 1}
    one = api_env.client.get("/api/v1/stats/domains", params={"domain": "GMAIL.example", "category": "hard_bounce"},
                             headers=h).json()["items"]
    assert one == [{"domain": "gmail.example", "total": 18, "categories": {"hard_bounce": 18}}]
    today = api_env.client.get("/api/v1/stats/domains", params={"range": "today"}, headers=h).json()["items"]
    assert {d["domain"] for d in today} <= {"gmail.example"}
    campaigns = api_env.client.get("/api/v1/stats/campaigns", headers=h).json()["items"]
    assert [(c["campaign"], c["total"]) for c in campaigns][:2] == [("summer", 35), ("spring", 22)]


def test_quarantine_list_download_and_reprocess(api_env: ApiEnv) -> None:  # noqa: F811
    bad = add_message(api_env.store, category="user_reply", state="quarantined", error="cannot parse MIME",
                      raw=b"Subject: broken\r\n\r\n\xff\xfe garbage")
    good = add_message(api_env.store, category="user_reply")
    h = api_env.h()
    listing = api_env.client.get("/api/v1/quarantine/", headers=h).json()
    assert listing["total"] == 1 and listing["items"][0]["uid"] == bad["uid"]
    assert listing["items"][0]["error"] == "cannot parse MIME"
    raw = api_env.client.get(f"/api/v1/quarantine/{bad['uid']}/raw", headers=h)
    assert raw.content == b"Subject: broken\r\n\r\n\xff\xfe garbage"
    assert raw.headers["content-disposition"].startswith("attachment")
    assert api_env.client.get(f"/api/v1/quarantine/{good['uid']}/raw", headers=h).status_code == 404
    r = api_env.client.post(f"/api/v1/quarantine/{bad['uid']}/reprocess", headers=api_env.h("write"))
    assert r.status_code == 202 and r.json()["target"] == bad["uid"]
    assert api_env.tasks == [("reprocess", bad["uid"])]
    assert api_env.client.post(f"/api/v1/quarantine/{good['uid']}/reprocess",
                               headers=api_env.h("write")).status_code == 404


def test_metrics_and_health(api_env: ApiEnv) -> None:  # noqa: F811
    _seed_counts(api_env)
    add_subscriber(api_env.store, "m@example.org", status="pruned")
    text = api_env.client.get("/metrics").text
    assert 'responsemaster_verdicts_total{category="hard_bounce"} 19' in text
    assert "responsemaster_quarantined_messages 1" in text
    assert 'responsemaster_subscribers{status="pruned"} 1' in text
    assert 'responsemaster_model_info{model_id="20260101T000000Z-abc"} 1' in text
    health = api_env.client.get("/health").json()
    assert health == {"status": "ok", "database": "ok", "model": "20260101T000000Z-abc", "quarantined": 1}
    schema = api_env.client.get("/schema/openapi.json").json()
    assert "/api/v1/subscribers/{address}" in schema["paths"]
    assert "apiKey" in schema["components"]["securitySchemes"]
