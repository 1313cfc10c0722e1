"""Every request and response body of the API, in one place (msgspec: fast, and typed in OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from responsemaster.addresses import InvalidAddress, validate_address
from responsemaster.control_chars import has_control

#: A note is typed in a text box: it may have lines and tabs, never other control characters.
NOTE_WHITESPACE = "\t\r\n"
Category = Annotated[str, Meta(pattern=r"^[a-z_]{3,32}$")]
Reason = Annotated[str, Meta(min_length=3, max_length=500)]


class Problem(Struct):
    status_code: int
    detail: str


class Health(Struct):
    status: str
    database: str
    model: str | None
    quarantined: int


class SuppressionOut(Struct):
    address: str
    domain: str
    reason: str
    since: datetime
    by: str


class SubscriberOut(Struct):
    address: str
    status: str
    status_reason: str
    status_changed_at: datetime | None
    bounce_score: float
    last_bounce_at: datetime | None
    last_category: str
    last_verdict_at: datetime | None
    suggested_address: str
    origin: str
    created_at: datetime
    suppression: SuppressionOut | None


class VerdictOut(Struct):
    """One verdict concerning an address: as the message's subject, or as a reported recipient."""

    message_uid: str
    at: datetime
    role: str
    category: str
    reason: str
    confidence: float
    decided_by: str
    campaign: str
    via: str
    status: str = ""
    reply_code: str = ""
    remote_mta: str = ""
    diagnostic: str = ""


class VerdictPage(Struct):
    address: str
    items: list[VerdictOut]
    #: Pass as ``before`` for the next (older) page; null at the end.
    next_before: datetime | None


class SuppressionPage(Struct):
    items: list[SuppressionOut]
    total: int
    page: int
    per_page: int


def refuse_controls(name: str, value: str, allow: str = "") -> None:
    """A 400 (msgspec turns the ValueError into a validation error) for text holding a control character."""
    if has_control(value, allow):
        raise ValueError(f"{name} contains a control character")


class ResubscribeIn(Struct):
    reason: Reason

    def __post_init__(self) -> None:
        refuse_controls("reason", self.reason)


class SuppressIn(Struct):
    """An address as a CSV import would accept it (the same check), and a one-line reason."""

    address: Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
    reason: Annotated[str, Meta(min_length=1, max_length=64)] = "manual"

    def __post_init__(self) -> None:
        refuse_controls("address", self.address)
        refuse_controls("reason", self.reason)
        try:
            self.address = validate_address(self.address)
        except InvalidAddress as exc:
            raise ValueError(f"address: {exc}") from None


class ChangeOut(Struct):
    address: str
    status: str
    changed: bool


class DayCount(Struct):
    day: date
    category: str
    count: int


class FailureLine(Struct):
    """One line of "18 addresses do not exist, 4 mailboxes full, 35 rejected"."""

    category: str
    reason: str
    count: int
    label: str


class FailureAddress(Struct):
    """One verdict behind a failure count: who, when, what and which campaign."""

    id: int
    at: datetime
    address: str
    domain: str
    category: str
    reason: str
    campaign: str
    decided_by: str
    label: str


class CategoryReport(Struct):
    since: date
    until: date
    totals: dict[str, int]
    per_day: list[DayCount]
    failures: list[FailureLine]
    summary: str


class DomainCount(Struct):
    domain: str
    total: int
    categories: dict[str, int]


class DomainReport(Struct):
    since: date
    until: date
    items: list[DomainCount]


class CampaignCount(Struct):
    campaign: str
    total: int
    categories: dict[str, int]


class CampaignReport(Struct):
    since: date
    until: date
    items: list[CampaignCount]


class CampaignAnalytics(Struct):
    """Sends and returns of one campaign: ``stats`` and ``by_domain`` come from the mailer's analytics."""

    campaign: str
    status: str
    stats: dict[str, Any]
    by_domain: dict[str, dict[str, Any]]
    rates: dict[str, float]
    failures: list[FailureLine]
    summary: str
    per_day: list[DayCount]


class CampaignList(Struct):
    items: list[dict[str, Any]]


class QuarantineItem(Struct):
    uid: str
    source: str
    key: str
    error: str
    size: int
    received_at: datetime
    state: str


class QuarantinePage(Struct):
    items: list[QuarantineItem]
    total: int
    page: int
    per_page: int


class TaskOut(Struct):
    task: str
    id: str
    target: str = ""


class RecipientOut(Struct):
    address: str
    category: str
    reason: str
    status: str
    reply_code: str
    remote_mta: str
    diagnostic: str
    decided_by: str = ""
    #: A hard bounce held for a person: confirm it, or correct the recipient.
    pending_prune: bool = False


class ReviewOut(Struct):
    id: int
    message_uid: str
    category: str
    confidence: float
    state: str
    relabelled_to: str
    resolved_by: str
    resolved_at: datetime | None
    created_at: datetime
    subject: str
    sender: str
    decided_by: str


class ReviewDetail(Struct):
    item: ReviewOut
    reason: str
    campaign: str
    subscriber: str
    reply_text: str
    recipients: list[RecipientOut]
    note: str


class ReviewPage(Struct):
    items: list[ReviewOut]
    total: int
    #: Pass as ``after`` for the next page; null on the last page.
    next_after: str | None = None


class ResolveIn(Struct):
    note: Annotated[str, Meta(max_length=2000)] = ""

    def __post_init__(self) -> None:
        refuse_controls("note", self.note, allow=NOTE_WHITESPACE)


class RelabelIn(Struct):
    category: Category
    note: Annotated[str, Meta(max_length=2000)] = ""
    resolve: bool = True

    def __post_init__(self) -> None:
        refuse_controls("note", self.note, allow=NOTE_WHITESPACE)


class RelabelOut(Struct):
    item: ReviewOut
    previous: str
    training_file: str


class RecipientRelabelIn(Struct):
    address: Annotated[str, Meta(min_length=3, max_length=320)]
    category: Category
    #: A reason of ``category`` (Sisimai's words for bounces); empty: the category's default.
    reason: Annotated[str, Meta(max_length=64)] = ""
    note: Annotated[str, Meta(max_length=2000)] = ""
    resolve: bool = False

    def __post_init__(self) -> None:
        refuse_controls("address", self.address)
        refuse_controls("reason", self.reason)
        refuse_controls("note", self.note, allow=NOTE_WHITESPACE)


class RecipientRelabelOut(Struct):
    item: ReviewOut
    address: str
    previous_category: str
    previous_reason: str
    category: str
    reason: str
    training_file: str
    #: What happened to a pending prune of this address: "done" (pruned), "cancelled", or "" (none).
    prune: str


class ConfirmPruneIn(Struct):
    #: One recipient; omitted: every pending prune of the message.
    address: Annotated[str, Meta(min_length=3, max_length=320)] | None = None
    note: Annotated[str, Meta(max_length=2000)] = ""

    def __post_init__(self) -> None:
        refuse_controls("address", self.address or "")
        refuse_controls("note", self.note, allow=NOTE_WHITESPACE)


class ConfirmPruneOut(Struct):
    item: ReviewOut
    pruned: list[str]


class ModelInfo(Struct):
    model_id: str | None
    created_utc: str | None
    metrics: dict[str, Any]
    trained_on: dict[str, int]
    training_data: dict[str, int]
    relabels: int
    data_sha256: str | None


class OplogEntry(Struct):
    id: int
    at: datetime
    actor: str
    operation: str
    target: str
    detail: dict[str, Any]


class OplogPage(Struct):
    items: list[OplogEntry]
    next_before_id: int | None


class SendDay(Struct):
    day: date
    sent: int
    failed: int
    deferred: int


class SendAccount(Struct):
    account: str
    sent: int


class SendDomain(Struct):
    domain: str
    sent: int
    failed: int
    bounced: int


class Quota(Struct):
    account: str
    period: str
    total: int | None
    sent: int
    remaining: int | None


class DeliveryRow(Struct):
    """One row of the delivery log."""

    id: int
    campaign: str
    address: str
    domain: str
    status: str
    relay: str
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    last_error: str


class DeliveryPage(Struct):
    items: list[DeliveryRow]
    #: Pass as ``before`` for the next (older) page; null on the last.
    next_before: str | None


class FailureAddressPage(Struct):
    items: list[FailureAddress]
    #: Pass as ``before`` for the next (older) page; null on the last.
    next_before: str | None


class ListOut(Struct):
    """A list and its members by state (``active``, ``bouncing``, ``pruned``, ``unsubscribed``, ``complained``,
    ``left``: left the list); ``counted_at`` is set when the counts were kept from an earlier count (big lists)."""

    name: str
    description: str
    members: int
    by_state: dict[str, int]
    counted_at: datetime | None


class RelayInfo(Struct):
    name: str
    host: str
    port: int
    tls: str
    max_connections: int
    max_per_hour: int
    max_per_day: int


class SendingReport(Struct):
    since: date
    until: date
    per_day: list[SendDay]
    per_account: list[SendAccount]
    per_domain: list[SendDomain]
    quotas: list[Quota]
    delivery_failures: dict[str, int]
    bounce_reasons: list[FailureLine]


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)
