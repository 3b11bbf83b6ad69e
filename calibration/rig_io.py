"""Result files of a rig calibration: the JSON summary and the OpenCV YAML.

The summary carries each camera's intrinsics and joint RMS, its extrinsics relative to the
reference (``x_cam = R x_ref + T`` as ``R_rvec`` and ``T``, and the 4 x 4 ``T_ref_cam``), every
linked pair with its rectified misalignment, and the loop closures of
:func:`calibration.rig.loop_closures`. Non-finite figures (an unconnected camera) are null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.io import OPENCV_DISTORTION_MODEL, json_num, open_yaml_writer
from calibration.rig import RigResult, loop_closures
from calibration.stereo_io import camera_summary


def rig_summary(result: RigResult) -> dict[str, Any]:
    """JSON summary: cameras (intrinsics, joint RMS), extrinsics, pairs with rectified dy."""
    return {
        "reference": result.reference,
        "rms_px": json_num(result.rms_px),
        "cameras": {
            c: camera_summary(k.intrinsics)
            | {"joint_rms_px": json_num(k.rms_px), "joint_views": k.views}
            for c, k in result.cameras.items()
        },
        "extrinsics": {
            c: {
                "R_rvec": cv2.Rodrigues(k.R)[0].ravel().tolist()
                if np.isfinite(k.R).all()
                else None,
                "T": k.T.tolist() if np.isfinite(k.T).all() else None,
                "T_ref_cam": k.T_ref_cam.tolist() if np.isfinite(k.T).all() else None,
            }
            for c, k in result.cameras.items()
        },
        "pairs": [
            {
                "cameras": [lk.a, lk.b],
                "views": len(lk.views),
                "pairwise_rms_px": json_num(lk.rms_px),
                "R_rvec": cv2.Rodrigues(lk.R)[0].ravel().tolist(),
                "T": lk.T.tolist(),
                "rectified_width": lk.rect_size[0],
                "rectified_height": lk.rect_size[1],
                "rectified_dy_insample_rms_px": json_num(lk.dy_rms_px),
                "rectified_dy_insample_p95_px": json_num(lk.dy_p95_px),
            }
            for lk in result.links
        ],
        "loop_closure": [
            {
                "cameras": list(x.cameras),
                "rotation_deg": x.rotation_deg,
                "translation": x.translation,
                "relative": x.relative,
            }
            for x in loop_closures(result)
        ],
        "tree": [list(e) for e in result.tree],
        "unconnected": list(result.unconnected),
    }


def write_rig_opencv_yaml(result: RigResult, path: str | Path) -> None:
    """OpenCV FileStorage YAML: ``reference``, ``cameras`` (names), then per camera a map
    ``camera_<i>`` with name, image size, K, D, its ``distortion_model`` (as
    :mod:`calibration.io` names it: ``fisheye`` for a fisheye), R, T (``x_cam = R x_ref + T``)
    and RMS."""
    fs = open_yaml_writer(path)
    try:
        fs.write("reference", result.reference)
        fs.write("camera_count", len(result.cameras))
        for i, (name, cam) in enumerate(result.cameras.items()):
            fs.startWriteStruct(f"camera_{i}", cv2.FILE_NODE_MAP)
            k = cam.intrinsics
            fs.write("name", name)
            fs.write("image_width", int(k.image_size[0]))
            fs.write("image_height", int(k.image_size[1]))
            fs.write("K", np.asarray(k.K, np.float64))
            fs.write("D", np.asarray(k.dist, np.float64).reshape(1, -1))
            fs.write("distortion_model", OPENCV_DISTORTION_MODEL[k.model])
            fs.write("R", np.asarray(cam.R, np.float64))
            fs.write("T", np.asarray(cam.T, np.float64).reshape(3, 1))
            fs.write("rms_px", float(cam.rms_px))
            fs.endWriteStruct()
    finally:
        fs.release()
