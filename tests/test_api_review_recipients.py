"""The review queue corrects one recipient of a bounce and confirms pending prunes (docs/bounces.md)."""

from __future__ import annotations

from fixtures.api_setup import ApiEnv, add_message, api_env, raw_message  # noqa: F401 - fixtures
from fixtures.store_backends import db_url, store  # noqa: F401
from sqlalchemy import select

from responsemaster.classify.model.dataset import load_examples
from responsemaster.store.actions import ActionTaken
from responsemaster.store.messages import MessageVerdict, RecipientVerdictRow
from responsemaster.store.platform import OperationLog
from responsemaster.store.subscribers import Subscriber, Suppression

ANN, BOB = "ann@example.org", "bob@example.org"


def _bounce_with_pending_prunes(env: ApiEnv) -> dict:
    made = add_message(env.store, category="hard_bounce", reason="userunknown", review=0.55, confidence=0.55,
                       raw=raw_message(subject="Undelivered Mail", body="550 5.0.0 frobnicated"),
                       recipients=[{"address": ANN, "status": "5.0.0", "reply_code": "550", "diagnostic": "550 nope"},
                                   {"address": BOB, "status": "5.0.0", "reply_code": "550", "diagnostic": "550 nope"}])
    with env.store.transaction() as s:
        for address in (ANN, BOB):
            s.add(ActionTaken(message_id=made["id"], disposition="prune", target=address, status="pending",
                              detail="pending: hard_bounce:userunknown at confidence 0.55 (below 0.80)",
                              idempotency_key=f"{made['uid']}:prune:{address}"))
    return made


def _prunes(env: ApiEnv) -> dict[str, str]:
    with env.store.reader() as s:
        return {a.target: a.status for a in s.execute(select(ActionTaken)).scalars()}


def test_the_detail_shows_each_recipient_and_its_pending_prune(api_env: ApiEnv) -> None:  # noqa: F811
    made = _bounce_with_pending_prunes(api_env)
    detail = api_env.client.get(f"/api/v1/review/{made['review_id']}", headers=api_env.h()).json()
    assert [(r["address"], r["pending_prune"]) for r in detail["recipients"]] == [(ANN, True), (BOB, True)]


def test_correcting_one_recipient_settles_its_prune_and_joins_the_training_data(api_env: ApiEnv) -> None:  # noqa: F811
    made = _bounce_with_pending_prunes(api_env)
    w = api_env.h("write")
    url = f"/api/v1/review/{made['review_id']}/recipients/relabel"
    r = api_env.client.post(url, json={"address": BOB, "category": "mail_block", "reason": "blocked"}, headers=w)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["previous_category"], out["category"], out["reason"], out["prune"]) == (
        "hard_bounce", "mail_block", "blocked", "cancelled")
    assert _prunes(api_env) == {ANN: "pending", BOB: "cancelled"}
    # Bob is the second recipient: the message keeps the first one's category.
    [example] = load_examples(api_env.training_dir)
    assert example.category == "hard_bounce" and example.source == f"review:{made['uid']}"
    assert [(x.address, x.category, x.reason) for x in example.recipients] == [(BOB, "mail_block", "blocked")]
    # Correcting the first recipient relabels the message and adds to the same training row.
    r = api_env.client.post(url, json={"address": ANN, "category": "soft_bounce", "reason": "onhold"}, headers=w)
    assert r.json()["prune"] == "cancelled" and r.json()["item"]["relabelled_to"] == "soft_bounce"
    [example] = load_examples(api_env.training_dir)
    assert example.category == "soft_bounce"
    assert sorted((x.address, x.category) for x in example.recipients) == [(ANN, "soft_bounce"), (BOB, "mail_block")]
    with api_env.store.reader() as s:
        rows = {x.address: (x.category, x.reason, x.decided_by) for x in s.execute(select(RecipientVerdictRow)).scalars()}
        verdict = s.execute(select(MessageVerdict)).scalars().one()
        ops = [o.operation for o in s.execute(select(OperationLog)).scalars()]
    assert rows[BOB] == ("mail_block", "blocked", "review:key:writeer")
    assert (verdict.category, verdict.reason) == ("soft_bounce", "onhold")
    assert ops == ["review.relabel_recipient", "review.relabel_recipient"]
    assert api_env.client.post(url, json={"address": "who@example.org", "category": "mail_block"},
                               headers=w).status_code == 404
    assert api_env.client.post(url, json={"address": ANN, "category": "hard_bounce", "reason": "blocked"},
                               headers=w).status_code == 400


def test_a_person_confirms_a_pending_prune(api_env: ApiEnv) -> None:  # noqa: F811
    made = _bounce_with_pending_prunes(api_env)
    w = api_env.h("write")
    url = f"/api/v1/review/{made['review_id']}/confirm-prune"
    r = api_env.client.post(url, json={"address": ANN}, headers=w)
    assert r.status_code == 200, r.text
    assert r.json()["pruned"] == [ANN] and r.json()["item"]["state"] == "open"  # Bob still waits
    assert _prunes(api_env) == {ANN: "done", BOB: "pending"}
    r = api_env.client.post(url, json={}, headers=w)
    assert r.json()["pruned"] == [BOB] and r.json()["item"]["state"] == "resolved"
    assert api_env.client.post(url, json={}, headers=w).status_code == 409
    with api_env.store.reader() as s:
        assert {x.address: x.status for x in s.execute(select(Subscriber)).scalars()} == {ANN: "pruned", BOB: "pruned"}
        assert sorted(x.address for x in s.execute(select(Suppression)).scalars()) == [ANN, BOB]
    assert api_env.client.post(url, json={}, headers=api_env.h()).status_code == 403


def test_a_message_relabel_decides_its_pending_prunes(api_env: ApiEnv) -> None:  # noqa: F811
    made = _bounce_with_pending_prunes(api_env)
    r = api_env.client.post(f"/api/v1/review/{made['review_id']}/relabel", json={"category": "mail_block"},
                            headers=api_env.h("write"))
    assert r.status_code == 200, r.text
    assert _prunes(api_env) == {ANN: "cancelled", BOB: "cancelled"}
