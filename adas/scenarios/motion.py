"""Targets that move at any heading, an ego path that turns, and contact by footprint overlap.

On a straight road (the only road these mechanisms accept) a road position (s, d) is a world
position (x, y), x along the road, y to the left. A target with ``heading_deg`` h moves at its
speed along its heading: x' = v cos h, y' = v sin h (plus a lane change's rate, if it has one);
its box is its 3D box turned by its heading (a car crossing at 90 deg shows its side). Its road
position is the centre of its rear face, as for road-aligned targets.

The ego's path is straight, or straight to ``EgoPath.turn_at_m`` and then an arc (a turn across
the oncoming lane); its front-bumper centre is at arc length ``s_e`` and its yaw rate is
``v kappa(s_e)``.

Contact: the footprints (oriented rectangles: the ego from its front bumper back by its length,
a target from its rear face forward by its length) overlap; tested at the end of every 10 ms
step, so a contact is found within one step (0.17 m at 60 km/h). The impact speed is the
relative speed along the ego's heading, ``v_e - v_t . e_ego``: the closing speed the ego's
front meets (the head-on sum, the crossing target's own speed not counted, the rear-end
difference), which is what the protocols' impact-speed limits and their mitigation (relative
speed reduction) are stated in. The true time to collision, for the warning's judgement, is the
first time the footprints would overlap with the ego holding its speed and path and each target
its heading, lane change and speed schedule (or its current acceleration until it stops, as
the road-aligned true TTC), found on a ``TTC_STEP_S`` grid up to ``TTC_HORIZON_S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from adas.types import FloatArray

__all__ = [
    "TTC_HORIZON_S", "TTC_STEP_S", "EgoPath", "Mover", "contact", "crossing_start", "ego_pose",
    "finite_or_none",
    "footprint_distance", "lane_offset", "overlap", "predicted_contact", "rect_corners",
    "target_poses", "travel",
]  # fmt: skip

TTC_STEP_S = 0.02  # time grid of the predicted contact (the true TTC of these scenarios)
TTC_HORIZON_S = 10.0  # longer than any warning horizon of the chain


@dataclass(frozen=True)
class EgoPath:
    """The ego's path on a straight road: straight to arc length ``turn_at_m``, then an arc of
    ``radius_m`` (left positive) through ``turn_deg``, then straight again."""

    turn_at_m: float
    radius_m: float
    turn_deg: float = 90.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius_m) and self.radius_m != 0.0 and self.turn_deg > 0.0):
            msg = f"ego path: radius {self.radius_m} m, turn {self.turn_deg} deg: need finite, > 0"
            raise ValueError(msg)

    @property
    def arc_m(self) -> float:
        return abs(self.radius_m) * math.radians(self.turn_deg)

    def curvature(self, s_m: float) -> float:
        """Path curvature (1/m, left positive) at arc length ``s_m``."""
        return 1.0 / self.radius_m if 0.0 <= s_m - self.turn_at_m < self.arc_m else 0.0

    def pose(self, s_m: FloatArray | float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """World x, y and heading of the front-bumper centre at arc lengths ``s_m``."""
        s = np.asarray(s_m, np.float64)
        k = 1.0 / self.radius_m
        a = np.clip(s - self.turn_at_m, 0.0, self.arc_m)
        rest = np.maximum(s - self.turn_at_m - self.arc_m, 0.0)
        psi = k * a
        x = np.minimum(s, self.turn_at_m) + np.sin(psi) / k + rest * np.cos(psi)
        y = (1.0 - np.cos(psi)) / k + rest * np.sin(psi)
        return x, y, psi


class _Spec(Protocol):
    @property
    def hwl_m(self) -> tuple[float, float, float]: ...
    @property
    def lane_change_at_s(self) -> float | None: ...
    @property
    def lane_change_m(self) -> float: ...
    @property
    def lane_change_s(self) -> float: ...


class _Profile(Protocol):
    @property
    def t_s(self) -> tuple[float, ...]: ...
    @property
    def v_mps(self) -> tuple[float, ...]: ...


class Mover(Protocol):
    """What these functions need of a target: position, speed along its heading, heading, its
    scheduled speed profile (or None) and its acceleration now."""

    s: float
    v: float
    d: float
    heading: float

    @property
    def spec(self) -> _Spec: ...
    @property
    def profile(self) -> _Profile | None: ...
    def accel(self, t: float) -> float: ...


def travel(o: Mover, t_s: float, tau: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Distance along its heading and speed of ``o`` at ``t_s + tau`` (``tau`` an increasing
    grid from 0): its speed schedule if it has one (trapezoids on the grid), else its current
    acceleration held until it stops (as :func:`adas.scenarios.kinematics.true_ttc`)."""
    if o.profile is not None:
        v = np.interp(t_s + tau, o.profile.t_s, o.profile.v_mps)
        v[0] = o.v
        dist = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * np.diff(tau))])
        return dist, v
    a = o.accel(t_s)
    v = o.v + a * tau
    dist = o.v * tau + 0.5 * a * tau * tau
    if a < 0.0:
        stop = v < 0.0
        dist = np.where(stop, 0.5 * o.v * o.v / -a, dist)
        v = np.maximum(v, 0.0)
    return dist, v


def lane_offset(spec: _Spec, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A lane change's lateral displacement and rate at times ``t_s`` (minimum jerk, as
    :func:`adas.scenarios.kinematics.smoothstep`); zeros without one."""
    t = np.asarray(t_s, np.float64)
    if spec.lane_change_at_s is None:
        return np.zeros_like(t), np.zeros_like(t)
    u = np.clip((t - spec.lane_change_at_s) / spec.lane_change_s, 0.0, 1.0)
    h = u**3 * (10.0 - 15.0 * u + 6.0 * u * u)
    dh = 30.0 * u * u * (1.0 - u) ** 2
    return spec.lane_change_m * h, spec.lane_change_m * dh / spec.lane_change_s


def target_poses(
    o: Mover, t_s: float, tau: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Rear-face centre x, y, heading and velocity x, y of ``o`` at times ``t_s + tau``
    (``tau`` an increasing grid from 0): along its heading as :func:`travel`, plus its lane
    change."""
    tau = np.asarray(tau, np.float64)
    ch, sh = math.cos(o.heading), math.sin(o.heading)
    lc0 = lane_offset(o.spec, np.array([t_s]))[0][0]
    lc, rate = lane_offset(o.spec, t_s + tau)
    dist, v = travel(o, t_s, tau)
    vx = v * ch
    vy = v * sh + rate
    x = o.s + dist * ch
    y = o.d + dist * sh + (lc - lc0)
    moving = (v > 0.0) | (rate != 0.0)
    phi = np.where(moving, np.arctan2(vy, vx), o.heading)
    return x, y, phi, vx, vy


def rect_corners(
    x: FloatArray | float, y: FloatArray | float, phi: FloatArray | float, length: float,
    width: float, back: float = 0.0,
) -> FloatArray:  # fmt: skip
    """T x 4 x 2 footprint corners of rectangles whose reference point (x, y) is the centre of
    the face at ``back`` m along the heading ``phi``; they reach ``length`` m forward of it."""
    x, y, phi = (np.atleast_1d(np.asarray(a, np.float64)) for a in (x, y, phi))
    along = np.array([back, back, back + length, back + length])
    across = 0.5 * width * np.array([1.0, -1.0, -1.0, 1.0])
    c, s = np.cos(phi)[:, None], np.sin(phi)[:, None]
    return np.stack([x[:, None] + c * along - s * across, y[:, None] + s * along + c * across], 2)


def overlap(a: FloatArray, b: FloatArray) -> np.ndarray:
    """Per row, whether convex quadrilaterals ``a`` and ``b`` (T x 4 x 2) overlap or touch
    (separating-axis test over the edge normals of both)."""
    sep = np.zeros(a.shape[0], bool)
    for poly in (a, b):
        for k in range(2):  # a rectangle has two edge directions
            e = poly[:, k + 1] - poly[:, k]
            n = np.stack([-e[:, 1], e[:, 0]], 1)
            pa = np.einsum("tij,tj->ti", a, n)
            pb = np.einsum("tij,tj->ti", b, n)
            sep |= (pa.max(1) < pb.min(1)) | (pb.max(1) < pa.min(1))
    return ~sep


def _point_segment(p: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """Distances from points p (P x 2) to segments a-b (S x 2 each): P x S."""
    ab = b - a
    t = np.clip(((p[:, None] - a[None]) * ab[None]).sum(2) / (ab * ab).sum(1)[None], 0.0, 1.0)
    q = a[None] + t[..., None] * ab[None]
    return np.asarray(np.hypot(*(p[:, None] - q).transpose(2, 0, 1)), np.float64)


def footprint_distance(a: FloatArray, b: FloatArray, touching: bool | None = None) -> float:
    """Clearance between two footprints (4 x 2 corners each): 0 if they overlap (``touching``,
    when the caller already knows)."""
    if touching if touching is not None else overlap(a[None], b[None])[0]:
        return 0.0
    ea, eb = np.roll(a, -1, 0), np.roll(b, -1, 0)
    return float(min(_point_segment(a, b, eb).min(), _point_segment(b, a, ea).min()))


def ego_pose(path: EgoPath | None, s_e: float) -> tuple[float, float, float]:
    """World pose of the ego's front-bumper centre at arc length ``s_e`` (no path: (s, 0, 0))."""
    if path is None:
        return s_e, 0.0, 0.0
    x, y, psi = path.pose(s_e)
    return float(x), float(y), float(psi)


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _ego_poses(
    s_e: float, v_e: float, tau: FloatArray, path: EgoPath | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    s = s_e + v_e * tau
    if path is None:
        return s, np.zeros_like(s), np.zeros_like(s)
    return path.pose(s)


def predicted_contact(
    objs: list[Mover], t_s: float, s_e: float, v_e: float, path: EgoPath | None,
    ego_lw: tuple[float, float], colliding: list[bool],
) -> float:  # fmt: skip
    """Seconds until the first footprint overlap with the ego holding ``v_e`` along its path and
    each target (``colliding`` ones only) its speed and heading; inf if none within the
    horizon. ``ego_lw``: ego length and width."""
    tau = np.arange(0.0, TTC_HORIZON_S + 1e-9, TTC_STEP_S)
    ex, ey, epsi = _ego_poses(s_e, v_e, tau, path)
    ego = rect_corners(ex, ey, epsi, ego_lw[0], ego_lw[1], back=-ego_lw[0])
    best = math.inf
    for o, ok in zip(objs, colliding, strict=True):
        if not ok:
            continue
        x, y, phi, _, _ = target_poses(o, t_s, tau)
        hit = overlap(ego, rect_corners(x, y, phi, o.spec.hwl_m[2], o.spec.hwl_m[1]))
        if hit.any():
            best = min(best, float(tau[int(np.argmax(hit))]))
    return best


def contact(
    objs: list[Mover], t_s: float, ego_pose: tuple[float, float, float], v_e: float,
    ego_lw: tuple[float, float], colliding: list[bool],
) -> tuple[int, float, float]:  # fmt: skip
    """Index of the first target whose footprint overlaps the ego's now (-1: none), the impact
    speed (m/s along the ego's heading, see the module docstring) and the first target's
    clearance (NaN without targets)."""
    x0, y0, psi = ego_pose
    ego = rect_corners(x0, y0, psi, ego_lw[0], ego_lw[1], back=-ego_lw[0])[0]
    hit, speed, clear = -1, 0.0, math.nan
    for i, o in enumerate(objs):
        if i > 0 and (hit >= 0 or not colliding[i]):
            continue
        x, y, phi, vx, vy = target_poses(o, t_s, np.zeros(1))
        foot = rect_corners(x, y, phi, o.spec.hwl_m[2], o.spec.hwl_m[1])[0]
        touching = bool(overlap(ego[None], foot[None])[0])
        if i == 0:
            clear = footprint_distance(ego, foot, touching)
        if hit < 0 and colliding[i] and touching:
            hit = i
            speed = v_e - float(vx[0] * math.cos(psi) + vy[0] * math.sin(psi))
    return hit, speed, clear


def crossing_start(
    ego_speed_mps: float, speed_mps: float, heading_deg: float, impact_y_m: float,
    time_to_impact_s: float, length_m: float, accel_distance_m: float = 0.0,
) -> tuple[float, float]:  # fmt: skip
    """Start position (s, d of the rear-face centre) of a target that, starting at t = 0 (from
    rest, reaching ``speed_mps`` over ``accel_distance_m`` at constant acceleration, if that is
    given) and then holding its speed along ``heading_deg``, has its box centre at the ego's
    front-bumper line, ``impact_y_m`` left of the ego's centreline, at ``time_to_impact_s``
    (the ego starting at s = 0 and holding ``ego_speed_mps`` on a straight path)."""
    t_acc = 2.0 * accel_distance_m / speed_mps if accel_distance_m > 0.0 else 0.0
    if time_to_impact_s < t_acc:
        msg = f"time to impact {time_to_impact_s} s is shorter than the acceleration ({t_acc} s)"
        raise ValueError(msg)
    travel = accel_distance_m + speed_mps * (time_to_impact_s - t_acc) + 0.5 * length_m
    h = math.radians(heading_deg)
    return (
        ego_speed_mps * time_to_impact_s - travel * math.cos(h),
        impact_y_m - travel * math.sin(h),
    )
