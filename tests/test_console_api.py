"""The queries the console added, as the JSON API answers them (one way to compute each number).

The delivery log filtered and paged, the addresses behind a failure count,
lists with their members by state and a subscriber's deliveries, on SQLite
and PostgreSQL, against rows written here.
"""

from __future__ import annotations

from datetime import timedelta

from fixtures.api_setup import ApiEnv, add_message, api_env, days_ago  # noqa: F401 - fixtures
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures

from mailer.campaigns import create_campaign, save_template
from mailer.subscribers import import_csv
from responsemaster.store.base import utcnow
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import ListMembership, Subscriber


def _deliveries(env: ApiEnv) -> int:
    report = import_csv(env.store, b"email\n" + b"".join(f"u{i}@d{i % 3}.example\n".encode() for i in range(9)), "news")
    assert report.added_to_list == 9
    save_template(env.store, "t", "S", "", "T")
    cid = create_campaign(env.store, "spring", "news", "t")
    now = utcnow()
    with env.store.transaction() as session:
        for sub in session.query(Subscriber).order_by(Subscriber.id):
            i = int(sub.address[1:sub.address.index("@")])
            status = ["sent", "failed", "deferred"][i % 3]
            session.add(Delivery(campaign_id=cid, subscriber_id=sub.id, address=sub.address, domain=sub.domain,  # type: ignore[arg-type]
                                 status=status, relay="a" if i < 5 else "b", attempts=1,
                                 queued_at=now - timedelta(days=i), sent_at=now - timedelta(days=i) if status == "sent" else None,
                                 last_error="" if status == "sent" else "550 5.1.1 no such user"))
    return cid


def test_the_delivery_log_filters_and_pages(api_env: ApiEnv) -> None:  # noqa: F811
    cid = _deliveries(api_env)
    get = lambda q: api_env.client.get(f"/api/v1/sending/deliveries?{q}", headers=api_env.h()).json()  # noqa: E731
    every = get("range=30d")
    assert [r["address"] for r in every["items"]] == [f"u{i}@d{i % 3}.example" for i in range(9)]  # newest first
    assert every["next_before"] is None and {r["campaign"] for r in every["items"]} == {"spring"}
    assert [r["address"] for r in get("range=7d&outcome=sent")["items"]] == ["u0@d0.example", "u3@d0.example",
                                                                               "u6@d0.example"]
    assert [r["address"] for r in get(f"range=30d&campaign={cid}&relay=b&domain=D2.example")["items"]] == ["u5@d2.example",
                                                                                                         "u8@d2.example"]
    first = get("range=30d&limit=4")
    second = get(f"range=30d&limit=4&before={first['next_before']}")
    third = get(f"range=30d&limit=4&before={second['next_before']}")
    assert len(first["items"]) == len(second["items"]) == 4 and len(third["items"]) == 1 and third["next_before"] is None
    assert {r["id"] for r in first["items"] + second["items"] + third["items"]} == {r["id"] for r in every["items"]}
    assert get("range=today")["items"][0]["address"] == "u0@d0.example"
    rows = api_env.client.get("/api/v1/subscribers/U4@d1.example/deliveries", headers=api_env.h()).json()
    assert [(r["campaign"], r["status"], r["relay"]) for r in rows] == [("spring", "failed", "a")]
    assert api_env.client.get("/api/v1/subscribers/nobody@x.example/deliveries", headers=api_env.h()).status_code == 404
    assert api_env.client.get("/api/v1/sending/deliveries?outcome=lost", headers=api_env.h()).status_code == 400
    assert api_env.client.get("/api/v1/sending/deliveries?before=2026-13-01T00:00:00~5", headers=api_env.h()).status_code == 400
    assert api_env.client.get("/api/v1/stats/addresses?before=2026-02-30T00:00:00~5", headers=api_env.h()).status_code == 400


def test_the_addresses_behind_a_count_are_the_ones_counted(api_env: ApiEnv) -> None:  # noqa: F811
    for i in range(5):
        add_message(api_env.store, category="hard_bounce", reason="userunknown", subscriber=f"a{i}@gmail.example",
                    at=days_ago(i))
    add_message(api_env.store, category="mailbox_full", reason="mailboxfull", subscriber="b@yahoo.example", at=days_ago(1))
    add_message(api_env.store, category="auto_reply", reason="vacation", subscriber="c@gmail.example", at=days_ago(1))
    add_message(api_env.store, category="hard_bounce", reason="userunknown", subscriber="old@gmail.example",
                at=days_ago(45))
    get = lambda q: api_env.client.get(f"/api/v1/stats/addresses?{q}", headers=api_env.h()).json()  # noqa: E731
    stats = api_env.client.get("/api/v1/stats/categories?range=30d", headers=api_env.h()).json()
    for line in stats["failures"]:
        found = get(f"range=30d&category={line['category']}&reason={line['reason']}&limit=1000")["items"]
        assert len(found) == line["count"] and {f["label"] for f in found} == {line["label"]}
    assert [f["address"] for f in get("range=30d&domain=gmail.example")["items"]] == [
        f"a{i}@gmail.example" for i in range(5)]  # newest first; failures only: no auto-reply
    page = get("range=30d&limit=2")
    rest = get(f"range=30d&limit=10&before={page['next_before']}")
    assert len(page["items"]) == 2 and len(rest["items"]) == 4 and rest["next_before"] is None


def test_lists_with_their_members_by_state(api_env: ApiEnv) -> None:  # noqa: F811
    import_csv(api_env.store, b"email\na@x.example\nb@x.example\nc@x.example\n", "news")
    import_csv(api_env.store, b"email\nc@x.example\n", "vip")
    import_csv(api_env.store, b"email\nd@x.example\ne@x.example\n", "news")
    with api_env.store.transaction() as session:
        session.query(Subscriber).filter(Subscriber.address_key == "b@x.example").update({"status": "pruned"})
        session.query(Subscriber).filter(Subscriber.address_key == "c@x.example").update({"status": "complained"})
        d = session.query(Subscriber).filter(Subscriber.address_key == "d@x.example").one()
        session.query(ListMembership).filter(ListMembership.subscriber_id == d.id).update({"status": "unsubscribed"})
        e = session.query(Subscriber).filter(Subscriber.address_key == "e@x.example").one()
        e.status = "unsubscribed"  # and left the list: counted once, as left
        session.query(ListMembership).filter(ListMembership.subscriber_id == e.id).update({"status": "unsubscribed"})
    lists = {item["name"]: item for item in api_env.client.get("/api/v1/lists/", headers=api_env.h()).json()}
    assert lists["news"]["members"] == 5
    assert lists["news"]["by_state"] == {"active": 1, "pruned": 1, "complained": 1, "left": 2}
    assert lists["vip"]["by_state"] == {"complained": 1} and lists["vip"]["counted_at"] is None
