"""Column helpers shared by every table module.

Every timestamp is written in UTC through :func:`utcnow` and read back aware:
PostgreSQL keeps the zone, SQLite stores text without it, and
:class:`UTCDateTime` puts it back so Python comparisons never mix naive and
aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


def utcnow() -> datetime:
    """The one clock every row uses (UTC, aware)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def ts(nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column; non-nullable ones default to now."""
    column = Column(UTCDateTime(), nullable=nullable, index=index)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


def text(nullable: bool = False, default: str = "") -> Any:
    """Unbounded text (diagnostics, payloads, reasons) without a length guess."""
    if nullable:
        return Field(default=None, sa_column=Column(Text, nullable=True))
    return Field(default=default, sa_column=Column(Text, nullable=False))


def address_key(address: str) -> str:
    """The case-insensitive identity of a mail address (the whole address folded).

    Local parts are case-sensitive in theory and never in practice; folding the
    whole address is what every list manager does, and it makes UNIQUE work the
    same on SQLite and PostgreSQL without a citext extension.
    """
    return address.strip().strip("<>").lower()


def domain_of(address: str) -> str:
    """The domain part of an address, folded (``""`` when there is none)."""
    key = address_key(address)
    return key.rpartition("@")[2] if "@" in key else ""


def clip(value: str | None, limit: int | None = None) -> str:
    """Text safe for every backend: no NUL (PostgreSQL refuses it), no lone surrogates, bounded."""
    if not value:
        return ""
    if not value.isascii() or "\x00" in value:  # ASCII without NUL (nearly every value) is already safe
        value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value[:limit] if limit else value
