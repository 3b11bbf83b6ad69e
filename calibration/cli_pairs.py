"""``adas-calibrate rectify-uncalibrated``, ``stereo`` and ``rig``: commands on image pairs.

Parsed in :mod:`calibration.cli` (no heavy imports there); the work is in
:mod:`calibration.uncalibrated`, :mod:`calibration.stereo` and :mod:`calibration.rig`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from calibration.cli_args import board_args, output_args, print_summary, save_json

UNCALIBRATED_EXAMPLE = """\
example:
  adas-calibrate rectify-uncalibrated --pairs-left 'stereo/left*.jpg' \\
      --pairs-right 'stereo/right*.jpg' --chessboard 9x6 --square 1 \\
      --left-camera left.yaml --right-camera right.yaml --out rect.yaml \\
      --ros-out-left left_info.yaml --ros-out-right right_info.yaml --json rect.json
  -> {"matches": 702, "dy_rms_px": 0.155, "dy_median_px": 0.058, "inliers": 702,
      "chosen": "lmeds+8point", "undistorted": true}

  adas-calibrate rectify-uncalibrated --left left01.jpg --right right01.jpg \\
      --left-camera left.yaml --right-camera right.yaml --out rect.yaml

Matches come from SIFT keypoints of one pair (--left/--right) or from board corners of many
pairs (--pairs-left/--pairs-right with a board). With the cameras' intrinsics the points are
undistorted first. Several fundamental matrices are estimated (8-point, RANSAC, LMedS,
MAGSAC, refits on their inliers, random subsets); the one whose rectifying homographies
deform the images least among those with the smallest row misalignment is kept. dy is the
vertical disparity of the matches after rectification (over the inliers of the chosen F).
The ROS camera_info pair (both intrinsics needed) rectifies like the maps here: R is the
homography in normalised coordinates, not a rotation, and Tx = 0 (the baseline is unknown).
"""


def add_uncalibrated_parser(sub: Any) -> None:
    """The ``rectify-uncalibrated`` subcommand's arguments."""
    u = sub.add_parser(
        "rectify-uncalibrated",
        help="rectify a pair from matched keypoints, without a board",
        description=UNCALIBRATED_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    u.add_argument("--left", metavar="L.jpg", help="left image (SIFT matches with --right)")
    u.add_argument("--right", metavar="R.jpg", help="right image")
    u.add_argument("--pairs-left", metavar="GLOB", help="left images of board pairs")
    u.add_argument("--pairs-right", metavar="GLOB", help="right images, same order")
    board_args(u, spec_file=True, required=False)
    u.add_argument("--left-camera", metavar="left.yaml", help="left intrinsics (OpenCV YAML)")
    u.add_argument("--right-camera", metavar="right.yaml", help="right intrinsics")
    u.add_argument("--out", metavar="rect.yaml", help="OpenCV YAML: F, H1, H2 (R1 R2 P1 P2)")
    u.add_argument("--ros-out-left", metavar="left_info.yaml", help="ROS camera_info, left")
    u.add_argument("--ros-out-right", metavar="right_info.yaml", help="ROS camera_info, right")
    u.add_argument("--seed", type=int, default=0, help="random subsets' seed (%(default)s)")
    output_args(u)


def run_uncalibrated(args: argparse.Namespace, spec_of: Any) -> int:
    """Match, rectify, write; prints the short JSON summary."""
    import cv2

    from calibration import report
    from calibration.detect import detect_images, expand_inputs
    from calibration.errors import MatchError
    from calibration.uncalibrated import rectify_uncalibrated
    from calibration.uncalibrated_io import (
        uncalibrated_summary,
        write_uncalibrated_opencv_yaml,
        write_uncalibrated_ros,
    )
    from calibration.uncalibrated_matches import board_matches, load_camera, match_keypoints

    single = args.left is not None or args.right is not None
    board = args.pairs_left is not None or args.pairs_right is not None
    if single == board or (single and not (args.left and args.right)) or (
        board and not (args.pairs_left and args.pairs_right)
    ):  # fmt: skip
        msg = "give --left and --right (keypoints), or --pairs-left and --pairs-right (a board)"
        raise MatchError(msg)
    _check_ros_outputs(args, need_cameras=True)
    if single:
        image = cv2.imread(args.left, cv2.IMREAD_GRAYSCALE)
        if image is None:
            msg = f"{args.left}: cannot read the image"
            raise MatchError(msg)
        size = (image.shape[1], image.shape[0])
        matches = match_keypoints(args.left, args.right)
    else:
        if not (args.board or args.charuco or args.chessboard):
            msg = "--pairs-left/--pairs-right need the board: --chessboard, --charuco or --board"
            raise MatchError(msg)
        spec = spec_of(args)
        left = detect_images(expand_inputs([args.pairs_left]), spec, workers=args.workers)
        right = detect_images(expand_inputs([args.pairs_right]), spec, workers=args.workers)
        size = left.image_size
        matches = board_matches(left, right)
    cams = [
        None if p is None else load_camera(p, image_size=size)
        for p in (args.left_camera, args.right_camera)
    ]
    result = rectify_uncalibrated(
        matches.left, matches.right, size, left_cam=cams[0], right_cam=cams[1],
        rng_seed=args.seed,
    )  # fmt: skip
    s = uncalibrated_summary(result)
    if args.out:
        write_uncalibrated_opencv_yaml(result, args.out)
    if args.ros_out_left:
        write_uncalibrated_ros(result, args.ros_out_left, args.ros_out_right)
    save_json(s, args.json)
    if args.report:
        report.write_summary_page(
            s, args.report, title="Uncalibrated rectification",
            keys=("matches", "inliers", "dy_rms_px", "dy_median_px", "dy_rms_all_px",
                  "dy_median_all_px", "chosen", "undistorted"),
            tables={"Candidates": s["candidates"]}, figures=_uncalibrated_figures(result, s),
        )  # fmt: skip
    keys = ("matches", "dy_rms_px", "dy_median_px", "inliers", "chosen", "undistorted")
    print_summary({k: s[k] for k in keys}, s, args.json)
    return 0


def _check_ros_outputs(args: argparse.Namespace, *, need_cameras: bool) -> None:
    """Refuse a half ROS pair, or (``need_cameras``) one without both intrinsics, before any
    work is done."""
    from calibration.errors import OutputError

    if bool(args.ros_out_left) != bool(args.ros_out_right):
        msg = "give both --ros-out-left and --ros-out-right (a stereo pair's two files)"
        raise OutputError(msg)
    if need_cameras and args.ros_out_left and not (args.left_camera and args.right_camera):
        from calibration.uncalibrated_io import NEED_CAMERAS

        raise OutputError(NEED_CAMERAS)


STEREO_EXAMPLE = """\
example:
  adas-calibrate stereo --left 'stereo/left*.jpg' --right 'stereo/right*.jpg' \\
      --chessboard 9x6 --square 1 --out stereo.yaml --ros-out-left left_info.yaml \\
      --ros-out-right right_info.yaml --json stereo.json --report stereo.html
  -> {"pairs": 13, "used": 13, "rejected": [], "rms_px": 0.255, "baseline": 3.314,
      "rectified_dy_rms_px": 0.172, "rectified_dy_p95_px": 0.32}

Pairs are matched by name (left01.jpg with right01.jpg), corners by id (ChArUco partial
views: the ids both images see). Each camera is calibrated alone first (its outlier views
rejected), then the pair jointly (--fix-intrinsics keeps the mono intrinsics); pairs whose
stereo error stands out are rejected with the reason. rectified_dy_* is the vertical
disparity of corresponding corners after rectification, on each pair held out of the
calibration (leave-one-pair-out); the in-sample figure is in the JSON too.

Fisheye: --model fisheye (both cameras) or a mixed pair, e.g. --model fisheye --right-model
pinhole5. A pair with a fisheye is rectified to a pinhole view at the cameras' own focal
length (about 99 degrees wide for a 150-degree 1280 x 800 fisheye); --fov-deg widens it.
"""

RIG_EXAMPLE = """\
example:
  adas-calibrate rig --camera cam1 'charuco_3cam/1/*.jpg' --camera cam2 'charuco_3cam/2/*.jpg' \\
      --camera cam3 'charuco_3cam/3/*.jpg' --charuco 20x20 --square 0.004 --marker 0.0032 \\
      --dict DICT_4X4_1000 --out rig.yaml --json rig.json --report rig.html
  -> {"reference": "cam1", "rms_px": 1.34, "cameras": {"cam1": {"fx": 2844.7, ...}, ...},
      "loop_closure": [{"cameras": ["cam1", "cam2", "cam3"], "rotation_deg": 0.097, ...}]}

Each camera is calibrated at its own resolution; views are matched across cameras by file
name (cal1.jpg of every camera is one instant). Pairwise extrinsics come from the views two
cameras share, chained from the reference (the first --camera) and refined jointly over all
cameras and board poses. Every pair sharing views is rectified to a common size (the smaller
camera's, or --common-size) and its rows' disparity reported. --model sets every camera's
lens model, --camera-model NAME fisheye one camera's (mixed rigs).
"""


MODELS = ("pinhole5", "pinhole8", "fisheye")


def add_stereo_parsers(sub: Any) -> None:
    """The ``stereo`` and ``rig`` subcommands' arguments."""
    fmt = argparse.RawDescriptionHelpFormatter
    s = sub.add_parser(
        "stereo", help="calibrate a stereo pair and rectify it", description=STEREO_EXAMPLE,
        formatter_class=fmt,
    )  # fmt: skip
    s.add_argument("--left", required=True, metavar="GLOB", help="left images")
    s.add_argument("--right", required=True, metavar="GLOB", help="right images")
    board_args(s, spec_file=True)
    s.add_argument("--model", choices=MODELS, default="pinhole5", help="both cameras' model")
    s.add_argument("--right-model", choices=MODELS, help="the right camera's, if not --model")
    s.add_argument(
        "--fov-deg", type=float, help="rectified horizontal view of a pair with a fisheye"
    )
    s.add_argument("--fix-intrinsics", action="store_true", help="keep the mono intrinsics")
    s.add_argument("--alpha", type=float, default=-1.0, help="rectification scaling (-1: auto)")
    s.add_argument("--out", metavar="stereo.yaml", help="OpenCV YAML (K1 D1 ... R1 P1 Q)")
    s.add_argument("--ros-out-left", metavar="left_info.yaml", help="ROS camera_info, left")
    s.add_argument("--ros-out-right", metavar="right_info.yaml", help="ROS camera_info, right")
    s.add_argument("--no-heldout", action="store_true", help="skip leave-one-pair-out")
    output_args(s)

    r = sub.add_parser(
        "rig", help="calibrate a multi-camera rig", description=RIG_EXAMPLE, formatter_class=fmt
    )
    r.add_argument(
        "--camera", nargs=2, action="append", required=True, metavar=("NAME", "GLOB"),
        help="a camera and its images (repeat; the first is the reference)",
    )  # fmt: skip
    board_args(r, spec_file=True, array=True)
    r.add_argument("--model", choices=MODELS, default="pinhole5", help="every camera's model")
    r.add_argument(
        "--camera-model", nargs=2, action="append", default=[], metavar=("NAME", "MODEL"),
        help="one camera's model, if not --model (repeat)",
    )  # fmt: skip
    r.add_argument("--common-size", nargs=2, type=int, metavar=("W", "H"), help="rectified size")
    r.add_argument("--out", metavar="rig.yaml", help="OpenCV YAML: K, D, R, T per camera")
    r.add_argument("--ros-out-dir", metavar="DIR", help="ROS camera_info per camera")
    output_args(r)


def run_stereo(args: argparse.Namespace, spec: Any) -> int:
    """Detect both sides, calibrate, rectify, write; prints the contract keys."""
    from calibration import report
    from calibration.detect import detect_images, expand_inputs
    from calibration.intrinsics import calibrate
    from calibration.stereo import calibrate_stereo, rectify
    from calibration.stereo_io import stereo_summary, write_stereo_opencv_yaml, write_stereo_ros

    _check_ros_outputs(args, need_cameras=False)
    sets = [
        detect_images(expand_inputs([g]), spec, workers=args.workers)
        for g in (args.left, args.right)
    ]
    fixed = None
    if args.fix_intrinsics:
        right_model = args.right_model or args.model
        fixed = (
            calibrate(sets[0].detected, sets[0].image_size, args.model, heldout=False),
            calibrate(sets[1].detected, sets[1].image_size, right_model, heldout=False),
        )
    result = calibrate_stereo(
        sets[0], sets[1], model=args.model, right_model=args.right_model, fix_intrinsics=fixed,
        heldout=not args.no_heldout, alpha=args.alpha, fov_deg=args.fov_deg,
    )  # fmt: skip
    rect = rectify(result)
    s = stereo_summary(result, rect)
    if args.out:
        write_stereo_opencv_yaml(result, rect, args.out)
    if args.ros_out_left:
        write_stereo_ros(result, rect, args.ros_out_left, args.ros_out_right)
    save_json(s, args.json)
    if args.report:
        report.write_summary_page(
            s, args.report, title="Stereo calibration",
            keys=("pairs", "used", "rejected", "rms_px", "baseline", "rectified_dy_rms_px",
                  "rectified_dy_p95_px", "rectified_dy_insample_rms_px", "model",
                  "rectified_view_deg"),
            tables={"Per pair": s.get("per_pair", []), "Rejected": s["rejections"],
                    "Skipped": s["skipped"]},
            figures=_stereo_figures(result, s),
        )  # fmt: skip
    keys = ("pairs", "used", "rejected", "rms_px", "baseline", "rectified_dy_rms_px")
    print_summary({k: s[k] for k in (*keys, "rectified_dy_p95_px")}, s, args.json)
    return 0


def run_rig(args: argparse.Namespace, spec: Any) -> int:
    """Detect every camera's images, calibrate the rig, write; prints the short summary."""
    from calibration import cli_array, io, report
    from calibration.errors import CalibrationError
    from calibration.rig import calibrate_rig
    from calibration.rig_io import rig_summary, write_rig_opencv_yaml

    names = [n for n, _ in args.camera]
    if len(set(names)) != len(names):
        msg = f"camera names must differ: {names}"
        raise CalibrationError(msg)
    unknown = sorted({n for n, _ in args.camera_model} - set(names))
    bad = sorted({m for _, m in args.camera_model} - set(MODELS))
    if unknown or bad:
        msg = f"--camera-model: unknown cameras {unknown} or models {bad} (models: {MODELS})"
        raise CalibrationError(msg)
    sets, given = cli_array.rig_inputs(args, spec)  # with --array-spec: intrinsics from it
    result = calibrate_rig(
        sets, model={n: args.model for n in names} | dict(args.camera_model), intrinsics=given,
        common_size=tuple(args.common_size) if args.common_size else None,
    )  # fmt: skip
    s = rig_summary(result)
    if args.out:
        write_rig_opencv_yaml(result, args.out)
    if args.ros_out_dir:
        Path(args.ros_out_dir).mkdir(parents=True, exist_ok=True)
        for n, cam in result.cameras.items():
            path = Path(args.ros_out_dir) / f"{n}.yaml"
            io.write_ros_camera_info(cam.intrinsics, path, camera_name=n)
    save_json(s, args.json)
    if args.report:
        cams = [{"camera": n} | {k: v for k, v in c.items() if not isinstance(v, dict | list)}
                for n, c in s["cameras"].items()]  # fmt: skip
        report.write_summary_page(
            s, args.report, title="Rig calibration", keys=("reference", "rms_px", "unconnected"),
            tables={"Cameras": cams, "Pairs": s["pairs"], "Loop closure": s["loop_closure"]},
            figures=_rig_figures(result, s),
        )  # fmt: skip
    short = {
        "reference": s["reference"],
        "rms_px": s["rms_px"],
        "fx": {n: c["fx"] for n, c in s["cameras"].items()},
        "joint_rms_px": {n: c["joint_rms_px"] for n, c in s["cameras"].items()},
        "loop_closure": s["loop_closure"],
    }
    print_summary(short, s, args.json)
    return 0


def _coverage(title: str, coverage: Any, size: tuple[int, int]) -> dict[str, str]:
    from calibration.report import coverage_svg

    return {title: coverage_svg(coverage.tolist(), size)}


def _uncalibrated_figures(result: Any, s: dict[str, Any]) -> dict[str, str]:
    """Row misalignment of every candidate F (red: not acceptable), where the matches lie."""
    from calibration.coverage import coverage_of_points
    from calibration.report import bars

    size = result.image_size
    return {
        "Row misalignment per candidate, px (blue: acceptable, red: not)": bars(
            [(c["name"], c["dy_rms_px"], None, c["acceptable"]) for c in s["candidates"]]
        ),
        **_coverage("Matches per cell, left image", coverage_of_points(result.matches.left, size),
                    size),
    }  # fmt: skip


def _stereo_figures(result: Any, s: dict[str, Any]) -> dict[str, str]:
    """Per-pair stereo RMS and rectified dy, and each camera's coverage."""
    from calibration.report import bars

    threshold = min((r.threshold_px for r in result.rejected), default=None)
    pairs = s["per_pair"]
    return {
        "Stereo RMS per pair, px (red: rejected, with its threshold)": bars(
            [(p["name"], p["rms_px"], None, p["used"]) for p in pairs], threshold
        ),
        "Rectified dy RMS per pair, px (blue: in sample, grey: the pair held out)": bars(
            [(p["name"], p["dy_rms_px"], p["heldout_dy_rms_px"], p["used"]) for p in pairs]
        ),
        **_coverage("Coverage, left", result.left.coverage, result.left.image_size),
        **_coverage("Coverage, right", result.right.coverage, result.right.image_size),
    }


def _rig_figures(result: Any, s: dict[str, Any]) -> dict[str, str]:
    """Each camera's RMS in the joint fit against alone, pairs' dy, each camera's coverage."""
    from calibration.report import bars

    cams = s["cameras"]
    out = {
        "RMS per camera, px (blue: joint fit, grey: the camera alone)": bars(
            [(n, c["joint_rms_px"], c["rms_px"], True) for n, c in cams.items()]
        ),
        "Rectified dy RMS per pair, px (in sample)": bars(
            [
                ("-".join(p["cameras"]), p["rectified_dy_insample_rms_px"], None, True)
                for p in s["pairs"]
            ]
        ),
    }
    for name, cam in result.cameras.items():
        out |= _coverage(f"Coverage, {name}", cam.intrinsics.coverage, cam.intrinsics.image_size)
    return out
