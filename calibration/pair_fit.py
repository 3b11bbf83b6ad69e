"""The joint fit of a stereo pair: OpenCV's for two pinholes, least squares for a fisheye pair.

Convention (OpenCV's ``stereoCalibrate``): ``x_2 = R x_1 + T``; each pair's board pose
(rvec, tvec) is in camera 1's frame. Two pinhole cameras are fitted by
``cv2.stereoCalibrateExtended``. A pair with a fisheye camera is fitted here by
``scipy.optimize.least_squares`` over both cameras' intrinsics (fx fy cx cy and the
distortion coefficients, unless fixed), R, T and every board pose, each camera projecting
with its own lens model (:func:`calibration.intrinsics.project`): OpenCV has no stereo fit
across two lens models, and ``cv2.fisheye.stereoCalibrate`` needs the same corner count in
every pair (opencv/opencv#21748), which partial ChArUco views do not give; one fit for
fisheye-fisheye and mixed pairs also means both behave the same way. The tests check it
against ``cv2.fisheye.stereoCalibrate`` where that one runs. The start is the mono
intrinsics, the boards' PnP poses in camera 1 and the chordal mean of the per-view relative
poses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from calibration.detect import Detection
from calibration.errors import CalibrationError
from calibration.intrinsics import FloatArray, IntrinsicsResult, Model, solve_pose
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


def _project_jac(
    model: Model, obj: FloatArray, rvec: FloatArray, tvec: FloatArray, v: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Pixels (2N, x0 y0 x1 ...) of ``obj`` at (rvec, tvec) through intrinsics ``v`` (fx fy cx
    cy dist...), and OpenCV's derivatives of them over v, rvec and tvec (2N x k each)."""
    K, D = _k(v)
    o = obj.reshape(-1, 1, 3)
    if model is Model.FISHEYE:  # columns: f(2) c(2) k(4) r(3) t(3) skew
        px, J = cv2.fisheye.projectPoints(o, rvec.reshape(3, 1), tvec.reshape(3, 1), K, D)
        jac: FloatArray = np.asarray(J, np.float64)
        return np.asarray(px, np.float64).ravel(), jac[:, :8], jac[:, 8:11], jac[:, 11:14]
    px, J = cv2.projectPoints(o, rvec, tvec, K, D)  # columns: r(3) t(3) f(2) c(2) dist
    jac = np.asarray(J, np.float64)
    return np.asarray(px, np.float64).ravel(), jac[:, 6:], jac[:, :3], jac[:, 3:6]


def _least_squares_fit(
    pairs: Sequence[tuple[Detection, Detection]], cam1: IntrinsicsResult,
    cam2: IntrinsicsResult, *, fixed: bool,
) -> PairFit:  # fmt: skip
    """The least squares of the module doc (intrinsics kept as given with ``fixed``), with
    OpenCV's analytic derivatives (``projectPoints`` and ``composeRT``, as its own
    ``stereoCalibrate`` does): finite differences took ~250 iterations to converge here."""
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
    ext = n_in  # R, T (as rvec, tvec) start here; board j's pose at ext + 6 + 6 j
    obj = [np.asarray(a.object_points, np.float64) for a, _ in pairs]
    img = [
        (np.asarray(a.image_points, np.float64).ravel(), np.asarray(b.image_points).ravel())
        for a, b in pairs
    ]
    rows = np.cumsum([0] + [4 * o.shape[0] for o in obj])

    def evaluate(x: FloatArray, *, jac: bool) -> FloatArray:
        v1, v2 = (i1, i2) if fixed else (x[: i1.size], x[i1.size : n_in])
        rm, tm = x[ext : ext + 3], x[ext + 3 : ext + 6]
        out = np.zeros((rows[-1], x.size)) if jac else np.empty(rows[-1])
        for j, o in enumerate(obj):
            n2, b0 = 2 * o.shape[0], ext + 6 + 6 * j
            rb, tb = x[b0 : b0 + 3], x[b0 + 3 : b0 + 6]
            px1, ji1, jr1, jt1 = _project_jac(m1, o, rb, tb, v1)
            r2, t2, dr2_drb, dr2_dtb, dr2_drm, dr2_dtm, dt2_drb, dt2_dtb, dt2_drm, dt2_dtm = (
                cv2.composeRT(rb, tb, rm, tm)  # x_2 = M (board pose): apply the pose, then M
            )  # fmt: skip
            px2, ji2, jr2, jt2 = _project_jac(m2, o, np.ravel(r2), np.ravel(t2), v2)
            r0 = rows[j]
            if not jac:
                out[r0 : r0 + n2] = px1 - img[j][0]
                out[r0 + n2 : r0 + 2 * n2] = px2 - img[j][1]
                continue
            if not fixed:
                out[r0 : r0 + n2, : i1.size] = ji1
                out[r0 + n2 : r0 + 2 * n2, i1.size : n_in] = ji2
            out[r0 : r0 + n2, b0 : b0 + 3], out[r0 : r0 + n2, b0 + 3 : b0 + 6] = jr1, jt1
            lo = slice(r0 + n2, r0 + 2 * n2)
            out[lo, ext : ext + 3] = jr2 @ dr2_drm + jt2 @ dt2_drm
            out[lo, ext + 3 : ext + 6] = jr2 @ dr2_dtm + jt2 @ dt2_dtm
            out[lo, b0 : b0 + 3] = jr2 @ dr2_drb + jt2 @ dt2_drb
            out[lo, b0 + 3 : b0 + 6] = jr2 @ dr2_dtb + jt2 @ dt2_dtb
        return out

    sol = least_squares(
        lambda x: evaluate(x, jac=False), x0, jac=lambda x: evaluate(x, jac=True),
        x_scale="jac", method="lm",
    )  # fmt: skip
    if not sol.success:
        msg = f"the stereo pair's joint fit did not converge: {sol.message}"
        raise CalibrationError(msg)
    x = sol.x
    v1, v2 = (i1, i2) if fixed else (x[: i1.size], x[i1.size : n_in])
    (K1, D1), (K2, D2) = _k(v1), _k(v2)
    M = to_matrix(x[ext : ext + 3], x[ext + 3 : ext + 6])
    R, T = M[:3, :3], M[:3, 3].copy()
    E, F = _essential(K1, K2, R, T)
    poses = [x[ext + 6 + 6 * j : ext + 12 + 6 * j] for j in range(len(pairs))]
    rms = math.sqrt(float(sol.fun @ sol.fun) / (sol.fun.size / 2))
    return PairFit(
        rms, K1, D1.copy(), K2, D2.copy(), R, T, E, F,
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
