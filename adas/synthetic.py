"""Synthetic road scenes with exact ground truth: 3D boxes on the road seen by a camera.

Used by the chain benchmark and by unit tests: boxes are the image-space extent of the
projected 3D box corners, as in KITTI's labels, so the distance stage must recover the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adas.camera import CameraModel, Lens
from adas.types import FloatArray

__all__ = ["BOX_EDGES", "Objects3D", "box_corners_vehicle", "edge_points", "project_boxes"]

# The 12 edges of box_corners_vehicle's corners: bottom face, top face, verticals.
BOX_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7),
)  # fmt: skip
# Points per edge for project_boxes through a fisheye (as the scenario simulator's camera).
FISHEYE_EDGE_SAMPLES = 33


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
    """N x 4 image boxes (x1, y1, x2, y2) of the objects, clipped to the image; NaN if behind.
    Through a fisheye the box is the extent of points along the 3D box's edges (they bend)."""
    corners = box_corners_vehicle(obj)
    n = corners.shape[0]
    if camera.lens is Lens.FISHEYE:
        pts = np.stack([edge_points(c, np.ones(8), FISHEYE_EDGE_SAMPLES) for c in corners])
    else:
        pts = corners
    uv = camera.project_vehicle(pts.reshape(-1, 3), pitch_rad=pitch_rad).reshape(n, -1, 2)
    xyxy = np.concatenate([uv.min(1), uv.max(1)], 1)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, camera.width - 1)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, camera.height - 1)
    return xyxy


def edge_points(c: FloatArray, depth: FloatArray, samples: int) -> FloatArray:
    """Points along the 12 edges of box corners ``c`` (8 x 3), each cut to its part in front of
    the near plane (``depth`` >= 0), ``samples`` points per edge."""
    t = np.linspace(0.0, 1.0, samples)[:, None]
    out = []
    for a, b in BOX_EDGES:
        da, db = depth[a], depth[b]
        if da < 0.0 and db < 0.0:
            continue
        # Where the edge crosses the near plane (unused unless one end is behind it).
        cross = c[a] + (da / (da - db) if da * db < 0.0 else 0.0) * (c[b] - c[a])
        p, q = (cross if da < 0.0 else c[a]), (cross if db < 0.0 else c[b])
        out.append(p + t * (q - p))
    return np.concatenate(out) if out else np.zeros((0, 3))
