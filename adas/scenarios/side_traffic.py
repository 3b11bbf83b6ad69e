"""False-reaction scenarios with traffic beside the ego: cars that overtake and enter the image
at its side border, a truck the ego overtakes that leaves it cut by the border, and rows of
parked cars along curves. None is ever in the ego's path: pass = no warning, no brake request.

Why (issue 18): on a real highway clip a car overtaking two lanes to the left entered the image
at the left border; while its box was cut by the border its range fell 18.8 -> 12 m in 0.5 s
(range rate -22 m/s) and its box centre moved inward (a lateral velocity into the path), both
artefacts of the cut, and it got BRAKE_PARTIAL. A box cut at a side border carries neither a
true width nor a true centre; the same holds for a vehicle leaving the image as we pass it.
Parked cars on the outer verge of a curve sit dead ahead of a straight-path prediction.
"""

from __future__ import annotations

from adas.scenarios.scenario import KMH, TRUCK_HWL_M, Scenario, false_scenario
from adas.scenarios.sim import CAR_HWL_M, TargetSpec
from adas.types import ObjectClass

__all__ = [
    "LANE_M", "OVERTAKE_DELTA_KMH", "OVERTAKE_EGO_KMH", "OVERTAKE_RIGHT", "OVERTAKE_START_BEHIND_M",
    "VERGE_M", "overtaken_trucks", "overtaking_cars", "parked_on_curves", "side_traffic",
]  # fmt: skip

LANE_M = 3.5  # motorway lane width (EU TEN-T / AASHTO 3.5-3.7 m): lane centres 3.5 m apart
# Overtaking grid (issue 18): ego 50-130 km/h, the other car 10-40 km/h faster.
OVERTAKE_EGO_KMH = (50, 90, 130)
OVERTAKE_DELTA_KMH = (10, 40)
# Overtaken on the right (rarer: against the keep-right rule, but common in dense traffic):
# (ego km/h, how much faster the other car is, km/h).
OVERTAKE_RIGHT = ((90, 20), (50, 10))
# The overtaking car starts with its front this far behind our front bumper: beside our rear
# wheels, out of the camera's view (the first frames have no box at all).
OVERTAKE_START_BEHIND_M = 5.0
OVERTAKE_END_AHEAD_M = 30.0  # the trial ends 1 s after its rear is this far ahead of us
# A parked car's centre from the lane centre: half a lane, 0.4 m from the lane edge, half a car.
VERGE_M = 0.5 * LANE_M + 0.4 + 0.5 * CAR_HWL_M[1]
PARKED_PITCH_M = 6.5  # kerbside parking: a car length plus ~2.5 m between cars
PARKED_ROW = (0.0, 1.0, 2.0, 6.0, 7.0)  # positions in pitches: a row of three, a gap, two more
PARKED_FIRST_M = 60.0  # gap to the first parked car at the start


def overtaking_cars() -> list[Scenario]:
    """A car in the next lane (3.5 m) or the lane beyond (7 m) overtakes us from behind: its box
    first appears cut by the side border (front part only, bottom cut by the image bottom too)
    and grows into a whole box as the car pulls ahead. Left for every ego speed and speed
    difference of the grid, right for the ``OVERTAKE_RIGHT`` pairs."""
    out = []
    cases = [
        (side, lanes, ego, delta)
        for side, lanes in (("left", 1), ("left", 2))
        for ego in OVERTAKE_EGO_KMH
        for delta in OVERTAKE_DELTA_KMH
    ]
    cases += [("right", 1, ego, delta) for ego, delta in OVERTAKE_RIGHT]
    for side, lanes, ego, delta in cases:
        lateral = (1.0 if side == "left" else -1.0) * lanes * LANE_M
        gap = -(OVERTAKE_START_BEHIND_M + CAR_HWL_M[2])  # its rear face behind our bumper
        t = (TargetSpec(gap, lateral, (ego + delta) * KMH),)
        duration = (OVERTAKE_END_AHEAD_M - gap) / (delta * KMH) + 1.0
        lane = side if lanes == 1 else f"{side}{lanes}"
        sid = f"false-reaction/overtaking-{lane}-{ego}-plus{delta}"
        out.append(false_scenario(sid, ego, t, duration, speed_difference_kmh=delta))
    return out


def overtaken_trucks() -> list[Scenario]:
    """We overtake a truck (KITTI truck size, detected as a truck) in the adjacent lane: whole at
    first, its box is then cut by the side border for the seconds its 11 m pass beside us."""
    out = []
    # (ego km/h, truck km/h, lateral m, start gap m): a motorway pass in the right lane, a slow
    # pass (the truck stays cut for ~15 s), and a pass on the right of a truck in the left lane.
    for ego, truck, lateral, gap in ((100, 80, -LANE_M, 40.0), (90, 80, -LANE_M, 30.0),
                                     (80, 60, LANE_M, 40.0)):  # fmt: skip
        t = (TargetSpec(gap, lateral, truck * KMH, hwl_m=TRUCK_HWL_M,
                        class_id=int(ObjectClass.TRUCK)),)  # fmt: skip
        duration = (gap + TRUCK_HWL_M[2] + 4.5) / ((ego - truck) * KMH) + 2.0
        side = "left" if lateral > 0 else "right"
        sid = f"false-reaction/overtaken-truck-{side}-{ego}-{truck}"
        out.append(false_scenario(sid, ego, t, duration))
    return out


def parked_on_curves() -> list[Scenario]:
    """Parked cars in rows on a curve's verge, the ego on the lane centre at ~2 m/s^2 lateral
    acceleration (v^2 / R). On the outer verge of R 150 m a car is dead ahead of a straight-path
    prediction at ~30 m (d^2 / 2R = 2.97 m); on the inner verge the path curves towards them
    and a lagging curvature estimate would sweep them."""
    out = []
    # (name, radius m (left curve positive), ego km/h, verge side: +1 left, -1 right)
    for name, radius, ego, side in (("r150-outer", 150.0, 60, -1), ("r250-outer", 250.0, 80, -1),
                                    ("r200-inner", 200.0, 70, 1),
                                    ("r200-right-outer", -200.0, 70, 1)):  # fmt: skip
        gaps = [PARKED_FIRST_M + k * PARKED_PITCH_M for k in PARKED_ROW]
        t = tuple(TargetSpec(g, side * VERGE_M) for g in gaps)
        duration = (gaps[-1] + CAR_HWL_M[2] + 4.5) / (ego * KMH) + 1.0
        out.append(false_scenario(f"false-reaction/parked-curve-{name}", ego, t, duration,
                                  radius, radius_m=radius, parked_cars=len(t)))  # fmt: skip
    return out


def side_traffic() -> list[Scenario]:
    """Every scenario of this module, in a fixed order."""
    return [*overtaking_cars(), *overtaken_trucks(), *parked_on_curves()]
