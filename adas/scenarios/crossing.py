"""The ``crossing`` suite: car-to-car straight crossing (Euro NCAP CCCscp) and the ego turning
across the path of an oncoming car (CCFtap). Reported only (avoidance, mitigation, warning
time, the earliest time the target was visible): no pass criterion yet.

Sources: Euro NCAP AEB Car-to-Car test protocol (v4.x, 2023-2025; the 2026 protocol keeps
them) as issue 19 lists them: CCCscp, both cars at 20-60 km/h; CCFtap, the ego turning left at
10-25 km/h across a car oncoming at 30-60 km/h. Our choices (the protocol's figures could not
be read here): the crossing car comes from the left and its centre meets the ego's front
centre (:func:`adas.scenarios.placing.crossing`, 50 %); the speed grids ``CCC_KMH``,
``TAP_EGO_KMH``, ``TAP_TARGET_KMH``; the turn radii ``TAP_RADIUS_M`` (10-20 km/h: the values
we recall from the protocol's table, unverified; 25 km/h: extrapolated by the same 3 m per 5
km/h); the ego drives straight for ``TAP_STRAIGHT_S`` first; the oncoming car in the next lane
(``LANE_M``) has its front-face centre where the ego's path crosses that lane's centre when the
ego's front bumper gets there.
"""

from __future__ import annotations

import math

from adas.scenarios.motion import EgoPath
from adas.scenarios.placing import crossing
from adas.scenarios.scenario import KMH, Criteria, Scenario
from adas.scenarios.side_traffic import LANE_M
from adas.scenarios.sim import CAR_HWL_M, ScenarioSpec, TargetSpec
from adas.types import ObjectClass

__all__ = [
    "CCC_KMH", "TAP_EGO_KMH", "TAP_RADIUS_M", "TAP_STRAIGHT_S", "TAP_TARGET_KMH", "crossing_suite",
    "tap_geometry",
]  # fmt: skip

CCC_KMH = (20, 40, 60)
TAP_EGO_KMH = (10, 15, 20, 25)
TAP_TARGET_KMH = (30, 45, 60)
TAP_RADIUS_M = {10: 9.0, 15: 11.75, 20: 14.75, 25: 17.75}
TAP_STRAIGHT_S = 3.0


def tap_geometry(ego_kmh: int) -> tuple[EgoPath, float, float]:
    """The ego's path, the arc length where its front-bumper centre crosses the oncoming lane's
    centre, and that point's x."""
    r = TAP_RADIUS_M[ego_kmh]
    path = EgoPath(turn_at_m=ego_kmh * KMH * TAP_STRAIGHT_S, radius_m=r)
    a = r * math.acos(1.0 - LANE_M / r)
    x = float(path.pose(path.turn_at_m + a)[0])
    return path, path.turn_at_m + a, x


def _tap(ego_kmh: int, tgt_kmh: int) -> Scenario:
    v_e, v_t = ego_kmh * KMH, tgt_kmh * KMH
    path, s_cross, x_cross = tap_geometry(ego_kmh)
    t_cross = s_cross / v_e
    tgt = TargetSpec(x_cross + CAR_HWL_M[2] + v_t * t_cross, LANE_M, v_t, heading_deg=180.0)
    spec = ScenarioSpec(
        v_e, (tgt,), duration_s=t_cross + 3.0, footprint_contact=True, ego_path=path
    )
    params = {"ego_speed_kmh": ego_kmh, "target_speed_kmh": tgt_kmh, "family": "ccftap"}
    params |= {"turn_radius_m": path.radius_m, "turn_at_m": round(path.turn_at_m, 2)}
    # No reaction: the ego heads ~across the lane at contact; the oncoming car's speed along
    # the ego's heading at the crossing point (heading there from the arc).
    psi = s_cross - path.turn_at_m
    psi /= path.radius_m
    params["no_reaction_impact_kmh"] = round(ego_kmh + tgt_kmh * math.cos(psi), 2)
    return Scenario(f"crossing/ccftap-{ego_kmh}-{tgt_kmh}", "crossing", spec, Criteria(), params)


def crossing_suite() -> list[Scenario]:
    """CCCscp for every pair of ``CCC_KMH``, then CCFtap for every ego and target speed."""
    out = [
        crossing(f"crossing/cccscp-{e}-{t}", "crossing", e, t, near=False, pct=50,
                 hwl=CAR_HWL_M, cls=ObjectClass.CAR, crit=Criteria(), family="cccscp")
        for e in CCC_KMH for t in CCC_KMH
    ]  # fmt: skip
    return out + [_tap(e, t) for e in TAP_EGO_KMH for t in TAP_TARGET_KMH]
