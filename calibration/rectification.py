"""Two-camera rectification geometry, for stereo pairs and pairs of a rig, pinhole or fisheye.

Wraps ``cv2.stereoRectify`` for cameras of possibly different resolutions: both K are scaled
to one rectified size, and maps and points go from each camera's native pixels straight to the
rectified image (``initUndistortRectifyMap`` / ``undistortPoints`` with R and P, the
``cv2.fisheye`` ones for a fisheye camera), so no image is resized first. The quality figure
of a rectification is the residual misalignment of corresponding points across the baseline
(``y1 - y2`` for a horizontal pair), in rectified pixels; a perfect calibration gives 0.

A pair with a fisheye camera (two fisheyes, or one fisheye and one pinhole) is rectified to a
common PINHOLE frame, each camera mapped with its own lens model. A pinhole image cannot hold
a 150-degree view (the edge of a 180-degree one is at infinity), so the rectified field of
view is a choice. Default: the rectified focal length is the cameras' own (the mean of the
two, as ``stereoRectify`` does with alpha = -1) and the image keeps the rectified size, so the
centre keeps the cameras' pixel scale and the view is ``2 atan(w / 2f)`` wide (99 degrees for
a 150-degree-diagonal 1280 x 800 fisheye with f = 545 px); what lies beyond is cut off.
``fov_deg`` instead sets the rectified image's horizontal field of view (focal
``w / 2 / tan(fov / 2)``): wider views at a coarser centre. The ``alpha`` of pinhole pairs (a
zoom between the valid area and every source pixel) has no fisheye meaning and must stay -1;
the valid area ``roi1``/``roi2`` of a fisheye pair is found from each lens's own model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from calibration.errors import CalibrationError
from calibration.intrinsics import FloatArray, Model

_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


@dataclass(frozen=True, eq=False)
class Rectification:
    """``cv2.stereoRectify`` output for native images of sizes ``size1``/``size2`` rectified to
    ``size`` (width, height; may differ from both). ``vertical``: the baseline is mostly
    along y, so the disparity is vertical and the misalignment to check is in x."""

    R1: FloatArray
    R2: FloatArray
    P1: FloatArray
    P2: FloatArray
    Q: FloatArray
    roi1: tuple[int, int, int, int]  # x, y, width, height of the all-valid area, rectified px
    roi2: tuple[int, int, int, int]
    size: tuple[int, int]
    alpha: float
    K1: FloatArray
    D1: FloatArray
    size1: tuple[int, int]
    K2: FloatArray
    D2: FloatArray
    size2: tuple[int, int]
    model1: Model = Model.PINHOLE5  # lens model of each camera (how its pixels map)
    model2: Model = Model.PINHOLE5

    @property
    def fov_deg(self) -> tuple[float, float]:
        """Horizontal and vertical field of view (degrees) of the rectified image."""
        P, (w, h) = self.P1, self.size  # pixel centres at integers: the image spans -0.5..w-0.5
        hx = np.arctan2([P[0, 2] + 0.5, w - 0.5 - P[0, 2]], P[0, 0])
        hy = np.arctan2([P[1, 2] + 0.5, h - 0.5 - P[1, 2]], P[1, 1])
        return float(np.degrees(hx.sum())), float(np.degrees(hy.sum()))

    @property
    def vertical(self) -> bool:
        """True when the rectified baseline is along y (cameras one above the other)."""
        return bool(abs(self.P2[1, 3]) > abs(self.P2[0, 3]))

    def maps(self) -> tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]:
        """(map_x, map_y) per camera for ``cv2.remap`` of a native image to the rectified one."""
        out = []
        for K, D, Rr, P, model in (
            (self.K1, self.D1, self.R1, self.P1, self.model1),
            (self.K2, self.D2, self.R2, self.P2, self.model2),
        ):
            out.append(undistort_rectify_map(model, K, D, Rr, P, self.size))
        return out[0], out[1]


def undistort_rectify_map(
    model: Model, K: FloatArray, D: FloatArray, R: FloatArray, P: FloatArray,
    size: tuple[int, int],
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """(map_x, map_y) of ``size`` taking a camera's native pixels to the pinhole image (R, P)
    through its own lens model."""
    init = cv2.fisheye.initUndistortRectifyMap if model is Model.FISHEYE else (
        cv2.initUndistortRectifyMap
    )  # fmt: skip
    mx, my = init(K, D, R, P, size, cv2.CV_32FC1)
    return np.asarray(mx, np.float64), np.asarray(my, np.float64)


def undistort_points(
    model: Model, points: npt.ArrayLike, K: FloatArray, D: FloatArray, R: FloatArray,
    P: FloatArray,
) -> FloatArray:  # fmt: skip
    """A camera's native pixels (N x 2) -> pixels of the pinhole image (R, P), N x 2."""
    pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
    if model is Model.FISHEYE:
        out = cv2.fisheye.undistortPoints(pts, K, D, R=R, P=P, criteria=_CRITERIA)
    else:
        out = cv2.undistortPoints(pts, K, D, R=R, P=P, criteria=_CRITERIA)
    return np.asarray(out, np.float64).reshape(-1, 2)


def scale_camera(K: FloatArray, size: tuple[int, int], new_size: tuple[int, int]) -> FloatArray:
    """K of the same camera for images resized from ``size`` to ``new_size`` (pixel centres at
    integer coordinates, so the principal point maps as (c + 0.5) s - 0.5)."""
    sx, sy = new_size[0] / size[0], new_size[1] / size[1]
    S = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return S @ np.asarray(K, np.float64)


def _valid_roi(
    model: Model, K: FloatArray, D: FloatArray, src: tuple[int, int], R: FloatArray,
    P: FloatArray, size: tuple[int, int],
) -> tuple[int, int, int, int]:  # fmt: skip
    """x, y, width, height of the all-valid area of a camera's rectified image, as OpenCV's
    ``stereoRectify`` finds it for pinholes: the native image's border, sampled along each
    edge and mapped into the rectified image, bounds the rectangle from inside (the left
    edge's rightmost point, the right edge's leftmost...), clipped to the image."""
    w, h = src
    t = np.linspace(0.0, 1.0, 64)
    xs, ys = -0.5 + t * w, -0.5 + t * h
    edges = [np.column_stack([np.full_like(ys, x), ys]) for x in (-0.5, w - 0.5)]
    edges += [np.column_stack([xs, np.full_like(xs, y)]) for y in (-0.5, h - 0.5)]
    left, right, top, bottom = (undistort_points(model, e, K, D, R, P) for e in edges)
    x0 = max(0, math.ceil(left[:, 0].max() + 0.5))  # rectified pixel centres at integers
    x1 = min(size[0], math.floor(right[:, 0].min() + 0.5))
    y0 = max(0, math.ceil(top[:, 1].max() + 0.5))
    y1 = min(size[1], math.floor(bottom[:, 1].min() + 0.5))
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)


def _virtual_pinhole(K: FloatArray, size: tuple[int, int], fov_deg: float | None) -> FloatArray:
    """The pinhole K a fisheye pair is rectified from (see the module doc): the camera's own
    centre focal length, or the one giving the rectified width ``fov_deg`` degrees of view."""
    if fov_deg is None:
        return K
    if not 0.0 < fov_deg < 180.0:
        msg = f"fov_deg {fov_deg:g}: a pinhole rectified view must be between 0 and 180 degrees"
        raise CalibrationError(msg)
    f = size[0] / 2.0 / np.tan(np.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, (size[0] - 1) / 2.0], [0.0, f, (size[1] - 1) / 2.0], [0, 0, 1.0]])


def rectify_cameras(
    K1: FloatArray, D1: FloatArray, size1: tuple[int, int], K2: FloatArray, D2: FloatArray,
    size2: tuple[int, int], R: FloatArray, T: FloatArray, *, alpha: float = 0.0,
    new_size: tuple[int, int] | None = None,
    models: tuple[Model, Model] = (Model.PINHOLE5, Model.PINHOLE5),
    fov_deg: float | None = None,
) -> Rectification:  # fmt: skip
    """Rectify two cameras (``x2 = R x1 + T``), possibly of different resolutions, to one
    rectified size (default ``size1``): ``stereoRectify`` runs on both K scaled to that size;
    the maps and points then go from each native image straight to the rectified one. A pair
    with a fisheye camera is rectified as the module doc says (``fov_deg``; alpha must be -1)."""
    size = new_size or size1
    k1, k2 = scale_camera(K1, size1, size), scale_camera(K2, size2, size)
    fisheye = Model.FISHEYE in models
    d1, d2 = np.asarray(D1, np.float64), np.asarray(D2, np.float64)
    if fisheye:
        if alpha != -1.0:
            msg = (
                f"alpha {alpha:g}: a pair with a fisheye camera is rectified with alpha -1 "
                "(the cameras' own focal length); widen its view with fov_deg"
            )
            raise CalibrationError(msg)
        # the rotations do not depend on the lenses: stereoRectify of the pinhole cameras the
        # rectified image is cut from (no distortion) gives R1 R2 P1 P2 Q in OpenCV's layout
        k1, k2 = _virtual_pinhole(k1, size, fov_deg), _virtual_pinhole(k2, size, fov_deg)
        d1, d2 = np.zeros(5), np.zeros(5)
    elif fov_deg is not None:
        msg = "fov_deg applies to a pair with a fisheye camera; a pinhole pair's view is alpha's"
        raise CalibrationError(msg)
    try:
        R1, R2, P1, P2, Q, roi1, roi2 = cv2.stereoRectify(
            k1, d1, k2, d2, size, np.asarray(R, np.float64),
            np.asarray(T, np.float64).reshape(3, 1),
            flags=cv2.CALIB_ZERO_DISPARITY, alpha=alpha,
        )  # fmt: skip
    except cv2.error as exc:
        msg = f"OpenCV could not rectify the pair: {exc}"
        raise CalibrationError(msg) from exc

    def roi(r: Sequence[int]) -> tuple[int, int, int, int]:
        return int(r[0]), int(r[1]), int(r[2]), int(r[3])

    R1, R2, P1, P2, Q = (np.asarray(m, np.float64) for m in (R1, R2, P1, P2, Q))
    rect = Rectification(
        R1, R2, P1, P2, Q, roi(roi1), roi(roi2), size, alpha, np.asarray(K1, np.float64),
        np.asarray(D1, np.float64), size1, np.asarray(K2, np.float64), np.asarray(D2, np.float64),
        size2, models[0], models[1],
    )  # fmt: skip
    if not fisheye:
        return rect
    roi1 = _valid_roi(models[0], rect.K1, rect.D1, size1, R1, P1, size)
    roi2 = _valid_roi(models[1], rect.K2, rect.D2, size2, R2, P2, size)
    return dataclasses.replace(rect, roi1=roi1, roi2=roi2)


def rectified_points(rect: Rectification, points: npt.ArrayLike, *, second: bool) -> FloatArray:
    """Native pixels (N x 2) of camera 1 (or 2 with ``second``) -> rectified pixels (N x 2)."""
    if second:
        return undistort_points(rect.model2, points, rect.K2, rect.D2, rect.R2, rect.P2)
    return undistort_points(rect.model1, points, rect.K1, rect.D1, rect.R1, rect.P1)


def rectified_offsets(
    rect: Rectification, points1: npt.ArrayLike, points2: npt.ArrayLike
) -> FloatArray:
    """Misalignment (pixels) of corresponding points after rectification: y1 - y2, or x1 - x2
    for a vertical rig; 0 for a perfect calibration. In a pair with a fisheye camera, points
    outside either rectified image are left out: the rectified pair does not show them (the
    periphery beyond the chosen view, where a pinhole image would stretch a pixel of noise
    into tens)."""
    axis = 0 if rect.vertical else 1
    a = rectified_points(rect, points1, second=False)
    b = rectified_points(rect, points2, second=True)
    if Model.FISHEYE in (rect.model1, rect.model2):
        w, h = rect.size
        inside = np.ones(len(a), bool)
        for q in (a, b):  # pixel centres at integers: the image spans -0.5 .. w - 0.5
            inside &= (q[:, 0] >= -0.5) & (q[:, 0] <= w - 0.5)
            inside &= (q[:, 1] >= -0.5) & (q[:, 1] <= h - 0.5)
        a, b = a[inside], b[inside]
    return a[:, axis] - b[:, axis]
