"""False-reaction scenarios of issue 19 with VRUs and oncoming or turning cars: none is ever on
a collision course (pass = no warning, no brake request).

Set-ups (all our choice; issue 19 names the situations): lane 3.5 m (``LANE_M``), the ego on
its centre; a kerb ``KERB_M`` beyond the lane edge.

* a pedestrian walking along the kerb, with us and towards us, ego 50 km/h;
* a pedestrian who walks up to the kerb from the near side and stops at its edge: the stop
  (2 m/s^2, 0.7 s) begins 1.5 s before the ego passes, so the walker stands still from 0.8 s
  before (ego 50 km/h);
* a cyclist in a bike lane at 20 km/h, overtaken at 50 km/h with 1.5 m between the ego's side
  and the cyclist's (``BIKE_CLEARANCE_M``);
* an oncoming car in its own lane on a right curve of radius 250 m at 70 km/h each: a
  straight-path prediction puts it dead ahead at ~42 m (d = x^2 / 2R = 3.5 m);
* an oncoming car waiting to turn left across our path (stationary, nose turned 20 deg towards
  our lane, its nearest corner ``TURN_WAIT_CLEARANCE_M`` from our lane's edge) that does not go.
"""

from __future__ import annotations

import math

from adas.scenarios.placing import BICYCLE_HWL_M, PEDESTRIAN_HWL_M
from adas.scenarios.scenario import KMH, Scenario, false_scenario
from adas.scenarios.side_traffic import LANE_M
from adas.scenarios.sim import CAR_HWL_M, TargetSpec
from adas.types import ObjectClass

__all__ = ["BIKE_CLEARANCE_M", "KERB_M", "TURN_WAIT_CLEARANCE_M", "vru_false_reactions"]

KERB_M = 0.5  # pedestrian's centre beyond the lane edge
BIKE_CLEARANCE_M = 1.5
TURN_WAIT_CLEARANCE_M = 0.2
TURN_WAIT_DEG = 20.0
EGO_HALF_W = 0.9
PED = int(ObjectClass.PEDESTRIAN)


def vru_false_reactions() -> list[Scenario]:
    """The five situations, in the order of the module docstring."""
    out = []
    kerb_y = -(0.5 * LANE_M + KERB_M)
    ego = 50
    for name, heading in (("with", 0.0), ("towards", 180.0)):
        gap = 60.0 + (PEDESTRIAN_HWL_M[2] if heading else 0.0)
        t = (TargetSpec(gap, kerb_y, 5 * KMH, hwl_m=PEDESTRIAN_HWL_M, class_id=PED,
                        heading_deg=heading),)  # fmt: skip
        sid = f"false-reaction/ped-kerb-{name}-{ego}"
        out.append(false_scenario(sid, ego, t, 60.0 / (ego * KMH) + 1.5, footprint=True))
    # Walks in from 3 m beyond the kerb line, stops at it; the ego passes 1.5 s after the
    # stop began (0.8 s after the walker stands still).
    walk = 3.0
    v_p = 5 * KMH
    t_stop = walk / v_p  # the stop takes v^2 / 4 = 0.48 m more at 2 m/s^2: start that far out
    start_y = kerb_y - walk - 0.5 * v_p * v_p / 2.0 - 0.5 * PEDESTRIAN_HWL_M[2]
    pass_at = t_stop + 1.5
    t = (TargetSpec(ego * KMH * pass_at, start_y, v_p, hwl_m=PEDESTRIAN_HWL_M, class_id=PED,
                    heading_deg=90.0, speed_schedule=((t_stop, 0.0),),
                    speed_change_mps2=2.0),)  # fmt: skip
    sid = f"false-reaction/ped-stops-at-kerb-{ego}"
    out.append(false_scenario(sid, ego, t, pass_at + 2.0, footprint=True))
    bike_y = -(EGO_HALF_W + BIKE_CLEARANCE_M + 0.5 * BICYCLE_HWL_M[1])
    t = (TargetSpec(30.0, bike_y, 20 * KMH, hwl_m=BICYCLE_HWL_M,
                    class_id=int(ObjectClass.BICYCLE)),)  # fmt: skip
    dur = (30.0 + BICYCLE_HWL_M[2] + 6.0) / ((ego - 20) * KMH) + 1.0
    out.append(false_scenario(f"false-reaction/bike-lane-overtaken-{ego}", ego, t, dur,
                              footprint=True, clearance_m=BIKE_CLEARANCE_M))  # fmt: skip
    # Oncoming on a right curve: negative speed along the road (a road-aligned target).
    t = (TargetSpec(150.0, LANE_M, -70 * KMH),)
    out.append(false_scenario("false-reaction/oncoming-curve-r250-70", 70, t,
                              150.0 / (140 * KMH) + 1.5, -250.0, radius_m=-250.0))  # fmt: skip
    # Waiting to turn across: heading 180 + 20 deg (its left is our lane); its lowest corner
    # (front, our side) TURN_WAIT_CLEARANCE_M left of our lane's edge.
    phi = math.radians(180.0 + TURN_WAIT_DEG)
    drop = CAR_HWL_M[2] * math.sin(phi) - 0.5 * CAR_HWL_M[1] * abs(math.cos(phi))
    y = 0.5 * LANE_M + TURN_WAIT_CLEARANCE_M - drop
    t = (TargetSpec(60.0, y, 0.0, heading_deg=180.0 + TURN_WAIT_DEG),)
    sid = f"false-reaction/waiting-to-turn-{ego}"
    out.append(false_scenario(sid, ego, t, 60.0 / (ego * KMH) + 1.5, footprint=True))
    return out
