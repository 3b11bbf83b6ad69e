"""Scheduled speed of a scenario target: commanded speeds reached at a bounded acceleration.

A schedule ``((t_1, v_1), (t_2, v_2), ...)`` commands speed ``v_i`` from time ``t_i`` [s] on;
the target moves towards the current command at ``accel_mps2`` (braking and accelerating alike)
and holds it once reached. The result is piecewise linear in time, so speed, acceleration and
distance travelled are exact at any time (no integration error in the simulator's steps).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

__all__ = ["SpeedProfile"]


@dataclass(frozen=True)
class SpeedProfile:
    """Speed [m/s] as a piecewise-linear function of time [s] through its vertices; constant
    before the first and after the last vertex."""

    t_s: tuple[float, ...]
    v_mps: tuple[float, ...]

    @classmethod
    def from_schedule(
        cls, v0_mps: float, schedule: tuple[tuple[float, float], ...], accel_mps2: float
    ) -> SpeedProfile:
        """The profile from speed ``v0_mps`` at t = 0 under ``schedule`` ((time, command) in
        increasing time, commands >= 0) with at most ``accel_mps2`` of speed change per s."""
        if not (math.isfinite(accel_mps2) and accel_mps2 > 0.0):
            msg = f"speed schedule acceleration {accel_mps2} m/s^2 must be positive and finite"
            raise ValueError(msg)
        times = [t for t, _ in schedule]
        if any(b <= a for a, b in itertools.pairwise(times)) or min(times, default=0) < 0:
            msg = f"speed schedule times {times} must be >= 0 and strictly increasing"
            raise ValueError(msg)
        if any(not (math.isfinite(v) and v >= 0.0) for _, v in schedule):
            msg = f"speed schedule {schedule}: commanded speeds must be finite and >= 0"
            raise ValueError(msg)
        ts, vs = [0.0], [float(v0_mps)]
        command, t_cmd = float(v0_mps), 0.0  # the command in force and since when
        for t_next, v_next in [*schedule, (math.inf, math.nan)]:
            v = vs[-1]  # the speed at t_cmd: the last vertex's (constant since then)
            reach = t_cmd + abs(command - v) / accel_mps2  # when the command is met
            if reach > t_cmd:
                if t_cmd > ts[-1]:  # held until the command came
                    ts.append(t_cmd)
                    vs.append(v)
                if reach <= t_next:
                    ts.append(reach)
                    vs.append(command)
                else:  # still on the way when the next command comes
                    ts.append(t_next)
                    vs.append(v + math.copysign(accel_mps2 * (t_next - t_cmd), command - v))
            command, t_cmd = v_next, t_next
        return cls(tuple(ts), tuple(vs))

    def speed(self, t_s: float) -> float:
        """Speed at time ``t_s``."""
        i = bisect.bisect_right(self.t_s, t_s)
        if i == 0:
            return self.v_mps[0]
        if i == len(self.t_s):
            return self.v_mps[-1]
        t0, t1, v0, v1 = self.t_s[i - 1], self.t_s[i], self.v_mps[i - 1], self.v_mps[i]
        return v0 + (v1 - v0) * (t_s - t0) / (t1 - t0)

    def accel(self, t_s: float) -> float:
        """Acceleration from ``t_s`` on (the slope of the segment that starts at or before it)."""
        i = bisect.bisect_right(self.t_s, t_s)
        if i == 0 or i == len(self.t_s):
            return 0.0
        return (self.v_mps[i] - self.v_mps[i - 1]) / (self.t_s[i] - self.t_s[i - 1])

    def distance(self, t0_s: float, t1_s: float) -> float:
        """Distance [m] travelled from ``t0_s`` to ``t1_s`` (exact: trapezoids between vertices)."""
        knots = [t0_s, *(t for t in self.t_s if t0_s < t < t1_s), t1_s]
        return sum(
            0.5 * (self.speed(a) + self.speed(b)) * (b - a) for a, b in itertools.pairwise(knots)
        )
