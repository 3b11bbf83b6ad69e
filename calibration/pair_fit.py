"""The joint fit of a stereo pair: OpenCV's for two pinholes, least squares for a fisheye pair.

Convention (OpenCV's ``stereoCalibrate``): ``x_2 = R x_1 + T``; each pair's board pose
(rvec, tvec) is in camera 1's frame. Two pinhole cameras are fitted by
``cv2.stereoCalibrateExtended``. A pair with a fisheye camera is fitted here by
``scipy.optimize.least_squares`` over both cameras' intrinsics (fx fy cx cy and the
distortion coefficients, unless fixed), R, T and every board pose, each camera projecting
with its own lens model (:func:`calibration.intrinsics.project`): OpenCV has no stereo fit
across two lens models, and one fit for fisheye-fisheye and mixed pairs means both are
estimated, and behave, the same way (``cv2.fisheye.stereoCalibrate`` is checked against it in
the tests). The start is the mono intrinsics, the boards' PnP poses in camera 1 and the
chordal mean of the per-view relative poses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from calibration.detect import Detection
from calibration.errors import CalibrationError
from calibration.intrinsics import FloatArray, IntrinsicsResult, Model, project, solve_pose
from calibration.rig_fit import invert_transform, mean_transform, to_matrix, to_rt

_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)


@dataclass(frozen=True)
class PairFit:
    """A jointly fitted pair: both cameras' K and distortion, R, T, E, F, the board poses (in
    camera 1) and the overall reprojection RMS (pixels)."""

    rms_px: float
    K1: FloatArray
    D1: FloatArray
    K2: FloatArray
    D2: FloatArray
    R: FloatArray
    T: FloatArray
    E: FloatArray
    F: FloatArray
    rvecs: tuple[FloatArray, ...]
    tvecs: tuple[FloatArray, ...]


def _essential(K1: FloatArray, K2: FloatArray, R: FloatArray, T: FloatArray) -> tuple[
    FloatArray, FloatArray
]:  # fmt: skip
    """E = [T]x R and F = K2^-T E K1^-1 (F relates undistorted pixels, as OpenCV's does)."""
    tx = np.array([[0.0, -T[2], T[1]], [T[2], 0.0, -T[0]], [-T[1], T[0], 0.0]])
    E = tx @ R
    return E, np.linalg.inv(K2).T @ E @ np.linalg.inv(K1)


def _opencv_fit(
    model: Model, pairs: Sequence[tuple[Detection, Detection]], cam1: IntrinsicsResult,
    cam2: IntrinsicsResult, size: tuple[int, int], *, fixed: bool,
) -> PairFit:  # fmt: skip
    """``cv2.stereoCalibrateExtended`` of two pinhole cameras of ``model``."""
    obj = [a.object_points.astype(np.float32).reshape(-1, 1, 3) for a, _ in pairs]
    il = [a.image_points.astype(np.float32).reshape(-1, 1, 2) for a, _ in pairs]
    ir = [b.image_points.astype(np.float32).reshape(-1, 1, 2) for _, b in pairs]
    flags = cv2.CALIB_RATIONAL_MODEL if model is Model.PINHOLE8 else 0
    flags |= cv2.CALIB_FIX_INTRINSIC if fixed else cv2.CALIB_USE_INTRINSIC_GUESS
    try:
        out = cv2.stereoCalibrateExtended(  # type: ignore[call-overload]
            obj, il, ir, cam1.K.copy(), cam1.dist.reshape(-1, 1).copy(), cam2.K.copy(),
            cam2.dist.reshape(-1, 1).copy(), size, None, None, flags=flags, criteria=_CRITERIA,
        )  # fmt: skip
    except cv2.error as exc:
        msg = f"OpenCV could not calibrate the stereo pair on {len(pairs)} pairs: {exc}"
        raise CalibrationError(msg) from exc
    rms, K1, D1, K2, D2, R, T, E, F, rvecs, tvecs, _ = out
    n = cam1.dist.size

    def arr(a: object) -> FloatArray:
        return np.asarray(a, np.float64)

    return PairFit(
        float(rms), arr(K1), arr(D1).ravel()[:n], arr(K2), arr(D2).ravel()[:n], arr(R),
        arr(T).reshape(3), arr(E), arr(F), tuple(arr(r).reshape(3) for r in rvecs),
        tuple(arr(t).reshape(3) for t in tvecs),
    )  # fmt: skip


def _intrinsic_vector(cam: IntrinsicsResult) -> FloatArray:
    return np.array([cam.fx, cam.fy, cam.cx, cam.cy, *cam.dist], np.float64)


def _k(v: FloatArray) -> tuple[FloatArray, FloatArray]:
    return np.array([[v[0], 0.0, v[2]], [0.0, v[1], v[3]], [0.0, 0.0, 1.0]]), v[4:]


def _least_squares_fit(
    pairs: Sequence[tuple[Detection, Detection]], cam1: IntrinsicsResult,
    cam2: IntrinsicsResult, *, fixed: bool,
) -> PairFit:  # fmt: skip
    """The least squares of the module doc (intrinsics kept as given with ``fixed``)."""
    m1, m2 = cam1.model, cam2.model
    start = [to_matrix(*solve_pose(m1, a, cam1.K, cam1.dist)) for a, _ in pairs]
    rel = [
        to_matrix(*solve_pose(m2, b, cam2.K, cam2.dist)) @ invert_transform(T1)
        for T1, (_, b) in zip(start, pairs, strict=True)
    ]
    i1, i2 = _intrinsic_vector(cam1), _intrinsic_vector(cam2)
    n_in = 0 if fixed else i1.size + i2.size
    x0 = np.concatenate(
        ([] if fixed else [i1, i2]) + [np.concatenate(to_rt(mean_transform(rel)))]
        + [np.concatenate(to_rt(T)) for T in start]
    )  # fmt: skip
    ext = n_in  # R, T start here; board j's pose at ext + 6 + 6 j
    counts = [a.count for a, _ in pairs]
    c1 = slice(0, 0 if fixed else i1.size)  # camera 1's intrinsics (none when fixed)
    c2 = slice(0, 0) if fixed else slice(i1.size, n_in)
    sparsity = lil_matrix((4 * sum(counts), x0.size), dtype=np.int8)
    row = 0
    for j, n in enumerate(counts):  # pair j: 2n rows of camera 1, then 2n of camera 2
        board = slice(ext + 6 + 6 * j, ext + 12 + 6 * j)
        for rows, cols in ((slice(row, row + 2 * n), c1), (slice(row + 2 * n, row + 4 * n), c2)):
            sparsity[rows, cols] = 1
            sparsity[rows, board] = 1
        sparsity[row + 2 * n : row + 4 * n, ext : ext + 6] = 1
        row += 4 * n

    def unpack(x: FloatArray) -> tuple[FloatArray, ...]:
        v1, v2 = (i1, i2) if fixed else (x[: i1.size], x[i1.size : n_in])
        return (*_k(v1), *_k(v2), to_matrix(x[ext : ext + 3], x[ext + 3 : ext + 6]))

    def residuals(x: FloatArray) -> FloatArray:
        K1, D1, K2, D2, M = unpack(x)
        out = []
        for j, (a, b) in enumerate(pairs):
            p = x[ext + 6 + 6 * j : ext + 12 + 6 * j]
            out.append((project(m1, a.object_points, p[:3], p[3:], K1, D1) - a.image_points))
            rv2, tv2 = to_rt(M @ to_matrix(p[:3], p[3:]))
            out.append(project(m2, b.object_points, rv2, tv2, K2, D2) - b.image_points)
        return np.concatenate([r.ravel() for r in out])

    sol = least_squares(residuals, x0, jac_sparsity=sparsity, x_scale="jac", method="trf")
    if not sol.success:
        msg = f"the stereo pair's joint fit did not converge: {sol.message}"
        raise CalibrationError(msg)
    K1, D1, K2, D2, M = unpack(sol.x)
    R, T = M[:3, :3], M[:3, 3]
    E, F = _essential(K1, K2, R, T)
    poses = [sol.x[ext + 6 + 6 * j : ext + 12 + 6 * j] for j in range(len(pairs))]
    rms = math.sqrt(float(sol.fun @ sol.fun) / (sol.fun.size / 2))
    return PairFit(
        rms, K1, D1.copy(), K2, D2.copy(), R, T.copy(), E, F,
        tuple(p[:3].copy() for p in poses), tuple(p[3:].copy() for p in poses),
    )  # fmt: skip


def fit_pair(
    pairs: Sequence[tuple[Detection, Detection]], cam1: IntrinsicsResult,
    cam2: IntrinsicsResult, size: tuple[int, int], *, fixed: bool,
) -> PairFit:  # fmt: skip
    """Joint fit of the pair on corresponding detections (row-aligned corners), starting from
    (or, with ``fixed``, keeping) the mono intrinsics ``cam1``/``cam2``; see the module doc."""
    if cam1.model is not Model.FISHEYE and cam1.model is cam2.model:
        return _opencv_fit(cam1.model, pairs, cam1, cam2, size, fixed=fixed)
    return _least_squares_fit(pairs, cam1, cam2, fixed=fixed)
