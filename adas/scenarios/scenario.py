"""A scenario: its physical set-up (:class:`adas.scenarios.sim.ScenarioSpec`), the protocol
parameters it reports, and the criteria a trial must meet. Shared by the suite modules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from adas.scenarios.sim import ScenarioSpec, TargetSpec

__all__ = ["KMH", "TRUCK_HWL_M", "Criteria", "Scenario", "false_scenario"]

KMH = 1.0 / 3.6  # m/s per km/h
# KITTI truck class means, height, width, length [m] (data/priors/object_sizes.toml [truck]),
# as CAR_HWL_M in adas.scenarios.sim is the car's.
TRUCK_HWL_M = (3.07, 2.63, 11.17)


@dataclass(frozen=True)
class Criteria:
    """What a trial must achieve; ``None`` = not judged."""

    min_warning_ttc_s: float | None = None
    max_impact_kmh: float | None = None  # 0 = must avoid
    min_speed_reduction: float | None = None  # mitigation: fraction of the relative speed removed
    min_warning_to_brake_s: float | None = None
    no_false_reactions: bool = False


@dataclass(frozen=True)
class Scenario:
    id: str
    suite: str
    spec: ScenarioSpec
    criteria: Criteria
    params: dict[str, Any] = field(default_factory=dict, hash=False)


def false_scenario(
    sid: str, ego_kmh: float, targets: tuple[TargetSpec, ...], duration: float,
    radius: float = math.inf, *, footprint: bool = False, **extra: Any,
) -> Scenario:  # fmt: skip
    """A false-reaction scenario: no threat expected, pass = no warning and no brake request.
    ``duration`` [s] is the time limit, ``radius`` [m] the road radius (left positive); the
    first target's speed, gap and lateral offset are reported as parameters with ``extra``;
    ``footprint``: contact by footprint overlap (:mod:`adas.scenarios.motion`)."""
    spec = ScenarioSpec(
        ego_kmh * KMH, targets, radius, duration, expect_threat=False, footprint_contact=footprint
    )
    first = targets[0]
    params = {"ego_speed_kmh": ego_kmh, "target_speed_kmh": round(first.speed_mps / KMH, 2)}
    params |= {"overlap_pct": 0, "gap_m": first.gap_m, "lateral_offset_m": first.lateral_m}
    params |= extra
    return Scenario(sid, "false-reaction", spec, Criteria(no_false_reactions=True), params)
