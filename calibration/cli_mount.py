"""``adas-calibrate mount``: the camera's height and angles from a board at a measured place.

Parsed in :mod:`calibration.cli` (no heavy imports there); the work is in
:mod:`calibration.mount`.
"""

from __future__ import annotations

import argparse
from typing import Any

from calibration.cli_args import board_args, output_args, print_summary, save_json

MOUNT_EXAMPLE = """\
example:
  adas-calibrate mount road*.png --camera front.yaml --charuco 8x6 --square 0.15 \\
      --marker 0.11 --dict DICT_4X4_50 --on-ground 1.6 0.85 --board-yaw-deg -90 \\
      --thickness 0.005 --out mount.toml --yaml-out mount.yaml --json mount.json \\
      --report mount.html
  -> {"images": 3, "used": 3, "height_m": 1.3513, "pitch_deg": 6.5203, "roll_deg": 1.2264,
      "yaw_deg": -1.9797, "behind_bumper_m": 1.9001, "lateral_m": 0.2485, "rms_px": 0.2546}
  (rendered views of a camera mounted at 1.35 m, pitch 6.5, roll 1.2, yaw -2.0 deg)

The board lies face up on the road (--on-ground X Y: its origin corner in vehicle axes, x
forward of the front bumper, y to the left, metres) or stands facing the car (--standing X
Y Z, its top-left corner as seen from the car). The origin is the board's top-left outer
corner as printed; --board-yaw-deg is the angle of the board's x axis (along the columns)
from the vehicle's x axis, positive to the left: -90 when the board reads upright from the
car. mount.toml holds the [mount] section `adas --config` reads. The standard deviations
cover corner noise only, not errors in the measured board position.

"ground_range" (full JSON): the 1-sigma flat-ground range error at 20, 40 and 60 m from the
mount's corner noise and, when the camera file came from `intrinsics --out` (it carries the
covariance), the intrinsics' uncertainty too, with "supported": whether that meets the
stack's ranging targets (the rule is in the JSON).
"""


def add_parser(sub: Any) -> None:
    """The ``mount`` subcommand's arguments."""
    m = sub.add_parser(
        "mount",
        help="camera height, pitch, roll, yaw from a board on the road",
        description=MOUNT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    m.add_argument(
        "--camera", required=True, metavar="camera.yaml",
        help="intrinsics: `adas-calibrate intrinsics --out` (OpenCV) or --ros-out file",
    )  # fmt: skip
    board_args(m, spec_file=True)
    where = m.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--on-ground", nargs=2, type=float, metavar=("X", "Y"),
        help="board face up on the road, origin corner at X, Y metres (vehicle axes)",
    )  # fmt: skip
    where.add_argument(
        "--standing", nargs=3, type=float, metavar=("X", "Y", "Z"),
        help="board upright facing the car, top-left corner at X, Y, Z metres",
    )  # fmt: skip
    m.add_argument("--board-yaw-deg", type=float, default=0.0, help="board x axis vs vehicle x")
    m.add_argument("--tilt-deg", type=float, default=0.0, help="standing: top leaning away")
    m.add_argument("--thickness", type=float, default=0.0, metavar="M", help="on the ground")
    m.add_argument("--out", metavar="mount.toml", help="the [mount] section adas reads")
    m.add_argument(
        "--yaml-out", metavar="mount.yaml",
        help="OpenCV YAML: the camera and R_vehicle_camera, t_vehicle_camera",
    )  # fmt: skip
    output_args(m)
    m.add_argument("--min-corners", type=int, default=6, help="fewest corners per image")


def run(args: argparse.Namespace, spec: Any) -> int:
    """Detect, solve, write; prints the short JSON summary."""
    from calibration import report
    from calibration.detect import detect_images, expand_inputs
    from calibration.ground_range import band_projection, range_uncertainty
    from calibration.mount import BoardPlacement, estimate_mount, load_intrinsics
    from calibration.mount_io import summary, write_mount_opencv_yaml, write_mount_toml

    camera = load_intrinsics(args.camera)
    if args.on_ground is not None:
        x, y = args.on_ground
        placement = BoardPlacement.on_ground(x, y, args.board_yaw_deg, args.thickness)
    else:
        x, y, z = args.standing
        placement = BoardPlacement.standing(x, y, z, args.board_yaw_deg, args.tilt_deg)
    dets = detect_images(
        expand_inputs(args.images), spec, workers=args.workers, min_corners=args.min_corners
    )
    camera.check_image_size(dets.image_size)
    result = estimate_mount(
        dets.detections, camera.K, camera.dist, camera.model, placement,
        min_corners=args.min_corners,
    )  # fmt: skip
    s = summary(result)
    s["ground_range"] = range_uncertainty(camera, result)
    s["projection_uncertainty_band"] = band_projection(camera, result)
    if args.out:
        write_mount_toml(result, args.out)
    if args.yaml_out:
        write_mount_opencv_yaml(result, camera, args.yaml_out)
    save_json(s, args.json)
    if args.report:
        report.write_summary_page(
            s, args.report, title="Camera mount",
            keys=("images", "used", "height_m", "pitch_deg", "roll_deg", "yaw_deg",
                  "behind_bumper_m", "lateral_m", "rms_px"),
            tables={"Per image": s["per_image"], "Ground range 1 sigma (rule: "
                    + s["ground_range"]["rule"] + ")": s["ground_range"]["ranges"]},
            figures={
                "Reprojection RMS per image, px (blue: the joint mount, grey: the image alone)":
                report.bars([(e["name"], e["joint_rms_px"], e["rms_px"], True)
                             for e in s["per_image"]]),
            },
        )  # fmt: skip
    drop = ("per_image", "board", "std", "spread", "ground_range", "projection_uncertainty_band")
    short = {k: v for k, v in s.items() if k not in drop}
    short["range_sigma_pct"] = {
        f"{r['range_m']:g}": r["sigma_pct"] for r in s["ground_range"]["ranges"]
    }
    short["supports_ranging_targets"] = s["ground_range"]["supported"]
    print_summary(short, s, args.json)
    return 0
