"""Kinematics shared by the scenario simulator: constant-acceleration motion that stops at
zero speed, the true time to collision of a road-aligned pair, the brake actuator, and the
minimum-jerk lane-change profile."""

from __future__ import annotations

import math
from collections import deque

__all__ = ["STEP_NS", "BrakeActuator", "advance", "smoothstep", "true_ttc"]

STEP_NS = 10_000_000  # 10 ms simulation step


def advance(s: float, v: float, a: float, dt: float) -> tuple[float, float]:
    """Position and speed after ``dt`` s at constant acceleration ``a``; speed stops at 0."""
    if a < 0.0 and v + a * dt < 0.0:
        return s - 0.5 * v * v / a, 0.0
    return s + v * dt + 0.5 * a * dt * dt, v + a * dt


def true_ttc(gap_m: float, v_ego: float, v_tgt: float, a_tgt: float) -> float:
    """Seconds until the gap closes, the ego at constant speed and the target at constant
    acceleration until it stops; inf if it never closes."""
    if gap_m <= 0.0:
        return 0.0
    a = a_tgt if v_tgt > 0.0 else max(a_tgt, 0.0)
    rel = v_tgt - v_ego
    t_stop = v_tgt / -a if a < 0.0 else math.inf
    if abs(a) < 1e-9:
        t = gap_m / -rel if rel < 0.0 else math.inf
    else:  # smallest positive root of gap + rel t + a t^2 / 2
        disc = rel * rel - 2.0 * a * gap_m  # < 0: an accelerating target pulls away first
        root = math.sqrt(max(disc, 0.0))
        roots = (-rel - root) / a, (-rel + root) / a
        t = min((r for r in roots if r > 0.0), default=math.inf) if disc >= 0.0 else math.inf
    if t <= t_stop:
        return t
    # The target stops first, gap + v_t^2 / (2 |a|) ahead of where the ego is now.
    return (gap_m - v_tgt * v_tgt / (2.0 * a)) / v_ego if v_ego > 0.0 else math.inf


class BrakeActuator:
    """Dead time, then a jerk-limited ramp to the requested deceleration (and back on release).

    ``step(request)`` takes the request issued at the start of a step and returns the
    deceleration at its end. A request issued at t acts from t + dead time and the output
    moves towards it at ``jerk_mps3``: with 0.15 s and 25 m/s^3, 5 m/s^2 requested at t = 0
    gives 25 (t - 0.15) m/s^2 from 0.15 s to 0.35 s, then 5.
    """

    def __init__(
        self,
        dead_time_s: float = 0.15,
        jerk_mps3: float = 25.0,
        max_decel_mps2: float = 9.5,
        dt_s: float = STEP_NS * 1e-9,
    ) -> None:
        self.jerk_step = jerk_mps3 * dt_s
        self.max_decel_mps2 = max_decel_mps2
        self._queue: deque[float] = deque([0.0] * round(dead_time_s / dt_s))
        self.decel_mps2 = 0.0

    def step(self, request_mps2: float) -> float:
        req = float(request_mps2)
        self._queue.append(min(max(req, 0.0), self.max_decel_mps2) if math.isfinite(req) else 0.0)
        target = self._queue.popleft()
        self.decel_mps2 += min(max(target - self.decel_mps2, -self.jerk_step), self.jerk_step)
        return self.decel_mps2


def smoothstep(u: float) -> tuple[float, float]:
    """Minimum-jerk profile h(u) = 10u^3 - 15u^4 + 6u^5 on [0, 1] and its derivative."""
    u = min(max(u, 0.0), 1.0)
    return u**3 * (10.0 - 15.0 * u + 6.0 * u * u), 30.0 * u * u * (1.0 - u) ** 2
