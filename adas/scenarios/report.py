"""Scenario results as a JSON summary and a self-contained HTML page with inline SVG plots.

The HTML needs each trial's time series (``run_suite(..., keep_series=True)``); the JSON never
carries them (:func:`write_json` drops them), so it stays small enough to diff between runs.
After a many-seed run (:func:`adas.scenarios.batch.run_batch`) only failed trials and one passing
trial per scenario carry a series; the page says so, and adds a table of the failure statistics
(counts, false reactions per hour, upper bounds on each rate). The scenarios are grouped by
protocol with one plot per scenario family (:mod:`adas.scenarios.report_families`).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from adas.scenarios.batch import format_seeds
from adas.scenarios.metrics import NCAP_BANDS, STATISTICS, summarize
from adas.scenarios.report_families import protocol_sections
from adas.svgplot import PAD_L, PAD_R, PAD_T, PANEL_H, W, panel, table

SERIES_KEY = "series"
_LEVEL_NAMES = ("NONE", "CAUTION", "WARNING", "BRAKE_PARTIAL", "BRAKE_FULL", "UNAVAILABLE")
_BAND_COLOURS = dict(zip(NCAP_BANDS, ("#3a3", "#dd2", "#e90", "#a52", "#d22"), strict=True))


def strip_series(results: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``run_suite``'s output without the time series."""
    out = dict(results)
    out["results"] = [
        {k: v for k, v in r.items() if k != SERIES_KEY} for r in results.get("results", [])
    ]
    return out


def write_json(results: dict[str, Any], path: str | Path) -> None:
    """The results without time series, as JSON (``-`` = stdout is the caller's business)."""
    Path(path).write_text(json.dumps(strip_series(results), indent=2, allow_nan=False) + "\n")


# ---- HTML ---------------------------------------------------------------------------------


def plot_svg(result: dict[str, Any]) -> str:
    """Range, TTC and deceleration (request and actual) over time, with markers at the first
    warning (orange), the first brake request (red) and the end (black if a collision)."""
    s = result.get(SERIES_KEY) or {}
    ts = list(s.get("t", []))
    if not ts:
        return "<p>(no time series kept)</p>"
    t_end = ts[-1]
    rng = [y for y in s["range"] if math.isfinite(y)]
    r_max = max(10.0, math.ceil(max(rng, default=10.0) / 10.0) * 10.0)
    d_max = 10.0
    panels = [
        panel(PAD_T, ts, [("range true", s["range"], "#246"),
               ("est range", s["est_range"], "#c40")], r_max, "m", t_end),
        panel(PAD_T + PANEL_H + 10, ts, [("TTC true", s["ttc"], "#246"),
               ("est TTC", s["est_ttc"], "#c40")], 8.0, "TTC s", t_end),
        panel(PAD_T + 2 * (PANEL_H + 10), ts, [("decel request", s["request"], "#a0a"),
               ("decel actual", s["decel"], "#090")], d_max, "m/s2", t_end),
    ]  # fmt: skip
    height = PAD_T + 3 * (PANEL_H + 10) + 16
    x_span = W - PAD_L - PAD_R
    marks = []
    for key, colour, label in (
        ("warning_time_s", "#e90", "warning"), ("first_brake_time_s", "#d22", "brake"),
    ):  # fmt: skip
        t = result.get(key)
        if isinstance(t, int | float):
            x = PAD_L + x_span * t / max(t_end, 1e-6)
            marks.append(
                f'<line x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{height - 16}" '
                f'stroke="{colour}" stroke-width="1.5"/>'
                f'<text x="{x + 2:.1f}" y="{height - 4}" font-size="10" fill="{colour}">'
                f"{label} {t:.2f} s</text>"
            )
    end_colour = "#000" if result.get("collided") else "#888"
    marks.append(
        f'<text x="{W - PAD_R}" y="{height - 4}" font-size="10" text-anchor="end" '
        f'fill="{end_colour}">{html.escape(str(result.get("end", "")))} at {t_end:.2f} s</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
        f'viewBox="0 0 {W} {height}">{"".join(panels)}{"".join(marks)}</svg>'
    )


_TABLE_COLS = (
    ("scenario", "scenario"), ("trials", "trials"), ("passed", "passed"),
    ("min_warning_ttc_s", "min warning TTC s"), ("min_warning_ttc_margin_s", "TTC margin s"),
    ("max_impact_speed_kmh", "max impact km/h"),
    ("min_impact_speed_margin_kmh", "impact margin km/h"),
    ("min_warning_to_brake_s", "warning->brake s"), ("false_warnings", "false warnings"),
    ("false_brakes", "false brakes"), ("ncap_band", "Euro NCAP band"),
)  # fmt: skip


def _band_style(key: str, value: Any) -> str:
    if key == "ncap_band" and value in _BAND_COLOURS:
        return f"background:{_BAND_COLOURS[value]}"
    return ""


_STATS_COLS = (
    ("scenario", "scenario"), ("trials", "trials"), ("passed", "passed"),
    ("collisions", "collisions"), ("false_warnings", "false warnings (trials)"),
    ("false_brakes", "false brakes (trials)"), ("hours", "hours driven"),
    ("false_warnings_per_hour", "false warnings / h (<=)"),
    ("false_brakes_per_hour", "false brakes / h (<=)"),
    ("failure_rate_upper95", "failed trials <="), ("collision_rate_upper95", "collisions <="),
    ("false_warning_trial_rate_upper95", "trials with false warning <="),
    ("false_brake_trial_rate_upper95", "trials with false brake <="),
)  # fmt: skip
MAX_PLOTS_PER_SCENARIO = 5  # failed trials drawn per scenario; the others are listed


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100.0 * float(x):.2f} %"


def _per_h(x: Any) -> str:
    return "-" if x is None else f"{float(x):.3g}"


def stats_row(row: dict[str, Any]) -> dict[str, Any]:
    """One row of the statistics table as text: counts with the trials that had any, rates
    with their upper bound, per-trial bounds as percentages."""
    out = {k: row.get(k) for k in ("scenario", "trials", "passed", "failed", "collisions")}
    out["false_warnings"] = f"{row.get('false_warnings')} ({row.get('trials_with_false_warning')})"
    out["false_brakes"] = f"{row.get('false_brakes')} ({row.get('trials_with_false_brake')})"
    hours = row.get("hours")
    out["hours"] = "-" if hours is None else f"{float(hours):.3f}"
    for key in ("false_warnings_per_hour", "false_brakes_per_hour"):
        out[key] = f"{_per_h(row.get(key))} ({_per_h(row.get(f'{key}_upper95'))})"
    for key in ("failure_rate_upper95", "collision_rate_upper95",
                "false_warning_trial_rate_upper95", "false_brake_trial_rate_upper95"):  # fmt: skip
        out[key] = _pct(row.get(key))
    return out


def _seeds_text(results: dict[str, Any]) -> str:
    seeds = results.get("seeds") or [results.get("seed", 0)]
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {format_seeds(seeds)} ({len(seeds)} seeds)"


def _plotted(results: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Trials drawn (per scenario its failed trials up to :data:`MAX_PLOTS_PER_SCENARIO`, else
    its first trial with a series, else its first) and failed trials left undrawn."""
    by_scn: dict[str, list[dict[str, Any]]] = {}
    for r in results["results"]:
        by_scn.setdefault(r["scenario"], []).append(r)
    drawn, rest = [], []
    for rs in by_scn.values():
        failed = [r for r in rs if not r["passed"]]
        if failed:
            drawn += failed[:MAX_PLOTS_PER_SCENARIO]
            rest += failed[MAX_PLOTS_PER_SCENARIO:]
        else:
            drawn.append(next((r for r in rs if SERIES_KEY in r), rs[0]))
    return drawn, rest


def _trial_name(r: dict[str, Any]) -> str:
    return f"seed {r.get('seed', 0)}, trial {r.get('trial', 0)}"


def report_html(results: dict[str, Any]) -> str:
    """The whole report page as a string."""
    summary = results.get("summary") or summarize(results["results"])
    suites = [{"scenario": k, **v} for k, v in summary["suites"].items()]
    stats = results.get("statistics") or STATISTICS
    conf = f"{100.0 * float(stats['confidence']):.0f} %"
    kept = results.get("series_kept")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>ADAS scenarios</title><style>",
        "body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;margin:8px 0}",
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}",
        "td:first-child{text-align:left}tr.fail td:first-child{color:#c00;font-weight:bold}",
        "h3{margin:18px 0 2px}.why{color:#c00;font-size:12px}</style></head><body>",
        f"<h1>Scenario validation: {html.escape(str(results.get('suite', '')))}</h1>",
        f"<p>{results.get('passed', 0)} trials passed, {results.get('failed', 0)} failed; "
        f"{results.get('trials', 1)} trial(s) per scenario and seed, "
        f"{html.escape(_seeds_text(results))}.</p>",
        "<h2>Suites</h2>", table(suites, _TABLE_COLS, _band_style),
        *protocol_sections(results["results"], summary["scenarios"], _band_style),
        "<h2>Failure statistics</h2>",
        f"<p>Upper bounds (&lt;=) at {conf} confidence, the upper end of the two-sided "
        "interval: per trial Clopper-Pearson (exact binomial), per hour of simulated driving "
        "exact Poisson. Hours: the sum of the trial durations. False reactions: events, in "
        "brackets the trials with any.</p>",
        "<h3>Suites</h3>", table([stats_row(r) for r in suites], _STATS_COLS),
        "<h3>Scenarios</h3>", table([stats_row(r) for r in summary["scenarios"]], _STATS_COLS),
        "<h2>Plots (the failed trials of each scenario, else its first)</h2>",
    ]  # fmt: skip
    if kept:
        parts.append(f"<p>Time series were kept only for the {html.escape(kept)}.</p>")
    drawn, rest = _plotted(results)
    for r in drawn:
        params = ", ".join(f"{k} {v}" for k, v in r["params"].items())
        verdict = "" if r["passed"] else " (FAILED)"
        parts.append(f"<h3>{html.escape(r['scenario'])}{verdict}, {_trial_name(r)}</h3>")
        parts.append(f"<div>{html.escape(params)}</div>")
        if r.get("failures"):
            parts.append(f'<div class="why">{html.escape("; ".join(r["failures"]))}</div>')
        parts.append(plot_svg(r))
    if rest:
        parts.append(f"<h2>Failed trials not drawn (over {MAX_PLOTS_PER_SCENARIO} a scenario)</h2>")
        rows = [{"scenario": r["scenario"], "trial": _trial_name(r), "failed": 1,
                 "why": "; ".join(r.get("failures", []))} for r in rest]  # fmt: skip
        parts.append(table(rows, (("scenario", "scenario"), ("trial", "trial"), ("why", "why"))))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: dict[str, Any], path: str | Path) -> None:
    """Write the HTML report (one SVG plot per scenario, tables of the summary)."""
    Path(path).write_text(report_html(results), encoding="utf-8")
