"""The ``adas-calibrate`` command: board, intrinsics, stereo, rectify-uncalibrated, rig, mount,
and bench (this package against OpenCV used directly).

Arguments are parsed before OpenCV is imported, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from adas.cli.common import VersionAction
from calibration import cli_array, cli_mount, cli_outputs, cli_pairs
from calibration.cli_args import board_args, output_args, print_summary, save_json

if TYPE_CHECKING:
    from calibration.boards import BoardSpec

BOARD_EXAMPLE = """\
example:
  adas-calibrate board --charuco 7x5 --square 0.030 --marker 0.022 --dict DICT_5X5_100 \\
      --dpi 300 --out board_a4
  -> board_a4.png (300 dpi, 2717 x 2008 px = 230 x 170 mm), board_a4.svg, board_a4.json

Writes the printable board (PNG with its dpi, SVG in millimetres), parameters in the margin,
and the board spec JSON that `intrinsics --board` reads. Print at 100 % and measure a square.
"""

BENCH_EXAMPLE = """\
example:
  adas-calibrate bench --data ../shared/data --json calibration_bench.json
  -> {"benchmark": "calibration", ..., "opencv_stereo": {"ours": {...},
      "opencv_sample_recipe": {...}}, "charuco_3cam": {"ours": {...}, "opencv_default": {...}}}

Runs this package and OpenCV used directly (its stereo_calib.cpp recipe on the chessboard
pairs, a default CharucoDetector on the 3-camera set) on the same images in one process and
prints both sets of figures with issue 8's targets beside them. About two minutes.
"""

INTRINSICS_EXAMPLE = """\
example:
  adas-calibrate intrinsics cam1/*.jpg --charuco 20x20 --square 0.004 --marker 0.0032 \\
      --dict DICT_4X4_1000 --out cam1.yaml --ros-out cam1_info.yaml --json cam1.json \\
      --report cam1.html
  -> {"images": 22, "used": 16, "rejected": ["cal13.jpg", "cal15.jpg"], "rms_px": 0.92, ...}

  adas-calibrate intrinsics left*.jpg --chessboard 9x6 --square 0.025 --out left.yaml

Detects corners in every image (ChArUco: partial views, legacy or modern layout found
automatically; chessboards: the whole board), calibrates, rejects outlier views (listed in
"rejected" with the reason), reports the held-out error, parameter standard deviations and a
coverage map. The YAML files load in `adas` (adas.camera.CameraModel).

"projection_uncertainty": the 1-sigma pixel error of a point at each --uncertainty-depth
(metres if --square is) over the image and over the band where adas detects vehicles, from
the fit's covariance; the --out YAML carries the covariance on to `mount`, which turns it
into a ground-range 1 sigma at 20, 40 and 60 m.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no heavy imports)."""
    p = argparse.ArgumentParser(
        prog="adas-calibrate",
        description="Camera calibration for adas: boards, intrinsics, stereo pairs, "
        "uncalibrated rectification, multi-camera rigs and the camera's mount on the vehicle. "
        "Run `adas-calibrate COMMAND --help` for an example of each.",
    )
    p.add_argument("--version", action=VersionAction)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    b = sub.add_parser(
        "board", help="write a printable board and its spec (or an array of boards)",
        description=BOARD_EXAMPLE + "\n" + cli_array.ARRAY_EXAMPLE, formatter_class=fmt,
    )  # fmt: skip
    board_args(b, spec_file=False)
    b.add_argument("--out", required=True, metavar="STEM", help="writes STEM.png/.svg/.json")
    b.add_argument("--dpi", type=float, default=300.0, help="PNG resolution (%(default)s)")
    b.add_argument("--margin", type=float, default=0.01, metavar="M", help="white margin, m")
    cli_array.add_board_args(b)

    i = sub.add_parser(
        "intrinsics", help="calibrate one camera from board images",
        description=INTRINSICS_EXAMPLE, formatter_class=fmt,
    )  # fmt: skip
    i.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    board_args(i, spec_file=True, array=True)
    cli_array.add_intrinsics_args(i)
    i.add_argument("--model", choices=("pinhole5", "pinhole8", "fisheye"), default="pinhole5")
    cli_outputs.add_args(i)
    output_args(i)
    i.add_argument("--min-corners", type=int, default=6, help="fewest corners per view")
    i.add_argument("--reject-factor", type=float, default=3.0, help="x median view RMS")
    i.add_argument("--no-reject", action="store_true", help="keep every detected view")
    i.add_argument("--no-heldout", action="store_true", help="skip leave-one-out (faster)")
    i.add_argument(
        "--chessboard-method", choices=("auto", "classic"), default="auto",
        help="auto: findChessboardCornersSB with classic fallback; classic: only the classic",
    )  # fmt: skip

    cli_mount.add_parser(sub)
    cli_pairs.add_uncalibrated_parser(sub)
    cli_pairs.add_stereo_parsers(sub)

    bench = sub.add_parser(
        "bench", help="accuracy on the shared sets against OpenCV used directly (JSON)",
        description=BENCH_EXAMPLE, formatter_class=fmt,
    )  # fmt: skip
    bench.add_argument(
        "--data", required=True, metavar="DIR", help="the shared data folder (with calibration/)"
    )
    bench.add_argument(
        "--json", metavar="PATH", help="also write the JSON to PATH ('-': stdout, indented)"
    )
    bench.add_argument("--workers", type=int, default=2, help="detection threads (2)")
    return p


def _spec(args: argparse.Namespace) -> BoardSpec:
    from calibration.boards import BoardKind, BoardSpec, parse_grid
    from calibration.errors import BoardSpecError

    if getattr(args, "board", None):
        return BoardSpec.load(args.board)
    if args.square is None:
        msg = "--square (metres) is required with --charuco or --chessboard"
        raise BoardSpecError(msg)
    legacy = {"auto": None, "modern": False, "legacy": True}[args.layout]
    if args.chessboard:
        cols, rows = parse_grid(args.chessboard, "--chessboard")
        return BoardSpec(BoardKind.CHESSBOARD, cols + 1, rows + 1, args.square)
    sx, sy = parse_grid(args.charuco, "--charuco")
    if args.marker is None:
        msg = "--marker (metres) is required with --charuco"
        raise BoardSpecError(msg)
    return BoardSpec(BoardKind.CHARUCO, sx, sy, args.square, args.marker, args.dict, legacy)


def _cmd_board(args: argparse.Namespace) -> int:
    from calibration.boards import write_board

    if args.array:
        return cli_array.run_board(args, _spec(args))
    files = write_board(_spec(args), args.out, dpi=args.dpi, margin_m=args.margin)
    w, h = files.png_size_px
    print(f"{files.png} ({w} x {h} px at {args.dpi:g} dpi)\n{files.svg}\n{files.spec}")
    return 0


def _cmd_intrinsics(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from calibration.detect import detect_images, expand_inputs
    from calibration.intrinsics import calibrate

    spec = _spec(args)
    paths = expand_inputs(args.images)
    with tqdm(total=len(paths), desc="detect", unit="img", file=sys.stderr) as bar:
        dets = detect_images(
            paths, spec, workers=args.workers, min_corners=args.min_corners,
            chessboard=args.chessboard_method, on_image=lambda: bar.update(1),
        )  # fmt: skip
    result = calibrate(
        dets.detected, dets.image_size, args.model, reject=not args.no_reject,
        factor=args.reject_factor, heldout=not args.no_heldout,
    )  # fmt: skip
    return cli_outputs.write_intrinsics(args, result, dets)


def _cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from calibration.bench import bench_calibration

    report = bench_calibration(Path(args.data), workers=args.workers)
    save_json(report, args.json)
    print_summary(report, report, args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 calibration error, 2 usage)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from calibration.errors import CalibrationError

    handlers = {
        "board": _cmd_board,
        "intrinsics": lambda a: cli_array.run_intrinsics(a) if a.array_spec else _cmd_intrinsics(a),
        "mount": lambda a: cli_mount.run(a, _spec(a)),
        "rectify-uncalibrated": lambda a: cli_pairs.run_uncalibrated(a, _spec),
        "stereo": lambda a: cli_pairs.run_stereo(a, _spec(a)),
        "rig": lambda a: cli_pairs.run_rig(a, None if a.array_spec else _spec(a)),
        "bench": _cmd_bench,
    }
    try:
        return handlers[args.command](args)
    except CalibrationError as exc:
        print(f"adas-calibrate {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
