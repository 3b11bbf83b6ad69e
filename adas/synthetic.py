"""Synthetic road scenes with exact ground truth: 3D boxes on the road seen by a camera.

Used by the chain benchmark and by unit tests: boxes are the image-space extent of the
projected 3D box corners, as in KITTI's labels, so the distance stage must recover the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adas.camera import CameraModel
from adas.types import FloatArray


@dataclass(frozen=True)
class Objects3D:
    """Objects in the vehicle frame (ISO 8855), parallel arrays, metres.

    ``distance_m``: x of the nearest face from the front bumper; ``lateral_m``: y of the centre
    (left positive); ``hwl_m``: height, width, length; ``yaw_rad``: heading relative to ego.
    """

    distance_m: FloatArray
    lateral_m: FloatArray
    hwl_m: FloatArray
    yaw_rad: FloatArray | None = None


def box_corners_vehicle(obj: Objects3D) -> FloatArray:
    """N x 8 x 3 corners in the vehicle frame, on the road (z from 0 to the height)."""
    n = obj.distance_m.shape[0]
    h, w, length = obj.hwl_m[:, 0], obj.hwl_m[:, 1], obj.hwl_m[:, 2]
    yaw = np.zeros(n) if obj.yaw_rad is None else obj.yaw_rad
    dx = np.stack([np.zeros(n), np.zeros(n), length, length] * 2, 1)  # along the object's heading
    dy = np.stack([w / 2, -w / 2, -w / 2, w / 2] * 2, 1)
    dz = np.concatenate([np.zeros((n, 4)), np.repeat(h[:, None], 4, 1)], 1)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    # Rotate about the rear-face centre, then shift so the nearest corner is at distance_m.
    x = c * dx - s * dy
    y = s * dx + c * dy
    x = x - x.min(1, keepdims=True) + obj.distance_m[:, None]
    y = y - 0.5 * (y.min(1, keepdims=True) + y.max(1, keepdims=True)) + obj.lateral_m[:, None]
    return np.stack([x, y, dz], 2)


def project_boxes(
    camera: CameraModel, obj: Objects3D, pitch_rad: float | None = None
) -> FloatArray:
    """N x 4 image boxes (x1, y1, x2, y2) of the objects, clipped to the image; NaN if behind."""
    corners = box_corners_vehicle(obj)
    n = corners.shape[0]
    uv = camera.project_vehicle(corners.reshape(-1, 3), pitch_rad=pitch_rad).reshape(n, 8, 2)
    xyxy = np.concatenate([uv.min(1), uv.max(1)], 1)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, camera.width - 1)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, camera.height - 1)
    return xyxy
