"""Per-day verdict counts kept by the database, and the read indexes the API needs.

Why a summary table: "how many hard bounces did gmail.com give us over the
last 30 days" must answer in milliseconds with millions of verdicts. Counting
``message_verdicts`` rows for a big domain reads hundreds of thousands of
index entries; reading ``verdict_day_counts`` reads at most
30 days x 11 categories x a few reasons.

Why triggers (created by migration ``0003_api``): the counts are maintained
in the same transaction as the verdict insert, whoever inserts it (worker,
import, test), so they can never drift from the rows and no other module has
to know this table exists. Only verdicts without an error are counted (a
quarantined message's placeholder verdict is not a hygiene fact).

``dimension`` is ``all`` (value ``""``), ``domain`` (the concerned address's
domain) or ``campaign`` (the attributed campaign); ``day`` is the UTC date
as ``YYYY-MM-DD`` text so the same comparison works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from responsemaster.store.messages import MessageVerdict, RawMessageRow, ReviewItem

DIMENSIONS = ("all", "domain", "campaign")


class VerdictDayCount(SQLModel, table=True):
    """Verdicts of one category and reason, on one UTC day, for one domain/campaign (or all)."""

    __tablename__ = "verdict_day_counts"
    __table_args__ = (
        #: "Top domains over 30 days" reads one dimension by day, not one value's history.
        Index("ix_verdict_day_counts_dimension_day", "dimension", "day"),
        #: One domain's (or campaign's) days answered from the index alone (migration 0004): the rows of
        #: one value are scattered over the table's pages, since they are written day by day.
        Index("ix_verdict_day_counts_covering", "dimension", "value", "day", "category", "reason", "n"),
    )

    dimension: str = Field(max_length=16, primary_key=True)
    value: str = Field(max_length=255, primary_key=True)
    day: str = Field(max_length=10, primary_key=True)
    category: str = Field(max_length=32, primary_key=True)
    reason: str = Field(max_length=64, primary_key=True)
    n: int = Field(default=0)


# Read paths of the API on tables other modules own. Declared here so the
# shared metadata (and therefore the migration check) knows about them.
Index(
    "ix_raw_messages_state_received",
    RawMessageRow.__table__.c.state,  # type: ignore[attr-defined]
    RawMessageRow.__table__.c.received_at,  # type: ignore[attr-defined]
)
Index(
    "ix_review_items_state_confidence",
    ReviewItem.__table__.c.state,  # type: ignore[attr-defined]
    ReviewItem.__table__.c.confidence,  # type: ignore[attr-defined]
    ReviewItem.__table__.c.id,  # type: ignore[attr-defined]
)
Index(
    "ix_message_verdicts_subscriber_created",
    MessageVerdict.__table__.c.subscriber_key,  # type: ignore[attr-defined]
    MessageVerdict.__table__.c.created_at,  # type: ignore[attr-defined]
)


#: One upsert per dimension; ``:day`` etc. come from the inserted row.
def _sqlite_trigger() -> str:
    day = "substr(NEW.created_at, 1, 10)"
    parts = []
    for dim, value in (("all", "''"), ("domain", "NEW.domain"), ("campaign", "NEW.campaign")):
        parts.append(
            "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
            f"VALUES ('{dim}', {value}, {day}, NEW.category, NEW.reason, 1) "
            "ON CONFLICT (dimension, value, day, category, reason) DO UPDATE SET n = n + 1;"
        )
    return (
        "CREATE TRIGGER trg_verdict_day_counts AFTER INSERT ON message_verdicts "
        "WHEN NEW.error IS NULL BEGIN " + " ".join(parts) + " END"
    )


def _postgres_function() -> str:
    day = "to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    inserts = " ".join(
        "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
        f"VALUES ('{dim}', {value}, {day}, NEW.category, NEW.reason, 1) "
        "ON CONFLICT (dimension, value, day, category, reason) DO UPDATE SET n = verdict_day_counts.n + 1;"
        for dim, value in (("all", "''"), ("domain", "NEW.domain"), ("campaign", "NEW.campaign"))
    )
    return (
        "CREATE OR REPLACE FUNCTION rm_count_verdict() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF NEW.error IS NULL THEN {inserts} END IF; RETURN NULL; END $$"
    )


def trigger_ddl(dialect: str) -> list[str]:
    """Statements creating the counting trigger on ``dialect`` (sqlite or postgresql)."""
    if dialect == "sqlite":
        return [_sqlite_trigger()]
    if dialect == "postgresql":
        return [
            _postgres_function(),
            ("CREATE TRIGGER trg_verdict_day_counts AFTER INSERT ON message_verdicts "
             "FOR EACH ROW EXECUTE FUNCTION rm_count_verdict()"),
        ]
    raise ValueError(f"no verdict counting trigger for {dialect!r}")


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return ["DROP TRIGGER IF EXISTS trg_verdict_day_counts"]
    return [
        "DROP TRIGGER IF EXISTS trg_verdict_day_counts ON message_verdicts",
        "DROP FUNCTION IF EXISTS rm_count_verdict()",
    ]


def backfill_sql(dialect: str) -> list[str]:
    """Rebuild the counts from existing verdicts (the migration runs it once)."""
    day = (
        "substr(created_at, 1, 10)"
        if dialect == "sqlite"
        else "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    )
    statements = []
    for dim, value in (("all", "''"), ("domain", "domain"), ("campaign", "campaign")):
        statements.append(
            "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
            f"SELECT '{dim}', {value}, {day}, category, reason, count(*) FROM message_verdicts "
            f"WHERE error IS NULL GROUP BY {'' if dim == 'all' else value + ', '}{day}, category, reason"
        )
    return statements
