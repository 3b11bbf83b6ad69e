"""Result files of a stereo calibration: JSON summary, OpenCV YAML, ROS camera_info pair.

ROS stereo convention (``camera_calibration`` / ``image_geometry``): each camera's file holds
its own K and distortion, ``rectification_matrix`` = R1 (left) or R2 (right) and
``projection_matrix`` = P1 or P2 of the rectified pair; the right P carries
``Tx = -fx' * baseline`` in ``P[0, 3]`` (fx' the rectified focal length, baseline in the
board's units), the left one 0. Matrices are written with :mod:`calibration.io`'s helpers.

Lens models: each camera's file and JSON entry carry its own (``equidistant`` in ROS,
``fisheye`` in OpenCV YAML, as :mod:`calibration.io` writes them); the pair's OpenCV YAML has
``distortion_model1``/``distortion_model2`` per camera and ``distortion_model`` the common one,
or ``mixed`` for a pinhole + fisheye pair (the JSON ``model`` likewise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.errors import OutputError
from calibration.intrinsics import DIST_NAMES, FloatArray, IntrinsicsResult
from calibration.io import (
    OPENCV_DISTORTION_MODEL,
    ROS_DISTORTION_MODEL,
    json_num,
    open_yaml_writer,
    ros_calibration_text,
    write_text,
)
from calibration.rectification import Rectification
from calibration.stereo import StereoResult


def camera_summary(r: IntrinsicsResult) -> dict[str, Any]:
    """One camera's intrinsics as JSON: K entries and std (px), distortion, RMS (px)."""
    return {
        "fx": r.fx,
        "fy": r.fy,
        "cx": r.cx,
        "cy": r.cy,
        "dist": dict(zip(DIST_NAMES[r.model], map(float, r.dist), strict=True)),
        "rms_px": json_num(r.rms_px),
        "heldout_rms_px": json_num(r.heldout_rms_px),
        "std": {k: json_num(v) for k, v in r.std.items()},
        "model": r.model.value,
        "image_width": r.image_size[0],
        "image_height": r.image_size[1],
        "views_used": len(r.used),
        "views_rejected": [x.name for x in r.rejected],
    }


def _stats(dy: FloatArray | None) -> tuple[float | None, float | None]:
    """RMS and 95th percentile of |dy| (pixels), None when not measured."""
    if dy is None or dy.size == 0:
        return None, None
    return float(np.sqrt(np.mean(dy**2))), float(np.percentile(np.abs(dy), 95))


def pair_model(result: StereoResult) -> str:
    """The pair's model name: the common one, or ``mixed``."""
    return "mixed" if result.model is None else result.model.value


def stereo_summary(result: StereoResult, rect: Rectification | None = None) -> dict[str, Any]:
    """The JSON summary: contract keys first (``rectified_dy_*`` held out when measured, else
    null), then the in-sample dy, the extrinsics, the rectification and per-pair detail."""
    r = result
    held_rms, held_p95 = _stats(r.heldout_dy_px)
    in_rms, in_p95 = _stats(r.dy_px)
    out: dict[str, Any] = {
        "pairs": len(r.pairs),
        "used": len(r.used),
        "rejected": [x.name for x in r.rejected],
        "rms_px": json_num(r.rms_px),
        "left": camera_summary(r.left),
        "right": camera_summary(r.right),
        "baseline": r.baseline,
        "rectified_dy_rms_px": held_rms,
        "rectified_dy_p95_px": held_p95,
        "rectified_dy_insample_rms_px": in_rms,
        "rectified_dy_insample_p95_px": in_p95,
        "rectified_alpha": r.alpha,
        "rectified_fov_deg": r.fov_deg,
        "model": pair_model(r),
        "fixed_intrinsics": r.fixed_intrinsics,
        "R_rvec": cv2.Rodrigues(r.R)[0].ravel().tolist(),
        "R": r.R.tolist(),
        "T": r.T.tolist(),
        "rejections": [
            {"name": x.name, "rms_px": x.rms_px, "threshold_px": x.threshold_px, "reason": x.reason}
            for x in r.rejected
        ],
        "skipped": [{"name": n, "reason": why} for n, why in r.skipped],
    }
    if rect is not None:
        out["rectified_view_deg"] = list(rect.fov_deg)  # degrees, horizontal and vertical
        out["rectification"] = {
            "width": rect.size[0], "height": rect.size[1], "alpha": rect.alpha,
            "vertical": rect.vertical, "P1": rect.P1.tolist(), "P2": rect.P2.tolist(),
            "roi1": list(rect.roi1), "roi2": list(rect.roi2),
            "fov_deg": list(rect.fov_deg),
        }  # fmt: skip
    out["per_pair"] = [
        {
            "name": p.name,
            "corners": p.count,
            "rms_px": json_num(p.rms_px),
            "left_rms_px": json_num(p.left_rms_px),
            "right_rms_px": json_num(p.right_rms_px),
            "dy_rms_px": json_num(p.dy_rms_px),
            "heldout_dy_rms_px": json_num(p.heldout_dy_rms_px),
            "used": bool(p.used),
        }
        for p in r.pairs
    ]
    return out


def write_stereo_opencv_yaml(result: StereoResult, rect: Rectification, path: str | Path) -> None:
    """OpenCV FileStorage YAML with the names of OpenCV's stereo sample (K1 D1 K2 D2 R T E F
    R1 R2 P1 P2 Q), the image and rectified sizes, valid ROIs and the models (module doc)."""
    fs = open_yaml_writer(path)
    try:
        fs.write("image_width", int(result.left.image_size[0]))
        fs.write("image_height", int(result.left.image_size[1]))
        common = result.model
        fs.write("distortion_model", "mixed" if common is None else OPENCV_DISTORTION_MODEL[common])
        fs.write("distortion_model1", OPENCV_DISTORTION_MODEL[result.left.model])
        fs.write("distortion_model2", OPENCV_DISTORTION_MODEL[result.right.model])
        mats = {
            "K1": result.left.K, "D1": result.left.dist.reshape(1, -1),
            "K2": result.right.K, "D2": result.right.dist.reshape(1, -1),
            "R": result.R, "T": result.T.reshape(3, 1), "E": result.E, "F": result.F,
            "R1": rect.R1, "R2": rect.R2, "P1": rect.P1, "P2": rect.P2, "Q": rect.Q,
        }  # fmt: skip
        for name, m in mats.items():
            fs.write(name, np.asarray(m, np.float64))
        fs.write("rectified_width", int(rect.size[0]))
        fs.write("rectified_height", int(rect.size[1]))
        fs.write("roi1", np.asarray(rect.roi1, np.int32).reshape(1, 4))
        fs.write("roi2", np.asarray(rect.roi2, np.int32).reshape(1, 4))
        fs.write("rms_px", float(result.rms_px))
    finally:
        fs.release()


def write_stereo_ros(
    result: StereoResult, rect: Rectification, left_path: str | Path, right_path: str | Path,
    camera_names: tuple[str, str] = ("left", "right"),
) -> None:  # fmt: skip
    """The two ROS camera_info calibration files (see the module doc for the convention)."""
    if rect.size != result.left.image_size:
        msg = (
            f"ROS camera_info needs the rectified size {rect.size} to equal the image size "
            f"{result.left.image_size}; rectify without new_size"
        )
        raise OutputError(msg)
    if rect.vertical:
        msg = "ROS stereo expects a horizontal pair (baseline along x); this pair is vertical"
        raise OutputError(msg)
    for cam, R, P, name, path in (
        (result.left, rect.R1, rect.P1, camera_names[0], left_path),
        (result.right, rect.R2, rect.P2, camera_names[1], right_path),
    ):
        model = ROS_DISTORTION_MODEL[cam.model]
        text = ros_calibration_text(cam.image_size, name, cam.K, cam.dist, model, R, P)
        write_text(path, text, "camera_info file")
