"""Relays (sender accounts) with hourly and daily quotas, shared through the database.

Relays are configuration (``[[mailer.relays]]``); each is mirrored into a
``sender_accounts`` row so usage can be counted per account in
``sender_usage`` (one row per account and UTC hour). A run loads what was
used in the current hour and the last 24 hours, reserves in memory as it
sends, and writes the accepted count back with each batch of results, so a
later run (or another process) sees the same budget. A quota of 0 means
unlimited. Rotation is by availability: every relay with budget left runs
its own connections off one shared queue, and a relay whose budget is spent
stops taking work while the others carry on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from mailer.settings import RelaySettings
from responsemaster.store.base import utcnow
from responsemaster.store.mailing import SenderUsage
from responsemaster.store.platform import SenderAccount
from responsemaster.store.upsert import insert_ignore, insert_or_update


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class RelayState:
    """One relay's budget during a run: what the store says was used, plus what this run took."""

    def __init__(self, settings: RelaySettings, account_id: int, used_hour: int, used_day: int) -> None:
        self.settings = settings
        self.account_id = account_id
        self.hour = hour_of(utcnow())
        self.used_hour = used_hour
        self.used_day = used_day
        #: Accepted messages not yet written to ``sender_usage``, by hour.
        self.unflushed: dict[datetime, int] = {}
        self.down = False

    @property
    def name(self) -> str:
        return self.settings.name

    def _roll(self) -> None:
        hour = hour_of(utcnow())
        if hour != self.hour:
            self.hour, self.used_hour = hour, 0

    def remaining(self) -> float:
        """Messages this relay may still take now (``inf`` when it has no quota)."""
        self._roll()
        limits = []
        if self.settings.max_per_hour > 0:
            limits.append(self.settings.max_per_hour - self.used_hour)
        if self.settings.max_per_day > 0:
            limits.append(self.settings.max_per_day - self.used_day)
        return max(0, min(limits)) if limits else float("inf")

    def take(self) -> bool:
        """Reserve one message of budget; False when the quota is spent."""
        if self.down or self.remaining() <= 0:
            return False
        self.used_hour += 1
        self.used_day += 1
        return True

    def give_back(self) -> None:
        """The reserved message never reached DATA: it does not count."""
        self.used_hour = max(0, self.used_hour - 1)
        self.used_day = max(0, self.used_day - 1)

    def counted(self) -> None:
        """The reserved message was transmitted: count it in the store."""
        self.unflushed[self.hour] = self.unflushed.get(self.hour, 0) + 1

    def flush(self, session: Session) -> None:
        table = SenderUsage.__table__  # type: ignore[attr-defined]
        for hour, count in self.unflushed.items():
            insert_or_update(session, table, {"account_id": self.account_id, "hour": hour, "sent": count},
                             ["account_id", "hour"], {"sent": table.c.sent + count})
        self.unflushed.clear()


def sync_accounts(session: Session, relays: list[RelaySettings]) -> dict[str, int]:
    """Mirror configured relays into ``sender_accounts`` (secrets stay out); name -> id."""
    table = SenderAccount.__table__  # type: ignore[attr-defined]
    ids = {}
    for relay in relays:
        values = {"host": relay.host, "port": relay.port, "username": relay.username,
                  "secret_env": relay.secret_env if relay.username else "",
                  "from_address": relay.from_address, "max_per_hour": relay.max_per_hour}
        insert_ignore(session, table, {"name": relay.name, "created_at": utcnow(), **values}, ["name"])
        session.execute(table.update().where(table.c.name == relay.name).values(**values))
        ids[relay.name] = session.execute(select(table.c.id).where(table.c.name == relay.name)).scalar_one()
    return ids


def load_states(session: Session, relays: list[RelaySettings]) -> list[RelayState]:
    """A RelayState per relay, with this hour's and the last 24 hours' usage from the store."""
    ids = sync_accounts(session, relays)
    now = utcnow()
    this_hour, day_ago = hour_of(now), hour_of(now - timedelta(hours=23))
    states = []
    for relay in relays:
        account = ids[relay.name]
        used_hour = _used(session, account, this_hour, this_hour)
        used_day = _used(session, account, day_ago, this_hour)
        states.append(RelayState(relay, account, used_hour, used_day))
    return states


def _used(session: Session, account_id: int, start: datetime, end: datetime) -> int:
    stmt = select(func.coalesce(func.sum(SenderUsage.sent), 0)).where(
        SenderUsage.account_id == account_id, SenderUsage.hour >= start, SenderUsage.hour <= end)
    return int(session.execute(stmt).scalar_one())


def next_budget_at(states: list[RelayState]) -> datetime:
    """When some quota frees up again: the next UTC hour (hourly buckets roll then)."""
    return hour_of(utcnow()) + timedelta(hours=1, seconds=5)
