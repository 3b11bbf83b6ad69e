"""Result files of ``adas-calibrate rectify-uncalibrated``: JSON summary, OpenCV YAML and a ROS
camera_info pair.

Both carry, per side, what :func:`calibration.uncalibrated.rectifying_cameras` gives: the raw
camera (K, distortion), R = P^-1 H K and the shared rectified projection P. Whatever feeds
them to ``cv2.initUndistortRectifyMap`` (ROS ``image_proc`` / ``stereo_image_proc`` does)
gets the same rectified images as :func:`calibration.uncalibrated.rectify_maps`.

Two differences from a calibrated pair's files, both because no stereo calibration exists:
``rectification_matrix`` is a general 3 x 3 (the homography in normalised coordinates), not a
rotation, and the right ``projection_matrix`` has Tx = 0: disparity works, metric depth from
it does not (the baseline is unknown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibration.errors import OutputError
from calibration.io import json_num, open_yaml_writer, ros_calibration_text, write_text
from calibration.uncalibrated import UncalibratedResult, rectifying_cameras
from calibration.uncalibrated_candidates import dy_stats

# OpenCV coefficient counts ROS camera_info has a model for (4 is plumb_bob with k3 = 0)
_ROS_MODELS = {4: "plumb_bob", 5: "plumb_bob", 8: "rational_polynomial"}
NEED_CAMERAS = (
    "ROS camera_info files need both cameras' intrinsics: give --left-camera and --right-camera"
)


def write_uncalibrated_opencv_yaml(result: UncalibratedResult, path: str | Path) -> None:
    """OpenCV YAML: image size, F, H1, H2 and, for a known camera i, K_i, D_i, R_i and P_i
    (one P for both; see the module doc)."""
    fs = open_yaml_writer(path)
    try:
        fs.write("image_width", int(result.image_size[0]))
        fs.write("image_height", int(result.image_size[1]))
        fs.write("F", np.asarray(result.chosen.F, np.float64))
        fs.write("H1", np.asarray(result.chosen.H1, np.float64))
        fs.write("H2", np.asarray(result.chosen.H2, np.float64))
        sides = zip((result.left_cam, result.right_cam), rectifying_cameras(result), strict=True)
        for i, (known, cam) in enumerate(sides, 1):
            if known is None:
                continue
            fs.write(f"K{i}", cam.K)
            fs.write(f"D{i}", cam.dist.reshape(-1, 1))
            fs.write(f"R{i}", cam.R)
            fs.write(f"P{i}", np.hstack([cam.P, np.zeros((3, 1))]))
    finally:
        fs.release()


def write_uncalibrated_ros(
    result: UncalibratedResult, left_path: str | Path, right_path: str | Path,
    camera_names: tuple[str, str] = ("left", "right"),
) -> None:  # fmt: skip
    """The two ROS camera_info calibration files. Both cameras' intrinsics must be known (a
    camera_info without K and distortion would describe a different camera)."""
    if result.left_cam is None or result.right_cam is None:
        raise OutputError(NEED_CAMERAS)
    texts = []
    for cam, name in zip(rectifying_cameras(result), camera_names, strict=True):
        model = _ROS_MODELS.get(cam.dist.size)
        if model is None:
            msg = (
                f"ROS camera_info has no distortion model for {cam.dist.size} coefficients "
                f"(4, 5 or 8); {name} camera cannot be written"
            )
            raise OutputError(msg)
        dist = np.pad(cam.dist, (0, max(0, 5 - cam.dist.size)))
        P = np.hstack([cam.P, np.zeros((3, 1))])
        texts.append(ros_calibration_text(result.image_size, name, cam.K, dist, model, cam.R, P))
    for path, text in zip((left_path, right_path), texts, strict=True):  # both checked first
        write_text(path, text, "camera_info file")


def uncalibrated_summary(result: UncalibratedResult) -> dict[str, Any]:
    """The JSON summary: contract keys first (dy over the chosen F's inliers), then detail."""
    dy, inl, c = result.dy, result.inliers, result.chosen
    (rms, med), (rms_all, med_all) = dy_stats(dy[inl]), dy_stats(dy)
    return {
        "matches": result.matches.count,
        "dy_rms_px": json_num(rms),
        "dy_median_px": json_num(med),
        "inliers": int(inl.sum()),
        "dy_rms_all_px": json_num(rms_all),
        "dy_median_all_px": json_num(med_all),
        "dy_of": "dy_rms_px/dy_median_px: matches the chosen F keeps as inliers; *_all_px: all",
        "chosen": c.name,
        "undistorted": result.undistorted,
        "image_width": result.image_size[0],
        "image_height": result.image_size[1],
        "consensus": int(result.consensus.sum()),
        "F": c.F.tolist(),
        "H1": c.H1.tolist(),
        "H2": c.H2.tolist(),
        "candidates": [
            {
                "name": k.name,
                "inliers": int(k.inliers.sum()),
                "dy_rms_px": json_num(k.dy_rms_px),
                "dy_median_px": json_num(k.dy_median_px),
                "deformation": json_num(k.score),
                "degenerate": k.deform is None,
                "acceptable": k.acceptable,
                **{
                    t: None if k.deform is None else [getattr(d, t) for d in k.deform]
                    for t in ("skew_rad", "aspect", "perspective")
                },  # left, right
            }
            for k in result.candidates
        ],
    }
