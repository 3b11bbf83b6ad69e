"""Camera calibration files: KITTI calib text, OpenCV FileStorage YAML, ROS camera_info YAML.

Only the file formats live here (what :class:`adas.camera.CameraModel` reads and writes):
both YAML flavours are read with ``cv2.FileStorage`` (a data-only C++ parser, no PyYAML
dependency) through one parser, so each reader also accepts the other's layout. Every failure
on a file is raised as :class:`CalibrationFileError` naming the file.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from adas.camera_lens import FISHEYE_NAMES, Lens, lens_from_name
from adas.errors import CalibrationFileError
from adas.types import FloatArray

__all__ = [
    "ROS_MODELS",
    "CameraFile",
    "PathLike",
    "calibration_file_errors",
    "is_kitti_calib",
    "read_camera_yaml",
    "read_kitti_projection",
    "ros_camera_info_text",
    "write_opencv_yaml",
    "yaml_float",
]

PathLike = str | Path

ROS_MODELS = {5: "plumb_bob", 8: "rational_polynomial"}  # distortion models by coefficient count
ROS_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")


@dataclass(frozen=True)
class CameraFile:
    """What a camera YAML file holds: intrinsics, distortion, image size and lens model."""

    K: FloatArray
    dist: FloatArray
    width: int
    height: int
    lens: Lens = Lens.PINHOLE


def yaml_float(v: float) -> str:
    """Shortest exact repr, with a '.' in the mantissa so YAML 1.1 parsers see a float."""
    s = repr(float(v))
    return s.replace("e", ".0e", 1) if "e" in s and "." not in s else s


@contextlib.contextmanager
def calibration_file_errors(path: PathLike) -> Iterator[None]:
    """Re-raise any failure on the file ``path`` as CalibrationFileError naming the file."""
    try:
        yield
    except CalibrationFileError as exc:
        if str(exc).startswith(f"{path}: "):  # named by an inner use of this context
            raise
        msg = f"{path}: {exc}"
        raise CalibrationFileError(msg) from exc
    except (OSError, cv2.error, SystemError, ValueError) as exc:
        cause = exc.__cause__ if isinstance(exc, SystemError) and exc.__cause__ else exc
        msg = f"{path}: cannot read or write calibration: {cause}"
        raise CalibrationFileError(msg) from exc


def node_number(node: cv2.FileNode, key: str) -> float:
    if not (node.isInt() or node.isReal()):
        msg = f"'{key}' holds a non-numeric value {node.string()!r}"
        raise CalibrationFileError(msg)
    return float(node.real())


def node_array(node: cv2.FileNode, key: str) -> FloatArray:
    """A matrix: !!opencv-matrix or ROS {rows, cols, data}, !!opencv-nd-matrix, or a list."""
    if node.isMap():
        data = node_array(node.getNode("data"), f"{key}.data")
        if node.getNode("sizes").empty():
            shape = [int(node_number(node.getNode(k), f"{key}.{k}")) for k in ("rows", "cols")]
        else:  # what FileStorage writes for a 1-D array
            shape = [int(n) for n in node_array(node.getNode("sizes"), f"{key}.sizes")]
        if data.size != math.prod(shape):
            msg = f"'{key}' declares shape {shape} but holds {data.size} values"
            raise CalibrationFileError(msg)
        return data.reshape(shape)
    if not node.isSeq():
        msg = f"'{key}' is missing or not a matrix"
        raise CalibrationFileError(msg)
    return np.array([node_number(node.at(i), key) for i in range(node.size())])


def read_kitti_projection(path: PathLike, camera: str | None = "P2") -> FloatArray:
    """The 3 x 4 projection matrix ``camera`` of a KITTI calib file: object or tracking
    (``P2: ...`` or ``P2 ...``), or odometry, whose rows may carry no names (they are then
    P0, P1, ... in order). ``camera=None``: P2 where the file has it, else P0."""
    with calibration_file_errors(path):
        rows: dict[str, list[str]] = {}
        for line in Path(path).read_text().splitlines():
            tokens = line.replace(":", " ", 1).split()
            if tokens and is_number(tokens[0]):  # an unnamed odometry row
                tokens = [f"P{sum(k.startswith('P') for k in rows)}", *tokens]
            if tokens:
                rows.setdefault(tokens[0], tokens[1:])
        if camera is None:
            camera = "P2" if "P2" in rows else "P0"
        if camera not in rows:
            msg = f"no '{camera}' line; found {sorted(rows)}"
            raise CalibrationFileError(msg)
        try:
            values = [float(t) for t in rows[camera]]
        except ValueError as exc:
            msg = f"'{camera}' has a non-numeric value: {exc}"
            raise CalibrationFileError(msg) from exc
        if len(values) != 12:
            msg = f"'{camera}' has {len(values)} numbers, expected 12 (3 x 4 matrix)"
            raise CalibrationFileError(msg)
        return np.reshape(values, (3, 4)).astype(np.float64)


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_kitti_calib(path: PathLike) -> bool:
    """Whether ``path`` looks like a KITTI calib text (first row ``P0:``/``P0 ...`` or 12 bare
    numbers) rather than a YAML camera file."""
    with calibration_file_errors(path):
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            tokens = line.replace(":", " ", 1).split()
            if tokens:
                named = tokens[0] in ("P0", "P1", "P2", "P3") and len(tokens) == 13
                return named or (len(tokens) == 12 and all(is_number(t) for t in tokens))
    return False


def write_opencv_yaml(
    path: PathLike, K: npt.ArrayLike, dist: npt.ArrayLike, width: int, height: int,
    lens: Lens = Lens.PINHOLE,
) -> None:  # fmt: skip
    """OpenCV FileStorage YAML (17 significant digits, so reading back is exact); a fisheye
    camera adds ``distortion_model: fisheye`` as ``adas-calibrate`` writes it."""
    with calibration_file_errors(path):
        flags = cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML
        fs = cv2.FileStorage(str(path), flags)
        if not fs.isOpened():
            msg = "cannot open for writing"
            raise CalibrationFileError(msg)
        try:
            fs.write("image_width", width)
            fs.write("image_height", height)
            fs.write("camera_matrix", np.array(K))
            # N x 1, as OpenCV writes it
            fs.write("distortion_coefficients", np.asarray(dist, np.float64).reshape(-1, 1))
            if lens is Lens.FISHEYE:
                fs.write("distortion_model", "fisheye")
        finally:
            fs.release()


def ros_camera_info_text(
    K: FloatArray, dist: FloatArray, width: int, height: int, camera_name: str = "front",
    lens: Lens = Lens.PINHOLE,
) -> str:  # fmt: skip
    """ROS camera_info YAML text: R = I and P = [K | 0] (an unrectified monocular camera);
    a fisheye camera is ``equidistant`` with its 4 coefficients."""
    n = dist.size
    model = "equidistant" if lens is Lens.FISHEYE else ROS_MODELS.get(max(n, 5))
    if lens is Lens.FISHEYE and n != 4:
        msg = f"an equidistant camera_info has 4 coefficients, got {n}"
        raise CalibrationFileError(msg)
    if model is None:
        msg = f"ROS camera_info has no model for {n} coefficients; 4, 5 or 8 are allowed"
        raise CalibrationFileError(msg)
    if not ROS_NAME.fullmatch(camera_name):
        msg = f"camera_name {camera_name!r} must match {ROS_NAME.pattern}"
        raise CalibrationFileError(msg)

    pad = 0 if lens is Lens.FISHEYE else max(0, 5 - n)  # plumb_bob: 4 terms pad to 5

    def block(name: str, a: FloatArray) -> str:
        data = ", ".join(yaml_float(v) for v in a.ravel())
        return f"{name}:\n  rows: {a.shape[0]}\n  cols: {a.shape[1]}\n  data: [{data}]\n"

    text = (
        f"image_width: {width}\nimage_height: {height}\n"
        f"camera_name: {camera_name}\n{block('camera_matrix', K)}"
        f"distortion_model: {model}\n"
        f"{block('distortion_coefficients', np.pad(dist, (0, pad))[None])}"
        f"{block('rectification_matrix', np.eye(3))}"
        f"{block('projection_matrix', np.hstack([K, np.zeros((3, 1))]))}"
    )
    return text


def read_camera_yaml(path: PathLike, *, ros: bool) -> CameraFile:
    """K, distortion, image size and lens from OpenCV FileStorage YAML (``ros=False``) or ROS
    camera_info YAML (``ros=True``); both flavours share one parser, so each also accepts the
    other's layout. ``distortion_model: fisheye`` or ``equidistant`` is a fisheye camera in
    either flavour (``adas-calibrate`` writes the first in OpenCV YAML, ROS the second)."""
    with calibration_file_errors(path):
        if not Path(path).is_file():  # checked first: OpenCV would log its own error on stderr
            msg = "file not found"
            raise CalibrationFileError(msg)
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        try:
            if not fs.isOpened():
                msg = "not a YAML or XML FileStorage file"
                raise CalibrationFileError(msg)

            def get(*keys: str) -> tuple[cv2.FileNode, str]:
                for key in keys:
                    if not fs.getNode(key).empty():
                        return fs.getNode(key), key
                msg = f"missing key '{keys[0]}'"
                raise CalibrationFileError(msg)

            model_node = fs.getNode("distortion_model")
            model = model_node.string() if model_node.isString() else "plumb_bob"
            lens = lens_from_name(model)
            if ros and lens is Lens.PINHOLE and model not in ROS_MODELS.values():
                known = sorted([*ROS_MODELS.values(), *FISHEYE_NAMES])
                msg = f"distortion_model '{model}' unsupported; use {known}"
                raise CalibrationFileError(msg)
            K = node_array(*get("camera_matrix", "K"))
            dist = node_array(*get("distortion_coefficients", "D"))
            width, height = node_number(*get("image_width")), node_number(*get("image_height"))
        finally:
            fs.release()
        if width != int(width) or height != int(height):
            msg = f"image size must be whole pixels, got {width} x {height}"
            raise CalibrationFileError(msg)
        K = K.reshape(3, 3) if K.size == 9 else K
        return CameraFile(K=K, dist=dist, width=int(width), height=int(height), lens=lens)
