"""Synthetic truth: boards seen through a known camera are calibrated back to that camera."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.boards import BoardKind, BoardSpec, render_png
from calibration.detect import Detection, detect_images, expand_inputs
from calibration.intrinsics import IntrinsicsResult, Model, calibrate
from tests.calibration.synth import Camera, random_poses, render_view

SPEC = BoardSpec(BoardKind.CHARUCO, 12, 8, 0.03, 0.022, "DICT_5X5_100")  # even rows: layouts differ
CAM = Camera(
    np.array([[900.0, 0.0, 515.0], [0.0, 905.0, 380.0], [0.0, 0.0, 1.0]]),
    np.array([-0.28, 0.09, 0.0008, -0.0005, -0.01]),
    (1024, 768),
)
TRUTH = {"fx": 900.0, "fy": 905.0, "cx": 515.0, "cy": 380.0, "k1": -0.28}


def _estimate(result: IntrinsicsResult, key: str) -> float:
    return float(result.dist[0]) if key == "k1" else float(getattr(result, key))


@pytest.mark.slow
def test_rendered_partial_views_recover_the_camera(tmp_path: Path) -> None:
    """12 rendered views, half with a dark band over half the image and many with the board
    partly outside: detection, calibration and its standard deviations agree with the truth."""
    rng = np.random.default_rng(3)
    for i, (rvec, tvec) in enumerate(random_poses(12, SPEC, CAM, rng)):
        image = render_view(SPEC, CAM, rvec, tvec, rng, occlude=0.5 if i % 2 else 0.0)
        cv2.imwrite(str(tmp_path / f"view{i:02d}.png"), image)
    dets = detect_images(expand_inputs([tmp_path]), SPEC, workers=2)
    assert dets.layout == "modern"
    full = len(SPEC.chessboard_object_points())
    counts = sorted(d.count for d in dets.detected)
    assert len(counts) >= 10, counts
    assert sum(c < 0.6 * full for c in counts) >= 4, f"too few heavily partial views: {counts}"
    result = calibrate(dets.detected, dets.image_size)
    assert result.rms_px < 0.3
    assert result.heldout_rms_px is not None and result.heldout_rms_px < 1.2 * result.rms_px
    for key, truth in TRUTH.items():
        err = abs(_estimate(result, key) - truth)
        assert err <= 3 * result.std[key], f"{key}: off by {err:.4g}, std {result.std[key]:.4g}"


def _projected_views(model: Model, seed: int, noise_px: float) -> tuple[list[Detection], Camera]:
    """Views made by projecting the true corners (+ Gaussian noise), keeping only those inside
    the image, and of those a random window of the board (partial views)."""
    rng = np.random.default_rng(seed)
    dist = np.array([0.05, -0.02, 0.004, -0.002]) if model is Model.FISHEYE else CAM.dist
    cam = Camera(CAM.K, dist, CAM.size)
    obj = SPEC.chessboard_object_points().astype(np.float64)
    views = []
    for i, (rvec, tvec) in enumerate(random_poses(15, SPEC, cam, rng)):
        if model is Model.FISHEYE:
            px, _ = cv2.fisheye.projectPoints(
                obj.reshape(-1, 1, 3), rvec.reshape(3, 1), tvec.reshape(3, 1), cam.K, dist
            )
        else:
            px, _ = cv2.projectPoints(obj, rvec, tvec, cam.K, dist)
        px = px.reshape(-1, 2) + rng.normal(0.0, noise_px, (len(obj), 2))
        inside = (px[:, 0] > 0) & (px[:, 0] < cam.size[0] - 1)
        inside &= (px[:, 1] > 0) & (px[:, 1] < cam.size[1] - 1)
        keep = inside & (obj[:, 0] >= rng.uniform(0.0, 0.15))  # cut part of the board away
        if keep.sum() >= 12:
            ids = np.flatnonzero(keep).astype(np.int32)
            views.append(
                Detection(
                    f"v{i}",
                    "",
                    px[keep].astype(np.float32),
                    obj[keep].astype(np.float32),
                    ids,
                    "synthetic",
                )
            )
    return views, cam


@pytest.mark.parametrize("model", [Model.PINHOLE5, Model.FISHEYE])
@pytest.mark.parametrize("seed", [11, 12])
def test_projected_corners_recover_the_camera(model: Model, seed: int) -> None:
    """With independent corner noise of 0.2 px the estimate is within 3 reported std (the
    fisheye std comes from this package's own Jacobian, the pinhole one from OpenCV)."""
    views, cam = _projected_views(model, seed, 0.2)
    result = calibrate(views, cam.size, model, heldout=False)
    assert result.rejected == ()
    assert 0.22 < result.rms_px < 0.30  # 0.2 px per axis = 0.28 px 2-D, less the fit's share
    truth = {"fx": cam.K[0, 0], "fy": cam.K[1, 1], "cx": cam.K[0, 2], "cy": cam.K[1, 2]}
    truth["k1"] = cam.dist[0]
    for key, value in truth.items():
        err = abs(_estimate(result, key) - value)
        assert 0 < result.std[key] < 5, f"{key}: std {result.std[key]}"
        assert err <= 3 * result.std[key], f"{key}: off by {err:.4g}, std {result.std[key]:.4g}"


def test_a_corrupted_view_is_rejected_and_named() -> None:
    """A view whose corners are shifted by ~2 px is rejected with its reason; the rest stay."""
    views, cam = _projected_views(Model.PINHOLE5, 13, 0.1)
    bad = views[3]
    rng = np.random.default_rng(0)
    shifted = bad.image_points + rng.normal(0, 2.0, bad.image_points.shape).astype(np.float32)
    views[3] = Detection(bad.name, "", shifted, bad.object_points, bad.ids, "synthetic")
    result = calibrate(views, cam.size, heldout=False)
    assert [r.name for r in result.rejected] == [bad.name]
    assert "median" in result.rejected[0].reason
    assert len(result.used) == len(views) - 1
    assert abs(result.fx - cam.K[0, 0]) <= 3 * result.std["fx"]


def test_legacy_layout_is_found_without_being_told(tmp_path: Path) -> None:
    """A board printed with the pre-4.6 layout is detected with the legacy layout only."""
    legacy = BoardSpec(BoardKind.CHARUCO, 6, 6, 0.03, 0.022, "DICT_4X4_50", legacy=True)
    cv2.imwrite(str(tmp_path / "flat.png"), render_png(legacy, dpi=100, margin_m=0.02))
    auto = BoardSpec(BoardKind.CHARUCO, 6, 6, 0.03, 0.022, "DICT_4X4_50")  # layout unknown
    dets = detect_images([tmp_path / "flat.png"], auto, workers=1)
    assert dets.layout == "legacy"
    assert dets.corners_by_layout["legacy"] == 25  # all 5 x 5 inner corners
    assert dets.corners_by_layout["modern"] < 25
    assert dets.detections[0].method == "charuco-legacy"
