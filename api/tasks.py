"""The API's background work as Huey tasks: retrain the model, re-process a quarantined message.

The tasks live on a queue of their own (``<queue name>-api``, same backend as
the worker's) so the worker's consumer never pulls a task it does not know;
``responsemaster serve`` runs a small consumer for it. Tasks take ids and a
config path, never objects (Huey pickles arguments). Tests pass an
``immediate`` MemoryHuey, or plain callables.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from responsemaster.config import Settings, load_settings

QUEUE_SUFFIX = "-api"


@dataclass
class ApiTasks:
    """Enqueue functions; each returns an id the caller can report."""

    retrain: Callable[[], str]
    reprocess: Callable[[str], str]
    huey: Huey | None = None


def make_api_huey(settings: Settings) -> Huey:
    """The worker's queue backend (``responsemaster.queue``) under the name ``<name>-api``."""
    from responsemaster.queue import QUEUE_NAME, queue_url

    url = queue_url(settings)
    name = str(settings.section("queue").get("name", QUEUE_NAME)) + QUEUE_SUFFIX
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path))
    return MemoryHuey(name, immediate=True)


def train_subprocess(config_path: str | None) -> dict[str, Any]:
    """``responsemaster train`` in a child process: CPU-heavy, and a crash must not take the API down."""
    cmd = [sys.executable, "-m", "responsemaster", "train"]
    if config_path:
        cmd += ["--config", config_path]
    from responsemaster.lifeline import child_env

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=6 * 3600, check=False, env=child_env())
    if done.returncode != 0:
        raise RuntimeError(f"train exited with {done.returncode}: {done.stderr[-2000:]}")
    return {"returncode": 0, "output": done.stdout[-2000:]}


def register_api_tasks(huey: Huey, config_path: str | None) -> ApiTasks:
    """Attach the tasks to ``huey`` and return functions that enqueue them."""

    @huey.task(name="api.retrain")
    def retrain_task(config_file: str | None) -> dict[str, Any]:
        return train_subprocess(config_file)

    @huey.task(name="api.reprocess")
    def reprocess_task(config_file: str | None, uid: str) -> dict[str, Any]:
        from api.reprocess import reprocess_with_runtime

        return reprocess_with_runtime(load_settings(config_file), uid)

    def retrain() -> str:
        return str(retrain_task(config_path).id)

    def reprocess(uid: str) -> str:
        return str(reprocess_task(config_path, uid).id)

    return ApiTasks(retrain=retrain, reprocess=reprocess, huey=huey)


class BackgroundConsumer:
    """A one-worker Huey consumer in threads of the ``serve`` process (no signal handlers)."""

    def __init__(self, huey: Huey) -> None:
        self.consumer = Consumer(huey, workers=1, worker_type="thread", periodic=False, check_worker_health=False)
        self._started = threading.Event()

    def start(self) -> None:
        if not isinstance(self.consumer.huey, MemoryHuey):
            self.consumer.start()
            self._started.set()

    def stop(self) -> None:
        if self._started.is_set():
            self.consumer.stop(graceful=True)
