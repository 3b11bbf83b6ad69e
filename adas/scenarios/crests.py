"""False-reaction scenarios on a crest vertical curve (issue 18): what lies beyond a hilltop is
seen against a road that falls away from our road plane, and a sign gantry on the top is seen
against the sky, its bottom edge where a car's roof would be.

The crest: the road climbs at +4 %, then a parabolic vertical curve turns it to -4 % over
208 m, the shortest AASHTO allows at 80 km/h (A Policy on Geometric Design of Highways and
Streets, 2011, Table 3-34: K = 26 m per % of grade change for the stopping sight distance), so
the top is at s = CREST_TOP_M = 164 m, 4.5 m above the start (2.4 m of climb, then 2.1 m).
"""

from __future__ import annotations

import dataclasses

from adas.scenarios.scenario import KMH, Scenario, false_scenario
from adas.scenarios.side_traffic import LANE_M
from adas.scenarios.sim import TargetSpec
from adas.types import ObjectClass

__all__ = ["CREST_PROFILE", "CREST_TOP_M", "crests"]

CURVE_START_M, GRADE, K_M_PER_PCT = 60.0, 0.04, 26.0
CURVE_LENGTH_M = K_M_PER_PCT * 2.0 * GRADE * 100.0  # 208 m
CREST_TOP_M = CURVE_START_M + 0.5 * CURVE_LENGTH_M  # the grade is 0 here
CREST_PROFILE = ((CURVE_START_M, GRADE), (CURVE_START_M + CURVE_LENGTH_M, -GRADE))


def crests() -> list[Scenario]:
    """A stopped car in the next lane beyond the top, and a sign gantry on the top."""
    out = []
    kmh = 80
    v = kmh * KMH
    # A broken-down car on the right lane 40 m beyond the top: hidden behind the crest at
    # first, then seen from above its road plane's horizon as we come over the top.
    beyond = CREST_TOP_M + 40.0
    t = (TargetSpec(beyond, -LANE_M),)
    out.append(false_scenario("false-reaction/crest-adjacent-80", kmh, t, (beyond + 10.0) / v,
                              crest_top_m=CREST_TOP_M))  # fmt: skip
    # Sign gantry on the top, 5.0 m clear (EU motorway clearance >= 4.5 m), reported by the
    # detector as a truck, as on the flat road (false-reaction/gantry).
    board = TargetSpec(CREST_TOP_M, 0.0, hwl_m=(1.5, 4.0, 0.3), elevation_m=5.0,
                       class_id=int(ObjectClass.TRUCK), fixed_size=True)  # fmt: skip
    out.append(false_scenario("false-reaction/crest-gantry-80", kmh, (board,),
                              (CREST_TOP_M + 10.0) / v, clearance_m=5.0,
                              crest_top_m=CREST_TOP_M))  # fmt: skip
    return [
        dataclasses.replace(s, spec=dataclasses.replace(s.spec, road_profile=CREST_PROFILE))
        for s in out
    ]
