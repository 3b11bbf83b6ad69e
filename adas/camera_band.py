"""The horizon band: the image rows where vehicles are looked for, from an angle above the
road's horizon to an angle below it, through the camera model (pinhole or fisheye).

One definition for the detector (:mod:`adas.detect.tiling` cuts the band into tiles) and the
calibration tool (which reports its projection uncertainty over the same rows); kept apart
from the detector package so that a caller need not load its compiled kernels.
"""

from __future__ import annotations

import math

import numpy as np

from adas.camera import CameraModel
from adas.camera_lens import Lens

# Azimuths (deg from straight ahead) at which a fisheye's band edges are traced: every 2 deg
# across the front half-space. Where the extreme row lies inside the image it is a stationary
# point of row(azimuth), found to ~0.1 px by this sampling (the error is quadratic in the half
# step); where it lies on the image's left or right side (the edge keeps rising until it
# leaves the image), the crossing is found by bisection (_crossing), not by the sampling,
# which would miss it by up to a 2 deg step (2 px on a 150 deg lens).
_FISHEYE_AZIMUTHS_DEG = np.arange(-88.0, 88.1, 2.0)


def band_rows(
    image_h: int, horizon_y: float, up_px: float, down_px: float | None
) -> tuple[int, int]:
    """Rows ``[y0, y1)`` of the band from ``up_px`` above the horizon to ``down_px`` below it
    (None: the bottom of the image), clamped to the image."""
    y0 = int(np.clip(np.floor(horizon_y - up_px), 0, image_h - 1))
    y1 = image_h if down_px is None else int(np.clip(np.ceil(horizon_y + down_px), y0 + 1, image_h))
    return y0, y1


def horizon_band(
    camera: CameraModel | None, image_wh: tuple[int, int], up_deg: float, down_deg: float
) -> tuple[int, int]:
    """Rows ``[y0, y1)`` of the band from ``up_deg`` above the road's horizon to ``down_deg``
    below it (90 or more: to the image edge). Pinhole: the horizon at the centre column plus
    fy tan(angle); no camera: a ~90 deg field of view. A fisheye bends the band's edges, so
    each edge is the extreme row of rays at that elevation over the azimuths in the image."""
    w, h = image_wh
    if camera is not None and camera.lens is Lens.FISHEYE:
        y0 = 0.0 if up_deg >= 90.0 else _edge_row(camera, up_deg, w, top=True)
        y1 = float(h) if down_deg >= 90.0 else _edge_row(camera, -down_deg, w, top=False)
        return band_rows(h, y0, 0.0, None if down_deg >= 90.0 else y1 - y0)
    if camera is not None:
        horizon, fy = camera.horizon_v(), camera.fy
    else:
        horizon, fy = 0.5 * (h - 1), 0.5 * max(w, h)  # no camera: ~90 deg field of view
    up = math.inf if up_deg >= 90.0 else fy * math.tan(math.radians(up_deg))
    down = None if down_deg >= 90.0 else fy * math.tan(math.radians(down_deg))
    return band_rows(h, horizon, min(up, 1e9), down)


def _edge_uv(camera: CameraModel, elevation_deg: float, az_deg: np.ndarray) -> np.ndarray:
    """Pixels (N x 2, NaN outside the lens) of the rays ``elevation_deg`` above the road at
    azimuths ``az_deg`` from the mount's straight ahead."""
    az = np.radians(az_deg) + camera.mount.yaw_rad
    el = math.radians(elevation_deg)
    d = np.column_stack([math.cos(el) * np.cos(az), math.cos(el) * np.sin(az),
                         np.full(az.size, math.sin(el))])  # fmt: skip
    return camera.project_vehicle(camera.position_m + d)


def _in_columns(uv: np.ndarray, width: int) -> np.ndarray:
    return np.isfinite(uv).all(1) & (uv[:, 0] >= 0.0) & (uv[:, 0] <= width - 1.0)


def _crossing(camera: CameraModel, elevation_deg: float, width: int, inside: float,
              outside: float) -> float:  # fmt: skip
    """The row where the edge leaves the image's columns between azimuths ``inside`` (its
    pixel in the image) and ``outside``: bisection to 1e-9 deg, the inside end's row."""
    for _ in range(40):  # 2 deg / 2**40
        mid = 0.5 * (inside + outside)
        if _in_columns(_edge_uv(camera, elevation_deg, np.array([mid])), width)[0]:
            inside = mid
        else:
            outside = mid
    return float(_edge_uv(camera, elevation_deg, np.array([inside]))[0, 1])


def _edge_row(camera: CameraModel, elevation_deg: float, width: int, *, top: bool) -> float:
    """The smallest (``top``) or largest image row of rays ``elevation_deg``
    above the road plane, over the azimuths whose pixels fall inside the image's columns."""
    az = _FISHEYE_AZIMUTHS_DEG
    uv = _edge_uv(camera, elevation_deg, az)
    ok = _in_columns(uv, width)
    rows = list(uv[ok, 1])
    for i in np.flatnonzero(ok[:-1] != ok[1:]):  # the edge crosses a side of the image
        inside, outside = (az[i], az[i + 1]) if ok[i] else (az[i + 1], az[i])
        rows.append(_crossing(camera, elevation_deg, width, inside, outside))
    if not rows:  # no such ray in the image: the band reaches the image edge
        return 0.0 if top else math.inf
    return float(np.min(rows) if top else np.max(rows))
