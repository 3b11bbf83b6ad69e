"""Lens models of :class:`adas.camera.CameraModel`: OpenCV's pinhole distortion or its fisheye
(equidistant) model, between pixels and undistorted normalized coordinates (x/z, y/z).

Fisheye (``cv2.fisheye``): a ray at angle theta off the optical axis lands at the distorted
radius ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)`` in
normalized units, then ``u = fx x_d + cx``, ``v = fy y_d + cy`` (no skew). The lens's valid
field is where theta_d still grows with theta and theta < 90 deg (a ray at or beyond 90 deg has
no x/z); outside it a pixel has no ray and a ray no pixel: both give NaN, never a wrong value
(``cv2.fisheye.undistortPoints`` would return a point for any pixel).
"""

from __future__ import annotations

import math
from enum import StrEnum

import cv2
import numpy as np

from adas.errors import CalibrationFileError
from adas.types import FloatArray

__all__ = [
    "FISHEYE_NAMES",
    "Lens",
    "check_fisheye",
    "fisheye_field",
    "fisheye_normalized",
    "fisheye_pixels",
    "lens_from_name",
]

FISHEYE_NAMES = ("fisheye", "equidistant")  # OpenCV's (calibration/io.py) and ROS's names
# Newton on theta_d(theta) to 1e-15 rad: the default criteria (10 steps, 1e-8) would leave up to
# 1e-8 rad, ~1e-5 px at f = 1000 px; 100 steps are never reached in practice (quadratic).
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-15)
# Rays this close to 90 deg are outside the field: x/z = tan(theta) would exceed ~1e6.
_THETA_CAP = math.pi / 2 - 1e-6


class Lens(StrEnum):
    """Which projection a camera file describes."""

    PINHOLE = "pinhole"  # OpenCV's pinhole model with 4, 5, 8, 12 or 14 distortion terms
    FISHEYE = "fisheye"  # OpenCV's fisheye (equidistant) model, k1..k4


def lens_from_name(name: str) -> Lens:
    """The lens of a file's ``distortion_model`` (OpenCV or ROS spelling, any case): fisheye
    for ``fisheye`` / ``equidistant``, else pinhole (which names a pinhole reader accepts is
    the file format's business, :mod:`adas.camera_files`)."""
    return Lens.FISHEYE if name.strip().lower() in FISHEYE_NAMES else Lens.PINHOLE


def check_fisheye(K: FloatArray, k: FloatArray) -> None:
    """CalibrationFileError unless ``K`` has no skew and ``k`` holds 4 finite terms: OpenCV's
    fisheye functions take skew as a separate alpha that ``cv2.fisheye.undistortPoints`` ignores,
    so a skewed K would not round-trip."""
    if k.size != 4 or not np.isfinite(k).all():
        msg = f"a fisheye (equidistant) camera needs 4 coefficients k1..k4, got {k.tolist()}"
        raise CalibrationFileError(msg)
    if K[0, 1] != 0.0:
        msg = f"a fisheye camera matrix must have no skew (K[0][1] = 0), got {K[0, 1]}"
        raise CalibrationFileError(msg)


def _theta_d(theta: FloatArray | float, k: FloatArray) -> FloatArray:
    t2 = np.square(theta)
    return np.asarray(theta * (1.0 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3])))))


def fisheye_field(k: FloatArray) -> tuple[float, float]:
    """(theta_max, theta_d_max): the largest ray angle off the axis (rad) the lens images
    one-to-one, and its distorted radius (normalized units).

    theta_d'(theta) = 1 + 3 k1 t + 5 k2 t^2 + 7 k3 t^3 + 9 k4 t^4 with t = theta^2; its first
    positive real root (numpy's polynomial roots) ends the monotonic part of the lens.
    """
    coeffs = [9.0 * k[3], 7.0 * k[2], 5.0 * k[1], 3.0 * k[0], 1.0]
    while coeffs and coeffs[0] == 0.0:
        coeffs.pop(0)
    roots = np.roots(coeffs) if len(coeffs) > 1 else np.zeros(0)
    real = roots[(np.abs(roots.imag) <= 1e-12 * np.abs(roots)) & (roots.real > 0.0)].real
    theta_max = min(_THETA_CAP, float(np.sqrt(real.min())) if real.size else _THETA_CAP)
    return theta_max, float(_theta_d(theta_max, k))


def fisheye_normalized(
    uv: FloatArray, K: FloatArray, k: FloatArray, theta_d_max: float
) -> FloatArray:
    """Undistorted normalized coordinates (x/z, y/z) of N x 2 pixels; NaN for NaN rows and for
    pixels outside the lens's valid field (radius beyond ``theta_d_max``)."""
    out = np.full_like(uv, np.nan)
    rd = np.hypot((uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1])
    ok = rd <= theta_d_max  # False for NaN rows too
    if ok.any():
        und = cv2.fisheye.undistortPoints(uv[ok].reshape(-1, 1, 2), K, k, criteria=_CRITERIA)
        out[ok] = und.reshape(-1, 2)
    return out


def fisheye_pixels(xy: FloatArray, K: FloatArray, k: FloatArray, theta_max: float) -> FloatArray:
    """Pixels of N x 2 undistorted normalized coordinates (x/z, y/z of points in front of the
    camera); NaN for NaN rows and rays beyond ``theta_max`` off the axis."""
    out = np.full_like(xy, np.nan)
    with np.errstate(invalid="ignore"):
        ok = np.arctan(np.hypot(xy[:, 0], xy[:, 1])) <= theta_max
    if ok.any():
        img = cv2.fisheye.distortPoints(xy[ok].reshape(-1, 1, 2), K, k)
        out[ok] = img.reshape(-1, 2)
    return out
