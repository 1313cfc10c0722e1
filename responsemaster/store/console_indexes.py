"""Read paths of the operator console on tables other modules own (created by migration ``0008_console``).

Declared here, like :mod:`responsemaster.store.hygiene_counts` does for the
API, so the shared metadata (and the migration check) knows about them. Each
one is there because a console page measured slow without it at 1M
subscribers and 5M verdicts (``benchmarks/console_bench.py``).
"""

from __future__ import annotations

from sqlalchemy import Index, func

from responsemaster.store.messages import MessageVerdict
from responsemaster.store.platform import Delivery, OperationLog
from responsemaster.store.subscribers import ListMembership

_deliveries = Delivery.__table__.c  # type: ignore[attr-defined]
_verdicts = MessageVerdict.__table__.c  # type: ignore[attr-defined]
_members = ListMembership.__table__.c  # type: ignore[attr-defined]
_oplog = OperationLog.__table__.c  # type: ignore[attr-defined]

INDEXES: list[Index] = [
    #: Each list's members by membership status (the lists page) from the index alone.
    Index("ix_list_members_list_status", _members.list_id, _members.status),
    #: A campaign's deliveries by state and domain (progress, totals, per domain; its refusals) from the index alone.
    Index("ix_deliveries_campaign_status_domain", _deliveries.campaign_id, _deliveries.status, _deliveries.domain),
    #: Sends per day and state over a range (the dashboard, /api/v1/sending): the log's "moment" is when
    #: a message was sent, or queued while it was not; indexed as that expression, with the state.
    Index("ix_deliveries_moment_status", func.coalesce(_deliveries.sent_at, _deliveries.queued_at), _deliveries.status),
    #: One campaign's delivery log over a range of days, newest first.
    Index("ix_deliveries_campaign_moment", _deliveries.campaign_id,
          func.coalesce(_deliveries.sent_at, _deliveries.queued_at)),
    #: The same per recipient domain (the worst domains beside what was sent to them).
    Index("ix_deliveries_domain_moment_status", _deliveries.domain,
          func.coalesce(_deliveries.sent_at, _deliveries.queued_at), _deliveries.status),
    #: The operations the log holds (the operation log's filter), read from the index alone.
    Index("ix_operation_log_operation", _oplog.operation),
    #: One campaign's returns by domain and category, and which were refused at send (by message id).
    Index("ix_message_verdicts_campaign_domain_category", _verdicts.campaign, _verdicts.domain, _verdicts.category,
          _verdicts.message_id),
]
