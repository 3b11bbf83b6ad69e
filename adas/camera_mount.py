"""Camera mount on the vehicle: pose (metres, radians) and the camera -> vehicle rotation.

Vehicle frame (ISO 8855): x forward, y left, z up, origin on the road below the front bumper
centre; camera frame (OpenCV): x right, y down, z forward. Re-exported by :mod:`adas.camera`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np

from adas.errors import ConfigError
from adas.params import param, validate
from adas.types import FloatArray

__all__ = ["DEFAULT_MOUNT", "R_VEHICLE_LEVEL", "Mount", "rotation_vehicle_camera"]

# Level camera: optical axis (cam z) -> vehicle x, cam x (right) -> -y, cam y (down) -> -z.
R_VEHICLE_LEVEL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class Mount:
    """Camera pose on the vehicle: metres and radians, validated on construction.

    Rotations are ISO 8855 yaw-pitch-roll (intrinsic z, y', x'') applied to a level camera:
    pitch positive = optical axis tilted down, yaw positive = looking left, roll positive =
    right-hand rotation about the forward axis (right side down). The optical centre is
    ``height_m`` above the road, ``behind_bumper_m`` behind the front bumper plane and
    ``lateral_m`` left of the centreline. Out-of-range values raise ConfigError naming the field.
    """

    height_m: float = param(1.65, lo=0.2, hi=5.0, unit="m")
    pitch_rad: float = param(0.0, lo=-0.35, hi=0.35, unit="rad")
    roll_rad: float = param(0.0, lo=-0.35, hi=0.35, unit="rad")
    yaw_rad: float = param(0.0, lo=-0.35, hi=0.35, unit="rad")
    behind_bumper_m: float = param(0.0, lo=0.0, hi=10.0, unit="m")
    lateral_m: float = param(0.0, lo=-2.5, hi=2.5, unit="m")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                msg = f"config mount.{f.name} = {value!r}: expected a number"
                raise ConfigError(msg)
            object.__setattr__(self, f.name, float(value))
        validate(self, "mount")

    @classmethod
    def from_degrees(
        cls, *, height_m: float, pitch_deg: float = 0.0, roll_deg: float = 0.0,
        yaw_deg: float = 0.0, behind_bumper_m: float = 0.0, lateral_m: float = 0.0,
    ) -> Mount:  # fmt: skip
        """Build from angles in degrees, as config files and reports write them."""
        rad = math.radians
        return cls(
            height_m, rad(pitch_deg), rad(roll_deg), rad(yaw_deg), behind_bumper_m, lateral_m
        )


DEFAULT_MOUNT = Mount()  # KITTI-like: 1.65 m high, level, on the bumper centre


def rotation_vehicle_camera(pitch_rad: float, roll_rad: float, yaw_rad: float) -> FloatArray:
    """R_vehicle_camera (3 x 3) for the given mount angles in radians (see :class:`Mount`)."""
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx @ R_VEHICLE_LEVEL
