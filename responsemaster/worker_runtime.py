"""Everything one worker process needs, built once from the settings.

Shared by ``responsemaster run --once`` (inline), the Huey tasks (one runtime
per consumer process, built lazily after the fork) and the tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from responsemaster.config import Settings, setting_value
from responsemaster.ingest.source import Source
from responsemaster.routing.outbox import OutboxDeliverer
from responsemaster.routing.router import Router, build_router
from responsemaster.store.database import Store, open_store
from responsemaster.worker import BatchResult, WorkerOptions, drain, merge_results, worker_id

logger = logging.getLogger("responsemaster.worker")
_console: Any = None


def log_batch(batch: BatchResult) -> None:
    """The one line per batch an operator watches scroll by (rich, on stderr, never wrapped in a pipe)."""
    global _console
    if batch.fetched == 0:
        return
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, log_path=False)
        if not _console.is_terminal:
            _console = Console(stderr=True, log_path=False, width=400)
    rate = batch.done / batch.seconds if batch.seconds else 0.0
    cats = ", ".join(f"{k} {v}" for k, v in batch.categories.most_common()) or "-"
    _console.log(
        f"[bold]{batch.source}[/]: {batch.processed} processed, {batch.duplicates} already done, "
        f"[yellow]{batch.quarantined} quarantined[/], [red]{batch.failed} failed[/], "
        f"{batch.delivered} effects sent ({rate:.1f} msg/s) [dim]{cats}[/]"
    )


def worker_options(settings: Settings) -> WorkerOptions:
    """``[worker]`` over the defaults."""
    data = settings.section("worker")
    options = WorkerOptions()
    for key in ("batch_size", "max_attempts"):
        setattr(options, key, setting_value("worker", data, key, int, getattr(options, key)))
    options.lease_seconds = setting_value("worker", data, "lease_seconds", float, options.lease_seconds)
    options.sync_kept_files = setting_value("worker", data, "sync_kept_files", bool, options.sync_kept_files)
    return options


def build_sources(settings: Settings) -> list[Source]:
    """The ``[[sources]]`` of the settings (the ingest factory), default Maildir ./var/returns/."""
    from responsemaster.ingest.factory import build_sources as factory

    return factory(settings)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    classifier: Any
    router: Router
    deliverer: OutboxDeliverer
    options: WorkerOptions
    owner: str

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        from responsemaster.classify import build_classifier

        store = open_store(settings)
        router = build_router(settings)
        owner = worker_id()
        classifier = build_classifier(settings)
        classifier.read_token = _store_token_reader(settings, store) or classifier.read_token
        return cls(
            settings=settings,
            store=store,
            classifier=classifier,
            router=router,
            deliverer=OutboxDeliverer(store, router.config, owner),
            options=worker_options(settings),
            owner=owner,
        )

    def drain(self, source: Source, on_batch: Callable[[BatchResult], None] | None = None) -> BatchResult:
        return drain(source, self.classifier, self.store, self.router, self.deliverer, self.options, self.owner, on_batch)

    def drain_all_once(
        self, sources: list[Source], on_batch: Callable[[BatchResult], None] | None = None, settle_seconds: float = 10.0
    ) -> dict[str, BatchResult]:
        """Drain every source, then wait (at most ``settle_seconds`` without progress) for
        messages other workers hold and for effects still due, so ``--once`` leaves nothing behind."""
        totals = {s.name: BatchResult(s.name) for s in sources}
        deadline = time.monotonic() + settle_seconds
        while True:
            progressed = False
            for source in sources:
                batch = self.drain(source, on_batch)
                merge_results(totals[source.name], batch)
                progressed |= batch.done > 0
            progressed |= self.deliverer.deliver_due() > 0
            if progressed:
                deadline = time.monotonic() + settle_seconds
            waiting = sum(s.pending() for s in sources) + self.deliverer.pending()
            if waiting == 0 or time.monotonic() > deadline:
                return totals
            time.sleep(0.2)

    def close(self) -> None:
        self.store.close()


def _store_token_reader(settings: Settings, store: Store):
    """Verify VERP/Message-ID tokens and map the mailer's ids back to addresses.

    Classification stays pure (it only verifies); the worker, which owns the
    store, adds the id-to-address step. None when no VERP key is configured.
    """
    from mailer.settings import mailer_settings
    from mailer.token_reader import make_token_reader
    from responsemaster.classify import token_prefixes
    from responsemaster.verp_keys import configured_keyring

    section = settings.section("verp")
    keyring = configured_keyring(section)
    if keyring is None:
        return None
    mailer = mailer_settings(settings)
    return make_token_reader(keyring, section, store, id_domains=[mailer.sending_domain], prefixes=token_prefixes(settings))
