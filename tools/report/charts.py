"""Small SVG charts drawn on the server: horizontal bars, a line over days, and interval
bars for experiment variants. The output is plain SVG text (no script, no external
fonts or styles), so it works inline in a page, in a file opened offline and in email.
All labels are XML-escaped: prospect and template names are data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2f6fdf", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
FONT = "font-family='system-ui,-apple-system,Segoe UI,Roboto,sans-serif'"


def _fmt(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _empty(title: str, width: int) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(title)}' "
        f"width='{width}' height='60' viewBox='0 0 {width} 60' class='chart'>"
        f"<text x='8' y='34' {FONT} font-size='13' fill='#666'>{escape(title)}: no data in this period</text></svg>"
    )


def hbar(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 520,
    unit: str = "",
    color: str = PALETTE[0],
) -> str:
    """One horizontal bar per (label, value), largest scale at full width."""
    if not rows:
        return _empty(title, width)
    label_w, bar_h, gap, top = 170, 20, 6, 28
    height = top + len(rows) * (bar_h + gap) + 8
    peak = max((v for _, v in rows), default=0) or 1
    span = width - label_w - 70
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(title)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' class='chart'>",
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='16' {FONT} font-size='13' font-weight='600' fill='#222'>{escape(title)}</text>",
    ]
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = max(1.0, span * value / peak) if value else 0
        short = label if len(label) <= 26 else label[:25] + "\u2026"
        parts.append(
            f"<text x='{label_w - 6}' y='{y + 14}' {FONT} font-size='12' fill='#333' "
            f"text-anchor='end'>{escape(short)}</text>"
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h}' rx='3' fill='{color}'>"
            f"<title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>"
            f"<text x='{label_w + w + 5:.1f}' y='{y + 14}' {FONT} font-size='12' fill='#333'>"
            f"{_fmt(value)}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line(
    series: dict[str, Sequence[tuple[str, float]]], *, title: str, width: int = 520, height: int = 200
) -> str:
    """One line per series over the same x labels (e.g. days), with a legend."""
    labels = sorted({x for points in series.values() for x, _ in points})
    if not labels:
        return _empty(title, width)
    left, right, top, bottom = 40, 24, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for points in series.values() for _, v in points), default=0) or 1
    step = plot_w / max(1, len(labels) - 1)
    xs = {lab: left + (i * step if len(labels) > 1 else plot_w / 2) for i, lab in enumerate(labels)}
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(title)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' class='chart'>",
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='16' {FONT} font-size='13' font-weight='600' fill='#222'>{escape(title)}</text>",
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#bbb'/>",
        f"<text x='{left - 6}' y='{top + 4}' {FONT} font-size='11' fill='#666' text-anchor='end'>{_fmt(peak)}</text>",
        f"<text x='{left - 6}' y='{top + plot_h}' {FONT} font-size='11' fill='#666' text-anchor='end'>0</text>",
    ]
    every = max(1, len(labels) // 6)
    for i, lab in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(
                f"<text x='{xs[lab]:.1f}' y='{top + plot_h + 16}' {FONT} font-size='11' fill='#666' "
                f"text-anchor='middle'>{escape(lab[5:] if len(lab) == 10 else lab)}</text>"
            )
    for n, (name, points) in enumerate(sorted(series.items())):
        color = PALETTE[n % len(PALETTE)]
        coords = [(xs[x], top + plot_h - plot_h * v / peak, x, v) for x, v in sorted(points)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>")
        for x, y, lab, v in coords:
            parts.append(
                f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{color}'>"
                f"<title>{escape(name)} {escape(lab)}: {_fmt(v)}</title></circle>"
            )
        lx = left + n * 120
        parts.append(
            f"<rect x='{lx}' y='{height - 14}' width='10' height='10' fill='{color}'/>"
            f"<text x='{lx + 14}' y='{height - 5}' {FONT} font-size='11' fill='#333'>{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def intervals(rows: Sequence[tuple[str, float, float, float]], *, title: str, width: int = 520) -> str:
    """Per (label, mean, low, high) a dot at the mean and a bar over the interval, on 0-100%."""
    if not rows:
        return _empty(title, width)
    label_w, row_h, top = 170, 24, 28
    span = width - label_w - 20
    height = top + len(rows) * row_h + 24
    peak = min(1.0, max(0.05, max(h for _, _, _, h in rows) * 1.1))
    x = lambda v: label_w + span * min(v, peak) / peak  # noqa: E731
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(title)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' class='chart'>",
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='16' {FONT} font-size='13' font-weight='600' fill='#222'>{escape(title)}</text>",
    ]
    for i, (label, mean, low, high) in enumerate(rows):
        y = top + i * row_h + 10
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f"<text x='{label_w - 6}' y='{y + 4}' {FONT} font-size='12' fill='#333' text-anchor='end'>"
            f"{escape(label[:26])}</text>"
            f"<line x1='{x(low):.1f}' y1='{y}' x2='{x(high):.1f}' y2='{y}' stroke='{color}' stroke-width='6' "
            f"stroke-linecap='round' opacity='0.45'/>"
            f"<circle cx='{x(mean):.1f}' cy='{y}' r='5' fill='{color}'>"
            f"<title>{escape(label)}: {mean:.1%} (95% interval {low:.1%} to {high:.1%})</title></circle>"
        )
    axis_y = top + len(rows) * row_h + 6
    parts.append(f"<line x1='{label_w}' y1='{axis_y}' x2='{label_w + span}' y2='{axis_y}' stroke='#bbb'/>")
    for frac in (0, 0.5, 1):
        parts.append(
            f"<text x='{label_w + span * frac:.1f}' y='{axis_y + 14}' {FONT} font-size='11' fill='#666' "
            f"text-anchor='middle'>{peak * frac:.0%}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
