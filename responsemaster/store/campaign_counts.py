"""Per-campaign, per-domain counts kept by the database (migration ``0010_campaign_domain_counts``).

Why: a campaign's "by domain" page (the API's ``by_domain``, the console's
``/console/campaigns/{id}/domains``) summed the campaign's deliveries and its
returns per domain at read time: a pass over 50,000 delivery index entries and
some 125,000 verdict index entries per campaign on the benchmark database, a
p95 of 462 ms on PostgreSQL under load, and linear in the campaign's size. A
campaign mailed to a million subscribers would read twenty times that. These
two tables hold the answer: a few rows per (campaign, domain), read in one
index range scan whatever the campaign's size.

Why triggers, as for ``verdict_day_counts`` (:mod:`~responsemaster.store.hygiene_counts`):
the counts move in the same transaction as the rows they count, whoever
writes them. Every path that can change a counted column is covered by the
database rather than by each caller remembering to: the mailer's inserts and
state changes of ``deliveries`` (queued, sending, sent, deferred, failed,
uncertain, suppressed, released back to queued), the worker's and the
mailer's verdict inserts (returns, refusals at send), a reviewer's relabel
(an UPDATE of ``category``), a reprocessed message (a new verdict), and any
delete. A counter that drifts is worse than a slow query.

- ``campaign_domain_deliveries``: deliveries by (campaign id, recipient
  domain, state). Every state change is a move of one from the old state's
  row to the new one's.
- ``campaign_domain_verdicts``: verdicts without an error (as the per-day
  counts: a quarantined message's placeholder is not a fact) by (the campaign
  the verdict names, by name or by id as the token carried it; the concerned
  address's domain; category; ``at_send``). ``at_send`` is true for a
  verdict whose raw message the mailer recorded itself (source ``mailer``):
  a refusal at send time, which the mailer records only for a delivery it
  marks ``failed`` (``mailer.runner``), so it is counted under "failed at
  send" and not again as a returned bounce. Verdicts naming no campaign are
  not counted.

A row whose count fell to 0 stays (readers skip it): deleting it would race
with a concurrent insert of the same key on PostgreSQL.

PostgreSQL counts once per statement (transition tables), one upsert per
changed key, in key order (so two transactions take the row locks in the same
order). It fires one event's triggers in name order, so a verdict INSERT locks
these rows before the per-day counts' (``trg_campaign_…`` < ``trg_verdict_…``);
the relabel (:mod:`api.verdict_relabel`) keeps that order. SQLite has row triggers, and its verdict insert trigger honours the
bulk-count pause of :class:`~responsemaster.store.hygiene_counts.BulkCount`:
the worker's batch is counted with one statement (:func:`count_batch`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import text as sa_text
from sqlmodel import Field, SQLModel

from responsemaster.store.hygiene_counts import PAUSE_DIMENSION

#: The raw messages' source of a refusal recorded by the mailer at send time (``mailer.send_verdicts`` uses it).
SEND_SOURCE = "mailer"


class CampaignDomainDeliveries(SQLModel, table=True):
    """Deliveries of one campaign to one recipient domain in one state."""

    __tablename__ = "campaign_domain_deliveries"
    #: SQLite: the rows stored in key order (one campaign's rows together, read without a second lookup each).
    __table_args__ = {"sqlite_with_rowid": False}

    campaign_id: int = Field(primary_key=True)
    domain: str = Field(max_length=255, primary_key=True)
    status: str = Field(max_length=16, primary_key=True)
    n: int = Field(default=0)


class CampaignDomainVerdicts(SQLModel, table=True):
    """Verdicts naming one campaign (by name or id), for one domain, of one category, at send or returned."""

    __tablename__ = "campaign_domain_verdicts"
    __table_args__ = {"sqlite_with_rowid": False}

    campaign: str = Field(max_length=255, primary_key=True)
    domain: str = Field(max_length=255, primary_key=True)
    category: str = Field(max_length=32, primary_key=True)
    at_send: bool = Field(primary_key=True)
    n: int = Field(default=0)


_D_KEY = "campaign_id, domain, status"
_V_KEY = "campaign, domain, category, at_send"
#: The verdicts counted, and whether each was refused at send; ``{t}`` is the relation's alias.
_V_COUNTED = "{t}.error IS NULL AND {t}.campaign <> ''"
_V_AT_SEND = f"EXISTS (SELECT 1 FROM raw_messages r WHERE r.id = {{t}}.message_id AND r.source = '{SEND_SOURCE}')"


def _upsert(table: str, key: str, delta_select: str) -> str:
    """Add each (key, d) row of ``delta_select`` to ``table``, one upsert per key, in key order."""
    return (f"INSERT INTO {table} ({key}, n) SELECT {key}, sum(d) FROM ({delta_select}) AS delta "
            f"GROUP BY {key} HAVING sum(d) <> 0 ORDER BY {key} "
            f"ON CONFLICT ({key}) DO UPDATE SET n = {table}.n + excluded.n")


def _delivery_rows(source: str, sign: str) -> str:
    return f"SELECT {_D_KEY}, {sign}1 AS d FROM {source}"


def _verdict_rows(source: str, sign: str) -> str:
    t = "t"
    return (f"SELECT campaign, domain, category, {_V_AT_SEND.format(t=t)} AS at_send, {sign}1 AS d "
            f"FROM {source} AS {t} WHERE {_V_COUNTED.format(t=t)}")


def _pg_statements() -> list[str]:
    out = []
    for table, counted, rows in (("campaign_domain_deliveries", "deliveries", _delivery_rows),
                                 ("campaign_domain_verdicts", "message_verdicts", _verdict_rows)):
        key = _D_KEY if table == "campaign_domain_deliveries" else _V_KEY
        for event, referencing, delta in (
                ("INSERT", "NEW TABLE AS rm_new", rows("rm_new", "")),
                ("UPDATE", "OLD TABLE AS rm_old NEW TABLE AS rm_new",
                 f"{rows('rm_old', '-')} UNION ALL {rows('rm_new', '')}"),
                ("DELETE", "OLD TABLE AS rm_old", rows("rm_old", "-"))):
            name = f"rm_count_{table}_{event.lower()}"
            out += [f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN {_upsert(table, key, delta)}; RETURN NULL; END $$",
                    f"CREATE TRIGGER trg_{table}_{event.lower()} AFTER {event} ON {counted} "
                    f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"]
    return out


def _sqlite_move(table: str, key: str, values: str, sign: str, when: str) -> str:
    """One row's move on SQLite: add ``sign``1 at the key ``values`` (``NEW.``/``OLD.`` columns) when ``when``."""
    return (f"INSERT INTO {table} ({key}, n) SELECT {values}, {sign}1 WHERE {when} "
            f"ON CONFLICT ({key}) DO UPDATE SET n = n + excluded.n;")


def _sqlite_statements() -> list[str]:
    d_changed = "OLD.campaign_id IS NOT NEW.campaign_id OR OLD.domain IS NOT NEW.domain OR OLD.status IS NOT NEW.status"
    paused = f"NOT EXISTS (SELECT 1 FROM verdict_day_counts WHERE dimension = '{PAUSE_DIMENSION}')"

    def d(row: str, sign: str) -> str:
        return _sqlite_move("campaign_domain_deliveries", _D_KEY, f"{row}.campaign_id, {row}.domain, {row}.status",
                            sign, "1")

    def v(row: str, sign: str, extra: str = "") -> str:
        when = _V_COUNTED.format(t=row) + extra
        return _sqlite_move("campaign_domain_verdicts", _V_KEY,
                            f"{row}.campaign, {row}.domain, {row}.category, {_V_AT_SEND.format(t=row)}", sign, when)

    v_changed = ("OLD.campaign IS NOT NEW.campaign OR OLD.domain IS NOT NEW.domain OR OLD.category IS NOT NEW.category"
                 " OR OLD.error IS NOT NEW.error OR OLD.message_id IS NOT NEW.message_id")
    return [
        f"CREATE TRIGGER trg_campaign_domain_deliveries_insert AFTER INSERT ON deliveries BEGIN {d('NEW', '')} END",
        "CREATE TRIGGER trg_campaign_domain_deliveries_update AFTER UPDATE OF campaign_id, domain, status "
        f"ON deliveries WHEN {d_changed} BEGIN {d('OLD', '-')} {d('NEW', '')} END",
        f"CREATE TRIGGER trg_campaign_domain_deliveries_delete AFTER DELETE ON deliveries BEGIN {d('OLD', '-')} END",
        "CREATE TRIGGER trg_campaign_domain_verdicts_insert AFTER INSERT ON message_verdicts "
        f"BEGIN {v('NEW', '', ' AND ' + paused)} END",
        "CREATE TRIGGER trg_campaign_domain_verdicts_update AFTER UPDATE OF campaign, domain, category, error, "
        f"message_id ON message_verdicts WHEN {v_changed} BEGIN {v('OLD', '-')} {v('NEW', '')} END",
        f"CREATE TRIGGER trg_campaign_domain_verdicts_delete AFTER DELETE ON message_verdicts BEGIN {v('OLD', '-')} END",
    ]


def trigger_ddl(dialect: str) -> list[str]:
    """Statements creating the counting triggers on ``dialect`` (sqlite or postgresql)."""
    if dialect == "sqlite":
        return _sqlite_statements()
    if dialect == "postgresql":
        return _pg_statements()
    raise ValueError(f"no campaign/domain counting triggers for {dialect!r}")


def drop_trigger_ddl(dialect: str) -> list[str]:
    """Statements dropping them (the migration's downgrade)."""
    out = []
    for table, counted in (("campaign_domain_deliveries", "deliveries"), ("campaign_domain_verdicts", "message_verdicts")):
        for event in ("insert", "update", "delete"):
            if dialect == "sqlite":
                out.append(f"DROP TRIGGER IF EXISTS trg_{table}_{event}")
            else:
                out += [f"DROP TRIGGER IF EXISTS trg_{table}_{event} ON {counted}",
                        f"DROP FUNCTION IF EXISTS rm_count_{table}_{event}()"]
    return out


def backfill_sql() -> list[str]:
    """Count the rows already there (the migration runs it once, before the triggers exist)."""
    return [
        _upsert("campaign_domain_deliveries", _D_KEY, _delivery_rows("deliveries", "")),
        _upsert("campaign_domain_verdicts", _V_KEY, _verdict_rows("message_verdicts", "")),
    ]


def recount_sql() -> dict[str, str]:
    """Per table, the same counts recomputed from the raw rows (tests compare; an operator can check drift)."""
    return {
        "campaign_domain_deliveries": f"SELECT {_D_KEY}, count(*) FROM deliveries GROUP BY {_D_KEY}",
        "campaign_domain_verdicts": (f"SELECT {_V_KEY}, count(*) FROM ({_verdict_rows('message_verdicts', '')}) "
                                     f"AS counted GROUP BY {_V_KEY}"),
    }


_COUNT_BATCH_SQLITE = sa_text(
    "WITH batch AS (SELECT * FROM message_verdicts WHERE id IN :ids) "
    + _upsert("campaign_domain_verdicts", _V_KEY, _verdict_rows("batch", ""))
).bindparams(bindparam("ids", expanding=True))


def count_batch(conn: Any, verdict_ids: list[int]) -> None:
    """Count a batch inserted while the SQLite row trigger was paused (``BulkCount``); PostgreSQL: nothing to do."""
    if conn.dialect.name == "sqlite" and verdict_ids:
        conn.execute(_COUNT_BATCH_SQLITE, {"ids": verdict_ids})
