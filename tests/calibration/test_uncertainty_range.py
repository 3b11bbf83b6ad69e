"""Ground-range uncertainty (calibration.ground_range): the mount's sensitivity to the
intrinsics against refits, the predicted range 1 sigma against the scatter of many noisy
intrinsics + mount calibrations of a known camera on a known mount, and the camera file
carrying the covariance from ``intrinsics`` to ``mount``."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.camera import CameraModel, Mount
from calibration.boards import BoardKind, BoardSpec
from calibration.detect import Detection
from calibration.errors import CalibrationError
from calibration.ground_range import (
    RANGES_M,
    SUPPORT_SIGMAS,
    TARGET_MEDIAN_PCT,
    band_projection,
    range_uncertainty,
    road_pixels,
    road_range,
)
from calibration.intrinsics import Model, calibrate
from calibration.io import CameraUncertainty, write_opencv_yaml
from calibration.mount import BoardPlacement, Intrinsics, estimate_mount, load_intrinsics
from calibration.uncertainty import summary_fields
from tests.calibration.synth import Camera, projected_detection, random_poses

K = np.array([[900.0, 0.0, 640.0], [0.0, 905.0, 400.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.2, 0.05, 0.001, -0.001, 0.0])
SIZE = (1280, 800)
CAM = Camera(K, DIST, SIZE)
TRUTH = Mount.from_degrees(
    height_m=1.35, pitch_deg=6.5, roll_deg=1.2, yaw_deg=-2.0, behind_bumper_m=1.9, lateral_m=0.25
)
GROUND = BoardPlacement.on_ground(1.6, 0.85, yaw_deg=-90.0, thickness_m=0.005)
GROUND_SPEC = BoardSpec(BoardKind.CHARUCO, 8, 6, 0.15, 0.11, "DICT_4X4_50")  # 1.2 x 0.9 m
HAND_SPEC = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 0.03)  # the intrinsics board, 27 x 18 cm
NOISE_PX = 0.3
K_TRUE = np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2], *DIST])
M_TRUE = np.array(dataclasses.astuple(TRUTH))
OBJ = GROUND_SPEC.chessboard_object_points().astype(np.float64)
T = GROUND.T_vehicle_board
GROUND_PX = CameraModel(K, DIST, *SIZE, mount=TRUTH).project_vehicle(OBJ @ T[:3, :3].T + T[:3, 3])


def _ground_views(rng: np.random.Generator, n: int, noise: float) -> list[Detection]:
    """``n`` detections of the ground board through the true camera and mount (adas's own
    projection), every corner in view."""
    assert np.isfinite(GROUND_PX).all() and (GROUND_PX >= 0).all() and (GROUND_PX < SIZE).all()
    ids = np.arange(len(OBJ), dtype=np.int32)
    return [
        Detection(f"g{i}", "", (GROUND_PX + rng.normal(0, noise, GROUND_PX.shape)).astype(
            np.float32), OBJ.astype(np.float32), ids, "")
        for i in range(n)
    ]  # fmt: skip


def _hand_views(rng: np.random.Generator, poses: list) -> list[Detection]:
    dets = [projected_detection(f"v{i}", HAND_SPEC, CAM, r, t, rng, noise_px=NOISE_PX)
            for i, (r, t) in enumerate(poses)]  # fmt: skip
    assert all(d is not None for d in dets)
    return [d for d in dets if d is not None]


def test_road_range_inverts_road_pixels_and_adas() -> None:
    """The pixels of road points at 20/40/60 m, back through the same camera: the ranges
    again; and adas's pixel_to_road agrees (the stack's ground cue)."""
    px = road_pixels(Model.PINHOLE5, K_TRUE, M_TRUE, RANGES_M)
    np.testing.assert_allclose(road_range(Model.PINHOLE5, K_TRUE, M_TRUE, px), RANGES_M, rtol=1e-9)
    on_road = CameraModel(K, DIST, *SIZE, mount=TRUTH).pixel_to_road(px)
    np.testing.assert_allclose(on_road[:, 0], RANGES_M, rtol=1e-6)
    np.testing.assert_allclose(on_road[:, 1], TRUTH.lateral_m, atol=1e-6)


def test_mount_sensitivity_matches_refits() -> None:
    """d(mount)/d(intrinsics): refitting the mount with cy and fx moved gives the change the
    linear sensitivity predicts (to 2 % of it: second-order terms of a 1 px / 0.1 % step)."""
    views = _ground_views(np.random.default_rng(0), 1, 0.0)
    base = estimate_mount(views, K, DIST, "pinhole5", GROUND)
    assert base.sensitivity is not None and base.sensitivity.shape == (6, 9)
    m0 = np.array(dataclasses.astuple(base.mount))
    for j, step in ((3, 1.0), (0, 0.9)):  # cy + 1 px, fx + 0.1 %
        k = K_TRUE.copy()
        k[j] += step
        Kj = np.array([[k[0], 0, k[2]], [0, k[1], k[3]], [0, 0, 1.0]])
        moved = np.array(
            dataclasses.astuple(estimate_mount(views, Kj, DIST, "pinhole5", GROUND).mount)
        )
        predicted = base.sensitivity[:, j] * step
        np.testing.assert_allclose(moved - m0, predicted, atol=0.02 * np.abs(predicted).max())


def _camera_with(cov: np.ndarray, names: tuple[str, ...], k: np.ndarray) -> Intrinsics:
    Kk = np.array([[k[0], 0, k[2]], [0, k[1], k[3]], [0, 0, 1.0]])
    return Intrinsics(Kk, k[4:], Model.PINHOLE5, SIZE, CameraUncertainty(names, cov))


@pytest.mark.slow
def test_range_sigma_matches_250_noisy_calibrations() -> None:
    """Each draw calibrates the intrinsics (12 views of a hand board, 0.3 px) and then the
    mount with them (2 images of the ground board, 0.3 px); the range error of the true road
    pixels at 20/40/60 m scatters as the first draw predicts, within 20 % (relative SE of a
    std from 250 draws: 1/sqrt(498) = 4.5 %)."""
    rng = np.random.default_rng(1)
    poses = random_poses(12, HAND_SPEC, CAM, rng)
    true_px = road_pixels(Model.PINHOLE5, K_TRUE, M_TRUE, RANGES_M)
    errors, predicted = [], None
    for k in range(250):
        dets = _hand_views(rng, poses)
        if k == 0:
            res = calibrate(dets, SIZE, "pinhole5", reject=False, heldout=False)
            Kh, dh = res.K, res.dist
        else:  # the same fit without calibrate()'s second run for the std: faster
            obj = [d.object_points for d in dets]
            _, Kc, dc, _, _ = cv2.calibrateCamera(
                obj, [d.image_points for d in dets], SIZE, None, None
            )
            Kh, dh = np.asarray(Kc, np.float64), np.asarray(dc, np.float64).ravel()
        mount = estimate_mount(_ground_views(rng, 2, NOISE_PX), Kh, dh, "pinhole5", GROUND)
        kh = np.array([Kh[0, 0], Kh[1, 1], Kh[0, 2], Kh[1, 2], *dh])
        if k == 0:
            unc = summary_fields(res, (20.0,))["intrinsics_covariance"]
            camera = _camera_with(np.array(unc["matrix"]), tuple(unc["names"]), kh)
            predicted = range_uncertainty(camera, mount)
        mh = np.array(dataclasses.astuple(mount.mount))
        errors.append(road_range(Model.PINHOLE5, kh, mh, true_px) - np.array(RANGES_M))
    assert predicted is not None
    empirical = np.std(np.array(errors), axis=0, ddof=1)
    for row, emp in zip(predicted["ranges"], empirical, strict=True):
        ratio = emp / row["sigma_m"]
        print(f"range {row['range_m']:g} m: predicted {row['sigma_m']:.3f} m "
              f"({row['sigma_pct']:.2f} %), empirical {emp:.3f} m, ratio {ratio:.3f}")  # fmt: skip
        assert emp / row["sigma_m"] == pytest.approx(1.0, abs=0.2)
        assert row["supported"] == (SUPPORT_SIGMAS * row["sigma_pct"] <= TARGET_MEDIAN_PCT)


def test_intrinsics_part_scales_with_the_covariance_and_decides_the_verdict() -> None:
    mount = estimate_mount(_ground_views(np.random.default_rng(2), 2, NOISE_PX), K, DIST,
                           "pinhole5", GROUND)  # fmt: skip
    names = ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3")
    cov = np.diag([1.0, 1.0, 1.0, 1.0, 1e-6, 1e-6, 1e-8, 1e-8, 1e-6])  # 1 px on f and c
    one = range_uncertainty(_camera_with(cov, names, K_TRUE), mount)
    four = range_uncertainty(_camera_with(4 * cov, names, K_TRUE), mount)
    zero = range_uncertainty(_camera_with(0 * cov, names, K_TRUE), mount)
    for a, b, z in zip(one["ranges"], four["ranges"], zero["ranges"], strict=True):
        assert b["from_intrinsics_m"] == pytest.approx(2 * a["from_intrinsics_m"], rel=1e-9)
        assert a["from_mount_m"] == b["from_mount_m"] == z["sigma_m"]
        assert a["sigma_m"] == pytest.approx(math.hypot(a["from_intrinsics_m"], a["from_mount_m"]))
    rule = [SUPPORT_SIGMAS * r["sigma_pct"] <= TARGET_MEDIAN_PCT for r in zero["ranges"]]
    assert [r["supported"] for r in zero["ranges"]] == rule and zero["supported"] == all(rule)
    # 40 images of the ground board and exact intrinsics: precise enough at every range
    many = estimate_mount(_ground_views(np.random.default_rng(2), 40, NOISE_PX), K, DIST,
                          "pinhole5", GROUND)  # fmt: skip
    assert range_uncertainty(_camera_with(0 * cov, names, K_TRUE), many)["supported"] is True
    huge = range_uncertainty(_camera_with(1e4 * cov, names, K_TRUE), mount)  # 100 px
    assert huge["supported"] is False
    no_cov = dataclasses.replace(_camera_with(cov, names, K_TRUE), uncertainty=None)
    assert range_uncertainty(no_cov, mount)["supported"] is None


def test_camera_file_carries_the_covariance_to_mount(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    res = calibrate(_hand_views(rng, random_poses(8, HAND_SPEC, CAM, rng)), SIZE, "pinhole5",
                    reject=False, heldout=False)  # fmt: skip
    fields = summary_fields(res, (20.0, 40.0))
    write_opencv_yaml(res, tmp_path / "cam.yaml", fields)
    camera = load_intrinsics(tmp_path / "cam.yaml")
    assert camera.uncertainty is not None
    assert camera.uncertainty.names == tuple(fields["intrinsics_covariance"]["names"])
    np.testing.assert_array_equal(
        camera.uncertainty.covariance, fields["intrinsics_covariance"]["matrix"]
    )
    grid = fields["projection_uncertainty"]["map"]
    np.testing.assert_array_equal(camera.uncertainty.sigma_px, grid["sigma_px"])
    mount = estimate_mount(
        _ground_views(rng, 1, NOISE_PX), camera.K, camera.dist, camera.model, GROUND
    )
    band = band_projection(camera, mount)
    assert band is not None and band["depth_m"] == 20.0
    horizon = CameraModel(camera.K, camera.dist, *SIZE, mount=mount.mount).horizon_v()
    assert band["band_rows"] == [
        math.floor(horizon - camera.K[1, 1] * math.tan(math.radians(8))),
        SIZE[1],
    ]
    inside = [s for v, row in zip(grid["v"], grid["sigma_px"], strict=True)
              if band["band_rows"][0] <= v < band["band_rows"][1] for s in row]  # fmt: skip
    assert band["band_max_px"] == max(inside)
    # A file whose covariance does not match its model is refused, naming the file
    fs = cv2.FileStorage(str(tmp_path / "bad.yaml"), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", SIZE[0])
    fs.write("image_height", SIZE[1])
    fs.write("camera_matrix", K)
    fs.write("distortion_coefficients", DIST.reshape(-1, 1))
    fs.write("intrinsics_covariance_names", "fx fy cx cy")
    fs.write("intrinsics_covariance", np.eye(4))
    fs.release()
    with pytest.raises(CalibrationError, match=r"bad\.yaml"):
        load_intrinsics(tmp_path / "bad.yaml")
