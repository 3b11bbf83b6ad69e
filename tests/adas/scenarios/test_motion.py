"""Targets at any heading, footprint contact, occlusion and the field of view, against hand
computations (pinhole geometry, rectangles, constant-acceleration kinematics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas.camera import Mount
from adas.scenarios.camera_sim import FRAME_NS, SIM_K, SIM_SIZE, CameraSim, sim_camera
from adas.scenarios.motion import (
    TTC_STEP_S,
    EgoPath,
    contact,
    crossing_start,
    footprint_distance,
    overlap,
    predicted_contact,
    rect_corners,
)
from adas.scenarios.placing import CROSS_TIME_S, PEDESTRIAN_HWL_M, crossing, impact_y
from adas.scenarios.scenario import KMH, Criteria
from adas.scenarios.sim import (
    STEP_NS,
    ChainOutput,
    ScenarioSpec,
    TargetSpec,
    _Obj,
    corners_in_ego,
    simulate,
)
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

F, CX = SIM_K[0][0], SIM_K[0][2]
CAM_H = 1.65  # Mount() default height; zero pitch, the camera at the bumper's centre


class _NoBrake:
    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput:
        z = np.zeros(0)
        objs = ObjectStates(np.zeros(0, np.int64), z, z, z, z, z, z, z, z)
        return ChainOutput(Decision(DecisionLevel.NONE), Tracks.empty(), objs)


def _walk(o: _Obj, t_end: float) -> None:
    """Move ``o`` as the simulator does, step by step, to ``t_end``."""
    dt = STEP_NS * 1e-9
    for k in range(round(t_end / dt)):
        o.set_lateral(k * dt)
        o.move(k * dt, dt)
    o.set_lateral(t_end)


@pytest.mark.parametrize(("pct", "near", "accel"), [(25, True, 1.0), (75, True, 0.0),
                                                    (50, False, 2.0)])  # fmt: skip
def test_crossing_target_reaches_the_impact_point_when_computed(
    pct: float, near: bool, accel: float
) -> None:
    v_e, v_t = 40 * KMH, 8 * KMH
    scn = crossing("t", "vru", 40, 8, near=near, pct=pct, hwl=PEDESTRIAN_HWL_M,
                   cls=ObjectClass.PEDESTRIAN, crit=Criteria(), accel_m=accel)  # fmt: skip
    o = _Obj(scn.spec.targets[0], scn.spec.targets[0].gap_m, scn.spec.targets[0].speed_mps)
    _walk(o, CROSS_TIME_S)
    sign = 1.0 if near else -1.0
    centre_y = o.d + sign * 0.5 * PEDESTRIAN_HWL_M[2]  # the box runs along the heading
    assert o.s == pytest.approx(v_e * CROSS_TIME_S, abs=1e-9)  # on the ego's front line
    assert centre_y == pytest.approx(impact_y(pct, near), abs=1e-9)
    assert impact_y(pct, near) == pytest.approx(sign * (pct / 100 - 0.5) * 1.8)
    assert o.v == pytest.approx(v_t)
    # Before impact the acceleration covered exactly ``accel`` m at v^2 / (2 accel).
    _, d0 = crossing_start(v_e, v_t, sign * 90.0, 0.0, CROSS_TIME_S, 0.0, accel)
    t_acc = 2 * accel / v_t if accel else 0.0
    assert abs(d0) == pytest.approx(accel + v_t * (CROSS_TIME_S - t_acc))
    # The footprints first touch when the ego's front reaches the target's near face, half its
    # width (0.66 m along the road) before its centre: T - w / (2 v_e), on the TTC grid.
    fresh = _Obj(scn.spec.targets[0], scn.spec.targets[0].gap_m, scn.spec.targets[0].speed_mps)
    fresh.set_lateral(0.0)
    ttc = predicted_contact([fresh], 0.0, 0.0, v_e, None, (4.5, 1.8), [True])
    hand = CROSS_TIME_S - 0.5 * PEDESTRIAN_HWL_M[1] / v_e
    assert hand - 1e-9 <= ttc < hand + TTC_STEP_S


def test_footprint_overlap_of_a_turned_rectangle_not_its_bounding_box() -> None:
    square = rect_corners(0.0, 0.5, 0.0, 1.0, 1.0)  # [0, 1] x [0, 1]
    # A unit square turned 45 deg, centred at (1 + a, 1 + a) off the square's corner (1, 1):
    # its nearest edge is a sqrt(2) - 0.5 from that corner, so it touches for a <= 0.354,
    # while its axis-aligned bounding box (half size 0.707) overlaps the square up to a 0.707.
    for a, touching in ((0.30, True), (0.40, False), (0.60, False)):
        c = 0.5 * math.cos(math.pi / 4)  # the reference is half a side behind the centre
        diamond = rect_corners(1.0 + a - c, 1.0 + a - c, math.pi / 4, 1.0, 1.0)
        assert bool(overlap(square, diamond)[0]) is touching
        assert diamond[0, :, 0].min() < 1.0 and diamond[0, :, 1].min() < 1.0  # boxes overlap
        gap = 0.0 if touching else a * math.sqrt(2.0) - 0.5
        assert footprint_distance(square[0], diamond[0]) == pytest.approx(gap, abs=1e-9)
    far = rect_corners(3.0, 0.5, 0.0, 1.0, 1.0)
    assert footprint_distance(square[0], far[0]) == pytest.approx(2.0)


def test_contact_impact_speed_is_along_the_ego_heading() -> None:
    # A crossing target touching the ego's front: impact = ego speed; head-on: the sum;
    # rear-end: the difference.
    cross = _Obj(TargetSpec(0.0, -1.0, 2.0, hwl_m=PEDESTRIAN_HWL_M, heading_deg=90.0), 0.2, 2.0)
    oncoming = _Obj(TargetSpec(4.0, 0.0, 10.0, heading_deg=180.0), 3.8, 10.0)
    ahead = _Obj(TargetSpec(0.0, 0.0, 4.0), -0.1, 4.0)
    for o in (cross, oncoming, ahead):
        o.set_lateral(0.0)
    hit, speed, _ = contact([cross], 0.0, (0.0, 0.0, 0.0), 12.0, (4.5, 1.8), [True])
    assert hit == 0 and speed == pytest.approx(12.0, abs=1e-12)
    hit, speed, clear = contact([oncoming], 0.0, (0.0, 0.0, 0.0), 12.0, (4.5, 1.8), [True])
    assert hit == 0 and speed == pytest.approx(22.0) and clear == 0.0
    assert contact([ahead], 0.0, (0.0, 0.0, 0.0), 12.0, (4.5, 1.8), [True])[1] == 8.0
    # Turned by 90 deg, the ego meets the oncoming car from its side: only the ego's speed.
    side = contact([oncoming], 0.0, (3.0, -0.5, math.pi / 2), 12.0, (4.5, 1.8), [True])
    assert side[0] == 0 and side[1] == pytest.approx(12.0, abs=1e-9)


def test_ego_path_arc_pose_and_curvature() -> None:
    path = EgoPath(turn_at_m=10.0, radius_m=8.0)
    x, y, psi = path.pose(np.array([5.0, 10.0, 10.0 + 8.0 * math.pi / 2, 30.0]))
    assert x.tolist() == pytest.approx([5.0, 10.0, 18.0, 18.0])
    assert y.tolist() == pytest.approx([0.0, 0.0, 8.0, 8.0 + 30.0 - 10.0 - 4.0 * math.pi])
    assert psi[2] == pytest.approx(math.pi / 2)
    assert path.curvature(12.0) == 1.0 / 8.0 and path.curvature(9.0) == 0.0
    with pytest.raises(ValueError, match="straight road and footprint_contact"):
        ScenarioSpec(5.0, (), ego_path=path)


def _u(y: float, x: float) -> float:
    """Image column of a vertical edge at (x ahead, y left) of the camera, pinhole, no pitch."""
    return CX - F * y / x


def test_obstructed_target_hidden_then_visible_at_the_computed_time() -> None:
    # A tall box (3 m, covers the pedestrian's whole image height) 10 m ahead, 2 m wide; a
    # pedestrian 20 m ahead walks right (heading -90) from behind it at 1.5 m/s.
    wall = TargetSpec(10.0, 0.0, 0.0, hwl_m=(3.0, 2.0, 1.0), fixed_size=True)
    ped = TargetSpec(20.0, 0.5, 1.5, hwl_m=(1.7, 0.6, 0.4), heading_deg=-90.0)
    objs = [_Obj(wall, 10.0, 0.0), _Obj(ped, 20.0, 1.5)]
    cam = CameraSim(sim_camera(Mount()), NOISELESS, np.random.default_rng(0), occlusion=True)
    # Hand: the wall's right image edge is its near right corner (x 10, y -1); the
    # pedestrian's image columns span its corners' bearings (x 19.7-20.3: its 0.6 m width
    # across its heading; y from its rear face d(t) 0.4 m on along -y). Visible once >= 20 %
    # of its width lies right of the wall's edge (the sensor's min_visible_fraction).
    edge = _u(-1.0, 10.0)

    def visible_share(t: float) -> float:
        d = 0.5 - 1.5 * t
        cols = [_u(y, x) for y in (d, d - 0.4) for x in (19.7, 20.3)]
        lo, hi = min(cols), max(cols)
        return min(max((hi - max(lo, edge)) / (hi - lo), 0.0), 1.0)

    lo_t, hi_t = 0.0, 3.0
    for _ in range(60):
        mid = 0.5 * (lo_t + hi_t)
        lo_t, hi_t = (mid, hi_t) if visible_share(mid) < 0.2 else (lo_t, mid)
    first = None
    for k in range(90):
        t = k * FRAME_NS * 1e-9
        for o in objs:
            o.d_rate = o.v * math.sin(o.heading)
            o.d = o.spec.lateral_m + o.d_rate * t
        corners = corners_in_ego(objs, 0.0, 0.0)
        cam.detect(corners, [int(ObjectClass.CAR), int(ObjectClass.PEDESTRIAN)], 0.0)
        assert cam.visible[0]
        if cam.visible[1] and first is None:
            first = t
    assert first is not None and hi_t <= first < hi_t + FRAME_NS * 1e-9
    assert hi_t > 0.5  # it was hidden at first


def test_first_visible_time_is_when_the_target_enters_the_field_of_view() -> None:
    # The ego at 1 m/s; a pedestrian (box 0.66 x 0.84 x 1.76) 40 m ahead crossing from 38 m to
    # the right at 3 m/s, outside the 83 deg field of view at first. Hand: its unclipped box is
    # visible once >= 20 % of its width is inside the image (right border column W - 1).
    v_e, v_p, s0, d0 = 1.0, 3.0, 40.0, -38.0
    ped = TargetSpec(s0, d0, v_p, hwl_m=PEDESTRIAN_HWL_M, heading_deg=90.0, fixed_size=True)
    spec = ScenarioSpec(v_e, (ped,), duration_s=4.0, footprint_contact=True)
    trial = simulate(spec, _NoBrake(), sim_camera(Mount()), np.random.default_rng(1), NOISELESS)
    right = SIM_SIZE[0] - 1.0
    w, length = PEDESTRIAN_HWL_M[1], PEDESTRIAN_HWL_M[2]

    def share(t: float) -> float:
        x0 = s0 - 0.5 * w - v_e * t  # its footprint: x in [x0, x0 + w], y in [d, d + length]
        d = d0 + v_p * t
        cols = [_u(y, x) for y in (d, d + length) for x in (x0, x0 + w)]
        lo, hi = min(cols), max(cols)
        return min(max((right - lo) / (hi - lo), 0.0), 1.0)

    lo_t, hi_t = 0.0, 4.0
    for _ in range(60):
        mid = 0.5 * (lo_t + hi_t)
        lo_t, hi_t = (mid, hi_t) if share(mid) < 0.2 else (lo_t, mid)
    first = trial.metrics["first_visible_time_s"]
    assert first is not None and hi_t <= first < hi_t + FRAME_NS * 1e-9
    assert hi_t > 0.5  # outside the field of view at first


class _Recorder(_NoBrake):
    def __init__(self) -> None:
        self.yaw: list[tuple[float, float]] = []

    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput:
        self.yaw.append((ego.t_ns * 1e-9, ego.yaw_rate_rps))
        return super().__call__(detections, ego)


def test_turning_ego_reports_its_yaw_rate_and_meets_the_oncoming_car() -> None:
    # Straight for 10 m at 5 m/s, then a left arc of 10 m radius: yaw rate 0, then 0.5 rad/s
    # from 2 s until the quarter circle ends (pi / 2 * 10 m / 5 m/s = 3.14 s later).
    path = EgoPath(turn_at_m=10.0, radius_m=10.0)
    car = TargetSpec(60.0, 3.5, 10.0, heading_deg=180.0)
    spec = ScenarioSpec(5.0, (car,), duration_s=6.0, footprint_contact=True, ego_path=path)
    rec = _Recorder()
    trial = simulate(spec, rec, sim_camera(Mount()), np.random.default_rng(0), NOISELESS)
    for t, yaw in rec.yaw:
        inside = 2.0 + 1e-6 < t < 2.0 + math.pi - 1e-6
        if inside or t < 2.0 - 1e-6 or t > 2.0 + math.pi + 1e-6:
            assert yaw == pytest.approx(0.5 if inside else 0.0), t
    # The ego crosses the oncoming lane's centre (y 3.5) at arc a = 10 acos(1 - 0.35) = 8.63 m
    # past the turn's start, x = 10 + 10 sin(a / 10) = 17.6 m, at t = 3.73 s; the car's front
    # (60 - 3.88 at 10 m/s) is there at 3.85 s: they meet. The impact speed is the ego's plus
    # the car's along the ego's heading at contact: 5 + 10 cos(psi), psi = (5 t - 10) / 10.
    m = trial.metrics
    assert m["collided"] and m["end"] == "collision" and 3.6 < m["duration_s"] < 4.0
    psi = (5.0 * m["duration_s"] - 10.0) / 10.0
    assert m["impact_speed_kmh"] == pytest.approx(3.6 * (5.0 + 10.0 * math.cos(psi)), abs=2e-3)
