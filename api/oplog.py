"""The operation log: every change made through the API or the CLI, with who and from where.

One row per change in ``operation_log``: ``at``, ``actor`` (``key:<name>``,
``cli:<user>``, ``one-click``), ``operation`` (the type, e.g.
``suppression.resubscribe``), ``target`` (the object) and ``detail``, a JSON
object that always carries ``from`` (the client address) next to what changed.
The API writes it in the same transaction as the change, so a change without
its log line (or the reverse) cannot happen there; the CLI's mailer commands
and ``train`` write theirs right after their change commits
(``responsemaster.cli.common.log_operation``), ``apikey`` in the same one.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from responsemaster.store.base import clip, utcnow
from responsemaster.store.platform import OperationLog


def record(
    session: Session, actor: str, address: str, operation: str, target: str, **detail: Any
) -> OperationLog:
    """Add one log row to ``session``'s transaction."""
    row = OperationLog(
        at=utcnow(),
        actor=clip(actor, 255),
        operation=clip(operation, 64),
        target=clip(target, 512),
        detail=json.dumps({"from": address, **detail}, sort_keys=True, default=str),
    )
    session.add(row)
    return row


def cli_actor() -> str:
    """``cli:<login name>`` for changes made from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def query(
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    operation: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[OperationLog]:
    """Newest first; ``operation`` ending in ``.`` matches a whole family (``review.``)."""
    stmt = select(OperationLog)
    if since is not None:
        stmt = stmt.where(OperationLog.at >= since)
    if until is not None:
        stmt = stmt.where(OperationLog.at < until)
    if operation:
        if operation.endswith("."):
            stmt = stmt.where(OperationLog.operation.startswith(operation, autoescape=True))  # type: ignore[attr-defined]
        else:
            stmt = stmt.where(OperationLog.operation == operation)
    if actor:
        stmt = stmt.where(OperationLog.actor == actor)
    if before_id is not None:
        stmt = stmt.where(OperationLog.id < before_id)  # type: ignore[operator]
    stmt = stmt.order_by(OperationLog.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(session.execute(stmt).scalars())
