"""Road geometry of the scenario world: the horizontal arc, the vertical profile, boxes on it.

Horizontal: the centreline is straight or a circular arc of curvature ``kappa`` (left
positive); a road position is (s, d): arc length and lateral offset (left positive).

Vertical: the grade ``g(s)`` (rise over run) is linear between breakpoints ``(s_k, g_k)`` and
constant beyond the first and last: constant vertical curvature between breakpoints, i.e.
parabolic vertical curves, as road design lays them out. The elevation is its integral from
``s = 0`` (the ego's start), exact: ``z(s) = z_k + g_k (s - s_k) + c_k (s - s_k)^2 / 2``.
``s`` is the horizontal station, as road design measures it (arc length differs by under 0.2 %
at 6 % grade).

A vehicle stands on the road: its rear at ``(s, z(s))``, pitched by ``atan g(s + L/2)``, which
on a parabolic curve is exactly the chord slope between its ends, so both ends touch the road.
The ego vehicle frame is placed the same way (origin on the road under the front bumper,
pitched by the grade at its middle). Boxes above the road (sign boards) hang vertically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from adas.camera import CameraModel
from adas.synthetic import Objects3D, box_corners_vehicle
from adas.types import FloatArray

__all__ = ["RoadObject", "RoadProfile", "corners_in_ego", "hidden_below_rows", "road_pose"]

SIGHT_STEP_M = 0.5  # spacing of the road points tested for hiding an object behind a crest
MAX_GRADE = 0.3  # a profile steeper than 30 % is a typo, not a road


class _Spec(Protocol):
    @property
    def hwl_m(self) -> tuple[float, float, float]: ...
    @property
    def elevation_m(self) -> float: ...


class RoadObject(Protocol):
    """What the geometry needs of an object: road position, speeds, size, elevation."""

    s: float
    v: float
    d: float
    d_rate: float

    @property
    def spec(self) -> _Spec: ...


@dataclass(frozen=True)
class RoadProfile:
    """Vertical profile from breakpoints ``(s_m, grade)``; empty = flat road."""

    breakpoints: tuple[tuple[float, float], ...] = ()
    _s: FloatArray = field(init=False, repr=False, compare=False)
    _g: FloatArray = field(init=False, repr=False, compare=False)
    _z: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pts = np.array(self.breakpoints, np.float64).reshape(-1, 2)
        s, g = pts[:, 0], pts[:, 1]
        if not np.isfinite(pts).all() or np.any(np.diff(s) <= 0) or np.any(np.abs(g) > MAX_GRADE):
            msg = (
                f"road_profile {self.breakpoints!r}: expected (s_m, grade) pairs with rising s "
                f"and |grade| <= {MAX_GRADE}"
            )
            raise ValueError(msg)
        z = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(s))])
        object.__setattr__(self, "_s", s)
        object.__setattr__(self, "_g", g)
        object.__setattr__(self, "_z", z)
        if s.size:  # elevation 0 at s = 0
            object.__setattr__(self, "_z", z - float(self._raw(np.zeros(1))[0]))

    @property
    def flat(self) -> bool:
        return not np.any(self._g)

    def grade(self, s_m: FloatArray | float) -> FloatArray:
        """Grade (rise over run) at stations ``s_m``."""
        if not self._s.size:
            return np.zeros_like(np.asarray(s_m, np.float64))
        return np.asarray(np.interp(s_m, self._s, self._g), np.float64)

    def elevation(self, s_m: FloatArray | float) -> FloatArray:
        """Road elevation at stations ``s_m``, metres above the road at s = 0."""
        if not self._s.size:
            return np.zeros_like(np.asarray(s_m, np.float64))
        return self._raw(np.asarray(s_m, np.float64))

    def _raw(self, s: FloatArray) -> FloatArray:
        sk, gk, zk = self._s, self._g, self._z
        k = np.clip(np.searchsorted(sk, s, side="right") - 1, 0, sk.size - 1)
        ds = s - sk[k]
        seg = np.minimum(k, sk.size - 2)  # curvature of the segment starting at k
        c = np.zeros_like(ds)
        if sk.size > 1:
            inside = (s >= sk[0]) & (s < sk[-1])
            c = np.where(inside, (gk[seg + 1] - gk[seg]) / (sk[seg + 1] - sk[seg]), 0.0)
        return zk[k] + gk[k] * ds + 0.5 * c * ds * ds


def road_pose(s: float, d: float, kappa: float) -> tuple[float, float, float]:
    """World x, y and heading of road position (s, d) on a road of curvature ``kappa``."""
    if abs(kappa) < 1e-12:
        return s, d, 0.0
    psi = kappa * s
    c, s_ = math.cos(psi), math.sin(psi)
    return s_ / kappa - d * s_, (1.0 - c) / kappa + d * c, psi


def _pitch_about(points: FloatArray, pivot: FloatArray, heading: FloatArray, theta: float) -> None:
    """Rotate ``points`` (M x 3, in place) nose-up by ``theta`` about the horizontal axis
    through ``pivot`` perpendicular to the unit ``heading`` (x, y)."""
    rel = points - pivot
    a = rel[:, :2] @ heading
    c, s = math.cos(theta), math.sin(theta)
    a2 = a * c - rel[:, 2] * s
    points[:, 2] = pivot[2] + a * s + rel[:, 2] * c
    points[:, :2] += (a2 - a)[:, None] * heading


def place_on_profile(
    corners: FloatArray, objs: Sequence[RoadObject], s_obj: FloatArray, s_ego: float,
    ego_length_m: float, profile: RoadProfile,
) -> FloatArray:  # fmt: skip
    """Flat-road corners (N x 8 x 3, ego-heading frame) moved onto the vertical profile and
    expressed in the pitched ego vehicle frame."""
    out = corners.copy()
    z_ego = float(profile.elevation(s_ego))
    for i, o in enumerate(objs):
        c = out[i]
        if o.spec.elevation_m <= 0.0:  # a vehicle: pitched with the road under it
            axis = c[3, :2] - c[0, :2]
            heading = axis / max(float(np.hypot(*axis)), 1e-12)
            theta = math.atan(float(profile.grade(s_obj[i] + 0.5 * o.spec.hwl_m[2])))
            _pitch_about(c, 0.5 * (c[0] + c[1]), heading, theta)
        c[:, 2] += float(profile.elevation(s_obj[i])) - z_ego
    theta_e = math.atan(float(profile.grade(s_ego - 0.5 * ego_length_m)))
    _pitch_about(out.reshape(-1, 3), np.zeros(3), np.array([1.0, 0.0]), -theta_e)
    return out


def corners_in_ego(
    objs: Sequence[RoadObject], s_ego: float, kappa: float, tau: float = 0.0,
    profile: RoadProfile | None = None, ego_length_m: float = 4.5,
    ego_pose: tuple[float, float, float] | None = None,
) -> FloatArray:  # fmt: skip
    """N x 8 x 3 box corners in the ego vehicle frame, every object moved on by ``tau`` s.

    ``profile`` (None or flat: a level road) puts objects and ego on the vertical profile.
    ``ego_pose``: the ego's world x, y, heading when it leaves the road's centreline (a turn,
    :class:`adas.scenarios.motion.EgoPath`). An object with a ``heading`` attribute (rad, not
    0) moves along it: its s advances at ``v cos heading`` and its box turns with it.
    """
    ex, ey, epsi = road_pose(s_ego, 0.0, kappa) if ego_pose is None else ego_pose
    c, s_ = math.cos(epsi), math.sin(epsi)
    n = len(objs)
    dist, lat, yaw = np.empty(n), np.empty(n), np.empty(n)
    for i, o in enumerate(objs):
        h = float(getattr(o, "heading", 0.0))
        v_s = o.v * math.cos(h) if h else o.v
        ox, oy, opsi = road_pose(o.s + v_s * tau, o.d + o.d_rate * tau, kappa)
        if h:  # along its velocity when it moves, else its heading
            moving = o.v > 0.0 or o.d_rate != 0.0
            phi = opsi + (math.atan2(o.d_rate, v_s) if moving else h) - epsi
        else:
            phi = opsi + math.atan2(o.d_rate, max(o.v, 0.1)) - epsi if o.d_rate else opsi - epsi
        xr = c * (ox - ex) + s_ * (oy - ey)  # rear-face centre in the ego frame
        yr = -s_ * (ox - ex) + c * (oy - ey)
        length, hw = o.spec.hwl_m[2], 0.5 * o.spec.hwl_m[1]
        cp, sp = math.cos(phi), math.sin(phi)
        fx = (hw * -sp, -hw * -sp, cp * length + sp * hw, cp * length - sp * hw)
        fy = (hw * cp, -hw * cp, sp * length - cp * hw, sp * length + cp * hw)
        # box_corners_vehicle rotates about the rear face and puts the nearest corner at x =
        # distance and the footprint's y-centre at lateral: give it exactly those.
        dist[i], lat[i], yaw[i] = xr + min(fx), yr + 0.5 * (min(fy) + max(fy)), phi
    hwl = np.array([o.spec.hwl_m for o in objs], np.float64).reshape(n, 3)
    corners = box_corners_vehicle(Objects3D(dist, lat, hwl, yaw))
    corners[:, :, 2] += np.array([o.spec.elevation_m for o in objs])[:, None]
    if profile is None or profile.flat:
        return corners
    s_obj = np.array([o.s + o.v * math.cos(getattr(o, "heading", 0.0)) * tau for o in objs])
    return place_on_profile(corners, objs, s_obj, s_ego, ego_length_m, profile)


def hidden_below_rows(
    camera: CameraModel, pitch_rad: float, profile: RoadProfile, s_ego: float,
    s_obj: Sequence[float], kappa: float, ego_length_m: float = 4.5,
) -> FloatArray:  # fmt: skip
    """Per object, the image row below which the road surface in front of it hides it.

    The road centreline between the camera and the object (points every ``SIGHT_STEP_M``) is
    projected; the highest of those points in the image (smallest row) is the crest line, and
    the object's parts below it are behind the road. On a level road or in a sag that row
    lies below the object's base (nothing hidden); ``inf`` for an object not ahead.
    """
    out = np.full(len(s_obj), np.inf)
    if profile.flat:
        return out
    ex, ey, epsi = road_pose(s_ego, 0.0, kappa)
    c, s_ = math.cos(epsi), math.sin(epsi)
    z_ego = float(profile.elevation(s_ego))
    theta_e = math.atan(float(profile.grade(s_ego - 0.5 * ego_length_m)))
    ce, se = math.cos(theta_e), math.sin(theta_e)
    for i, so in enumerate(s_obj):
        st = np.arange(s_ego + SIGHT_STEP_M, so - 0.5 * SIGHT_STEP_M, SIGHT_STEP_M)
        if st.size == 0:
            continue
        if abs(kappa) < 1e-12:
            wx, wy = st, np.zeros_like(st)
        else:
            wx, wy = np.sin(kappa * st) / kappa, (1.0 - np.cos(kappa * st)) / kappa
        xh = c * (wx - ex) + s_ * (wy - ey)
        yh = -s_ * (wx - ex) + c * (wy - ey)
        zh = profile.elevation(st) - z_ego
        pts = np.stack([ce * xh + se * zh, yh, -se * xh + ce * zh], 1)
        depth = (pts - camera.position_m) @ camera.rotation(pitch_rad)[:, 2]
        pts = pts[depth > 0.5]
        if pts.shape[0]:
            out[i] = float(camera.project_vehicle(pts, pitch_rad=pitch_rad)[:, 1].min())
    return out
