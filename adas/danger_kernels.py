"""Numba kernels of the danger stage (see :mod:`adas.danger` for the rules).

The stage's per-row arithmetic was ~150 numpy calls on arrays of one to a few rows, each
costing more than its arithmetic (~0.3 ms per frame in a replay). These loops do the same
float64 operations per row, in the same order, with numpy's handling of NaN, infinities and
signed zeros (``np.maximum`` / ``np.minimum`` return their second operand on a tie,
``np.clip`` with scalar bounds leaves a value equal to a bound, ``np.sign(-0.0)`` is 0.0), so
every output bit is numpy's: tests/adas/test_danger_kernels.py keeps the numpy stage and
compares. The functions they follow row by row, :mod:`adas.danger_crossing` and
:func:`adas.kinematics.required_decel`, stay the reference (control uses the latter).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numba
import numpy as np

from adas.types import DangerLevel, Zone

if TYPE_CHECKING:
    from adas.danger import DangerConfig

__all__ = ["assess_rows", "danger_levels", "no_threat_rows", "stage_constants"]

_F64_MAX = float(np.finfo(np.float64).max)
_INF = math.inf

# adas.types.Zone and DangerLevel values (plain ints: compile-time constants of the kernels).
_IN_PATH, _ADJACENT, _OUTSIDE = int(Zone.IN_PATH), int(Zone.ADJACENT), int(Zone.OUTSIDE)
_CAUTION, _WARNING = int(DangerLevel.CAUTION), int(DangerLevel.WARNING)
_PARTIAL, _FULL = int(DangerLevel.BRAKE_PARTIAL), int(DangerLevel.BRAKE_FULL)

# Slots of the stage's constants (stage_constants).
(
    HORIZON, DEADBAND, VRU_SIGMAS, LAT_SIGMAS, HALF_ZONE, NEAR_ZONE, OFFSET_SIGMAS,
    ARRIVAL_SIGMAS, EGO_LENGTH, LATENCY, COLLISION_DECEL, HEADWAY_MIN, MIN_CLOSING,
    TTC_REL_SIGMA, MIN_AGE, FULL_TTC, FULL_DECEL, PARTIAL_TTC, PARTIAL_DECEL, WARNING_TTC,
    WARNING_DECEL, CAUTION_HEADWAY,
) = range(22)  # fmt: skip


def stage_constants(cfg: DangerConfig, latency_s: float, collision_decel_mps2: float) -> np.ndarray:
    """The constants the kernels read, computed in Python as the numpy stage computed them."""
    half_zone = 0.5 * cfg.ego_width_m + cfg.path_margin_m
    return np.array(
        [
            cfg.horizon_s, cfg.lateral_velocity_deadband_mps, cfg.vru_lateral_velocity_sigmas,
            cfg.lateral_velocity_sigmas, half_zone, half_zone + cfg.lane_width_m,
            cfg.offset_range_sigmas, cfg.arrival_range_sigmas, cfg.ego_length_m,
            max(float(latency_s), 0.0), collision_decel_mps2, cfg.headway_min_speed_mps,
            cfg.min_closing_speed_mps, cfg.ttc_max_rel_sigma, cfg.min_track_age_s,
            cfg.full_ttc_s, cfg.full_decel_mps2, cfg.partial_ttc_s, cfg.partial_decel_mps2,
            cfg.warning_ttc_s, cfg.warning_decel_mps2, cfg.caution_headway_s,
        ],
        np.float64,
    )  # fmt: skip


@numba.njit(cache=True, inline="always")
def _max(a: float, b: float) -> float:
    """``np.maximum``: NaN if either is NaN, the second operand on a tie."""
    return a if math.isnan(a) else (a if a > b else b)


@numba.njit(cache=True, inline="always")
def _min(a: float, b: float) -> float:
    """``np.minimum``: NaN if either is NaN, the second operand on a tie."""
    return a if math.isnan(a) else (a if a < b else b)


@numba.njit(cache=True, inline="always")
def _sign(a: float) -> float:
    """``np.sign``: 0.0 for either zero, NaN for NaN."""
    if a > 0.0:
        return 1.0
    if a < 0.0:
        return -1.0
    return 0.0 if a == 0.0 else a


@numba.njit(cache=True, inline="always")
def _finite_or(a: float, nan: float, posinf: float, neginf: float) -> float:
    """:func:`adas.kinematics.finite_or` of one float64."""
    if math.isfinite(a):
        return a
    if math.isnan(a):
        return nan
    return posinf if a > 0.0 else neginf


@numba.njit(cache=True, inline="always")
def _clip(a: float, lo: float, hi: float) -> float:
    """``np.clip`` with scalar bounds: NaN stays, a value equal to a bound is left."""
    if math.isnan(a):
        return a
    a = a if a >= lo else lo
    return a if a <= hi else hi


@numba.njit(cache=True, inline="always")
def _clip_to(a: float, lo: float, hi: float) -> float:
    """``np.clip`` with array bounds: a value equal to a bound becomes the bound."""
    a = a if a > lo else lo
    return a if a < hi else hi


@numba.njit(cache=True, inline="always")
def _advance(v: float, a: float, t: float) -> tuple[float, float]:
    """:func:`adas.kinematics.advance` of one row."""
    t_stop = -v / a if a < 0.0 and v + a * t < 0.0 else t
    return v * t_stop + 0.5 * a * t_stop * t_stop, _max(v + a * t_stop, 0.0)


@numba.njit(cache=True, inline="always")
def _required_decel(
    d0: float, v_e0: float, rate: float, rel_acc: float, a_e: float, t: float, coll: float
) -> float:
    """:func:`adas.kinematics.required_decel` of one row (``v_e0``, ``a_e`` and ``t`` as it
    derives them from its scalar arguments)."""
    c0 = -rate
    v_t0 = _max(v_e0 - c0, 0.0)
    a_t = a_e + rel_acc
    s_e, v_e = _advance(v_e0, a_e, t)
    s_t0, v_t = _advance(v_t0, a_t, t)
    d = d0 + s_t0 - s_e
    c = v_e - v_t
    braking = (a_t < -0.05 and v_t > 0.0) or v_t <= 0.0
    big_a = -a_t if a_t < 0.0 else 0.0
    s_t = v_t * v_t / (2.0 * big_a) if v_t > 0.0 else 0.0
    b_stop = v_e * v_e / (2.0 * (d + s_t))
    b_tangent = c * c / (2.0 * d) - a_t
    tangent = c > 0.0 and 2.0 * d * big_a <= c * v_t
    moving = b_tangent if c > 0.0 else 0.0
    b = (_max(b_tangent, b_stop) if tangent else b_stop) if braking else moving
    if d <= 0.0:
        b = coll
    ok = math.isfinite(d0) and math.isfinite(c0) and math.isfinite(a_t)
    return _clip(_finite_or(b, 0.0, coll, -_F64_MAX), 0.0, coll) if ok else 0.0


@numba.njit(
    "void(f8[:], f8[:, :], i8[:], i8[:], f8[:], f8[:], b1[:], b1[:], b1[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def no_threat_rows(
    distance: np.ndarray,
    xyxy: np.ndarray,
    class_id: np.ndarray,
    time_since_update: np.ndarray,
    prior_height: np.ndarray,
    geo: np.ndarray,
    floating: np.ndarray,
    odd: np.ndarray,
    grounded: np.ndarray,
) -> None:
    """``DangerAssessor._no_threat``'s per-row tests: box bottom far above the road
    (``floating``), a size implausible for the class (``odd``), bottom seen on the road
    (``grounded``). ``geo``: behind-bumper, mount height, fy, horizon row, the bottom and
    top rows of the cut margins, the ground clearance, the size ratio and its inverse."""
    bumper, height, fy, horizon, bottom_at, top_at, clearance, ratio_hi, ratio_lo = geo[:9]
    last = prior_height.size - 1
    for i in range(distance.size):
        d = distance[i] + bumper
        yb, yt = xyxy[i, 3], xyxy[i, 1]
        z = height - d * (yb - horizon) / fy
        bottom_cut = yb >= bottom_at
        fl = z > clearance and not bottom_cut
        prior = prior_height[min(max(class_id[i], 0), last)]
        ratio = (yb - yt) * d / fy / prior
        bad = ratio > ratio_hi or ratio < ratio_lo
        floating[i] = fl
        odd[i] = bad and not bottom_cut and not yt <= top_at and math.isfinite(prior)
        grounded[i] = time_since_update[i] == 0 and not fl and not bottom_cut and math.isfinite(z)


@numba.njit(
    "void(f8[:, :], i8[:], b1[:], f8[:], f8[:], b1[:], f8[:], f8[:], f8, f8, f8, f8, f8, f8[:],"
    " i8[:], f8[:, :], b1[:, :])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def assess_rows(
    obj: np.ndarray,
    class_id: np.ndarray,
    usable: np.ndarray,
    speed_limit: np.ndarray,
    length: np.ndarray,
    vru: np.ndarray,
    half_width: np.ndarray,
    age: np.ndarray,
    v: float,
    kappa: float,
    v_e0: float,
    a_ego: float,
    zone_length: float,
    k: np.ndarray,
    zone: np.ndarray,
    out: np.ndarray,
    flags: np.ndarray,
) -> None:
    """Zone, required deceleration and headway of every row, and what the levels need.

    ``obj`` rows: distance, lateral, sigma distance, range rate, acceleration, lateral
    velocity and its sigma, TTC and its sigma (ObjectStates' fields). ``v``: the clamped
    ego speed, ``v_e0`` / ``a_ego`` the speed and acceleration ``required_decel`` counts
    with, ``k``: :func:`stage_constants`. Writes ``zone``, ``out`` rows (required
    deceleration, headway, TTC and its sigma as the levels read them, TTC at constant
    closing speed, range rate and relative acceleration as finite_or leaves them, the
    wait before a new track counts) and ``flags`` rows (in path, collision ahead, closing
    for real, old enough, to check with unavoidable_after)."""
    horizon, db, half_zone = k[HORIZON], k[DEADBAND], k[HALF_ZONE]
    last_w, last_s = half_width.size - 1, speed_limit.size - 1
    pk = 0.5 * kappa
    for i in range(class_id.size):
        d, lat = obj[0, i], obj[1, i]
        x = _max(d, 0.0)
        path_y = pk * x * x
        half_w = half_width[min(max(class_id[i], 0), last_w)]
        rate = _finite_or(obj[3, i], 0.0, _F64_MAX, -_F64_MAX)
        closing = _max(-rate, 0.0)
        t_reach = x / closing if closing > 0.0 else _INF
        t_pred = horizon if math.isnan(t_reach) else (t_reach if t_reach < horizon else horizon)
        c = min(max(class_id[i], 0), last_s)
        limit = speed_limit[c]
        vy = _clip_to(_finite_or(obj[5, i], 0.0, _F64_MAX, -_F64_MAX), -limit, limit)
        sigma = obj[6, i]
        sigma = _INF if math.isnan(sigma) else sigma
        far_band = _max(db, (k[VRU_SIGMAS] if vru[c] else k[LAT_SIGMAS]) * sigma)
        v_in = _sign(vy) * _max(abs(vy) - far_band, 0.0)
        v_out = _sign(vy) * _max(abs(vy) - db, 0.0)
        offset = lat - path_y
        inner_now = abs(offset) - half_w
        inner_pred = abs(offset + v_in * t_pred) - half_w
        sig_d = _finite_or(obj[2, i], _INF, _F64_MAX, -_F64_MAX)
        slope = abs(lat / _max(x, 1e-3) - kappa * x)
        margin = k[OFFSET_SIGMAS] * _finite_or(slope * sig_d, _INF, _F64_MAX, -_F64_MAX)
        inside_now = inner_now + margin <= half_zone
        # adas.danger_crossing.corridor_interval
        u = v_out if inside_now else v_in
        a = (half_zone - margin) + half_w
        b = half_zone + half_w
        speed = abs(u)
        towards = offset * u < 0.0 and speed > 0.0
        if abs(offset) <= a:
            t_in, t_out = 0.0, ((b - _sign(u) * offset) / speed if speed > 0.0 else _INF)
        else:
            t_in = (abs(offset) - a) / speed if towards and a >= 0.0 else _INF
            t_out = (abs(offset) + b) / speed if towards else _INF
        if not math.isfinite(offset):
            t_in = t_out = _INF
        # adas.danger_crossing.ego_interval
        reach = k[ARRIVAL_SIGMAS] * sig_d
        closes = math.isfinite(closing) and closing > 0.0 and math.isfinite(x)
        t_arrive = _max(x - reach, 0.0) / closing if closes else _INF
        t_passed = (x + reach + k[EGO_LENGTH] + length[c]) / closing if closes else _INF
        t_arrive = _INF if math.isnan(t_arrive) else t_arrive
        t_passed = _INF if math.isnan(t_passed) else t_passed
        # adas.danger_crossing.intervals_overlap
        exit_known = _INF if t_out > horizon else t_out
        inside = t_in <= _min(horizon, t_passed) and exit_known >= t_arrive
        in_length = x <= zone_length
        in_path = usable[i] and in_length and inside and d > 0.0
        near = _min(inner_now, inner_pred) <= k[NEAR_ZONE]
        zone[i] = _OUTSIDE
        if in_path:
            zone[i] = _IN_PATH
        elif usable[i] and in_length and near:
            zone[i] = _ADJACENT
        rel_acc = _finite_or(obj[4, i], 0.0, _F64_MAX, -_F64_MAX)
        need = _required_decel(d, v_e0, rate, rel_acc, a_ego, k[LATENCY], k[COLLISION_DECEL])
        ttc = _finite_or(obj[7, i], _INF, _INF, -_F64_MAX)
        sig = _finite_or(obj[8, i], _INF, _F64_MAX, -_F64_MAX)
        real = closing >= k[MIN_CLOSING]
        collision_ahead = real and sig <= k[TTC_REL_SIGMA] * ttc and math.isfinite(ttc)
        wait = k[MIN_AGE] - age[i]
        out[0, i] = need if in_path else 0.0
        out[1, i] = x / max(v, 1e-9) if v > k[HEADWAY_MIN] else _INF
        out[2, i], out[3, i], out[4, i] = ttc, sig, t_reach
        out[5, i], out[6, i], out[7, i] = rate, rel_acc, wait
        flags[0, i], flags[1, i], flags[2, i] = in_path, collision_ahead, real
        flags[3, i] = wait <= 0.0
        flags[4, i] = in_path and collision_ahead and not wait <= 0.0 and age[i] > 0.0


@numba.njit(
    "void(b1[:, :], b1[:], f8[:, :], f8[:], i8[:])", cache=True, nogil=True, error_model="numpy"
)
def danger_levels(
    flags: np.ndarray, warned: np.ndarray, out: np.ndarray, k: np.ndarray, danger: np.ndarray
) -> None:
    """Each row's level from :func:`assess_rows`' ``flags`` and ``out`` (old enough as
    settled by unavoidable_after) and whether the track was at WARNING or above on the last
    frame (``warned``): the first of BRAKE_FULL, BRAKE_PARTIAL, WARNING whose TTC or
    deceleration threshold it meets, WARNING held while it closes in, CAUTION on a short
    headway."""
    for i in range(danger.size):
        in_path, ahead, real, old = flags[0, i], flags[1, i], flags[2, i], flags[3, i]
        b, headway, ttc, sig, ttc_cv = out[0, i], out[1, i], out[2, i], out[3, i], out[4, i]
        unset = in_path and old
        level = 0
        for lv, ttc_max, decel_min in (
            (_FULL, k[FULL_TTC], k[FULL_DECEL]),
            (_PARTIAL, k[PARTIAL_TTC], k[PARTIAL_DECEL]),
            (_WARNING, k[WARNING_TTC], k[WARNING_DECEL]),
        ):
            hit = unset and ahead and (ttc <= ttc_max or b >= decel_min)
            if lv == _WARNING:
                clear = math.isfinite(ttc) and ttc - sig > ttc_max and ttc_cv - sig > ttc_max
                hit = hit or (unset and warned[i] and real and not clear)
            if hit:
                level, unset = lv, False
        if (unset or (in_path and not old)) and headway < k[CAUTION_HEADWAY]:
            level = _CAUTION
        danger[i] = level
