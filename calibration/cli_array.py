"""Board arrays on the command line: ``board --array``, ``intrinsics --array-spec`` and
``rig --array-spec`` (parsed in :mod:`calibration.cli` and :mod:`calibration.cli_pairs`; the
work is in :mod:`calibration.board_array`, :mod:`calibration.array_fit` and
:func:`calibration.detect.detect_array_images`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from calibration.cli_outputs import write_intrinsics

if TYPE_CHECKING:
    from calibration.array_fit import ArrayResult
    from calibration.board_array import ArraySpec
    from calibration.boards import BoardSpec
    from calibration.detect import DetectionSet

ARRAY_EXAMPLE = """\
board array:
  adas-calibrate board --charuco 14x10 --square 0.020 --marker 0.015 --array 3x2 \\
      --tilt-deg 30 --spacing 0.02 --out rig_target
  -> rig_target_b0.png/.svg/.json ... rig_target_b5.*, rig_target.json (the array spec)

Each board prints its own marker ids (board b: ids b x markers-per-board onwards), so every
corner has a global id. Default tilts alternate axis and sign (y+A, x+A, y-A, x-A, ...);
--tilts gives one per board instead (row-major). `intrinsics --array-spec rig_target.json`
calibrates from one image of the built array; its summary has the same
"projection_uncertainty" and its --out YAML the same covariance for `mount` as a board
calibration's (with --estimate-board-poses the estimated board poses' uncertainty included).
"""


def add_board_args(b: argparse.ArgumentParser) -> None:
    """``board``'s array flags."""
    g = b.add_argument_group("board array (see the example above)")
    g.add_argument("--array", metavar="COLSxROWS", help="write an array of boards, e.g. 3x2")
    g.add_argument("--tilt-deg", type=float, default=30.0, help="tilt of each board (%(default)s)")
    g.add_argument("--tilts", metavar="LIST", help="per-board tilts, e.g. y30,x30,y-30,x-30")
    g.add_argument("--spacing", type=float, default=0.02, metavar="M", help="gap, m (%(default)s)")


def add_intrinsics_args(i: argparse.ArgumentParser) -> None:
    """``intrinsics``' array flag beside ``--array-spec`` (which is in the board group)."""
    i.add_argument(
        "--estimate-board-poses", action="store_true",
        help="with --array-spec and 2+ images: fit each board's pose in the array (bundle "
        "adjustment) and report its offset from the design",
    )  # fmt: skip


def run_board(args: argparse.Namespace, spec: BoardSpec) -> int:
    """Write every board of the array and the array spec; prints the paths."""
    from calibration.board_array import alternate_tilts, design_array, parse_tilts, write_array
    from calibration.boards import parse_grid

    grid = parse_grid(args.array, "--array")
    n = grid[0] * grid[1]
    tilts = parse_tilts(args.tilts, n) if args.tilts else alternate_tilts(n, args.tilt_deg)
    array = design_array(spec, grid, tilts, spacing_m=args.spacing)
    files = write_array(array, args.out, dpi=args.dpi, margin_m=args.margin)
    for f in files.boards:
        print(f"{f.png} ({f.png_size_px[0]} x {f.png_size_px[1]} px at {args.dpi:g} dpi) {f.svg}")
    print(files.spec)
    return 0


def array_summary(result: ArrayResult) -> dict[str, Any]:
    """The ``array`` part of the JSON summary: board poses and offsets, held-out mode."""
    return {
        "heldout": result.heldout,
        "covariance_over": (
            f"intrinsics, {len(result.views)} image(s)' array pose"
            + (f", {len(result.free)} estimated board poses" if result.free
               else "; board poses as designed, taken as exact")
        ),
        "boards": [
            {
                "board": b.index, "corners": b.corners, "estimated": b.estimated,
                "offset_mm": round(b.offset_mm, 4), "offset_deg": round(b.offset_deg, 4),
                "rotation_vector_rad": b.rvec.tolist(), "translation_m": b.tvec.tolist(),
            }
            for b in result.boards
        ],
    }  # fmt: skip


def _detect(args: argparse.Namespace, array: ArraySpec, images: list[str]) -> DetectionSet:
    from tqdm import tqdm

    from calibration.detect import detect_array_images, expand_inputs

    paths = expand_inputs(images)
    with tqdm(total=len(paths), desc="detect", unit="img", file=sys.stderr) as bar:
        return detect_array_images(
            paths, array, workers=args.workers, min_corners=getattr(args, "min_corners", 6),
            on_image=lambda: bar.update(1),
        )  # fmt: skip


def run_intrinsics(args: argparse.Namespace) -> int:
    """``intrinsics --array-spec``: detect, calibrate, write the same outputs as ``intrinsics``."""
    from calibration.array_fit import array_covariance, calibrate_array
    from calibration.board_array import ArraySpec

    array = ArraySpec.load(args.array_spec)
    dets = _detect(args, array, args.images)
    result = calibrate_array(
        dets.detected, dets.image_size, array, args.model,
        estimate_poses=args.estimate_board_poses, heldout=not args.no_heldout,
    )  # fmt: skip
    offsets = [round(b.offset_mm, 4) for b in result.boards]
    return write_intrinsics(
        args, result.intrinsics, dets, covariance=lambda: array_covariance(result),
        extra={"array": array_summary(result)}, short_keys=("std",),
        short_extra={"board_offsets_mm": offsets},
    )  # fmt: skip


def rig_inputs(args: argparse.Namespace, spec: Any) -> tuple[dict[str, DetectionSet], dict]:
    """``rig``'s detections per camera and, with ``--array-spec``, each camera's intrinsics
    from the array (``calibrate_rig`` then uses them instead of its flat-board calibration)."""
    from calibration.detect import detect_images, expand_inputs

    if not getattr(args, "array_spec", None):
        sets = {n: detect_images(expand_inputs([g]), spec, workers=args.workers)
                for n, g in args.camera}  # fmt: skip
        return sets, {}
    from calibration.array_fit import calibrate_array
    from calibration.board_array import ArraySpec

    array = ArraySpec.load(args.array_spec)
    sets = {n: _detect(args, array, [g]) for n, g in args.camera}
    model = {n: args.model for n, _ in args.camera} | dict(getattr(args, "camera_model", []))
    cams = {
        n: calibrate_array(s.detected, s.image_size, array, model[n]).intrinsics
        for n, s in sets.items()
    }
    return sets, cams
