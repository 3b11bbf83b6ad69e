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

from adas.params import param, validate
from adas.types import FloatArray

__all__ = ["VehicleConfig", "advance", "required_decel"]


@dataclass(frozen=True)
class VehicleConfig:
    """The ego vehicle's brakes (``[vehicle]`` in data/config/default.toml, with sources)."""

    brake_latency_s: float = param(0.3, lo=0.0, hi=2.0, unit="s")
    collision_decel_mps2: float = param(50.0, lo=10.0, hi=1000.0, unit="m/s^2")

    def __post_init__(self) -> None:
        validate(self, "vehicle")


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
        s_e, v_e = advance(np.full_like(d0, v_e0), np.full_like(d0, a_e), t)
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
    b = np.clip(np.nan_to_num(b, nan=0.0, posinf=collision_decel_mps2), 0.0, collision_decel_mps2)
    return np.where(ok, b, 0.0)
