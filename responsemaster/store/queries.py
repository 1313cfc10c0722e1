"""Read-side queries for the CLI (status, export); the API builds on the same ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from responsemaster.store.actions import SourceState
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow


def source_counts(session: Session) -> dict[str, dict[str, Any]]:
    """Per source name: processed, quarantined, last_error (every source ever recorded)."""
    counts: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(RawMessageRow.source, RawMessageRow.state, func.count()).group_by(RawMessageRow.source, RawMessageRow.state)
    )
    for source, state, count in rows:
        entry = counts.setdefault(source, {"processed": 0, "quarantined": 0, "last_error": None})
        entry["processed" if state == "processed" else "quarantined"] += int(count)
    for state in session.execute(select(SourceState)).scalars():
        entry = counts.setdefault(state.name, {"processed": 0, "quarantined": 0, "last_error": None})
        entry["last_error"] = state.last_error or None
    return counts


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def iter_verdict_lines(session: Session, chunk: int = 500) -> Iterator[dict[str, Any]]:
    """One dict per message and recipient (a message with no recipient: one line, ``recipient`` null)."""
    last_id = 0
    while True:
        rows = session.execute(
            select(RawMessageRow, MessageVerdict)
            .join(MessageVerdict, MessageVerdict.message_id == RawMessageRow.id)
            .where(RawMessageRow.id > last_id)
            .order_by(RawMessageRow.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        verdict_ids = [v.id for _m, v in rows]
        recipients: dict[int, list[RecipientVerdictRow]] = {}
        for r in session.execute(
            select(RecipientVerdictRow)
            .where(RecipientVerdictRow.verdict_id.in_(verdict_ids))  # type: ignore[attr-defined]
            .order_by(RecipientVerdictRow.verdict_id, RecipientVerdictRow.position)
        ).scalars():
            recipients.setdefault(r.verdict_id, []).append(r)
        for message, verdict in rows:
            base = _message_fields(message, verdict)
            for rcpt in recipients.get(verdict.id, []) or [None]:  # type: ignore[arg-type]
                yield {**base, "recipient": _recipient_fields(rcpt) if rcpt is not None else None}
        last_id = rows[-1][0].id


def _message_fields(message: RawMessageRow, verdict: MessageVerdict) -> dict[str, Any]:
    return {
        "id": message.uid,
        "source": message.source,
        "key": message.key,
        "sha256": message.sha256,
        "received_at": _iso(message.received_at),
        "state": message.state,
        "category": verdict.category or None,  # a failure verdict has none: never a guess
        "reason": verdict.reason,
        "confidence": round(verdict.confidence, 4),
        "decided_by": verdict.decided_by,
        "attribution": {
            "subscriber": verdict.subscriber,
            "campaign": verdict.campaign,
            "via": verdict.via,
            "forged_token": verdict.forged_token,
        },
        "suggested_address": verdict.suggested_address or None,
        "error": verdict.error,
    }


def _recipient_fields(r: RecipientVerdictRow) -> dict[str, Any]:
    return {
        "address": r.address,
        "category": r.category,
        "reason": r.reason,
        "status": r.status,
        "reply_code": r.reply_code,
        "remote_mta": r.remote_mta,
        "diagnostic": r.diagnostic,
        "final_recipient": r.final_recipient or None,
        "action": r.action,
        "command": r.command,
        "decided_by": r.decided_by,
    }
