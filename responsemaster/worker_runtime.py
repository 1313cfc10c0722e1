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

from responsemaster.collector import suit_batches
from responsemaster.config import Settings, SettingError, setting_value
from responsemaster.ingest.source import Source
from responsemaster.operator_log import safe, say
from responsemaster.routing.outbox import OutboxDeliverer
from responsemaster.routing.router import Router, build_router
from responsemaster.store.database import Store, open_store
from responsemaster.store.recording import concerned_address
from responsemaster.worker import BatchResult, Outcome, WorkerOptions, drain, merge_results, worker_id

logger = logging.getLogger("responsemaster.worker")


def log_batch(batch: BatchResult) -> None:
    """What an operator watches scroll by: a line per message, then the batch's counts."""
    if batch.fetched == 0:
        return
    for outcome in batch.outcomes:
        say(message_line(batch.source, outcome))
    rate = batch.done / batch.seconds if batch.seconds else 0.0
    cats = ", ".join(f"{k} {v}" for k, v in batch.categories.most_common()) or "-"
    say(
        f"[bold]{safe(batch.source)}[/]: {batch.processed} processed, {batch.duplicates} already done, "
        f"[yellow]{batch.quarantined} quarantined[/], [red]{batch.failed} failed[/], "
        f"{batch.delivered} effects sent ({rate:.1f} msg/s) [dim]{cats}[/]"
    )


def message_line(source: str, outcome: Outcome) -> str:
    """``returns: hard_bounce userunknown jane@example.org (rfc3464)``: category, reason, address, decided by."""
    verdict = outcome.verdict
    if outcome.state == "quarantined" or verdict is None:
        return f"{safe(source)}: [yellow]quarantined[/] {safe(outcome.key)}: {safe(outcome.reason or '', 160)}"
    address = concerned_address(verdict) or "-"
    return (f"{safe(source)}: [bold]{verdict.category}[/] {safe(verdict.reason or '-')} "
            f"{safe(address)} [dim]({safe(verdict.decided_by)})[/]")


def worker_options(settings: Settings) -> WorkerOptions:
    """``[worker]`` over the defaults; a value of the wrong kind is a ConfigError naming it."""
    data = settings.section("worker")
    options = WorkerOptions()
    for key in ("batch_size", "max_attempts"):
        setattr(options, key, setting_value("worker", data, key, int, getattr(options, key)))
        if getattr(options, key) < 1:
            raise SettingError(f"[worker] {key}", f"must be at least 1 (got {getattr(options, key)})")
    options.batch_megabytes = setting_value("worker", data, "batch_megabytes", float, options.batch_megabytes)
    if options.batch_megabytes <= 0:
        raise SettingError("[worker] batch_megabytes", f"must be more than 0 (got {options.batch_megabytes:g})")
    options.lease_seconds = setting_value("worker", data, "lease_seconds", float, options.lease_seconds)
    options.sync_kept_files = setting_value("worker", data, "sync_kept_files", bool, options.sync_kept_files)
    options.message_cpu_seconds = setting_value("worker", data, "message_cpu_seconds", float, options.message_cpu_seconds)
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
        from responsemaster.classify.model.fastpath import use_numpy

        suit_batches()
        use_numpy()  # a worker reads thousands of messages: numpy's sums pay for its import
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
