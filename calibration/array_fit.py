"""Intrinsics from a board array (:mod:`calibration.board_array`): one image is enough.

The boards' corners, placed in the array frame by their designed poses, are a non-planar
target, so one view constrains focal lengths, principal point and distortion together.
Procedure:

1. Start: ``cv2.initCameraMatrix2D`` with every board of every view as its own planar view
   (board frame), no distortion. ``cv2.calibrateCamera`` cannot start from non-planar points
   alone, which is why it gets this guess (``CALIB_USE_INTRINSIC_GUESS``).
2. ``cv2.calibrateCameraExtended`` on the array-frame points: one array pose per image; the
   parameter standard deviations are OpenCV's sigma^2 (J^T J)^-1, sigma from the residuals.
3. ``estimate_poses``: the array was not built exactly as designed, so a bundle adjustment
   (``scipy.optimize.least_squares``) refines the intrinsics, every image's array pose and
   every board's pose relative to the reference board (the first board seen, held at its
   designed pose: it defines the array frame), with the analytic Jacobian of
   :mod:`calibration.array_covariance`. Standard deviations come from the fit's covariance
   (:mod:`calibration.covariance`) with the board poses as further parameters. Each
   board's offset from its design (centre in mm, angle in degrees) is reported. Needs
   :data:`MIN_ESTIMATE_VIEWS` images: from one image the boards would be independent planar
   views, and the array would add nothing.

Uncertainty (:func:`array_covariance`, for :mod:`calibration.uncertainty`): the points
are fixed in the array frame, each image's array pose is a view's pose, and the estimated
board poses are extra parameters; the projection figure marginalises them out. With the
designed poses the spec is taken as exact: an array built off its design is not in the
figure (it shows as an RMS over SUSPECT_RMS_PX, with a warning to estimate the poses).

Held-out error: boards, not images, are held out (one image must work): the camera is
calibrated without board ``b`` and ``b``'s corners are reprojected with those intrinsics and
the image's array pose from the remaining boards. Needs 3 boards seen (two left are still
non-planar); with estimated poses there is none (a held-out board's pose would be unknown).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from calibration.array_covariance import array_jacobian, board_array_covariance
from calibration.board_array import ArraySpec
from calibration.covariance import Covariance
from calibration.coverage import coverage_map
from calibration.detect import Detection
from calibration.errors import CalibrationError, NotEnoughViewsError
from calibration.intrinsics import DIST_NAMES, IntrinsicsResult, Model, ViewError, project

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
# Corner detectors reach 0.1-0.5 px; an RMS over twice the top of that on the designed poses
# is not noise, most likely boards mounted off their design.
SUSPECT_RMS_PX = 1.0
MIN_BOARD_CORNERS = 6  # a board's pose has 6 DoF: fewer corners cannot place it (nor start K)
MIN_ESTIMATE_VIEWS = 2  # see the module doc, step 3
MIN_HELDOUT_BOARDS = 3  # see the module doc, held-out error
# Non-planar test of one view's points: smallest / largest singular value of the centred
# points; 1e-3 is the board_array.MIN_DEPTH_RATIO rule (0.5 mm deep on a 0.5 m target).
_PLANAR_RATIO = 1e-3
_OpenCVFit = tuple[float, FloatArray, FloatArray, list[FloatArray], list[FloatArray], FloatArray]
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
# Step 2 as step 3's start: the bundle adjustment converges from a few iterations' solution,
# and on a misbuilt array the designed-pose optimum is wrong anyway (its 100 iterations cost
# 3x the bundle adjustment).
_START_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 1e-12)


@dataclass(frozen=True)
class BoardPose:
    """A board's pose T_array_board in the final fit and its offset from the designed one."""

    index: int
    corners: int  # corners seen over all images
    rvec: FloatArray  # radians
    tvec: FloatArray  # metres
    offset_mm: float  # board centre, estimated vs designed (0 when not estimated)
    offset_deg: float  # rotation between estimated and designed (0 when not estimated)
    estimated: bool


@dataclass(frozen=True, eq=False)
class ArrayResult:
    """Intrinsics from an array target, the board poses used, each image's T_cam_array."""

    intrinsics: IntrinsicsResult
    boards: tuple[BoardPose, ...]
    array_poses: tuple[tuple[FloatArray, FloatArray], ...]  # (rvec, tvec) per used view
    heldout: str  # "boards" or "none" (why: see the module doc)
    array: ArraySpec  # the designed array
    views: tuple[Detection, ...]  # the used views, as detected (designed array points)
    free: tuple[int, ...] = ()  # the boards whose pose the fit estimated (free_boards)


def _planar(points: FloatArray) -> bool:
    sv = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return bool(sv[2] < _PLANAR_RATIO * sv[0])


def _by_board(array: ArraySpec, view: Detection) -> dict[int, npt.NDArray[np.intp]]:
    boards = array.board_of(view.ids)
    return {int(b): np.flatnonzero(boards == b) for b in np.unique(boards)}


def initial_camera(
    array: ArraySpec, views: Sequence[Detection], size: tuple[int, int]
) -> FloatArray:
    """Step 1 of the module doc: K from every board of every view as a planar view."""
    obj, img = [], []
    for v in views:
        for sel in _by_board(array, v).values():
            if sel.size >= MIN_BOARD_CORNERS:
                obj.append(array.local_points(v.ids[sel]).astype(np.float32))
                img.append(np.asarray(v.image_points, np.float32)[sel])
    if not obj:
        msg = f"no board seen with {MIN_BOARD_CORNERS} corners: nothing to start the camera from"
        raise NotEnoughViewsError(msg)
    return np.asarray(cv2.initCameraMatrix2D(obj, img, size), np.float64)


def _opencv_fit(
    model: Model, views: Sequence[Detection], size: tuple[int, int], K0: FloatArray,
    D0: FloatArray, points: Sequence[FloatArray], criteria: tuple[int, int, float] = _CRITERIA,
) -> _OpenCVFit:  # fmt: skip
    """Step 2: calibrateCameraExtended from (K0, D0) on ``points`` (array frame, per view)."""
    flags = cv2.CALIB_USE_INTRINSIC_GUESS
    flags |= cv2.CALIB_RATIONAL_MODEL if model is Model.PINHOLE8 else 0
    obj = [np.asarray(p, np.float32).reshape(-1, 1, 3) for p in points]
    img = [np.asarray(v.image_points, np.float32).reshape(-1, 1, 2) for v in views]
    try:
        out = cv2.calibrateCameraExtended(
            obj, img, size, K0.copy(), D0.reshape(-1, 1).copy(), flags=flags, criteria=criteria
        )
    except cv2.error as exc:
        msg = f"OpenCV could not calibrate on the board array ({len(views)} images): {exc}"
        raise CalibrationError(msg) from exc
    n = len(DIST_NAMES[model])
    rvecs = [np.asarray(r, np.float64).reshape(3) for r in out[3]]
    tvecs = [np.asarray(t, np.float64).reshape(3) for t in out[4]]
    std = np.asarray(out[5], np.float64).ravel()[: 4 + n]
    K = np.asarray(out[1], np.float64)
    return float(out[0]), K, np.asarray(out[2], np.float64).ravel()[:n], rvecs, tvecs, std


def free_boards(array: ArraySpec, views: Sequence[Detection]) -> list[int]:
    """The boards whose pose step 3 estimates: every board seen with MIN_BOARD_CORNERS corners
    in total but the first (the reference, held at its design: it defines the array frame)."""
    seen = np.bincount(
        np.concatenate([array.board_of(v.ids) for v in views]), minlength=array.n_boards
    )
    return [b for b in range(array.n_boards) if seen[b] >= MIN_BOARD_CORNERS][1:]


def _unpack(
    p: FloatArray, array: ArraySpec, nd: int, nv: int, free: Sequence[int]
) -> tuple[FloatArray, FloatArray, list[tuple[FloatArray, FloatArray]], FloatArray, FloatArray]:
    """Step 3's parameter vector -> K, dist, the views' poses, every board's rvec and tvec."""
    K = np.array([[p[0], 0.0, p[2]], [0.0, p[1], p[3]], [0.0, 0.0, 1.0]])
    poses = [(p[4 + nd + 6 * i : 7 + nd + 6 * i], p[7 + nd + 6 * i : 10 + nd + 6 * i])
             for i in range(nv)]  # fmt: skip
    rv, tv = array.rvecs.copy(), array.tvecs.copy()
    for k, b in enumerate(free):
        q = p[4 + nd + 6 * nv + 6 * k :][:6]
        rv[b], tv[b] = q[:3], q[3:]
    return K, p[4 : 4 + nd], poses, rv, tv


def bundle_adjust(
    model: Model,
    array: ArraySpec,
    views: Sequence[Detection],
    K: FloatArray,
    dist: FloatArray,
    poses: Sequence[tuple[FloatArray, FloatArray]],
) -> tuple[FloatArray, FloatArray, list[tuple[FloatArray, FloatArray]], FloatArray, FloatArray]:
    """Step 3: returns K, dist, the views' T_cam_array and the boards' rvecs and tvecs.

    Board poses are in the frame of the reference board (the first seen) held at its design;
    boards seen with fewer than MIN_BOARD_CORNERS corners in total keep their designed pose
    (:func:`free_boards`)."""
    nd, nv = dist.size, len(views)
    free = free_boards(array, views)
    x0: FloatArray = np.concatenate(
        [
            np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]),
            dist,
            *(np.concatenate(p) for p in poses),
            *(np.concatenate([array.rvecs[b], array.tvecs[b]]) for b in free),
        ]
    )

    def residuals(p: FloatArray) -> FloatArray:
        Kp, dp, vp, rv, tv = _unpack(p, array, nd, nv, free)
        return np.concatenate([
            (project(model, array.array_points(v.ids, rv, tv), r, t, Kp, dp) - v.image_points)
            .ravel() for v, (r, t) in zip(views, vp, strict=True)
        ])  # fmt: skip

    def jacobian(p: FloatArray) -> FloatArray:
        return array_jacobian(model, array, views, *_unpack(p, array, nd, nv, free), free)[0]

    # MINPACK's Levenberg-Marquardt (QR) with the analytic Jacobian: the same optimum as "trf"
    # with numeric differences on the synthetic sets, many times faster.
    fit = least_squares(residuals, x0, jac=jacobian, x_scale="jac", method="lm")
    Kf, df, view_poses, rv, tv = _unpack(fit.x, array, nd, nv, free)
    return Kf, df.copy(), view_poses, rv, tv


def array_covariance(result: ArrayResult) -> Covariance:
    """The fit's covariance (:mod:`calibration.covariance`) over the intrinsics, every image's
    array pose and, when the fit estimated them, the free boards' poses (``extra``), with the
    points fixed in the array frame: what :mod:`calibration.uncertainty` needs for a board
    array (see its module doc)."""
    cam = result.intrinsics
    rv = np.array([b.rvec for b in result.boards])
    tv = np.array([b.tvec for b in result.boards])
    return board_array_covariance(
        cam.model, result.array, result.views, cam.K, cam.dist, result.array_poses, rv, tv,
        result.free,
    )  # fmt: skip


def _rms(res: FloatArray) -> float:
    res = np.asarray(res, np.float64).reshape(-1, 2)
    return float(math.sqrt(np.mean(np.sum(res**2, axis=1)))) if res.size else math.nan


def _heldout_boards(
    model: Model, array: ArraySpec, views: Sequence[Detection], size: tuple[int, int],
    K: FloatArray, dist: FloatArray,
) -> dict[int, list[FloatArray]] | None:  # fmt: skip
    """Held-out residuals per view index (module doc), or None with too few boards."""
    boards = np.unique(np.concatenate([array.board_of(v.ids) for v in views]))
    if boards.size < MIN_HELDOUT_BOARDS:
        return None
    out: dict[int, list[FloatArray]] = {}
    for b in boards:
        keep = [(i, array.board_of(v.ids) != b) for i, v in enumerate(views)]
        keep = [(i, m) for i, m in keep if m.sum() >= MIN_BOARD_CORNERS]
        sub = [_subset(views[i], m) for i, m in keep]
        if not sub or (len(sub) < 3 and all(_planar(np.asarray(v.object_points)) for v in sub)):
            continue  # the rest is one flat board: no honest calibration without b
        _, Kb, Db, rvecs, tvecs, _ = _opencv_fit(
            model, sub, size, K, dist, [np.asarray(v.object_points, np.float64) for v in sub]
        )
        for (i, m), rv, tv in zip(keep, rvecs, tvecs, strict=True):
            held = ~m
            if held.any():
                v = views[i]
                pred = project(model, v.object_points[held], rv, tv, Kb, Db)
                out.setdefault(i, []).append(pred - v.image_points[held])
    return out


def _subset(v: Detection, m: npt.NDArray[np.bool_]) -> Detection:
    return Detection(v.name, v.path, v.image_points[m], v.object_points[m], v.ids[m], v.method)


def calibrate_array(
    views: Sequence[Detection],
    image_size: tuple[int, int],
    array: ArraySpec,
    model: Model | str = Model.PINHOLE5,
    *,
    estimate_poses: bool = False,
    heldout: bool = True,
) -> ArrayResult:
    """Calibrate ``model`` from views of ``array`` (global ids, array-frame points, as
    :func:`calibration.detect.detect_array_images` gives them); see the module doc."""
    model = Model(model)
    if model is Model.FISHEYE:
        msg = "board arrays calibrate pinhole5 and pinhole8; fisheye arrays are not done yet"
        raise CalibrationError(msg)
    views = list(views)
    if not views:
        msg = "no image shows the board array"
        raise NotEnoughViewsError(msg)
    if len(views) < 3 and all(_planar(np.asarray(v.object_points, np.float64)) for v in views):
        msg = (
            f"{len(views)} images each show only one flat board of the array: a single flat "
            "board needs 3 images; show more of the array (the boards at different angles)"
        )
        raise NotEnoughViewsError(msg)
    if estimate_poses and len(views) < MIN_ESTIMATE_VIEWS:
        msg = f"estimating board poses needs {MIN_ESTIMATE_VIEWS} images of the array, got 1"
        raise NotEnoughViewsError(msg)
    n = len(DIST_NAMES[model])
    K0 = initial_camera(array, views, image_size)
    points = [array.array_points(v.ids) for v in views]
    _, K, dist, rvecs, tvecs, std = _opencv_fit(
        model, views, image_size, K0, np.zeros(n), points,
        _START_CRITERIA if estimate_poses else _CRITERIA,
    )  # fmt: skip
    poses = list(zip(rvecs, tvecs, strict=True))
    rv, tv = array.rvecs, array.tvecs
    free = free_boards(array, views) if estimate_poses else []
    if estimate_poses:
        K, dist, poses, rv, tv = bundle_adjust(model, array, views, K, dist, poses)
        try:
            cov = board_array_covariance(model, array, views, K, dist, poses, rv, tv, free)
            std = np.sqrt(np.clip(np.diag(cov.intrinsics), 0.0, None))
        except CalibrationError as exc:
            log.warning("no standard deviations: %s", exc)
            std = np.full(4 + n, math.nan)
    residuals = []
    for v, (r, t) in zip(views, poses, strict=True):
        pts = array.array_points(v.ids, rv, tv)
        residuals.append(project(model, pts, r, t, K, dist) - v.image_points)
    if not estimate_poses and _rms(np.concatenate(residuals)) > SUSPECT_RMS_PX:
        log.warning(
            "RMS %.2f px on the designed board poses: the array may not be built as designed; "
            "with 2+ images, estimate the poses (--estimate-board-poses)",
            _rms(np.concatenate(residuals)),
        )
    held = None
    if heldout and not estimate_poses:
        held = _heldout_boards(model, array, views, image_size, K, dist)
    view_errors = tuple(
        ViewError(
            v.name, v.count, _rms(res),
            None if held is None or i not in held else _rms(np.concatenate(held[i])),
            used=True,
        )
        for i, (v, res) in enumerate(zip(views, residuals, strict=True))
    )  # fmt: skip
    heldout_rms = None
    if held:
        heldout_rms = _rms(np.concatenate([r for rs in held.values() for r in rs]))
    names = ("fx", "fy", "cx", "cy", *DIST_NAMES[model])
    result = IntrinsicsResult(
        model=model, K=K, dist=dist, image_size=image_size,
        rms_px=_rms(np.concatenate(residuals)), heldout_rms_px=heldout_rms,
        std={k: float(s) for k, s in zip(names, std, strict=True)}, views=view_errors,
        rejected=(), coverage=coverage_map(views, image_size),
        fit_views=tuple(dataclasses.replace(
            v, object_points=array.array_points(v.ids, rv, tv).astype(np.float32)
        ) for v in views),
        fit_rvecs=tuple(p[0] for p in poses), fit_tvecs=tuple(p[1] for p in poses),
    )  # fmt: skip
    seen = np.bincount(
        np.concatenate([array.board_of(v.ids) for v in views]), minlength=array.n_boards
    )
    boards = []
    for b in range(array.n_boards):
        R_d = cv2.Rodrigues(array.rvecs[b])[0]
        R_e = cv2.Rodrigues(rv[b])[0]
        angle = math.degrees(float(np.linalg.norm(cv2.Rodrigues(R_d.T @ R_e)[0])))
        w, h = array.board.size_m
        c = np.array([w / 2, h / 2, 0.0])
        offset = float(np.linalg.norm(R_e @ c + tv[b] - (R_d @ c + array.tvecs[b]))) * 1e3
        boards.append(BoardPose(b, int(seen[b]), rv[b].copy(), tv[b].copy(), offset, angle,
                                estimated=estimate_poses))  # fmt: skip
    return ArrayResult(
        result, tuple(boards), tuple(poses), "none" if held is None else "boards", array,
        tuple(views), tuple(free),
    )  # fmt: skip
