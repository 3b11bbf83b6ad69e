"""Two-camera rectification geometry, for stereo pairs and pairs of a rig.

Wraps ``cv2.stereoRectify`` for cameras of possibly different resolutions: both K are scaled
to one rectified size, and maps and points go from each camera's native pixels straight to the
rectified image (``initUndistortRectifyMap`` / ``undistortPoints`` with R and P), so no image
is resized first. The quality figure of a rectification is the residual misalignment of
corresponding points across the baseline (``y1 - y2`` for a horizontal pair), in rectified
pixels; a perfect calibration gives 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from calibration.errors import CalibrationError
from calibration.intrinsics import FloatArray

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

    @property
    def vertical(self) -> bool:
        """True when the rectified baseline is along y (cameras one above the other)."""
        return bool(abs(self.P2[1, 3]) > abs(self.P2[0, 3]))

    def maps(self) -> tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]:
        """(map_x, map_y) per camera for ``cv2.remap`` of a native image to the rectified one."""
        out = []
        for K, D, Rr, P in (
            (self.K1, self.D1, self.R1, self.P1),
            (self.K2, self.D2, self.R2, self.P2),
        ):
            mx, my = cv2.initUndistortRectifyMap(K, D, Rr, P, self.size, cv2.CV_32FC1)
            out.append((np.asarray(mx, np.float64), np.asarray(my, np.float64)))
        return out[0], out[1]


def scale_camera(K: FloatArray, size: tuple[int, int], new_size: tuple[int, int]) -> FloatArray:
    """K of the same camera for images resized from ``size`` to ``new_size`` (pixel centres at
    integer coordinates, so the principal point maps as (c + 0.5) s - 0.5)."""
    sx, sy = new_size[0] / size[0], new_size[1] / size[1]
    S = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return S @ np.asarray(K, np.float64)


def rectify_cameras(
    K1: FloatArray, D1: FloatArray, size1: tuple[int, int], K2: FloatArray, D2: FloatArray,
    size2: tuple[int, int], R: FloatArray, T: FloatArray, *, alpha: float = 0.0,
    new_size: tuple[int, int] | None = None,
) -> Rectification:  # fmt: skip
    """Rectify two cameras (``x2 = R x1 + T``), possibly of different resolutions, to one
    rectified size (default ``size1``): ``stereoRectify`` runs on both K scaled to that size;
    the maps and points then go from each native image straight to the rectified one."""
    size = new_size or size1
    k1, k2 = scale_camera(K1, size1, size), scale_camera(K2, size2, size)
    try:
        R1, R2, P1, P2, Q, roi1, roi2 = cv2.stereoRectify(
            k1, D1, k2, D2, size, np.asarray(R, np.float64),
            np.asarray(T, np.float64).reshape(3, 1),
            flags=cv2.CALIB_ZERO_DISPARITY, alpha=alpha,
        )  # fmt: skip
    except cv2.error as exc:
        msg = f"OpenCV could not rectify the pair: {exc}"
        raise CalibrationError(msg) from exc

    def roi(r: Sequence[int]) -> tuple[int, int, int, int]:
        return int(r[0]), int(r[1]), int(r[2]), int(r[3])

    R1, R2, P1, P2, Q = (np.asarray(m, np.float64) for m in (R1, R2, P1, P2, Q))
    return Rectification(
        R1, R2, P1, P2, Q, roi(roi1), roi(roi2), size, alpha, np.asarray(K1, np.float64),
        np.asarray(D1, np.float64), size1, np.asarray(K2, np.float64), np.asarray(D2, np.float64),
        size2,
    )  # fmt: skip


def rectified_points(rect: Rectification, points: npt.ArrayLike, *, second: bool) -> FloatArray:
    """Native pixels (N x 2) of camera 1 (or 2 with ``second``) -> rectified pixels (N x 2)."""
    K, D, Rr, P = (
        (rect.K2, rect.D2, rect.R2, rect.P2) if second else (rect.K1, rect.D1, rect.R1, rect.P1)
    )
    pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
    out = cv2.undistortPoints(pts, K, D, R=Rr, P=P, criteria=_CRITERIA)
    return np.asarray(out, np.float64).reshape(-1, 2)


def rectified_offsets(
    rect: Rectification, points1: npt.ArrayLike, points2: npt.ArrayLike
) -> FloatArray:
    """Misalignment (pixels) of corresponding points after rectification: y1 - y2, or x1 - x2
    for a vertical rig; 0 for a perfect calibration."""
    axis = 0 if rect.vertical else 1
    a = rectified_points(rect, points1, second=False)
    b = rectified_points(rect, points2, second=True)
    return a[:, axis] - b[:, axis]
