"""Camera (pinhole with OpenCV distortion, or fisheye) on the vehicle: pixels <-> rays <-> road.

Camera frame (OpenCV): x right, y down, z forward; pixel (0, 0) is the centre of the top-left
pixel. Vehicle frame (ISO 8855): x forward, y left, z up, origin on the road below the front
bumper centre. ``T_vehicle_camera`` maps camera coordinates to vehicle coordinates.

Calibration files: KITTI calib text, OpenCV FileStorage YAML and ROS camera_info YAML, read and
written through :mod:`adas.camera_files` (the file formats; this module holds the geometry).
The lens is OpenCV's pinhole distortion model or its fisheye (equidistant) one
(:mod:`adas.camera_lens`); every pixel <-> ray conversion goes through it, and pixels or rays
outside a fisheye's valid field give NaN. The mount lives in :mod:`adas.camera_mount`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from adas.camera_files import (
    CameraFile,
    PathLike,
    calibration_file_errors,
    read_camera_yaml,
    read_kitti_projection,
    ros_camera_info_text,
    write_opencv_yaml,
)
from adas.camera_lens import (
    Lens,
    check_fisheye,
    fisheye_field,
    fisheye_normalized,
    fisheye_pixels,
)
from adas.camera_mount import DEFAULT_MOUNT, R_VEHICLE_LEVEL, Mount, rotation_vehicle_camera
from adas.errors import CalibrationFileError, ContractError
from adas.types import FloatArray

__all__ = [
    "DEFAULT_MOUNT", "R_VEHICLE_LEVEL", "CameraModel", "Lens", "Mount", "rotation_vehicle_camera",
]  # fmt: skip

_DIST_LENGTHS = (4, 5, 8, 12, 14)  # coefficient counts OpenCV's pinhole model accepts
# OpenCV's default 5 fixed-point iterations leave ~0.4 px error at k1 = -0.3; iterate to 1e-12.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def _points(a: npt.ArrayLike, dim: int, name: str) -> FloatArray:
    """``a`` as an N x dim float64 array (a single point of shape (dim,) becomes 1 x dim)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape == (dim,):
        arr = arr.reshape(1, dim)
    if arr.ndim != 2 or arr.shape[1] != dim:
        msg = f"{name} must be N x {dim}, got shape {arr.shape}"
        raise ContractError(msg)
    return arr


def _require(cond: bool | np.bool_, msg: str) -> None:
    if not cond:
        raise CalibrationFileError(msg)


def _readonly(a: Any, name: str) -> FloatArray:
    """A read-only float64 copy, so a frozen CameraModel really is immutable."""
    try:
        arr = np.array(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} is not numeric: {a!r}"
        raise CalibrationFileError(msg) from exc
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics (``K`` in pixels, OpenCV ``dist``), image size in pixels, the mount and the
    lens model (``dist`` holds k1..k4 for a fisheye).

    Arrays are stored read-only. Equality is identity (arrays have no truth value); compare
    ``K``, ``dist``, ``lens`` and the size explicitly. Inconsistent values raise
    CalibrationFileError.
    """

    K: FloatArray
    dist: FloatArray
    width: int
    height: int
    mount: Mount = DEFAULT_MOUNT
    kitti_offset_m: FloatArray = field(default_factory=lambda: np.zeros(3))
    lens: Lens = Lens.PINHOLE
    _R: FloatArray = field(init=False, repr=False)
    _inv2: FloatArray = field(init=False, repr=False)  # (uv - c) @ _inv2 = normalized x, y
    _c: FloatArray = field(init=False, repr=False)  # optical centre in the vehicle frame
    _has_dist: bool = field(init=False, repr=False)  # False: the plain K^-1 fast path
    _field: tuple[float, float] = field(init=False, repr=False)  # fisheye_field; pinhole: 0s

    def __post_init__(self) -> None:
        K, dist = _readonly(self.K, "K"), _readonly(self.dist, "dist").ravel()
        off = _readonly(self.kitti_offset_m, "kitti_offset_m")
        _require(
            K.shape == (3, 3) and np.isfinite(K).all(),
            f"camera matrix K must be a finite 3 x 3 matrix, got {K.tolist()}",
        )
        _require(
            K[0, 0] > 0 and K[1, 1] > 0,
            f"focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}",
        )
        _require(
            K[1, 0] == 0 and np.abs(K[2] - [0.0, 0.0, 1.0]).max() <= 1e-9,
            f"camera matrix K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}",
        )
        _require(
            isinstance(self.lens, Lens), f"lens must be one of {list(Lens)}, got {self.lens!r}"
        )
        fisheye = self.lens is Lens.FISHEYE
        if fisheye:
            check_fisheye(K, dist)
        dist = _readonly(np.zeros(5), "dist") if dist.size == 0 else dist
        _require(
            dist.size in _DIST_LENGTHS and np.isfinite(dist).all(),
            f"dist must hold {_DIST_LENGTHS} finite coefficients, got {dist.tolist()}",
        )
        for name in ("width", "height"):
            n = getattr(self, name)
            _require(
                isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0,
                f"image {name} must be a positive integer (pixels), got {n!r}",
            )
            object.__setattr__(self, name, int(n))
        _require(isinstance(self.mount, Mount), f"mount must be a Mount, got {self.mount!r}")
        _require(
            off.shape == (3,) and np.isfinite(off).all(),
            f"kitti_offset_m must be 3 finite metres, got {off.tolist()}",
        )
        m = self.mount
        for name, value in (
            ("K", K),
            ("dist", dist),
            ("kitti_offset_m", off),
            ("_R", _readonly(rotation_vehicle_camera(m.pitch_rad, m.roll_rad, m.yaw_rad), "R")),
            ("_inv2", _readonly(np.linalg.inv(K[:2, :2]).T, "K")),
            ("_c", _readonly([-m.behind_bumper_m, m.lateral_m, m.height_m], "position")),
            ("_has_dist", fisheye or bool(np.any(dist != 0))),
            ("_field", fisheye_field(dist) if fisheye else (0.0, 0.0)),
        ):
            object.__setattr__(self, name, value)

    @property
    def fx(self) -> float:
        """Horizontal focal length, pixels."""
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        """Vertical focal length, pixels."""
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        """Principal point column, pixels."""
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        """Principal point row, pixels."""
        return float(self.K[1, 2])

    @property
    def has_distortion(self) -> bool:
        """Whether the lens is not an ideal pinhole (a fisheye, or a non-zero distortion
        coefficient); else the fast K^-1 path runs."""
        return self._has_dist

    @property
    def position_m(self) -> FloatArray:
        """Optical centre in the vehicle frame, metres: (-behind_bumper, lateral, height)."""
        return self._c

    @property
    def R_vehicle_camera(self) -> FloatArray:  # noqa: N802 - frame names as in docs/architecture.md
        """Rotation from camera to vehicle axes with the mount's pitch, roll and yaw."""
        return self._R

    @property
    def T_vehicle_camera(self) -> FloatArray:  # noqa: N802
        """4 x 4 homogeneous transform: camera coordinates (metres) -> vehicle coordinates."""
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self._R, self.position_m
        return T

    def rotation(self, pitch_rad: float | None = None) -> FloatArray:
        """R_vehicle_camera with ``pitch_rad`` (per-frame estimate) in place of the mount's."""
        if pitch_rad is None:
            return self._R
        return rotation_vehicle_camera(pitch_rad, self.mount.roll_rad, self.mount.yaw_rad)

    def with_mount(self, mount: Mount) -> CameraModel:
        """The same intrinsics on another mount."""
        return dataclasses.replace(self, mount=mount)

    # ---- projection -------------------------------------------------------------------------

    def normalized(self, uv: npt.ArrayLike) -> FloatArray:
        """Undistorted normalized image coordinates (x/z, y/z) of N x 2 pixels; NaN rows stay NaN.

        Without distortion this is a plain K^-1 (called every frame per box, so kept cheap).
        """
        pts = _points(uv, 2, "uv")
        if not self._has_dist:
            return (pts - self.K[:2, 2]) @ self._inv2
        if self.lens is Lens.FISHEYE:
            return fisheye_normalized(pts, self.K, self.dist, self._field[1])
        out = np.full_like(pts, np.nan)
        ok = np.isfinite(pts).all(axis=1)
        if ok.any():
            und = cv2.undistortPoints(
                pts[ok].reshape(-1, 1, 2), self.K, self.dist, criteria=_UNDISTORT_CRITERIA
            )
            out[ok] = und.reshape(-1, 2)
        return out

    def _pixels(self, xy: FloatArray) -> FloatArray:
        """Pixels of N x 2 undistorted normalized coordinates, distortion applied."""
        if not self._has_dist:
            return xy @ self.K[:2, :2].T + self.K[:2, 2]
        if self.lens is Lens.FISHEYE:
            return fisheye_pixels(xy, self.K, self.dist, self._field[0])
        out = np.full_like(xy, np.nan)
        ok = np.isfinite(xy).all(axis=1)
        if ok.any():
            obj = np.column_stack([xy[ok], np.ones(int(ok.sum()))])
            img, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), self.K, self.dist)
            out[ok] = img.reshape(-1, 2)
        return out

    def _rays(self, uv: npt.ArrayLike, pitch_rad: float | None) -> FloatArray:
        """Vehicle-frame directions R @ (x, y, 1) of pixels, not normalised."""
        R = self.rotation(pitch_rad)
        return self.normalized(uv) @ R[:, :2].T + R[:, 2]

    def pixel_to_ray(self, uv: npt.ArrayLike, pitch_rad: float | None = None) -> FloatArray:
        """Unit viewing rays (N x 3) of pixels in the vehicle frame."""
        d = self._rays(uv, pitch_rad)
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def pixel_to_road(
        self, uv: npt.ArrayLike, pitch_rad: float | None = None, road_height_m: float = 0.0
    ) -> FloatArray:
        """Vehicle-frame points (N x 3, metres) where pixels' rays meet the plane z = road_height_m.

        Rows whose ray is parallel to the plane or meets it behind the camera (pixels on or
        above the horizon for a road below the camera) are NaN; the flat-road assumption is the
        caller's.
        """
        d = self._rays(uv, pitch_rad)
        c = self._c
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (road_height_m - c[2]) / d[:, 2]
        s[~(np.isfinite(s) & (s > 0))] = np.nan
        p = c + s[:, None] * d
        p[:, 2] = road_height_m + 0.0 * s  # exactly on the plane; NaN rows stay NaN
        return p

    def project_vehicle(
        self, pts_vehicle: npt.ArrayLike, pitch_rad: float | None = None
    ) -> FloatArray:
        """Pixels (N x 2, distortion applied) of vehicle-frame points; NaN if not in front."""
        p = _points(pts_vehicle, 3, "pts_vehicle")
        p_cam = (p - self._c) @ self.rotation(pitch_rad)  # rows of R^T (p - c)
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = p_cam[:, :2] / p_cam[:, 2:3]
        xy[~(p_cam[:, 2] > 0)] = np.nan
        return self._pixels(xy)

    def horizon_v(self, pitch_rad: float | None = None, u: float | None = None) -> float:
        """Image row (pixels) of the road plane's horizon at column ``u`` (default cx).

        The horizon is where rays run parallel to the road: a straight line a*x + b*y + c = 0 in
        normalized coordinates, (a, b, c) being the vehicle-z row of R. Roll tilts it, so it
        depends on ``u``; distortion bends it, which is solved by iterating on x.
        """
        a, b, c = self.rotation(pitch_rad)[2]
        u0 = self.cx if u is None else float(u)
        K = self.K
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = K[0, 0] - K[0, 1] * a / b  # du/dx along the line (exact without distortion)
            x = (u0 - K[0, 2] + K[0, 1] * c / b) / gain
            for _ in range(20 if self._has_dist else 0):  # Newton, numeric derivative
                xs = np.array([x, x + 1e-6])
                us = self._pixels(np.column_stack([xs, -(a * xs + c) / b]))[:, 0]
                step = (u0 - us[0]) * 1e-6 / (us[1] - us[0])
                x += step
                if not abs(step) > 1e-13:
                    break
            return float(self._pixels(np.array([[x, -(a * x + c) / b]]))[0, 1])

    # ---- undistorted geometry (what box-size maths needs on a distorting lens) -------------

    def undistorted(self) -> CameraModel:
        """The ideal pinhole camera (same K, no distortion) whose pixels are K applied to this
        camera's undistorted normalized coordinates (:meth:`undistort_pixels`)."""
        return dataclasses.replace(self, dist=np.zeros(5), lens=Lens.PINHOLE)

    def undistort_pixels(self, uv: npt.ArrayLike) -> FloatArray:
        """N x 2 pixels moved through the lens to the ideal pinhole image of :meth:`undistorted`
        (NaN outside a fisheye's field); identity without distortion."""
        return self.normalized(uv) @ self.K[:2, :2].T + self.K[:2, 2]

    def elevation_row(self, elevation_rad: float, pitch_rad: float | None = None) -> float:
        """Image row (pixels) of the ray straight ahead (the mount's yaw) at ``elevation_rad``
        above the road plane (negative: below), at the column it projects to; NaN if it is
        outside the lens's field. 0 rad is the horizon straight ahead."""
        yaw = self.mount.yaw_rad
        ce = math.cos(elevation_rad)
        d = np.array([ce * math.cos(yaw), ce * math.sin(yaw), math.sin(elevation_rad)])
        return float(self.project_vehicle(self._c + d, pitch_rad)[0, 1])

    # ---- calibration files ------------------------------------------------------------------

    @classmethod
    def from_kitti_p(
        cls, P: npt.ArrayLike, *, width: int, height: int, mount: Mount = DEFAULT_MOUNT
    ) -> CameraModel:
        """From a 3 x 4 KITTI rectified projection matrix P = K [I | t] (no distortion)."""
        P = _readonly(P, "P")
        if P.shape != (3, 4):
            msg = f"projection matrix must be 3 x 4, got shape {P.shape}"
            raise CalibrationFileError(msg)
        cam = cls(K=P[:, :3], dist=np.zeros(5), width=width, height=height, mount=mount)
        return dataclasses.replace(
            cam, kitti_offset_m=np.linalg.solve(cam.K, P[:, 3]).astype(np.float64)
        )

    @classmethod
    def from_kitti_calib(
        cls,
        path: PathLike,
        *,
        camera: str | None = "P2",
        width: int = 1242,
        height: int = 375,
        mount: Mount = DEFAULT_MOUNT,
    ) -> CameraModel:
        """From a KITTI object or tracking calib file ("P2: 12 numbers" or "P2 12 numbers"), or
        an odometry one (rows P0..P3, named or not); ``camera=None``: P2, else P0."""
        with calibration_file_errors(path):
            P = read_kitti_projection(path, camera)
            return cls.from_kitti_p(P, width=width, height=height, mount=mount)

    @classmethod
    def from_opencv_yaml(cls, path: PathLike, *, mount: Mount = DEFAULT_MOUNT) -> CameraModel:
        """From OpenCV FileStorage YAML: camera_matrix (or K), distortion_coefficients (or D),
        image_width, image_height, as OpenCV's calibration sample writes them;
        ``distortion_model: fisheye`` (or ``equidistant``) makes it a fisheye camera."""
        with calibration_file_errors(path):  # an invalid camera in the file names the file
            return cls._from_file(read_camera_yaml(path, ros=False), mount)

    @classmethod
    def from_ros_camera_info_yaml(
        cls, path: PathLike, *, mount: Mount = DEFAULT_MOUNT
    ) -> CameraModel:
        """From ROS camera_calibration YAML (plumb_bob, rational_polynomial or equidistant).

        camera_matrix is the raw camera's K; rectification and projection matrices are ignored.
        """
        with calibration_file_errors(path):  # an invalid camera in the file names the file
            return cls._from_file(read_camera_yaml(path, ros=True), mount)

    def to_opencv_yaml(self, path: PathLike) -> None:
        """Write OpenCV FileStorage YAML (17 significant digits, so reading back is exact; a
        fisheye writes ``distortion_model: fisheye``)."""
        write_opencv_yaml(path, self.K, self.dist, self.width, self.height, self.lens)

    def to_ros_camera_info_yaml(self, path: PathLike, camera_name: str = "front") -> None:
        """Write ROS camera_info YAML: R = I and P = [K | 0] (an unrectified monocular camera);
        a fisheye is ``equidistant``."""
        text = ros_camera_info_text(
            self.K, self.dist, self.width, self.height, camera_name, self.lens
        )
        with calibration_file_errors(path):
            Path(path).write_text(text)

    @classmethod
    def _from_file(cls, f: CameraFile, mount: Mount) -> CameraModel:
        return cls(K=f.K, dist=f.dist, width=f.width, height=f.height, mount=mount, lens=f.lens)
