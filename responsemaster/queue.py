"""Huey for the worker: SqliteHuey under ``var/`` by default, Redis-backed Huey by URL.

``make_huey(settings)`` builds the instance (no module-level huey);
``register_tasks(huey)`` attaches the worker's tasks to it. Tasks take names
and a config path, never objects: each consumer process builds its own
:class:`~responsemaster.worker_runtime.Runtime` (store, classifier, router)
the first time it runs a task, after the fork.

Several consumers (threads, processes, or machines on one Redis) may drain
the same source at once: the source's claims, the database lease and
UNIQUE(source, key) keep every message processed once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey

from responsemaster.config import SettingError, Settings, load_settings

QUEUE_NAME = "responsemaster"
#: One runtime per (process, config file): built lazily inside the consumer process.
_runtimes: dict[tuple[int, str], Any] = {}


def queue_url(settings: Settings) -> str:
    """``$RESPONSEMASTER_QUEUE_URL``, else ``[queue] url``, else SqliteHuey in var/."""
    url = os.environ.get("RESPONSEMASTER_QUEUE_URL") or str(settings.section("queue").get("url", ""))
    return url or f"sqlite:///{settings.var / 'huey.db'}"


def check_queue_url(settings: Settings) -> str:
    """The queue URL, or SettingError when it names no queue Huey has (read before anything starts)."""
    url = queue_url(settings)
    if url.startswith(("redis://", "rediss://", "unix://", "sqlite:///")) or url == "memory://":
        return url
    raise SettingError("[queue] url", f"must be sqlite:///PATH, redis://HOST:PORT/DB or memory:// (got {url!r})")


def make_huey(settings: Settings) -> Huey:
    url = check_queue_url(settings)
    name = str(settings.section("queue").get("name", QUEUE_NAME))
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path))
    return MemoryHuey(name, immediate=True)


def runtime_for(config_file: str | None) -> Any:
    """This process's runtime for ``config_file`` (built on first use, after any fork)."""
    from responsemaster.worker_runtime import Runtime

    key = (os.getpid(), config_file or "")
    if key not in _runtimes:
        _runtimes[key] = Runtime.build(load_settings(config_file))
    return _runtimes[key]


@dataclass
class Tasks:
    drain_source: Any
    deliver_outbox: Any


def register_tasks(huey: Huey, time_budget: float = 30.0, warm_config: str | None | bool = False) -> Tasks:
    """Attach the worker tasks to ``huey``; the same names in every process.

    ``warm_config`` (a config path, or None for the default): each consumer
    builds its runtime when it starts rather than in its first task.
    """

    @huey.task(name="responsemaster.drain_source")
    def drain_source(config_file: str | None, source_name: str) -> dict[str, int]:
        """Drain one source for at most ``time_budget`` seconds; the counts."""
        from responsemaster.worker import BatchResult, merge_results, process_batch
        from responsemaster.worker_runtime import build_sources, log_batch

        runtime = runtime_for(config_file)
        total = BatchResult(source_name)
        sources = [s for s in build_sources(runtime.settings) if s.name == source_name]
        if not sources:
            return {"processed": 0}
        source = sources[0]
        deadline = time.monotonic() + time_budget
        try:
            while time.monotonic() < deadline:
                batch = process_batch(
                    source, runtime.classifier, runtime.store, runtime.router,
                    options=runtime.options, owner=runtime.owner, deliverer=runtime.deliverer,
                )
                merge_results(total, batch)
                log_batch(batch)
                if batch.done == 0:
                    break
        finally:
            source.close()
        return {"processed": total.processed, "duplicates": total.duplicates, "quarantined": total.quarantined}

    if warm_config is not False:

        @huey.on_startup()
        def build_runtime() -> None:
            """Each consumer builds its store, classifier and router once, at start, not in its first batch."""
            runtime_for(warm_config or None)  # type: ignore[arg-type]

    @huey.task(name="responsemaster.deliver_outbox")
    def deliver_outbox(config_file: str | None) -> int:
        return int(runtime_for(config_file).deliverer.deliver_due())

    return Tasks(drain_source, deliver_outbox)
