"""The API's background tasks through a real Huey consumer: retrain writes a new model, reprocess changes a verdict.

No recorded stand-ins: the app is built from a configuration file as
``serve`` builds it (SqliteHuey queue, the consumer ``serve`` runs, in
threads), the tasks run ``responsemaster train`` in a child process and the
worker's runtime, and the test waits for their effects: a new
``models/CURRENT`` in a temporary models folder (never the repository's), and
a quarantined DSN re-classified as the hard bounce it is.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.api_setup import add_message
from huey.exceptions import TaskException
from litestar.testing import TestClient
from test_api_reprocess import DSN

from api.app import create_app
from api.keys import create_key
from api.tasks import BackgroundConsumer
from responsemaster.config import load_settings
from responsemaster.store.messages import RawMessageRow

REPO_DATA = Path(__file__).resolve().parents[1] / "training_data"
#: Enough to train on (a few per category), little enough to train in seconds.
CATEGORIES, PER_CATEGORY = ("user_reply", "hard_bounce", "auto_reply"), 8


def _wait(done: Callable[[], Any], huey: Any, task_id: str, timeout: float) -> Any:
    """``done()`` once true; fails at once when the task itself failed (its error is the message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := done():
            return result
        try:
            huey.result(task_id, preserve=True)
        except TaskException as exc:
            raise AssertionError(f"task {task_id} failed: {exc.metadata.get('error')}") from None
        time.sleep(0.25)
    raise AssertionError(f"task {task_id}: not done within {timeout:.0f} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any, Path, str]]:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("tasks")
    for category in CATEGORIES:
        (tmp / "training_data" / category).mkdir(parents=True)
        for source in sorted((REPO_DATA / category).glob("*.eml"))[:PER_CATEGORY]:
            shutil.copy(source, tmp / "training_data" / category / source.name)
    (tmp / "models").mkdir()
    config = tmp / "rm.toml"
    config.write_text(f'var_dir = "{tmp / "var"}"\n[queue]\nurl = "sqlite:///{tmp / "queue.db"}"\n'
                      f'[classify]\nmodels_dir = "{tmp / "models"}"\ntraining_data = "{tmp / "training_data"}"\n')
    app = create_app(load_settings(config), config_path=str(config))
    ctx = app.state.ctx
    with ctx.store.transaction() as session:
        key = create_key(session, "ops", "admin")
    consumer = BackgroundConsumer(ctx.tasks.huey)  # what `serve` runs beside the app
    consumer.start()
    try:
        with TestClient(app, base_url="https://testserver.local") as client:
            yield client, ctx, tmp, key
    finally:
        consumer.stop()
        ctx.store.close()


def test_retrain_through_a_real_consumer_writes_a_new_current_model(served: tuple[Any, Any, Path, str]) -> None:
    client, ctx, tmp, key = served
    assert not (tmp / "models" / "CURRENT").exists()
    response = client.post("/api/v1/model/retrain", headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    current = _wait(lambda: (tmp / "models" / "CURRENT").is_file() and (tmp / "models" / "CURRENT").read_text().strip(),
                    ctx.tasks.huey, response.json()["id"], timeout=300)
    meta = (tmp / "models" / current / "meta.json")
    assert meta.is_file() and (tmp / "models" / current / "model.skops").stat().st_size > 1000
    info = client.get("/api/v1/model/", headers={"X-API-Key": key}).json()
    assert info["model_id"] == current
    assert {c: n for c, n in info["trained_on"].items() if n} == {c: PER_CATEGORY for c in CATEGORIES}


def test_reprocess_through_a_real_consumer_changes_the_verdict(served: tuple[Any, Any, Path, str]) -> None:
    client, ctx, _tmp, key = served
    made = add_message(ctx.store, category="user_reply", state="quarantined", error="worker crashed", raw=DSN)
    response = client.post(f"/api/v1/quarantine/{made['uid']}/reprocess", headers={"X-API-Key": key})
    assert response.status_code == 202, response.text

    def reprocessed() -> bool:
        with ctx.store.reader() as session:
            return session.get(RawMessageRow, made["id"]).state == "reprocessed"  # type: ignore[union-attr]

    _wait(reprocessed, ctx.tasks.huey, response.json()["id"], timeout=300)
    history = client.get("/api/v1/subscribers/gone@example.net/verdicts", headers={"X-API-Key": key}).json()
    assert [(v["category"], v["role"]) for v in history["items"]] == [("hard_bounce", "recipient")]
    assert history["items"][0]["message_uid"] != made["uid"]  # the new row; the quarantined one stays
    assert client.get(f"/api/v1/quarantine/{made['uid']}", headers={"X-API-Key": key}).json()["state"] == "reprocessed"
