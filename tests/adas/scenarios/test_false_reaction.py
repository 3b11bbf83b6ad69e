"""False-reaction scenarios from real failure modes: each set-up is geometrically what it claims
(boxes entering and leaving at the side borders, flips, speeds, gaps, TTCs, curves)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from adas.camera import Mount
from adas.priors import SizePriors
from adas.scenarios import scenarios
from adas.scenarios.camera_sim import FRAME_NS, SIM_SIZE, sim_camera
from adas.scenarios.lead_traffic import FLICKER, LONG_FLIPS, STICKY_FLIPS, flip_schedule
from adas.scenarios.profile import SpeedProfile
from adas.scenarios.scenario import KMH, TRUCK_HWL_M, Scenario
from adas.scenarios.side_traffic import (
    LANE_M,
    OVERTAKE_DELTA_KMH,
    OVERTAKE_EGO_KMH,
    OVERTAKE_START_BEHIND_M,
    VERGE_M,
)
from adas.scenarios.sim import CAR_HWL_M, ChainOutput, Trial, road_pose, simulate, true_ttc
from adas.types import (
    Decision,
    DecisionLevel,
    Detections,
    EgoState,
    ObjectClass,
    ObjectStates,
    Tracks,
)
from tests.adas.scenarios.noiseless import NOISELESS

RIGHT_PX = SIM_SIZE[0] - 1.0
ORIGINAL = ["adjacent-50", "adjacent-80", "between-cars-50", "curve-250", "turn-out", "cut-in",
            "gantry"]  # fmt: skip


class _Recorder:
    """A chain that never reacts and records every frame's detections."""

    def __init__(self) -> None:
        self.dets: list[Detections] = []

    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput:
        self.dets.append(detections)
        z = np.zeros(0)
        objs = ObjectStates(np.zeros(0, np.int64), z, z, z, z, z, z, z, z)
        return ChainOutput(Decision(DecisionLevel.NONE), Tracks.empty(), objs)


def _by_prefix(prefix: str) -> list[Scenario]:
    return [s for s in scenarios("false-reaction") if s.id.startswith("false-reaction/" + prefix)]


def _run(scn: Scenario, duration_s: float | None = None) -> tuple[Trial, list[Detections]]:
    spec = scn.spec if duration_s is None else dataclasses.replace(scn.spec, duration_s=duration_s)
    rec = _Recorder()
    trial = simulate(spec, rec, sim_camera(Mount()), np.random.default_rng(0), NOISELESS)
    return trial, rec.dets


def test_the_original_scenarios_come_first_and_unchanged() -> None:
    every = scenarios("false-reaction")
    assert [s.id for s in every[: len(ORIGINAL)]] == [f"false-reaction/{n}" for n in ORIGINAL]
    # ... + crests + issue 19's (pedestrians on the kerb, bike lane, oncoming, waiting to turn)
    assert len(every) == len(ORIGINAL) + 14 + 3 + 4 + 5 + 2 + 2 + 2 + 6
    assert all(not s.spec.expect_threat and s.criteria.no_false_reactions for s in every)
    assert all(s.suite == "false-reaction" for s in every)


def test_overtaking_grid() -> None:
    cars = _by_prefix("overtaking-")
    grid = {(s.spec.targets[0].lateral_m, s.params["ego_speed_kmh"],
             s.params["speed_difference_kmh"]) for s in cars}  # fmt: skip
    left = {(lane, e, d) for lane in (LANE_M, 2 * LANE_M) for e in OVERTAKE_EGO_KMH
            for d in OVERTAKE_DELTA_KMH}  # fmt: skip
    assert left <= grid and any(lat < 0 for lat, _, _ in grid)
    assert min(e for _, e, _ in grid) == 50 and max(e for _, e, _ in grid) == 130
    assert {d for _, _, d in grid} >= {10, 40}
    for s in cars:
        t = s.spec.targets[0]
        assert t.speed_mps == pytest.approx((s.params["ego_speed_kmh"] + s.params[
            "speed_difference_kmh"]) * KMH)  # fmt: skip
        assert t.gap_m + t.hwl_m[2] == pytest.approx(-OVERTAKE_START_BEHIND_M)  # front behind us


@pytest.mark.parametrize("scn", _by_prefix("overtaking-"), ids=lambda s: s.id.split("/")[1])
def test_overtaking_car_enters_at_the_side_border(scn: Scenario) -> None:
    """Out of view at the start; its first box touches the border on its side (it enters there)
    and stays cut by it until it is whole, clear of the border, once the car is ahead of us."""
    t = scn.spec.targets[0]
    closing = t.speed_mps - scn.spec.ego_speed_mps
    # Until its rear is 15 m ahead: the box is whole by then (checked below).
    trial, dets = _run(scn, (OVERTAKE_START_BEHIND_M + t.hwl_m[2] + 15.0) / closing)
    seen = [i for i, d in enumerate(dets) if len(d)]
    assert seen and seen[0] > 0 and len(dets[0]) == 0
    first = dets[seen[0]].xyxy[0]
    border = 0 if t.lateral_m > 0 else 2
    assert first[border] == (0.0 if t.lateral_m > 0 else RIGHT_PX)
    whole = next(i for i in seen if dets[i].xyxy[0, 0] > 0.0 and dets[i].xyxy[0, 2] < RIGHT_PX)
    # Every box before that is cut by the border. (The simulated detector loses it for ~0.7 s
    # while its rear is 0.2-2.5 m ahead of the camera: the visible part is < 20 % of the
    # unclipped projection, camera_sim's truncation rule.)
    assert all(dets[i].xyxy[0, border] == first[border] for i in seen if i < whole)
    assert trial.series["range"][whole] > 0.0  # whole only once it is ahead of us
    assert all(math.isinf(x) for x in trial.series["ttc"])  # never in our path


@pytest.mark.parametrize("scn", _by_prefix("overtaken-truck-"), ids=lambda s: s.id.split("/")[1])
def test_overtaken_truck_leaves_cut_at_the_border(scn: Scenario) -> None:
    priors = SizePriors.load()
    truck = int(ObjectClass.TRUCK)
    sizes = (priors.height[truck], priors.width[truck], priors.length[truck])
    assert pytest.approx(sizes, abs=1e-12) == TRUCK_HWL_M  # KITTI truck class means
    t = scn.spec.targets[0]
    assert t.hwl_m == TRUCK_HWL_M and t.class_id == truck and abs(t.lateral_m) == LANE_M
    assert t.speed_mps < scn.spec.ego_speed_mps and t.gap_m > 0.0
    trial, dets = _run(scn)
    assert trial.metrics["end"] == "targets passed"  # we overtook it within the time limit
    seen = [i for i, d in enumerate(dets) if len(d)]
    assert seen[0] == 0 and dets[0].xyxy[0, 0] > 0.0 and dets[0].xyxy[0, 2] < RIGHT_PX
    edge, at = (2, RIGHT_PX) if t.lateral_m < 0 else (0, 0.0)
    cut = [i for i in seen if dets[i].xyxy[0, edge] == at]
    assert cut and cut[-1] == seen[-1]  # it leaves the image through the border
    assert len(cut) >= 30  # cut for a second or more while it passes beside us
    assert all(math.isinf(x) for x in trial.series["ttc"])


def test_class_flip_schedules() -> None:
    car, truck = int(ObjectClass.CAR), int(ObjectClass.TRUCK)
    sched = flip_schedule(car, truck)
    spec = next(iter(_by_prefix("class-flip-car-50"))).spec.targets[0]
    assert spec.class_schedule == sched
    for (start, end), t in zip(STICKY_FLIPS, (2.5, 5.25), strict=True):
        assert spec.class_at(start - 1e-6) == car and spec.class_at(t) == truck
        assert spec.class_at(end) == car
    start, end, period = FLICKER
    flick = [
        spec.class_at(start + (k + 0.5) * period) for k in range(round((end - start) / period))
    ]
    assert flick == [truck, car] * 5 and spec.class_at(end + 0.5) == car
    for scn in _by_prefix("class-flip-"):
        lead = scn.spec.targets[0]
        assert lead.speed_mps == scn.spec.ego_speed_mps and lead.lateral_m == 0.0
        assert 1.7 <= lead.gap_m / lead.speed_mps <= 2.3  # a safe following distance
        assert {c for _, c in lead.class_schedule} == {car, truck}
    truck_lead = next(iter(_by_prefix("class-flip-truck"))).spec.targets[0]
    assert truck_lead.hwl_m == TRUCK_HWL_M and truck_lead.class_id == truck


def test_long_class_flips_turn_the_class_vote_twice() -> None:
    """With equal scores, the class a track reports (largest summed score) is the majority of
    its frames: wrong at birth, right from ~1 s, wrong from ~5 s, right again from ~11 s."""
    car, truck = int(ObjectClass.CAR), int(ObjectClass.TRUCK)
    long = _by_prefix("class-flip-car-50-long")[0]
    lead = long.spec.targets[0]
    assert lead.class_schedule == flip_schedule(car, truck, LONG_FLIPS, None)
    n = math.ceil(long.spec.duration_s / (FRAME_NS * 1e-9))
    classes = np.array([lead.class_at(k * FRAME_NS * 1e-9) for k in range(n)])
    wrong = np.cumsum(classes == truck) > np.cumsum(classes == car)
    switches = np.flatnonzero(np.diff(wrong.astype(int))) + 1
    assert wrong[0] and len(switches) == 3
    t = switches * FRAME_NS * 1e-9
    assert t[0] == pytest.approx(1.0, abs=0.1) and t[1] == pytest.approx(5.0, abs=0.1)
    assert t[2] == pytest.approx(11.0, abs=0.1) and long.spec.duration_s > t[2] + 1.0
    assert len(_by_prefix("class-flip-truck-80-long")) == 1


@pytest.mark.parametrize("scn", _by_prefix("brake-turn-out-"), ids=lambda s: s.id.split("/")[1])
def test_light_brake_then_turn_out_never_comes_close(scn: Scenario) -> None:
    lead = scn.spec.targets[0]
    assert lead.brake_decel_mps2 == 2.0 and lead.lane_change_m == -LANE_M
    assert lead.brake_at_s is not None and lead.lane_change_at_s == lead.brake_at_s + 1.0
    trial, _ = _run(scn)
    ttc = np.array(trial.series["ttc"])
    assert trial.metrics["end"] == "targets passed" and not trial.metrics["collided"]
    assert 3.2 <= ttc[np.isfinite(ttc)].min() < 4.5  # close enough to matter, never a threat
    last = np.flatnonzero(np.isfinite(ttc))[-1]
    assert trial.series["t"][last] < 6.0  # out of our path within 3 s of its turn signal


@pytest.mark.parametrize("scn", _by_prefix("stop-and-go-"), ids=lambda s: s.id.split("/")[1])
def test_stop_and_go_queue_gaps_and_ttc(scn: Scenario) -> None:
    """The lead stands still twice, creeps at 1-2 m/s; the gap stays 4.5-16 m, TTC > 4.4 s."""
    lead, ego = scn.spec.targets[0], scn.spec.ego_speed_mps
    p = SpeedProfile.from_schedule(lead.speed_mps, lead.speed_schedule, lead.speed_change_mps2)
    ts = np.arange(0.0, scn.spec.duration_s, 0.01)
    v = np.array([p.speed(t) for t in ts])
    gap = np.array([lead.gap_m + p.distance(0.0, t) - ego * t for t in ts])
    ttc = [true_ttc(g, ego, s, p.accel(t)) for g, s, t in zip(gap, v, ts, strict=True)]
    stops = np.flatnonzero(np.diff((v == 0.0).astype(int)) == 1)
    assert len(stops) == 2 and (v == 0.0).sum() * 0.01 >= 0.5
    held = [p.v_mps[i] for i in range(1, len(p.t_s)) if p.v_mps[i] == p.v_mps[i - 1]]
    assert any(1.0 <= h <= 2.0 for h in held)  # creeps at a steady 1-2 m/s
    assert gap.min() >= 4.5 and gap.max() <= 16.0
    assert min(ttc) >= 4.4
    assert ego < 3.0  # a queue, at walking-to-jogging pace


@pytest.mark.parametrize("scn", _by_prefix("parked-curve-"), ids=lambda s: s.id.split("/")[1])
def test_parked_cars_along_curves(scn: Scenario) -> None:
    """Outer verge: each parked car is dead ahead of a straight-path prediction at 15-50 m
    before we reach it; inner verge: never within our width ahead."""
    radius = scn.spec.radius_m
    kappa = 1.0 / radius
    assert 150.0 <= abs(radius) <= 250.0 and len(scn.spec.targets) >= 3
    assert (scn.spec.ego_speed_mps**2 * abs(kappa)) == pytest.approx(2.0, abs=0.2)  # lateral
    outer = "outer" in scn.id
    for car in scn.spec.targets:
        assert car.speed_mps == 0.0 and abs(car.lateral_m) == pytest.approx(VERGE_M)
        assert (car.lateral_m * kappa < 0) == outer  # outer verge: away from the centre
        ahead = []
        for back in np.arange(5.0, 60.0, 0.5):  # the ego `back` m before the car
            ex, ey, epsi = road_pose(car.gap_m - back, 0.0, kappa)
            ox, oy, _ = road_pose(car.gap_m, car.lateral_m, kappa)
            x = math.cos(epsi) * (ox - ex) + math.sin(epsi) * (oy - ey)
            y = -math.sin(epsi) * (ox - ex) + math.cos(epsi) * (oy - ey)
            if abs(y) < 0.5 * (scn.spec.ego_width_m + CAR_HWL_M[1]):
                ahead.append(x)
        # R 150 m: ahead from 37 m to 20 m; R 250 m: from 48 m to 25 m.
        assert (bool(ahead) and min(ahead) >= 15.0 and max(ahead) <= 50.0) if outer else not ahead


def test_crest_scenarios_sit_on_an_aashto_crest() -> None:
    from adas.scenarios.crests import CREST_PROFILE, CREST_TOP_M
    from adas.scenarios.road import RoadProfile

    road = RoadProfile(CREST_PROFILE)
    assert CREST_TOP_M == 164.0
    assert float(road.grade(CREST_TOP_M)) == pytest.approx(0.0, abs=1e-12)
    assert float(road.grade(0.0)) == pytest.approx(0.04)
    assert float(road.grade(400.0)) == pytest.approx(-0.04)
    # 60 m at 4 %, then the parabola's half: 104 m at a mean 2 % grade.
    assert float(road.elevation(CREST_TOP_M)) == pytest.approx(2.4 + 2.08, abs=1e-9)
    ids = {s.id: s for s in scenarios("false-reaction")}
    for sid in ("false-reaction/crest-adjacent-80", "false-reaction/crest-gantry-80"):
        assert ids[sid].spec.road_profile == CREST_PROFILE
        assert not ids[sid].spec.expect_threat
