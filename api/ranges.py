"""Time ranges in whole UTC days: ``today``, ``week``, ``month``, ``7d``, ``30d``, or ``since``/``until``.

Whole days because the counts are kept per UTC day (``verdict_day_counts``):
every range the API offers is then answered from the summary exactly.
Both ends are inclusive. A range the calendar cannot hold (``until=0001-01-05``
with its 30-day default start, ``until=9999-12-31`` whose end is the next
day) is a 400, not an overflow.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from litestar.exceptions import ValidationException

Period = Literal["today", "week", "month", "7d", "30d", "90d", "custom"]
PERIODS: tuple[str, ...] = ("today", "week", "month", "7d", "30d", "90d", "custom")
MAX_DAYS = 3660


def today_utc() -> date:
    return datetime.now(UTC).date()


def resolve(period: str | None, since: date | None, until: date | None, default: str = "30d") -> tuple[date, date]:
    """The inclusive ``(first, last)`` day; ``since``/``until`` alone imply ``custom``."""
    try:
        return _resolve(period, since, until, default)
    except OverflowError:
        raise ValidationException(f"the range falls outside the calendar (since={since}, until={until})") from None


def _resolve(period: str | None, since: date | None, until: date | None, default: str) -> tuple[date, date]:
    today = today_utc()
    if period is None:
        period = "custom" if since is not None or until is not None else default
    if period == "custom":
        first = since or (until or today) - timedelta(days=29)
        last = until or today
    elif period == "today":
        first = last = today
    elif period == "week":
        first, last = today - timedelta(days=today.weekday()), today
    elif period == "month":
        first, last = today.replace(day=1), today
    elif re.fullmatch(r"[0-9]{1,4}d", period):
        first, last = today - timedelta(days=int(period[:-1]) - 1), today
    else:
        raise ValidationException(f"range must be one of {', '.join(PERIODS)}")
    if first > last:
        raise ValidationException(f"since ({first}) is after until ({last})")
    if (last - first).days >= MAX_DAYS:
        raise ValidationException(f"a range covers at most {MAX_DAYS} days")
    bounds(first, last)  # the day after ``last`` must exist too (9999-12-31 has none)
    return first, last


def bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """``[start, end)`` as aware datetimes for row-level queries."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    return start, datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)


#: A page cursor of lists ordered newest first by a time and then an id: ``2026-11-23T10:00:00.123456~4711``
#: (the last row's time in UTC and its id; URL-safe as it is).
TIME_CURSOR = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?~\d{1,19}$"


def time_cursor(moment: datetime, row_id: int) -> str:
    return f"{moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}~{row_id}"


def older_than(moment: Any, id_column: Any, cursor: str) -> Any:
    """The condition "after the cursor's row" in a (time desc, id desc) order; ValueError for a bad cursor."""
    from sqlalchemy import and_, or_

    try:
        text, id_text = cursor.rsplit("~", 1)
        at, row_id = datetime.fromisoformat(text), int(id_text)
    except ValueError:
        raise ValueError(f"not a page cursor: {cursor[:60]!r}") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return or_(moment < at, and_(moment == at, id_column < row_id))
