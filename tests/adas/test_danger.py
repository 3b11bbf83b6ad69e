"""Danger zone geometry and per-object danger levels (adas.danger)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adas.camera import CameraModel, Mount
from adas.danger import DangerAssessor, DangerConfig
from adas.errors import ConfigError, ContractError
from adas.kinematics import VehicleConfig, required_decel
from adas.types import DangerLevel, EgoState, ObjectClass, ObjectStates, Tracks, Zone

COLLISION_DECEL_MPS2 = VehicleConfig().collision_decel_mps2


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
    # Same speed, target braking at 6 m/s^2 to a stop: it stops first, so stopping within
    # d + s_t is enough (not matching its 6 m/s^2).
    b = required_decel(np.array([30.0]), 20.0, np.array([0.0]), np.array([-6.0]), 0.0)[0]
    assert b == pytest.approx(400.0 / (2.0 * (30.0 + 400.0 / 12.0)))
    # Closing at 10 m/s on a target at 10 m/s braking at 2 m/s^2, 10 m ahead: the speeds
    # match before it stops (2d/c = 2 s < 5 s), the tangent case 2 + 100/20 = 7.
    b = required_decel(np.array([10.0]), 20.0, np.array([-10.0]), np.array([-2.0]), 0.0)[0]
    assert b == pytest.approx(7.0)
    # Latency: 0.5 s at 20 m/s towards a stopped car 40 m ahead leaves 30 m: 400 / 60.
    b = required_decel(np.array([40.0]), 20.0, np.array([-20.0]), np.zeros(1), 0.0, 0.5)[0]
    assert b == pytest.approx(400.0 / 60.0)
    # Contact within the latency: beyond any brakes.
    b = required_decel(np.array([5.0]), 20.0, np.array([-20.0]), np.zeros(1), 0.0, 0.5)[0]
    assert b == COLLISION_DECEL_MPS2
    # Opening gap, target not braking: nothing needed.
    assert required_decel(np.array([30.0]), 20.0, np.array([3.0]), np.zeros(1), 0.0)[0] == 0.0
    # Non-finite inputs give 0, never NaN.
    out = required_decel(np.array([np.nan]), 20.0, np.array([np.nan]), np.array([np.nan]), 0.0)
    assert np.isfinite(out).all()


def _min_gap(
    d: float, v_e: float, v_t: float, a_e: float, a_t: float, lat: float, b: float
) -> float:
    """Smallest gap over time: both at their accelerations for ``lat`` s, then the ego at -b;
    speeds stop at 0 (1 ms steps)."""
    t = np.arange(0.0, 60.0, 1e-3)
    acc_e = np.where(t < lat, a_e, -b)
    v_e_t = np.maximum(v_e + np.concatenate([[0.0], np.cumsum(acc_e[:-1]) * 1e-3]), 0.0)
    v_t_t = np.maximum(v_t + a_t * t, 0.0)
    gap = d + np.cumsum(v_t_t - v_e_t) * 1e-3
    return float(gap.min())


def test_required_deceleration_is_the_smallest_that_avoids_contact() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(60):
        d, v_e = rng.uniform(3.0, 60.0), rng.uniform(3.0, 30.0)
        v_t = rng.uniform(0.0, v_e + 5.0)
        a_t, a_e, lat = rng.uniform(-8.0, 1.0), rng.uniform(-3.0, 1.0), rng.choice([0.0, 0.3])
        rel_v, rel_a = np.array([v_t - v_e]), np.array([a_t - a_e])
        b = float(required_decel(np.array([d]), v_e, rel_v, rel_a, a_e, lat)[0])
        if b >= COLLISION_DECEL_MPS2:
            assert _min_gap(d, v_e, v_t, a_e, a_t, lat, 1e6) < 0.05
            continue
        assert _min_gap(d, v_e, v_t, a_e, a_t, lat, b + 1e-6) >= -0.05  # enough ...
        if b > 0.2:  # ... and not more than needed
            assert _min_gap(d, v_e, v_t, a_e, a_t, lat, 0.95 * b) < 0.0
            checked += 1
    assert checked >= 20


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


def test_an_object_alongside_is_never_in_path() -> None:
    # Nearest face behind our front bumper, lateral estimate overlapping the path (a car we
    # pass, cut by the image border): a side system's business, not a forward collision.
    # (Ranged to 5 cm, as boxes this near are: the in-path test allows for range errors.)
    near = objects([-0.4, 0.4], lat=[1.2, 1.2], rr=[-7.0, -7.0])
    o = assess(dataclasses.replace(near, sigma_distance_m=np.full(2, 0.05)))
    assert o.zone.tolist() == [Zone.ADJACENT, Zone.IN_PATH]
    assert o.danger[0] == DangerLevel.NONE


def test_levels_follow_ttc_and_required_deceleration() -> None:
    # 20 m/s towards a stopped car: TTC and the need v^2 / 2(d - 6 m) (braking acts after the
    # 0.3 s brake latency) decide the level.
    d = [100.0, 70.0, 60.0, 45.0, 36.0, 30.0, 15.0]
    o = assess(objects(d, rr=[-20.0] * len(d)))
    assert o.danger.tolist() == [
        DangerLevel.NONE,  # TTC 5 s, 2.1 m/s^2
        DangerLevel.NONE,  # TTC 3.5 s, 3.1 m/s^2
        DangerLevel.WARNING,  # TTC 3 s, 3.7 m/s^2
        DangerLevel.BRAKE_PARTIAL,  # TTC 2.25 s, 5.1 m/s^2
        DangerLevel.BRAKE_PARTIAL,  # TTC 1.8 s, 6.7 m/s^2
        DangerLevel.BRAKE_FULL,  # TTC 1.5 s, 8.3 m/s^2
        DangerLevel.BRAKE_FULL,  # TTC 0.75 s
    ]
    # A TTC not yet known to +-ttc_max_rel_sigma (80 %) does not count (the need alone still
    # does): TTC 3 s known to +-2.7 s.
    vague = objects([60.0], rr=[-20.0])
    vague = dataclasses.replace(vague, sigma_ttc_s=np.array([2.7]))
    assert assess(vague).danger.tolist() == [DangerLevel.NONE]
    # Following at the same speed 15 m behind at 20 m/s: headway 0.75 s, no closing.
    f = assess(objects([15.0], rr=[0.0]))
    assert f.danger.tolist() == [DangerLevel.CAUTION]
    # Out of the path nothing is dangerous.
    side = assess(objects([15.0], lat=[3.5], rr=[-20.0]))
    assert side.danger.tolist() == [DangerLevel.NONE]


def test_a_warning_or_brake_needs_a_predicted_collision() -> None:
    # Real dashcam clips braked with "partial braking, TTC inf s, required 25.3 m/s^2": a
    # target creeping closer at 1 m/s with a wild deceleration estimate and no predicted
    # collision. The need it implies is above partial braking's, yet no level is raised.
    wild = objects([20.0], rr=[-1.0], acc=[-20.0], ttc=[math.inf])
    o = assess(wild, speed=15.0)
    assert o.required_decel_mps2[0] > DangerConfig().partial_decel_mps2
    assert o.danger.tolist() == [DangerLevel.NONE]
    # The same need with a collision predicted in 2.5 s (beyond partial braking's 1.9 s) and
    # known to +-0.1 s: the need raises it to partial braking.
    sure = objects([20.0], rr=[-1.0], acc=[-20.0], ttc=[2.5])
    assert assess(sure, speed=15.0).danger.tolist() == [DangerLevel.BRAKE_PARTIAL]
    # Predicted, but known only to +-2.25 s (more than +-80 % of 2.5 s): not yet.
    vague = dataclasses.replace(sure, sigma_ttc_s=np.array([2.25]))
    assert assess(vague, speed=15.0).danger.tolist() == [DangerLevel.NONE]


def test_a_warning_holds_while_the_ttc_is_within_its_noise_of_the_threshold() -> None:
    # R152 40 km/h, stationary target: the TTC estimate wandered 2.8 -> 3.6 s (sigma 1.7 s)
    # and back; the warning ended, restarted at TTC 1.9 s and braking waited another 0.8 s
    # (impact at 9 km/h). A warned track keeps WARNING while TTC - sigma <= 3.2 s.
    a = DangerAssessor()
    ego = [EgoState(t_ns=k * 10**8, speed_mps=11.1, yaw_rate_rps=0.0) for k in range(10)]

    def level(k: int, ttc: float, sigma: float, rr: float = -10.0) -> int:
        o = dataclasses.replace(objects([33.0], rr=[rr], ttc=[ttc]), sigma_ttc_s=np.array([sigma]))
        return int(a.update(tracks(1), o, ego[k]).danger[0])

    assert level(0, 2.9, 0.9) == DangerLevel.NONE  # not yet old enough (0.3 s)
    assert level(4, 2.9, 0.9) == DangerLevel.WARNING
    assert level(5, 3.6, 1.7) == DangerLevel.WARNING  # held: 3.6 - 1.7 <= 3.2
    # Held while it closes in without a TTC known to be beyond 3.2 s (a box drift read as the
    # target pulling away gives TTC inf), released once both TTCs are known beyond it.
    assert level(6, math.inf, math.inf, rr=-8.0) == DangerLevel.WARNING
    assert level(6, 3.6, 0.3, rr=-8.0) == DangerLevel.NONE  # 3.6 and 33 / 8 = 4.1 s, +-0.3 s
    assert level(7, 3.6, 1.7) == DangerLevel.NONE  # no hysteresis without a warning
    assert level(8, 2.9, 0.9) == DangerLevel.WARNING
    assert level(9, math.inf, math.inf, rr=0.2) == DangerLevel.NONE  # not closing in


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
    o = objects([36.0], rr=[-20.0])  # TTC 1.8 s, 6.7 m/s^2 needed
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


def test_a_car_beyond_a_sag_curve_is_released_once_it_shows_ground_contact() -> None:
    # Measured sensor, R152 60 km/h on a road rising to 5 %: the stopped car stood 2.3 m above
    # our road plane from afar, was latched as floating for life and hit at full speed. Three
    # frames with its bottom on the road release it; a sign never shows that.
    k = np.array([[721.5, 0.0, 640.0], [0.0, 721.5, 360.0], [0.0, 0.0, 1.0]])
    cam = CameraModel(K=k, dist=np.zeros(5), width=1280, height=720, mount=Mount(height_m=1.5))
    a = DangerAssessor(camera=cam)
    a._born_ns = {0: -(10**9)}

    def box(d: float, up: float) -> list[float]:
        bottom = 360.0 + 721.5 * (1.5 - up) / d
        return [600.0, bottom - 721.5 * 1.53 / d, 680.0, bottom]

    t = 0
    for up, d in ((2.5, 60.0), (2.4, 58.0), (2.3, 56.0)):
        t += 33_333_333
        out = a.update(tracks(1, [box(d, up)]), objects([d], rr=[-16.7]), EgoState(t, 16.7))
        assert out.zone[0] == Zone.OUTSIDE
    zones = []
    for up, d in ((0.8, 30.0), (0.7, 29.0), (0.6, 28.0), (0.5, 27.0)):
        t += 33_333_333
        out = a.update(tracks(1, [box(d, up)]), objects([d], rr=[-16.7]), EgoState(t, 16.7))
        zones.append(int(out.zone[0]))
    assert zones == [Zone.OUTSIDE, Zone.OUTSIDE, Zone.IN_PATH, Zone.IN_PATH]


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


def test_a_range_error_on_a_curve_does_not_put_a_verge_car_in_path() -> None:
    """Left curve R 150 m at 20 m/s. A car parked on the outer verge 50 m ahead (its near side
    2.15 m from the path centre) ranged 12 % short, to 44 m on its true bearing: the path's
    offset there (kappa d^2 / 2) is 1.9 m less than at 50 m, so the car seemed 0.96 m from the
    path centre, inside the 1.15 m half corridor (the parked-curve false warnings). Its offset
    error from the range, |lateral / d - kappa d| x sigma_d = 0.93 m, keeps it out. A car in
    our lane, ranged as well as at 30 m, stays in path."""
    kappa, d_true, d_est = 1.0 / 150.0, 50.0, 44.0
    bearing = (0.5 * kappa * d_true**2 - 3.0) / d_true  # its centre 3.0 m right of the path
    verge = objects([d_est], lat=[bearing * d_est])
    vague = dataclasses.replace(verge, sigma_distance_m=np.array([5.0]))
    assert assess(vague, yaw=20.0 * kappa).zone.tolist() == [Zone.ADJACENT]
    assert assess(vague, yaw=20.0 * kappa, offset_range_sigmas=0.0).zone.tolist() == [Zone.IN_PATH]
    # A car in our lane at 30 m, ranged to 5 %: in path with the margin.
    lead = objects([30.0], lat=[0.5 * kappa * 30.0**2])
    lead = dataclasses.replace(lead, sigma_distance_m=np.array([1.5]))
    assert assess(lead, yaw=20.0 * kappa).zone.tolist() == [Zone.IN_PATH]
