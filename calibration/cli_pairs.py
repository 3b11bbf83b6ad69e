"""``adas-calibrate rectify-uncalibrated``, ``stereo`` and ``rig``: commands on image pairs.

Parsed in :mod:`calibration.cli` (no heavy imports there); the work is in
:mod:`calibration.uncalibrated`, :mod:`calibration.stereo` and :mod:`calibration.rig`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

UNCALIBRATED_EXAMPLE = """\
example:
  adas-calibrate rectify-uncalibrated --pairs-left 'stereo/left*.jpg' \\
      --pairs-right 'stereo/right*.jpg' --chessboard 9x6 --square 1 \\
      --left-camera left.yaml --right-camera right.yaml --out rect.yaml --json rect.json
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
"""


def add_uncalibrated_parser(sub: Any, board_args: Any) -> None:
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
    u.add_argument("--json", metavar="OUT.json", help="JSON summary")
    u.add_argument("--report", metavar="OUT.html", help="HTML report")
    u.add_argument("--seed", type=int, default=0, help="random subsets' seed (%(default)s)")
    u.add_argument("--workers", type=int, default=2, help="detection threads (%(default)s)")


def run_uncalibrated(args: argparse.Namespace, spec_of: Any) -> int:
    """Match, rectify, write; prints the short JSON summary."""
    import cv2

    from calibration import io, report
    from calibration.detect import detect_images, expand_inputs
    from calibration.errors import MatchError
    from calibration.uncalibrated import (
        board_matches,
        load_camera,
        match_keypoints,
        rectify_uncalibrated,
        summary,
    )

    single = args.left is not None or args.right is not None
    board = args.pairs_left is not None or args.pairs_right is not None
    if single == board or (single and not (args.left and args.right)) or (
        board and not (args.pairs_left and args.pairs_right)
    ):  # fmt: skip
        msg = "give --left and --right (keypoints), or --pairs-left and --pairs-right (a board)"
        raise MatchError(msg)
    if single:
        image = cv2.imread(args.left, cv2.IMREAD_GRAYSCALE)
        if image is None:
            msg = f"{args.left}: cannot read the image"
            raise MatchError(msg)
        size = (image.shape[1], image.shape[0])
        matches = match_keypoints(args.left, args.right)
    else:
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
    s = summary(result)
    if args.out:
        _write_homographies(result, args.out)
    if args.json:
        io.write_json(s, args.json)
    if args.report:
        report.write_summary_page(
            s, args.report, title="Uncalibrated rectification",
            keys=("matches", "inliers", "dy_rms_px", "dy_median_px", "dy_rms_all_px",
                  "dy_median_all_px", "chosen", "undistorted"),
            tables={"Candidates": s["candidates"]},
        )  # fmt: skip
    keys = ("matches", "dy_rms_px", "dy_median_px", "inliers", "chosen", "undistorted")
    print(json.dumps({k: s[k] for k in keys}))
    return 0


def _write_homographies(result: Any, path: str | Path) -> None:
    """OpenCV YAML: image size, F, H1, H2 and, for a known camera, K, D and R = K^-1 H K with
    P = K (what ``cv2.initUndistortRectifyMap`` takes to undistort and rectify at once)."""
    import cv2
    import numpy as np

    from calibration.errors import OutputError

    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
    if not fs.isOpened():
        msg = f"{path}: cannot open for writing"
        raise OutputError(msg)
    try:
        fs.write("image_width", int(result.image_size[0]))
        fs.write("image_height", int(result.image_size[1]))
        fs.write("F", np.asarray(result.chosen.F, np.float64))
        fs.write("H1", np.asarray(result.chosen.H1, np.float64))
        fs.write("H2", np.asarray(result.chosen.H2, np.float64))
        for i, (H, cam) in enumerate(
            ((result.chosen.H1, result.left_cam), (result.chosen.H2, result.right_cam)), 1
        ):
            if cam is None:
                continue
            K, dist = np.asarray(cam[0], np.float64), np.asarray(cam[1], np.float64)
            fs.write(f"K{i}", K)
            fs.write(f"D{i}", dist.reshape(-1, 1))
            fs.write(f"R{i}", np.linalg.inv(K) @ np.asarray(H, np.float64) @ K)
            fs.write(f"P{i}", np.hstack([K, np.zeros((3, 1))]))
    finally:
        fs.release()
