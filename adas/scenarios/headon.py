"""The ``headon`` suite: an oncoming car in the ego's lane (Euro NCAP CCFhos) or swerving into
it (CCFhol). Reported only (avoidance, mitigation, warning time): no pass criterion yet.

Sources: Euro NCAP car-to-car frontal-collision scenarios as issue 19 lists them (AEB
Car-to-Car test protocol v4.x, 2023-2025; the 2026 protocol keeps them): CCFhos, head-on in a
straight lane, and CCFhol, the oncoming car changing lanes by 3.5 m into the ego's lane; both
cars at 50 km/h and at 70 km/h (we run every pair of the two speeds). Our choices (the
protocol's figures could not be read here): 50 % overlap (``overlap_offset_m`` of the
car-to-car suites, the oncoming car's centre to the left), the fronts ``START_TTC_S`` apart in
time at the start, and CCFhol's minimum-jerk lane change over ``LANE_CHANGE_S`` ending
``LANE_CHANGE_END_S`` before the no-reaction impact. Impact speed: the closing speed along the
ego's heading (the sum of both speeds with no braking), :mod:`adas.scenarios.motion`.
"""

from __future__ import annotations

import itertools
from typing import Any

from adas.scenarios.scenario import KMH, Criteria, Scenario
from adas.scenarios.side_traffic import LANE_M
from adas.scenarios.sim import CAR_HWL_M, ScenarioSpec, TargetSpec

__all__ = ["HEADON_KMH", "LANE_CHANGE_END_S", "LANE_CHANGE_S", "START_TTC_S", "headon"]

HEADON_KMH = (50, 70)
START_TTC_S = 6.0
LANE_CHANGE_S = 2.5
LANE_CHANGE_END_S = 0.5
EGO_WIDTH_M = 1.8
OVERLAP_PCT = 50


def _headon(ego_kmh: int, tgt_kmh: int, lane_change: bool) -> Scenario:
    v_e, v_t = ego_kmh * KMH, tgt_kmh * KMH
    offset = 0.5 * (EGO_WIDTH_M + CAR_HWL_M[1]) - OVERLAP_PCT / 100.0 * EGO_WIDTH_M
    gap = START_TTC_S * (v_e + v_t)  # front to front
    lc: dict[str, float] = {}
    lateral = offset
    if lane_change:
        lateral = offset + LANE_M
        lc = {"lane_change_at_s": START_TTC_S - LANE_CHANGE_END_S - LANE_CHANGE_S,
              "lane_change_m": -LANE_M, "lane_change_s": LANE_CHANGE_S}  # fmt: skip
    # Heading 180: the reference (rear-face centre) is the far end, the front faces the ego.
    tgt = TargetSpec(gap + CAR_HWL_M[2], lateral, v_t, heading_deg=180.0, **lc)  # type: ignore[arg-type]
    spec = ScenarioSpec(v_e, (tgt,), duration_s=START_TTC_S + 3.0, footprint_contact=True)
    name = "ccfhol" if lane_change else "ccfhos"
    params: dict[str, Any] = {
        "ego_speed_kmh": ego_kmh,
        "target_speed_kmh": tgt_kmh,
        "overlap_pct": OVERLAP_PCT,
    }
    params |= {"gap_m": round(gap, 2), "lateral_offset_m": round(offset, 3), "family": name}
    params |= {"no_reaction_impact_kmh": float(ego_kmh + tgt_kmh)}
    return Scenario(f"headon/{name}-{ego_kmh}-{tgt_kmh}", "headon", spec, Criteria(), params)


def headon() -> list[Scenario]:
    """CCFhos then CCFhol for every pair of ``HEADON_KMH``."""
    pairs = list(itertools.product(HEADON_KMH, HEADON_KMH))
    return [_headon(e, t, lc) for lc in (False, True) for e, t in pairs]
