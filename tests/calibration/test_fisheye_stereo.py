"""Fisheye stereo against synthetic truth: a 150-degree fisheye pair and a pinhole + fisheye pair.

Detections are the truth's projections with 0.3 px corner noise. Checked: each camera's
intrinsics, R and T (rotation error in degrees, baseline error), the rectification (true
corresponding points on fresh views land on one rectified row; the leave-one-pair-out dy
against the floor the noise sets), the maps against the points, the field of view choice and
the files. ``python -m tests.calibration.test_fisheye_stereo`` prints the closing-note figure;
with ``--render DIR`` it writes 16 rendered pairs of that camera into DIR instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from calibration.boards import BoardKind, BoardSpec
from calibration.detect import DetectionSet
from calibration.intrinsics import IntrinsicsResult, Model
from calibration.pair_fit import fit_pair
from calibration.rectification import Rectification, rectified_offsets, rectified_points
from calibration.rectification import rectify_cameras as rectify_truth
from calibration.stereo import StereoResult, calibrate_stereo, match_pairs, rectify
from calibration.stereo_io import stereo_summary, write_stereo_opencv_yaml, write_stereo_ros
from tests.calibration.synth import (
    Camera,
    compose,
    detection_set,
    projected_detection,
    random_poses,
    render_view,
)

# 72 x 48 cm: a wide lens needs a board that fills much of its view to pin k1..k4 down
SPEC = BoardSpec(BoardKind.CHARUCO, 12, 8, 0.06, 0.045, "DICT_5X5_100")
SIZE = (1280, 800)
FISH_L = Camera(
    np.array([[545.0, 0.0, 642.0], [0.0, 544.0, 398.0], [0.0, 0.0, 1.0]]),
    np.array([0.05, -0.01, 0.002, -0.0005]), SIZE, Model.FISHEYE,
)  # fmt: skip
FISH_R = Camera(
    np.array([[548.0, 0.0, 636.0], [0.0, 547.5, 403.0], [0.0, 0.0, 1.0]]),
    np.array([0.04, -0.008, 0.001, -0.0003]), SIZE, Model.FISHEYE,
)  # fmt: skip
PINHOLE = Camera(
    np.array([[700.0, 0.0, 645.0], [0.0, 701.0, 396.0], [0.0, 0.0, 1.0]]),
    np.array([-0.25, 0.07, 0.0005, -0.0003, -0.01]), SIZE,
)  # fmt: skip
RVEC_RL = np.array([0.01, -0.03, 0.005])  # left -> right rotation, rad
T_RL = np.array([-0.12, 0.002, 0.003])  # metres: the right camera 12 cm to the right
NOISE_PX = 0.3  # per axis, the corner noise
VIEWS = 10
# Bounds: 0.3 px noise on 10 views gave 0.026 / 0.032 deg and 0.25 / 0.20 mm (fisheye /
# mixed, seed 5); the bounds are ~3x that, so a real regression fails and a reseed does not.
ROTATION_MAX_DEG = 0.1
TRANSLATION_MAX_M = 1e-3
# dy of fresh noise-free views under the estimated calibration: measured 0.054 / 0.049 px RMS
# (fisheye / mixed); ~3x that, as above
FRESH_DY_MAX_PX = 0.15


def t_right_left() -> np.ndarray:
    """The true 4 x 4 transform left -> right."""
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = cv2.Rodrigues(RVEC_RL)[0], T_RL
    return M


def synthetic_pair(
    left_cam: Camera, right_cam: Camera, seed: int, n: int = VIEWS, noise_px: float = NOISE_PX
) -> tuple[DetectionSet, DetectionSet]:
    """The board at ``n`` poses seen by both cameras (``leftNN.png`` / ``rightNN.png``)."""
    rng = np.random.default_rng(seed)
    left, right = [], []
    for i, (rvec, tvec) in enumerate(random_poses(n, SPEC, left_cam, rng)):
        rv_r, tv_r = compose(t_right_left(), rvec, tvec)
        a = projected_detection(f"left{i:02d}.png", SPEC, left_cam, rvec, tvec, rng,
                                noise_px=noise_px)  # fmt: skip
        b = projected_detection(f"right{i:02d}.png", SPEC, right_cam, rv_r, tv_r, rng,
                                noise_px=noise_px)  # fmt: skip
        if a is not None and b is not None and np.intersect1d(a.ids, b.ids).size >= 12:
            left.append(a)
            right.append(b)
    return detection_set(left, left_cam), detection_set(right, right_cam)


def true_rectification(left_cam: Camera, right_cam: Camera) -> Rectification:
    """The truth rectified the way the tool rectifies an estimate."""
    return rectify_truth(
        left_cam.K, left_cam.dist, SIZE, right_cam.K, right_cam.dist, SIZE,
        cv2.Rodrigues(RVEC_RL)[0], T_RL, alpha=-1.0, models=(left_cam.model, right_cam.model),
    )  # fmt: skip


def fresh_dy(result: StereoResult, left_cam: Camera, right_cam: Camera) -> np.ndarray:
    """Rectified dy (px) under ``result`` of noise-free true corners of 10 views the
    calibration never saw."""
    left, right = synthetic_pair(left_cam, right_cam, seed=99, noise_px=0.0)
    rect = rectify(result)
    return np.concatenate(
        [
            rectified_offsets(rect, p.left.image_points, p.right.image_points)
            for p in match_pairs(left, right)[0]
        ]
    )


def rotation_error_deg(result: StereoResult) -> float:
    """Angle (degrees) of R_estimated R_true^T."""
    return float(np.degrees(np.linalg.norm(cv2.Rodrigues(result.R @ t_right_left()[:3, :3].T)[0])))


@pytest.fixture(scope="module")
def fisheye_pair() -> tuple[DetectionSet, DetectionSet, StereoResult]:
    left, right = synthetic_pair(FISH_L, FISH_R, seed=5)
    return left, right, calibrate_stereo(left, right, model="fisheye")


@pytest.fixture(scope="module")
def mixed_pair() -> tuple[DetectionSet, DetectionSet, StereoResult]:
    left, right = synthetic_pair(PINHOLE, FISH_R, seed=5)
    return (
        left,
        right,
        calibrate_stereo(left, right, model="pinhole5", right_model="fisheye", heldout=False),
    )


def test_the_truth_is_a_150_degree_fisheye() -> None:
    """The synthetic lens: 150 +- 2 degrees across the diagonal, and its rays and projections
    are inverse (the renderer and the detections rely on both)."""
    corners = FISH_L.rays([[-0.5, -0.5], [SIZE[0] - 0.5, SIZE[1] - 0.5]])
    assert 148.0 < math.degrees(np.arctan(np.linalg.norm(corners, axis=1)).sum()) < 152.0
    px = np.random.default_rng(0).uniform([0, 0], SIZE, (50, 2))
    rays = np.column_stack([FISH_L.rays(px), np.ones(50)])
    np.testing.assert_allclose(FISH_L.project(rays, np.zeros(3), np.zeros(3)), px, atol=1e-6)


@pytest.mark.parametrize("pair", ["fisheye_pair", "mixed_pair"])
def test_intrinsics_and_extrinsics_match_the_truth(
    pair: str, request: pytest.FixtureRequest
) -> None:
    """fx fy cx cy within the reported 3 sigma (and 0.5 %), R and T within the bounds above."""
    left, _, result = request.getfixturevalue(pair)
    truth = (PINHOLE if pair == "mixed_pair" else FISH_L, FISH_R)
    assert result.models == (truth[0].model, Model.FISHEYE) and len(result.used) >= 8
    assert result.rejected == () and len(result.used) == len(left.detections)
    for cam, true in zip((result.left, result.right), truth, strict=True):
        for name, got, want in (
            ("fx", cam.fx, true.K[0, 0]), ("fy", cam.fy, true.K[1, 1]),
            ("cx", cam.cx, true.K[0, 2]), ("cy", cam.cy, true.K[1, 2]),
        ):  # fmt: skip
            assert abs(got - want) < 3 * cam.std[name], (name, got, want, cam.std[name])
            assert abs(got - want) < 0.005 * true.K[0, 0], (name, got, want)
    assert rotation_error_deg(result) < ROTATION_MAX_DEG
    assert np.linalg.norm(result.T - T_RL) < TRANSLATION_MAX_M
    # the fit's RMS is the noise's: 0.3 px per axis is 0.42 px 2-D, less the fitted dofs
    assert 0.8 * NOISE_PX * math.sqrt(2) < result.rms_px < 1.1 * NOISE_PX * math.sqrt(2)


@pytest.mark.parametrize("pair", ["fisheye_pair", "mixed_pair"])
def test_fresh_views_land_on_one_rectified_row(pair: str, request: pytest.FixtureRequest) -> None:
    """Noise-free true corners of views outside the calibration: under the TRUE calibration dy
    is 0 (the rectification itself is exact), under the estimate a fraction of a pixel."""
    _, _, result = request.getfixturevalue(pair)
    left_cam = PINHOLE if pair == "mixed_pair" else FISH_L
    exact = true_rectification(left_cam, FISH_R)
    assert not exact.vertical and exact.model2 is Model.FISHEYE
    left, right = synthetic_pair(left_cam, FISH_R, seed=99, noise_px=0.0)
    p = match_pairs(left, right)[0][0]
    assert np.abs(rectified_offsets(exact, p.left.image_points, p.right.image_points)).max() < 1e-3
    dy = fresh_dy(result, left_cam, FISH_R)
    assert float(np.sqrt(np.mean(dy**2))) < FRESH_DY_MAX_PX, np.sqrt(np.mean(dy**2))


def test_heldout_dy_is_at_the_noise_floor(fisheye_pair: tuple) -> None:
    """Leave-one-pair-out dy no worse than 1.3 x what the TRUE calibration gives on the same
    noisy corners (the floor the noise sets), as for pinhole pairs."""
    left, right, result = fisheye_pair
    assert result.heldout_dy_px is not None
    held = float(np.sqrt(np.mean(result.heldout_dy_px**2)))
    exact = true_rectification(FISH_L, FISH_R)
    floor = np.concatenate(
        [
            rectified_offsets(exact, p.left.image_points, p.right.image_points)
            for p in match_pairs(left, right)[0]
        ]
    )
    floor_rms = float(np.sqrt(np.mean(floor**2)))
    # rectified pixels stretch the fisheye's periphery (1 / cos^2 of the ray's angle radially),
    # so the floor is above sqrt(2) x the noise (measured 1.3 x), never below it
    assert NOISE_PX * math.sqrt(2) < floor_rms < 2 * NOISE_PX * math.sqrt(2)
    assert held < 1.3 * floor_rms, (held, floor_rms)
    summary = stereo_summary(result)
    assert summary["rectified_dy_rms_px"] == pytest.approx(held)
    assert summary["model"] == "fisheye" and summary["left"]["model"] == "fisheye"


def test_maps_agree_with_the_points(fisheye_pair: tuple, mixed_pair: tuple) -> None:
    """Each camera's remap table, read at a point's rectified position, gives back its native
    pixel (fisheye and pinhole maps alike)."""
    for _, _, result in (fisheye_pair, mixed_pair):
        rect = rectify(result)
        # inside the rectified 99-degree view of both cameras
        native = np.array([[640.0, 400.0], [350.0, 220.0], [930.0, 600.0], [400.0, 580.0]])
        for second, (mx, my) in zip((False, True), rect.maps(), strict=True):
            r = rectified_points(rect, native, second=second)
            at = r.astype(np.float32).reshape(-1, 1, 2)
            back = np.column_stack([
                cv2.remap(m.astype(np.float32), at, None, cv2.INTER_LINEAR).ravel()
                for m in (mx, my)
            ])  # fmt: skip
            # bilinear reading of a smooth map: off by its curvature, < 0.05 px here
            np.testing.assert_allclose(back, native, atol=0.05)


def test_field_of_view_choice_and_valid_area(fisheye_pair: tuple) -> None:
    """Default: the cameras' focal length, so 2 atan(640 / f) across; fov_deg sets it, and a
    view wider than the lens shows cuts the all-valid area down (it is then checked valid)."""
    _, _, result = fisheye_pair
    rect = rectify(result)
    f = rect.P1[0, 0]
    assert 0.99 < f / np.mean([result.left.fy, result.right.fy]) < 1.01
    assert rect.fov_deg[0] == pytest.approx(math.degrees(2 * math.atan(640 / f)), abs=0.5)
    assert rect.roi1 == (0, 0, *SIZE)  # 99 degrees of a 150-degree lens: all valid
    wide = rectify(result, fov_deg=150.0)
    assert wide.P1[0, 0] == pytest.approx(640 / math.tan(math.radians(75.0)), rel=1e-9)
    # stereoRectify re-centres the rectified view on the rotated cameras', so its two sides
    # are not quite equal and the span is 150 degrees less a fraction
    assert wide.fov_deg[0] == pytest.approx(150.0, abs=1.0)
    x, y, w, h = wide.roi1
    assert 0 < w * h < SIZE[0] * SIZE[1]
    mx, my = wide.maps()[0]
    inside = (slice(y, y + h), slice(x, x + w))
    assert mx[inside].min() >= -0.5 and mx[inside].max() <= SIZE[0] - 0.5
    assert my[inside].min() >= -0.5 and my[inside].max() <= SIZE[1] - 0.5
    assert ((mx < -0.5) | (mx > SIZE[0] - 0.5) | (my < -0.5) | (my > SIZE[1] - 0.5)).any()


def test_files_carry_each_cameras_model(mixed_pair: tuple, tmp_path: Path) -> None:
    """OpenCV YAML: distortion_model mixed, 1 plumb_bob (5 coefficients), 2 fisheye (4); ROS:
    plumb_bob and equidistant, the right P with Tx = -fx' B; the JSON says mixed."""
    _, _, result = mixed_pair
    rect = rectify(result)
    write_stereo_opencv_yaml(result, rect, tmp_path / "stereo.yaml")
    fs = cv2.FileStorage(str(tmp_path / "stereo.yaml"), cv2.FILE_STORAGE_READ)
    assert fs.getNode("distortion_model").string() == "mixed"
    assert fs.getNode("distortion_model1").string() == "plumb_bob"
    assert fs.getNode("distortion_model2").string() == "fisheye"
    np.testing.assert_allclose(fs.getNode("D2").mat().ravel(), result.right.dist, rtol=1e-12)
    assert fs.getNode("D1").mat().size == 5 and fs.getNode("D2").mat().size == 4
    np.testing.assert_allclose(fs.getNode("P2").mat(), rect.P2, rtol=1e-12)
    fs.release()
    write_stereo_ros(result, rect, tmp_path / "l.yaml", tmp_path / "r.yaml")
    info_l = yaml.safe_load((tmp_path / "l.yaml").read_text())
    info_r = yaml.safe_load((tmp_path / "r.yaml").read_text())
    assert info_l["distortion_model"] == "plumb_bob" and info_r["distortion_model"] == "equidistant"
    assert info_r["distortion_coefficients"]["cols"] == 4
    P2 = np.array(info_r["projection_matrix"]["data"]).reshape(3, 4)
    assert P2[0, 3] == pytest.approx(-P2[0, 0] * result.baseline, rel=1e-9)
    summary = stereo_summary(result, rect)
    assert summary["model"] == "mixed" and summary["right"]["model"] == "fisheye"
    assert summary["left"]["model"] == "pinhole5" and len(summary["right"]["dist"]) == 4
    json.dumps(summary)


def test_fixed_intrinsics_agree_with_opencvs_fisheye_stereo(fisheye_pair: tuple) -> None:
    """With both fisheye intrinsics fixed, the least squares here and
    ``cv2.fisheye.stereoCalibrate`` minimise the same error: same R and T (to 0.005 degrees
    and 0.05 mm, far below the noise's 0.03 degrees and 0.25 mm). OpenCV's needs the same
    corner count in every pair (opencv/opencv#21748), so only the whole-board pairs go in."""
    left, right, result = fisheye_pair
    fixed = calibrate_stereo(
        left, right, model="fisheye", fix_intrinsics=(result.left, result.right), heldout=False
    )
    np.testing.assert_array_equal(fixed.left.K, result.left.K)
    assert rotation_error_deg(fixed) < ROTATION_MAX_DEG
    whole = [p for p in match_pairs(left, right)[0] if p.count == math.prod(SPEC.inner_corners)]
    assert len(whole) >= 5
    ours = fit_pair([(p.left, p.right) for p in whole], result.left, result.right, SIZE,
                    fixed=True)  # fmt: skip
    flag = getattr(cv2.fisheye, "CALIB_FIX_INTRINSIC", None)  # OpenCV 4 / 5 names
    out = cv2.fisheye.stereoCalibrate(
        [p.left.object_points.astype(np.float64).reshape(-1, 1, 3) for p in whole],
        [p.left.image_points.astype(np.float64).reshape(-1, 1, 2) for p in whole],
        [p.right.image_points.astype(np.float64).reshape(-1, 1, 2) for p in whole],
        result.left.K.copy(), result.left.dist.copy(), result.right.K.copy(),
        result.right.dist.copy(), SIZE,
        flags=int(cv2.CALIB_FIX_INTRINSIC if flag is None else flag),
        criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12),
    )  # fmt: skip
    R_cv, T_cv = np.asarray(out[5]), np.asarray(out[6]).ravel()
    angle = np.degrees(np.linalg.norm(cv2.Rodrigues(ours.R @ R_cv.T)[0]))
    assert angle < 0.005 and np.linalg.norm(ours.T - T_cv) < 5e-5, (angle, ours.T, T_cv)


def test_rendered_fisheye_pair_is_row_aligned_through_the_maps() -> None:
    """Images, not points: a chessboard rendered through both true fisheyes, remapped with the
    true rectification's maps; the corners found in the two rectified images sit where the
    points path puts them and on the same rows, within the 0.3 px corner noise the point tests
    assume (measured 0.14 px RMS off, dy 0.17 px RMS: the detector on twice-resampled renders;
    a map of the wrong lens model is hundreds of pixels off)."""
    board = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 0.06)
    rng = np.random.default_rng(4)
    rvec = np.array([0.25, -0.35, 0.05])  # tilted, off the axis: the lens' distortion shows
    tvec = np.array([-0.45, -0.05, 0.75])
    rect = true_rectification(FISH_L, FISH_R)
    obj = board.chessboard_object_points().astype(np.float64)
    found, expected = [], []
    for cam, pose, (mx, my), second in (
        (FISH_L, (rvec, tvec), rect.maps()[0], False),
        (FISH_R, compose(t_right_left(), rvec, tvec), rect.maps()[1], True),
    ):
        image = render_view(board, cam, pose[0], pose[1], rng)
        rectified = cv2.remap(image, mx.astype(np.float32), my.astype(np.float32),
                              cv2.INTER_LINEAR)  # fmt: skip
        ok, pts = cv2.findChessboardCornersSB(rectified, (9, 6), flags=cv2.CALIB_CB_ACCURACY)
        assert ok
        want = rectified_points(rect, cam.project(obj, *pose), second=second)
        pts = pts.reshape(-1, 2)
        pts = min((pts, pts[::-1]), key=lambda p: float(np.abs(p - want).max()))
        found.append(pts)
        expected.append(want)
        assert float(np.sqrt(np.mean(np.sum((pts - want) ** 2, axis=1)))) < NOISE_PX
    dy = found[0][:, 1] - found[1][:, 1]
    assert float(np.sqrt(np.mean(dy**2))) < NOISE_PX
    np.testing.assert_allclose(expected[0][:, 1], expected[1][:, 1], atol=1e-6)


def figure() -> dict[str, object]:
    """The closing note's fisheye stereo figure (the fisheye_pair fixture's calibration): errors
    against the truth, the leave-one-pair-out dy (abs, rectified px), the dy the TRUE
    calibration gives on the same noisy corners (the floor) and the dy of fresh noise-free
    views under the estimate."""
    left, right = synthetic_pair(FISH_L, FISH_R, seed=5)
    r = calibrate_stereo(left, right, model="fisheye")
    held = np.abs(r.heldout_dy_px if r.heldout_dy_px is not None else np.array([np.nan]))
    fresh = np.abs(fresh_dy(r, FISH_L, FISH_R))
    exact = true_rectification(FISH_L, FISH_R)
    floor = np.abs(
        np.concatenate(
            [
                rectified_offsets(exact, p.left.image_points, p.right.image_points)
                for p in match_pairs(left, right)[0]
            ]
        )
    )
    base = float(np.linalg.norm(T_RL))

    def errors(cam: IntrinsicsResult, true: Camera) -> dict[str, float]:
        at = {"fx": (0, 0), "fy": (1, 1), "cx": (0, 2), "cy": (1, 2)}
        return {n: round(float(cam.K[ij] - true.K[ij]), 3) for n, ij in at.items()}

    return {
        "camera": "equidistant fisheye 1280 x 800, 150 deg diagonal, 0.3 px corner noise",
        "pairs": len(r.used),
        "left_error_px": errors(r.left, FISH_L),
        "right_error_px": errors(r.right, FISH_R),
        "baseline_error_mm": round(1e3 * (r.baseline - base), 3),
        "baseline_error_pct": round(100 * (r.baseline - base) / base, 3),
        "rotation_error_deg": round(rotation_error_deg(r), 4),
        "rms_px": round(r.rms_px, 3),
        "rectified_fov_deg": [round(v, 1) for v in rectify(r).fov_deg],
        "heldout_dy_px": {
            "median": round(float(np.median(held)), 3),
            "max": round(float(held.max()), 3),
            "rms": round(float(np.sqrt(np.mean(held**2))), 3),
        },
        "truth_on_the_same_corners_dy_px": {
            "median": round(float(np.median(floor)), 3),
            "max": round(float(floor.max()), 3),
            "rms": round(float(np.sqrt(np.mean(floor**2))), 3),
        },
        "fresh_views_dy_px": {
            "median": round(float(np.median(fresh)), 3),
            "max": round(float(fresh.max()), 3),
        },
    }


def render_pairs(folder: Path, n: int = VIEWS, seed: int = 5) -> None:
    """``leftNN.png`` / ``rightNN.png``: the fisheye pair's views of the board, rendered (an
    input for ``adas-calibrate stereo --model fisheye``)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (rvec, tvec) in enumerate(random_poses(n, SPEC, FISH_L, rng)):
        for side, cam, pose in (
            ("left", FISH_L, (rvec, tvec)),
            ("right", FISH_R, compose(t_right_left(), rvec, tvec)),
        ):
            image = render_view(SPEC, cam, pose[0], pose[1], rng)
            cv2.imwrite(str(folder / f"{side}{i:02d}.png"), image)


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        render_pairs(Path(sys.argv[2]), n=16)
    else:
        print(json.dumps(figure(), indent=1))
