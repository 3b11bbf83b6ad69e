"""Targets of issue 8 on the shared calibration sets (ADAS_DATA_DIR/calibration)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.boards import BoardKind, BoardSpec
from calibration.cli import main
from calibration.detect import DetectionSet, detect_images, expand_inputs
from calibration.intrinsics import IntrinsicsResult, calibrate

pytestmark = pytest.mark.data

CHESS = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 1.0)  # 9 x 6 inner corners, square = 1 unit
CHARUCO = BoardSpec(BoardKind.CHARUCO, 20, 20, 0.004, 0.0032, "DICT_4X4_1000")  # layout unknown
STEREO_RMS_MAX = {"left": 0.24, "right": 0.33}
CHARUCO_RMS_MAX = {"1": 0.80, "2": 0.86, "3": 0.93}


@pytest.fixture(scope="module")
def stereo(data_dir: Path) -> dict[str, tuple[DetectionSet, IntrinsicsResult]]:
    out = {}
    for side in ("left", "right"):
        paths = expand_inputs([data_dir / "calibration" / "opencv_stereo" / f"{side}*.jpg"])
        dets = detect_images(paths, CHESS, workers=2)
        out[side] = (dets, calibrate(dets.detected, dets.image_size))
    return out


@pytest.fixture(scope="module")
def charuco(data_dir: Path) -> dict[str, tuple[DetectionSet, IntrinsicsResult]]:
    """Detection (both layouts tried) and calibration of the three cameras, once per module."""
    out = {}
    for cam in ("1", "2", "3"):
        dets = detect_images(
            expand_inputs([data_dir / "calibration" / "charuco_3cam" / cam]), CHARUCO, workers=2
        )
        out[cam] = (dets, calibrate(dets.detected, dets.image_size))
    return out


@pytest.fixture(scope="module")
def reference_fx(data_dir: Path) -> dict[str, float]:
    """fx per camera from pyCamSet's ``initial_cameras.camset`` (JSON: cams -> id -> int = K)."""
    camset = json.loads(
        (data_dir / "calibration" / "charuco_3cam" / "initial_cameras.camset").read_text()
    )
    return {cam: float(np.asarray(v["int"])[0, 0]) for cam, v in camset["cams"].items()}


@pytest.mark.parametrize("side", ["left", "right"])
def test_stereo_set_all_detected_and_accurate(stereo: dict, side: str) -> None:
    dets, result = stereo[side]
    assert len(dets.detections) == 13 and len(dets.detected) == 13
    assert result.rms_px <= STEREO_RMS_MAX[side]
    assert result.heldout_rms_px is not None and result.heldout_rms_px <= 1.2 * result.rms_px


@pytest.mark.parametrize("side", ["left", "right"])
def test_stereo_pair_02_is_not_an_outlier_with_accurate_corners(stereo: dict, side: str) -> None:
    """Issue 8 expects pair 02 rejected: its ~1.2 px error comes from OpenCV's sample refining
    corners with a fixed 11 x 11 window, which pulls a few corners of this steep view by up to
    7 px. With findChessboardCornersSB (or a window fitted to the square size) the view is as
    good as the others, so nothing is rejected and 02 is used."""
    _, result = stereo[side]
    assert result.rejected == ()
    errors = {v.name: v.rms_px for v in result.views}
    assert errors[f"{side}02.jpg"] <= 1.5 * float(np.median(list(errors.values())))


def test_charuco_set_detects_62_of_66_without_the_layout(charuco: dict) -> None:
    detected = sum(len(dets.detected) for dets, _ in charuco.values())
    assert detected >= 62
    for dets, _ in charuco.values():
        assert dets.layout == "modern"
        assert dets.corners_by_layout["modern"] > 1000 and dets.corners_by_layout["legacy"] == 0
        for d in dets.not_detected:  # reported, with the count that was too small
            assert d.count < 6


def test_charuco_camera_1_rejects_cal13_and_cal15(charuco: dict) -> None:
    _, result = charuco["1"]
    assert sorted(r.name for r in result.rejected) == ["cal13.jpg", "cal15.jpg"]
    assert all(r.rms_px > 3.0 for r in result.rejected)
    for cam in ("2", "3"):
        assert charuco[cam][1].rejected == ()


@pytest.mark.parametrize("cam", ["1", "2", "3"])
def test_charuco_fx_matches_the_reference(charuco: dict, reference_fx: dict, cam: str) -> None:
    _, result = charuco[cam]
    assert abs(result.fx - reference_fx[cam]) <= 5.0


@pytest.mark.parametrize(
    "cam",
    [
        pytest.param(
            "1",
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured 0.925 px after rejecting cal13/cal15 (views 3, 4, 5 stay at "
                "~1.25 px with any corner refinement tried); OpenCV used directly gives 0.901 "
                "px on the same images (test_bench_charuco_set_against_a_default_opencv_"
                "detector), so the 0.80 target is not reached that way either",
            ),
        ),
        "2",
        "3",
    ],
)
def test_charuco_rms_after_rejection(charuco: dict, cam: str) -> None:
    _, result = charuco[cam]
    assert result.rms_px <= CHARUCO_RMS_MAX[cam]


def test_charuco_camera_1_rms_regression_bound(charuco: dict) -> None:
    """What camera 1 reaches today (0.925 px), so it cannot get worse unnoticed."""
    assert charuco["1"][1].rms_px <= 0.95


@pytest.fixture(scope="module")
def bench(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``adas-calibrate bench`` once: this package and OpenCV directly, same images, one run."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["bench", "--data", str(data_dir), "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_bench_stereo_set_against_the_opencv_sample(bench: dict) -> None:
    """The sample's corners make pair 02 the worst view on both sides (1.22 / 1.20 px) and
    this package's rejection drops it; with this package's corners every figure beats the
    sample's and meets the issue's targets."""
    s = bench["opencv_stereo"]
    ours, cv = s["ours"], s["opencv_sample_recipe"]
    assert cv["left"]["worst_view"] == "left02.jpg" and cv["right"]["worst_view"] == "right02.jpg"
    assert min(cv["left"]["worst_view_rms_px"], cv["right"]["worst_view_rms_px"]) > 1.0
    assert cv["rejected_by_this_package"][0] == "02.jpg"
    assert ours["detected"] == cv["detected"] == [13, 13]
    t = s["targets"]
    assert ours["left"]["rms_px"] <= t["left_rms_px"] < cv["left"]["rms_px"]
    assert ours["right"]["rms_px"] <= t["right_rms_px"] < cv["right"]["rms_px"]
    assert ours["stereo_rms_px"] <= t["stereo_rms_px"] < cv["stereo_rms_px"]  # 0.255 vs 0.605
    assert ours["heldout_rectified_dy_rms_px"] <= t["heldout_rectified_dy_rms_px"]
    assert ours["uncalibrated_dy_rms_px"] <= t["uncalibrated_dy_rms_px"]
    assert cv["uncalibrated_dy_rms_px"] > 10 * ours["uncalibrated_dy_rms_px"]  # 3.10 vs 0.155


@pytest.mark.slow
def test_bench_charuco_set_against_a_default_opencv_detector(bench: dict) -> None:
    """OpenCV used directly finds 61 views and, after dropping camera 1's cal13/cal15, gives
    0.901 / 0.792 / 0.857 px: the issue's 0.80 for camera 1 is not what OpenCV reaches on these
    images either. This package finds 62 views, the same rejections, RMS within 0.03 px of
    OpenCV's, and camera 1's fx 4.3 px from the reference where OpenCV's is 11.2 px off."""
    c = bench["charuco_3cam"]
    ours, cv = c["ours"], c["opencv_default"]
    assert sum(o["detected"] for o in ours.values()) >= c["targets"]["detected_at_least"]
    assert sum(o["detected"] for o in ours.values()) > sum(o["detected"] for o in cv.values())
    assert ours["1"]["rejected"] == cv["1"]["rejected"] == c["targets"]["rejected_1"]
    assert cv["1"]["rms_px"] > c["targets"]["rms_px"]["1"] + 0.05
    for cam in ("1", "2", "3"):
        assert abs(ours[cam]["rms_px"] - cv[cam]["rms_px"]) <= 0.03, cam
        assert abs(ours[cam]["fx_minus_reference"]) <= c["targets"]["fx_within_px"], cam
    assert abs(ours["1"]["fx_minus_reference"]) < abs(cv["1"]["fx_minus_reference"])
