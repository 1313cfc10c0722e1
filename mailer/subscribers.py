"""Subscribers and lists in the store: import from CSV, export to CSV.

Imports are idempotent and batched: subscribers and memberships are created
with INSERT ... ON CONFLICT DO NOTHING, so importing the same file twice
changes nothing, and two imports racing end up with one row per address.
An import never re-activates anyone: a pruned, unsubscribed or complaining
address (or one on the suppression list) keeps its row and its status, joins
the list if asked, and is still never mailed. It is counted in the report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from itertools import islice

from sqlalchemy import func, select
from sqlmodel import Session

from mailer.csv_io import CsvReport, ParsedRow, parse_csv, write_csv
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.database import Store
from responsemaster.store.mailing import SubscriberFields
from responsemaster.store.subscribers import NOT_MAILABLE, ListMembership, MailingList, Subscriber, Suppression
from responsemaster.store.upsert import insert_ignore, insert_or_update

IMPORT_BATCH = 500


def ensure_list(session: Session, name: str, description: str = "") -> MailingList:
    """The list called ``name``, created if it does not exist."""
    insert_ignore(session, MailingList.__table__, {"name": name, "description": description, "created_at": utcnow()}, ["name"])  # type: ignore[attr-defined]
    return session.execute(select(MailingList).where(MailingList.name == name)).scalars().one()


def find_list(session: Session, name: str) -> MailingList | None:
    return session.execute(select(MailingList).where(MailingList.name == name)).scalars().first()


def import_csv(store: Store, data: bytes, list_name: str, *, origin: str = "import") -> CsvReport:
    """Add every valid row of ``data`` to ``list_name``; the report says what happened to each."""
    report = CsvReport()
    rows = parse_csv(data, report)
    with store.transaction() as session:
        list_id = ensure_list(session, list_name).id
    while batch := list(islice(rows, IMPORT_BATCH)):
        with store.transaction() as session:
            _import_batch(session, batch, list_id, origin, report)  # type: ignore[arg-type]
    return report


def _import_batch(session: Session, batch: list[ParsedRow], list_id: int, origin: str, report: CsvReport) -> None:
    now = utcnow()
    for row in batch:
        created = insert_ignore(session, Subscriber.__table__, _subscriber_values(row, origin, now), ["address_key"])  # type: ignore[attr-defined]
        report.created += created
        report.existing += 1 - created
    keys = [address_key(r.address) for r in batch]
    subs = {s.address_key: s for s in session.execute(select(Subscriber).where(Subscriber.address_key.in_(keys))).scalars()}  # type: ignore[attr-defined]
    suppressed = set(session.execute(select(Suppression.address_key).where(Suppression.address_key.in_(keys))).scalars())  # type: ignore[attr-defined]
    for row in batch:
        sub = subs[address_key(row.address)]
        if sub.status in NOT_MAILABLE or sub.address_key in suppressed:
            report.not_mailable += 1
        if row.name and not sub.name:
            sub.name = clip(row.name, 255)
            session.add(sub)
        if row.fields:
            _merge_fields(session, sub.id, row.fields, now)  # type: ignore[arg-type]
        member = {"list_id": list_id, "subscriber_id": sub.id, "status": "subscribed", "joined_at": now}
        report.added_to_list += insert_ignore(session, ListMembership.__table__, member, ["list_id", "subscriber_id"])  # type: ignore[attr-defined]


def _subscriber_values(row: ParsedRow, origin: str, now: object) -> dict[str, object]:
    return {
        "address": clip(row.address, 320), "address_key": address_key(row.address),
        "domain": domain_of(row.address), "name": clip(row.name, 255), "status": "active",
        "status_reason": "", "bounce_score": 0.0, "last_category": "", "suggested_address": "",
        "origin": origin, "created_at": now, "updated_at": now,
    }


def _merge_fields(session: Session, subscriber_id: int, fields: dict[str, str], now: object) -> None:
    """New values win over stored ones; keys the file does not have are kept."""
    existing = session.get(SubscriberFields, subscriber_id)
    merged = {**(json.loads(existing.data) if existing else {}), **fields}
    values = {"subscriber_id": subscriber_id, "data": json.dumps(merged, ensure_ascii=False), "updated_at": now}
    insert_or_update(session, SubscriberFields.__table__, values, ["subscriber_id"], {"data": values["data"], "updated_at": now})  # type: ignore[attr-defined]


def add_subscriber(store: Store, list_name: str, address: str, name: str = "", fields: dict[str, str] | None = None) -> CsvReport:
    """One address, through the same validation and path as a CSV import.

    The CSV is an in-process round trip that no spreadsheet opens, so its cells
    are written as typed: the export writer's ``'`` before ``-`` or ``=`` would
    turn ``-ann@example.org`` into ``'-ann@example.org``.
    """
    buffer = io.StringIO()
    columns = ["email", "name", *sorted(fields or {})]
    row = {"email": address, "name": name, **(fields or {})}
    csv.writer(buffer, lineterminator="\r\n").writerows([columns, [row[c] for c in columns]])
    return import_csv(store, buffer.getvalue().encode("utf-8"), list_name, origin="cli")


def iter_export_rows(store: Store, list_name: str | None, chunk: int = 1000) -> Iterator[dict[str, object]]:
    """Subscribers (of one list, or all), streamed in keyset order with their fields."""
    last = 0
    while True:
        with store.reader() as session:
            stmt = select(Subscriber, SubscriberFields.data).outerjoin(SubscriberFields, SubscriberFields.subscriber_id == Subscriber.id)
            if list_name is not None:
                stmt = stmt.join(ListMembership, ListMembership.subscriber_id == Subscriber.id).join(
                    MailingList, MailingList.id == ListMembership.list_id).where(MailingList.name == list_name)
            rows = session.execute(stmt.where(Subscriber.id > last).order_by(Subscriber.id).limit(chunk)).all()  # type: ignore[operator]
        if not rows:
            return
        for sub, data in rows:
            yield {"email": sub.address, "name": sub.name, "status": sub.status,
                   "bounce_score": sub.bounce_score, **json.loads(data or "{}")}
        last = rows[-1][0].id


def export_csv(store: Store, list_name: str | None, out: io.TextIOBase, extra_columns: list[str] | None = None) -> int:
    """Write the list as CSV (formula cells neutralised); rows written."""
    columns = ["email", "name", "status", "bounce_score", *(extra_columns or [])]
    return write_csv(iter_export_rows(store, list_name), columns, out)


#: How a list's members are counted: the subscriber's own status, or ``left`` when the membership ended.
MEMBER_STATES = ("active", "bouncing", "pruned", "unsubscribed", "complained", "left")


def member_counts(session: Session) -> dict[int, dict[str, int]]:
    """Per list id: members by state (see :data:`MEMBER_STATES`); lists without members are absent.

    Two passes instead of a join of every membership with its subscriber: the
    memberships by list and membership status (``ix_list_members_list_status``
    alone), then only the subscribers who are not active, moved from "active" to
    their status on the lists they are still on. The cost follows the lists' size
    once and the number of inactive subscribers, not memberships x lookups.
    """
    found: dict[int, dict[str, int]] = {}
    for list_id, status, count in session.execute(select(ListMembership.list_id, ListMembership.status, func.count())
                                                  .group_by(ListMembership.list_id, ListMembership.status)):
        state = "active" if status == "subscribed" else "left"
        states = found.setdefault(int(list_id), {})
        states[state] = states.get(state, 0) + int(count)
    inactive = dict(session.execute(select(Subscriber.id, Subscriber.status).where(
        Subscriber.status.in_(sorted(set(MEMBER_STATES) - {"active", "left"})))).all())  # type: ignore[attr-defined]
    ids = list(inactive)
    for start in range(0, len(ids), IMPORT_BATCH):
        for list_id, sid in session.execute(select(ListMembership.list_id, ListMembership.subscriber_id).where(
                ListMembership.subscriber_id.in_(ids[start:start + IMPORT_BATCH]),  # type: ignore[attr-defined]
                ListMembership.status == "subscribed")):
            states = found[int(list_id)]
            states["active"] -= 1
            states[inactive[sid]] = states.get(inactive[sid], 0) + 1
    return {list_id: {k: v for k, v in states.items() if v} for list_id, states in found.items()}


def all_lists(session: Session) -> list[MailingList]:
    return list(session.execute(select(MailingList).order_by(MailingList.name)).scalars())
