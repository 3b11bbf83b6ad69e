"""The danger stage's compiled kernels (adas.danger_kernels) against the numpy stage they
replace, kept here as the reference: every output bit and the stage's state, over random
frame sequences with NaN, infinities, signed zeros and odd ego states."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from adas.camera import CameraModel, Mount
from adas.danger import DangerAssessor, DangerConfig
from adas.danger_crossing import (
    bound_lateral_velocity,
    corridor_interval,
    ego_interval,
    intervals_overlap,
    lateral_speeds,
)
from adas.kinematics import VehicleConfig, finite_or, required_decel, unavoidable_after
from adas.types import DangerLevel, EgoState, FloatArray, ObjectStates, Tracks, Zone


class NumpyDanger(DangerAssessor):
    """The stage as numpy code (adas/danger.py before its kernels)."""

    def _assess(self, tracks: Tracks, objects: ObjectStates, ego: EgoState) -> ObjectStates:
        n = len(objects)
        cfg = self.config
        zone = np.full(n, int(Zone.OUTSIDE), np.int64)
        danger = np.full(n, int(DangerLevel.NONE), np.int64)
        required = np.zeros(n)
        headway = np.full(n, np.inf)
        # A non-finite or absurd ego speed (the controller reports UNAVAILABLE for it) must
        # not overflow here: clamp to what a road vehicle can do.
        v = (
            min(max(float(ego.speed_mps), 0.0), cfg.max_ego_speed_mps)
            if math.isfinite(ego.speed_mps)
            else 0.0
        )
        d = np.asarray(objects.distance_m, np.float64)
        usable = np.isfinite(d) & np.isfinite(objects.lateral_m) & (d > cfg.min_usable_distance_m)
        if not usable.any():
            self._warned = set()
            return dataclasses.replace(
                objects, zone=zone, danger=danger, required_decel_mps2=required, headway_s=headway
            )
        usable &= ~self._no_threat(tracks, objects)
        yaw = (
            min(max(float(ego.yaw_rate_rps), -cfg.max_yaw_rate_rps), cfg.max_yaw_rate_rps)
            if math.isfinite(ego.yaw_rate_rps)
            else 0.0
        )
        kappa = yaw / v if v >= cfg.min_curvature_speed_mps else 0.0
        x = np.maximum(d, 0.0)
        path_y = 0.5 * kappa * x * x  # lateral offset of the path centre at distance x
        half_w = self._half_widths(tracks)
        rate = finite_or(objects.range_rate_mps, nan=0.0)
        closing = np.maximum(-rate, 0.0)
        # (Floating-point warnings are off for all of _assess: see update.)
        t_reach = np.where(closing > 0, x / closing, np.inf)  # constant closing speed
        t_pred = np.fmin(t_reach, cfg.horizon_s)  # NaN (and inf) reach: the horizon
        # The lateral velocity bounded by what the class can do, beyond its noise: coming in
        # by a wider band than going out (adas.danger_crossing.lateral_speeds).
        cls = np.minimum(np.maximum(tracks.class_id, 0), len(self._speed_limit) - 1)
        vy = bound_lateral_velocity(objects.lateral_velocity_mps, self._speed_limit[cls])
        v_in, v_out = lateral_speeds(
            vy, objects.sigma_lateral_velocity_mps, deadband_mps=cfg.lateral_velocity_deadband_mps,
            sigmas=np.where(
                self._vru[cls], cfg.vru_lateral_velocity_sigmas,
                cfg.lateral_velocity_sigmas,
            ),
        )  # fmt: skip
        offset_now = objects.lateral_m - path_y
        inner_now = np.abs(offset_now) - half_w  # gap between its near side and the path centre
        half_zone = 0.5 * cfg.ego_width_m + cfg.path_margin_m
        inner_pred = np.abs(offset_now + v_in * t_pred) - half_w
        # A range error moves the object against the path: its lateral is bearing x range and
        # the path's offset there kappa x^2 / 2, so d(offset)/d(range) = lateral / x - kappa x
        # (a parked car 50 m ahead on the outer verge of a 150 m curve, ranged 10 % short,
        # sits 0.8 m nearer the path than it is). Inside means inside by offset_range_sigmas
        # of that error (on a straight road only the bearing term is left, small ahead).
        sig_d = finite_or(np.asarray(objects.sigma_distance_m, np.float64), nan=np.inf)
        slope = np.abs(np.asarray(objects.lateral_m) / np.maximum(x, 1e-3) - kappa * x)
        sig_off = finite_or(slope * sig_d, nan=np.inf)
        margin = cfg.offset_range_sigmas * sig_off
        # In path when the time the target is in the corridor overlaps the time the ego
        # occupies its longitudinal position (adas.danger_crossing): a car cutting in or a
        # pedestrian walking in before we have passed is a threat before it arrives; a car
        # turning out or a pedestrian who will be across before we arrive is none. Inside
        # now, it leaves at its deadband speed; outside, it comes in at its far-band speed.
        inside_now = inner_now + margin <= half_zone
        t_in, t_out = corridor_interval(
            offset_now, np.where(inside_now, v_out, v_in), half_w,
            enter_half_m=half_zone - margin, exit_half_m=half_zone,
        )  # fmt: skip
        t_arrive, t_passed = ego_interval(
            x, closing, sig_d, range_sigmas=cfg.arrival_range_sigmas,
            ego_length_m=cfg.ego_length_m, target_length_m=self._length[cls],
        )  # fmt: skip
        inside = intervals_overlap(t_in, t_out, t_arrive, t_passed, horizon_s=cfg.horizon_s)
        in_length = x <= self.zone_length_m(v)
        # Alongside (nearest face behind our front bumper): a matter for side systems, and the
        # box is cut by the image border by then, its lateral estimate unreliable.
        in_path = usable & in_length & inside & (d > 0.0)
        near = np.minimum(inner_now, inner_pred) <= half_zone + cfg.lane_width_m
        adjacent = usable & in_length & ~in_path & near
        zone[in_path] = int(Zone.IN_PATH)
        zone[adjacent] = int(Zone.ADJACENT)

        rel_acc = finite_or(objects.accel_mps2, nan=0.0)
        a_ego = float(ego.accel_mps2) if math.isfinite(ego.accel_mps2) else 0.0
        b = required_decel(
            d, v, rate, rel_acc, a_ego, self.vehicle.brake_latency_s,
            self.vehicle.collision_decel_mps2,
        )  # fmt: skip
        b = np.where(in_path, b, 0.0)
        required = b
        headway = np.where(v > cfg.headway_min_speed_mps, x / max(v, 1e-9), np.inf)
        ttc = finite_or(np.asarray(objects.ttc_s, np.float64), nan=np.inf, posinf=np.inf)
        real = closing >= cfg.min_closing_speed_mps
        # A TTC counts once it is known to +-ttc_max_rel_sigma (a young or distant track's
        # range rate rests on a few noisy range differences).
        sig = finite_or(np.asarray(objects.sigma_ttc_s, np.float64), nan=np.inf)
        ttc_known = sig <= cfg.ttc_max_rel_sigma * ttc
        levels = (
            (DangerLevel.BRAKE_FULL, cfg.full_ttc_s, cfg.full_decel_mps2),
            (DangerLevel.BRAKE_PARTIAL, cfg.partial_ttc_s, cfg.partial_decel_mps2),
            (DangerLevel.WARNING, cfg.warning_ttc_s, cfg.warning_decel_mps2),
        )
        # Every level needs a predicted collision: a finite TTC known to its tolerance. The
        # TTC already credits a target's acceleration only where it stands out of its noise
        # (adas.motion), so a high required deceleration on a target that is not closing and
        # whose braking is not established (a cut box, a noisy young track: "partial braking,
        # TTC inf s, required 25 m/s^2" on real dashcam clips) raises no level.
        collision_ahead = real & ttc_known & np.isfinite(ttc)
        # A new track's range rate comes from a few range differences: held back for
        # min_track_age_s, unless holding it would leave the collision unavoidable.
        age = self._track_age(tracks, ego.t_ns)
        wait = cfg.min_track_age_s - age
        old_enough = wait <= 0.0
        for i in np.flatnonzero(in_path & collision_ahead & ~old_enough & (age > 0.0)).tolist():
            old_enough[i] = unavoidable_after(
                wait[i], d[i], v, rate[i], rel_acc[i], a_ego, vehicle=self.vehicle
            )
        # Hysteresis: a track already at WARNING or above keeps WARNING while it closes in,
        # until its TTC and its TTC without the acceleration credit are both, less one sigma,
        # beyond the warning threshold. A TTC estimate wandering around 3.2 s (a 40 km/h
        # stationary-target trial hit at 9 km/h) or a slow drift of the boxes read as the
        # target pulling away (+6 m/s^2 on a stopped car under the measured sensor, TTC inf)
        # must not end the warning and restart it, with R152's 0.8 s to wait again before
        # braking. Braking levels get no such hysteresis.
        ids = tracks.track_id.tolist()
        warned = np.array([t in self._warned for t in ids], bool)
        ttc_cv = t_reach  # the TTC at constant closing speed
        unset = in_path & old_enough
        for level, ttc_max, decel_min in levels:
            hit = unset & collision_ahead & ((ttc <= ttc_max) | (b >= decel_min))
            if level == DangerLevel.WARNING:
                clear = np.isfinite(ttc) & (ttc - sig > ttc_max) & (ttc_cv - sig > ttc_max)
                hit |= unset & warned & real & ~clear
            danger[hit] = int(level)
            unset &= ~hit
        self._warned = {t for t, lv in zip(ids, danger.tolist(), strict=True)
                        if lv >= DangerLevel.WARNING}  # fmt: skip
        caution = (unset | (in_path & ~old_enough)) & (headway < cfg.caution_headway_s)
        danger[caution] = int(DangerLevel.CAUTION)
        return dataclasses.replace(
            objects, zone=zone, danger=danger, required_decel_mps2=required, headway_s=headway
        )

    def _half_widths(self, tracks: Tracks) -> FloatArray:
        """Half width of each object: its class prior, the same the distance stage ranges
        with (the box's width would need its range)."""
        table = self._half_width
        return table[np.minimum(np.maximum(tracks.class_id, 0), len(table) - 1)]

    def _no_threat(self, tracks: Tracks, objects: ObjectStates) -> np.ndarray:
        """Rows that can never be threats: no ground contact, or an implausible size.

        A track judged floating on ``latch_frames`` consecutive frames stays no threat (an
        overhead sign is later cut by the top of the image, coasts or comes so close that its
        box says little) until as many consecutive frames show its bottom on the road. Boxes
        cut by the bottom border have no bottom; boxes cut by the top have no height (the size
        check is skipped for them).
        """
        n = len(tracks)
        out = np.zeros(n, bool)
        cam = self.camera
        if cam is None or n == 0:
            return out
        cfg = self.config
        d = np.asarray(objects.distance_m, np.float64) + cam.mount.behind_bumper_m
        y_bottom = np.asarray(tracks.xyxy[:, 3], np.float64)
        y_top = np.asarray(tracks.xyxy[:, 1], np.float64)
        if self._horizon is None or self._horizon[0] is not cam:  # a frozen camera's constant
            self._horizon = (cam, cam.horizon_v())
        horizon = self._horizon[1]
        # Height of the box bottom above the road at the object's range (level camera).
        z_bottom = cam.mount.height_m - d * (y_bottom - horizon) / cam.fy
        bottom_cut = y_bottom >= cam.height - cfg.bottom_cut_margin_px
        top_cut = y_top <= cfg.top_cut_margin_px
        seen = tracks.time_since_update == 0
        floating = (z_bottom > cfg.max_ground_clearance_m) & ~bottom_cut  # NaN compares False
        cls = np.minimum(np.maximum(tracks.class_id, 0), len(self.priors.height) - 1)
        prior = self.priors.height[cls]
        ratio = (y_bottom - y_top) * d / cam.fy / prior
        bad = (ratio > cfg.plausible_size_ratio) | (ratio < 1.0 / cfg.plausible_size_ratio)
        odd = bad & ~bottom_cut & ~top_cut & np.isfinite(prior)
        latched = np.zeros(n, bool)
        # A latched track is released by latch_frames consecutive frames of ground contact
        # seen at its bottom edge: a car beyond a sag curve stands above our road plane and
        # looks "floating" from afar (the measured-sensor R152 60 km/h trial on a 5 % rise
        # hit at full speed), and touches down as we come closer. A sign never shows that.
        grounded = seen & ~floating & ~bottom_cut & np.isfinite(z_bottom)
        for i, tid in enumerate(tracks.track_id.tolist()):
            count, back = self._floating.get(tid, 0), self._grounded.get(tid, 0)
            if seen[i]:
                if floating[i]:
                    count, back = count + 1, 0
                elif count >= cfg.latch_frames:
                    back = back + 1 if grounded[i] else 0
                    if back >= cfg.latch_frames:
                        count = back = 0
                else:
                    count = 0
            self._floating[tid], self._grounded[tid] = count, back
            latched[i] = count >= cfg.latch_frames
        alive = set(tracks.track_id.tolist())
        for tid in [t for t in self._floating if t not in alive]:
            del self._floating[tid]
            self._grounded.pop(tid, None)
        self.no_threat["no_ground_contact"] += int(np.count_nonzero(floating | latched))
        self.no_threat["implausible_size"] += int(np.count_nonzero(odd & ~(floating | latched)))
        return floating | latched | odd


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 5e-324])


def odd_values(rng: np.random.Generator, a: np.ndarray, frac: float) -> np.ndarray:
    """``a`` with a fraction of its entries replaced by NaN, infinities, zeros of both signs
    and extremes."""
    a = a.copy()
    hit = rng.random(a.shape) < frac
    with np.errstate(over="ignore"):  # 1e300 in a float32 box is inf
        a[hit] = rng.choice(SPECIAL, int(hit.sum()))
    return a


def frame(rng: np.random.Generator, ids: np.ndarray, frac: float) -> tuple[Tracks, ObjectStates]:
    n = ids.size
    d = rng.choice([rng.uniform(-3, 120), 0.0, 2.0, 30.0], n) + rng.normal(0, 5, n)
    rr = rng.normal(-5, 8, n)

    def col(values: np.ndarray) -> FloatArray:
        return odd_values(rng, values.astype(np.float64), frac)

    objects = ObjectStates(
        track_id=ids.copy(), distance_m=col(d), lateral_m=col(rng.normal(0, 3, n)),
        sigma_distance_m=col(np.abs(rng.normal(1, 2, n))), range_rate_mps=col(rr),
        accel_mps2=col(rng.normal(0, 3, n)), lateral_velocity_mps=col(rng.normal(0, 2, n)),
        ttc_s=col(rng.choice([0.5, 1.0, 1.9, 3.2, 8.0, np.inf], n)),
        sigma_ttc_s=col(np.abs(rng.normal(0.3, 1, n))),
        sigma_lateral_velocity_mps=col(np.abs(rng.normal(0.5, 1, n))),
        class_id=rng.integers(-1, 10, n),
    )  # fmt: skip
    top = rng.uniform(-20, 700, n)
    xyxy = np.column_stack([rng.uniform(0, 1200, n), top, rng.uniform(0, 1280, n)])
    xyxy = np.column_stack([xyxy, top + rng.uniform(-5, 400, n)]).astype(np.float32)
    tracks = Tracks(
        xyxy=odd_values(rng, xyxy, frac / 3), score=np.ones(n, np.float32),
        class_id=objects.class_id.copy(), track_id=ids.copy(), age=np.ones(n, np.int64),
        hits=np.ones(n, np.int64), time_since_update=rng.choice([0, 0, 0, 1], n),
        det_index=np.zeros(n, np.int64),
    )  # fmt: skip
    return tracks, objects


def ego(rng: np.random.Generator, t_ns: int) -> EgoState:
    return EgoState(
        t_ns=t_ns,
        speed_mps=float(rng.choice([rng.uniform(0, 40), 0.0, -0.0, 5.0, np.nan, 1e9, -3.0])),
        yaw_rate_rps=float(rng.choice([0.0, rng.normal(0, 0.2), 5.0, np.nan])),
        accel_mps2=float(rng.choice([0.0, -0.0, rng.normal(0, 3), np.inf])),
    )


def camera() -> CameraModel:
    k = np.array([[700.0, 0.0, 639.5], [0.0, 700.0, 359.5], [0.0, 0.0, 1.0]])
    mount = Mount.from_degrees(height_m=1.4, pitch_deg=1.0, behind_bumper_m=1.5)
    return CameraModel(K=k, dist=np.zeros(5), width=1280, height=720, mount=mount)


CONFIGS = [
    {},
    {"lateral_velocity_deadband_mps": 0.0, "min_track_age_s": 0.0, "latch_frames": 1},
    {"offset_range_sigmas": 0.0, "arrival_range_sigmas": 0.0, "min_usable_distance_m": -20.0},
    {"caution_headway_s": 5.0, "min_closing_speed_mps": 0.0, "ttc_max_rel_sigma": 100.0},
]


def assert_same(a: ObjectStates, b: ObjectStates) -> None:
    for f in dataclasses.fields(ObjectStates):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and x.shape == y.shape, f.name
        nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
        if x.dtype.kind == "f":
            assert np.array_equal(nan, np.isnan(y)), f.name
        assert x[~nan].tobytes() == y[~nan].tobytes(), f.name


@pytest.mark.parametrize("seed", range(24))
def test_kernels_give_the_numpy_stage_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = DangerConfig(**CONFIGS[seed % len(CONFIGS)])  # type: ignore[arg-type]
    vehicle = VehicleConfig(brake_latency_s=float(rng.choice([0.0, 0.3, 1.0])))
    cam = camera() if seed % 3 else None
    fast, ref = (cls(cfg, cam, vehicle=vehicle) for cls in (DangerAssessor, NumpyDanger))
    ids = np.arange(int(rng.integers(0, 8)))
    t_ns = 0
    frac = (0.0, 0.05, 0.3)[seed % 3]
    for _ in range(60):
        t_ns += int(rng.choice([10**8, 3 * 10**8]))
        if rng.random() < 0.2:  # tracks come and go
            ids = np.unique(
                np.concatenate([ids[rng.random(ids.size) < 0.8], [ids.max(initial=0) + 1]])
            )
        tracks, objects = frame(rng, ids, frac)
        e = ego(rng, t_ns)
        assert_same(fast.update(tracks, objects, e), ref.update(tracks, objects, e))
        assert fast._warned == ref._warned and fast._born_ns == ref._born_ns
        assert fast._floating == ref._floating and fast._grounded == ref._grounded
        assert fast.no_threat == ref.no_threat
