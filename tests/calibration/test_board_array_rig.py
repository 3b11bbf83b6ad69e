"""A two-camera rig calibrated on a board array: each camera's intrinsics from the array,
the extrinsics from the shared views (library and ``rig --array-spec`` on rendered images)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration import cli
from calibration.array_fit import calibrate_array
from calibration.board_array import alternate_tilts, design_array
from calibration.boards import BoardKind, BoardSpec
from calibration.rig import calibrate_rig
from calibration.rig_fit import to_matrix
from tests.calibration.synth import Camera, compose, detection_set
from tests.calibration.synth_array import (
    CAMERA,
    array_pose,
    projected_array_detection,
    render_array,
)

BOARD = BoardSpec(BoardKind.CHARUCO, 14, 10, 0.02, 0.015)
ARRAY = design_array(BOARD, (2, 2), alternate_tilts(4, 30), spacing_m=0.02)
T_B_A = to_matrix(np.array([0.01, -0.05, 0.005]), np.array([-0.12, 0.004, 0.002]))  # x_B = T x_A
NOISE_PX = 0.3  # the corner noise


def _small(cam: Camera, scale: float) -> Camera:
    """The same camera at ``scale`` x the resolution (faster rendering)."""
    K = cam.K.copy()
    K[:2] *= scale
    return Camera(K, cam.dist, (round(cam.size[0] * scale), round(cam.size[1] * scale)))


def _poses(cam: Camera, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    return [array_pose(ARRAY, cam, rng, fill=0.6) for _ in range(n)]


def _relative_error(T: np.ndarray) -> tuple[float, float]:
    """Rotation (degrees) and translation (mm) between ``T`` and the true T_B_A."""
    D = T @ np.linalg.inv(T_B_A)
    return float(np.degrees(np.linalg.norm(cv2.Rodrigues(D[:3, :3])[0]))), float(
        np.linalg.norm(T[:3, 3] - T_B_A[:3, 3]) * 1e3
    )


def test_rig_on_the_array_recovers_the_extrinsics() -> None:
    """Three shared images: each camera's focal length within 0.1 %, T_B_A within 0.05 degree
    and 1 mm (0.3 px noise over ~470 corners per image at ~1 m)."""
    rng = np.random.default_rng(4)
    sets = {}
    for c, T in (("A", np.eye(4)), ("B", T_B_A)):
        dets = []
        for i, (rvec, tvec) in enumerate(_poses(CAMERA, 3, np.random.default_rng(4))):
            rv, tv = compose(T, rvec, tvec)
            dets.append(projected_array_detection(f"v{i}.png", ARRAY, CAMERA, rv, tv, rng,
                                                  noise_px=NOISE_PX))  # fmt: skip
        sets[c] = detection_set(dets, CAMERA)
    cams = {c: calibrate_array(s.detected, s.image_size, ARRAY).intrinsics for c, s in sets.items()}
    for cam in cams.values():
        assert abs(cam.fx / CAMERA.K[0, 0] - 1) < 1e-3
    result = calibrate_rig(sets, intrinsics=cams)
    B = result.cameras["B"]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = B.R, B.T
    rot, trans = _relative_error(T)
    assert rot < 0.05 and trans < 1.0, (rot, trans)


@pytest.mark.slow
def test_rig_command_with_an_array_spec(tmp_path: Path) -> None:
    """``rig --array-spec`` on rendered images (half resolution): the extrinsics within
    0.2 degree and 3 mm (fewer, coarser corners than the projected test)."""
    cam = _small(CAMERA, 0.5)
    ARRAY.save(tmp_path / "array.json")
    rng = np.random.default_rng(2)
    for c, T in (("A", np.eye(4)), ("B", T_B_A)):
        (tmp_path / c).mkdir()
        for i, (rvec, tvec) in enumerate(_poses(cam, 2, np.random.default_rng(2))):
            rv, tv = compose(T, rvec, tvec)
            image = render_array(ARRAY, cam, rv, tv, rng, dpi=120.0)
            cv2.imwrite(str(tmp_path / c / f"v{i}.png"), image)
    out = tmp_path / "rig.json"
    argv = ["rig", "--camera", "A", str(tmp_path / "A" / "*.png"), "--camera", "B",
            str(tmp_path / "B" / "*.png"), "--array-spec", str(tmp_path / "array.json"),
            "--json", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    s = json.loads(out.read_text())
    b = s["extrinsics"]["B"]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = cv2.Rodrigues(np.array(b["R_rvec"]))[0], np.array(b["T"])
    rot, trans = _relative_error(T)
    assert rot < 0.2 and trans < 3.0, (rot, trans)
    assert abs(s["cameras"]["A"]["fx"] / cam.K[0, 0] - 1) < 3e-3  # the one-shot bound
