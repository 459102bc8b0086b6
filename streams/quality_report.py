"""A responsible unit's monthly quality report as one self-contained HTML page (inline SVG charts,
no script, nothing fetched): its score per day, each resource's score and problems, the formula."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from streams.quality_score import WEIGHTS, ResourceScore

WIDTH, HEIGHT, PAD = 760, 240, 40


@dataclass(frozen=True, slots=True)
class UnitMonth:
    """What one report shows: the unit, its contact line, the month, its resources' scores over
    the month and its score on each day (None: nothing of it counted that day)."""

    unit: str
    contact: str
    month: str
    since: str
    until: str
    scores: Sequence[ResourceScore]
    daily: Sequence[tuple[str, float | None]]

    @property
    def score(self) -> float | None:
        """The unit's score over the month: the mean of its resources' (None: it has none)."""
        return sum(s.score for s in self.scores) / len(self.scores) if self.scores else None


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def line_chart(points: Sequence[tuple[str, float | None]]) -> str:
    """The unit's score per day (0–100) as an SVG line, with guides at 60, 80 and 100."""
    span = max(1, len(points) - 1)

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / span

    def y(score: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * score / 100

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="score per day">']
    for level in (60, 80, 100):
        parts.append(
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(level):.1f}" y2="{y(level):.1f}" class="guide"/>'
            f'<text x="{PAD - 6}" y="{y(level) + 4:.1f}" class="axis" text-anchor="end">{level}</text>'
        )
    known = [(i, s) for i, (_, s) in enumerate(points) if s is not None]
    if known:
        line = " ".join(f"{x(i):.1f},{y(s):.1f}" for i, s in known)
        parts.append(f'<polyline points="{line}" class="line"/>')
        parts += [
            f'<circle cx="{x(i):.1f}" cy="{y(s):.1f}" r="3" class="dot">'
            f"<title>{escape(points[i][0])}: {s:.1f}</title></circle>"
            for i, s in known
        ]
    for i, (day, _) in enumerate(points):
        if i in (0, len(points) - 1) or i % 7 == 0:
            at = f'x="{x(i):.1f}" y="{HEIGHT - PAD + 16}"'
            parts.append(f'<text {at} class="axis" text-anchor="middle">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(scores: Sequence[ResourceScore]) -> str:
    """Each resource's score as a horizontal bar, lowest first."""
    rows = sorted(scores, key=lambda s: (s.score, s.resource))
    height = 24 * len(rows) + 10
    label = 260
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="score per resource">']
    for i, s in enumerate(rows):
        top = 5 + 24 * i
        width = (WIDTH - label - 60) * s.score / 100
        kind = "bad" if s.score < 60 else "warn" if s.score < 80 else "good"
        parts.append(
            f'<text x="{label - 8}" y="{top + 15}" class="axis" text-anchor="end">{escape(s.resource)}</text>'
            f'<rect x="{label}" y="{top}" width="{width:.1f}" height="18" class="bar {kind}"/>'
            f'<text x="{label + width + 6:.1f}" y="{top + 15}" class="axis">{s.score:.1f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render(report: UnitMonth) -> str:
    """The page."""
    scores = report.scores
    n = max(1, len(scores))
    mean = {
        name: sum(getattr(s, name) for s in scores) / n for name in ("validity", "completeness", "timeliness")
    }
    score = report.score
    figures = [
        ("score", "–" if score is None else f"{score:.1f}"),
        ("validity", _pct(mean["validity"])),
        ("completeness", _pct(mean["completeness"])),
        ("timeliness", _pct(mean["timeliness"])),
        ("stale resources", str(sum(1 for s in scores if not s.fresh))),
        ("records failing checks", f"{sum(s.invalid for s in scores):,}"),
    ]
    rows = "".join(
        f'<tr data-resource="{escape(s.resource)}"><td>{escape(s.resource)}</td>'
        f"<td class=n>{s.score:.1f}</td>"
        f"<td class=n>{_pct(s.validity)}</td><td class=n>{_pct(s.completeness)}</td>"
        f"<td class=n>{_pct(s.timeliness)}</td><td class=n>{s.seen:,}</td>"
        f"<td>{escape('; '.join(s.problems) or '-')}</td></tr>"
        for s in sorted(scores, key=lambda s: (s.score, s.resource))
    )
    weights = " + ".join(f"{w:.2f}·{escape(name)}" for name, w in WEIGHTS.items())
    shown = "" if score is None else f"{score:.1f}"
    period = f"{report.month} ({report.since} → {report.until})"
    tiles = "".join(
        f'<div class="figure"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
        for k, v in figures
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>数据质量月报 · {escape(report.unit)} · {escape(report.month)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; margin: 24px; color: #1c2430; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} h2 {{ font-size: 15px; margin: 24px 0 8px; color: #445; }}
.muted {{ color: #667; font-size: 13px; }}
.figures {{ display: flex; gap: 28px; margin-top: 16px; }}
.figure .v {{ font-size: 26px; font-weight: 700; }} .figure .k {{ font-size: 12px; color: #667; }}
.chart {{ width: 100%; max-width: {WIDTH}px; }}
.guide {{ stroke: #dde; }} .axis {{ font-size: 11px; fill: #556; }}
.line {{ fill: none; stroke: #2f6fde; stroke-width: 2; }} .dot {{ fill: #2f6fde; }}
.bar.good {{ fill: #2e9e55; }} .bar.warn {{ fill: #e0a800; }} .bar.bad {{ fill: #d33; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ padding: 4px 10px; border-bottom: 1px solid #e4e6ea; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head>
<body data-unit="{escape(report.unit)}" data-score="{shown}">
<h1>数据质量月报 · {escape(report.unit)}</h1>
<div class="muted">{escape(period)} · 联系人 {escape(report.contact)}</div>
<div class="figures">{tiles}</div>
<h2>Score per day</h2>{line_chart(report.daily)}
<h2>Score per resource</h2>{bar_chart(scores)}
<h2>Resources</h2>
<table><tr><th>resource</th><th>score</th><th>valid</th><th>complete</th><th>timely</th><th>records</th><th>problems</th></tr>{rows}</table>
<p class="muted">score = 100 × ({weights}); a unit's score is the mean of its resources'.
Made by <code>sharebus quality report</code> from the bus's own counts.</p>
</body></html>
"""
