"""The 3D view of ``results.mcap``: tracked objects as boxes in the vehicle frame
(``foxglove_msgs/msg/SceneUpdate``) and the camera's pose on the vehicle (``/tf``).

Vehicle frame ``vehicle`` (ISO 8855: x forward, y left, z up, origin on the road below the front
bumper centre). A track with a range is a ``CubePrimitive`` of its class's mean size
(:class:`adas.priors.SizePriors`), centred at

    x = distance_m + length / 2,   y = lateral_m,   z = height / 2

because ``distance_m`` is the gap from the ego bumper to the object's *nearest* face and
``lateral_m`` the offset of its centre; axis-aligned (no heading is estimated). Objects with an
unknown distance (NaN) are left out. Each frame's update first deletes every entity (deletion
``ALL`` at the frame's time), then adds the frame's, so lost tracks vanish at once; entity ids
are stable (``track_<id>``, ``corridor``). The ego corridor is a ``LINE_STRIP`` on the road,
``half_width_m`` either side of the centreline from the bumper to ``length_m`` ahead.

The camera frame follows the ROS optical convention (z forward, x right, y down), as
``adas.camera`` and the images' ``frame_id`` do, so Foxglove's Image and 3D panels agree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adas.camera import Mount, rotation_vehicle_camera
from adas.priors import SizePriors
from adas.sinks.base import BGR, ObjectRow, object_bgr
from adas.sinks.mcap_schemas import SCENE_UPDATE, TF_MESSAGE
from adas.sinks.video import label_text

__all__ = [
    "CORRIDOR_BGR", "VEHICLE_FRAME", "Corridor", "SceneMessages", "cube_centre",
    "quaternion_xyzw",
]  # fmt: skip

VEHICLE_FRAME = "vehicle"
CORRIDOR_BGR: BGR = (0, 200, 0)
_DELETE_ALL = 1  # SceneEntityDeletion.ALL
_LINE_STRIP = 0  # LinePrimitive.LINE_STRIP
_CUBE_ALPHA = 0.5
_LABEL_SIZE_PX = 14.0
_LABEL_ABOVE_M = 0.4  # the label floats this far above the box


@dataclass(frozen=True)
class Corridor:
    """The ego corridor drawn on the road: half-width and length in metres.

    Defaults are ``[danger]``'s: half the ego width (1.9 m) plus the path margin (0.2 m), and
    the zone's minimum length (20 m; the danger stage lengthens it with speed, which the sink
    does not see). ``adas replay`` passes the configured values.
    """

    half_width_m: float = 0.5 * 1.9 + 0.2
    length_m: float = 20.0


def cube_centre(row: ObjectRow, length_m: float, height_m: float) -> tuple[float, float, float]:
    """Centre of an object's box in the vehicle frame (see the module docstring)."""
    return row.distance_m + 0.5 * length_m, row.lateral_m, 0.5 * height_m


def quaternion_xyzw(r: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w; w >= 0) of a 3 x 3 rotation matrix (Shepperd's method)."""
    m = np.asarray(r, np.float64)
    tr = float(np.trace(m))
    k = int(np.argmax([tr, m[0, 0], m[1, 1], m[2, 2]]))
    if k == 0:
        s = 2.0 * math.sqrt(1.0 + tr)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4)
    elif k == 1:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = (s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif k == 2:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s)
    sign = -1.0 if q[3] < 0 else 1.0
    x, y, z, w = (sign * float(v) for v in q)
    return x, y, z, w


@functools.lru_cache(maxsize=8)
def _mount_quaternion(
    pitch_rad: float, roll_rad: float, yaw_rad: float
) -> tuple[float, float, float, float]:
    """The camera's rotation on the vehicle as a quaternion: one per mount, not per frame."""
    return quaternion_xyzw(rotation_vehicle_camera(pitch_rad, roll_rad, yaw_rad))


class SceneMessages:
    """Builds ``/adas/scene`` and ``/tf`` messages from a typestore's classes."""

    def __init__(self, types: dict[str, Any], priors: SizePriors, corridor: Corridor) -> None:
        self.t = types
        self.corridor = corridor
        # Mean size per class; a class without a prior is a cube of the [unknown] width.
        unknown = self._unknown_m = priors.unknown_width_m
        self._length = np.nan_to_num(priors.length, nan=unknown)
        self._width = np.nan_to_num(priors.width, nan=unknown)
        self._height = np.nan_to_num(priors.height, nan=unknown)

    def size_m(self, class_id: int) -> tuple[float, float, float]:
        """(length, width, height) drawn for a class id; a cube of the [unknown] width for an
        id outside ``ObjectClass``."""
        if not 0 <= class_id < len(self._length):
            return (self._unknown_m,) * 3
        return (
            float(self._length[class_id]),
            float(self._width[class_id]),
            float(self._height[class_id]),
        )

    def _colour(self, bgr: BGR, alpha: float) -> Any:
        b, g, r = bgr
        return self.t["foxglove_msgs/msg/Color"](r=r / 255, g=g / 255, b=b / 255, a=alpha)

    def _pose(self, x: float, y: float, z: float) -> Any:
        t = self.t
        return t["geometry_msgs/msg/Pose"](
            position=t["geometry_msgs/msg/Point"](x=x, y=y, z=z),
            orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        )

    def _entity(self, stamp: Any, entity_id: str, **primitives: list[Any]) -> Any:
        t = self.t
        kinds = ("arrows", "cubes", "spheres", "cylinders", "lines", "triangles", "texts", "models")
        return t["foxglove_msgs/msg/SceneEntity"](
            timestamp=stamp, frame_id=VEHICLE_FRAME, id=entity_id,
            lifetime=t["builtin_interfaces/msg/Duration"](sec=0, nanosec=0), frame_locked=True,
            metadata=[], **{k: primitives.get(k, []) for k in kinds},
        )  # fmt: skip

    def _object(self, stamp: Any, row: ObjectRow) -> Any:
        t = self.t
        length, width, height = self.size_m(row.class_id)
        x, y, z = cube_centre(row, length, height)
        bgr = object_bgr(row.zone, row.danger)
        cube = t["foxglove_msgs/msg/CubePrimitive"](
            pose=self._pose(x, y, z),
            size=t["geometry_msgs/msg/Vector3"](x=length, y=width, z=height),
            color=self._colour(bgr, _CUBE_ALPHA),
        )
        text = t["foxglove_msgs/msg/TextPrimitive"](
            pose=self._pose(x, y, height + _LABEL_ABOVE_M), billboard=True,
            font_size=_LABEL_SIZE_PX, scale_invariant=True, color=self._colour(bgr, 1.0),
            text=label_text(row),
        )  # fmt: skip
        return self._entity(stamp, f"track_{row.track_id}", cubes=[cube], texts=[text])

    def _corridor(self, stamp: Any) -> Any:
        t = self.t
        hw, length = self.corridor.half_width_m, self.corridor.length_m
        point = t["geometry_msgs/msg/Point"]
        corners = [(0.0, hw), (length, hw), (length, -hw), (0.0, -hw)]
        line = t["foxglove_msgs/msg/LinePrimitive"](
            type=_LINE_STRIP, pose=self._pose(0.0, 0.0, 0.0), thickness=0.1,
            scale_invariant=False, points=[point(x=x, y=y, z=0.0) for x, y in corners],
            color=self._colour(CORRIDOR_BGR, 1.0), colors=[], indices=np.zeros(0, np.uint32),
        )  # fmt: skip
        return self._entity(stamp, "corridor", lines=[line])

    def scene(self, stamp: Any, rows: Sequence[ObjectRow]) -> Any:
        """One frame's SceneUpdate: delete all, then the corridor and every ranged object."""
        t = self.t
        delete = t["foxglove_msgs/msg/SceneEntityDeletion"](
            timestamp=stamp, type=_DELETE_ALL, id=""
        )
        entities = [self._corridor(stamp)]
        entities += [self._object(stamp, r) for r in rows if math.isfinite(r.distance_m)]
        return t[SCENE_UPDATE](deletions=[delete], entities=entities)

    def transform(self, stamp: Any, mount: Mount, camera_frame: str) -> Any:
        """``/tf``: ``vehicle`` -> ``camera_frame`` (the camera's optical frame) from the mount."""
        t = self.t
        qx, qy, qz, qw = _mount_quaternion(mount.pitch_rad, mount.roll_rad, mount.yaw_rad)
        tf = t["geometry_msgs/msg/TransformStamped"](
            header=t["std_msgs/msg/Header"](stamp=stamp, frame_id=VEHICLE_FRAME),
            child_frame_id=camera_frame,
            transform=t["geometry_msgs/msg/Transform"](
                translation=t["geometry_msgs/msg/Vector3"](
                    x=-mount.behind_bumper_m, y=mount.lateral_m, z=mount.height_m
                ),
                rotation=t["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
            ),
        )
        return t[TF_MESSAGE](transforms=[tf])
