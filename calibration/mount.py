"""Camera mount (height, pitch, roll, yaw, position) from a board at a measured place.

Frames: vehicle ISO 8855 (x forward, y left, z up, origin on the road below the front bumper
centre, see :class:`adas.camera.Mount`); camera OpenCV (x right, y down, z forward); board as
:mod:`calibration.boards` defines it: origin at the board's top-left *outer* corner (the
corner of the printed squares, not an inner corner), x along the columns, y along the rows,
z into the board, metres. ``T_a_b`` maps b coordinates to a coordinates.

Placements (:class:`BoardPlacement`), where ``(x_m, y_m, z_m)`` is the board origin in the
vehicle frame:

* ``on_ground``: printed face up on the road, ``thickness_m`` above it; board z points down.
  ``yaw_deg`` is the angle of the board's x axis from the vehicle's x axis, positive towards
  the left. At 0 the columns run forward and the rows to the right, so the origin is the
  board's rear-left corner; at -90 the board reads upright from the car (columns to the
  right, rows towards the car) and the origin is its far-left corner.
* ``standing``: upright, printed face towards the car; the origin is the top-left corner as
  seen from the car. At yaw 0 and tilt 0 the board's axes are a level camera's (x to the
  vehicle's right, y down, z forward); ``yaw_deg`` turns it about the vertical (positive
  left, as a camera's yaw) and ``tilt_deg`` leans its top away from the car.

Solve: each image's PnP pose gives one mount estimate (``T_vehicle_camera = T_vehicle_board @
T_camera_board^-1``); their median starts a joint least-squares fit of the six mount values to
the reprojection error of every corner of every image. Standard deviations come from that
fit's Jacobian and cover corner noise only: an error in the measured board placement moves
the mount by as much (1 cm of board x is 1 cm of ``behind_bumper_m``) and is not included.
The result also keeps the full 6 x 6 covariance and the mount's sensitivity to the
intrinsics, which :mod:`calibration.ground_range` turns into a range uncertainty.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.optimize import least_squares

from adas.camera import R_VEHICLE_LEVEL, CameraModel, Mount, rotation_vehicle_camera
from adas.camera_lens import Lens
from adas.errors import CalibrationFileError, ConfigError
from calibration.detect import MIN_CORNERS, Detection
from calibration.errors import BoardSpecError, CalibrationError, NotEnoughViewsError
from calibration.intrinsics import DIST_NAMES, FloatArray, Model, project, solve_pose
from calibration.io import CameraUncertainty, read_uncertainty

log = logging.getLogger(__name__)

MAX_BOARD_DISTANCE_M = 50.0  # |x|, |y| of the board origin; farther is a typo (mm for m)
MAX_BOARD_HEIGHT_M = 5.0  # a standing board's top corner above the road
MAX_THICKNESS_M = 0.2
MAX_TILT_DEG = 60.0
FIELDS = tuple(f.name for f in dataclasses.fields(Mount))  # height_m, pitch_rad, ... lateral_m
ANGLE_FIELDS = ("pitch_rad", "roll_rad", "yaw_rad")


@dataclass(frozen=True)
class BoardPlacement:
    """The board's origin (metres, vehicle frame) and orientation (degrees); see the module doc.

    Build with :meth:`on_ground` or :meth:`standing`; bad values raise BoardSpecError.
    """

    kind: str  # "ground" or "standing"
    x_m: float
    y_m: float
    z_m: float
    yaw_deg: float = 0.0
    tilt_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("ground", "standing"):
            msg = f"board placement kind {self.kind!r}: expected 'ground' or 'standing'"
            raise BoardSpecError(msg)
        limits = {
            "x_m": (-MAX_BOARD_DISTANCE_M, MAX_BOARD_DISTANCE_M),
            "y_m": (-MAX_BOARD_DISTANCE_M, MAX_BOARD_DISTANCE_M),
            "z_m": (0.0, MAX_THICKNESS_M if self.kind == "ground" else MAX_BOARD_HEIGHT_M),
            "yaw_deg": (-360.0, 360.0),
            "tilt_deg": (-MAX_TILT_DEG, MAX_TILT_DEG) if self.kind == "standing" else (0.0, 0.0),
        }
        for name, (lo, hi) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                msg = f"board placement {name} = {value!r}: expected a number"
                raise BoardSpecError(msg)
            if not (math.isfinite(value) and lo <= value <= hi):
                what = "thickness_m" if name == "z_m" and self.kind == "ground" else name
                msg = f"board placement {what} = {value!r} is outside [{lo}, {hi}] ({self.kind})"
                raise BoardSpecError(msg)
            object.__setattr__(self, name, float(value))

    @classmethod
    def on_ground(
        cls, x_m: float, y_m: float, yaw_deg: float = 0.0, thickness_m: float = 0.0
    ) -> BoardPlacement:
        """Board lying face up on the road, origin at (x_m, y_m), ``thickness_m`` thick."""
        return cls("ground", x_m, y_m, thickness_m, yaw_deg)

    @classmethod
    def standing(
        cls, x_m: float, y_m: float, z_m: float, yaw_deg: float = 0.0, tilt_deg: float = 0.0
    ) -> BoardPlacement:
        """Upright board facing the car, top-left corner (as seen from the car) at (x, y, z)."""
        return cls("standing", x_m, y_m, z_m, yaw_deg, tilt_deg)

    @property
    def T_vehicle_board(self) -> FloatArray:  # noqa: N802 - frame names
        """4 x 4 transform: board coordinates (metres) -> vehicle coordinates."""
        yaw = math.radians(self.yaw_deg)
        if self.kind == "ground":
            c, s = math.cos(yaw), math.sin(yaw)
            R = np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])  # Rz(yaw) diag(1,-1,-1)
        else:
            R = rotation_vehicle_camera(math.radians(self.tilt_deg), 0.0, yaw)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, [self.x_m, self.y_m, self.z_m]
        return T

    def to_dict(self) -> dict[str, Any]:
        """The placement as JSON-ready numbers."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class Intrinsics:
    """A calibrated camera as the mount solver needs it: K (pixels), dist, model, size."""

    K: FloatArray
    dist: FloatArray
    model: Model
    image_size: tuple[int, int]  # width, height in pixels
    uncertainty: CameraUncertainty | None = None  # from the intrinsics YAML, when it has one

    def check_image_size(self, size: tuple[int, int]) -> None:
        """Raise CalibrationError unless the images are the size the camera was calibrated at."""
        if tuple(size) != tuple(self.image_size):
            msg = (
                f"images are {size[0]} x {size[1]} px but the camera was calibrated at "
                f"{self.image_size[0]} x {self.image_size[1]} px; use that camera's own file"
            )
            raise CalibrationError(msg)


def load_intrinsics(path: str | Path) -> Intrinsics:
    """Read an OpenCV YAML (``adas-calibrate intrinsics --out``) or ROS camera_info YAML.

    Uses the runtime's own reader (:class:`adas.camera.CameraModel`): a file adas cannot use
    is refused here as well, and a fisheye file gives the fisheye model.
    """
    try:
        cam = CameraModel.from_opencv_yaml(path)
    except CalibrationFileError as exc:
        msg = f"camera intrinsics: {exc}"
        raise CalibrationError(msg) from exc
    if cam.lens is Lens.FISHEYE:
        model = Model.FISHEYE
    else:
        model = Model.PINHOLE8 if cam.dist.size > 5 else Model.PINHOLE5
    unc = read_uncertainty(path)
    if unc is not None and unc.names != ("fx", "fy", "cx", "cy", *DIST_NAMES[model]):
        msg = f"{path}: the covariance is over {unc.names}, not the {model} model's parameters"
        raise CalibrationError(msg)
    return Intrinsics(np.array(cam.K), np.array(cam.dist), model, (cam.width, cam.height), unc)


def mount_angles(R_vehicle_camera: FloatArray) -> tuple[float, float, float]:
    """(pitch, roll, yaw) in radians with ``rotation_vehicle_camera(*angles) == R``: the exact
    inverse of :func:`adas.camera.rotation_vehicle_camera` for |pitch| < 90 degrees."""
    M = np.asarray(R_vehicle_camera, np.float64) @ R_VEHICLE_LEVEL.T  # Rz(yaw) Ry(pitch) Rx(roll)
    pitch = math.atan2(-M[2, 0], math.hypot(M[2, 1], M[2, 2]))
    roll = math.atan2(M[2, 1], M[2, 2])
    yaw = math.atan2(M[1, 0], M[0, 0])
    return pitch, roll, yaw


def mount_values(T_vehicle_camera: FloatArray) -> FloatArray:
    """The six :class:`Mount` values (field order) of a camera pose, unchecked."""
    T = np.asarray(T_vehicle_camera, np.float64)
    pitch, roll, yaw = mount_angles(T[:3, :3])
    x, y, z = T[:3, 3]
    return np.array([z, pitch, roll, yaw, -x, y])


def _T_vehicle_camera(p: FloatArray) -> FloatArray:  # noqa: N802
    T = np.eye(4)
    T[:3, :3] = rotation_vehicle_camera(p[1], p[2], p[3])
    T[:3, 3] = [-p[4], p[5], p[0]]
    return T


@dataclass(frozen=True)
class ImageEstimate:
    """One image's mount from its own PnP pose, and how well the joint mount fits it (px)."""

    name: str
    corners: int
    values: tuple[float, ...]  # Mount field order: metres and radians
    rms_px: float  # its own PnP fit
    joint_rms_px: float  # under the joint mount

    def get(self, field: str) -> float:
        """One value by Mount field name."""
        return self.values[FIELDS.index(field)]


@dataclass(frozen=True)
class MountResult:
    """The estimated mount with its quality figures (``std``/``spread`` in Mount field units)."""

    mount: Mount
    rms_px: float
    std: dict[str, float]  # 1-sigma from the joint fit's Jacobian (corner noise only)
    spread: dict[str, float | None]  # std of the per-image estimates; None with one image
    per_image: tuple[ImageEstimate, ...]
    unused: tuple[str, ...]  # images with fewer than min_corners corners
    placements: tuple[BoardPlacement, ...]
    # 6 x 6 covariance of the Mount values (corner noise only), and d(mount)/d(intrinsics),
    # 6 x (4 + distortion): how an error in fx, fy, cx, cy, dist moves the fitted mount
    covariance: FloatArray | None = None
    sensitivity: FloatArray | None = None

    @property
    def images(self) -> int:
        """Number of images given."""
        return len(self.per_image) + len(self.unused)


def _rms(res: FloatArray) -> float:
    return float(math.sqrt(np.mean(np.sum(res.reshape(-1, 2) ** 2, axis=1))))


def _pixels(
    p: FloatArray, pts_vehicle: FloatArray, K: FloatArray, dist: FloatArray, model: Model
) -> FloatArray:
    """Pixels of vehicle-frame points seen by a camera mounted as ``p``."""
    R = rotation_vehicle_camera(p[1], p[2], p[3])
    c = np.array([-p[4], p[5], p[0]])
    rvec = np.asarray(cv2.Rodrigues(R.T)[0], np.float64).ravel()  # R_camera_vehicle
    return project(model, pts_vehicle, rvec, np.asarray(-R.T @ c, np.float64), K, dist)


def estimate_mount(
    detections: Sequence[Detection],
    camera_K: FloatArray,
    camera_dist: FloatArray,
    model: Model | str,
    board_pose: BoardPlacement | Sequence[BoardPlacement],
    *,
    min_corners: int = MIN_CORNERS,
) -> MountResult:
    """The camera mount from images of a board at ``board_pose`` (one placement for all
    images, or one per detection); see the module doc. Images with fewer than
    ``min_corners`` corners are reported in ``unused``; none left raises NotEnoughViewsError.
    """
    model = Model(model)
    K = np.asarray(camera_K, np.float64)
    dist = np.asarray(camera_dist, np.float64).ravel()
    dets = list(detections)
    places = [board_pose] * len(dets) if isinstance(board_pose, BoardPlacement) else board_pose
    if len(places) != len(dets):
        msg = f"{len(places)} board placements for {len(dets)} images; give one or one each"
        raise BoardSpecError(msg)
    pairs = [(d, b) for d, b in zip(dets, places, strict=True) if d.count >= min_corners]
    unused = tuple(d.name for d in dets if d.count < min_corners)
    if not pairs:
        msg = (
            f"no board found in any of the {len(dets)} images (each needs {min_corners} "
            "corners); check the board options and that the board is in view and lit"
        )
        raise NotEnoughViewsError(msg)

    first: list[FloatArray] = []
    own_rms: list[float] = []
    pts_vehicle: list[FloatArray] = []
    for det, place in pairs:
        rvec, tvec = solve_pose(model, det, K, dist)
        obj = np.asarray(det.object_points, np.float64)
        own_rms.append(_rms(project(model, obj, rvec, tvec, K, dist) - det.image_points))
        T_camera_board = np.eye(4)
        T_camera_board[:3, :3], T_camera_board[:3, 3] = cv2.Rodrigues(rvec)[0], tvec
        T_vehicle_board = place.T_vehicle_board
        first.append(mount_values(T_vehicle_board @ np.linalg.inv(T_camera_board)))
        pts_vehicle.append(obj @ T_vehicle_board[:3, :3].T + T_vehicle_board[:3, 3])
    pts = np.concatenate(pts_vehicle)
    observed = np.concatenate([np.asarray(d.image_points, np.float64) for d, _ in pairs])

    def residuals(p: FloatArray) -> FloatArray:
        return (_pixels(p, pts, K, dist, model) - observed).ravel()

    start = np.median(np.array(first), axis=0)
    fit = least_squares(residuals, start, jac="3-point", x_scale="jac", xtol=1e-12, ftol=1e-12)
    p = np.asarray(fit.x, np.float64)
    res = np.asarray(fit.fun, np.float64)
    J = np.asarray(fit.jac, np.float64)
    dof = max(1, res.size - p.size)
    cov = np.linalg.pinv(J.T @ J) * float(res @ res) / dof
    sensitivity = _sensitivity(p, J, pts, observed, K, dist, model)
    p[1:4] = (p[1:4] + math.pi) % (2 * math.pi) - math.pi
    try:
        mount = Mount(*map(float, p))
    except ConfigError as exc:
        shown = ", ".join(f"{n}={shown_value(n, v)}" for n, v in zip(FIELDS, p, strict=True))
        msg = (
            f"the estimated mount ({shown}) is not one adas accepts: {exc}. Check the board "
            "placement (origin corner, x/y signs, board yaw) and the camera file"
        )
        raise CalibrationError(msg) from exc

    ends = np.cumsum([0] + [d.count for d, _ in pairs])
    joint = [_rms(res.reshape(-1, 2)[a:b]) for a, b in itertools.pairwise(ends)]
    per_image = tuple(
        ImageEstimate(det.name, det.count, tuple(map(float, v)), own, j)
        for (det, _), v, own, j in zip(pairs, first, own_rms, joint, strict=True)
    )
    values = np.array(first)
    values[:, 1:4] = (values[:, 1:4] - p[1:4] + math.pi) % (2 * math.pi) - math.pi  # wrap
    spread: dict[str, float | None] = {
        n: float(np.std(values[:, i], ddof=1)) if len(pairs) > 1 else None
        for i, n in enumerate(FIELDS)
    }
    return MountResult(
        mount=mount,
        rms_px=_rms(res),
        std={n: float(math.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(FIELDS)},
        spread=spread,
        per_image=per_image,
        unused=unused,
        placements=tuple(dict.fromkeys(b for _, b in pairs)),
        covariance=cov,
        sensitivity=sensitivity,
    )


def _sensitivity(
    p: FloatArray, J: FloatArray, pts: FloatArray, observed: FloatArray, K: FloatArray,
    dist: FloatArray, model: Model,
) -> FloatArray:  # fmt: skip
    """d(fitted mount)/d(intrinsics) at the solution: the least-squares optimum moves by
    -(J^T J)^-1 J^T J_k dk when the intrinsics move by dk (J_k: the residuals' numeric
    Jacobian over fx, fy, cx, cy, dist; central differences, steps 1e-6 relative)."""
    k0 = np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2], *dist])
    cols = []
    for j in range(k0.size):
        h = 1e-6 * max(1.0, abs(k0[j]))
        px = []
        for sign in (1.0, -1.0):
            k = k0.copy()
            k[j] += sign * h
            Kj = np.array([[k[0], K[0, 1], k[2]], [0.0, k[1], k[3]], [0.0, 0.0, 1.0]])
            px.append(_pixels(p, pts, Kj, k[4:], model))
        cols.append(((px[0] - px[1]) / (2 * h)).ravel())
    return np.asarray(-np.linalg.pinv(J.T @ J) @ J.T @ np.column_stack(cols), np.float64)


def shown_value(field: str, value: float | None) -> str:
    """A mount field's value as a person reads it: angles in degrees, lengths in metres."""
    if value is None:
        return "n/a"
    return f"{math.degrees(value):.4f} deg" if field in ANGLE_FIELDS else f"{value:.4f} m"
