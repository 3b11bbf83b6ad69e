"""Stereo calibration: synthetic truth, pairing, outlier pairs, files, and the OpenCV stereo set."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from calibration.bench import sample_recipe_corners
from calibration.boards import BoardKind, BoardSpec
from calibration.detect import Detection, DetectionSet, detect_images, expand_inputs
from calibration.errors import CalibrationError
from calibration.intrinsics import calibrate
from calibration.rectification import rectified_offsets, rectify_cameras
from calibration.stereo import StereoResult, calibrate_stereo, match_pairs, rectify
from calibration.stereo_io import stereo_summary, write_stereo_opencv_yaml, write_stereo_ros
from tests.calibration.synth import (
    Camera,
    compose,
    detection_set,
    projected_detection,
    random_poses,
)

SPEC = BoardSpec(BoardKind.CHARUCO, 12, 8, 0.03, 0.022, "DICT_5X5_100")
CAM_L = Camera(
    np.array([[800.0, 0.0, 330.0], [0.0, 805.0, 245.0], [0.0, 0.0, 1.0]]),
    np.array([-0.2, 0.05, 0.001, -0.0005, 0.0]),
    (640, 480),
)
CAM_R = Camera(
    np.array([[810.0, 0.0, 318.0], [0.0, 812.0, 238.0], [0.0, 0.0, 1.0]]),
    np.array([-0.18, 0.04, -0.0008, 0.0006, 0.0]),
    (640, 480),
)
RVEC_RL = np.array([0.01, -0.03, 0.005])  # left -> right rotation, rad
T_RL = np.array([-0.12, 0.002, 0.003])  # metres: the right camera 12 cm to the right
NOISE_PX = 0.03  # per axis; dy of a perfect calibration is then ~ sqrt(2) x 0.03 = 0.042 px


def _t_right_left() -> np.ndarray:
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = cv2.Rodrigues(RVEC_RL)[0], T_RL
    return M


def _synthetic_pair(
    seed: int, n: int = 14, noise_px: float = NOISE_PX, unsync: int | None = None
) -> tuple[DetectionSet, DetectionSet]:
    """Views of the board by both cameras (``leftNN.png`` / ``rightNN.png``); with ``unsync``
    that pair's right image sees the board moved by 1 degree and 4 mm (not synchronised)."""
    rng = np.random.default_rng(seed)
    left, right = [], []
    for i, (rvec, tvec) in enumerate(random_poses(n, SPEC, CAM_L, rng)):
        rv_r, tv_r = compose(_t_right_left(), rvec, tvec)
        if i == unsync:
            rv_r = cv2.Rodrigues(cv2.Rodrigues(rv_r)[0] @ cv2.Rodrigues(np.radians([1, 0, 0]))[0])
            rv_r, tv_r = rv_r[0].ravel(), tv_r + np.array([0.004, 0.0, 0.0])
        a = projected_detection(f"left{i:02d}.png", SPEC, CAM_L, rvec, tvec, rng, noise_px=noise_px)
        b = projected_detection(
            f"right{i:02d}.png", SPEC, CAM_R, rv_r, tv_r, rng, noise_px=noise_px
        )
        if a is not None and b is not None and np.intersect1d(a.ids, b.ids).size >= 12:
            left.append(a)
            right.append(b)
    return detection_set(left, CAM_L), detection_set(right, CAM_R)


@pytest.fixture(scope="module")
def synthetic() -> tuple[DetectionSet, DetectionSet, StereoResult]:
    left, right = _synthetic_pair(5)
    return left, right, calibrate_stereo(left, right)


def test_synthetic_pair_recovers_the_extrinsics(synthetic: tuple) -> None:
    left, _, result = synthetic
    assert len(result.used) == len(left.detections) >= 10 and result.rejected == ()
    angle = np.degrees(np.linalg.norm(cv2.Rodrigues(result.R @ _t_right_left()[:3, :3].T)[0]))
    # 0.014 deg measured: the principal points are known to ~0.3 px (0.02 deg at 800 px)
    assert angle < 0.05, f"rotation off by {angle:.4f} deg"
    assert np.linalg.norm(result.T - T_RL) < 1e-4, result.T  # 0.1 mm of a 12 cm baseline
    assert abs(result.left.fx - 800.0) < 0.5 and abs(result.right.fx - 810.0) < 0.5
    assert result.rms_px < 1.5 * NOISE_PX * math.sqrt(2)


def test_synthetic_heldout_dy_is_at_the_noise_floor(synthetic: tuple) -> None:
    """Held-out rectified dy < 0.1 px, and no worse than 1.3 x what the TRUE calibration gives
    on the same noisy corners (the floor the noise alone sets)."""
    left, right, result = synthetic
    assert result.heldout_dy_px is not None
    held = float(np.sqrt(np.mean(result.heldout_dy_px**2)))
    true_rect = rectify_cameras(
        CAM_L.K, CAM_L.dist, CAM_L.size, CAM_R.K, CAM_R.dist, CAM_R.size,
        cv2.Rodrigues(RVEC_RL)[0], T_RL, alpha=-1.0,
    )  # fmt: skip
    floor = np.concatenate(
        [
            rectified_offsets(true_rect, p.left.image_points, p.right.image_points)
            for p in match_pairs(left, right)[0]
        ]
    )
    floor_rms = float(np.sqrt(np.mean(floor**2)))
    assert 0.8 * NOISE_PX * math.sqrt(2) < floor_rms < 1.2 * NOISE_PX * math.sqrt(2)
    assert held < 0.1 and held < 1.3 * floor_rms, (held, floor_rms)
    summary = stereo_summary(result)
    assert summary["rectified_dy_rms_px"] == pytest.approx(held)
    assert summary["rectified_dy_insample_rms_px"] <= held


def test_unsynchronised_pair_is_rejected_by_the_stereo_fit() -> None:
    """Each image of pair 03 is a perfect view for its own camera, so the mono fits keep it;
    only the stereo fit sees the inconsistency, and says so."""
    left, right = _synthetic_pair(7, unsync=3, noise_px=0.1)
    result = calibrate_stereo(left, right, heldout=False)
    assert result.left.rejected == () and result.right.rejected == ()
    assert [r.name for r in result.rejected] == ["03.png"]
    assert "stereo RMS" in result.rejected[0].reason and "median" in result.rejected[0].reason
    assert result.rejected[0].rms_px > 3 * float(np.median([p.rms_px for p in result.pairs]))
    assert "03.png" not in result.used and len(result.used) == len(left.detections) - 1
    kept = calibrate_stereo(left, right, heldout=False, reject=False)
    assert kept.rejected == () and kept.rms_px > 2 * result.rms_px


def test_fixed_intrinsics_are_kept_exactly(synthetic: tuple) -> None:
    left, right, _ = synthetic
    mono = (
        calibrate(left.detected, left.image_size, heldout=False),
        calibrate(right.detected, right.image_size, heldout=False),
    )
    result = calibrate_stereo(left, right, fix_intrinsics=mono, heldout=False)
    assert result.fixed_intrinsics
    np.testing.assert_array_equal(result.left.K, mono[0].K)
    np.testing.assert_array_equal(result.right.dist, mono[1].dist)
    assert np.linalg.norm(result.T - T_RL) < 5e-4


def _det(name: str, ids: list[int], shift: float = 0.0) -> Detection:
    obj = SPEC.chessboard_object_points()[ids]
    img = obj[:, :2] * 1000 + shift
    return Detection(name, "", img.astype(np.float32), obj, np.array(ids, np.int32), "synthetic")


def test_pairs_match_by_name_and_by_common_ids() -> None:
    left = detection_set(
        [_det("left01.png", list(range(10))), _det("left02.png", [1, 2, 3]),
         _det("left03.png", list(range(20)))], CAM_L,
    )  # fmt: skip
    right = detection_set(
        [_det("right01.png", list(range(4, 16)), 5.0), _det("right02.png", list(range(9))),
         _det("right04.png", list(range(9)))], CAM_R,
    )  # fmt: skip
    pairs, skipped = match_pairs(left, right)
    assert [p.name for p in pairs] == ["01.png"]
    assert list(pairs[0].left.ids) == [4, 5, 6, 7, 8, 9] == list(pairs[0].right.ids)
    np.testing.assert_array_equal(pairs[0].left.object_points, pairs[0].right.object_points)
    np.testing.assert_allclose(pairs[0].right.image_points - pairs[0].left.image_points, 5.0)
    assert dict(skipped) == {
        "02.png": "3 corners seen in both images (< 6)",
        "left03.png": "no right image of the same name",
        "right04.png": "no left image of the same name",
    }
    by_order, skipped = match_pairs(left, right, by_order=True)
    assert [p.name for p in by_order] == ["left01.png|right01.png", "left03.png|right04.png"]
    assert by_order[1].count == 9


def test_mixed_sizes_and_bad_rectification_options_are_refused(synthetic: tuple) -> None:
    """Cameras of different sizes go to the rig; alpha has no fisheye meaning and fov_deg no
    pinhole one; fixed intrinsics must be of the models asked. All before any fit."""
    left, right, result = synthetic
    small = DetectionSet(right.detections, (320, 240), "n/a", 6)
    with pytest.raises(CalibrationError, match="calibrate_rig"):
        calibrate_stereo(left, small)
    with pytest.raises(CalibrationError, match="alpha 0: a pair with a fisheye"):
        calibrate_stereo(left, right, model="pinhole5", right_model="fisheye", alpha=0.0)
    with pytest.raises(CalibrationError, match="fov_deg applies to a pair with a fisheye"):
        calibrate_stereo(left, right, fov_deg=120.0)
    with pytest.raises(CalibrationError, match="models asked are fisheye/fisheye"):
        calibrate_stereo(left, right, model="fisheye", fix_intrinsics=(result.left, result.right))


def test_files_round_trip(synthetic: tuple, tmp_path: Path) -> None:
    """OpenCV YAML reads back with the same matrices; the ROS right P has Tx = -fx' B."""
    _, _, result = synthetic
    rect = rectify(result)
    write_stereo_opencv_yaml(result, rect, tmp_path / "stereo.yaml")
    fs = cv2.FileStorage(str(tmp_path / "stereo.yaml"), cv2.FILE_STORAGE_READ)
    for name, value in {"K1": result.left.K, "T": result.T.reshape(3, 1), "P2": rect.P2,
                        "Q": rect.Q, "F": result.F}.items():  # fmt: skip
        np.testing.assert_allclose(fs.getNode(name).mat(), value, rtol=1e-12)
    assert int(fs.getNode("image_width").real()) == 640
    fs.release()
    write_stereo_ros(result, rect, tmp_path / "l.yaml", tmp_path / "r.yaml", ("cam_l", "cam_r"))
    info_l = yaml.safe_load((tmp_path / "l.yaml").read_text())
    info_r = yaml.safe_load((tmp_path / "r.yaml").read_text())
    assert info_r["camera_name"] == "cam_r" and info_l["distortion_model"] == "plumb_bob"
    P2 = np.array(info_r["projection_matrix"]["data"]).reshape(3, 4)
    assert P2[0, 3] == pytest.approx(-P2[0, 0] * result.baseline, rel=1e-9)
    assert P2[0, 3] < 0
    np.testing.assert_allclose(
        np.array(info_l["rectification_matrix"]["data"]).reshape(3, 3), rect.R1, rtol=1e-12
    )
    assert np.array(info_l["projection_matrix"]["data"])[3] == 0.0


# ---- the OpenCV stereo set (ADAS_DATA_DIR/calibration/opencv_stereo) ----

CHESS = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 1.0)  # 9 x 6 inner corners, square = 1 unit
STEREO_RMS_MAX_PX = 0.30
HELDOUT_DY_MAX_PX = 0.27


@pytest.fixture(scope="module")
def opencv_set(data_dir: Path) -> tuple[DetectionSet, DetectionSet]:
    root = data_dir / "calibration" / "opencv_stereo"
    return tuple(  # type: ignore[return-value]
        detect_images(expand_inputs([root / f"{side}*.jpg"]), CHESS, workers=2)
        for side in ("left", "right")
    )


@pytest.fixture(scope="module")
def opencv_result(opencv_set: tuple) -> StereoResult:
    return calibrate_stereo(*opencv_set)


@pytest.mark.data
def test_opencv_set_pairs_and_accuracy(opencv_set: tuple, opencv_result: StereoResult) -> None:
    """All 26 images detected, 13 pairs; measured: RMS 0.255 px, held-out dy 0.172 px RMS
    (p95 0.32), in-sample 0.160 px (p95 0.27), baseline 3.314 squares."""
    assert [len(s.detected) for s in opencv_set] == [13, 13]
    r = opencv_result
    summary = stereo_summary(r, rectify(r))
    assert list(summary)[:10] == [
        "pairs", "used", "rejected", "rms_px", "left", "right", "baseline",
        "rectified_dy_rms_px", "rectified_dy_p95_px", "rectified_dy_insample_rms_px",
    ]  # fmt: skip
    assert summary["pairs"] == 13 and r.skipped == ()
    assert r.rms_px <= STEREO_RMS_MAX_PX
    assert summary["rectified_dy_rms_px"] <= HELDOUT_DY_MAX_PX
    assert 0 < summary["rectified_dy_insample_rms_px"] < summary["rectified_dy_p95_px"] < 0.5
    assert 3.2 < r.baseline < 3.4 and abs(r.T[0]) > 50 * abs(r.T[1])  # horizontal pair
    assert not rectify(r).vertical


@pytest.mark.data
def test_opencv_pair_02_is_not_an_outlier_in_the_stereo_fit(opencv_result: StereoResult) -> None:
    """Issue 8 expects pair 02 rejected. It is not, and should not be: with this package's
    corners its stereo RMS (0.225 px) is below the median (0.233 px) and its held-out dy
    (0.20 px) is typical, so its two images are synchronised and the epipolar geometry holds.
    The ~1.2 px of the data README comes from OpenCV's fixed 11 x 11 cornerSubPix window."""
    r = opencv_result
    assert r.rejected == () and "02.jpg" in r.used
    rms = {p.name: p.rms_px for p in r.pairs}
    assert rms["02.jpg"] <= 1.2 * float(np.median(list(rms.values())))


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(a - b, axis=1)))


@pytest.mark.data
def test_opencv_pair_02_is_rejected_given_the_sample_recipes_corners(
    data_dir: Path, opencv_set: tuple
) -> None:
    """Where pair 02 really is an outlier, it is rejected automatically, with the reason. The
    sample's 23 px window drags corners off where neighbouring squares enter it; against this
    package's corners (median difference ~0.1 px) pair 02's move most: 1.63 / 1.50 px RMS, up
    to 7.7 px, hence its views' 1.22 and 1.20 px. The right camera's fit also rejects right05
    (0.62 px, 3 x median)."""
    folder = data_dir / "calibration" / "opencv_stereo"
    sample = [sample_recipe_corners(folder, side) for side in ("left", "right")]
    for theirs, ours in zip(sample, opencv_set, strict=True):
        mine = {d.name: d.image_points for d in ours.detected}
        off = {}
        for d in theirs.detected:  # either may number the corners from the opposite end
            a, b = d.image_points, mine[d.name]
            off[d.name] = np.linalg.norm(a - min((b, b[::-1]), key=lambda c: _gap(a, c)), axis=1)
        rms = {n: float(np.sqrt(np.mean(o**2))) for n, o in off.items()}
        assert max(rms, key=rms.__getitem__).endswith("02.jpg")  # measured 1.63 / 1.50 px
        assert (
            max(rms.values()) > 1.0 and float(np.median(np.concatenate(list(off.values())))) < 0.2
        )
    r = calibrate_stereo(*sample, heldout=False)
    assert r.rejected[0].name == "02.jpg" and "02.jpg" not in r.used
    assert r.rejected[0].reason.startswith("left view left02.jpg rejected")
    assert r.rejected[0].rms_px > 1.0
    assert {x.name for x in r.rejected} == {"02.jpg", "05.jpg"}
    assert len(r.used) == 11 and r.rms_px <= STEREO_RMS_MAX_PX  # measured 0.274
    # the mono figures after rejection (measured 0.234 and 0.281 px)
    mono = [calibrate(d.detected, d.image_size, heldout=False) for d in sample]
    assert mono[0].rms_px <= 0.24 and mono[1].rms_px <= 0.33


@pytest.mark.data
@pytest.mark.slow
def test_opencv_set_rational_model_meets_the_same_targets(opencv_set: tuple) -> None:
    """pinhole8: RMS 0.254 px, held-out dy 0.173 px (measured); no better than pinhole5."""
    r = calibrate_stereo(*opencv_set, model="pinhole8")
    summary = stereo_summary(r)
    assert r.rejected == () and r.rms_px <= STEREO_RMS_MAX_PX
    assert summary["rectified_dy_rms_px"] <= HELDOUT_DY_MAX_PX
