"""Danger zone geometry and per-object danger levels (adas.danger)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adas.camera import CameraModel, Mount
from adas.danger import DangerAssessor, DangerConfig, required_decel
from adas.errors import ConfigError, ContractError
from adas.types import DangerLevel, EgoState, ObjectClass, ObjectStates, Tracks, Zone


def objects(
    d: list[float],
    lat: list[float] | None = None,
    rr: list[float] | None = None,
    acc: list[float] | None = None,
    vy: list[float] | None = None,
    ttc: list[float] | None = None,
) -> ObjectStates:
    n = len(d)
    dist = np.asarray(d, float)
    rate = np.asarray(rr if rr is not None else [0.0] * n, float)
    if ttc is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ttc_a = np.where(rate < 0, dist / -rate, np.inf)
    else:
        ttc_a = np.asarray(ttc, float)
    return ObjectStates(
        track_id=np.arange(n, dtype=np.int64),
        distance_m=dist,
        lateral_m=np.asarray(lat if lat is not None else [0.0] * n, float),
        sigma_distance_m=np.full(n, 0.5),
        range_rate_mps=rate,
        accel_mps2=np.asarray(acc if acc is not None else [0.0] * n, float),
        lateral_velocity_mps=np.asarray(vy if vy is not None else [0.0] * n, float),
        ttc_s=ttc_a,
        sigma_ttc_s=np.full(n, 0.1),
    )


def tracks(n: int, xyxy: list[list[float]] | None = None) -> Tracks:
    boxes = np.asarray(xyxy if xyxy is not None else [[600, 150, 660, 200]] * n, np.float32)
    boxes = boxes.reshape(-1, 4)
    return Tracks(
        xyxy=boxes,
        score=np.full(n, 0.9, np.float32),
        class_id=np.full(n, int(ObjectClass.CAR), np.int64),
        track_id=np.arange(n, dtype=np.int64),
        age=np.full(n, 10, np.int64),
        hits=np.full(n, 10, np.int64),
        time_since_update=np.zeros(n, np.int64),
        det_index=np.arange(n, dtype=np.int64),
    )


def assess(obj: ObjectStates, speed: float = 20.0, yaw: float = 0.0, **kw: object) -> ObjectStates:
    """The danger of ``obj`` for tracks seen long enough (the new-track gate passed)."""
    a = DangerAssessor(DangerConfig(**kw))  # type: ignore[arg-type]
    a.update(tracks(len(obj)), obj, EgoState(t_ns=0, speed_mps=speed, yaw_rate_rps=yaw))
    return a.update(tracks(len(obj)), obj, EgoState(t_ns=10**9, speed_mps=speed, yaw_rate_rps=yaw))


def test_required_deceleration_exact_values() -> None:
    # Stationary target 40 m ahead at 20 m/s: v^2 / 2d = 5.
    assert required_decel(np.array([40.0]), 20.0, np.array([-20.0]), np.zeros(1), 0.0)[0] == 5.0
    # Slower target, constant speeds: c^2 / 2d.
    assert required_decel(np.array([25.0]), 20.0, np.array([-10.0]), np.zeros(1), 0.0)[0] == 2.0
    # Same speed, target braking at 6 m/s^2 to a stop: ego must stop within d + s_t.
    b = required_decel(np.array([30.0]), 20.0, np.array([0.0]), np.array([-6.0]), 0.0)[0]
    # (the larger of matching its deceleration, 6, and stopping within d + s_t, 3.16)
    assert b == pytest.approx(max(6.0, 400.0 / (2.0 * (30.0 + 400.0 / 12.0))))
    # Opening gap, target not braking: nothing needed.
    assert required_decel(np.array([30.0]), 20.0, np.array([3.0]), np.zeros(1), 0.0)[0] == 0.0
    # Non-finite inputs give 0, never NaN.
    out = required_decel(np.array([np.nan]), 20.0, np.array([np.nan]), np.array([np.nan]), 0.0)
    assert np.isfinite(out).all()


def test_zone_straight_road() -> None:
    o = assess(objects([30.0, 30.0, 30.0, 200.0], lat=[0.3, 3.5, 9.0, 0.0]))
    assert o.zone.tolist() == [Zone.IN_PATH, Zone.ADJACENT, Zone.OUTSIDE, Zone.OUTSIDE]


def test_zone_follows_the_curve() -> None:
    # Radius 250 m to the left at 20 m/s: 50 m ahead the path is 5 m to the left.
    o = assess(objects([50.0, 50.0], lat=[5.0, 0.0]), yaw=20.0 / 250.0)
    assert o.zone.tolist() == [Zone.IN_PATH, Zone.ADJACENT]


def test_cut_in_is_in_path_before_it_arrives_and_turning_out_leaves() -> None:
    o = assess(objects([20.0, 30.0], lat=[3.5, 0.5], rr=[-5.0, -10.0], vy=[-1.2, 1.5]))
    assert o.zone.tolist() == [Zone.IN_PATH, Zone.ADJACENT]
    # The same lateral speeds inside the deadband are noise: nothing moves.
    still = assess(objects([20.0, 30.0], lat=[3.5, 0.5], rr=[-5.0, -10.0], vy=[-0.2, 0.25]))
    assert still.zone.tolist() == [Zone.ADJACENT, Zone.IN_PATH]


def test_levels_follow_ttc_and_required_deceleration() -> None:
    # 20 m/s towards a stopped car: TTC and v^2/2d decide the level.
    d = [100.0, 50.0, 45.0, 30.0, 15.0]
    o = assess(objects(d, rr=[-20.0] * 5))
    assert o.danger.tolist() == [
        DangerLevel.NONE,  # TTC 5 s, 2 m/s^2
        DangerLevel.WARNING,  # TTC 2.5 s, 4.0 m/s^2
        DangerLevel.WARNING,  # TTC 2.25 s, 4.4 m/s^2
        DangerLevel.BRAKE_PARTIAL,  # TTC 1.5 s, 6.7 m/s^2
        DangerLevel.BRAKE_FULL,  # TTC 0.75 s
    ]
    # Following at the same speed 15 m behind at 20 m/s: headway 0.75 s, no closing.
    f = assess(objects([15.0], rr=[0.0]))
    assert f.danger.tolist() == [DangerLevel.CAUTION]
    # Out of the path nothing is dangerous.
    side = assess(objects([15.0], lat=[3.5], rr=[-20.0]))
    assert side.danger.tolist() == [DangerLevel.NONE]


def test_no_ground_contact_and_implausible_size_are_never_threats() -> None:
    k = np.array([[721.5, 0.0, 609.6], [0.0, 721.5, 172.9], [0.0, 0.0, 1.0]])
    cam = CameraModel(K=k, dist=np.zeros(5), width=1242, height=375, mount=Mount(height_m=1.65))
    a = DangerAssessor(camera=cam)
    ego = EgoState(t_ns=10**9, speed_mps=20.0)
    a._born_ns = {0: 0, 1: 0, 2: 0}  # tracks seen for 1 s
    # A car 30 m ahead: bottom at cy + f h / d = 172.9 + 39.7, 1.5 m tall = 36 px.
    car = [600.0, 212.6 - 36.1, 660.0, 212.6]
    # A gantry at 30 m: its box ends 5 m above the road (above the horizon).
    gantry = [300.0, 20.0, 900.0, 172.9 - 721.5 * (5.0 - 1.65) / 30.0]
    # A "car" whose box is 4 x too tall for its range.
    giant = [600.0, 212.6 - 4 * 36.1, 660.0, 212.6]
    o = a.update(tracks(3, [car, gantry, giant]), objects([30.0] * 3, rr=[-20.0] * 3), ego)
    assert o.zone.tolist() == [Zone.IN_PATH, Zone.OUTSIDE, Zone.OUTSIDE]
    assert o.danger[0] >= DangerLevel.WARNING and (o.danger[1:] == DangerLevel.NONE).all()
    assert a.no_threat == {"no_ground_contact": 1, "implausible_size": 1}


def test_a_new_track_gets_no_warning_until_it_is_old_enough() -> None:
    a = DangerAssessor()
    o = objects([30.0], rr=[-20.0])  # TTC 1.5 s
    levels = []
    for k in range(12):  # 30 fps
        t = k * 33_333_333
        levels.append(int(a.update(tracks(1), o, EgoState(t_ns=t, speed_mps=20.0)).danger[0]))
    first = levels.index(DangerLevel.BRAKE_PARTIAL)
    assert set(levels[:first]) <= {DangerLevel.NONE, DangerLevel.CAUTION}
    assert (first - 1) * 33_333_333 < 0.3e9 <= first * 33_333_333


def test_a_floating_track_stays_no_threat_once_latched() -> None:
    k = np.array([[721.5, 0.0, 640.0], [0.0, 721.5, 360.0], [0.0, 0.0, 1.0]])
    cam = CameraModel(K=k, dist=np.zeros(5), width=1280, height=720, mount=Mount(height_m=1.5))
    a = DangerAssessor(camera=cam)
    a._born_ns = {0: -(10**9)}
    sign = [300.0, 200.0, 900.0, 360.0 - 721.5 * (5.0 - 1.5) / 30.0]  # 5 m up, 30 m ahead
    cut_at_top = [300.0, 0.0, 900.0, 300.0]  # closer: cut by the top, bottom lower in view
    o = objects([30.0], rr=[-20.0])
    for k_ in range(3):
        out = a.update(tracks(1, [sign]), o, EgoState(t_ns=k_ * 33_333_333, speed_mps=20.0))
        assert out.zone[0] == Zone.OUTSIDE
    near = objects([8.0], rr=[-20.0])
    out = a.update(tracks(1, [cut_at_top]), near, EgoState(t_ns=10**8, speed_mps=20.0))
    assert out.zone[0] == Zone.OUTSIDE and out.danger[0] == DangerLevel.NONE


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.floats(allow_nan=True, allow_infinity=True, width=32),
        ),
        min_size=0,
        max_size=6,
    ),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_any_input_gives_valid_zones_and_levels(
    rows: list[tuple[float, float, float]], v: float
) -> None:
    d = [r[0] for r in rows]
    o = objects(d, lat=[r[1] for r in rows], rr=[r[2] for r in rows], vy=[r[1] for r in rows])
    out = DangerAssessor().update(tracks(len(rows)), o, EgoState(t_ns=0, speed_mps=v))
    assert set(out.zone.tolist()) <= {int(z) for z in Zone}
    assert set(out.danger.tolist()) <= {int(x) for x in DangerLevel}
    # Rows without a finite range are never threats.
    for i, r in enumerate(rows):
        if not (math.isfinite(r[0]) and math.isfinite(r[1])):
            assert out.danger[i] == DangerLevel.NONE and out.zone[i] == Zone.OUTSIDE


def test_bad_config_and_mismatched_rows() -> None:
    with pytest.raises(ConfigError, match="full_ttc_s"):
        DangerConfig(full_ttc_s=2.0, partial_ttc_s=1.5)
    with pytest.raises(ContractError, match="object rows"):
        DangerAssessor().update(tracks(2), objects([10.0]), EgoState(t_ns=0, speed_mps=10.0))
