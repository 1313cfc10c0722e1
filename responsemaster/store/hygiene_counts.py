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

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy import text as sa_text
from sqlmodel import Field, SQLModel

from responsemaster.store.bulk import insert_rows
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


_DIMENSIONS_SQL = (("all", "''"), ("domain", "domain"), ("campaign", "campaign"))
_DAY = {"sqlite": "substr({t}created_at, 1, 10)", "postgresql": "to_char({t}created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"}
#: A row of this dimension exists only inside a transaction that counts its verdicts itself
#: (SQLite's bulk path, :class:`BulkCount`): the row trigger leaves them alone meanwhile, and so does
#: the campaign/domain counts' insert trigger (:func:`responsemaster.store.campaign_counts.count_batch`).
PAUSE_DIMENSION = "rm-bulk"


def _count_rows_sql(dialect: str, source: str) -> str:
    """One INSERT adding the verdicts of the relation ``source`` to the counts, one upsert per group."""
    day = _DAY[dialect].format(t="")
    groups = " UNION ALL ".join(
        f"SELECT '{dim}' AS dimension, {value} AS value, {day} AS day, category, reason FROM {source} WHERE error IS NULL"
        for dim, value in _DIMENSIONS_SQL
    )
    return (
        "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
        f"SELECT dimension, value, day, category, reason, count(*) FROM ({groups}) AS counted "
        "GROUP BY dimension, value, day, category, reason ORDER BY dimension, value, day, category, reason "
        "ON CONFLICT (dimension, value, day, category, reason) DO UPDATE SET n = verdict_day_counts.n + excluded.n"
    )


def trigger_ddl(dialect: str) -> list[str]:
    """Statements creating the counting trigger on ``dialect`` (sqlite or postgresql); migration 0007.

    PostgreSQL counts once per INSERT statement (a statement-level trigger
    reading the inserted rows from a transition table): the worker inserts
    a batch's verdicts in one statement, so their counts are one upsert
    per (dimension, value, day, category, reason), not three per verdict.
    SQLite has only row triggers: its trigger counts each row, except while
    a transaction holds the pause row (``PAUSE_DIMENSION``), which the bulk
    path sets while it inserts a batch and counts it with one statement.
    """
    if dialect == "sqlite":
        (create,) = row_trigger_ddl("sqlite")
        paused = f"NOT EXISTS (SELECT 1 FROM verdict_day_counts WHERE dimension = '{PAUSE_DIMENSION}')"
        return [create.replace("WHEN NEW.error IS NULL", f"WHEN NEW.error IS NULL AND {paused}")]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION rm_count_verdicts() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_count_rows_sql('postgresql', 'counted_verdicts')}; RETURN NULL; END $$",
            "CREATE TRIGGER trg_verdict_day_counts AFTER INSERT ON message_verdicts "
            "REFERENCING NEW TABLE AS counted_verdicts FOR EACH STATEMENT EXECUTE FUNCTION rm_count_verdicts()",
        ]
    raise ValueError(f"no verdict counting trigger for {dialect!r}")


def drop_trigger_ddl(dialect: str) -> list[str]:
    """Statements dropping the counting trigger (either version) on ``dialect``."""
    if dialect == "sqlite":
        return ["DROP TRIGGER IF EXISTS trg_verdict_day_counts"]
    return [
        "DROP TRIGGER IF EXISTS trg_verdict_day_counts ON message_verdicts",
        "DROP FUNCTION IF EXISTS rm_count_verdict()",
        "DROP FUNCTION IF EXISTS rm_count_verdicts()",
    ]


def row_trigger_ddl(dialect: str) -> list[str]:
    """The first version (migration 0003): three upserts per inserted verdict, on both backends."""
    dims = (("all", "''"), ("domain", "NEW.domain"), ("campaign", "NEW.campaign"))
    if dialect == "sqlite":
        day = "substr(NEW.created_at, 1, 10)"
        parts = " ".join(
            "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
            f"VALUES ('{dim}', {value}, {day}, NEW.category, NEW.reason, 1) "
            "ON CONFLICT (dimension, value, day, category, reason) DO UPDATE SET n = n + 1;"
            for dim, value in dims
        )
        return [
            "CREATE TRIGGER trg_verdict_day_counts AFTER INSERT ON message_verdicts "
            "WHEN NEW.error IS NULL BEGIN " + parts + " END"
        ]
    if dialect == "postgresql":
        day = "to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        inserts = " ".join(
            "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
            f"VALUES ('{dim}', {value}, {day}, NEW.category, NEW.reason, 1) "
            "ON CONFLICT (dimension, value, day, category, reason) DO UPDATE SET n = verdict_day_counts.n + 1;"
            for dim, value in dims
        )
        return [
            "CREATE OR REPLACE FUNCTION rm_count_verdict() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.error IS NULL THEN {inserts} END IF; RETURN NULL; END $$",
            ("CREATE TRIGGER trg_verdict_day_counts AFTER INSERT ON message_verdicts "
             "FOR EACH ROW EXECUTE FUNCTION rm_count_verdict()"),
        ]
    raise ValueError(f"no verdict counting trigger for {dialect!r}")


class BulkCount:
    """Counting a batch's verdicts in one statement (SQLite; PostgreSQL's trigger does it alone).

    ``pause()`` before the batch's verdict INSERT, ``count(rows)`` after it,
    in the same transaction, with the values just inserted: the pause row is
    never committed (``count`` deletes it, a rollback drops it), so no other
    connection ever sees it. The groups are summed here from the values the
    caller already holds; reading the batch's rows back by id, three times
    (one per dimension), was about 4% of the worker's own CPU.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.active = conn.dialect.name == "sqlite"

    def pause(self) -> None:
        if self.active:
            self.conn.execute(_PAUSE)

    def count(self, verdicts: list[dict[str, Any]]) -> None:
        """``verdicts``: the inserted rows' values (category, reason, domain, campaign, error, created_at)."""
        if not self.active:
            return
        groups = day_groups(verdicts)
        if groups:
            rows = [{"dimension": d, "value": v, "day": day, "category": c, "reason": r, "n": n}
                    for (d, v, day, c, r), n in sorted(groups.items())]
            insert_rows(self.conn, VerdictDayCount.__table__, rows, on_conflict=_ADD)  # type: ignore[attr-defined]
        self.conn.execute(_RESUME)


def day_groups(verdicts: list[dict[str, Any]]) -> Counter[tuple[str, str, str, str, str]]:
    """(dimension, value, day, category, reason) -> verdicts, as the row trigger counts them.

    Only verdicts without an error; the day is the UTC date of ``created_at``
    (an aware or a naive-UTC datetime), as ``substr(created_at, 1, 10)``
    reads it from SQLite's stored text.
    """
    groups: Counter[tuple[str, str, str, str, str]] = Counter()
    days: dict[datetime, str] = {}
    for row in verdicts:
        if row["error"] is not None:
            continue
        at = row["created_at"]
        day = days.get(at)
        if day is None:
            day = days[at] = (at.astimezone(UTC) if at.tzinfo is not None else at).date().isoformat()
        for dimension in DIMENSIONS:
            groups[dimension, "" if dimension == "all" else row[dimension], day, row["category"], row["reason"]] += 1
    return groups


_PAUSE = sa_text(
    "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
    f"VALUES ('{PAUSE_DIMENSION}', '', '', '', '', 1)"
)
_RESUME = sa_text(f"DELETE FROM verdict_day_counts WHERE dimension = '{PAUSE_DIMENSION}'")
_ADD = "ON CONFLICT (dimension, value, day, category, reason) DO UPDATE SET n = verdict_day_counts.n + excluded.n"


def backfill_sql(dialect: str) -> list[str]:
    """Rebuild the counts from existing verdicts (the migration runs it once)."""
    day = _DAY[dialect].format(t="")
    statements = []
    for dim, value in _DIMENSIONS_SQL:
        statements.append(
            "INSERT INTO verdict_day_counts (dimension, value, day, category, reason, n) "
            f"SELECT '{dim}', {value}, {day}, category, reason, count(*) FROM message_verdicts "
            f"WHERE error IS NULL GROUP BY {'' if dim == 'all' else value + ', '}{day}, category, reason"
        )
    return statements
