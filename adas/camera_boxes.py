"""Box geometry through the camera model: what box-size maths needs on a distorting lens.

Pinhole maths on a box (range = f * size / pixels) holds only where pixels are proportional to
normalized coordinates. On a fisheye image the box's ranging points (edge centres) are first
undistorted through the lens into the ideal pinhole image of the same K
(:meth:`adas.camera.CameraModel.undistorted`), where that maths holds again.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from adas.camera import CameraModel
from adas.errors import ContractError
from adas.types import FloatArray

__all__ = ["focal_px_at", "undistorted_boxes"]

# Step of the numeric Jacobian, pixels: the lens maps are smooth at this scale, so truncation
# (~h^2 times the map's curvature) is ~1e-7 relative while rounding of the 1e-15-accurate
# undistortion stays ~1e-12 / h = 1e-9 relative.
_STEP_PX = 1e-3


def _boxes(xyxy: npt.ArrayLike) -> FloatArray:
    b = np.asarray(xyxy, dtype=np.float64)
    b = b.reshape(1, -1) if b.ndim == 1 else b
    if b.ndim != 2 or b.shape[1] != 4:
        msg = f"xyxy must be N x 4, got shape {b.shape}"
        raise ContractError(msg)
    return b


def undistorted_boxes(camera: CameraModel, xyxy: npt.ArrayLike) -> FloatArray:
    """N x 4 boxes in the ideal pinhole image of ``camera``: rows from the top and bottom edge
    centres, columns from the left and right edge midpoints (the points ranging uses),
    undistorted through the lens; NaN where a point is outside a fisheye's field. Without
    distortion the boxes come back unchanged."""
    b = _boxes(xyxy)
    if not camera.has_distortion:
        return b.copy()
    u, v = 0.5 * (b[:, 0] + b[:, 2]), 0.5 * (b[:, 1] + b[:, 3])
    pts = np.stack([u, b[:, 1], u, b[:, 3], b[:, 0], v, b[:, 2], v], axis=1).reshape(-1, 2)
    und = camera.undistort_pixels(pts).reshape(-1, 4, 2)  # top, bottom, left, right
    return np.column_stack([und[:, 2, 0], und[:, 0, 1], und[:, 3, 0], und[:, 1, 1]])


def focal_px_at(camera: CameraModel, uv: npt.ArrayLike) -> FloatArray:
    """Local scale at N x 2 pixels, pixels per unit of normalized coordinate: one over the
    square root of the Jacobian determinant of pixels -> normalized coordinates (central
    differences). sqrt(fx fy) without distortion; on a fisheye it falls off the axis."""
    p = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    h = _STEP_PX
    ex, ey = np.array([h, 0.0]), np.array([0.0, h])
    dx = camera.normalized(p + ex) - camera.normalized(p - ex)
    dy = camera.normalized(p + ey) - camera.normalized(p - ey)
    det = np.abs(dx[:, 0] * dy[:, 1] - dx[:, 1] * dy[:, 0]) / (4.0 * h * h)
    return np.asarray(1.0 / np.sqrt(det))
