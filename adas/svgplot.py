"""Small inline-SVG plotting for the self-contained HTML reports (scenarios, replay).

Written for this project: the reports must open offline with no script or CDN, and a few
polylines and rectangles are all they draw.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

W, PANEL_H, PAD_L, PAD_R, PAD_T = 760, 120, 56, 16, 14


def fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.2f}"
    return html.escape(str(x))


def polyline(ts: list[float], ys: list[float], sx: Any, sy: Any, style: str) -> str:
    """SVG polylines through the finite points (gaps where a value is missing)."""
    parts: list[list[str]] = []
    cur: list[str] = []
    for t, y in zip(ts, ys, strict=False):
        if y is None or not math.isfinite(y):
            if len(cur) > 1:
                parts.append(cur)
            cur = []
            continue
        cur.append(f"{sx(t):.1f},{sy(y):.1f}")
    if len(cur) > 1:
        parts.append(cur)
    return "".join(f'<polyline points="{" ".join(p)}" {style}/>' for p in parts)


LEGEND_H = 16  # the top strip of a panel holds the legend; curves are drawn below it


def nice_range(lo: float, hi: float, min_span: float = 1.0) -> tuple[float, float]:
    """An axis range holding [lo, hi] with 5 % of its span spare at each end, its limits on
    multiples of a 1-2-5 step (a tenth of the span or less), at least ``min_span`` wide."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return 0.0, min_span
    pad = 0.05 * max(hi - lo, min_span)
    lo, hi = lo - pad, hi + pad
    raw = max(hi - lo, min_span) / 10.0
    step = 10.0 ** math.floor(math.log10(raw))
    step *= next(m for m in (1.0, 2.0, 5.0, 10.0) if m * step >= raw)
    a, b = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if b - a < min_span:
        b = a + math.ceil(min_span / step) * step
    return a, b


def panel(
    y0: float, ts: list[float], curves: list[tuple[str, list[float], str]], ymax: float,
    unit: str, t_end: float, ymin: float = 0.0,
) -> str:  # fmt: skip
    """One plot panel at vertical offset ``y0``: axes, a ymin..ymax scale, the curves, and a
    legend in a strip above the curves (labels never cross a curve)."""
    x_span = W - PAD_L - PAD_R
    span = max(ymax - ymin, 1e-9)
    plot_h = PANEL_H - LEGEND_H

    def sx(t: float) -> float:
        return PAD_L + x_span * t / max(t_end, 1e-6)

    def sy(y: float) -> float:
        return y0 + PANEL_H - plot_h * (min(max(y, ymin), ymax) - ymin) / span

    out = [
        f'<rect x="{PAD_L}" y="{y0}" width="{x_span}" height="{PANEL_H}" fill="#fafafa" '
        'stroke="#bbb"/>',
        f'<line x1="{PAD_L}" y1="{y0 + LEGEND_H}" x2="{W - PAD_R}" y2="{y0 + LEGEND_H}" '
        'stroke="#e4e4e4"/>',
        f'<text x="4" y="{y0 + 10}" font-size="10">{html.escape(unit)}</text>',
        f'<text x="{PAD_L - 4}" y="{y0 + LEGEND_H + 8}" font-size="9" '
        f'text-anchor="end">{ymax:g}</text>',
        f'<text x="{PAD_L - 4}" y="{y0 + PANEL_H}" font-size="9" text-anchor="end">{ymin:g}</text>',
    ]
    for i, (name, ys, colour) in enumerate(curves):
        dash = ' stroke-dasharray="4 3"' if name.startswith("est") else ""
        out.append(polyline(ts, ys, sx, sy, f'fill="none" stroke="{colour}"{dash}'))
        lx = PAD_L + 8 + 130 * i
        label = html.escape(name)
        out.append(f'<text x="{lx}" y="{y0 + 12}" font-size="10" fill="{colour}">{label}</text>')
    return "".join(out)


def table(
    rows: Sequence[dict[str, Any]],
    cols: Sequence[tuple[str, str]],
    style: Callable[[str, Any], str] | None = None,
) -> str:
    """An HTML table of ``rows`` (dicts) with columns (key, label); a row whose ``failed`` is
    non-zero gets class "fail". ``style(key, value)`` may give a cell's CSS."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
    body = []
    for r in rows:
        ok = r.get("failed", 0) == 0
        cells = []
        for key, _ in cols:
            v = r.get(key)
            css = style(key, v) if style is not None else ""
            attr = f' style="{css}"' if css else ""
            cells.append(f"<td{attr}>{fmt(v)}</td>")
        body.append(f'<tr class="{"ok" if ok else "fail"}">{"".join(cells)}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
