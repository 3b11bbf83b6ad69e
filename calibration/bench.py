"""``adas-calibrate bench``: this package against OpenCV used directly, on the shared sets.

Both sides run in the same process on the same images, so the figures compare as they stand:

* OpenCV stereo set (9x6 chessboard, 13 pairs). OpenCV's ``stereo_calib.cpp`` recipe:
  ``findChessboardCorners`` + ``cornerSubPix`` with an 11 x 11 half-window, ``calibrateCamera``
  per side on every view, ``stereoCalibrate`` with the sample's flags, and its uncalibrated
  rectification (8-point F on the distorted corners, ``stereoRectifyUncalibrated``), whose row
  misalignment is measured on the undistorted corners (the sample's maps undistort first).
  Against: ``intrinsics``, ``stereo`` (held-out rectified dy) and ``rectify-uncalibrated``.
* ChArUco 3-camera set. ``CharucoDetector`` with default parameters and ``calibrateCamera``,
  views whose error exceeds 3 x the median dropped once (camera 1's cal13 and cal15, the
  outliers the data README names), against ``intrinsics`` with its automatic layout and
  rejection; fx against the reference in ``initial_cameras.camset``.

Targets are issue 8's, reported beside the figures, not asserted here (the data tests do).
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.boards import BoardKind, BoardSpec
from calibration.detect import Detection, DetectionSet, detect_images, expand_inputs
from calibration.errors import CalibrationError
from calibration.intrinsics import calibrate
from calibration.stereo import calibrate_stereo
from calibration.uncalibrated import rectify_uncalibrated
from calibration.uncalibrated_candidates import row_disparity
from calibration.uncalibrated_io import uncalibrated_summary
from calibration.uncalibrated_matches import board_matches

CHESS = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 1.0)  # 9 x 6 inner corners, square = 1 unit
CHARUCO = BoardSpec(BoardKind.CHARUCO, 20, 20, 0.004, 0.0032, "DICT_4X4_1000")
SAMPLE_SUBPIX = ((11, 11), (cv2.TERM_CRITERIA_MAX_ITER | cv2.TERM_CRITERIA_EPS, 30, 0.01))
SAMPLE_STEREO_FLAGS = (
    cv2.CALIB_FIX_ASPECT_RATIO | cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_USE_INTRINSIC_GUESS
    | cv2.CALIB_SAME_FOCAL_LENGTH | cv2.CALIB_RATIONAL_MODEL | cv2.CALIB_FIX_K3
    | cv2.CALIB_FIX_K4 | cv2.CALIB_FIX_K5
)  # fmt: skip
TARGETS = {
    "opencv_stereo": {
        "left_rms_px": 0.24, "right_rms_px": 0.33, "stereo_rms_px": 0.30,
        "heldout_rectified_dy_rms_px": 0.27, "uncalibrated_dy_rms_px": 0.30,
        "rejected": ["02.jpg"],
    },
    "charuco_3cam": {"rms_px": {"1": 0.80, "2": 0.86, "3": 0.93}, "fx_within_px": 5.0,
                     "detected_at_least": 62, "rejected_1": ["cal13.jpg", "cal15.jpg"]},
}  # fmt: skip


def _r(v: float | None, digits: int = 3) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def sample_recipe_corners(folder: Path, side: str) -> DetectionSet:
    """Corners of ``folder/side*.jpg`` as OpenCV's stereo_calib.cpp finds them."""
    detections = []
    obj = CHESS.chessboard_object_points()
    ids = np.arange(len(obj), dtype=np.int32)
    size = (0, 0)
    for path in sorted(folder.glob(f"{side}*.jpg")):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            msg = f"{path}: cannot read the image"
            raise CalibrationError(msg)
        size = (image.shape[1], image.shape[0])
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        ok, pts = cv2.findChessboardCorners(image, CHESS.inner_corners, flags=flags)
        if not ok:
            continue
        pts = cv2.cornerSubPix(image, pts, SAMPLE_SUBPIX[0], (-1, -1), SAMPLE_SUBPIX[1])
        corners = np.asarray(pts, np.float32).reshape(-1, 2)
        detections.append(Detection(path.name, str(path), corners, obj, ids, "classic"))
    return DetectionSet(tuple(detections), size, "n/a", 6)


@dataclass(frozen=True, eq=False)
class _Mono:
    """``cv2.calibrateCamera`` on every view: the camera and each view's RMS error."""

    views: tuple[Detection, ...]
    rms_px: float
    K: np.ndarray
    dist: np.ndarray
    errors: np.ndarray

    def summary(self) -> dict[str, Any]:
        worst = int(np.argmax(self.errors))
        return {
            "views": len(self.views), "rms_px": _r(self.rms_px), "fx": _r(self.K[0, 0], 1),
            "worst_view": self.views[worst].name, "worst_view_rms_px": _r(self.errors[worst]),
            "median_view_rms_px": _r(float(np.median(self.errors))),
        }  # fmt: skip


def _opencv_mono(views: Sequence[Detection], size: tuple[int, int]) -> _Mono:
    obj = [np.asarray(v.object_points, np.float32) for v in views]
    img = [np.asarray(v.image_points, np.float32) for v in views]
    rms, K, dist, *_, per_view = cv2.calibrateCameraExtended(obj, img, size, np.eye(3), np.zeros(5))
    errs = np.asarray(per_view, np.float64).ravel()
    return _Mono(tuple(views), float(rms), np.asarray(K), np.asarray(dist), errs)


def _opencv_stereo_side(left: DetectionSet, right: DetectionSet) -> dict[str, Any]:
    """The sample's recipe on its own corners: monos, stereoCalibrate, uncalibrated dy."""
    size = left.image_size
    ml, mr = (_opencv_mono(s.detected, size) for s in (left, right))
    names = sorted({d.name[4:] for d in left.detected} & {d.name[5:] for d in right.detected})
    pl = {d.name[4:]: d for d in left.detected}
    pr = {d.name[5:]: d for d in right.detected}
    obj = [np.asarray(pl[n].object_points, np.float32) for n in names]
    il = [np.asarray(pl[n].image_points, np.float32) for n in names]
    ir = [np.asarray(pr[n].image_points, np.float32) for n in names]
    K1 = cv2.initCameraMatrix2D(obj, il, size, 0)
    K2 = cv2.initCameraMatrix2D(obj, ir, size, 0)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-5)
    out = cv2.stereoCalibrate(  # type: ignore[call-overload]
        obj, il, ir, K1, None, K2, None, size, flags=SAMPLE_STEREO_FLAGS, criteria=criteria
    )
    # Uncalibrated: F from the distorted points; dy where the sample's maps put the points
    # (undistorted with the mono calibrations, then H).
    pts_l, pts_r = np.concatenate(il).reshape(-1, 2), np.concatenate(ir).reshape(-1, 2)
    F, _ = cv2.findFundamentalMat(pts_l, pts_r, cv2.FM_8POINT)
    ok, H1, H2 = cv2.stereoRectifyUncalibrated(pts_l, pts_r, F, size, threshold=3)
    ul = cv2.undistortPoints(pts_l.reshape(-1, 1, 2), ml.K, ml.dist, P=ml.K)
    ur = cv2.undistortPoints(pts_r.reshape(-1, 1, 2), mr.K, mr.dist, P=mr.K)
    h1, h2 = np.asarray(H1, np.float64), np.asarray(H2, np.float64)
    ul, ur = np.asarray(ul, np.float64).reshape(-1, 2), np.asarray(ur, np.float64).reshape(-1, 2)
    dy = row_disparity(h1, h2, ul, ur) if ok else np.array([])
    return {
        "left": ml.summary(), "right": mr.summary(), "stereo_rms_px": _r(out[0]),
        "uncalibrated_dy_rms_px": _r(float(np.sqrt(np.mean(dy**2)))) if dy.size else None,
    }  # fmt: skip


def bench_opencv_stereo(folder: Path, *, workers: int = 2) -> dict[str, Any]:
    """Both sides on the OpenCV stereo set (see the module doc)."""
    t0 = time.perf_counter()
    sets = [detect_images(expand_inputs([folder / f"{s}*.jpg"]), CHESS, workers=workers)
            for s in ("left", "right")]  # fmt: skip
    mono = [calibrate(s.detected, s.image_size) for s in sets]
    stereo = calibrate_stereo(*sets)
    held = stereo.heldout_dy_px if stereo.heldout_dy_px is not None else np.array([np.nan])
    matches = board_matches(*sets)
    unc = uncalibrated_summary(
        rectify_uncalibrated(
            matches.left, matches.right, sets[0].image_size,
            left_cam=(mono[0].K, mono[0].dist), right_cam=(mono[1].K, mono[1].dist),
        )
    )  # fmt: skip
    ours = {
        "detected": [len(s.detected) for s in sets],
        "left": {"rms_px": _r(mono[0].rms_px), "heldout_rms_px": _r(mono[0].heldout_rms_px),
                 "rejected": [r.name for r in mono[0].rejected], "fx": _r(mono[0].fx, 1)},
        "right": {"rms_px": _r(mono[1].rms_px), "heldout_rms_px": _r(mono[1].heldout_rms_px),
                  "rejected": [r.name for r in mono[1].rejected], "fx": _r(mono[1].fx, 1)},
        "stereo_rms_px": _r(stereo.rms_px),
        "stereo_rejected": [r.name for r in stereo.rejected],
        "heldout_rectified_dy_rms_px": _r(float(np.sqrt(np.mean(held**2)))),
        "uncalibrated_dy_rms_px": _r(unc["dy_rms_px"]),
    }  # fmt: skip
    t1 = time.perf_counter()
    sample = [sample_recipe_corners(folder, s) for s in ("left", "right")]
    baseline = _opencv_stereo_side(*sample)
    baseline["detected"] = [len(s.detected) for s in sample]
    # The same sample corners through this package's rejection: which pairs go.
    given = calibrate_stereo(*sample, heldout=False)
    baseline["rejected_by_this_package"] = [r.name for r in given.rejected]
    t2 = time.perf_counter()
    return {"ours": ours, "opencv_sample_recipe": baseline,
            "seconds": {"ours": _r(t1 - t0, 1), "opencv": _r(t2 - t1, 1)},
            "targets": TARGETS["opencv_stereo"]}  # fmt: skip


def _opencv_charuco(folder: Path) -> tuple[list[Detection], tuple[int, int]]:
    """Default-parameter CharucoDetector on every image; views with >= 6 corners."""
    board = CHARUCO.charuco_board(legacy=False)
    detector = cv2.aruco.CharucoDetector(board)
    views, size = [], (0, 0)
    for path in sorted(folder.glob("*.jpg")):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            continue
        size = (image.shape[1], image.shape[0])
        corners, ids, _, _ = detector.detectBoard(image)
        if ids is None or len(ids) < 6:
            continue
        obj, img = board.matchImagePoints(corners, ids)  # type: ignore[call-overload]
        views.append(Detection(
            path.name, str(path), np.asarray(img, np.float32).reshape(-1, 2),
            np.asarray(obj, np.float32).reshape(-1, 3), np.asarray(ids, np.int32).ravel(),
            "charuco-modern",
        ))  # fmt: skip
    return views, size


def bench_charuco(folder: Path, *, workers: int = 2) -> dict[str, Any]:
    """Both sides on the ChArUco 3-camera set (see the module doc)."""
    camset = json.loads((folder / "initial_cameras.camset").read_text())
    ref = {c: float(np.asarray(v["int"])[0, 0]) for c, v in camset["cams"].items()}
    ours: dict[str, Any] = {}
    base: dict[str, Any] = {}
    for cam in sorted(ref):
        dets = detect_images(expand_inputs([folder / cam]), CHARUCO, workers=workers)
        r = calibrate(dets.detected, dets.image_size)
        ours[cam] = {
            "detected": len(dets.detected), "used": len(r.used),
            "rejected": [x.name for x in r.rejected], "rms_px": _r(r.rms_px),
            "heldout_rms_px": _r(r.heldout_rms_px), "fx": _r(r.fx, 1),
            "fx_minus_reference": _r(r.fx - ref[cam], 1),
        }  # fmt: skip
        views, size = _opencv_charuco(folder / cam)
        first = _opencv_mono(views, size)
        keep = [v for v, e in zip(views, first.errors, strict=True)
                if e <= 3 * float(np.median(first.errors))]  # fmt: skip
        again = _opencv_mono(keep, size)
        base[cam] = {
            "detected": len(views), "used": len(keep),
            "rejected": sorted({v.name for v in views} - {v.name for v in keep}),
            "rms_px": _r(again.rms_px), "fx": _r(again.K[0, 0], 1),
            "fx_minus_reference": _r(round(float(again.K[0, 0]), 1) - ref[cam], 1),
        }  # fmt: skip
    return {"ours": ours, "opencv_default": base, "reference_fx": ref,
            "targets": TARGETS["charuco_3cam"]}  # fmt: skip


def bench_calibration(data_dir: Path, *, workers: int = 2) -> dict[str, Any]:
    """The whole comparison as one JSON-ready dict."""
    root = Path(data_dir) / "calibration"
    for sub in ("opencv_stereo", "charuco_3cam"):
        if not (root / sub).is_dir():
            msg = f"{root / sub}: not found; point --data at the shared data folder"
            raise CalibrationError(msg)
    return {
        "benchmark": "calibration",
        "opencv_version": cv2.__version__,
        "machine": platform.machine(),
        "opencv_stereo": bench_opencv_stereo(root / "opencv_stereo", workers=workers),
        "charuco_3cam": bench_charuco(root / "charuco_3cam", workers=workers),
    }
