"""``/health`` and ``/metrics`` (Prometheus text): public unless ``[api] metrics_public = false``.

Metrics are read from summary rows and indexed counts, so a scrape every
few seconds costs little even with millions of verdicts: verdicts per
category (from ``verdict_day_counts``), messages given no category by
why (a classifier crash, not mail, ...: read from the quarantine's rows,
few and indexed by state), drain lag (seconds since each source's last
batch), outbox backlog, quarantine size, open review items, subscribers
per status, and the model in use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.exceptions import NotAuthorizedException
from litestar.response import Response
from sqlalchemy import func, select, text

from api import review_ops
from api.auth import presented_key
from api.context import Ctx
from api.controllers.common import errors
from api.keys import verify_key
from api.model_info import current_meta
from api.schemas import Health
from responsemaster.store.actions import OutboxItem, SourceState
from responsemaster.store.base import utcnow
from responsemaster.store.hygiene_counts import VerdictDayCount
from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.subscribers import Subscriber, Suppression
from responsemaster.verdict import FAILURE_KINDS


def _check_private(ctx: Ctx, request: Request[Any, Any, Any]) -> None:
    if ctx.api.metrics_public:
        return
    key = presented_key(request, cookie_ok=False)
    with ctx.store.reader() as session:
        if not key or verify_key(session, key) is None:
            raise NotAuthorizedException("metrics need an API key ([api] metrics_public = false)")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")


def render_metrics(ctx: Ctx) -> str:
    now = utcnow()
    lines: list[str] = []
    with ctx.store.reader() as s:
        verdicts = s.execute(select(VerdictDayCount.category, func.sum(VerdictDayCount.n))
                             .where(VerdictDayCount.dimension == "all").group_by(VerdictDayCount.category)).all()
        quarantined = s.execute(select(func.count()).select_from(RawMessageRow)
                                .where(RawMessageRow.state == "quarantined")).scalar_one()
        failures = s.execute(select(MessageVerdict.reason, func.count())
                             .join(RawMessageRow, RawMessageRow.id == MessageVerdict.message_id)
                             .where(RawMessageRow.state.in_(("quarantined", "reprocessed")),  # type: ignore[attr-defined]
                                    MessageVerdict.error.is_not(None))  # type: ignore[union-attr]
                             .group_by(MessageVerdict.reason)).all()
        sources = s.execute(select(SourceState.name, SourceState.last_batch_at)).all()
        outbox = s.execute(select(func.count(), func.min(OutboxItem.created_at))
                           .where(OutboxItem.state == "pending")).one()
        review = review_ops.open_count(s)
        statuses = s.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
        suppressions = s.execute(select(Suppression.reason, func.count()).group_by(Suppression.reason)).all()
    _metric(lines, "responsemaster_verdicts_total", "counter", "Messages classified, by category",
            [({"category": c}, float(n or 0)) for c, n in sorted(verdicts)])
    _metric(lines, "responsemaster_quarantined_messages", "gauge", "Messages in quarantine", [({}, float(quarantined))])
    _metric(lines, "responsemaster_unclassified_total", "counter", "Messages given no category, by why (quarantined)",
            [({"kind": kind}, float(n)) for kind, n in sorted(_failure_counts(failures).items())])
    _metric(lines, "responsemaster_drain_lag_seconds", "gauge", "Seconds since each source's last drained batch",
            [({"source": name}, _age(now, at)) for name, at in sources if at is not None])
    _metric(lines, "responsemaster_outbox_pending", "gauge", "External effects waiting for delivery",
            [({}, float(outbox[0]))])
    _metric(lines, "responsemaster_outbox_oldest_pending_seconds", "gauge", "Age of the oldest pending effect",
            [({}, _age(now, outbox[1]) if outbox[1] is not None else 0.0)])
    _metric(lines, "responsemaster_review_open", "gauge", "Review items waiting for a person", [({}, float(review))])
    _metric(lines, "responsemaster_subscribers", "gauge", "Subscribers by status",
            [({"status": st}, float(n)) for st, n in sorted(statuses)])
    _metric(lines, "responsemaster_suppressions", "gauge", "Suppressed addresses by reason",
            [({"reason": r}, float(n)) for r, n in sorted(suppressions)])
    meta = current_meta(ctx.models_dir) or {}
    model_id = str(meta.get("model_id") or "")
    _metric(lines, "responsemaster_model_info", "gauge", "The model in use (value 1)",
            [({"model_id": model_id}, 1.0)] if model_id else [])
    created = meta.get("created_utc")
    if created:
        stamp = datetime.fromisoformat(str(created)).timestamp()
        _metric(lines, "responsemaster_model_created_timestamp_seconds", "gauge", "When the model in use was trained",
                [({"model_id": model_id}, stamp)])
    return "\n".join(lines) + "\n"


def _failure_counts(rows: Any) -> dict[str, int]:
    """Every kind of failure (zero included, so a dashboard sees the series); older rows' reasons are "other"."""
    counts = dict.fromkeys(FAILURE_KINDS, 0)
    for reason, n in rows:
        kind = reason if reason in counts else "other"
        counts[kind] = counts.get(kind, 0) + int(n)
    return counts


def _age(now: datetime, at: datetime) -> float:
    return max(0.0, round((now - at).total_seconds(), 3))


class HealthController(Controller):
    path = "/"
    tags = ["health"]

    @get("/health", sync_to_thread=True, summary="Liveness and database check", responses=errors(401, 503))
    def health(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Response[Health]:
        _check_private(ctx, request)
        try:
            with ctx.store.reader() as s:
                s.execute(text("SELECT 1"))
                quarantined = s.execute(select(func.count()).select_from(RawMessageRow)
                                        .where(RawMessageRow.state == "quarantined")).scalar_one()
            database = "ok"
        except Exception as exc:
            database, quarantined = f"error: {type(exc).__name__}", 0
        meta = current_meta(ctx.models_dir) or {}
        body = Health(status="ok" if database == "ok" else "degraded", database=database,
                      model=meta.get("model_id"), quarantined=int(quarantined))
        return Response(body, status_code=200 if database == "ok" else 503)

    @get("/metrics", sync_to_thread=True, summary="Prometheus metrics", media_type="text/plain; version=0.0.4",
         responses=errors(401))
    def metrics(self, ctx: Ctx, request: Request[Any, Any, Any]) -> str:
        _check_private(ctx, request)
        return render_metrics(ctx)
