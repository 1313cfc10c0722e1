"""Writing a classified message: the raw row, its verdict, one row per recipient.

Called inside the worker's one transaction; the router adds actions, outbox
rows and review items to the same transaction before it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, union_all
from sqlmodel import Session

from responsemaster.addresses import is_real_address
from responsemaster.categories import REPORTED_BY_A_SYSTEM
from responsemaster.ingest.source import RawMessage
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.bulk import insert_rows, member_of
from responsemaster.store.database import message_uid
from responsemaster.store.campaign_counts import count_batch
from responsemaster.store.hygiene_counts import BulkCount
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow
from responsemaster.verdict import RecipientVerdict, Verdict


def find_recorded(session: Session, source: str, key: str, sha256: str) -> RawMessageRow | None:
    """The row of this message if it was already recorded (same key, or same bytes, same source).

    Two look-ups, one per index: SQLite reads ``source = ? AND (key = ? OR
    sha256 = ?)`` through the index on source alone, every row of the source.
    """
    for column, value in ((RawMessageRow.key, key), (RawMessageRow.sha256, sha256)):
        stmt = select(RawMessageRow).where(RawMessageRow.source == source, column == value)
        found = session.execute(stmt.limit(1)).scalars().first()
        if found is not None:
            return found
    return None


def find_recorded_many(
    session: Session, source: str, messages: list[RawMessage], by_key: bool = True
) -> dict[str, tuple[str, str | None]]:
    """For a batch: key -> (state, error) of each message already recorded (by key, or by bytes).

    The rows with one of the keys, then those with one of the hashes (UNION
    ALL), each through its own index. With the two conditions ORed, SQLite
    read every row of the source for every batch: 0.014 ms a message at
    10,000 rows, 0.29 at 300,000, the drain slowing down as the table grew.
    ``by_key=False``: by bytes only, for a caller that UNIQUE (source, key)
    protects from the rest (a source's key names one message, so its bytes
    find it too unless they changed under the same key).
    """
    if not messages:
        return {}
    shas = [m.sha256 for m in messages]
    dialect = session.get_bind().dialect.name
    columns = (RawMessageRow.key, RawMessageRow.sha256, RawMessageRow.state, RawMessageRow.error)
    query = select(*columns).where(RawMessageRow.source == source, member_of(RawMessageRow.sha256, shas, dialect))
    if by_key:
        keys = [m.key for m in messages]
        query = union_all(
            select(*columns).where(RawMessageRow.source == source, member_of(RawMessageRow.key, keys, dialect)), query)
    rows = session.execute(query).all()
    at_key = {key: (state, error) for key, _sha, state, error in rows}
    at_sha = {sha: (state, error) for _key, sha, state, error in rows}
    found = {}
    for m in messages:
        hit = at_key.get(m.key) or at_sha.get(m.sha256)
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


class Recorded:
    """A row as just inserted, its columns as attributes (``id``, ``uid``, ``path``...).

    What the router reads of the raw message and verdict rows it routes.
    Not an ORM object: building one (even with ``model_construct``) cost
    more than the row's share of the INSERT.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def record_message(
    session: Session, msg: RawMessage, verdict: Verdict, path: str, quarantine_reason: str | None = None
) -> tuple[Recorded, Recorded]:
    """Insert the raw message row and its verdict rows (not committing); the two rows, with their ids."""
    return record_messages(session, [ToRecord(msg, verdict, path, quarantine_reason)])[0]


@dataclass
class ToRecord:
    """One classified message on its way into the store."""

    msg: RawMessage
    verdict: Verdict
    #: Its kept copy, relative to the var directory.
    path: str
    #: Set when the message is recorded as quarantined (why).
    quarantine_reason: str | None = None


def record_messages(session: Session, items: Sequence[ToRecord]) -> list[tuple[Recorded, Recorded]]:
    """Insert the raw rows and verdict rows of several messages: one statement per table.

    The worker records a whole batch this way (issue 13): a statement costs
    far more in the driver and SQLAlchemy than a row does in the database.
    Raw rows and verdicts are inserted with RETURNING and matched back by
    their natural keys (source and key; message id), so nothing depends on
    the order a backend returns rows in. Rows are inserted in the order of
    ``items``, which fixes the ids they get.
    """
    if not items:
        return []
    now = utcnow()
    conn = session.connection()
    raws = [_raw_values(item, now) for item in items]
    new = insert_rows(conn, _raw_table, raws, ("id", "source", "key"))
    ids = {(source, key): new_id for new_id, source, key in new}
    for row in raws:
        row["id"] = ids[row["source"], row["key"]]
    verdicts = [_verdict_values(row["id"], item.verdict, now) for row, item in zip(raws, items)]
    counting = BulkCount(conn) if len(verdicts) > 1 else None  # the per-day counts: one statement for the lot
    if counting is not None:
        counting.pause()
    new = insert_rows(conn, _verdict_table, verdicts, ("id", "message_id"))
    ids = {message_id: new_id for new_id, message_id in new}
    for mv in verdicts:
        mv["id"] = ids[mv["message_id"]]
    if counting is not None:  # both row triggers were paused: the day counts and the campaign/domain counts
        counting.count(verdicts)
        if counting.active:
            count_batch(conn, [mv["id"] for mv in verdicts])
    recipients = [
        _recipient_values(mv["id"], now, position, rcpt)
        for mv, item in zip(verdicts, items)
        for position, rcpt in enumerate(item.verdict.recipients)
    ]
    insert_rows(conn, _recipient_table, recipients)
    return [(Recorded(row), Recorded(mv)) for row, mv in zip(raws, verdicts)]


def _raw_values(item: ToRecord, now: datetime) -> dict[str, Any]:
    msg, reason = item.msg, item.quarantine_reason
    return {
        "uid": message_uid(msg.source, msg.key),
        "source": msg.source,
        "key": msg.key,
        "sha256": msg.sha256,
        "size": len(msg.raw),
        "path": item.path,
        "state": "quarantined" if reason else "processed",
        "error": clip(reason) or None,
        "received_at": now,
    }


def _verdict_values(message_id: int, verdict: Verdict, now: datetime) -> dict[str, Any]:
    subject = concerned_address(verdict)
    attribution = verdict.attribution
    return {
        "message_id": message_id,
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


_raw_table = RawMessageRow.__table__  # type: ignore[attr-defined]
_verdict_table = MessageVerdict.__table__  # type: ignore[attr-defined]
_recipient_table = RecipientVerdictRow.__table__  # type: ignore[attr-defined]


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
