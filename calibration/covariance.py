"""The covariance of a calibration fit, from OpenCV's analytic Jacobians.

The calibration minimises the squared reprojection residuals over the parameters theta =
(fx, fy, cx, cy, distortion..., then each used view's rvec and tvec, then any further
parameters of the fit: a board array's board poses). With J the Jacobian of all residuals
(2N rows for N corners) over theta at the solution, the covariance is ``sigma^2 (J^T J)^-1``
with ``sigma^2 = RSS / (2N - len(theta))``: the corner noise (pixels, per coordinate)
estimated from the residuals. J is OpenCV's analytic Jacobian (``cv2.projectPoints`` /
``cv2.fisheye.projectPoints``). Skew is fixed for every model.

:mod:`calibration.intrinsics` takes the fisheye standard deviations from here;
:mod:`calibration.uncertainty` turns the covariance into the projection uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from calibration.detect import Detection
from calibration.errors import CalibrationError
from calibration.models import DIST_NAMES, FloatArray, Model


@dataclass(frozen=True, eq=False)
class Covariance:
    """Covariance of a fit over (intrinsics, view 1 rvec tvec, view 2 ..., extra); see the
    module doc.

    ``names`` are the intrinsic parameters, which come first in ``matrix``; then 6 per view
    (``rvecs``, ``tvecs``: the views' board poses); then the ``extra`` parameters, named (a
    board array's estimated board poses). ``sigma_px`` is the corner noise estimated from
    the residuals, ``dof`` its degrees of freedom.
    """

    model: Model
    names: tuple[str, ...]
    matrix: FloatArray
    sigma_px: float
    dof: int
    K: FloatArray
    dist: FloatArray
    rvecs: tuple[FloatArray, ...]
    tvecs: tuple[FloatArray, ...]
    extra: tuple[str, ...] = ()

    @property
    def intrinsics(self) -> FloatArray:
        """The intrinsic parameters' block (``names`` order)."""
        n = len(self.names)
        return self.matrix[:n, :n]

    @property
    def views(self) -> FloatArray:
        """The block of the intrinsics and the views' poses (the extra parameters marginalised
        out, which for a Gaussian is just leaving their rows and columns out)."""
        n = len(self.names) + 6 * len(self.rvecs)
        return self.matrix[:n, :n]

    @property
    def std(self) -> dict[str, float]:
        """1-sigma of each intrinsic parameter."""
        return {
            k: float(np.sqrt(max(v, 0.0)))
            for k, v in zip(self.names, np.diag(self.intrinsics), strict=True)
        }


def intrinsic_names(model: Model) -> tuple[str, ...]:
    """The intrinsic parameters in covariance order."""
    return ("fx", "fy", "cx", "cy", *DIST_NAMES[model])


def project_with_jacobian(
    model: Model, obj: npt.ArrayLike, rvec: FloatArray, tvec: FloatArray, K: FloatArray,
    dist: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:  # fmt: skip
    """Pixels (M x 2) of points ``obj`` (M x 3) seen from pose (rvec, tvec), with the analytic
    Jacobians d(pixels)/d(intrinsics) (2M x n, :func:`intrinsic_names` order) and
    d(pixels)/d(rvec, tvec) (2M x 6); rows are u0, v0, u1, v1, ..."""
    o = np.asarray(obj, np.float64).reshape(-1, 1, 3)
    r = np.asarray(rvec, np.float64).reshape(3, 1)
    t = np.asarray(tvec, np.float64).reshape(3, 1)
    d = np.asarray(dist, np.float64)
    if model is Model.FISHEYE:
        # columns: f (2), c (2), k1..k4, om (3), T (3), alpha (skew, fixed: not used)
        px, j = cv2.fisheye.projectPoints(o, r, t, K, d)
        intr, pose = slice(0, 8), slice(8, 14)
    else:
        # columns: rvec (3), tvec (3), f (2), c (2), the distortion coefficients given
        px, j = cv2.projectPoints(o, r, t, K, d)
        intr, pose = slice(6, None), slice(0, 6)
    jac = np.asarray(j, np.float64)
    pixels = np.asarray(px, np.float64).reshape(-1, 2)
    return pixels, np.asarray(jac[:, intr], np.float64), np.asarray(jac[:, pose], np.float64)


def views_jacobian(
    model: Model, points: Sequence[npt.ArrayLike], pixels: Sequence[npt.ArrayLike],
    K: FloatArray, dist: FloatArray, rvecs: Sequence[FloatArray], tvecs: Sequence[FloatArray],
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """J (2N x (n + 6 views)) over (intrinsics, each view's pose) and the residuals (2N,
    projected minus detected, view by view) of views with board ``points`` (M_i x 3 each,
    fixed in their frame) detected at ``pixels`` (M_i x 2)."""
    names = intrinsic_names(model)
    nk, nv = len(names), len(points)
    if nv == 0 or len(rvecs) != nv or len(tvecs) != nv:
        msg = f"{nv} views with {len(rvecs)} poses: the covariance needs one pose per view"
        raise CalibrationError(msg)
    if np.asarray(dist).size != nk - 4:
        msg = f"{np.asarray(dist).size} distortion coefficients for the {model} model"
        raise CalibrationError(msg)
    blocks, res = [], []
    for i, (obj, seen) in enumerate(zip(points, pixels, strict=True)):
        px, jk, jp = project_with_jacobian(model, obj, rvecs[i], tvecs[i], K, dist)
        res.append((px - np.asarray(seen, np.float64).reshape(-1, 2)).ravel())
        row = np.zeros((jk.shape[0], nk + 6 * nv))
        row[:, :nk], row[:, nk + 6 * i : nk + 6 * i + 6] = jk, jp
        blocks.append(row)
    return np.vstack(blocks), np.concatenate(res)


def solve_covariance(
    model: Model, J: FloatArray, r: FloatArray, K: FloatArray, dist: FloatArray,
    rvecs: Sequence[FloatArray], tvecs: Sequence[FloatArray], extra: Sequence[str] = (),
) -> Covariance:  # fmt: skip
    """``sigma^2 (J^T J)^-1`` of the module doc for the Jacobian ``J`` (columns: intrinsics,
    the views' poses, then one per ``extra`` name) and residuals ``r`` at the solution."""
    dof = r.size - J.shape[1]
    if dof <= 0:
        msg = f"{r.size // 2} corners cannot determine {J.shape[1]} parameters"
        raise CalibrationError(msg)
    # Scale each column to unit norm before inverting: fx (~1e3) and k3 (~1e-1) differ by 1e4,
    # which would cost J^T J ~8 digits of condition number for nothing.
    scale = np.linalg.norm(J, axis=0)
    if not np.all(scale > 0):
        msg = "a calibration parameter does not change any corner's projection"
        raise CalibrationError(msg)
    Js = J / scale
    try:
        inv = np.linalg.inv(np.linalg.cholesky(Js.T @ Js))
    except np.linalg.LinAlgError as exc:
        msg = "the views do not determine every parameter (J^T J is singular); add views"
        raise CalibrationError(msg) from exc
    sigma2 = float(r @ r) / dof
    cov = (inv.T @ inv) * sigma2 / np.outer(scale, scale)
    r3 = [tuple(np.asarray(x, np.float64).reshape(3) for x in xs) for xs in (rvecs, tvecs)]
    return Covariance(
        model, intrinsic_names(model), cov, float(np.sqrt(sigma2)), dof,
        np.asarray(K, np.float64), np.asarray(dist, np.float64).ravel(), r3[0], r3[1],
        tuple(extra),
    )  # fmt: skip


def fit_covariance(
    model: Model | str, views: Sequence[Detection], K: FloatArray, dist: FloatArray,
    rvecs: Sequence[FloatArray], tvecs: Sequence[FloatArray],
) -> Covariance:  # fmt: skip
    """The covariance of the module doc for a fit with these views and their poses."""
    model = Model(model)
    points = [v.object_points for v in views]
    J, r = views_jacobian(model, points, [v.image_points for v in views], K, dist, rvecs, tvecs)
    return solve_covariance(model, J, r, K, dist, rvecs, tvecs)
