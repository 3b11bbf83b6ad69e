"""Crossing prediction (adas.danger_crossing) and the new-track gate (adas.danger,
adas.kinematics.unavoidable_after)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from adas.danger import DangerAssessor, DangerConfig
from adas.danger_crossing import (
    bound_lateral_velocity,
    class_speed_limits,
    corridor_interval,
    ego_interval,
    intervals_overlap,
    lateral_speeds,
)
from adas.kinematics import VehicleConfig, unavoidable_after
from adas.types import DangerLevel, EgoState, ObjectClass, ObjectStates, Tracks, Zone
from tests.adas.test_danger import objects

INF = math.inf
HALF_ZONE = 0.5 * DangerConfig().ego_width_m + DangerConfig().path_margin_m  # 1.15 m


def tracks(n: int, cls: ObjectClass) -> Tracks:
    return Tracks(
        xyxy=np.tile(np.array([[600, 150, 660, 200]], np.float32), (n, 1)),
        score=np.full(n, 0.9, np.float32),
        class_id=np.full(n, int(cls), np.int64),
        track_id=np.arange(n, dtype=np.int64),
        age=np.full(n, 10, np.int64),
        hits=np.full(n, 10, np.int64),
        time_since_update=np.zeros(n, np.int64),
        det_index=np.arange(n, dtype=np.int64),
    )


def pedestrians(
    d: float, lat: list[float], vy: list[float], speed: float, sigma_vy: float = 0.1
) -> ObjectStates:
    """Pedestrians standing still along the road (closing at our speed), ranged to 0.5 m."""
    n = len(lat)
    o = objects([d] * n, lat=lat, rr=[-speed] * n, vy=vy)
    return dataclasses.replace(o, sigma_lateral_velocity_mps=np.full(n, sigma_vy))


def zones(
    obj: ObjectStates, speed: float, cls: ObjectClass = ObjectClass.PEDESTRIAN, yaw: float = 0.0,
    **kw: float,
) -> list[int]:  # fmt: skip
    """Zones of ``obj`` for tracks seen long enough (the new-track gate passed)."""
    a = DangerAssessor(DangerConfig(**kw))
    for t in (0, 10**9):
        out = a.update(
            tracks(len(obj), cls), obj, EgoState(t_ns=t, speed_mps=speed, yaw_rate_rps=yaw)
        )
    return [int(z) for z in out.zone]


def test_corridor_interval_exact_values() -> None:
    # Half width 0.5 m in a corridor of half width 1.0 m: inside while |o + u t| <= 1.5.
    t_in, t_out = corridor_interval(
        [-3.0, -0.5, 0.5, 0.5, 3.0, 3.0, np.nan],
        [2.0, 2.0, 2.0, 0.0, 2.0, 0.0, 2.0],
        [0.5] * 7,
        enter_half_m=1.0,
        exit_half_m=1.0,
    )
    # Coming in from the right: in at 1.5 m to go / 2 m/s, out on the far side after 4.5 m.
    # Inside moving across: out after 1.5 + 0.5 = 2 m. Inside moving out: after 1 m.
    # Inside and still: never out. Moving away, or still, outside: never in. NaN: never.
    assert t_in.tolist() == [0.75, 0.0, 0.0, 0.0, INF, INF, INF]
    assert t_out.tolist() == [2.25, 1.0, 0.5, INF, INF, INF, INF]
    # Narrower to get in (0.5 m) than to get out (1.0 m): in after 3 - 1 = 2 m, out after
    # 3 + 1.5 = 4.5 m; a target between the two (1.2 m) coming in is in after 0.2 m.
    t_in, t_out = corridor_interval(
        [-3.0, 1.2, 1.2], [2.0, -2.0, 2.0], [0.5] * 3, enter_half_m=0.5, exit_half_m=1.0
    )
    assert t_in.tolist() == [1.0, pytest.approx(0.1, abs=1e-12), INF]
    assert t_out.tolist() == [2.25, pytest.approx(1.35, abs=1e-12), INF]


def test_corridor_interval_matches_stepping_the_motion() -> None:
    # Random targets stepped at 1 ms: part of the body inside exactly between t_in and t_out.
    rng = np.random.default_rng(3)
    o, u = rng.uniform(-8.0, 8.0, 300), rng.uniform(-3.0, 3.0, 300)
    h, half = rng.uniform(0.2, 1.0, 300), rng.uniform(0.8, 1.5, 300)
    t_in, t_out = corridor_interval(o, u, h, enter_half_m=half, exit_half_m=half)
    t = np.arange(0.0, 20.0, 1e-3)
    for i in range(300):
        inside = np.abs(o[i] + u[i] * t) <= half[i] + h[i]
        if not inside.any():
            assert t_in[i] == INF or t_in[i] > 20.0
            continue
        first, last = t[inside][0], t[inside][-1]
        assert t_in[i] == pytest.approx(first, abs=1.1e-3)
        assert (t_out[i] > 20.0) if last == t[-1] else t_out[i] == pytest.approx(last, abs=1.1e-3)


def test_ego_interval_exact_values() -> None:
    # 20 m at 10 m/s, range to +-0.5 m (2 sigma: 1 m): front at the target after 19 m at the
    # earliest; rear past it after 20 + 1 + 4.8 (ego) + 0.84 (target) m at the latest.
    d, closing = [20.0, 20.0, 0.5, 20.0, 20.0], [10.0, 0.0, 10.0, 10.0, np.nan]
    t_arr, t_pass = ego_interval(
        d, closing, [0.5, 0.5, 0.5, np.nan, 0.5],
        range_sigmas=2.0, ego_length_m=4.8, target_length_m=0.84,
    )  # fmt: skip
    assert t_arr.tolist() == [1.9, INF, 0.0, 0.0, INF]
    assert t_pass[0] == pytest.approx(2.664, abs=1e-12)
    assert t_pass[1:].tolist() == [INF, pytest.approx(0.714, abs=1e-12), INF, INF]


def test_intervals_overlap_and_the_horizon() -> None:
    t_in = [0.75, 0.75, 2.7, 2.7, 3.5, 0.0, 0.0]
    t_out = [2.25, 1.5, 4.0, 4.0, 5.0, INF, 1.0]
    t_arr = [1.9, 1.9, 1.9, 5.0, 4.0, INF, INF]
    t_pass = [2.664, 2.664, 2.664, 6.0, 6.0, INF, INF]
    got = intervals_overlap(t_in, t_out, t_arr, t_pass, horizon_s=3.0).tolist()
    assert got == [
        True,  # in the corridor while we pass
        False,  # across before we arrive
        False,  # in only after we have passed
        True,  # still inside at the 3 s horizon: its exit at 4 s is not relied on
        False,  # in only after the horizon
        True,  # inside and staying, we never arrive (a lead at our speed)
        False,  # inside but out in 1 s, we never arrive
    ]


def test_lateral_speeds_and_the_class_bound() -> None:
    # Deadband 0.3 m/s; coming in at least 2 sigma.
    v_in, v_out = lateral_speeds(
        [1.4, -1.4, 0.2, 1.0, 1.0], [0.1, 0.1, 0.0, 0.4, np.nan], deadband_mps=0.3, sigmas=2.0
    )
    assert v_in.tolist() == pytest.approx([1.1, -1.1, 0.0, 0.2, 0.0], abs=1e-12)
    assert v_out.tolist() == pytest.approx([1.1, -1.1, 0.0, 0.7, 0.7], abs=1e-12)
    limit = class_speed_limits(pedestrian_mps=6.0, cyclist_mps=12.5, vehicle_mps=28.0)
    assert limit[ObjectClass.PEDESTRIAN] == 6.0 and limit[ObjectClass.BICYCLE] == 12.5
    others = [c for c in ObjectClass if c not in (ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE)]
    assert all(limit[c] == 28.0 for c in others)
    cls = [ObjectClass.PEDESTRIAN] * 3 + [ObjectClass.CAR, ObjectClass.BICYCLE]
    got = bound_lateral_velocity([10.0, -10.0, np.nan, 10.0, -20.0], limit[cls])
    assert got.tolist() == [6.0, -6.0, 0.0, 10.0, -12.5]
    # The shipped bounds: a pedestrian at most an average adult's sprint, a cyclist at most a
    # speed pedelec, a vehicle at most the rural-road limit.
    cfg = DangerConfig()
    assert 5.0 <= cfg.max_lateral_speed_pedestrian_mps <= 7.0
    assert cfg.max_lateral_speed_cyclist_mps == pytest.approx(45.0 / 3.6)
    assert cfg.max_lateral_speed_vehicle_mps == pytest.approx(100.0 / 3.6, abs=0.3)


def test_a_crossing_pedestrian_is_in_path_only_if_there_while_we_pass() -> None:
    """10 m/s, pedestrians crossing right to left at 1.4 m/s (known to 0.1 m/s: 1.1 m/s
    after the deadband), the corridor half width 1.15 m and a pedestrian's half width 0.33 m.
    """
    # 35 m ahead (we arrive at 3.4 s at the earliest), 1.8 m right of the path (its near side
    # 0.32 m outside the corridor): across by (1.8 + 1.48) / 1.1 = 2.98 s. No threat.
    assert zones(pedestrians(35.0, [-1.8], [1.4], 10.0), 10.0) != [Zone.IN_PATH]
    # The same pedestrian 25 m ahead (we are there from 2.4 s to 3.16 s): in path while
    # still outside the corridor.
    assert zones(pedestrians(25.0, [-1.8], [1.4], 10.0), 10.0) == [Zone.IN_PATH]
    # 20 m ahead (there from 1.9 s to 2.66 s), 4 m right: in the corridor from
    # (4 - 1.28) / 1.1 = 2.47 s, while we pass. At the time our front gets there (2 s) it
    # would still be 1.8 m right of the path at 1.1 m/s, and 1.2 m at its 1.4 m/s: a point
    # prediction at the arrival time misses it.
    assert zones(pedestrians(20.0, [-4.0], [1.4], 10.0), 10.0) == [Zone.IN_PATH]
    # Walking away from the path, or standing, 4 m right: no threat (the next lane over).
    assert zones(pedestrians(20.0, [-4.0, -4.0], [-1.4, 0.0], 10.0), 10.0) == [Zone.ADJACENT] * 2
    # The same crossing relative to the path on a left curve (R 100 m: the path is 2 m left
    # 20 m ahead) is decided the same way.
    curve = pedestrians(20.0, [2.0 - 4.0], [1.4], 10.0)
    assert zones(curve, 10.0, yaw=0.1) == [Zone.IN_PATH]


def test_a_pedestrian_standing_at_the_kerb_is_not_in_path() -> None:
    # Near side 0.5 m outside the corridor, standing (or its estimate jittering within the
    # deadband, or known only to +-1 m/s), 15-40 m ahead at 10 m/s: adjacent, never in path.
    lat = -(HALF_ZONE + 0.5 + 0.33)
    for d in (15.0, 25.0, 40.0):
        for vy, sig in ((0.0, 0.1), (0.25, 0.1), (0.8, 0.5)):
            assert zones(pedestrians(d, [lat], [vy], 10.0, sig), 10.0) == [Zone.ADJACENT]


def test_the_class_bound_keeps_an_implausible_lateral_speed_out() -> None:
    # A pedestrian 11 m right of the path 10 m ahead at 10 m/s, its lateral velocity read as
    # 9 m/s (a box jump). At 9 m/s it would be in the corridor while we pass; bounded to a
    # sprint (6 m/s) it cannot get there before we have passed (1.66 s).
    ped = pedestrians(10.0, [-11.0], [9.0], 10.0)
    assert zones(ped, 10.0, max_lateral_speed_pedestrian_mps=15.0) == [Zone.IN_PATH]
    assert zones(ped, 10.0) == [Zone.OUTSIDE]
    # A car may move that fast sideways (crossing traffic).
    assert zones(ped, 10.0, cls=ObjectClass.CAR) == [Zone.IN_PATH]


def test_a_slow_cut_in_stays_in_path_beyond_the_horizon() -> None:
    # A car 3.5 m left, 20 m ahead, closing at 1 m/s, moving in at 1.2 m/s: in the corridor
    # within 2 s; constant velocity would take it out on the far side at 4.6 s, before we
    # arrive (19 s), but a car changing into our lane stops there: an exit beyond the 3 s
    # horizon is not relied on (as before the crossing prediction).
    car = objects([20.0], lat=[3.5], rr=[-1.0], vy=[-1.2])
    assert zones(car, 20.0, cls=ObjectClass.CAR) == [Zone.IN_PATH]


def test_unavoidable_after_exact_boundary() -> None:
    # 72 km/h towards a standing object 30 m ahead, 0.3 s brake latency, 9 m/s^2 at most:
    # braking after the latency needs 400 / (2 (30 - 6)) = 8.33 m/s^2; the last moment is
    # where 400 / (2 (30 - 6 - 20 t)) = 9, t = (24 - 400 / 18) / 20 = 0.0889 s.
    veh = VehicleConfig()
    assert (veh.brake_latency_s, veh.max_decel_mps2) == (0.3, 9.0)
    t_last = (24.0 - 400.0 / 18.0) / 20.0
    assert not unavoidable_after(0.0, 30.0, 20.0, -20.0, 0.0, 0.0, vehicle=veh)
    assert not unavoidable_after(t_last - 1e-6, 30.0, 20.0, -20.0, 0.0, 0.0, vehicle=veh)
    assert unavoidable_after(t_last + 1e-6, 30.0, 20.0, -20.0, 0.0, 0.0, vehicle=veh)
    # Not closing: never; bad input: never.
    assert not unavoidable_after(0.3, 30.0, 20.0, 0.0, 0.0, 0.0, vehicle=veh)
    assert not unavoidable_after(math.nan, math.nan, 20.0, -20.0, 0.0, 0.0, vehicle=veh)


def young_levels(d: float, frames: int, speed: float = 20.0) -> list[int]:
    """Danger level of one object standing ``d`` m ahead on each of ``frames`` frames at 30
    fps, from its first frame on (a new track)."""
    a = DangerAssessor()
    o = objects([d], rr=[-speed])  # TTC d / speed, known to 0.1 s
    out = []
    for k in range(frames):
        ego = EgoState(t_ns=k * 33_333_333, speed_mps=speed)
        out.append(int(a.update(tracks(1, ObjectClass.PEDESTRIAN), o, ego).danger[0]))
    return out


def test_the_new_track_gate_yields_when_waiting_would_cost_the_collision() -> None:
    # A child appears 30 m ahead at 72 km/h (TTC 1.5 s, 8.3 m/s^2 needed): waiting out the
    # 0.3 s gate would need 11.1 m/s^2, beyond the 9 m/s^2 the car can brake. Held on its
    # first frame only (a one-frame ghost raises nothing), full braking from the second.
    assert young_levels(30.0, 3) == [
        DangerLevel.NONE,
        DangerLevel.BRAKE_FULL,
        DangerLevel.BRAKE_FULL,
    ]
    # 60 m ahead (TTC 3 s, 3.7 m/s^2 needed, 4.1 after the wait): there is time, so the gate
    # holds it for 0.3 s (a ghost that lasts that long raises nothing); then a warning.
    levels = young_levels(60.0, 12)
    assert levels[:10] == [DangerLevel.NONE] * 10  # frames 0-9: up to 0.29999997 s
    assert levels[10:] == [DangerLevel.WARNING] * 2  # from 0.333 s


def test_the_band_may_differ_per_row() -> None:
    """Pedestrians and riders have their own band (danger.vru_lateral_velocity_sigmas): per
    row, 1.4 m/s with a 0.4 m/s sigma comes in at 1.4 - 2 x 0.4 or at 1.4 - the deadband."""
    v_in, v_out = lateral_speeds([1.4, 1.4, -1.4], [0.4, 0.4, 0.4], deadband_mps=0.3,
                                 sigmas=[2.0, 0.0, 1.0])  # fmt: skip
    np.testing.assert_allclose(v_in, [0.6, 1.1, -1.0])
    np.testing.assert_allclose(v_out, [1.1, 1.1, -1.1])


def test_no_entry_where_the_margin_is_wider_than_the_corridor() -> None:
    """An oncoming car 63 m ahead on a 250 m right curve, its range known to 12 m: the offset
    margin (2.8 m) exceeds the corridor's half width and its own (1.15 + 0.8 m), so no position
    is inside by the margin; it must not be taken to enter (a false warning in
    false-reaction/oncoming-curve-r250-70 before this)."""
    t_in, t_out = corridor_interval([-0.85], [0.53], [0.8], enter_half_m=[1.15 - 2.76],
                                    exit_half_m=[1.15])  # fmt: skip
    assert math.isinf(t_in[0])
    assert not intervals_overlap(t_in, t_out, [1.3], [3.23], horizon_s=3.0)[0]
    # With a margin that leaves room, the same target enters where the formula says.
    t_in, _ = corridor_interval([-2.0], [0.5], [0.8], enter_half_m=[0.5], exit_half_m=[1.15])
    assert t_in[0] == pytest.approx((2.0 - 1.3) / 0.5)
