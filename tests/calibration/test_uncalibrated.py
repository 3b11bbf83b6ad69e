"""Uncalibrated rectification: synthetic truth, deformation measure, and the OpenCV stereo set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from calibration import io
from calibration.boards import BoardKind, BoardSpec
from calibration.detect import DetectionSet, detect_images, expand_inputs
from calibration.errors import CalibrationError, MatchError, OutputError
from calibration.intrinsics import IntrinsicsResult, calibrate
from calibration.uncalibrated import UncalibratedResult, rectify_maps, rectify_uncalibrated
from calibration.uncalibrated_candidates import deformation, row_disparity
from calibration.uncalibrated_io import uncalibrated_summary as summary
from calibration.uncalibrated_io import write_uncalibrated_opencv_yaml, write_uncalibrated_ros
from calibration.uncalibrated_matches import Matches, board_matches, load_camera, match_keypoints
from tests.calibration.rectified import pair01_row_misalignment

CHESS = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 1.0)  # 9 x 6 inner corners
SIZE = (640, 480)
NOISE_PX = 0.1  # synthetic corner noise, each coordinate


# --- synthetic truth ---------------------------------------------------------------------


def _synthetic(
    rng: np.random.Generator, n: int = 400, outliers: int = 60
) -> tuple[Matches, tuple, tuple, np.ndarray]:
    """Random 3-D points seen by two distorted cameras ~0.3 m apart (right = R left + t),
    Gaussian noise, then ``outliers`` right points replaced by random pixels."""
    K1 = np.array([[520.0, 0, 322], [0, 518, 238], [0, 0, 1]])
    K2 = np.array([[530.0, 0, 315], [0, 529, 245], [0, 0, 1]])
    d1 = np.array([-0.28, 0.09, 0.001, -0.0005, 0.0])
    d2 = np.array([-0.25, 0.07, -0.0008, 0.001, 0.0])
    rvec = np.radians([0.8, -2.5, 1.2])
    tvec = np.array([-0.3, 0.01, 0.02])
    z = rng.uniform(2.0, 12.0, n)
    uv = rng.uniform([40, 40], [600, 440], (n, 2))
    X = np.column_stack([(uv - K1[:2, 2]) / K1[[0, 1], [0, 1]] * z[:, None], z])
    pl = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K1, d1)[0].reshape(-1, 2)
    pr = cv2.projectPoints(X, rvec, tvec, K2, d2)[0].reshape(-1, 2)
    pl = pl + rng.normal(0, NOISE_PX, pl.shape)
    pr = pr + rng.normal(0, NOISE_PX, pr.shape)
    bad = rng.choice(n, outliers, replace=False)
    pr[bad] = rng.uniform([0, 0], SIZE, (outliers, 2))
    truth = np.ones(n, bool)
    truth[bad] = False
    return Matches(pl, pr), (K1, d1), (K2, d2), truth


@pytest.fixture(scope="module")
def synthetic() -> tuple[UncalibratedResult, UncalibratedResult, np.ndarray]:
    """Result with the cameras known, result without, and the true inlier mask."""
    m, cam1, cam2, truth = _synthetic(np.random.default_rng(7))
    known = rectify_uncalibrated(m.left, m.right, SIZE, left_cam=cam1, right_cam=cam2)
    raw = rectify_uncalibrated(m.left, m.right, SIZE)
    return known, raw, truth


def test_synthetic_dy_at_noise_level_and_outliers_excluded(synthetic: tuple) -> None:
    result, _, truth = synthetic
    s = summary(result)
    # dy differences two noisy rows: sigma ~ sqrt(2) x 0.1 px before the homographies' scale
    assert s["dy_rms_px"] <= 2.5 * math.sqrt(2) * NOISE_PX
    inl = result.inliers
    assert inl[truth].mean() >= 0.98  # true matches kept
    assert inl[~truth].mean() <= 0.05  # random outliers dropped (a few land on their line)
    assert s["dy_rms_all_px"] > 10 * s["dy_rms_px"]  # outliers do count in the *_all figures


def test_undistorting_first_is_what_makes_dy_small(synthetic: tuple) -> None:
    """k1 ~ -0.27: F fits the raw pixels only roughly, so dy grows (measured 0.42 against
    0.16 px) and true matches near the edges fall out of the inliers."""
    known, raw, truth = synthetic
    assert summary(raw)["dy_rms_px"] > 2 * summary(known)["dy_rms_px"]
    assert raw.inliers[truth].sum() < known.inliers[truth].sum()
    assert known.undistorted and not raw.undistorted


def test_chosen_is_least_deforming_of_the_acceptable(synthetic: tuple) -> None:
    result, _, _ = synthetic
    ok = [c for c in result.candidates if c.acceptable]
    assert result.chosen in ok and len(ok) >= 3
    assert result.chosen.score == min(c.score for c in ok)
    best = min(c.dy_rms_px for c in result.candidates if c.deform is not None)
    assert all(c.dy_rms_px <= 1.25 * best + 0.02 for c in ok)
    # the plain 8-point fit swallows the outliers: never acceptable
    assert not next(c for c in result.candidates if c.name == "8point").acceptable


def test_rectify_maps_invert_the_point_transform(synthetic: tuple) -> None:
    """remap pulls rectified pixel q from raw pixel m(q): H(undistort(m(q))) == q, with the
    cameras known and (identity camera) without."""
    q = np.array([[x, y] for y in range(80, 400, 40) for x in range(80, 560, 40)], np.float64)
    for result in synthetic[:2]:
        maps = rectify_maps(result)
        Hs, cams = (result.chosen.H1, result.chosen.H2), (result.left_cam, result.right_cam)
        sides = zip(maps, Hs, cams, strict=True)
        for (mx, my), H, cam in sides:
            assert mx.shape == (SIZE[1], SIZE[0]) and mx.dtype == np.float32
            rows, cols = q[:, 1].astype(int), q[:, 0].astype(int)
            src = np.column_stack([mx[rows, cols], my[rows, cols]]).astype(np.float64)
            if cam is not None:
                src = cv2.undistortPoints(src.reshape(-1, 1, 2), cam[0], cam[1], P=cam[0])
            back = cv2.perspectiveTransform(src.reshape(-1, 1, 2), H).reshape(-1, 2)
            assert np.abs(back - q).max() < 0.05


def _ros_matrices(path: Path) -> list[np.ndarray]:
    info = yaml.safe_load(path.read_text())
    keys = ("camera_matrix", "distortion_coefficients", "rectification_matrix", "projection_matrix")
    return [np.reshape(info[k]["data"], (info[k]["rows"], info[k]["cols"])) for k in keys]


def test_ros_pair_and_yaml_rectify_exactly_like_the_maps(synthetic: tuple, tmp_path: Path) -> None:
    """What image_proc does with the camera_info pair (initUndistortRectifyMap with K, D, R and
    P's left 3 x 3) gives bit-identical maps; both files share one P, Tx = 0."""
    known, raw, _ = synthetic
    write_uncalibrated_ros(known, tmp_path / "l.yaml", tmp_path / "r.yaml")
    ros = [_ros_matrices(tmp_path / n) for n in ("l.yaml", "r.yaml")]
    for (K, D, R, P), (mx, my), cam in zip(
        ros, rectify_maps(known), (known.left_cam, known.right_cam), strict=True
    ):
        np.testing.assert_array_equal(K, cam[0])
        np.testing.assert_array_equal(D.ravel(), cam[1])
        assert P[0, 3] == 0.0
        ros_x, ros_y = cv2.initUndistortRectifyMap(K, D, R, P[:, :3], SIZE, cv2.CV_32FC1)
        np.testing.assert_array_equal(ros_x, mx)
        np.testing.assert_array_equal(ros_y, my)
    np.testing.assert_array_equal(ros[0][3], ros[1][3])
    # OpenCV YAML: the same R and P; without cameras only F, H1, H2.
    write_uncalibrated_opencv_yaml(known, tmp_path / "k.yaml")
    write_uncalibrated_opencv_yaml(raw, tmp_path / "raw.yaml")
    fs = cv2.FileStorage(str(tmp_path / "k.yaml"), cv2.FILE_STORAGE_READ)
    np.testing.assert_array_equal(fs.getNode("R2").mat(), ros[1][2])
    np.testing.assert_array_equal(fs.getNode("P1").mat(), ros[0][3])
    fs.release()
    fs = cv2.FileStorage(str(tmp_path / "raw.yaml"), cv2.FILE_STORAGE_READ)
    np.testing.assert_array_equal(fs.getNode("H2").mat(), raw.chosen.H2)
    assert fs.getNode("K1").empty() and fs.getNode("R1").empty()
    fs.release()


def test_ros_pair_refused_without_both_cameras_or_a_ros_model(
    synthetic: tuple, tmp_path: Path
) -> None:
    known, raw, _ = synthetic
    with pytest.raises(OutputError, match="--left-camera and --right-camera"):
        write_uncalibrated_ros(raw, tmp_path / "l.yaml", tmp_path / "r.yaml")
    thin_prism = (known.right_cam[0], np.zeros(12))
    odd = UncalibratedResult(
        known.matches, known.points, known.image_size, known.left_cam, thin_prism,
        known.chosen, known.candidates, known.consensus,
    )  # fmt: skip
    with pytest.raises(OutputError, match="12 coefficients"):
        write_uncalibrated_ros(odd, tmp_path / "l.yaml", tmp_path / "r.yaml")
    assert not (tmp_path / "l.yaml").exists()  # no half pair left behind


def test_same_seed_same_result_and_summary_contract() -> None:
    m, cam1, cam2, _ = _synthetic(np.random.default_rng(3), n=200, outliers=20)
    a = rectify_uncalibrated(m.left, m.right, SIZE, left_cam=cam1, right_cam=cam2, rng_seed=5)
    b = rectify_uncalibrated(m.left, m.right, SIZE, left_cam=cam1, right_cam=cam2, rng_seed=5)
    assert a.chosen.name == b.chosen.name
    np.testing.assert_array_equal(a.chosen.H1, b.chosen.H1)
    s = summary(a)
    assert list(s)[:3] == ["matches", "dy_rms_px", "dy_median_px"]
    assert s["matches"] == 200 and s["inliers"] == int(a.inliers.sum())
    assert json.loads(json.dumps(s)) == s  # plain JSON, no NaN
    assert {c["name"] for c in s["candidates"]} >= {"8point", "ransac", "lmeds", "magsac"}


def test_bad_matches_are_refused() -> None:
    with pytest.raises(MatchError, match="N x 2"):
        Matches(np.zeros((10, 2)), np.zeros((9, 2)))
    with pytest.raises(MatchError, match="at least 8"):
        rectify_uncalibrated(np.zeros((5, 2)), np.zeros((5, 2)), SIZE)


# --- deformation measure -----------------------------------------------------------------


def test_deformation_is_zero_for_similarities_and_measures_shear_and_stretch() -> None:
    c, s = math.cos(0.3), math.sin(0.3)
    similarity = np.array([[2 * c, -2 * s, 15], [2 * s, 2 * c, -7], [0, 0, 1]])
    d = deformation(similarity, SIZE)
    assert d is not None and d.score == pytest.approx(0, abs=1e-9)
    assert d.scale == pytest.approx(4.0)
    shear = deformation(np.array([[1, math.tan(0.05), 0], [0, 1, 0], [0, 0, 1.0]]), SIZE)
    assert shear is not None and shear.skew_rad == pytest.approx(0.05, abs=1e-9)
    stretch = deformation(np.diag([1.1, 1.0, 1.0]), SIZE)
    assert stretch is not None and stretch.aspect == pytest.approx(math.log(1.1))
    keystone = deformation(np.array([[1, 0, 0], [0, 1, 0], [1e-4, 0, 1]]), SIZE)
    assert keystone is not None and keystone.perspective == pytest.approx(3 * math.log(1.064))


def test_deformation_refuses_a_horizon_through_the_image() -> None:
    assert deformation(np.array([[1, 0, 0], [0, 1, 0], [-1 / 320, 0, 1]]), SIZE) is None


# --- the OpenCV stereo set ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stereo(data_dir: Path) -> dict[str, tuple[DetectionSet, IntrinsicsResult]]:
    out = {}
    for side in ("left", "right"):
        paths = expand_inputs([data_dir / "calibration" / "opencv_stereo" / f"{side}*.jpg"])
        dets = detect_images(paths, CHESS, workers=2)
        out[side] = (dets, calibrate(dets.detected, dets.image_size, heldout=False))
    return out


@pytest.fixture(scope="module")
def corners_result(stereo: dict) -> UncalibratedResult:
    m = board_matches(stereo["left"][0], stereo["right"][0])
    cams = {s: (stereo[s][1].K, stereo[s][1].dist) for s in ("left", "right")}
    return rectify_uncalibrated(
        m.left, m.right, SIZE, left_cam=cams["left"], right_cam=cams["right"]
    )


@pytest.mark.data
def test_stereo_set_corners_rectify_below_0_30_px(corners_result: UncalibratedResult) -> None:
    s = summary(corners_result)
    assert s["matches"] == 13 * 54 and s["undistorted"]
    assert s["dy_rms_px"] <= 0.30  # measured 0.155 px, all 702 corners inliers
    assert s["inliers"] >= 0.98 * s["matches"]
    # both rectified images stay in frame (OpenCV's raw H1 shifted the left one by 145 px)
    frame = np.array([[0, 0], [640, 0], [640, 480], [0, 480]], np.float64).reshape(-1, 1, 2)
    for H in (corners_result.chosen.H1, corners_result.chosen.H2):
        assert np.abs(cv2.perspectiveTransform(frame, H) - frame).max() <= 20  # measured 10.3


@pytest.mark.data
def test_opencv_sample_recipe_is_far_worse(
    stereo: dict, corners_result: UncalibratedResult
) -> None:
    """stereo_calib.cpp: 8-point F on the distorted corners, stereoRectifyUncalibrated
    (threshold 3), then maps with the distortion and R = K^-1 H K, so H lands on undistorted
    pixels. Measured: 3.07 px RMS (README: ~2.85 px with the sample's corners)."""
    m = board_matches(stereo["left"][0], stereo["right"][0])
    F, _ = cv2.findFundamentalMat(m.left, m.right, cv2.FM_8POINT)
    ok, H1, H2 = cv2.stereoRectifyUncalibrated(m.left, m.right, F, SIZE, threshold=3)
    assert ok
    lu, ru = corners_result.points.left, corners_result.points.right
    baseline = float(np.sqrt(np.mean(row_disparity(H1, H2, lu, ru) ** 2)))
    assert baseline >= 2.0
    assert summary(corners_result)["dy_rms_px"] <= baseline / 10


@pytest.mark.data
def test_rectified_images_have_corners_on_the_same_rows(
    data_dir: Path, corners_result: UncalibratedResult
) -> None:
    """End to end through the maps: corners re-detected in the remapped pair 01 share rows."""
    folder = data_dir / "calibration" / "opencv_stereo"
    assert pair01_row_misalignment(folder, *rectify_maps(corners_result)) <= 0.4


@pytest.mark.data
def test_sift_matches_of_pair_01_rectify(data_dir: Path, stereo: dict) -> None:
    folder = data_dir / "calibration" / "opencv_stereo"
    m = match_keypoints(folder / "left01.jpg", folder / "right01.jpg")
    cams = {s: (stereo[s][1].K, stereo[s][1].dist) for s in ("left", "right")}
    r = rectify_uncalibrated(m.left, m.right, SIZE, left_cam=cams["left"], right_cam=cams["right"])
    s = summary(r)
    assert s["matches"] >= 200 and s["inliers"] >= 150  # measured 313 mutual, 238 inliers
    assert s["dy_median_px"] <= 0.4 and s["dy_rms_px"] <= 0.8  # measured 0.31 / 0.51


@pytest.mark.data
def test_camera_yaml_loads_for_the_cli(stereo: dict, tmp_path: Path) -> None:
    _, result = stereo["left"]
    io.write_opencv_yaml(result, tmp_path / "left.yaml")
    K, dist = load_camera(tmp_path / "left.yaml", image_size=SIZE)
    np.testing.assert_allclose(K, result.K, rtol=1e-12)
    np.testing.assert_allclose(dist, result.dist, rtol=1e-12)
    with pytest.raises(CalibrationError, match="calibrated for 640 x 480"):
        load_camera(tmp_path / "left.yaml", image_size=(1280, 720))
