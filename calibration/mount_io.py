"""Result files of ``adas-calibrate mount``: JSON summary, the TOML section adas reads, and
OpenCV YAML with the camera and its pose on the vehicle.

The OpenCV YAML holds the camera (``camera_matrix``, ``distortion_coefficients``, image size:
it loads with :meth:`adas.camera.CameraModel.from_opencv_yaml`) and ``R_vehicle_camera`` /
``t_vehicle_camera``, the pose mapping camera coordinates (OpenCV: x right, y down, z
forward) to vehicle ones (ISO 8855, origin on the road below the front bumper centre,
metres), as ROS tf's parent ``base_link`` -> child optical frame would carry it. ROS
camera_info has no place for a mount: the intrinsics' camera_info is unchanged by it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from adas.camera import rotation_vehicle_camera
from calibration.errors import OutputError
from calibration.io import open_yaml_writer, write_camera_fields
from calibration.mount import ANGLE_FIELDS, FIELDS, Intrinsics, MountResult, shown_value


def _key(field: str) -> str:
    """JSON/TOML key: angles in degrees as the config files write them."""
    return field.replace("_rad", "_deg")


def _unit(field: str, value: float) -> float:
    """Radians -> degrees for the angles; metres and pixels as they are."""
    return math.degrees(value) if field in ANGLE_FIELDS else value


def _out(field: str, value: float | None) -> float | None:
    """As :func:`_unit`, with None for a missing or non-finite value (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else _unit(field, value)


def summary(result: MountResult) -> dict[str, Any]:
    """JSON-ready figures: the mount (degrees), RMS, std, spread and the per-image estimates."""
    m = result.mount
    return {
        "images": result.images,
        "used": len(result.per_image),
        **{_key(n): _out(n, getattr(m, n)) for n in FIELDS},
        "rms_px": _out("", result.rms_px),
        "std": {_key(n): _out(n, v) for n, v in result.std.items()},
        "spread": {_key(n): _out(n, v) for n, v in result.spread.items()},
        "per_image": [
            {
                "name": e.name,
                "corners": e.corners,
                **{_key(n): _out(n, e.get(n)) for n in FIELDS},
                "rms_px": _out("", e.rms_px),
                "joint_rms_px": _out("", e.joint_rms_px),
            }
            for e in result.per_image
        ],
        "unused": list(result.unused),
        "board": [b.to_dict() for b in result.placements],
    }


def write_mount_toml(result: MountResult, path: str | Path) -> None:
    """Write the ``[mount]`` section as :func:`adas.config.load_config` reads it (angles in
    degrees), with ``[motion] camera_behind_bumper_m``, which adas requires to match."""
    m = result.mount
    values = {_key(n): _unit(n, getattr(m, n)) for n in FIELDS}
    lines = [
        f"# Camera mount from `adas-calibrate mount`: {len(result.per_image)} images, "
        f"reprojection RMS {result.rms_px:.3f} px.",
        "# 1 sigma: corner noise only, not errors in the measured board placement.",
        "[mount]",
        *(
            f"{_key(n)} = {values[_key(n)]:.6f}  # 1 sigma {shown_value(n, result.std[n])}"
            for n in FIELDS
        ),
        "",
        "[motion]",
        f"camera_behind_bumper_m = {values['behind_bumper_m']:.6f}  # = mount.behind_bumper_m",
    ]
    try:
        Path(path).write_text("\n".join(lines) + "\n")
    except OSError as exc:
        msg = f"{path}: cannot write the mount TOML: {exc}"
        raise OutputError(msg) from exc


def write_mount_opencv_yaml(result: MountResult, camera: Intrinsics, path: str | Path) -> None:
    """The camera and its mount as OpenCV FileStorage YAML (see the module doc)."""
    m = result.mount
    R = rotation_vehicle_camera(m.pitch_rad, m.roll_rad, m.yaw_rad)
    t = np.array([[-m.behind_bumper_m], [m.lateral_m], [m.height_m]])
    fs = open_yaml_writer(path)
    try:
        write_camera_fields(fs, camera.image_size, camera.K, camera.dist, camera.model)
        fs.write("R_vehicle_camera", np.asarray(R, np.float64))
        fs.write("t_vehicle_camera", t)
        for n in FIELDS:
            fs.write(_key(n), float(_unit(n, getattr(m, n))))
        fs.write("rms_px", float(result.rms_px))
    finally:
        fs.release()
