"""A mixed rig against synthetic truth: a pinhole and two 150-degree fisheyes of two sizes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.detect import DetectionSet
from calibration.errors import CalibrationError
from calibration.intrinsics import Model
from calibration.rig import RigResult, calibrate_rig, loop_closures
from calibration.rig_fit import to_matrix
from calibration.rig_io import rig_summary, write_rig_opencv_yaml
from tests.calibration.synth import Camera, rig_views
from tests.calibration.test_fisheye_stereo import FISH_R, NOISE_PX, PINHOLE, SPEC

FISH_HD = Camera(  # 1920 x 1080, 150 degrees across the diagonal
    np.array([[790.0, 0.0, 962.0], [0.0, 791.0, 538.0], [0.0, 0.0, 1.0]]),
    np.array([0.03, -0.006, 0.001, -0.0002]), (1920, 1080), Model.FISHEYE,
)  # fmt: skip
CAMS = {"P": PINHOLE, "F": FISH_R, "H": FISH_HD}
MODELS = {c: cam.model for c, cam in CAMS.items()}
T_CAM_REF = {  # x_cam = R x_P + T, metres
    "P": np.eye(4),
    "F": to_matrix(np.array([0.02, -0.06, 0.01]), np.array([-0.10, 0.003, 0.004])),
    "H": to_matrix(np.array([-0.01, 0.05, -0.02]), np.array([0.09, -0.004, 0.01])),
}
# 0.3 px noise, seed 21: measured 0.033 / 0.065 degrees and 1.2 / 0.65 mm (F / H); the rig
# keeps each camera's mono intrinsics (0.1 % off in f), which a pair's joint fit refines, so
# it is looser than the pair; bounds ~3x the measured, as for the pair
ROTATION_MAX_DEG = 0.2
TRANSLATION_MAX_M = 4e-3


def _rig_views(seed: int, n: int = 14) -> dict[str, DetectionSet]:
    """The board at ``n`` poses seen by the three cameras (``calNN.png`` in every camera)."""
    return rig_views(SPEC, CAMS, T_CAM_REF, "P", n, NOISE_PX, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def rig() -> RigResult:
    return calibrate_rig(_rig_views(21), model={"F": "fisheye", "H": "fisheye"})


def _angle_deg(R: np.ndarray, R_true: np.ndarray) -> float:
    return float(np.degrees(np.linalg.norm(cv2.Rodrigues(R @ R_true.T)[0])))


def test_mixed_rig_recovers_intrinsics_and_extrinsics(rig: RigResult) -> None:
    """Each camera's model and intrinsics (fx fy cx cy inside the reported 3 sigma), every
    extrinsic within the bounds, the joint RMS at the noise (0.42 px 2-D), loops closed."""
    assert {c: k.intrinsics.model for c, k in rig.cameras.items()} == MODELS
    assert rig.unconnected == () and len(rig.links) == 3
    for c, cam in rig.cameras.items():
        k, true = cam.intrinsics, CAMS[c]
        assert k.image_size == true.size
        for name, got, want in (
            ("fx", k.fx, true.K[0, 0]), ("fy", k.fy, true.K[1, 1]),
            ("cx", k.cx, true.K[0, 2]), ("cy", k.cy, true.K[1, 2]),
        ):  # fmt: skip
            assert abs(got - want) < 3 * k.std[name], (c, name, got, want, k.std[name])
        assert _angle_deg(cam.R, T_CAM_REF[c][:3, :3]) < ROTATION_MAX_DEG, c
        assert np.linalg.norm(cam.T - T_CAM_REF[c][:3, 3]) < TRANSLATION_MAX_M, (c, cam.T)
        assert 0.8 * NOISE_PX * np.sqrt(2) < cam.rms_px < 1.2 * NOISE_PX * np.sqrt(2), c
    (loop,) = loop_closures(rig)
    assert loop.rotation_deg < ROTATION_MAX_DEG and loop.relative < 0.01  # 0.002 deg measured


def test_mixed_rig_pairs_are_rectified_with_each_lens(rig: RigResult) -> None:
    """Every link rectified (its fisheye through the fisheye model) to the smaller camera's
    size; in-sample dy at the noise: under 2 x sqrt(2) x 0.3 px RMS (rectified pixels stretch
    the fisheyes' periphery, as in the pair test)."""
    sizes = {(lk.a, lk.b): lk.rect_size for lk in rig.links}
    assert sizes == {("P", "F"): (1280, 800), ("P", "H"): (1280, 800), ("F", "H"): (1280, 800)}
    for lk in rig.links:
        assert 0 < lk.dy_rms_px < 2 * np.sqrt(2) * NOISE_PX, lk


def test_mixed_rig_files_carry_each_cameras_model(rig: RigResult, tmp_path: Path) -> None:
    write_rig_opencv_yaml(rig, tmp_path / "rig.yaml")
    fs = cv2.FileStorage(str(tmp_path / "rig.yaml"), cv2.FILE_STORAGE_READ)
    for i, (c, want) in enumerate((("P", "plumb_bob"), ("F", "fisheye"), ("H", "fisheye"))):
        node = fs.getNode(f"camera_{i}")
        assert node.getNode("name").string() == c
        assert node.getNode("distortion_model").string() == want
        d = node.getNode("D").mat().ravel()
        np.testing.assert_allclose(d, rig.cameras[c].intrinsics.dist, rtol=1e-12)
    fs.release()
    summary = rig_summary(rig)
    assert {c: s["model"] for c, s in summary["cameras"].items()} == {
        "P": "pinhole5", "F": "fisheye", "H": "fisheye",
    }  # fmt: skip
    json.dumps(summary)


def test_rig_models_must_name_its_cameras() -> None:
    sets = _rig_views(3, n=4)
    with pytest.raises(CalibrationError, match=r"models given for cameras \['Z'\]"):
        calibrate_rig(sets, model={"Z": "fisheye"})
