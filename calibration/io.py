"""Result files of ``adas-calibrate intrinsics``: OpenCV YAML, ROS camera_info YAML, JSON.

ROS conventions implemented:

* The calibration *file* (``--ros-out``) is the YAML ``camera_calibration_parsers`` reads and
  writes: ``image_width``, ``image_height``, ``camera_name``, ``camera_matrix``,
  ``distortion_model``, ``distortion_coefficients``, ``rectification_matrix``,
  ``projection_matrix``, matrices as ``{rows, cols, data}``. ROS 1 and ROS 2
  ``camera_info_manager`` use the same parser and layout, so one file serves both.
* The camera_info *message* (``--ros-msg-out``) is where the versions differ:
  ``sensor_msgs/CameraInfo`` names its arrays ``D K R P`` in ROS 1 and ``d k r p`` in ROS 2
  (and ROS 2 has no ``seq`` in the header). It is written flat, row-major, for
  ``rostopic pub -f`` / ``ros2 topic pub``.
* ``distortion_model``: ``plumb_bob`` (5 coefficients), ``rational_polynomial`` (8) or
  ``equidistant`` (fisheye k1..k4), the values of ``sensor_msgs/distortion_models.h``.

For a monocular camera R = I and P = [K | 0]. Files written here load with
:mod:`adas.camera` (pinhole models; that loader has no fisheye model).

The OpenCV YAML may also carry the calibration's uncertainty (:data:`UNCERTAINTY_KEYS`: the
intrinsic parameters' covariance and the projection uncertainty map of
:mod:`calibration.uncertainty`), which ``adas-calibrate mount`` reads back
(:func:`read_uncertainty`); readers that do not know the keys ignore them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.detect import DetectionSet
from calibration.errors import CalibrationError, OutputError
from calibration.intrinsics import DIST_NAMES, IntrinsicsResult, Model

ROS_DISTORTION_MODEL = {
    Model.PINHOLE5: "plumb_bob",
    Model.PINHOLE8: "rational_polynomial",
    Model.FISHEYE: "equidistant",
}
OPENCV_DISTORTION_MODEL = {**ROS_DISTORTION_MODEL, Model.FISHEYE: "fisheye"}
# OpenCV YAML keys of the uncertainty (calibration.uncertainty): the names of the intrinsic
# parameters (one string), their covariance, and the projection map (depth, grid, sigma px).
UNCERTAINTY_KEYS = (
    "intrinsics_covariance_names", "intrinsics_covariance", "projection_depth_m",
    "projection_grid_u", "projection_grid_v", "projection_sigma_px",
)  # fmt: skip


def json_num(v: float | None) -> float | None:
    """JSON-safe float (NaN and infinity become null)."""
    return None if v is None or not math.isfinite(v) else float(v)


def summary(
    result: IntrinsicsResult, detections: DetectionSet, uncertainty: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON summary: the issue's contract keys first, then detection and per-view detail,
    then ``uncertainty`` (``projection_uncertainty``, ``intrinsics_covariance``) when given."""
    r = result
    return {
        "images": len(detections.detections),
        "used": len(r.used),
        "rejected": [x.name for x in r.rejected],
        "rms_px": json_num(r.rms_px),
        "heldout_rms_px": json_num(r.heldout_rms_px),
        "fx": r.fx,
        "fy": r.fy,
        "cx": r.cx,
        "cy": r.cy,
        "std": {k: json_num(v) for k, v in r.std.items()},
        "model": r.model.value,
        "distortion": dict(zip(DIST_NAMES[r.model], map(float, r.dist), strict=True)),
        "image_width": r.image_size[0],
        "image_height": r.image_size[1],
        "detected": len(detections.detected),
        "not_detected": [d.name for d in detections.not_detected],
        "min_corners": detections.min_corners,
        "corners": {d.name: d.count for d in detections.detections},
        "layout": detections.layout,
        "corners_by_layout": detections.corners_by_layout,
        "rejections": [
            {"name": x.name, "rms_px": x.rms_px, "threshold_px": x.threshold_px, "reason": x.reason}
            for x in r.rejected
        ],
        "views": [
            {
                "name": v.name,
                "corners": v.count,
                "rms_px": json_num(v.rms_px),
                "heldout_rms_px": json_num(v.heldout_rms_px),
                "used": v.used,
            }
            for v in r.views
        ],
        "coverage": r.coverage.tolist(),
        **(uncertainty or {}),
    }


@dataclass(frozen=True, eq=False)
class CameraUncertainty:
    """The uncertainty an intrinsics YAML carries: the intrinsic parameters' covariance
    (``names`` order, see :mod:`calibration.uncertainty`) and the projection map (1 sigma px
    at ``depth_m`` on the grid ``u`` x ``v``; None in files written without it)."""

    names: tuple[str, ...]
    covariance: np.ndarray
    depth_m: float | None = None
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    sigma_px: np.ndarray | None = None


def read_uncertainty(path: str | Path) -> CameraUncertainty | None:
    """The uncertainty keys of an OpenCV YAML from ``intrinsics --out``; None if it has none
    (older files, ROS files). A covariance that does not fit its names raises CalibrationError."""
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError):  # OpenCV 5's Python binding raises SystemError here
        return None  # not FileStorage YAML: the camera reader reports that, not this
    try:
        if not fs.isOpened() or fs.getNode(UNCERTAINTY_KEYS[1]).empty():
            return None
        names = tuple(fs.getNode(UNCERTAINTY_KEYS[0]).string().split())
        cov = np.asarray(fs.getNode(UNCERTAINTY_KEYS[1]).mat(), np.float64)
        grid = [fs.getNode(k) for k in UNCERTAINTY_KEYS[2:]]
        has_map = not any(g.empty() for g in grid)
        depth = float(grid[0].real()) if has_map else None
        u, v, sigma = (
            (np.asarray(g.mat(), np.float64) for g in grid[1:]) if has_map else (None,) * 3
        )
    finally:
        fs.release()
    if cov.shape != (len(names), len(names)) or not np.all(np.isfinite(cov)):
        msg = f"{path}: {UNCERTAINTY_KEYS[1]} is {cov.shape}, not square over {names}"
        raise CalibrationError(msg)
    if u is None or v is None or sigma is None:
        return CameraUncertainty(names, cov)
    u, v = u.ravel(), v.ravel()
    if sigma.shape != (v.size, u.size):
        msg = f"{path}: {UNCERTAINTY_KEYS[5]} is {sigma.shape}, not {v.size} x {u.size}"
        raise CalibrationError(msg)
    return CameraUncertainty(names, cov, depth, u, v, sigma)


def write_json(data: dict[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON."""
    try:
        Path(path).write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        msg = f"{path}: cannot write the JSON summary: {exc}"
        raise OutputError(msg) from exc


def open_yaml_writer(path: str | Path) -> cv2.FileStorage:
    """An OpenCV FileStorage writing YAML to ``path`` (OutputError if it cannot open)."""
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
    if not fs.isOpened():
        msg = f"{path}: cannot open for writing"
        raise OutputError(msg)
    return fs


def write_camera_fields(
    fs: cv2.FileStorage, size: tuple[int, int], K: np.ndarray, dist: np.ndarray, model: Model
) -> None:
    """The camera as OpenCV's calibration sample names it, plus the model name."""
    fs.write("image_width", int(size[0]))
    fs.write("image_height", int(size[1]))
    fs.write("camera_matrix", np.asarray(K, np.float64))
    fs.write("distortion_coefficients", np.asarray(dist, np.float64).reshape(-1, 1))
    fs.write("distortion_model", OPENCV_DISTORTION_MODEL[model])


def write_opencv_yaml(
    result: IntrinsicsResult, path: str | Path, uncertainty: dict[str, Any] | None = None
) -> None:
    """OpenCV FileStorage YAML as OpenCV's calibration sample writes it, plus the model name;
    with ``uncertainty`` (the summary's keys) also the intrinsics' covariance and the
    projection uncertainty map, which ``adas-calibrate mount`` reads (:data:`UNCERTAINTY_KEYS`)."""
    fs = open_yaml_writer(path)
    try:
        write_camera_fields(fs, result.image_size, result.K, result.dist, result.model)
        fs.write("avg_reprojection_error", float(result.rms_px))
        cov = (uncertainty or {}).get("intrinsics_covariance")
        if cov is not None:
            fs.write(UNCERTAINTY_KEYS[0], " ".join(cov["names"]))
            fs.write(UNCERTAINTY_KEYS[1], np.asarray(cov["matrix"], np.float64))
        grid = (uncertainty or {}).get("projection_uncertainty", {}).get("map")
        if grid is not None:
            fs.write(UNCERTAINTY_KEYS[2], float(grid["depth_m"]))
            fs.write(UNCERTAINTY_KEYS[3], np.asarray(grid["u"], np.float64)[None])
            fs.write(UNCERTAINTY_KEYS[4], np.asarray(grid["v"], np.float64)[None])
            fs.write(UNCERTAINTY_KEYS[5], np.asarray(grid["sigma_px"], np.float64))
    finally:
        fs.release()


def _yaml_float(v: float) -> str:
    """Shortest exact repr with a '.' in the mantissa, so YAML 1.1 parsers read a float."""
    s = repr(float(v))
    return s.replace("e", ".0e", 1) if "e" in s and "." not in s else s


def _block(name: str, a: np.ndarray) -> str:
    data = ", ".join(_yaml_float(v) for v in a.ravel())
    return f"{name}:\n  rows: {a.shape[0]}\n  cols: {a.shape[1]}\n  data: [{data}]\n"


def _matrices(result: IntrinsicsResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    K = np.asarray(result.K, np.float64)
    return K, np.asarray(result.dist, np.float64)[None], np.eye(3), np.hstack([K, np.zeros((3, 1))])


def ros_calibration_text(
    size: tuple[int, int], camera_name: str, K: np.ndarray, dist: np.ndarray,
    distortion_model: str, R: np.ndarray, P: np.ndarray,
) -> str:  # fmt: skip
    """The camera_info calibration file's text (same for ROS 1 and ROS 2; see the module doc)."""
    return (
        f"image_width: {size[0]}\nimage_height: {size[1]}\n"
        f"camera_name: {camera_name}\n{_block('camera_matrix', np.asarray(K, np.float64))}"
        f"distortion_model: {distortion_model}\n"
        f"{_block('distortion_coefficients', np.asarray(dist, np.float64).reshape(1, -1))}"
        f"{_block('rectification_matrix', np.asarray(R, np.float64))}"
        f"{_block('projection_matrix', np.asarray(P, np.float64))}"
    )


def write_text(path: str | Path, text: str, what: str) -> None:
    """Write ``text`` to ``path``; OutputError naming ``what`` if it cannot."""
    try:
        Path(path).write_text(text)
    except OSError as exc:
        msg = f"{path}: cannot write the {what}: {exc}"
        raise OutputError(msg) from exc


def write_ros_camera_info(
    result: IntrinsicsResult, path: str | Path, *, camera_name: str = "camera"
) -> None:
    """The camera_info calibration file of a monocular camera (R = I, P = [K | 0])."""
    K, D, R, P = _matrices(result)
    model = ROS_DISTORTION_MODEL[result.model]
    text = ros_calibration_text(result.image_size, camera_name, K, D, model, R, P)
    write_text(path, text, "camera_info file")


def camera_info_message(
    result: IntrinsicsResult, *, ros_version: int, frame_id: str = "camera"
) -> dict[str, Any]:
    """``sensor_msgs/CameraInfo`` as a dict: ``D K R P`` for ROS 1, ``d k r p`` for ROS 2."""
    if ros_version not in (1, 2):
        err = f"ros_version {ros_version!r}: expected 1 or 2"
        raise OutputError(err)
    K, D, R, P = _matrices(result)
    header: dict[str, Any] = {"frame_id": frame_id}
    if ros_version == 1:
        header["seq"] = 0
    arrays = {"d": D, "k": K, "r": R, "p": P}
    msg: dict[str, Any] = {
        "header": header,
        "height": int(result.image_size[1]),
        "width": int(result.image_size[0]),
        "distortion_model": ROS_DISTORTION_MODEL[result.model],
    }
    for key, a in arrays.items():
        msg[key.upper() if ros_version == 1 else key] = [float(v) for v in a.ravel()]
    msg.update({"binning_x": 0, "binning_y": 0})
    msg["roi"] = {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0, "do_rectify": False}
    return msg


def write_ros_message(
    result: IntrinsicsResult, path: str | Path, *, ros_version: int, frame_id: str = "camera"
) -> None:
    """The camera_info message as YAML (flow style; JSON is valid YAML 1.2)."""
    msg = camera_info_message(result, ros_version=ros_version, frame_id=frame_id)
    lines = [f"{k}: {json.dumps(v)}" for k, v in msg.items()]
    try:
        Path(path).write_text("\n".join(lines) + "\n")
    except OSError as exc:
        msg_text = f"{path}: cannot write the camera_info message: {exc}"
        raise OutputError(msg_text) from exc
