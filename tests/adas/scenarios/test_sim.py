"""Simulator mechanics: kinematics, actuator, camera projection, closed-loop bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas.camera import Mount
from adas.distance import DistanceEstimator
from adas.scenarios.camera_sim import FRAME_NS, SensorModel, sim_camera, visible_boxes
from adas.scenarios.sim import (
    CAR_HWL_M,
    STEP_NS,
    BrakeActuator,
    ChainOutput,
    ScenarioSpec,
    TargetSpec,
    _Obj,
    advance,
    corners_in_ego,
    simulate,
    true_ttc,
)
from adas.synthetic import Objects3D, project_boxes
from adas.types import Decision, DecisionLevel, Detections, EgoState, ObjectStates, Tracks
from tests.adas.scenarios.noiseless import NOISELESS

DT = STEP_NS * 1e-9


def test_constant_deceleration_stops_at_the_exact_distance() -> None:
    s, v = 0.0, 20.0
    for k in range(1, 1000):
        s, v = advance(s, v, -5.0, DT)
        if k == 200:  # t = 2 s: v0 - a t and v0 t - a t^2 / 2
            assert v == pytest.approx(10.0, abs=1e-9)
            assert s == pytest.approx(30.0, abs=1e-9)
    assert v == 0.0
    assert s == pytest.approx(20.0**2 / (2 * 5.0), abs=1e-9)  # 40 m, never rolls back


def test_a_stop_inside_a_step_is_exact() -> None:
    s, v = advance(0.0, 0.03, -6.0, DT)  # stops after 5 ms
    assert (s, v) == (pytest.approx(0.03**2 / 12.0, abs=1e-15), 0.0)


def test_true_ttc_cases() -> None:
    assert true_ttc(50.0, 20.0, 0.0, 0.0) == pytest.approx(2.5)
    assert true_ttc(50.0, 20.0, 25.0, 0.0) == math.inf  # opening
    # NHTSA lead-decelerating test: 30 m at matched speed, lead at 0.3 g: sqrt(2 d / a).
    v, a = 72.4 / 3.6, 0.3 * 9.80665
    assert true_ttc(30.0, v, v, -a) == pytest.approx(math.sqrt(60.0 / a))
    # The lead stops first (after 0.5 s, 1.25 m on): the ego covers 10 + 1.25 m at 10 m/s.
    assert true_ttc(10.0, 10.0, 5.0, -10.0) == pytest.approx(1.125)
    assert true_ttc(0.0, 10.0, 0.0, 0.0) == 0.0


def test_actuator_dead_time_and_jerk_limited_ramp() -> None:
    act = BrakeActuator(dead_time_s=0.15, jerk_mps3=25.0, max_decel_mps2=9.5)
    out = [act.step(5.0) for _ in range(50)]  # out[k] = deceleration at t = (k + 1) * 10 ms
    assert out[14] == 0.0  # t = 0.15 s: still dead time
    assert out[15] == pytest.approx(0.25)  # t = 0.16 s: 25 * (t - 0.15)
    assert out[24] == pytest.approx(2.5)  # t = 0.25 s
    assert out[34] == pytest.approx(5.0)  # t = 0.35 s: reached
    assert out[49] == pytest.approx(5.0)
    rel = [act.step(0.0) for _ in range(40)]  # release ramps down after the dead time too
    assert rel[14] == pytest.approx(5.0)
    assert rel[15] == pytest.approx(4.75)
    assert rel[34] == pytest.approx(0.0, abs=1e-12)
    capped = BrakeActuator()
    assert max(capped.step(20.0) for _ in range(200)) == pytest.approx(9.5)


@pytest.mark.parametrize("gap_m", [8.0, 15.0, 30.0, 60.0])
def test_projected_box_gives_back_the_distance(gap_m: float) -> None:
    """A noiseless projected box through the real distance stage recovers the gap to 2 %."""
    cam = sim_camera(Mount(height_m=1.65))
    objs = [_Obj(TargetSpec(gap_m, 0.5), gap_m, 0.0, d=0.5)]
    corners = corners_in_ego(objs, 0.0, 0.0)
    box = visible_boxes(cam, corners, cam.mount.pitch_rad, NOISELESS)
    ref = project_boxes(cam, Objects3D(np.array([gap_m]), np.array([0.5]), np.array([CAR_HWL_M])))
    np.testing.assert_allclose(box, ref, atol=1e-6)  # same as the synthetic benchmark's boxes
    one = np.ones(1, np.int64)
    tracks = Tracks(box.astype(np.float32), np.full(1, 0.9, np.float32), one * 2, one, one,
                    one, one * 0, one * 0)  # fmt: skip
    est = DistanceEstimator(cam).update(tracks, 0)
    assert est.distance_m[0] == pytest.approx(gap_m, rel=0.02)
    assert est.lateral_m[0] == pytest.approx(0.5, abs=0.1)


def test_partly_visible_boxes_are_clipped_not_lost() -> None:
    cam = sim_camera(Mount(height_m=1.65))
    near = visible_boxes(cam, corners_in_ego([_Obj(TargetSpec(2.0), 2.0, 0.0)], 0.0, 0.0), 0.0,
                         NOISELESS)  # fmt: skip
    assert np.isfinite(near).all() and near[0, 3] == cam.height - 1  # cut by the bottom edge
    # A car alongside: its rear 1 m behind our bumper, 2 m to the left: only its front part
    # is in front of the camera; it reaches the left border.
    beside = _Obj(TargetSpec(-1.0, 2.0), -1.0, 0.0, d=2.0)
    box = visible_boxes(cam, corners_in_ego([beside], 0.0, 0.0), 0.0, NOISELESS)
    assert np.isfinite(box).all() and box[0, 0] == 0.0
    gone = _Obj(TargetSpec(-6.0, 2.5), -6.0, 0.0, d=2.5)
    assert np.isnan(visible_boxes(cam, corners_in_ego([gone], 0.0, 0.0), 0.0, NOISELESS)).all()


def test_curved_road_places_objects_on_the_arc() -> None:
    objs = [_Obj(TargetSpec(50.0), 50.0, 0.0)]
    c = corners_in_ego(objs, 0.0, 1.0 / 250.0)[0]
    rear = c[:2].mean(0)  # rear-face centre: on the path, d^2 / 2R to the left, yaw d / R
    assert rear[1] == pytest.approx(250.0 * (1.0 - math.cos(0.2)), abs=1e-9)
    assert rear[0] == pytest.approx(250.0 * math.sin(0.2), abs=1e-9)


class _FixedChain:
    """Stand-in for the chain: asks for ``decel`` from ``start_s`` on, records its inputs."""

    def __init__(
        self, decel: float = 0.0, start_s: float = 0.0, level: DecisionLevel = DecisionLevel.NONE
    ) -> None:
        self.decel, self.start_ns, self.level = decel, int(start_s * 1e9), level
        self.egos: list[EgoState] = []
        self.dets: list[Detections] = []

    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput:
        self.egos.append(ego)
        self.dets.append(detections)
        on = ego.t_ns >= self.start_ns
        level = self.level if on else DecisionLevel.NONE
        dec = Decision(level, self.decel if on else 0.0)
        z = np.zeros(0)
        objs = ObjectStates(np.zeros(0, np.int64), z, z, z, z, z, z, z, z)
        return ChainOutput(dec, Tracks.empty(), objs)


def test_closed_loop_stops_where_the_actuator_model_says() -> None:
    v0, a, jerk, dead = 20.0, 6.0, 25.0, 0.15
    spec = ScenarioSpec(v0, (TargetSpec(200.0),), duration_s=10.0)
    chain = _FixedChain(decel=a, level=DecisionLevel.BRAKE_FULL)
    trial = simulate(spec, chain, sim_camera(Mount()), np.random.default_rng(0))
    ramp = a / jerk
    v1 = v0 - 0.5 * jerk * ramp**2
    expected = v0 * dead + v0 * ramp - jerk * ramp**3 / 6.0 + v1 * v1 / (2.0 * a)
    m = trial.metrics
    assert m["end"] == "ego stopped" and not m["collided"]
    assert m["min_gap_m"] == pytest.approx(200.0 - expected, abs=1e-3)
    assert m["first_brake_time_s"] == 0.0 and m["warning_time_s"] == 0.0
    assert m["first_brake_ttc_s"] == pytest.approx(10.0)  # 200 m at 20 m/s
    assert m["max_decel_mps2"] == pytest.approx(a)
    assert m["false_warnings"] == m["false_brakes"] == 0


def test_collision_without_braking_and_frame_timing() -> None:
    spec = ScenarioSpec(10.0, (TargetSpec(20.0),), duration_s=5.0)
    chain = _FixedChain()
    m = simulate(spec, chain, sim_camera(Mount()), np.random.default_rng(1), NOISELESS).metrics
    assert m["collided"] and m["end"] == "collision"
    assert m["impact_speed_kmh"] == pytest.approx(36.0)
    assert m["duration_s"] == pytest.approx(2.0)  # 20 m at 10 m/s
    ts = [e.t_ns for e in chain.egos]
    assert ts == [k * FRAME_NS for k in range(len(ts))]  # 30 fps, integer nanoseconds
    assert len(ts) == 61  # frame 60 is at 1.99999998 s, before the contact at 2.0 s
    e = chain.egos[10]
    assert (e.speed_mps, e.yaw_rate_rps, e.accel_mps2, e.brake_pedal, e.turn_signal, e.valid) == (
        10.0, 0.0, 0.0, 0.0, 0, True,
    )  # fmt: skip
    assert all(len(d) == 1 for d in chain.dets[:50])  # noiseless sensor: never missed


def test_every_warning_is_false_where_no_threat_is_expected() -> None:
    spec = ScenarioSpec(20.0, (TargetSpec(80.0, 3.5),), duration_s=3.0, expect_threat=False)
    chain = _FixedChain(decel=0.0, start_s=1.0, level=DecisionLevel.WARNING)
    m = simulate(spec, chain, sim_camera(Mount()), np.random.default_rng(2)).metrics
    assert m["false_warnings"] == 1 and m["false_brakes"] == 0 and not m["collided"]
    assert m["warning_ttc_s"] is None  # the adjacent car is never on a collision course


def test_detector_noise_misses_and_curve_yaw_rate() -> None:
    spec = ScenarioSpec(22.0, (TargetSpec(60.0),), radius_m=250.0, duration_s=4.0)
    chain = _FixedChain()
    simulate(spec, chain, sim_camera(Mount()), np.random.default_rng(3), SensorModel())
    assert chain.egos[5].yaw_rate_rps == pytest.approx(22.0 / 250.0)
    seen = [len(d) for d in chain.dets]
    assert 0 < seen.count(0) < 0.15 * len(seen)  # ~3 % dropouts
    scores = np.concatenate([d.score for d in chain.dets])
    assert 0.8 < scores.mean() < 1.0
