"""The scenario report's results grouped by protocol (suite), with one plot per scenario family.

A family is a protocol's test over its speed grid (Euro NCAP CPNA-25, CCRs, UN R152 pedestrian,
...): the scenario's ``family`` parameter, else the first word of its id after the suite
(``ncap/ccrs-40-o75`` -> ``ccrs``). Each family's plot draws, over the ego speed (or the
scenario's place in the family when every scenario has the same speed), the worst impact
speed and the allowed one, the smallest warning TTC and the smallest true TTC when the target
was first visible (the field of view), and the false reactions; a table of its scenarios
follows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from adas.svgplot import PAD_L, PAD_R, PAD_T, PANEL_H, W, panel, table

__all__ = ["family_of", "protocol_sections"]

_COLS = (
    ("scenario", "scenario"), ("trials", "trials"), ("passed", "passed"),
    ("max_impact_speed_kmh", "max impact km/h"), ("allowed", "allowed km/h"),
    ("min_speed_reduction", "min speed reduction"), ("min_warning_ttc_s", "min warning TTC s"),
    ("min_first_visible_ttc_s", "TTC when first visible s"),
    ("max_first_visible_time_s", "first visible at s (latest)"),
    ("false_warnings", "false warnings"), ("false_brakes", "false brakes"),
    ("ncap_band", "Euro NCAP band"),
)  # fmt: skip


def family_of(scenario_id: str, params: dict[str, Any]) -> str:
    """The scenario's family (see the module docstring)."""
    if params.get("family"):
        return str(params["family"])
    return scenario_id.split("/", 1)[-1].split("-", 1)[0]


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else math.nan


def _scale(values: list[float], floor: float) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return max(floor, math.ceil(max(finite, default=floor) / 10.0) * 10.0)


def family_svg(rows: list[dict[str, Any]]) -> str:
    """Three panels over the family's scenarios (see the module docstring)."""
    speeds = [_num(r.get("ego_speed_kmh")) for r in rows]
    by_speed = len({s for s in speeds if math.isfinite(s)}) == len(rows) > 1
    xs = speeds if by_speed else [float(i + 1) for i in range(len(rows))]
    x_end = max(xs, default=1.0)
    impact = [_num(r.get("max_impact_speed_kmh")) for r in rows]
    allowed = [_num(r.get("allowed")) for r in rows]
    warn = [_num(r.get("min_warning_ttc_s")) for r in rows]
    seen = [_num(r.get("min_first_visible_ttc_s")) for r in rows]
    false = [float(r.get("false_warnings", 0) + r.get("false_brakes", 0)) for r in rows]
    step = PANEL_H + 10
    panels = [
        panel(PAD_T, xs, [("max impact", impact, "#d22"), ("allowed", allowed, "#090")],
              _scale(impact + allowed, 10.0), "km/h", x_end),
        panel(PAD_T + step, xs, [("min warning TTC", warn, "#e90"),
              ("TTC when first visible", seen, "#246")], 8.0, "TTC s", x_end),
        panel(PAD_T + 2 * step, xs, [("false warnings + brakes", false, "#a0a")],
              _scale(false, 5.0), "count", x_end),
    ]  # fmt: skip
    height = PAD_T + 3 * step + 16
    label = "ego speed km/h" if by_speed else "scenario in the family"
    x_span = W - PAD_L - PAD_R
    ticks = "".join(
        f'<text x="{PAD_L + x_span * x / max(x_end, 1e-6):.1f}" y="{height - 4}" font-size="9" '
        f'text-anchor="middle">{x:g}</text>'
        for x in sorted(set(xs))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
        f'viewBox="0 0 {W} {height}">{"".join(panels)}{ticks}'
        f'<text x="{W - PAD_R}" y="{height - 16}" font-size="10" text-anchor="end">'
        f"{label}</text></svg>"
    )


def protocol_sections(
    results: list[dict[str, Any]], rows: list[dict[str, Any]],
    style: Callable[[str, Any], str] | None = None,
) -> list[str]:  # fmt: skip
    """HTML parts: per suite a heading, then per family its plot and its scenarios' table.
    ``results``: the trials (for parameters and limits); ``rows``: the summary's scenario
    rows; ``style``: the table's cell style (the Euro NCAP band colours)."""
    first: dict[str, dict[str, Any]] = {}
    for r in results:
        first.setdefault(r["scenario"], r)
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        r = first.get(row["scenario"], {})
        params = r.get("params", {})
        full = dict(row) | {"allowed": r.get("allowed_impact_speed_kmh")}
        full["ego_speed_kmh"] = params.get("ego_speed_kmh")
        fam = family_of(row["scenario"], params)
        groups.setdefault(row["suite"], {}).setdefault(fam, []).append(full)
    parts = []
    for suite, fams in groups.items():
        parts.append(f"<h2>Protocol: {html.escape(suite)}</h2>")
        for fam, fam_rows in fams.items():
            passed = sum(int(r["passed"]) for r in fam_rows)
            trials = sum(int(r["trials"]) for r in fam_rows)
            parts.append(
                f"<h3>{html.escape(suite)} / {html.escape(fam)}: {passed} of {trials} trials "
                "passed</h3>"
            )
            parts.append(family_svg(fam_rows))
            parts.append(table(fam_rows, _COLS, style))
    return parts
