"""Review queue, relabel into training data, model info, one-click unsubscribe, campaigns and sending views."""

from __future__ import annotations

import json
from datetime import timedelta

from fixtures.api_setup import (  # noqa: F401 - fixtures
    KEYRING,
    ApiEnv,
    add_message,
    add_subscriber,
    add_suppression,
    api_env,
    build_env,
    days_ago,
    raw_message,
)
from fixtures.store_backends import db_url, store  # noqa: F401
from sqlalchemy import insert, select

from responsemaster.classify.model.dataset import load_examples
from responsemaster.store.base import utcnow
from responsemaster.store.mailing import SenderUsage
from responsemaster.store.messages import ReviewItem
from responsemaster.store.platform import Delivery, OperationLog, SenderAccount
from responsemaster.store.subscribers import Campaign, ListMembership, MailingList, Subscriber, Suppression
from responsemaster.verp import encode_token


def _queue(env: ApiEnv) -> list[dict]:
    made = []
    for conf in (0.9, 0.3, 0.6):
        made.append(add_message(env.store, category="user_reply", review=conf, confidence=conf,
                                reply_text=f"reply at {conf}", raw=raw_message(body=f"body {conf}")))
    return made


def test_review_queue_is_least_confident_first_and_items_read_fully(api_env: ApiEnv) -> None:  # noqa: F811
    made = _queue(api_env)
    h = api_env.h()
    page = api_env.client.get("/api/v1/review/", headers=h).json()
    assert [i["confidence"] for i in page["items"]] == [0.3, 0.6, 0.9] and page["total"] == 3
    one = api_env.client.get(f"/api/v1/review/{made[1]['review_id']}", headers=h).json()
    assert one["reply_text"] == "reply at 0.3" and one["item"]["decided_by"] == "rule:test"
    assert api_env.client.get("/api/v1/review/99999", headers=h).status_code == 404


def test_resolve_and_relabel_write_training_data_the_loader_reads(api_env: ApiEnv) -> None:  # noqa: F811
    made = _queue(api_env)
    w = api_env.h("write")
    rid = made[1]["review_id"]
    r = api_env.client.post(f"/api/v1/review/{rid}/relabel", json={"category": "auto_reply", "note": "OOO"}, headers=w)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["previous"] == "user_reply" and out["item"]["state"] == "resolved"
    assert out["training_file"] == f"auto_reply/review--{made[1]['sha256']}.eml"
    path = api_env.training_dir / out["training_file"]
    assert path.read_bytes().endswith(b"body 0.3\r\n")
    # relabel again: the file moves, never two labels for one message
    api_env.client.post(f"/api/v1/review/{rid}/relabel", json={"category": "unsubscribe_request"}, headers=w)
    assert not path.exists()
    examples = load_examples(api_env.training_dir)
    assert [(e.category, e.sha256) for e in examples] == [("unsubscribe_request", made[1]["sha256"])]
    rows = [json.loads(line) for line in (api_env.training_dir / "relabels.jsonl").read_text().splitlines()]
    assert [(x["previous"], x["category"], x["by"]) for x in rows] == [
        ("user_reply", "auto_reply", "key:writeer"), ("auto_reply", "unsubscribe_request", "key:writeer")]
    assert {"file", "category", "reason", "source", "licence", "at"} <= set(rows[0])
    res = api_env.client.post(f"/api/v1/review/{made[0]['review_id']}/resolve", json={"note": "answered"}, headers=w)
    assert res.json()["state"] == "resolved" and res.json()["resolved_by"] == "key:writeer"
    assert [i["id"] for i in api_env.client.get("/api/v1/review/", headers=w).json()["items"]] == [made[2]["review_id"]]
    bad = api_env.client.post(f"/api/v1/review/{rid}/relabel", json={"category": "not_a_category"}, headers=w)
    assert bad.status_code == 400
    model = api_env.client.get("/api/v1/model/", headers=w).json()
    assert model["relabels"] == 2 and model["training_data"]["unsubscribe_request"] == 1
    assert model["model_id"] == "20260101T000000Z-abc" and model["metrics"]["macro_f1"] == 0.8


def test_retrain_is_an_admin_task(api_env: ApiEnv) -> None:  # noqa: F811
    assert api_env.client.post("/api/v1/model/retrain", headers=api_env.h("write")).status_code == 403
    r = api_env.client.post("/api/v1/model/retrain", headers=api_env.h("admin"))
    assert r.status_code == 202 and r.json() == {"task": "retrain", "id": "task-1", "target": ""}
    assert api_env.tasks == [("retrain",)]


def _member(env: ApiEnv, address: str) -> int:
    sid = add_subscriber(env.store, address)
    with env.store.transaction() as s:
        lst = MailingList(name=f"list-{sid}")
        s.add(lst)
        s.flush()
        s.add(ListMembership(list_id=lst.id, subscriber_id=sid))  # type: ignore[arg-type]
    return sid


def test_one_click_unsubscribe_with_a_valid_token(api_env: ApiEnv) -> None:  # noqa: F811
    sid = _member(api_env, "ann@example.org")
    token = encode_token("spring", str(sid), KEYRING)
    page = api_env.client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "a**@example.org" in page.text and 'value="One-Click"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    with api_env.store.reader() as s:  # GET changes nothing
        assert s.execute(select(Subscriber.status)).scalar_one() == "active"
    r = api_env.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "unsubscribed" in r.text
    with api_env.store.reader() as s:
        assert s.execute(select(Subscriber.status)).scalar_one() == "unsubscribed"
        assert s.execute(select(ListMembership.status)).scalar_one() == "unsubscribed"
        supp = s.execute(select(Suppression)).scalars().one()
        assert (supp.reason, supp.by) == ("unsubscribe", "one-click:spring")
        log = s.execute(select(OperationLog)).scalars().one()
        assert (log.actor, log.operation, log.target) == ("one-click", "unsubscribe.one_click", "ann@example.org")
    again = api_env.client.post(f"/unsubscribe/{token.upper()}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200  # idempotent, and case-folded tokens still verify
    by_address = encode_token("c", "ann@example.org", KEYRING)
    assert api_env.client.post(f"/unsubscribe/{by_address}", data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_a_forged_token_changes_nothing(api_env: ApiEnv) -> None:  # noqa: F811
    sid = _member(api_env, "bob@example.org")
    token = encode_token("spring", str(sid), KEYRING)
    forged = token[:-1] + ("a" if token[-1] != "a" else "b")
    for t in (forged, "1" + "a" * 30, "nonsense"):
        r = api_env.client.post(f"/unsubscribe/{t}", data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 400 and "not valid" in r.text
        assert api_env.client.get(f"/unsubscribe/{t}").status_code == 400
    unknown = encode_token("spring", "424242", KEYRING)
    assert api_env.client.post(f"/unsubscribe/{unknown}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    missing = api_env.client.post(f"/unsubscribe/{token}", data={"other": "x"})
    assert missing.status_code == 400 and "One-Click" in missing.text
    with api_env.store.reader() as s:
        assert s.execute(select(Subscriber.status)).scalar_one() == "active"
        assert s.execute(select(Suppression)).first() is None
        assert s.execute(select(OperationLog)).first() is None


def test_without_verp_keys_every_token_is_refused(store, tmp_path) -> None:  # noqa: F811
    env = build_env(store, tmp_path, keyring=None)
    sid = add_subscriber(store, "c@example.org")
    token = encode_token("x", str(sid), KEYRING)
    with env.client:
        assert env.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 400


def _seed_sending(env: ApiEnv) -> None:
    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with env.store.transaction() as s:
        camp = Campaign(name="spring", status="sent")
        relay = SenderAccount(name="relay-a", host="smtp.example", max_per_hour=100)
        s.add_all([camp, relay, SenderAccount(name="relay-b", host="smtp2.example")])
        s.flush()
        subs = [Subscriber(address=f"s{i}@{d}", address_key=f"s{i}@{d}", domain=d)
                for i, d in enumerate(["gmail.example"] * 6 + ["corp.example"] * 3)]
        s.add_all(subs)
        s.flush()
        statuses = ["sent"] * 7 + ["failed", "deferred"]
        errors = {"failed": "550 5.1.1 <s7@corp.example>: user unknown", "deferred": "421 4.7.0 try later"}
        s.execute(insert(Delivery), [
            {"campaign_id": camp.id, "subscriber_id": sub.id, "address": sub.address, "domain": sub.domain,
             "status": st, "sent_at": now if st == "sent" else None, "queued_at": now - timedelta(minutes=5),
             "last_error": errors.get(st, ""), "attempts": 1}
            for sub, st in zip(subs, statuses)])
        s.execute(insert(SenderUsage), [{"account_id": relay.id, "hour": hour, "sent": 7},
                                        {"account_id": relay.id, "hour": hour - timedelta(hours=30), "sent": 50}])
    add_message(env.store, category="hard_bounce", reason="userunknown", subscriber="s1@gmail.example",
                campaign="spring")


def test_sending_views_per_day_account_domain_quotas_and_failures(api_env: ApiEnv) -> None:  # noqa: F811
    _seed_sending(api_env)
    h = api_env.h()
    today = api_env.client.get("/api/v1/sending/", params={"range": "today"}, headers=h).json()
    assert [(d["sent"], d["failed"], d["deferred"]) for d in today["per_day"]] == [(7, 1, 1)]
    assert today["per_account"] == [{"account": "relay-a", "sent": 7}, {"account": "relay-b", "sent": 0}]
    assert today["per_domain"][0] == {"domain": "gmail.example", "sent": 6, "failed": 0, "bounced": 1}
    assert today["delivery_failures"] == {"550 5.1.1": 1, "421 4.7.0": 1}
    assert today["bounce_reasons"][0]["label"] == "addresses do not exist"
    month = api_env.client.get("/api/v1/sending/", params={"range": "7d"}, headers=h).json()
    assert month["per_account"][0]["sent"] == 57
    quotas = {(q["account"], q["period"]): q for q in api_env.client.get("/api/v1/sending/quotas", headers=h).json()}
    assert quotas[("relay-a", "hour")] == {"account": "relay-a", "period": "hour", "total": 100, "sent": 7,
                                          "remaining": 93}
    assert quotas[("relay-b", "hour")]["total"] is None and quotas[("relay-b", "hour")]["remaining"] is None


def test_campaign_analytics(api_env: ApiEnv) -> None:  # noqa: F811
    _seed_sending(api_env)
    h = api_env.h()
    one = api_env.client.get("/api/v1/campaigns/spring", headers=h).json()
    assert one["stats"]["sent"] == 7 and one["stats"]["bounced"] == 1
    assert one["rates"]["bounce_rate"] == round(1 / 7, 5)
    assert one["summary"] == "failures: 1 addresses do not exist"
    assert "gmail.example" in one["by_domain"]
    listing = api_env.client.get("/api/v1/campaigns/", headers=h).json()["items"]
    assert [c["campaign"] for c in listing] == ["spring"]
    assert api_env.client.get("/api/v1/campaigns/nope", headers=h).status_code == 404
    with api_env.store.reader() as s:
        assert s.execute(select(ReviewItem)).first() is None


def test_campaign_analytics_without_the_mailer_package(api_env: ApiEnv, monkeypatch) -> None:  # noqa: F811
    import sys

    _seed_sending(api_env)
    monkeypatch.setitem(sys.modules, "mailer.analytics", None)  # import fails: fallback
    one = api_env.client.get("/api/v1/campaigns/spring", headers=api_env.h()).json()
    assert (one["stats"]["sent"], one["stats"]["bounced"], one["stats"]["failed_at_send"]) == (7, 1, 1)
    assert api_env.client.get("/api/v1/campaigns/", headers=api_env.h()).json()["items"][0]["campaign"] == "spring"


def test_relabel_corrects_the_stored_verdict_and_its_counts_and_keeps_the_previous_label(api_env: ApiEnv) -> None:  # noqa: F811
    from responsemaster.store.hygiene_counts import VerdictDayCount
    from responsemaster.store.messages import MessageVerdict

    made = add_message(api_env.store, category="user_reply", reason="", subscriber="ann@gmail.example",
                       campaign="spring", review=0.4, at=days_ago(2))
    add_message(api_env.store, category="user_reply", subscriber="bob@gmail.example", campaign="spring", at=days_ago(2))
    h, w = api_env.h(), api_env.h("write")

    def totals(**params: str) -> dict:
        got = api_env.client.get("/api/v1/stats/categories", params={"range": "7d", **params}, headers=h).json()
        return {category: n for category, n in got["totals"].items() if n}

    assert totals() == {"user_reply": 2}
    rid = made["review_id"]
    assert api_env.client.post(f"/api/v1/review/{rid}/relabel", json={"category": "auto_reply"}, headers=w).status_code == 200
    assert api_env.client.post(f"/api/v1/review/{rid}/relabel", json={"category": "mailbox_full"}, headers=w).status_code == 200
    with api_env.store.reader() as s:
        mv = s.execute(select(MessageVerdict).where(MessageVerdict.message_id == made["id"])).scalar_one()
        assert (mv.category, mv.reason, mv.decided_by, mv.confidence) == ("mailbox_full", "", "review:key:writeer", 1.0)
        logs = [json.loads(r.detail) | {"actor": r.actor, "at": r.at}
                for r in s.execute(select(OperationLog).order_by(OperationLog.id)).scalars()]
        counted = sum(c.n for c in s.execute(select(VerdictDayCount).where(VerdictDayCount.dimension == "all")).scalars())
    assert [(x["previous"], x["category"], x["verdict_before"]["category"], x["verdict_before"]["decided_by"])
            for x in logs] == [("user_reply", "auto_reply", "user_reply", "rule:test"),
                               ("auto_reply", "mailbox_full", "auto_reply", "review:key:writeer")]
    assert all(x["actor"] == "key:writeer" and x["at"] is not None for x in logs)
    # every count reads the corrected category: overall, per domain, per campaign; nothing counted twice
    assert totals() == {"user_reply": 1, "mailbox_full": 1} and counted == 2
    assert totals(domain="gmail.example") == {"user_reply": 1, "mailbox_full": 1}
    assert totals(campaign="spring") == {"user_reply": 1, "mailbox_full": 1}
    history = api_env.client.get("/api/v1/subscribers/ann@gmail.example/verdicts", headers=h).json()
    assert [v["category"] for v in history["items"]] == ["mailbox_full"]


def test_the_queue_pages_by_cursor_least_confident_first_in_the_api_and_the_page(api_env: ApiEnv, monkeypatch) -> None:  # noqa: F811
    from api.controllers import review_page

    made = [add_message(api_env.store, category="user_reply", review=conf, raw=raw_message(body=f"b{i}"))
            for i, conf in enumerate([0.5, 0.1, 0.5, 0.3, 0.9])]
    expected = [made[i]["review_id"] for i in (1, 3, 0, 2, 4)]  # confidence, then id
    h, w = api_env.h(), api_env.h("write")
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = api_env.client.get("/api/v1/review/", params=params, headers=h).json()
        assert page["total"] == 5 - (1 if pages else 0)
        seen += [i["id"] for i in page["items"]]
        if pages == 0:  # resolving a shown item while paging neither skips nor repeats one
            api_env.client.post(f"/api/v1/review/{expected[0]}/resolve", json={}, headers=w)
        pages, after = pages + 1, page["next_after"]
        if after is None:
            break
    assert seen == expected and pages == 3
    assert api_env.client.get("/api/v1/review/", params={"after": "x:1"}, headers=h).status_code == 400
    # the page: same order, a "next" link carrying the cursor, and the page after it
    monkeypatch.setattr(review_page, "PAGE_SIZE", 2)
    first = api_env.client.get("/review", params={"state": "all"}, headers=h)
    assert first.status_code == 200
    assert [f'href="/review/{i}"' in first.text for i in expected] == [True, True, False, False, False]
    link = first.text.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = api_env.client.get(link, headers=h)
    assert [f'href="/review/{i}"' in second.text for i in expected] == [False, False, True, True, False]
    assert "« first 2" in second.text
