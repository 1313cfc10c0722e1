"""Writing a classified message: the raw row, its verdict, one row per recipient.

Called inside the worker's one transaction; the router adds actions, outbox
rows and review items to the same transaction before it commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session

from responsemaster.addresses import is_real_address
from responsemaster.categories import REPORTED_BY_A_SYSTEM
from responsemaster.ingest.source import RawMessage
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.database import message_uid
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow
from responsemaster.verdict import RecipientVerdict, Verdict


def find_recorded(session: Session, source: str, key: str, sha256: str) -> RawMessageRow | None:
    """The row of this message if it was already recorded (same key, or same bytes, same source)."""
    stmt = select(RawMessageRow).where(
        RawMessageRow.source == source, or_(RawMessageRow.key == key, RawMessageRow.sha256 == sha256)
    )
    return session.execute(stmt.limit(1)).scalars().first()


def find_recorded_many(session: Session, source: str, messages: list[RawMessage]) -> dict[str, tuple[str, str | None]]:
    """For a batch: key -> (state, error) of each message already recorded (by key, or by bytes)."""
    if not messages:
        return {}
    keys = [m.key for m in messages]
    shas = [m.sha256 for m in messages]
    rows = session.execute(
        select(RawMessageRow.key, RawMessageRow.sha256, RawMessageRow.state, RawMessageRow.error).where(
            RawMessageRow.source == source,
            or_(RawMessageRow.key.in_(keys), RawMessageRow.sha256.in_(shas)),  # type: ignore[attr-defined]
        )
    ).all()
    by_key = {key: (state, error) for key, _sha, state, error in rows}
    by_sha = {sha: (state, error) for _key, sha, state, error in rows}
    found = {}
    for m in messages:
        hit = by_key.get(m.key) or by_sha.get(m.sha256)
        if hit is not None:
            found[m.key] = hit
    return found


def concerned_address(verdict: Verdict) -> str:
    """The subscriber a message is about: attribution first, then the first recipient, then From.

    ``""`` when that is not a real address (the CSV import's check), or is
    the system that reported a bounce or a complaint: no verdict is filed
    under ``undisclosed recipients`` or under the complaint desk's address.
    """
    if verdict.attribution.subscriber:
        found = verdict.attribution.subscriber
    elif verdict.recipients:
        found = verdict.recipients[0].address
    else:
        found = "" if verdict.category in REPORTED_BY_A_SYSTEM else verdict.sender
    return found if found and is_real_address(found) else ""


def record_message(
    session: Session, msg: RawMessage, verdict: Verdict, path: str, quarantine_reason: str | None = None
) -> tuple[RawMessageRow, MessageVerdict]:
    """Insert the raw message row and its verdict rows (not committing).

    Core INSERT ... RETURNING from plain dicts rather than ORM objects and
    flushes: this runs once per message on the hot path. The returned
    objects are detached snapshots (``model_construct``: no validation, no
    ORM state) with their ids, for the router.
    """
    now = utcnow()
    row = {
        "uid": message_uid(msg.source, msg.key),
        "source": msg.source,
        "key": msg.key,
        "sha256": msg.sha256,
        "size": len(msg.raw),
        "path": path,
        "state": "quarantined" if quarantine_reason else "processed",
        "error": clip(quarantine_reason) or None,
        "received_at": now,
    }
    conn = session.connection()
    row["id"] = conn.execute(_RAW_INSERT, row).scalar_one()
    subject = concerned_address(verdict)
    attribution = verdict.attribution
    mv = {
        "message_id": row["id"],
        "category": verdict.category or "",  # "" for a failure verdict (error set, quarantined)
        "reason": clip(verdict.reason, 64),
        "confidence": float(verdict.confidence),
        "decided_by": clip(verdict.decided_by, 255),
        "subscriber": clip(subject, 320),
        "subscriber_key": clip(address_key(subject), 320),
        "domain": clip(domain_of(subject), 255),
        "campaign": clip(attribution.campaign, 255),
        "via": clip(attribution.via, 16),
        "forged_token": attribution.forged_token,
        "error": clip(verdict.error) or None,
        "subject": clip(verdict.subject),
        "sender": clip(verdict.sender, 998),
        "header_message_id": clip(verdict.message_id, 998),
        "suggested_address": clip(verdict.suggested_address, 320),
        "feedback_type": clip(verdict.feedback_type, 64),
        "reply_text": clip(verdict.reply_text),
        "created_at": now,
    }
    mv["id"] = conn.execute(_VERDICT_INSERT, mv).scalar_one()
    rows = [_recipient_values(mv["id"], now, position, rcpt) for position, rcpt in enumerate(verdict.recipients)]
    if rows:
        conn.execute(_RECIPIENT_INSERT, rows)
    configure_mappers()  # the snapshots' attributes are the mapped ones: they must be set up (a no-op once done)
    return RawMessageRow.model_construct(**row), MessageVerdict.model_construct(**mv)


_raw_table = RawMessageRow.__table__  # type: ignore[attr-defined]
_verdict_table = MessageVerdict.__table__  # type: ignore[attr-defined]
#: Built once (so is their cache key): this runs for every message.
_RAW_INSERT = _raw_table.insert().returning(_raw_table.c.id)
_VERDICT_INSERT = _verdict_table.insert().returning(_verdict_table.c.id)
_RECIPIENT_INSERT = RecipientVerdictRow.__table__.insert()  # type: ignore[attr-defined]


def _recipient_values(verdict_id: int, now: datetime, position: int, rcpt: RecipientVerdict) -> dict[str, object]:
    return {
        "verdict_id": verdict_id,
        "position": position,
        "address": clip(rcpt.address, 320),
        "address_key": clip(address_key(rcpt.address), 320),
        "domain": clip(domain_of(rcpt.address), 255),
        "category": rcpt.category,
        "reason": clip(rcpt.reason, 64),
        "status": clip(rcpt.status, 16),
        "reply_code": clip(rcpt.reply_code, 8),
        "remote_mta": clip(rcpt.remote_mta, 255),
        "diagnostic": clip(rcpt.diagnostic),
        "final_recipient": clip(rcpt.final_recipient, 320),
        "action": clip(rcpt.action, 16),
        "command": clip(rcpt.command, 16),
        "decided_by": clip(rcpt.decided_by, 255),
        "created_at": now,
    }
