"""Building blocks of the crossing, along-the-lane, head-on and turning suites: target sizes,
where a target starts so that it meets the ego where a protocol says, and the criteria.

Every scenario built here uses footprint contact (:mod:`adas.scenarios.motion`) and states
``no_reaction_impact_kmh``: the impact speed along the ego's heading had nobody braked (the
reference of "impact speed at least halved").
"""

from __future__ import annotations

from typing import Any

from adas.scenarios.motion import EgoPath, crossing_start
from adas.scenarios.scenario import KMH, Criteria, Scenario
from adas.scenarios.sim import CAR_HWL_M, ScenarioSpec, TargetSpec
from adas.types import ObjectClass

__all__ = [
    "BICYCLE_HWL_M",
    "CHILD_HWL_M",
    "CROSS_TIME_S",
    "EGO_WIDTH_M",
    "MOTORCYCLE_HWL_M",
    "PARKED_GAP_M",
    "PARKED_LATERAL_M",
    "PEDESTRIAN_HWL_M",
    "along",
    "avoid_or_halve",
    "crossing",
    "impact_y",
    "start_gap_for",
]  # fmt: skip

EGO_WIDTH_M = 1.8  # as adas.scenarios.suites and ScenarioSpec
# Class means of data/priors/object_sizes.toml (height, width, length, m); the measured sensor
# draws pedestrians and cyclists from its file's KITTI label statistics instead.
PEDESTRIAN_HWL_M = (1.76, 0.66, 0.84)
BICYCLE_HWL_M = (1.74, 0.60, 1.76)  # bicycle with its rider
MOTORCYCLE_HWL_M = (1.45, 0.80, 2.10)  # motorcycle with its rider
# Euro NCAP child target: height 1.154 m (ISO 19206-2, a 6-7 year old, as the Euro NCAP VRU
# protocol specifies it); width 0.30 m and depth 0.20 m our choice (its shoulders and body).
CHILD_HWL_M = (1.154, 0.30, 0.20)
# The target starts this long before it would reach the impact point (our choice: the
# protocols start the VUT at TTC >= 4 s and the target so that it reaches the impact point).
CROSS_TIME_S = 4.0
# Obstruction (CPNCO, CBNAO), our choice: two cars parked along the near kerb, their inner
# sides 1.0 m from the ego's side, their ends 1.0 m either side of the target's path; the
# target starts in the gap between them (so the time to impact is that walk's, not
# CROSS_TIME_S).
PARKED_LATERAL_M = -(0.5 * EGO_WIDTH_M + 1.0 + 0.5 * CAR_HWL_M[1])
PARKED_GAP_M = 1.0


def impact_y(pct: float, near: bool = True) -> float:
    """Lateral impact position (left positive) at ``pct`` % of the ego width from its near
    (right) side, or from its far (left) side."""
    off = (pct / 100.0 - 0.5) * EGO_WIDTH_M
    return off if near else -off


def avoid_or_halve(ego_kmh: float) -> Criteria:
    """Euro NCAP VRU target of issue 19: avoid up to 40 km/h, at least halve the impact speed
    above (the speed reduction counted from the no-reaction impact speed)."""
    return Criteria(max_impact_kmh=0.0) if ego_kmh <= 40.0 else Criteria(min_speed_reduction=0.5)


def _target(
    hwl: tuple[float, float, float], cls: ObjectClass, fixed: bool, **kw: Any
) -> TargetSpec:
    return TargetSpec(hwl_m=hwl, class_id=int(cls), fixed_size=fixed, **kw)


def crossing(
    sid: str, suite: str, ego_kmh: float, target_kmh: float, *, near: bool, pct: float,
    hwl: tuple[float, float, float], cls: ObjectClass, crit: Criteria,
    accel_m: float = 0.0, obstructed: bool = False, fixed: bool = False,
    ego_path: EgoPath | None = None, **extra: Any,
) -> Scenario:  # fmt: skip
    """A target crossing the ego's path at 90 deg from the near (right, heading +90) or the far
    side, placed by :func:`adas.scenarios.motion.crossing_start` to meet the ego at ``pct`` %
    of its width after :data:`CROSS_TIME_S` (from rest over ``accel_m`` m, if given); with
    ``obstructed``, from the gap between two parked cars on the near side (its centre on
    their centreline, hidden behind the nearer one), after the time that walk takes."""
    v_e, v_t = ego_kmh * KMH, target_kmh * KMH
    heading = 90.0 if near else -90.0
    y = impact_y(pct, near)
    t_hit = CROSS_TIME_S
    if obstructed:  # starts in the gap between the parked cars, hidden behind the nearer one
        # (our choice: at most half that way to reach its speed)
        accel_m = min(accel_m, 0.5 * abs(y - PARKED_LATERAL_M))
        walk = abs(y - PARKED_LATERAL_M) - accel_m
        t_hit = walk / v_t + (2.0 * accel_m / v_t if accel_m > 0.0 else 0.0)
    # A shorter walk starts later (stands still until t_go): the ego still starts
    # CROSS_TIME_S before the impact, so the chain sees the scene settle first.
    t_go = max(CROSS_TIME_S - t_hit, 0.0)
    s0, d0 = crossing_start(v_e, v_t, heading, y, t_hit, hwl[2], accel_m)
    s0 += v_e * t_go
    motion: dict[str, Any] = {"speed_mps": v_t}
    if accel_m > 0.0:
        motion = {"speed_mps": 0.0, "speed_schedule": ((t_go, v_t),),
                  "speed_change_mps2": v_t * v_t / (2.0 * accel_m)}  # fmt: skip
    tgt = _target(hwl, cls, fixed, gap_m=s0, lateral_m=d0, heading_deg=heading, **motion)
    targets = [tgt]
    x_path = v_e * (t_go + t_hit)  # the target's path crosses the ego's here
    if obstructed:
        near_car = x_path - PARKED_GAP_M - CAR_HWL_M[2]
        for gap in (near_car, x_path + PARKED_GAP_M):
            targets.append(TargetSpec(gap, PARKED_LATERAL_M))
    spec = ScenarioSpec(
        v_e, tuple(targets), duration_s=t_go + t_hit + 4.0, footprint_contact=True,
        ego_path=ego_path, occlusion=obstructed,
    )  # fmt: skip
    params: dict[str, Any] = {
        "ego_speed_kmh": ego_kmh,
        "target_speed_kmh": target_kmh,
        "overlap_pct": pct,
    }
    params |= {"side": "near" if near else "far", "heading_deg": heading}
    params |= {"start_s_m": round(s0, 3), "start_d_m": round(d0, 3)}
    params |= {"impact_y_m": round(y, 3), "accel_distance_m": accel_m}
    params |= {"target_start_s": round(t_go, 3), "time_to_impact_s": round(t_go + t_hit, 3)}
    params |= {"obstructed": obstructed, "no_reaction_impact_kmh": ego_kmh, **extra}
    return Scenario(sid, suite, spec, crit, params)


def along(
    sid: str, suite: str, ego_kmh: float, target_kmh: float, lateral_m: float, *,
    hwl: tuple[float, float, float], cls: ObjectClass, crit: Criteria, start_ttc_s: float = 6.0,
    min_gap_m: float = 20.0, fixed: bool = False, **extra: Any,
) -> Scenario:  # fmt: skip
    """A target moving along the lane ahead (away from the ego; stationary when
    ``target_kmh`` is 0) with its centre ``lateral_m`` left of the ego's centreline, from
    ``start_ttc_s`` (as the car-to-car approaches)."""
    closing = (ego_kmh - target_kmh) * KMH
    gap = max(start_ttc_s * closing, min_gap_m)
    tgt = _target(hwl, cls, fixed, gap_m=gap, lateral_m=lateral_m, speed_mps=target_kmh * KMH)
    duration = gap / closing + 4.0 if closing > 0.0 else 10.0
    spec = ScenarioSpec(ego_kmh * KMH, (tgt,), duration_s=duration, footprint_contact=True)
    params: dict[str, Any] = {"ego_speed_kmh": ego_kmh, "target_speed_kmh": target_kmh}
    params |= {"gap_m": round(gap, 2), "lateral_offset_m": round(lateral_m, 3)}
    params |= {"no_reaction_impact_kmh": round(max(ego_kmh - target_kmh, 0.0), 2), **extra}
    return Scenario(sid, suite, spec, crit, params)


def start_gap_for(ego_kmh: float, target_kmh: float, ttc_s: float) -> float:
    """Gap [m] between two vehicles closing at ``ego_kmh + target_kmh`` (head-on) for ``ttc_s``."""
    return max(ttc_s * (ego_kmh + target_kmh) * KMH, 1.0)
