"""Road vertical profile: exact parabolic elevations, objects on the road, crests hiding cars."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas.camera import Mount
from adas.scenarios.camera_sim import SensorModel, clip_hidden, sim_camera, visible_boxes
from adas.scenarios.road import RoadProfile, corners_in_ego, hidden_below_rows
from adas.scenarios.sim import CAR_HWL_M, ScenarioSpec, TargetSpec, _Obj, simulate
from adas.types import Decision, DecisionLevel, Detections, EgoState, ObjectStates, Tracks
from tests.adas.scenarios.noiseless import NOISELESS

# The sharpest crest of a 50 km/h road (R = 84 / 0.12 = 700 m), top 1.26 m high at s = 42 m.
CREST = RoadProfile(((0.0, 0.06), (84.0, -0.06)))


def test_parabolic_crest_elevation_is_exact() -> None:
    s = np.array([-50.0, 0.0, 21.0, 42.0, 84.0, 184.0])
    # z = 0.06 s - 0.12 / (2 * 84) s^2 on the curve, straight grades outside it
    want = [-3.0, 0.0, 1.26 - 0.315, 2.52 - 1.26, 5.04 - 5.04, -6.0]
    np.testing.assert_allclose(CREST.elevation(s), want, atol=1e-12)
    np.testing.assert_allclose(CREST.grade(s), [0.06, 0.06, 0.03, 0.0, -0.06, -0.06], atol=1e-15)
    # Starting mid-profile: the elevation is still counted from s = 0.
    late = RoadProfile(((-100.0, 0.0), (100.0, 0.02)))
    assert late.elevation(0.0) == 0.0
    assert late.elevation(100.0) == pytest.approx(0.5 * (0.01 + 0.02) * 100.0)  # mean grade
    assert RoadProfile().flat and RoadProfile(((0.0, 0.0), (50.0, 0.0))).flat


def test_profile_rejects_bad_breakpoints() -> None:
    with pytest.raises(ValueError, match="rising s"):
        RoadProfile(((10.0, 0.0), (5.0, 0.01)))
    with pytest.raises(ValueError, match="grade"):
        RoadProfile(((0.0, 0.5),))


def test_objects_sit_on_the_road_pitched_by_its_grade() -> None:
    """Ego on a level start, a car on a 4 % ramp: its rear bottom at the road's elevation and
    both ends on the road (chord slope of the parabola = grade at its middle)."""
    ramp = RoadProfile(((0.0, 0.0), (100.0, 0.04)))
    for s in (150.0, 40.0):  # beyond the curve, then on it
        obj = _Obj(TargetSpec(s), s, 0.0)
        c = corners_in_ego([obj], 0.0, 0.0, profile=ramp)[0]
        flat = corners_in_ego([obj], 0.0, 0.0)[0]
        rear = 0.5 * (c[0] + c[1])
        assert rear[0] == pytest.approx(s, abs=1e-9) and rear[2] == pytest.approx(
            float(ramp.elevation(s)), abs=1e-9
        )
        theta = math.atan(float(ramp.grade(s + 0.5 * CAR_HWL_M[2])))
        front = 0.5 * (c[2] + c[3])
        assert front[2] - rear[2] == pytest.approx(CAR_HWL_M[2] * math.sin(theta), abs=1e-9)
        assert front[2] == pytest.approx(float(ramp.elevation(front[0])), abs=2e-4)
        # the box keeps its size
        assert np.linalg.norm(c[4] - c[0]) == pytest.approx(CAR_HWL_M[0], abs=1e-9)
        assert np.linalg.norm(flat[2] - flat[1]) == pytest.approx(np.linalg.norm(c[2] - c[1]))


def test_ego_frame_is_pitched_by_its_grade() -> None:
    """On a constant 4 % grade everything on the road is level in the ego frame."""
    up = RoadProfile(((0.0, 0.04),))
    c = corners_in_ego([_Obj(TargetSpec(30.0), 80.0, 0.0)], 50.0, 0.0, profile=up)[0]
    np.testing.assert_allclose(c[:4, 2], 0.0, atol=1e-9)
    assert c[0, 0] == pytest.approx(30.0 / math.cos(math.atan(0.04)), abs=1e-9)


def test_a_car_beyond_a_crest_is_below_the_line_of_sight() -> None:
    cam = sim_camera(Mount(height_m=1.65))
    sensor = SensorModel()

    def seen(s_obj: float) -> tuple[np.ndarray, float]:
        objs = [_Obj(TargetSpec(s_obj), s_obj, 0.0)]
        corners = corners_in_ego(objs, 0.0, 0.0, profile=CREST)
        rows = hidden_below_rows(cam, 0.0, CREST, 0.0, [s_obj], 0.0)
        return clip_hidden(visible_boxes(cam, corners, 0.0, sensor), rows, sensor)[0], rows[0]

    # Independent check: the straight line from the camera to the car's roof 120 m ahead
    # passes under the road surface near the top of the crest.
    s_obj = 120.0
    z_cam = 1.65  # (pitched 3.4 deg by the 6 % grade, the camera moves by 1 cm: negligible)
    roof = float(CREST.elevation(s_obj)) + CAR_HWL_M[0]
    ss = np.linspace(1.0, s_obj - 1.0, 2000)
    line = z_cam + (roof - z_cam) * ss / s_obj  # (world vertical; the camera is at s = 0)
    assert (CREST.elevation(ss) > line).any()
    box, row = seen(s_obj)
    assert np.isnan(box).all() and math.isfinite(row)
    near, _ = seen(30.0)  # before the top: fully visible
    assert np.isfinite(near).all()
    # A sag never hides anything: the road's highest row lies below the car's base.
    sag = RoadProfile(((0.0, -0.06), (84.0, 0.06)))
    objs = [_Obj(TargetSpec(s), s, 0.0) for s in (60.0, 120.0)]
    boxes = visible_boxes(cam, corners_in_ego(objs, 0.0, 0.0, profile=sag), 0.0, sensor)
    rows = hidden_below_rows(cam, 0.0, sag, 0.0, [60.0, 120.0], 0.0)
    assert (rows > boxes[:, 3]).all()
    np.testing.assert_array_equal(clip_hidden(boxes, rows, sensor)[0], boxes)


class _Recorder:
    def __init__(self) -> None:
        self.dets: list[Detections] = []

    def __call__(self, detections: Detections, ego: EgoState) -> object:
        from adas.scenarios.sim import ChainOutput

        self.dets.append(detections)
        z = np.zeros(0)
        objs = ObjectStates(np.zeros(0, np.int64), z, z, z, z, z, z, z, z)
        return ChainOutput(Decision(DecisionLevel.NONE, 0.0), Tracks.empty(), objs)


def test_scenario_road_profile_hides_then_shows_a_stopped_car() -> None:
    """Ego at 20 m/s towards a stopped car 120 m ahead beyond a crest: not detected at first,
    detected once the line of sight clears the crest (idealised sensor, never missed)."""
    spec = ScenarioSpec(20.0, (TargetSpec(120.0),), duration_s=4.0,
                        road_profile=CREST.breakpoints)  # fmt: skip
    rec = _Recorder()
    simulate(spec, rec, sim_camera(Mount()), np.random.default_rng(0), NOISELESS)  # type: ignore[arg-type]
    seen = [len(d) for d in rec.dets]
    first = seen.index(1)
    assert seen[:first] == [0] * first and first > 15  # hidden for more than 0.5 s
    assert all(n == 1 for n in seen[first:])
