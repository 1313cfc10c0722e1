"""The review page shows each recipient of a bounce, corrects one, and confirms a pending prune (Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.api_setup import ApiEnv, add_message, build_env, raw_message
from fixtures.browser import UvicornThread, chromium  # noqa: F401 - fixtures
from sqlalchemy import select
from test_review_page_browser import _login

from responsemaster.classify.model.dataset import load_examples
from responsemaster.store import Store, make_engine, upgrade_to_head
from responsemaster.store.actions import ActionTaken
from responsemaster.store.messages import RecipientVerdictRow
from responsemaster.store.subscribers import Subscriber

pytestmark = pytest.mark.integration
ANN, BOB = "ann@example.org", "bob@example.org"


@pytest.fixture
def bounce_served(tmp_path: Path) -> Iterator[tuple[ApiEnv, UvicornThread, int]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'rm.db'}")
    upgrade_to_head(engine)
    store = Store(engine, tmp_path / "var")
    env = build_env(store, tmp_path)
    made = add_message(store, category="hard_bounce", reason="userunknown", review=0.5, confidence=0.5,
                       raw=raw_message(subject="Undelivered Mail", body="550 frobnicated"),
                       recipients=[{"address": ANN, "diagnostic": "550 frobnicated"},
                                   {"address": BOB, "diagnostic": "550 Mail is rejected by recipients"}])
    with store.transaction() as s:
        for address in (ANN, BOB):
            s.add(ActionTaken(message_id=made["id"], disposition="prune", target=address, status="pending",
                              detail="pending: hard_bounce:userunknown at confidence 0.50 (below 0.80)",
                              idempotency_key=f"{made['uid']}:prune:{address}"))
    server = UvicornThread(env.app).start()
    yield env, server, made["review_id"]
    server.stop()
    store.close()


def test_a_reviewer_corrects_one_recipient_and_confirms_the_other(
    chromium: Any, bounce_served: tuple[ApiEnv, UvicornThread, int]  # noqa: F811
) -> None:
    env, server, item_id = bounce_served
    context = chromium.new_context()
    page = context.new_page()
    _login(page, server, env.keys["write"])
    page.goto(f"{server.url}/review/{item_id}")
    rows = page.locator("table.rcpts tr.rcpt")
    assert rows.count() == 2 and page.locator(".pending-prune").count() == 2
    assert page.locator("section.meta").count() == 1 and page.locator("form.relabel").count() == 1
    bob = rows.nth(1)
    assert BOB in bob.inner_text() and "hard_bounce" in bob.inner_text()
    bob.locator("select[name=category]").select_option("mail_block")
    bob.locator("select[name=reason]").select_option("filtered")
    bob.locator("button.correct").click()
    page.wait_for_url(f"{server.url}/review/{item_id}")
    assert "mail_block" in page.locator("table.rcpts tr.rcpt").nth(1).inner_text()
    assert page.locator(".pending-prune").count() == 1
    page.locator("table.rcpts tr.rcpt").nth(0).locator("button.confirm").click()
    page.wait_for_url(f"{server.url}/review/{item_id}")
    assert page.locator(".pending-prune").count() == 0
    with env.store.reader() as s:
        verdicts = {r.address: (r.category, r.reason) for r in s.execute(select(RecipientVerdictRow)).scalars()}
        prunes = {a.target: a.status for a in s.execute(select(ActionTaken)).scalars()}
        subscribers = {x.address: x.status for x in s.execute(select(Subscriber)).scalars()}
    assert verdicts[BOB] == ("mail_block", "filtered") and prunes == {ANN: "done", BOB: "cancelled"}
    assert subscribers == {ANN: "pruned"}
    [example] = load_examples(env.training_dir)
    assert [(r.address, r.category, r.reason) for r in example.recipients] == [(BOB, "mail_block", "filtered")]
    context.close()
