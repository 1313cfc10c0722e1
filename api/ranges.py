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
from typing import Literal

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
