"""Re-process a quarantined message: classify its kept bytes again and route it like the worker.

The quarantined row stays (history is never rewritten): it is marked
``reprocessed`` and names the new row, and the message is recorded again as
``<key>#reprocessed`` in the same source, through the worker's own
``record_message`` and the router, in one transaction. A message that still
fails stays quarantined with the new error appended.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from responsemaster.config import Settings
from responsemaster.ingest.source import RawMessage
from responsemaster.store.base import clip
from responsemaster.store.database import Store
from responsemaster.store.messages import RawMessageRow
from responsemaster.store.recording import record_message

REPROCESSED = "reprocessed"


class NotQuarantined(ValueError):
    """The message is not (or no longer) in quarantine."""


def reprocess(store: Store, classifier: Any, router: Any, uid: str, deliverer: Any = None) -> dict[str, Any]:
    with store.reader() as session:
        row = session.execute(select(RawMessageRow).where(RawMessageRow.uid == uid)).scalars().first()
    if row is None:
        raise LookupError(f"no message {uid}")
    if row.state != "quarantined":
        raise NotQuarantined(f"message {uid} is {row.state}, not quarantined")
    raw = store.raw_files.read(row.path)
    verdict = classifier.classify(raw)
    if verdict.error:
        with store.transaction() as session:
            old = session.get(RawMessageRow, row.id)
            assert old is not None
            old.error = clip(f"{old.error or ''} | reprocessed, still failing: {verdict.error}")
            session.add(old)
        return {"uid": uid, "state": "quarantined", "error": verdict.error}
    msg = RawMessage(row.source, f"{row.key}#reprocessed", raw)
    with store.transaction() as session:
        new_row, verdict_row = record_message(session, msg, verdict, row.path)
        outbox = router.route(session, new_row, verdict_row, verdict, raw).outbox_ids
        old = session.get(RawMessageRow, row.id)
        assert old is not None
        old.state = REPROCESSED
        old.error = clip(f"{old.error or ''} | reprocessed as {new_row.uid}")
        session.add(old)
    if deliverer is not None and outbox:
        deliverer.deliver_due(ids=outbox)
    return {"uid": uid, "state": REPROCESSED, "new_uid": new_row.uid, "category": verdict.category}


def reprocess_with_runtime(settings: Settings, uid: str) -> dict[str, Any]:
    """The Huey task body: build the worker's runtime (classifier, router, outbox) and re-process."""
    from responsemaster.worker_runtime import Runtime

    runtime = Runtime.build(settings)
    try:
        return reprocess(runtime.store, runtime.classifier, runtime.router, uid, runtime.deliverer)
    finally:
        runtime.close()
