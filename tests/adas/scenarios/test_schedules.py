"""Target schedules: a scheduled speed (SpeedProfile) and a class schedule, honoured exactly by
the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas.camera import Mount
from adas.scenarios.camera_sim import FRAME_NS, sim_camera
from adas.scenarios.profile import SpeedProfile
from adas.scenarios.sim import STEP_NS, ChainOutput, ScenarioSpec, TargetSpec, simulate, true_ttc
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

CAR, TRUCK = int(ObjectClass.CAR), int(ObjectClass.TRUCK)


class _Recorder:
    """A chain that never reacts and records every frame's time and detections."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, Detections]] = []

    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput:
        self.frames.append((ego.t_ns, detections))
        z = np.zeros(0)
        objs = ObjectStates(np.zeros(0, np.int64), z, z, z, z, z, z, z, z)
        return ChainOutput(Decision(DecisionLevel.NONE), Tracks.empty(), objs)


def test_speed_profile_vertices_by_hand() -> None:
    # 10 m/s; at 1 s command 4 (reached at 1 + 6/2 = 4 s); at 5 s command 0, but at 6 s (2 m/s
    # on) command 8: reached at 6 + 6/2 = 9 s.
    p = SpeedProfile.from_schedule(10.0, ((1.0, 4.0), (5.0, 0.0), (6.0, 8.0)), 2.0)
    assert p.t_s == (0.0, 1.0, 4.0, 5.0, 6.0, 9.0)
    assert p.v_mps == (10.0, 10.0, 4.0, 4.0, 2.0, 8.0)
    assert [p.speed(t) for t in (-1.0, 0.5, 2.5, 4.5, 5.5, 7.5, 20.0)] == [
        10.0, 10.0, 7.0, 4.0, 3.0, 5.0, 8.0,
    ]  # fmt: skip
    assert [p.accel(t) for t in (0.5, 1.0, 3.9, 4.0, 5.2, 6.0, 9.0)] == [
        0.0, -2.0, -2.0, 0.0, -2.0, 2.0, 0.0,
    ]  # fmt: skip
    # Areas under the speed: 10 + (10 + 4) / 2 * 3 + 4 + 3 + 15 = 53 m to 9 s, then 8 m/s.
    assert p.distance(0.0, 9.0) == pytest.approx(53.0, abs=1e-12)
    assert p.distance(0.0, 10.0) == pytest.approx(61.0, abs=1e-12)
    assert p.distance(2.5, 2.5) == 0.0
    # Piecewise sums agree with the whole (the simulator adds it up in 10 ms steps).
    steps = sum(p.distance(k * 0.01, (k + 1) * 0.01) for k in range(1000))
    assert steps == pytest.approx(61.0, abs=1e-9)


def test_speed_profile_bounds_and_errors() -> None:
    p = SpeedProfile.from_schedule(0.0, ((0.0, 3.0), (2.5, 1.0), (4.0, 1.0)), 1.5)
    slopes = [abs(b - a) / (tb - ta) for ta, tb, a, b in
              zip(p.t_s, p.t_s[1:], p.v_mps, p.v_mps[1:], strict=False)]  # fmt: skip
    assert max(slopes) == pytest.approx(1.5)  # never faster than the bound
    assert p.speed(2.0) == pytest.approx(3.0) and p.speed(50.0) == 1.0  # commands are met
    assert SpeedProfile.from_schedule(5.0, (), 1.0).speed(100.0) == 5.0  # no schedule: constant
    with pytest.raises(ValueError, match="strictly increasing"):
        SpeedProfile.from_schedule(5.0, ((2.0, 1.0), (2.0, 3.0)), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        SpeedProfile.from_schedule(5.0, ((1.0, -1.0),), 1.0)
    with pytest.raises(ValueError, match="positive"):
        SpeedProfile.from_schedule(5.0, ((1.0, 1.0),), 0.0)
    with pytest.raises(ValueError, match="not both"):
        TargetSpec(10.0, speed_schedule=((1.0, 0.0),), brake_at_s=1.0)
    with pytest.raises(ValueError, match="class schedule"):
        TargetSpec(10.0, class_schedule=((2.0, TRUCK), (1.0, CAR)))


def test_true_ttc_of_an_accelerating_target() -> None:
    # 10 m ahead, 2 m/s slower, pulling away at 1 m/s^2: 10 - 2 t + t^2 / 2 > 0 always.
    assert true_ttc(10.0, 12.0, 10.0, 1.0) == math.inf
    # 1 m ahead: 1 - 2 t + t^2 / 2 = 0 at t = 2 - sqrt(2).
    assert true_ttc(1.0, 12.0, 10.0, 1.0) == pytest.approx(2.0 - math.sqrt(2.0))


def test_simulator_follows_the_speed_schedule_exactly() -> None:
    """The true gap at every frame is the profile's distance to the start of the 10 ms step plus
    the frame's offset into it at the step's speed, with the ego at constant speed."""
    ego_v, gap = 2.0, 10.0
    lead = TargetSpec(gap, 0.0, 2.0, speed_schedule=((1.0, 0.0), (3.0, 1.5), (5.0, 4.0)),
                      speed_change_mps2=1.5)  # fmt: skip
    spec = ScenarioSpec(ego_v, (lead,), duration_s=8.0, expect_threat=False)
    trial = simulate(spec, _Recorder(), sim_camera(Mount()), np.random.default_rng(0), NOISELESS)
    p = SpeedProfile.from_schedule(2.0, lead.speed_schedule, 1.5)
    t_f = np.array(trial.series["t"])
    assert len(t_f) == 241 and trial.metrics["end"] == "time limit"
    for k in range(0, 240, 7):
        tf = k * FRAME_NS
        t_step = (tf // STEP_NS) * STEP_NS * 1e-9
        tau = tf * 1e-9 - t_step
        want = gap + p.distance(0.0, t_step) + p.speed(t_step) * tau - ego_v * tf * 1e-9
        assert trial.series["range"][k] == pytest.approx(want, abs=1e-9)
        # ... which is the exact position to within the step's curvature, a tau^2 / 2.
        exact = gap + p.distance(0.0, tf * 1e-9) - ego_v * tf * 1e-9
        assert abs(trial.series["range"][k] - exact) <= 0.5 * 1.5 * 0.01**2 + 1e-12
    # Standing (2 s to 3 s): true TTC = gap / ego speed; pulling away at 2 m/s: none.
    k = 75  # 2.5 s
    assert trial.series["ttc"][k] == pytest.approx(trial.series["range"][k] / ego_v, rel=1e-9)
    assert math.isinf(trial.series["ttc"][225])  # 7.5 s: 4 m/s against our 2 m/s


def test_simulator_reports_the_scheduled_class_at_every_frame() -> None:
    schedule = ((0.5, TRUCK), (1.0, CAR), (1.5, TRUCK), (1.6, CAR))
    lead = TargetSpec(30.0, 0.0, 20.0, class_schedule=schedule)
    spec = ScenarioSpec(20.0, (lead,), duration_s=2.5, expect_threat=False)
    rec = _Recorder()
    simulate(spec, rec, sim_camera(Mount()), np.random.default_rng(0), NOISELESS)
    assert len(rec.frames) == 76  # frame 75 is at 2.49999999 s
    got = [int(d.class_id[0]) for _, d in rec.frames]
    want = [lead.class_at(t_ns * 1e-9) for t_ns, _ in rec.frames]
    assert got == want
    # From that time on: frame 15 (0.499999995 s) is still a car, frames 16-30 (0.99999999 s)
    # a truck; the 0.1 s flip at 1.5 s covers frames 46-48 (1.49999999 s is frame 45).
    assert [i for i, c in enumerate(got) if c == TRUCK] == [*range(16, 31), 46, 47, 48]
    assert lead.class_at(-1.0) == CAR and lead.class_at(0.5) == TRUCK
