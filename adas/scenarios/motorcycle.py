"""The ``motorcycle`` suite: the ego closing in on a motorcycle (Euro NCAP car-to-motorcyclist).

Sources: Euro NCAP "Test Protocol - AEB/LSS VRU systems" (v4.x, 2023-2025), as issue 19 lists
it: CMRs, a stationary motorcycle, VUT 10-50 km/h (AEB), avoided up to 40 km/h and the impact
speed at least halved above; CMRb, VUT and motorcycle both at 50 km/h, headway 12 m and 40 m,
the motorcycle braking, avoided. Our choices (the protocol's figures could not be read here):
the impact at the VUT centreline (50 %), VUT speeds every ``SPEED_STEP_KMH``
(:mod:`adas.scenarios.vru`), the motorcycle's deceleration ``CMRB_DECEL_MPS2`` reached in 0.5 s
after a 3 s steady state (as our CCRb). Target: the motorcycle-with-rider class mean of
data/priors/object_sizes.toml, detected as MOTORCYCLE; the measured sensor file has no
motorcycle statistics, so the size is that mean (not drawn) and the box is judged as a
vehicle's of its height (the file's vehicle figures, the nearest measured ones).
"""

from __future__ import annotations

from typing import Any

from adas.scenarios.kinematics import true_ttc
from adas.scenarios.placing import MOTORCYCLE_HWL_M, along, avoid_or_halve
from adas.scenarios.scenario import KMH, Criteria, Scenario
from adas.scenarios.sim import ScenarioSpec, TargetSpec
from adas.scenarios.vru import SPEED_STEP_KMH
from adas.types import ObjectClass

__all__ = ["CMRB_BRAKE_AT_S", "CMRB_DECEL_MPS2", "CMRB_HEADWAYS_M", "motorcycle"]

CMRB_HEADWAYS_M = (12.0, 40.0)
CMRB_DECEL_MPS2 = 4.0  # our choice (see the module docstring)
CMRB_BRAKE_AT_S = 3.0
MOTO = ObjectClass.MOTORCYCLE


def _cmrb(gap: float) -> Scenario:
    v = 50.0 * KMH
    tgt = TargetSpec(gap, 0.0, v, hwl_m=MOTORCYCLE_HWL_M, class_id=int(MOTO),
                     brake_at_s=CMRB_BRAKE_AT_S, brake_decel_mps2=CMRB_DECEL_MPS2)  # fmt: skip
    duration = CMRB_BRAKE_AT_S + v / CMRB_DECEL_MPS2 + 4.0
    spec = ScenarioSpec(v, (tgt,), duration_s=duration, footprint_contact=True)
    t_hit = true_ttc(gap, v, v, -CMRB_DECEL_MPS2)
    params: dict[str, Any] = {"ego_speed_kmh": 50.0, "target_speed_kmh": 50.0, "gap_m": gap}
    params |= {"target_decel_mps2": CMRB_DECEL_MPS2, "target_brake_at_s": CMRB_BRAKE_AT_S}
    params["no_reaction_impact_kmh"] = round(min(CMRB_DECEL_MPS2 * t_hit, v) / KMH, 2)
    params["family"] = "cmrb"
    sid = f"motorcycle/cmrb-d{gap:.0f}"
    return Scenario(sid, "motorcycle", spec, Criteria(max_impact_kmh=0.0), params)


def motorcycle() -> list[Scenario]:
    """CMRs at 10-50 km/h, then CMRb at both headways."""
    out = [
        along(f"motorcycle/cmrs-{v}", "motorcycle", v, 0.0, 0.0, hwl=MOTORCYCLE_HWL_M,
              cls=MOTO, crit=avoid_or_halve(v), fixed=True, overlap_pct=50, family="cmrs")
        for v in range(10, 51, SPEED_STEP_KMH)
    ]  # fmt: skip
    return out + [_cmrb(g) for g in CMRB_HEADWAYS_M]
