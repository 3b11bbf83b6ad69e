"""Benchmark: intrinsics error against the number of images, a board array against one flat
board with the same total corner count, over many seeds (synthetic truth, 0.3 px noise).

Run: ``PYTHONPATH=. python -m tests.calibration.bench_array --seeds 20`` (prints JSON).
The array boards are ChArUco 14 x 10 squares of 20 mm (117 corners each); the flat board has
(13 cols) x (9 rows) inner corners per array cell, so the same corners over about the same
extent. Array views: the whole array, turned up to 25 degrees (``synth_array.array_pose``);
flat views: the whole board turned up to 35 degrees about x and y (a flat board needs tilt).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import cv2
import numpy as np

from calibration.array_fit import calibrate_array
from calibration.board_array import ArraySpec, alternate_tilts, design_array
from calibration.boards import BoardKind, BoardSpec
from calibration.detect import Detection
from calibration.intrinsics import DIST_NAMES, Model
from tests.calibration.synth import Camera, projected_detection
from tests.calibration.synth_array import CAMERA, array_pose, projected_array_detection

BOARD = BoardSpec(BoardKind.CHARUCO, 14, 10, 0.02, 0.015)
NOISE_PX = 0.3  # the corner noise
COUNTS = (1, 2, 3, 5)
CASES = (((2, 2), 20.0), ((2, 2), 40.0), ((3, 2), 20.0), ((3, 2), 40.0))
FLAT_TILT_DEG = 35.0
MISBUILT_COUNTS = (2, 3, 5)


def errors(K: np.ndarray, std: dict[str, float], cam: Camera = CAMERA) -> dict[str, float]:
    """|error| of fx, fy (percent), cx, cy (pixels) and the largest |error| / std."""
    T = cam.K
    err = {
        "fx_pct": abs(K[0, 0] / T[0, 0] - 1) * 100,
        "fy_pct": abs(K[1, 1] / T[1, 1] - 1) * 100,
        "cx_px": abs(K[0, 2] - T[0, 2]),
        "cy_px": abs(K[1, 2] - T[1, 2]),
    }
    z = [abs(K[i, j] - T[i, j]) / std[k] for (i, j), k in
         (((0, 0), "fx"), ((1, 1), "fy"), ((0, 2), "cx"), ((1, 2), "cy"))]  # fmt: skip
    return err | {"max_sigma": max(z)}


def array_views(array: ArraySpec, n: int, rng: np.random.Generator) -> list[Detection]:
    """``n`` projected views of the whole array, 0.3 px noise."""
    out = []
    for i in range(n):
        rvec, tvec = array_pose(array, CAMERA, rng)
        out.append(projected_array_detection(f"v{i}", array, CAMERA, rvec, tvec, rng,
                                             noise_px=NOISE_PX))  # fmt: skip
    return out


def flat_views(spec: BoardSpec, n: int, rng: np.random.Generator) -> list[Detection]:
    """``n`` projected views of the whole flat board, tilted (see the module doc)."""
    out: list[Detection] = []
    obj = spec.chessboard_object_points().astype(np.float64)
    centre = obj.mean(axis=0)
    extent = np.ptp(obj[:, :2], axis=0) + 2 * spec.square_m
    while len(out) < n:
        z = max(CAMERA.K[i, i] * extent[i] / (0.8 * CAMERA.size[i]) for i in (0, 1))
        R = cv2.Rodrigues(np.radians(rng.uniform(-FLAT_TILT_DEG, FLAT_TILT_DEG, 3) * [1, 1, 0.3]))[
            0
        ]
        t = np.array([0.0, 0.0, z]) - R @ centre
        det = projected_detection(f"f{len(out)}", spec, CAMERA, cv2.Rodrigues(R)[0].ravel(), t, rng,
                                  noise_px=NOISE_PX)  # fmt: skip
        if det is not None and det.count == len(obj):  # whole board in view
            out.append(det)
    return out


def flat_fit(views: list[Detection]) -> tuple[np.ndarray, dict[str, float]]:
    """OpenCV's calibrateCameraExtended on flat views (no guess: what a user does)."""
    obj = [v.object_points.reshape(-1, 1, 3) for v in views]
    img = [v.image_points.reshape(-1, 1, 2) for v in views]
    out = cv2.calibrateCameraExtended(obj, img, CAMERA.size, None, None)
    names = ("fx", "fy", "cx", "cy", *DIST_NAMES[Model.PINHOLE5])
    return out[1], dict(zip(names, np.asarray(out[5]).ravel(), strict=False))


def _stats(rows: list[dict[str, float]]) -> dict[str, Any]:
    keys = rows[0].keys()
    return {k: {"median": round(float(np.median([r[k] for r in rows])), 4),
                "worst": round(float(np.max([r[k] for r in rows])), 4)} for k in keys}  # fmt: skip


def bench_array(seeds: int = 20) -> dict[str, Any]:
    """The JSON of the module doc."""
    out: dict[str, Any] = {"benchmark": "board_array", "seeds": seeds, "noise_px": NOISE_PX,
                           "camera": {"K": CAMERA.K.tolist(), "size": list(CAMERA.size)},
                           "board": BOARD.describe(), "array": {}, "flat": {}}  # fmt: skip
    for grid, tilt in CASES:
        array = design_array(BOARD, grid, alternate_tilts(grid[0] * grid[1], tilt), spacing_m=0.02)
        key = f"{grid[0]}x{grid[1]}_tilt{tilt:g}"
        out["array"][key] = {"corners_per_image": array.n_boards * array.corners_per_board}
        for n in COUNTS:
            rows = []
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                r = calibrate_array(array_views(array, n, rng), CAMERA.size, array, heldout=False)
                rows.append(errors(r.intrinsics.K, r.intrinsics.std))
            out["array"][key][f"{n}_images"] = _stats(rows)
    for grid in sorted({g for g, _ in CASES}):
        flat = BoardSpec(BoardKind.CHESSBOARD, 13 * grid[0] + 1, 9 * grid[1] + 1, 0.02)
        key = f"same_corners_as_{grid[0]}x{grid[1]}"
        out["flat"][key] = {"corners_per_image": len(flat.chessboard_object_points())}
        for n in COUNTS:
            rows = []
            for seed in range(seeds):
                K, std = flat_fit(flat_views(flat, n, np.random.default_rng(seed)))
                rows.append(errors(K, std))
            out["flat"][key][f"{n}_images"] = _stats(rows)
    out["misbuilt_3x2_tilt30"] = bench_misbuilt(seeds)
    return out


def bench_misbuilt(seeds: int) -> dict[str, Any]:
    """A 3 x 2 array whose boards 1..5 are off their design by N(0, 3 mm) per axis and
    N(0, 1 degree) per rotation axis: designed poses against ``--estimate-board-poses``, with
    the largest error of the estimated board centres (mm) against the truth."""
    array = design_array(BOARD, (3, 2), alternate_tilts(6, 30.0), spacing_m=0.02)
    out: dict[str, Any] = {}
    for n in MISBUILT_COUNTS:
        designed, estimated = [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            d_rot = rng.normal(0, np.radians(1.0), (6, 3))
            d_t = rng.normal(0, 0.003, (6, 3))
            d_rot[0] = d_t[0] = 0  # board 0 defines the array frame
            truth = dataclasses.replace(array, rvecs=array.rvecs + d_rot, tvecs=array.tvecs + d_t)
            views = [
                projected_array_detection(
                    f"v{i}", array, CAMERA, *array_pose(array, CAMERA, rng), rng,
                    noise_px=NOISE_PX, true_rvecs=truth.rvecs, true_tvecs=truth.tvecs,
                )
                for i in range(n)
            ]  # fmt: skip
            r = calibrate_array(views, CAMERA.size, array, heldout=False)
            designed.append(
                errors(r.intrinsics.K, r.intrinsics.std) | {"rms_px": r.intrinsics.rms_px}
            )
            r = calibrate_array(views, CAMERA.size, array, estimate_poses=True)
            w, h = array.board.size_m
            centre = np.array([w / 2, h / 2, 0.0])
            board_mm = (
                max(
                    np.linalg.norm(
                        cv2.Rodrigues(b.rvec)[0] @ centre + b.tvec - truth.centre(b.index)
                    )
                    for b in r.boards
                )
                * 1e3
            )
            extra = {"rms_px": r.intrinsics.rms_px, "board_centre_err_mm": board_mm}
            estimated.append(errors(r.intrinsics.K, r.intrinsics.std) | extra)
        out[f"{n}_images"] = {"designed": _stats(designed), "estimated": _stats(estimated)}
    return out


def main() -> None:
    """Print the benchmark JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, default=20, help="noise/pose draws per case")
    print(json.dumps(bench_array(p.parse_args().seeds), indent=1))


if __name__ == "__main__":
    main()
