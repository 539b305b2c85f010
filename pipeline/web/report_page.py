"""``serambi report --format html``: the report as one self-contained page, to mail or archive.

The page holds everything it shows: the board's stylesheet inline, the charts as inline SVG drawn here, no
script and no URL of any host, so it opens offline and anywhere. It shows the rows ``serambi report`` prints
(the same figures as ``--format json``), in the order it prints them.

Example::

    html = render_report(rows, since=since, until=until)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from importlib.resources import files
from typing import Any

from pipeline.domain.classify import ClassThresholds

__all__ = ["human_duration", "render_report"]

Row = Mapping[str, Any]
_CLASSES = {
    "dinner_party": "Dinner party",
    "mixed": "Mixed",
    "soapbox": "Soapbox",
    "insufficient_data": "Insufficient data",
}
_COLUMNS = (  # (field, title, unit)
    ("agency_id", "Agency", "text"),
    ("class", "Class", "class"),
    ("citizen_messages", "Messages", "count"),
    ("answered", "Answered", "count"),
    ("overdue", "Overdue", "count"),
    ("removed", "Removed", "count"),
    ("needs_reply_messages", "Need a reply", "count"),
    ("reply_rate", "Reply rate", "ratio"),
    ("needs_reply_rate", "Reply rate (need a reply)", "ratio"),
    ("sla_compliance", "Within SLA", "ratio"),
    ("median_response_seconds", "Median reply", "seconds"),
    ("p90_response_seconds", "p90 reply", "seconds"),
    ("median_business_seconds", "Median (business hours)", "seconds"),
    ("two_way_ratio", "Two-way", "ratio"),
    ("pull_share", "Pull", "ratio"),
    ("backlog", "Backlog", "count"),
    ("oldest_unanswered_seconds", "Oldest waiting", "seconds"),
)
_MINUTE, _HOUR, _DAY, _YEAR = 60, 3600, 86400, 365.25 * 86400
_EXTRA_CSS = """
.report svg.quadrant { max-width: 760px; margin: 0 auto; }
.report .top { align-items: center; }
.report .meta { margin: 0; color: #cbd5e1; font-size: 0.9rem; text-align: right; }
.report svg text { font-family: system-ui, sans-serif; }
svg .bar-sla { fill: #0d9488; fill-opacity: 0.8; }
svg .bar-p90 { fill: #94a3b8; }
svg .key { font-size: 12px; fill: #334155; }
"""


def human_duration(seconds: float) -> str:
    """An age or a delay in at most 7 characters, in the units a person reads.

    Examples: ``45s``, ``17m``, ``5h 12m``, ``3d 4h``, ``420d``, ``56.9y``; beyond 999 years ``>999y``
    (only a wrong clock makes one), and a negative duration reads ``0s``.
    """
    whole = max(0, round(seconds))
    if whole < 2 * _MINUTE:
        return f"{whole}s"
    if whole < 2 * _HOUR:
        return f"{whole // _MINUTE}m"
    if whole < 2 * _DAY:
        return f"{whole // _HOUR}h {whole % _HOUR // _MINUTE}m"
    if whole < 100 * _DAY:
        return f"{whole // _DAY}d {whole % _DAY // _HOUR}h"
    if whole < 2 * _YEAR:
        return f"{whole // _DAY}d"
    years = whole / _YEAR
    return f"{years:.1f}y" if years < 999.95 else ">999y"  # what 7 characters hold


def _text(unit: str, value: Any) -> str:
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{100 * float(value):.0f}%"
    if unit == "seconds":
        return human_duration(float(value))
    if unit == "count":
        return f"{int(value):,}"
    return str(value)


def _badge(cls: Any) -> str:
    key = str(cls)
    known = key if key in _CLASSES else "unknown"
    return f'<span class="badge badge-{known}">{escape(_CLASSES.get(key, key))}</span>'


def _table(rows: Sequence[Row]) -> str:
    head = "".join(f'<th class="u-{unit}" scope="col">{escape(title)}</th>' for _, title, unit in _COLUMNS)
    body = []
    for row in rows:
        cells = []
        for field, _, unit in _COLUMNS:
            shown = _badge(row.get(field)) if unit == "class" else escape(_text(unit, row.get(field)))
            cells.append(f'<td class="u-{unit}">{shown}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        body.append(f'<tr><td class="empty" colspan="{len(_COLUMNS)}">No agency yet.</td></tr>')
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _svg(tag: str, body: str = "", **attrs: Any) -> str:
    rendered = "".join(f' {name.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for name, value in attrs.items())
    return f"<{tag}{rendered}>{body}</{tag}>"


@dataclass
class _Labels:
    """Bubble labels that cover no obstacle (a bubble, a zone name, another label); else left to the tooltip."""

    bounds: tuple[float, float, float, float]  # where labels may go (x1, y1, x2, y2): off the axes' labels
    placed: list[tuple[float, float, float, float]]

    def place(self, text: str, cx: float, cy: float, r: float) -> str:
        w = len(text) * 6.3
        sides = ((cx + r + 3, cy + 4, "start"), (cx - r - 3, cy + 4, "end"), (cx, cy - r - 4, "middle"))
        for lx, ly, anchor in (*sides, (cx, cy + r + 12, "middle")):
            x1 = {"start": lx, "end": lx - w, "middle": lx - w / 2}[anchor]
            box = (x1, ly - 10, x1 + w, ly + 2)
            free = not any(box[0] < p[2] and box[2] > p[0] and box[1] < p[3] and box[3] > p[1] for p in self.placed)
            x_min, y_min, x_max, y_max = self.bounds
            if free and box[0] >= x_min and box[2] <= x_max and box[1] >= y_min and box[3] <= y_max:
                self.placed.append(box)
                return _svg(
                    "text", escape(text), class_="bubble-label", x=f"{lx:.1f}", y=f"{ly:.1f}", text_anchor=anchor
                )
        return ""


def _quadrant(rows: Sequence[Row], t: ClassThresholds) -> str:
    plotted = [r for r in rows if r.get("two_way_ratio") is not None and r.get("reply_rate") is not None]
    if not plotted:
        return '<p class="empty">No agency has both a two-way ratio and a reply rate in this window.</p>'
    width, height, left, right, top, bottom = 600, 430, 56, 22, 14, 48
    pw, ph = width - left - right, height - top - bottom

    def x(v: float) -> float:
        return left + v * pw

    def y(v: float) -> float:
        return top + (1 - v) * ph

    parts = [
        _svg(
            "rect",
            class_="zone-dinner",
            x=x(t.dinner_min_two_way),
            y=y(1),
            width=x(1) - x(t.dinner_min_two_way),
            height=y(t.dinner_min_reply_rate) - y(1),
        ),
        _svg("rect", class_="zone-soapbox", x=x(0), y=y(1), width=x(t.soapbox_max_two_way) - x(0), height=ph),
        _svg(
            "rect",
            class_="zone-soapbox",
            x=x(t.soapbox_max_two_way),
            y=y(t.soapbox_max_reply_rate),
            width=x(1) - x(t.soapbox_max_two_way),
            height=y(0) - y(t.soapbox_max_reply_rate),
        ),
    ]
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts += [
            _svg("line", class_="grid", x1=x(v), x2=x(v), y1=y(0), y2=y(1)),
            _svg("line", class_="grid", x1=x(0), x2=x(1), y1=y(v), y2=y(v)),
            _svg("text", f"{v:.0%}", class_="tick", x=x(v), y=y(0) + 18, text_anchor="middle"),
            _svg("text", f"{v:.0%}", class_="tick", x=x(0) - 8, y=y(v) + 4, text_anchor="end"),
        ]
    parts += [
        _svg("line", class_="reference", x1=x(0), x2=x(1), y1=y(0.9), y2=y(0.9)),
        _svg("text", "Meta responsiveness badge: 90 %", class_="reference-label", x=x(0) + 6, y=y(0.9) - 5),
        _svg(
            "text", "Dinner party", class_="zone-label", x=x(1) - 8, y=y(t.dinner_min_reply_rate) - 8, text_anchor="end"
        ),
        _svg("text", "Soapbox", class_="zone-label", x=x(0) + 8, y=y(0) - 8),
        _svg(
            "text",
            "Two-way ratio: replies / (replies + posts)",
            class_="axis",
            x=left + pw / 2,
            y=height - 8,
            text_anchor="middle",
        ),
        _svg(
            "text",
            "Reply rate: answered / (answered + overdue)",
            class_="axis",
            x=14,
            y=top + ph / 2,
            text_anchor="middle",
            transform=f"rotate(-90 14 {top + ph / 2})",
        ),
    ]
    most = max(1, *(int(r.get("citizen_messages") or 0) for r in plotted))
    bubbles = [
        (
            row,
            x(float(row["two_way_ratio"])),
            y(float(row["reply_rate"])),
            5 + 21 * math.sqrt(int(row.get("citizen_messages") or 0) / most),
        )
        for row in sorted(plotted, key=lambda r: -int(r.get("citizen_messages") or 0))  # small bubbles on top
    ]
    zone = (x(1) - 126, y(t.dinner_min_reply_rate) - 20, x(1), y(t.dinner_min_reply_rate))
    soapbox = (x(0), y(0) - 22, x(0) + 90, y(0))
    reference = (x(0), y(0.9) - 16, x(0) + 200, y(0.9))
    labels = _Labels(
        (left, 0, width, y(0)),
        [zone, soapbox, reference, *((cx - r, cy - r, cx + r, cy + r) for _, cx, cy, r in bubbles)],
    )
    texts = []
    for row, cx, cy, r in bubbles:
        tip = (
            f"{row['agency_id']}: two-way {_text('ratio', row['two_way_ratio'])}, reply rate "
            f"{_text('ratio', row['reply_rate'])}, {_text('count', row.get('citizen_messages'))} citizen messages"
        )
        circle = _svg("circle", "", cx=f"{cx:.1f}", cy=f"{cy:.1f}", r=f"{r:.1f}", class_=f"dot-{row.get('class')}")
        parts.append(_svg("g", _svg("title", escape(tip)) + circle, class_="bubble"))
        texts.append(labels.place(str(row["agency_id"]), cx, cy, r))
    chart = _svg(
        "svg",
        "".join(parts + texts),
        viewBox=f"0 0 {width} {height}",
        class_="quadrant",
        role="img",
        aria_label="Two-way ratio against reply rate per agency",
    )
    missing = len(rows) - len(plotted)
    note = f"Not shown: {missing} of {len(rows)} agencies, without a reply rate or a two-way ratio."
    note = f'<p class="footnote">{note}</p>'
    return chart + (note if missing else "")


def _bars(rows: Sequence[Row], series: Sequence[tuple[str, str, str]], unit: str, scale_max: float) -> str:
    """Grouped horizontal bars per agency: ``series`` is ``(field, css class, legend text)``."""
    shown = [r for r in rows if any(r.get(field) is not None for field, _, _ in series)]
    if not shown:
        return '<p class="empty">No figure in this window.</p>'
    width, left, right, bar_h, gap = 600, 130, 70, 11, 10
    row_h = bar_h * len(series) + gap
    height = 26 + row_h * len(shown)
    parts = []
    for i, (_, css, legend) in enumerate(series):
        parts.append(_svg("rect", "", class_=css, x=left + i * 150, y=4, width=12, height=12, rx=2))
        parts.append(_svg("text", escape(legend), class_="key", x=left + i * 150 + 18, y=15))
    for n, row in enumerate(shown):
        top = 26 + n * row_h
        parts.append(
            _svg(
                "text",
                escape(str(row["agency_id"])),
                class_="tick",
                x=left - 8,
                y=top + bar_h * len(series) / 2 + 4,
                text_anchor="end",
            )
        )
        for i, (field, css, _) in enumerate(series):
            value = row.get(field)
            length = 0.0 if value is None else float(value) / scale_max * (width - left - right)
            y = top + i * bar_h
            parts.append(
                _svg("rect", "", class_=css, x=left, y=y, width=f"{max(length, 1):.1f}", height=bar_h - 2, rx=2)
            )
            parts.append(
                _svg(
                    "text",
                    escape(_text(unit, value)),
                    class_="bar-value",
                    x=f"{left + length + 5:.1f}",
                    y=y + bar_h - 3,
                )
            )
    return _svg("svg", "".join(parts), viewBox=f"0 0 {width} {height}", class_="bars", role="img")


def _css() -> str:
    board = (files("pipeline.web") / "static" / "board.css").read_text(encoding="utf-8")
    dots = "".join(f"svg .dot-{key} {{ fill: var(--class-{key}); }}\n" for key in _CLASSES)
    return board + _EXTRA_CSS + dots


def _legend(t: ClassThresholds) -> str:
    rules = {
        "dinner_party": f"two-way ratio ≥ {t.dinner_min_two_way:.0%} and reply rate ≥ {t.dinner_min_reply_rate:.0%}",
        "soapbox": f"two-way ratio ≤ {t.soapbox_max_two_way:.0%} or reply rate ≤ {t.soapbox_max_reply_rate:.0%}",
        "mixed": "in between",
        "insufficient_data": f"under {t.min_messages} citizen messages and under {t.min_output} posts + replies",
    }
    items = "".join(f'<span class="legend-item">{_badge(k)}<span>{escape(v)}</span></span>' for k, v in rules.items())
    return f'<div class="legend">{items}</div>'


def render_report(  # noqa: PLR0913 - the page's whole heading
    rows: Sequence[Row],
    *,
    since: datetime | None,
    until: datetime,
    generated_at: datetime | None = None,
    tz: tzinfo = UTC,
    thresholds: ClassThresholds | None = None,
) -> str:
    """The report's ``rows`` (fields of ``REPORT_FIELDS``, in print order) as a self-contained HTML page.

    ``since`` None means all data; times are shown in ``tz``.
    """
    t = thresholds or ClassThresholds()
    made = generated_at or datetime.now(UTC)
    start = f"{since.astimezone(tz):%Y-%m-%d %H:%M}" if since else "all data"
    window = f"{start} to {until.astimezone(tz):%Y-%m-%d %H:%M} ({tz})"
    slowest = max((float(r["p90_response_seconds"]) for r in rows if r.get("p90_response_seconds")), default=1.0)
    rates = _bars(rows, [("reply_rate", "bar", "reply rate"), ("sla_compliance", "bar-sla", "within SLA")], "ratio", 1)
    times = _bars(
        rows,
        [("median_response_seconds", "bar", "median"), ("p90_response_seconds", "bar-p90", "90th percentile")],
        "seconds",
        slowest,
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Serambi cross-agency report, {escape(window)}</title>
<style>{_css()}</style></head>
<body class="report">
<header class="top"><div class="brand"><h1>Serambi cross-agency report</h1>
<p class="tagline">Do government agencies answer citizens on social media?</p></div>
<p class="meta">Window: {escape(window)}<br>statuses judged at its end · made {made.astimezone(tz):%Y-%m-%d %H:%M}</p>
</header>
<main>
<section class="card"><div class="card-head"><h2>Leaderboard</h2><p class="hint">{len(rows)} agencies</p></div>
{_legend(t)}<div class="table-wrap">{_table(rows)}</div>
<p class="footnote">Reply rate = answered / (answered + overdue). Need a reply: the messages that ask for an
answer (a question, request, complaint or report of a problem); their reply rate is the same ratio over them alone.
Within SLA = answered within the agency's SLA /
(answered + overdue). Two-way = replies / (replies + posts). Pull = posts linking to an official domain / output.
Times to the first reply are wall clock; "business hours" counts the agency's working hours only. Backlog: messages
unanswered at the window's end, whatever their age. "–" = no data.</p></section>
<section class="card"><div class="card-head"><h2>Soapbox or dinner party?</h2>
<p class="hint">Two-way ratio × reply rate · bubble area = citizen messages</p></div>{_quadrant(rows, t)}</section>
<div class="grid-2">
<section class="card"><div class="card-head"><h2>Reply rate and SLA</h2></div>{rates}</section>
<section class="card"><div class="card-head"><h2>Time to the first reply</h2></div>{times}</section>
</div>
</main>
<footer class="foot">Serambi · serambi report --format html · the figures of serambi report --format json</footer>
</body></html>
"""
