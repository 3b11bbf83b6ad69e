"""Longitudinal kinematics shared by the danger and control stages: how hard the ego vehicle
must brake to avoid a target, and the vehicle's brake constants they both use.

Below the stages (it imports only contracts and parameters), so danger and control stay
independent of each other: danger puts the required deceleration of every object into
:class:`adas.types.ObjectStates`, control reads it from there and calls :func:`required_decel`
itself only for its "unavoidable after the warning" judgement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adas.params import param, validate
from adas.types import FloatArray

__all__ = ["VehicleConfig", "advance", "finite_or", "required_decel", "unavoidable_after"]


@dataclass(frozen=True)
class VehicleConfig:
    """The ego vehicle's brakes (``[vehicle]`` in data/config/default.toml, with sources)."""

    brake_latency_s: float = param(0.3, lo=0.0, hi=2.0, unit="s")
    collision_decel_mps2: float = param(50.0, lo=10.0, hi=1000.0, unit="m/s^2")
    max_decel_mps2: float = param(9.0, lo=1.0, hi=15.0, unit="m/s^2")

    def __post_init__(self) -> None:
        validate(self, "vehicle")


_F64_MAX = float(np.finfo(np.float64).max)


def finite_or(
    x: npt.ArrayLike, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> FloatArray:
    """``np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)``, bit for bit, for the
    stages' small per-frame arrays: an all-finite float64 array comes back as it is (not
    copied: read it, do not write it), a few times cheaper than ``np.nan_to_num``, which
    the danger and control stages called a dozen times a frame (issue 21)."""
    a = np.asarray(x)
    if a.dtype != np.float64:
        return np.asarray(np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf))
    finite = np.isfinite(a)
    if finite.all():
        return a
    hi = _F64_MAX if posinf is None else posinf
    lo = -_F64_MAX if neginf is None else neginf
    return np.where(finite, a, np.where(np.isnan(a), nan, np.where(a > 0.0, hi, lo)))


def advance(v: FloatArray, a: FloatArray, t: float) -> tuple[FloatArray, FloatArray]:
    """Distance and speed after ``t`` s from speed ``v`` at constant acceleration ``a``, the
    speed stopping at 0 (a vehicle that brakes to a stop stays stopped)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stop = np.where((a < 0.0) & (v + a * t < 0.0), -v / a, t)
    return v * t_stop + 0.5 * a * t_stop * t_stop, np.maximum(v + a * t_stop, 0.0)


def required_decel(
    gap_m: FloatArray,
    ego_speed_mps: float,
    range_rate_mps: FloatArray,
    rel_accel_mps2: FloatArray,
    ego_accel_mps2: float,
    latency_s: float = 0.0,
    collision_decel_mps2: float = VehicleConfig.collision_decel_mps2,
) -> FloatArray:
    """Smallest constant ego deceleration (>= 0, m/s^2) that avoids contact, braking from
    ``latency_s`` on (until then both keep their accelerations; a brake system needs
    ~0.3 s to build up). ``collision_decel_mps2`` (beyond any tyre) when contact comes
    within the latency.

    The target's acceleration is ``a_t = a_ego + rel_accel`` (it stops at standstill). With
    ``c`` the closing speed and ``d`` the gap when braking starts, the exact minimum is:

    * target not braking: ``c^2 / (2 d) - a_t`` (the gap stops closing just at contact);
    * target braking at ``A = -a_t`` to a stop after ``s_t``: the ego must stop within
      ``d + s_t`` (``v^2 / (2 (d + s_t))``), and when the speeds would be equal before the
      target stops (``2 d / c <= v_t / A``, the tangent case), also ``A + c^2 / (2 d)``.

    This is the total deceleration the brakes must deliver, not an addition to the ego's
    current one. Non-finite inputs give 0.
    """
    d0 = np.asarray(gap_m, np.float64)
    v_e0 = max(float(ego_speed_mps), 0.0) if math.isfinite(ego_speed_mps) else 0.0
    a_e = float(ego_accel_mps2) if math.isfinite(ego_accel_mps2) else 0.0
    c0 = -np.asarray(range_rate_mps, np.float64)
    v_t0 = np.maximum(v_e0 - c0, 0.0)  # target speed along our path
    a_t = a_e + np.asarray(rel_accel_mps2, np.float64)
    with np.errstate(all="ignore"):
        t = max(float(latency_s), 0.0)
        s_e, v_e = advance(np.asarray(v_e0, np.float64), np.asarray(a_e, np.float64), t)  # all rows
        s_t0, v_t = advance(v_t0, a_t, t)
        d = d0 + s_t0 - s_e
        c = v_e - v_t
        braking = (a_t < -0.05) & (v_t > 0.0) | (v_t <= 0.0)
        big_a = np.where(a_t < 0.0, -a_t, 0.0)
        s_t = np.where(v_t > 0.0, v_t * v_t / (2.0 * big_a), 0.0)
        b_stop = v_e * v_e / (2.0 * (d + s_t))
        b_tangent = c * c / (2.0 * d) - a_t
        tangent = (c > 0.0) & (2.0 * d * big_a <= c * v_t)
        moving = np.where(c > 0.0, b_tangent, 0.0)
        b = np.where(braking, np.where(tangent, np.maximum(b_tangent, b_stop), b_stop), moving)
        b = np.where(d <= 0.0, collision_decel_mps2, b)
    ok = np.isfinite(d0) & np.isfinite(c0) & np.isfinite(a_t)
    b = np.clip(finite_or(b, nan=0.0, posinf=collision_decel_mps2), 0.0, collision_decel_mps2)
    return np.where(ok, b, 0.0)


def unavoidable_after(
    wait_s: float,
    gap_m: float,
    ego_speed_mps: float,
    range_rate_mps: float,
    rel_accel_mps2: float,
    ego_accel_mps2: float,
    *,
    vehicle: VehicleConfig,
) -> bool:
    """Would acting only ``wait_s`` from now leave the collision with this target unavoidable?

    Braking that acts ``t`` s from now needs ``b(t)`` (:func:`required_decel` counted from
    then), which grows with ``t``. The last moment to act is the ``t_last`` at which
    ``b(brake_latency_s + t_last)`` reaches what the vehicle can brake (``max_decel_mps2``):
    waiting is safe while ``wait_s <= t_last``, i.e. while
    ``b(brake_latency_s + wait_s) <= max_decel_mps2``; beyond it, whatever can still be
    avoided is avoided only by acting now. (72 km/h towards a child standing 30 m ahead with
    0.3 s of latency: 8.3 m/s^2 now, 11.1 m/s^2 after another 0.3 s: waiting costs it.)
    Non-finite inputs need nothing (False).
    """
    wait = max(wait_s, 0.0) if math.isfinite(wait_s) else 0.0
    need = required_decel(
        np.array([gap_m]), ego_speed_mps, np.array([range_rate_mps]), np.array([rel_accel_mps2]),
        ego_accel_mps2, vehicle.brake_latency_s + wait, vehicle.collision_decel_mps2,
    )  # fmt: skip
    return bool(need[0] > vehicle.max_decel_mps2)
