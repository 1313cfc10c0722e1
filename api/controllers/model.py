"""The classifier: which model is in use, how it scored, what it was trained on; retrain.

Retraining is CPU-heavy and takes minutes, so it is a task on the API queue
(``responsemaster train`` in a child process); the endpoint answers 202 with
the task id at once. Admin scope: a new model changes every verdict after it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from api import oplog
from api.context import Ctx
from api.controllers.common import ADMIN, API, READ, READ_ERRORS, SECURITY, actor_and_address
from api.model_info import current_meta, metrics_of, relabel_count, training_counts
from api.schemas import ModelInfo, TaskOut


class ModelController(Controller):
    path = f"{API}/model"
    tags = ["model"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="The current model and the training data", responses=READ_ERRORS)
    def info(self, ctx: Ctx) -> ModelInfo:
        meta = current_meta(ctx.models_dir) or {}
        data_dir = ctx.training_dir
        return ModelInfo(
            model_id=meta.get("model_id"), created_utc=meta.get("created_utc"), metrics=metrics_of(meta),
            trained_on={str(k): int(v) for k, v in (meta.get("counts") or {}).items()},
            training_data=training_counts(data_dir), relabels=relabel_count(data_dir),
            data_sha256=meta.get("data_sha256"),
        )

    @post("/retrain", sync_to_thread=True, opt=ADMIN, status_code=202, summary="Retrain from training_data/", responses=READ_ERRORS)
    def retrain(self, ctx: Ctx, request: Request[Any, Any, Any]) -> TaskOut:
        actor, addr = actor_and_address(request)
        task_id = ctx.tasks.retrain()
        with ctx.store.transaction() as session:
            oplog.record(session, actor, addr, "model.retrain", "model", task=task_id)
        return TaskOut(task="retrain", id=task_id)
