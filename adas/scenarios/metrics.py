"""Judging scenario trials: warning and brake events of one trial from its time series, and
totals with the worst margins over many trials (what ``adas scenarios`` reports as JSON), with
exact 95 % upper bounds on the failure rates: Clopper-Pearson for the share of trials that fail
(or collide, or give a false warning or brake) and the exact Poisson bound for false warnings and
false brakes per hour of simulated driving.

The simulator (:mod:`adas.scenarios.sim`) and the suites use these; the HTML page
(:mod:`adas.scenarios.report`) only draws them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from adas.stats import CONFIDENCE, binomial_upper, poisson_rate_upper
from adas.types import DecisionLevel

__all__ = [
    "NCAP_BANDS",
    "STATISTICS",
    "WARNING_CODES",
    "summarize",
    "trial_events",
]

WARNING_CODES = tuple(
    int(v) for v in (DecisionLevel.WARNING, DecisionLevel.BRAKE_PARTIAL, DecisionLevel.BRAKE_FULL)
)
_UNAVAILABLE = int(DecisionLevel.UNAVAILABLE)
NCAP_BANDS = ("green", "yellow", "orange", "brown", "red")  # Euro NCAP colour bands, best first
STATISTICS: dict[str, Any] = {
    "confidence": CONFIDENCE,
    "per_trial_upper": "Clopper-Pearson exact binomial, upper end of the two-sided interval",
    "per_hour_upper": "exact Poisson (chi-square), upper end of the two-sided interval",
    "hours": "sum of the simulated trial durations",
}
_DIGITS = 6  # rounding of rates and bounds in the JSON


def trial_events(series: dict[str, list[float]], *, expect_threat: bool = True) -> dict[str, Any]:
    """Warning and brake events of one trial from its per-frame series.

    A warning is a WARNING-or-higher decision, a brake a positive deceleration request. An
    onset is false when no threat was expected at all, or when the true TTC was infinite
    (no collision course). ``warning_ttc_s`` / ``first_brake_ttc_s``: true TTC at the first
    onset that was not false; ``warning_to_brake_s`` the time between the two onsets.
    """
    out: dict[str, Any] = {"warning_time_s": None, "warning_ttc_s": None}
    out |= {"first_brake_time_s": None, "first_brake_ttc_s": None}
    out |= {"false_warnings": 0, "false_brakes": 0, "unavailable_frames": 0}
    was = {"warning": False, "first_brake": False}
    rows = zip(series["t"], series["ttc"], series["level"], series["request"], strict=True)
    for t, ttc, level, request in rows:
        false = not expect_threat or math.isinf(ttc)
        now = {"warning": int(level) in WARNING_CODES, "first_brake": request > 0.0}
        for name, on in now.items():
            if on and not was[name]:
                out["false_warnings" if name == "warning" else "false_brakes"] += int(false)
                if out[f"{name}_time_s"] is None and not (false and expect_threat):
                    out[f"{name}_time_s"] = t
                    out[f"{name}_ttc_s"] = ttc if math.isfinite(ttc) else None
        was = now
        out["unavailable_frames"] += int(level) == _UNAVAILABLE
    w, b = out["warning_time_s"], out["first_brake_time_s"]
    out["warning_to_brake_s"] = None if w is None or b is None else round(b - w, 4)
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, _DIGITS)


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-trial failure counts, false reactions per hour of simulated driving, and the upper
    bounds (:data:`CONFIDENCE`) on each rate."""
    n = len(rows)
    failed = sum(not r["passed"] for r in rows)
    collisions = sum(bool(r["collided"]) for r in rows)
    fw_trials = sum(int(r["false_warnings"]) > 0 for r in rows)
    fb_trials = sum(int(r["false_brakes"]) > 0 for r in rows)
    fw, fb = sum(int(r["false_warnings"]) for r in rows), sum(int(r["false_brakes"]) for r in rows)
    hours = sum(float(r.get("duration_s") or 0.0) for r in rows) / 3600.0
    per_h = (lambda k: round(k / hours, _DIGITS)) if hours > 0.0 else (lambda k: None)
    return {
        "trials_with_false_warning": fw_trials,
        "trials_with_false_brake": fb_trials,
        "hours": round(hours, _DIGITS),
        "false_warnings_per_hour": per_h(fw),
        "false_brakes_per_hour": per_h(fb),
        "failure_rate_upper95": _round(binomial_upper(failed, n)),
        "collision_rate_upper95": _round(binomial_upper(collisions, n)),
        "false_warning_trial_rate_upper95": _round(binomial_upper(fw_trials, n)),
        "false_brake_trial_rate_upper95": _round(binomial_upper(fb_trials, n)),
        "false_warnings_per_hour_upper95": _round(poisson_rate_upper(fw, hours)),
        "false_brakes_per_hour_upper95": _round(poisson_rate_upper(fb, hours)),
    }


def _vals(rows: Iterable[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if isinstance(r.get(key), int | float)]


def _min(values: list[float]) -> float | None:
    return round(min(values), 3) if values else None


def _max(values: list[float]) -> float | None:
    return round(max(values), 3) if values else None


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, worst cases (worst = smallest margin) and failure-rate bounds over a set of
    results."""
    return {
        "trials": len(rows),
        "passed": sum(bool(r["passed"]) for r in rows),
        "failed": sum(not r["passed"] for r in rows),
        "collisions": sum(bool(r["collided"]) for r in rows),
        "false_warnings": sum(int(r["false_warnings"]) for r in rows),
        "false_brakes": sum(int(r["false_brakes"]) for r in rows),
        "min_warning_ttc_s": _min(_vals(rows, "warning_ttc_s")),
        "min_warning_ttc_margin_s": _min(_vals(rows, "warning_ttc_margin_s")),
        "max_impact_speed_kmh": _max(_vals(rows, "impact_speed_kmh")),
        "min_impact_speed_margin_kmh": _min(_vals(rows, "impact_speed_margin_kmh")),
        "min_warning_to_brake_s": _min(_vals(rows, "warning_to_brake_s")),
        "min_warning_to_brake_margin_s": _min(_vals(rows, "warning_to_brake_margin_s")),
        # the field of view: the latest first sight of the target and the smallest true TTC then
        "max_first_visible_time_s": _max(_vals(rows, "first_visible_time_s")),
        "min_first_visible_ttc_s": _min(_vals(rows, "first_visible_ttc_s")),
        "min_speed_reduction": _min(_vals(rows, "speed_reduction")),
    } | _rates(rows)


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-suite totals and worst margins, plus one row per scenario over its trials."""
    by_suite: dict[str, list[dict[str, Any]]] = {}
    by_scn: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_suite.setdefault(r["suite"], []).append(r)
        by_scn.setdefault(r["scenario"], []).append(r)
    rows = []
    for sid, rs in by_scn.items():
        row = {"scenario": sid, "suite": rs[0]["suite"], **_aggregate(rs)}
        bands = [r["ncap_band"] for r in rs if "ncap_band" in r]
        if bands:  # the worst band over the trials
            order = list(NCAP_BANDS)
            row["ncap_band"] = max(bands, key=order.index)
        row["failures"] = sorted({f for r in rs for f in r.get("failures", [])})
        rows.append(row)
    return {"suites": {s: _aggregate(rs) for s, rs in by_suite.items()}, "scenarios": rows}
