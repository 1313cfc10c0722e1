"""The console's server-drawn charts: round axes, one bar per count, the same numbers in the table, inert text."""

from __future__ import annotations

import itertools
import math
import re
from datetime import date, timedelta

from api.console.charts import CATEGORY_COLOURS, Series, axis, category_series, stacked_days


def test_the_axis_ends_on_a_round_number_above_the_highest_bar() -> None:
    for highest in [0, 1, 2, 3, 5, 7, 9, 10, 11, 19, 23, 99, 101, 250, 999, 1234, 48_000, 10**7 + 1]:
        top, ticks = axis(highest)
        assert top >= highest and ticks[0] == 0 and ticks[-1] == top
        steps = {b - a for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1 and 2 <= len(ticks) <= 6, (highest, ticks)
        step = steps.pop()
        assert step >= 1 and int(str(step).rstrip("0") or "0") in (1, 2, 5), (highest, step)


def test_bars_titles_and_table_carry_the_same_numbers() -> None:
    first = date(2026, 11, 1)
    values = {(first, "hard_bounce"): 18, (first, "mailbox_full"): 4, (first + timedelta(days=2), "hard_bounce"): 35}
    chart = stacked_days("t", "Failures", first, first + timedelta(days=6), category_series(), values)
    assert [s.key for s in chart.series] == ["hard_bounce", "mailbox_full"]  # categories with nothing are left out
    assert [r[0] for r in chart.rows] == [first + timedelta(days=i) for i in range(7)]
    assert chart.rows[0][1:] == ([18, 4], 22) and chart.rows[2][1:] == ([35, 0], 35)
    assert chart.totals == [53, 4] and chart.total == 57
    bars = re.findall(r'<rect [^>]*fill="([^"]+)"><title>([^<]+)</title></rect>', str(chart.svg))
    assert sorted(t for _c, t in bars) == ["2026-11-01 hard_bounce: 18", "2026-11-01 mailbox_full: 4",
                                           "2026-11-03 hard_bounce: 35"]
    assert {c for c, _t in bars} == {CATEGORY_COLOURS["hard_bounce"], CATEGORY_COLOURS["mailbox_full"]}
    assert "Nov 1" in str(chart.svg) and 'role="img"' in str(chart.svg)
    assert "http" not in str(chart.svg).replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch


def test_text_in_a_chart_is_escaped() -> None:
    day = date(2026, 11, 1)
    chart = stacked_days("x", "<script>alert(1)</script>", day, day, [Series("a", "<img src=x>", "#000000")],
                         {(day, "a"): 1})
    assert "<script>" not in str(chart.svg) and "<img" not in str(chart.svg) and "&lt;img src=x&gt;" in str(chart.svg)


def test_category_colours_read_on_white_and_stay_apart() -> None:
    def channel(c: int) -> float:
        c2 = c / 255
        return c2 / 12.92 if c2 <= 0.03928 else ((c2 + 0.055) / 1.055) ** 2.4

    def rgb(colour: str) -> list[float]:
        return [channel(int(colour[i:i + 2], 16)) for i in (1, 3, 5)]

    def lab(colour: str) -> tuple[float, float, float]:
        r, g, b = rgb(colour)
        x, y, z = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
                   (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
        f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
        return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])

    for category, colour in CATEGORY_COLOURS.items():
        r, g, b = rgb(colour)
        assert 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05) >= 3.0, category  # WCAG non-text contrast
    for (a, ca), (b, cb) in itertools.combinations(CATEGORY_COLOURS.items(), 2):
        assert math.dist(lab(ca), lab(cb)) >= 20, (a, b)
