"""Self-contained HTML report of an intrinsics calibration (inline SVG, no script, no CDN).

One page: the summary figures, per-view RMS bars (fit and held out; rejected views in red,
with the rejection threshold), the coverage map of where corners fell in the image, the
list of images without a detection, and the projection uncertainty map
(:mod:`calibration.uncertainty`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adas.svgplot import fmt, table
from calibration.errors import OutputError

_BAR_W, _BAR_H, _PAD = 760, 180, 48
_CSS = (
    "body{font-family:sans-serif;margin:24px;max-width:820px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 8px}"
    "tr.fail td{background:#fdd}"
)


def residual_bars(views: list[dict[str, Any]], threshold_px: float | None) -> str:
    """SVG bars: each view's RMS (blue used, red rejected) and held-out RMS (grey outline)."""
    if not views:
        return "<p>no views</p>"
    values = [v["rms_px"] or 0.0 for v in views] + [v["heldout_rms_px"] or 0.0 for v in views]
    top = max([*values, threshold_px or 0.0, 1e-6]) * 1.1
    n = len(views)
    step = (_BAR_W - _PAD - 8) / n
    height = _BAR_H + 60

    def y(v: float) -> float:
        return 10 + _BAR_H * (1 - v / top)

    out = [f'<svg width="{_BAR_W}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    out.append('<text x="4" y="20" font-size="10">px</text>')
    out.append(f'<text x="{_PAD - 4}" y="18" font-size="9" text-anchor="end">{top:.2f}</text>')
    out.append(
        f'<line x1="{_PAD}" y1="{10 + _BAR_H}" x2="{_BAR_W}" y2="{10 + _BAR_H}" stroke="#999"/>'
    )
    for i, v in enumerate(views):
        x = _PAD + i * step
        rms = v["rms_px"] or 0.0
        colour = "#3465a4" if v["used"] else "#cc0000"
        out.append(
            f'<rect x="{x + 1:.1f}" y="{y(rms):.1f}" width="{step * 0.45:.1f}" '
            f'height="{10 + _BAR_H - y(rms):.1f}" fill="{colour}">'
            f"<title>{html.escape(v['name'])}: {rms:.3f} px</title></rect>"
        )
        if v["heldout_rms_px"] is not None:
            h = v["heldout_rms_px"]
            out.append(
                f'<rect x="{x + 1 + step * 0.45:.1f}" y="{y(h):.1f}" width="{step * 0.45:.1f}" '
                f'height="{10 + _BAR_H - y(h):.1f}" fill="#ddd" stroke="#888">'
                f"<title>{html.escape(v['name'])} held out: {h:.3f} px</title></rect>"
            )
        label = html.escape(v["name"])
        out.append(
            f'<text transform="translate({x + step / 2:.1f},{14 + _BAR_H}) rotate(60)" '
            f'font-size="9">{label}</text>'
        )
    if threshold_px is not None:
        ty = y(threshold_px)
        out.append(
            f'<line x1="{_PAD}" y1="{ty:.1f}" x2="{_BAR_W}" y2="{ty:.1f}" stroke="#cc0000" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{_BAR_W - 4}" y="{ty - 3:.1f}" font-size="9" text-anchor="end" '
            f'fill="#cc0000">rejection threshold {threshold_px:.2f} px</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _grid_svg(
    values: list[list[Any]], size: tuple[int, int], width: int,
    cell: Callable[[int, int, Any, float, tuple[float, float, float, float]], str],
    overlay: Sequence[str] = (),
) -> str | None:  # fmt: skip
    """An SVG of ``width`` px over an image of ``size``, one cell per value (rows x cols), each
    drawn by ``cell(row, col, value, largest value, (x, y, w, h))``, then ``overlay``; None
    when there are no values."""
    rows, cols = len(values), len(values[0]) if values else 0
    if not rows or not cols:
        return None
    height = width * size[1] / size[0]
    cw, ch = width / cols, height / rows
    top = max(max(r) for r in values) or 1
    out = [
        f'<svg width="{width + 2}" height="{height + 2:.0f}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for r, row in enumerate(values):
        for c, v in enumerate(row):
            out.append(cell(r, c, v, top, (1 + c * cw, 1 + r * ch, cw, ch)))
    out.extend(overlay)
    out.append("</svg>")
    return "".join(out)


def coverage_svg(coverage: list[list[int]], size: tuple[int, int]) -> str:
    """SVG grid over the image area, each cell shaded by its corner count (count printed)."""

    def cell(r: int, c: int, n: int, top: float, box: tuple[float, float, float, float]) -> str:
        x, y, cw, ch = box
        shade = 255 - round(200 * n / top)
        fill = f"rgb({shade},{shade},255)" if n else "#fdd"
        return (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" fill="{fill}" '
            f'stroke="#999"/><text x="{x + 0.5 * cw:.1f}" y="{y + 0.55 * ch:.1f}" '
            f'font-size="11" text-anchor="middle">{n}</text>'
        )

    return _grid_svg(coverage, size, 480, cell) or "<p>no coverage</p>"


def uncertainty_svg(
    grid: dict[str, Any], size: tuple[int, int], band: tuple[int, int] | None = None
) -> str:
    """SVG map of the projection uncertainty: a cell per grid point shaded from white (0 px)
    to red (the map's maximum), its value in a tooltip, every other cell labelled, and the
    detection band's edges as dashed lines."""
    width = 720
    scale = width / size[0]

    def cell(r: int, c: int, v: float, top: float, box: tuple[float, float, float, float]) -> str:
        x, y, cw, ch = box
        shade = 255 - round(215 * v / top)
        text = (
            f'<text x="{x + 0.5 * cw:.1f}" y="{y + 0.65 * ch:.1f}" font-size="8" '
            f'text-anchor="middle">{v:.2f}</text>'
            if r % 2 == 0 and c % 2 == 0
            else ""
        )
        return (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" '
            f'fill="rgb(255,{shade},{shade})">'
            f"<title>u {grid['u'][c]:.0f}, v {grid['v'][r]:.0f}: {v:.3f} px</title></rect>{text}"
        )

    lines = [
        f'<line x1="1" y1="{1 + y * scale:.1f}" x2="{width + 1}" y2="{1 + y * scale:.1f}" '
        'stroke="#204a87" stroke-width="2" stroke-dasharray="6 4"/>'
        for y in band or ()
        if 0 < y < size[1]
    ]
    return _grid_svg(grid["sigma_px"], size, width, cell, lines) or "<p>no uncertainty map</p>"


def uncertainty_section(summary: dict[str, Any]) -> str:
    """The report's projection uncertainty: the per-depth figures and the map (if any)."""
    p = summary.get("projection_uncertainty")
    if not p:
        return ""
    if "error" in p:
        return f"<h2>Projection uncertainty</h2><p>not available: {html.escape(p['error'])}</p>"
    cols = [
        ("depth_m", "depth, m"), ("median_px", "median, px"), ("max_px", "max, px"),
        ("band_median_px", "band median, px"), ("band_max_px", "band max, px"),
    ]  # fmt: skip
    band = p["band"]
    size = (summary["image_width"], summary["image_height"])
    return (
        "<h2>Projection uncertainty</h2>"
        f"<p>{html.escape(p['definition'])}. Corner noise from the residuals: "
        f"{p['corner_noise_px']:.3f} px. Band where adas detects vehicles: rows "
        f"{band['rows'][0]}-{band['rows'][1]} ({band['up_deg']:g} deg above the horizon row "
        f"{band['horizon_v']:.1f} to the bottom; {html.escape(band['assumption'])}).</p>"
        f"{table(p['depths'], cols)}"
        f"<p>Map at {p['map']['depth_m']:g} m, 1 sigma in px (white 0, red the maximum); "
        "dashed: the band's edges.</p>"
        f"{uncertainty_svg(p['map'], size, tuple(band['rows']))}"
    )


def render(summary: dict[str, Any], *, title: str = "Intrinsics calibration") -> str:
    """The HTML page for a summary from :func:`calibration.io.summary`."""
    s = summary
    rows = [
        {"key": k, "value": s.get(k)}
        for k in ("model", "images", "detected", "used", "rms_px", "heldout_rms_px", "layout")
    ]
    rows += [
        {"key": k, "value": f"{s[k]:.3f} ± {s['std'].get(k) or 0:.3f}"}
        for k in ("fx", "fy", "cx", "cy")
    ]
    rows += [{"key": k, "value": f"{v:.6g}"} for k, v in s["distortion"].items()]
    thresholds = [r["threshold_px"] for r in s["rejections"]]
    threshold = min(thresholds) if thresholds else None
    rejected = "".join(
        f"<li>{html.escape(r['name'])}: {html.escape(r['reason'])}</li>" for r in s["rejections"]
    )
    missing = ", ".join(html.escape(n) for n in s["not_detected"]) or "none"
    size = (s["image_width"], s["image_height"])
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{table(rows, [('key', 'quantity'), ('value', 'value')])}"
        "<h2>Reprojection error per view</h2>"
        "<p>Blue: RMS in the final fit; grey: held out (calibrated without the view); "
        "red: rejected view (RMS when it was rejected).</p>"
        f"{residual_bars(s['views'], threshold)}"
        f"<h3>Rejected views</h3><ul>{rejected or '<li>none</li>'}</ul>"
        f"<p>Images with fewer than {fmt(s['min_corners'])} corners: {missing}</p>"
        "<h2>Coverage</h2><p>Corners of the used views per image cell; red cells have none, "
        "so the distortion model is extrapolated there.</p>"
        f"{coverage_svg(s['coverage'], size)}{uncertainty_section(s)}</body></html>\n"
    )


def write_report(summary: dict[str, Any], path: str | Path, *, title: str | None = None) -> None:
    """Write the report page to ``path``."""
    _write(path, render(summary, title=title or f"Intrinsics: {Path(path).stem}"))


def _write(path: str | Path, page: str) -> None:
    try:
        Path(path).write_text(page)
    except OSError as exc:
        msg = f"{path}: cannot write the report: {exc}"
        raise OutputError(msg) from exc


def render_summary_page(
    summary: dict[str, Any],
    *,
    title: str,
    keys: Sequence[str],
    tables: dict[str, list[dict[str, Any]]] | None = None,
    figures: dict[str, str] | None = None,
) -> str:
    """A page for the other commands (stereo, rectify-uncalibrated, rig, mount): the summary's
    ``keys`` (with their ``std`` where the summary has one), a table per list of records
    (columns: the union of their scalar keys, in first-seen order) and inline SVG figures."""
    std = summary.get("std") or {}
    rows = []
    for k in keys:
        v = summary.get(k)
        shown = fmt(v) if not isinstance(v, list) else ", ".join(map(str, v)) or "none"
        if isinstance(std.get(k), int | float):
            shown += f" ± {fmt(std[k])}"
        rows.append({"key": k, "value": shown})
    parts = [table(rows, [("key", "quantity"), ("value", "value")])]
    for name, svg in (figures or {}).items():
        parts.append(f"<h2>{html.escape(name)}</h2>{svg}")
    for name, records in (tables or {}).items():
        cols: list[tuple[str, str]] = []
        for r in records:
            for k, v in r.items():
                if not isinstance(v, dict | list) and (k, k) not in cols:
                    cols.append((k, k))
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(table(records, cols) if records else "<p>none</p>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{''.join(parts)}</body></html>\n"
    )


def bars(
    items: Sequence[tuple[str, float | None, float | None, bool]], threshold_px: float | None = None
) -> str:
    """:func:`residual_bars` for (name, value, second value or None, kept) records: blue bars
    for kept items, red for dropped ones, grey outlined bars for the second value."""
    views = [{"name": n, "rms_px": a, "heldout_rms_px": b, "used": kept} for n, a, b, kept in items]
    return residual_bars(views, threshold_px)


def write_summary_page(summary: dict[str, Any], path: str | Path, **kwargs: Any) -> None:
    """Write :func:`render_summary_page` to ``path``."""
    _write(path, render_summary_page(summary, **kwargs))
