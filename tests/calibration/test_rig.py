"""Multi-camera rig: synthetic truth with three resolutions, files, and the ChArUco 3-camera set."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.boards import BoardKind, BoardSpec
from calibration.detect import DetectionSet, detect_images, expand_inputs
from calibration.errors import CalibrationError, NotEnoughViewsError
from calibration.rig import RigResult, calibrate_rig, loop_closures
from calibration.rig_fit import to_matrix
from calibration.rig_io import rig_summary, write_rig_opencv_yaml
from tests.calibration.synth import (
    Camera,
    rig_views,
)

SPEC = BoardSpec(BoardKind.CHARUCO, 12, 8, 0.03, 0.022, "DICT_5X5_100")
CAMS = {
    "A": Camera(
        np.array([[900.0, 0.0, 515.0], [0.0, 905.0, 380.0], [0.0, 0.0, 1.0]]),
        np.array([-0.28, 0.09, 0.0008, -0.0005, -0.01]),
        (1024, 768),
    ),
    "B": Camera(
        np.array([[1100.0, 0.0, 645.0], [0.0, 1102.0, 478.0], [0.0, 0.0, 1.0]]),
        np.array([-0.1, 0.02, 0.0, 0.0, 0.0]),
        (1280, 960),
    ),
    "C": Camera(
        np.array([[520.0, 0.0, 322.0], [0.0, 521.0, 236.0], [0.0, 0.0, 1.0]]),
        np.array([-0.25, 0.07, 0.001, 0.0, 0.0]),
        (640, 480),
    ),
}
T_CAM_REF = {  # x_cam = R x_A + T, metres
    "A": np.eye(4),
    "B": to_matrix(np.array([0.02, -0.06, 0.01]), np.array([-0.10, 0.003, 0.004])),
    "C": to_matrix(np.array([-0.01, 0.05, -0.02]), np.array([0.09, -0.004, 0.01])),
}
NOISE_PX = 0.05


def _rig_views(seed: int, n: int = 24) -> dict[str, DetectionSet]:
    """The board at ``n`` poses seen by the three cameras (``calNN.png`` in every camera)."""
    return rig_views(SPEC, CAMS, T_CAM_REF, "A", n, NOISE_PX, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def synthetic() -> tuple[dict[str, DetectionSet], RigResult]:
    sets = _rig_views(21)
    return sets, calibrate_rig(sets)


def _angle_deg(R: np.ndarray, R_true: np.ndarray) -> float:
    return float(np.degrees(np.linalg.norm(cv2.Rodrigues(R @ R_true.T)[0])))


def test_synthetic_rig_recovers_the_extrinsics(synthetic: tuple) -> None:
    """Three resolutions; every extrinsic within 0.05 deg and 0.5 mm of the truth, each
    camera's joint RMS at the noise level (0.05 px per axis = 0.071 px 2-D)."""
    _, rig = synthetic
    assert rig.reference == "A" and list(rig.cameras) == ["A", "B", "C"]
    assert rig.unconnected == () and len(rig.links) == 3
    for c, cam in rig.cameras.items():
        assert cam.intrinsics.image_size == CAMS[c].size
        assert _angle_deg(cam.R, T_CAM_REF[c][:3, :3]) < 0.05, c
        assert np.linalg.norm(cam.T - T_CAM_REF[c][:3, 3]) < 5e-4, (c, cam.T)
        assert 0.8 * NOISE_PX * np.sqrt(2) < cam.rms_px < 1.2 * NOISE_PX * np.sqrt(2), c
        np.testing.assert_allclose(cam.T_ref_cam @ T_CAM_REF[c], np.eye(4), atol=1e-3)
    (loop,) = loop_closures(rig)
    assert loop.cameras == ("A", "B", "C") and loop.rotation_deg < 0.05 and loop.relative < 0.01


def test_synthetic_rig_rectifies_each_pair_to_the_smaller_size(synthetic: tuple) -> None:
    _, rig = synthetic
    sizes = {(lk.a, lk.b): lk.rect_size for lk in rig.links}
    assert sizes == {("A", "B"): (1024, 768), ("A", "C"): (640, 480), ("B", "C"): (640, 480)}
    for lk in rig.links:
        assert lk.dy_rms_px < 0.1 and lk.dy_p95_px < 0.2, lk
    summary = rig_summary(rig)
    assert list(summary)[:5] == ["reference", "rms_px", "cameras", "extrinsics", "pairs"]
    assert summary["pairs"][1]["rectified_width"] == 640
    np.testing.assert_allclose(summary["extrinsics"]["B"]["T_ref_cam"], rig.cameras["B"].T_ref_cam)
    json.dumps(summary)  # JSON-safe


def test_synthetic_rig_with_another_reference_and_common_size(synthetic: tuple) -> None:
    sets, base = synthetic
    intrinsics = {c: k.intrinsics for c, k in base.cameras.items()}  # skip the mono fits
    rig = calibrate_rig(sets, reference="B", intrinsics=intrinsics, common_size=(800, 600))
    assert list(rig.cameras) == ["B", "A", "C"]
    np.testing.assert_allclose(rig.cameras["B"].R, np.eye(3))
    T_a_b = np.linalg.inv(T_CAM_REF["B"])
    assert _angle_deg(rig.cameras["A"].R, T_a_b[:3, :3]) < 0.05
    assert np.linalg.norm(rig.cameras["A"].T - T_a_b[:3, 3]) < 5e-4
    assert {lk.rect_size for lk in rig.links} == {(800, 600)}


def test_rig_yaml_round_trip(synthetic: tuple, tmp_path: Path) -> None:
    _, rig = synthetic
    write_rig_opencv_yaml(rig, tmp_path / "rig.yaml")
    fs = cv2.FileStorage(str(tmp_path / "rig.yaml"), cv2.FILE_STORAGE_READ)
    assert fs.getNode("reference").string() == "A" and int(fs.getNode("camera_count").real()) == 3
    node = fs.getNode("camera_2")
    assert node.getNode("name").string() == "C"
    assert int(node.getNode("image_width").real()) == 640
    np.testing.assert_allclose(node.getNode("K").mat(), rig.cameras["C"].intrinsics.K, rtol=1e-12)
    np.testing.assert_allclose(node.getNode("R").mat(), rig.cameras["C"].R, rtol=1e-12)
    np.testing.assert_allclose(node.getNode("T").mat().ravel(), rig.cameras["C"].T, rtol=1e-12)
    fs.release()


def test_rig_input_errors(synthetic: tuple) -> None:
    sets, _ = synthetic
    with pytest.raises(NotEnoughViewsError, match="at least 2 cameras"):
        calibrate_rig({"A": sets["A"]})
    with pytest.raises(CalibrationError, match="reference camera 'Z'"):
        calibrate_rig(sets, reference="Z")


# ---- the ChArUco 3-camera set (ADAS_DATA_DIR/calibration/charuco_3cam) ----

CHARUCO = BoardSpec(BoardKind.CHARUCO, 20, 20, 0.004, 0.0032, "DICT_4X4_1000")


@pytest.fixture(scope="module")
def charuco_rig(data_dir: Path) -> RigResult:
    root = data_dir / "calibration" / "charuco_3cam"
    sets = {c: detect_images(expand_inputs([root / c]), CHARUCO, workers=2) for c in "123"}
    return calibrate_rig(sets)


@pytest.fixture(scope="module")
def reference_fx(data_dir: Path) -> dict[str, float]:
    camset = json.loads(
        (data_dir / "calibration" / "charuco_3cam" / "initial_cameras.camset").read_text()
    )
    return {cam: float(np.asarray(v["int"])[0, 0]) for cam, v in camset["cams"].items()}


@pytest.mark.data
@pytest.mark.slow
def test_charuco_rig_fx_and_links(charuco_rig: RigResult, reference_fx: dict) -> None:
    rig = charuco_rig
    for c, cam in rig.cameras.items():
        assert abs(cam.intrinsics.fx - reference_fx[c]) <= 5.0, c
    assert [r.name for r in rig.cameras["1"].intrinsics.rejected] == ["cal13.jpg", "cal15.jpg"]
    assert {(lk.a, lk.b): len(lk.views) for lk in rig.links} == {
        ("1", "2"): 16, ("1", "3"): 16, ("2", "3"): 19,
    }  # fmt: skip
    # the three cameras sit ~120 degrees apart around the board's normal, ~3.8 cm apart
    for c in ("2", "3"):
        angle = np.degrees(np.linalg.norm(cv2.Rodrigues(rig.cameras[c].R)[0]))
        assert 115 < angle < 125 and 0.03 < np.linalg.norm(rig.cameras[c].T) < 0.045


@pytest.mark.data
@pytest.mark.slow
def test_charuco_rig_is_self_consistent(charuco_rig: RigResult) -> None:
    """Loop closure 0.10 deg and 0.18 mm (0.5 % of the 3.8 cm link) measured. The joint RMS
    is 1.34 px (1.36 / 1.39 / 1.27 per camera) against 0.92 / 0.80 / 0.85 px mono: the rigid
    rig cannot explain every view as well as free per-camera poses do (freeing the intrinsics
    too only reaches 1.29 px), so the views disagree by ~1 px between cameras (sync or board
    flatness); bounded here, not hidden. In-sample rectified dy RMS 0.94 / 0.99 / 0.53 px
    (links 1-2, 1-3, 2-3)."""
    rig = charuco_rig
    (loop,) = loop_closures(rig)
    assert loop.rotation_deg < 0.2 and loop.relative < 0.01
    assert rig.rms_px <= 1.45
    for cam in rig.cameras.values():
        assert cam.intrinsics.rms_px < cam.rms_px <= 1.8 * cam.intrinsics.rms_px  # 1.74 x camera 2
    for lk in rig.links:
        assert lk.dy_rms_px < 1.1 and lk.rect_size == (1280, 1024), lk
