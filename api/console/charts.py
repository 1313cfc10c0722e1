"""Charts drawn on the server as SVG: no script, no library, no request to any other host.

A chart is stacked bars per UTC day with a y axis of round numbers, dates on
the x axis and a ``<title>`` on every bar (what a pointer or a screen reader
gets). It comes with its table: the same numbers, per day and per series, so
nothing is only in the picture. All text goes through :func:`html.escape`.

Colours: one per category, each at least 3:1 against white (WCAG's bar for
graphics) and at least 20 apart from every other in CIELAB (lightness as well
as hue differ, for the common colour-vision deficiencies); the legend and the
table name every colour, so none is the only way to tell two apart.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from markupsafe import Markup

from responsemaster.categories import CATEGORIES

CATEGORY_COLOURS: dict[str, str] = {
    "hard_bounce": "#b2182b",
    "soft_bounce": "#d6604d",
    "mailbox_full": "#9c6d00",
    "mail_block": "#762a83",
    "message_restriction": "#6b3e07",
    "delivery_status": "#737a84",
    "auto_reply": "#2166ac",
    "challenge_response": "#00796b",
    "feedback_loop": "#1b1b1b",
    "unsubscribe_request": "#c51b7d",
    "user_reply": "#1a8540",
}
assert set(CATEGORY_COLOURS) == set(CATEGORIES)
#: Sends per day: what the relay took, refused and put off.
SEND_SERIES = (("sent", "accepted by the relay", "#2166ac"), ("failed", "refused at send", "#b2182b"),
               ("deferred", "deferred (4xx)", "#d6604d"))

WIDTH, HEIGHT = 1000, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30
#: The widest a bar gets (a range of a few days would otherwise draw slabs).
MAX_BAR = 48


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


@dataclass
class Chart:
    """The SVG and its table (``rows``: a day and one number per series in ``series``, then the total)."""

    ident: str
    title: str
    svg: Markup
    series: list[Series]
    rows: list[tuple[date, list[int], int]] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.totals)


def category_series(categories: list[str] | None = None) -> list[Series]:
    return [Series(c, c, CATEGORY_COLOURS[c]) for c in (categories or CATEGORIES)]


def send_series() -> list[Series]:
    return [Series(key, label, colour) for key, label, colour in SEND_SERIES]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def axis(maximum: int) -> tuple[int, list[int]]:
    """The top of the y axis and its ticks: whole steps of 1, 2 or 5 x 10^n, four or five of them."""
    if maximum <= 0:
        return 1, [0, 1]
    raw = maximum / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(max(1, int(m * power)) for m in (1, 2, 5, 10) if raw <= m * power)
    top = math.ceil(maximum / step) * step
    return top, list(range(0, top + 1, step))


def _short(day: date) -> str:
    return f"{day.strftime('%b')} {day.day}"


def stacked_days(ident: str, title: str, first: date, last: date, series: list[Series],
                 values: dict[tuple[date, str], int]) -> Chart:
    """Stacked bars per day from ``values[(day, series key)]``; series with no count at all are left out."""
    days = days_between(first, last)
    shown = [s for s in series if any(values.get((d, s.key), 0) for d in days)]
    rows = [(d, [values.get((d, s.key), 0) for s in shown], sum(values.get((d, s.key), 0) for s in shown))
            for d in days]
    totals = [sum(r[1][i] for r in rows) for i in range(len(shown))]
    chart = Chart(ident, title, Markup(""), shown, rows, totals)
    chart.svg = _svg(chart, days)
    return chart


def _svg(chart: Chart, days: list[date]) -> Markup:
    esc = html.escape
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top, ticks = axis(max((r[2] for r in chart.rows), default=0))
    step = plot_w / max(1, len(days))
    gap = max(step * 0.15, step - MAX_BAR)
    summary = ", ".join(f"{t:,} {s.label}" for s, t in zip(chart.series, chart.totals, strict=True)) or "nothing"
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{chart.ident}-t {chart.ident}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart.ident}-t">{esc(chart.title)}</title>',
        f'<desc id="{chart.ident}-d">{esc(_short(days[0]))} to {esc(_short(days[-1]))}: {esc(summary)}. '
        'The table below has every number.</desc>',
    ]
    for tick in ticks:
        y = TOP + plot_h - tick / top * plot_h
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7ec"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#475467">'
                   f'{tick:,}</text>')
    every = max(1, math.ceil(len(days) / 8))
    for i, (day, counts, _total) in enumerate(chart.rows):
        x = LEFT + i * step + gap / 2
        base = TOP + plot_h
        for s, n in zip(chart.series, counts, strict=True):
            if not n:
                continue
            h = n / top * plot_h
            base -= h
            out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{max(1.0, step - gap):.1f}" height="{h:.1f}" '
                       f'fill="{s.colour}"><title>{day.isoformat()} {esc(s.label)}: {n:,}</title></rect>')
        if i % every == 0:
            out.append(f'<line x1="{x + (step - gap) / 2:.1f}" x2="{x + (step - gap) / 2:.1f}" y1="{TOP + plot_h}" '
                       f'y2="{TOP + plot_h + 4}" stroke="#98a2b3"/>')
            out.append(f'<text x="{x + (step - gap) / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="12" '
                       f'fill="#475467">{esc(_short(day))}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#98a2b3"/>')
    if not chart.series:
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="13" '
                   'fill="#667085">nothing in this range</text>')
    out.append("</svg>")
    return Markup("".join(out))


def swatch(colour: str) -> Markup:
    """A small square of ``colour`` for legends and table headers."""
    return Markup(f'<svg class="swatch" width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
                  f'fill="{html.escape(colour)}"/></svg>')
