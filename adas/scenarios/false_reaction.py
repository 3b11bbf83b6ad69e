"""The false-reaction suite: traffic with no threat in it (pass = no warning, no brake request).

The original set (UN R152 Annex 3 Appendix 2 style and issue 4): a stationary car in the
adjacent lane (3.5 m lateral offset) at 50 and 80 km/h; passing between two stationary cars
with 4.5 m between them (R152: "a distance of 4.5 m between them": the gap between their
sides); a curve of radius 250 m with a car parked on the outer verge, a lead car turning out of
the lane, a car cutting in at a safe gap, an overhead sign gantry (reported by the simulated
detector as a truck).

Scenarios from real failure modes (issue 18) follow: traffic beside the ego entering or leaving
the image at its side borders (:mod:`adas.scenarios.side_traffic`) and leads whose class flips,
that brake lightly and turn off, or creep in a queue (:mod:`adas.scenarios.lead_traffic`).
Issue 19's pedestrians, cyclist and oncoming or turning cars: :mod:`adas.scenarios.vru_false`.
"""

from __future__ import annotations

from adas.scenarios.crests import crests
from adas.scenarios.lead_traffic import lead_traffic
from adas.scenarios.scenario import KMH, Scenario, false_scenario
from adas.scenarios.side_traffic import side_traffic
from adas.scenarios.sim import CAR_HWL_M, TargetSpec
from adas.scenarios.vru_false import vru_false_reactions
from adas.types import ObjectClass

__all__ = ["false_reaction"]


def false_reaction() -> list[Scenario]:
    """Every false-reaction scenario: the original set first (ids unchanged), then the ones
    from real failure modes (issue 18)."""
    car_w = CAR_HWL_M[1]
    out = []
    t: tuple[TargetSpec, ...]
    for v in (50, 80):
        t = (TargetSpec(100.0, 3.5),)
        out.append(false_scenario(f"false-reaction/adjacent-{v}", v, t, 110.0 / (v * KMH) + 1.0))
    side = 0.5 * (4.5 + car_w)  # centres of two cars with 4.5 m between their sides
    t = (TargetSpec(80.0, side), TargetSpec(80.0, -side))
    out.append(
        false_scenario(
            "false-reaction/between-cars-50", 50, t, 90.0 / (50 * KMH) + 1.0, gap_between_m=4.5
        )
    )
    # Left curve, R = 250 m, at 80 km/h (2 m/s^2 lateral): a car on the outer (right) verge,
    # 1.75 m lane half-width + 0.4 m clearance + half its width from the lane centre. Seen from
    # the ego it is dead ahead at ~39 m (d^2 / 2R = 3 m): straight-path prediction would brake.
    verge = -(1.75 + 0.4 + 0.5 * car_w)
    t = (TargetSpec(120.0, verge),)
    out.append(
        false_scenario(
            "false-reaction/curve-250", 80, t, 130.0 / (80 * KMH) + 1.0, 250.0, radius_m=250.0
        )
    )
    # Lead at 50 km/h, 25 m ahead, brakes at 3 m/s^2 to 20 km/h and turns right out of the lane
    # (3.5 m in 3 s, starting 0.3 s after its brake lights): clear of our path 20 m ahead with a
    # TTC of ~2.3 s, the gap a driver keeps when the car ahead turns off.
    t = (TargetSpec(25.0, 0.0, 50 * KMH, brake_at_s=2.0, brake_decel_mps2=3.0,
                    min_speed_mps=20 * KMH, lane_change_at_s=2.3, lane_change_m=-3.5,
                    lane_change_s=3.0),)  # fmt: skip
    out.append(false_scenario("false-reaction/turn-out", 50, t, 12.0, lane_change_m=-3.5))
    # A car from the left lane cuts in 20 m ahead at 85 km/h while we drive 80 km/h: the gap
    # grows; time headway ~0.9-1.2 s (CAUTION at most).
    t = (TargetSpec(20.0, 3.5, 85 * KMH, lane_change_at_s=1.0, lane_change_m=-3.5),)
    out.append(false_scenario("false-reaction/cut-in", 80, t, 8.0, lane_change_m=-3.5))
    # Sign gantry: a 4 m x 1.5 m board 5.0 m above the road (EU motorway clearance >= 4.5 m),
    # reported by the detector as a truck (the worst class: large, with a size prior).
    board = TargetSpec(150.0, 0.0, hwl_m=(1.5, 4.0, 0.3), elevation_m=5.0,
                       class_id=int(ObjectClass.TRUCK), fixed_size=True)  # fmt: skip
    out.append(
        false_scenario(
            "false-reaction/gantry", 80, (board,), 160.0 / (80 * KMH) + 1.0, clearance_m=5.0
        )
    )
    return [*out, *side_traffic(), *lead_traffic(), *crests(), *vru_false_reactions()]
