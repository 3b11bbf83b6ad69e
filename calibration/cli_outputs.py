"""The outputs of a single-camera calibration, one place for ``intrinsics`` with a board
(:mod:`calibration.cli`) and with a board array (:mod:`calibration.cli_array`): their flags
and the code that writes them (OpenCV YAML with the covariance ``mount`` reads, ROS files,
JSON, HTML report, the short summary). A new output is added here, once, for both."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from calibration.cli_args import print_summary, save_json

if TYPE_CHECKING:
    from calibration.covariance import Covariance
    from calibration.detect import DetectionSet
    from calibration.intrinsics import IntrinsicsResult

SHORT_KEYS = ("images", "used", "rejected", "rms_px", "heldout_rms_px", "fx", "fy", "cx", "cy")


def add_args(i: argparse.ArgumentParser) -> None:
    """The camera files ``intrinsics`` writes and the depths of its projection uncertainty."""
    i.add_argument("--out", metavar="camera.yaml", help="OpenCV FileStorage YAML")
    i.add_argument("--ros-out", metavar="camera_info.yaml", help="ROS calibration file")
    i.add_argument("--ros-msg-out", metavar="msg.yaml", help="ROS CameraInfo message YAML")
    i.add_argument("--ros-version", type=int, choices=(1, 2), default=2, help="for --ros-msg-out")
    i.add_argument("--camera-name", default="camera", help="ROS camera_name / frame_id")
    i.add_argument(
        "--uncertainty-depth", type=float, nargs="+", default=[20.0], metavar="M",  # 20 m: a car
        help="depths (board units, metres) of the projection uncertainty (%(default)s)",
    )  # fmt: skip


def write_intrinsics(
    args: argparse.Namespace, result: IntrinsicsResult, detections: DetectionSet, *,
    covariance: Callable[[], Covariance] | None = None, extra: Mapping[str, Any] | None = None,
    short_keys: Sequence[str] = (), short_extra: Mapping[str, Any] | None = None,
) -> int:  # fmt: skip
    """Write every output ``args`` asks for and print the short summary; returns 0.

    ``covariance`` forms the fit's covariance (default: from the result's views and poses,
    see :func:`calibration.uncertainty.summary_fields`); ``extra`` is added to the JSON
    summary, ``short_keys`` (summary keys) and ``short_extra`` to the short one."""
    from calibration import io, report, uncertainty

    unc = uncertainty.summary_fields(result, args.uncertainty_depth, covariance)
    summary = io.summary(result, detections, unc) | dict(extra or {})
    if args.out:
        io.write_opencv_yaml(result, args.out, unc)
    if args.ros_out:
        io.write_ros_camera_info(result, args.ros_out, camera_name=args.camera_name)
    if args.ros_msg_out:
        io.write_ros_message(
            result, args.ros_msg_out, ros_version=args.ros_version, frame_id=args.camera_name
        )
    save_json(summary, args.json)
    if args.report:
        report.write_report(summary, args.report)
    short = {k: summary[k] for k in (*SHORT_KEYS, *short_keys, "layout", "not_detected")}
    depths = summary["projection_uncertainty"].get("depths")
    if depths:  # the first depth's median over the image: how good, in one number
        short["projection_sigma_px"] = {"depth_m": depths[0]["depth_m"],
                                        "median": depths[0]["median_px"]}  # fmt: skip
    print_summary(short | dict(short_extra or {}), summary, args.json)
    return 0
