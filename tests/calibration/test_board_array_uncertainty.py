"""Uncertainty of a board-array calibration (calibration.array_fit.array_covariance): the
board-pose Jacobian against finite differences, the covariance against OpenCV's standard
deviations, the predicted projection 1 sigma against the scatter of many noisy one-shot and
board-pose-estimating calibrations of a known camera, and the command writing the
covariance that ``mount`` reads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from adas.camera import CameraModel
from calibration import cli, cli_array
from calibration.array_covariance import array_jacobian
from calibration.array_fit import array_covariance, calibrate_array, free_boards
from calibration.board_array import ArraySpec
from calibration.detect import Detection
from calibration.ground_range import range_uncertainty
from calibration.intrinsics import Model, project
from calibration.mount import BoardPlacement, estimate_mount, load_intrinsics
from calibration.uncertainty import sigma_map
from tests.calibration.synth import detection_set
from tests.calibration.synth_array import CAMERA, array_pose, projected_array_detection
from tests.calibration.test_board_array import NOISE_PX, _array
from tests.calibration.test_uncertainty import (
    check_ratios,
    grid_pixels,
    projection_errors,
    scatter_ratios,
)
from tests.calibration.test_uncertainty_range import GROUND_SPEC, TRUTH

Poses = list[tuple[np.ndarray, np.ndarray]]


def _misbuilt(array: ArraySpec, rng: np.random.Generator) -> ArraySpec:
    """Boards 1.. off their design by N(0, 3 mm) and N(0, 1 degree) per axis (board 0, the
    reference, exact), as test_board_array's misbuilt array."""
    d_rot = rng.normal(0, np.radians(1.0), array.rvecs.shape)
    d_t = rng.normal(0, 0.003, array.tvecs.shape)
    d_rot[0] = d_t[0] = 0
    return dataclasses.replace(array, rvecs=array.rvecs + d_rot, tvecs=array.tvecs + d_t)


def _views(
    array: ArraySpec, truth: ArraySpec, poses: Poses, rng: np.random.Generator, noise: float
) -> list[Detection]:
    return [
        projected_array_detection(f"v{i}", array, CAMERA, r, t, rng, noise_px=noise,
                                  true_rvecs=truth.rvecs, true_tvecs=truth.tvecs)
        for i, (r, t) in enumerate(poses)
    ]  # fmt: skip


def test_board_pose_columns_match_finite_differences() -> None:
    array = _array((2, 2), 30)
    rng = np.random.default_rng(0)
    poses = [array_pose(array, CAMERA, rng) for _ in range(2)]
    views = _views(array, array, poses, rng, NOISE_PX)
    free = free_boards(array, views)
    assert free == [1, 2, 3]  # board 0, the first seen, is the reference
    rv, tv = array.rvecs + 0.01, array.tvecs + 0.002  # anywhere, not only at the design
    J, r = array_jacobian(Model.PINHOLE5, array, views, CAMERA.K, CAMERA.dist, poses, rv, tv, free)
    first = J.shape[1] - 6 * len(free)
    for k, b in enumerate(free):
        for j in range(6):
            h = 1e-6  # radians / metres: central differences good to ~1e-7 px here
            up, down = [(rv.copy(), tv.copy()) for _ in range(2)]
            (up[0] if j < 3 else up[1])[b, j % 3] += h
            (down[0] if j < 3 else down[1])[b, j % 3] -= h
            r_up = array_jacobian(Model.PINHOLE5, array, views, CAMERA.K, CAMERA.dist, poses,
                                  *up, free)[1]  # fmt: skip
            r_down = array_jacobian(Model.PINHOLE5, array, views, CAMERA.K, CAMERA.dist, poses,
                                    *down, free)[1]  # fmt: skip
            num = (r_up - r_down) / (2 * h)
            np.testing.assert_allclose(J[:, first + 6 * k + j], num, atol=1e-5 * np.abs(num).max())
    # the residuals are those of the points at the given board poses
    px = project(Model.PINHOLE5, array.array_points(views[0].ids, rv, tv), *poses[0],
                 CAMERA.K, CAMERA.dist)  # fmt: skip
    np.testing.assert_allclose(r[: 2 * views[0].count], (px - views[0].image_points).ravel())


def test_covariance_std_and_the_estimated_boards_share() -> None:
    """Designed poses: the covariance's diagonal is OpenCV's calibrateCameraExtended std (an
    independent computation, same sigma^2 rule). Estimated poses: the boards' 6 parameters
    each are in the covariance, and leaving them free can only widen the intrinsics'."""
    array = _array((3, 2), 30)
    rng = np.random.default_rng(1)
    one = calibrate_array(_views(array, array, [array_pose(array, CAMERA, rng)], rng, NOISE_PX),
                          CAMERA.size, array, heldout=False)  # fmt: skip
    cov = array_covariance(one)
    for name, s in one.intrinsics.std.items():
        assert cov.std[name] == pytest.approx(s, rel=1e-3), name
    assert cov.extra == () and cov.matrix.shape == (9 + 6, 9 + 6)
    assert 0.27 < cov.sigma_px < 0.33  # the 0.3 px drawn; ~1400 dof, SE 1.9 %: 5 SE out
    truth = _misbuilt(array, rng)
    poses = [array_pose(array, CAMERA, rng) for _ in range(3)]
    fit = calibrate_array(_views(array, truth, poses, rng, NOISE_PX), CAMERA.size, array,
                          estimate_poses=True)  # fmt: skip
    cov = array_covariance(fit)
    assert fit.free == (1, 2, 3, 4, 5) and len(cov.extra) == 30 and cov.extra[0] == "board1_rx"
    assert cov.matrix.shape == (9 + 18 + 30,) * 2
    assert np.all(np.linalg.eigvalsh(cov.matrix) > 0)
    assert cov.std == pytest.approx(fit.intrinsics.std, rel=1e-12)
    held = array_covariance(dataclasses.replace(fit, free=()))  # boards fixed where estimated
    assert np.all(np.diag(cov.intrinsics) >= np.diag(held.intrinsics))
    assert cov.std["fx"] > 1.05 * held.std["fx"]  # and here it does, visibly


def _ratios(
    grid: tuple[int, int], images: int, *, estimate: bool, n_draws: int, seed: int
) -> dict[float, np.ndarray]:
    """Empirical / predicted worst-direction sigma on the image grid at the array's depth and
    at 20 m; the prediction from the first draw's calibration, as a user gets it."""
    array = _array(grid, 30)
    rng = np.random.default_rng(seed)
    truth = _misbuilt(array, rng) if estimate else array
    poses = [array_pose(array, CAMERA, rng) for _ in range(images)]
    depths = (round(float(np.mean([t[2] for _, t in poses])), 1), 20.0)
    px = grid_pixels(CAMERA.size)
    errors: dict[float, list[np.ndarray]] = {d: [] for d in depths}
    predicted: dict[float, np.ndarray] = {}
    for k in range(n_draws):
        views = _views(array, truth, poses, rng, NOISE_PX)
        fit = calibrate_array(views, CAMERA.size, array, estimate_poses=estimate, heldout=False)
        if k == 0:
            cov = array_covariance(fit)
            predicted = {d: sigma_map(cov, CAMERA.size, d)[2].ravel() for d in depths}
        cam = fit.intrinsics
        for d in depths:
            errors[d].append(
                projection_errors(CAMERA, poses, cam.K, cam.dist, list(fit.array_poses), px, d)
            )
    return scatter_ratios(errors, predicted)


def test_one_shot_projection_sigma_matches_300_noisy_calibrations() -> None:
    """One image of a 2 x 2 array (30 degrees), designed poses, 0.3 px: every grid point's
    scatter over 300 calibrations is the predicted sigma within test_uncertainty's 20 %
    (sampling error of a sigma from 300 draws: 4.1 %)."""
    check_ratios(_ratios((2, 2), 1, estimate=False, n_draws=300, seed=0), "array one-shot")


@pytest.mark.slow
def test_estimated_board_poses_projection_sigma_matches_150_noisy_calibrations() -> None:
    """Two images of a misbuilt 2 x 2 array, board poses estimated (their uncertainty in the
    covariance): within 20 % over 150 bundle adjustments (sampling error 5.8 %: 3.4 SE; 150,
    not 300: 8 to 27 s on 2 shared cores, by their load)."""
    check_ratios(_ratios((2, 2), 2, estimate=True, n_draws=150, seed=0), "array estimated poses")


def _ground_views(rng: np.random.Generator) -> tuple[BoardPlacement, list[Detection]]:
    """Two noisy views of a ground board 6 m ahead through CAMERA on test_uncertainty_range's
    true mount (adas's own projection), every corner in view."""
    place = BoardPlacement.on_ground(6.0, 0.3, yaw_deg=-90.0, thickness_m=0.005)
    obj = GROUND_SPEC.chessboard_object_points().astype(np.float64)
    T = place.T_vehicle_board
    cam = CameraModel(CAMERA.K, CAMERA.dist, *CAMERA.size, mount=TRUTH)
    px = cam.project_vehicle(obj @ T[:3, :3].T + T[:3, 3])
    assert np.isfinite(px).all() and (px >= 0).all() and (px < CAMERA.size).all()
    ids = np.arange(len(obj), dtype=np.int32)
    return place, [
        Detection(f"g{i}", "", (px + rng.normal(0, NOISE_PX, px.shape)).astype(np.float32),
                  obj.astype(np.float32), ids, "")
        for i in range(2)
    ]  # fmt: skip


@pytest.mark.parametrize("estimate", [False, True])
def test_array_command_writes_the_covariance_mount_reads(
    estimate: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intrinsics --array-spec` (detection replaced by synthetic corners: the rendered path
    is test_board_array's) writes the array covariance to JSON and YAML; `mount`'s reader
    gets it back exactly and the ground range then has its intrinsics part."""
    array = _array((2, 2), 30)
    array.save(tmp_path / "array.json")
    rng = np.random.default_rng(3)
    truth = _misbuilt(array, rng) if estimate else array
    views = _views(array, truth, [array_pose(array, CAMERA, rng) for _ in range(2)], rng,
                   NOISE_PX)  # fmt: skip
    monkeypatch.setattr(cli_array, "_detect", lambda *_: detection_set(views, CAMERA))
    argv = ["intrinsics", "x.png", "--array-spec", str(tmp_path / "array.json"), "--no-heldout",
            "--out", str(tmp_path / "cam.yaml"), "--json", str(tmp_path / "cam.json"),
            "--uncertainty-depth", "20", "40"]  # fmt: skip
    assert cli.main(argv + (["--estimate-board-poses"] if estimate else [])) == 0
    s = json.loads((tmp_path / "cam.json").read_text())
    expected = array_covariance(calibrate_array(views, CAMERA.size, array, estimate_poses=estimate,
                                                heldout=False))  # fmt: skip
    assert len(expected.extra) == (18 if estimate else 0)
    np.testing.assert_allclose(s["intrinsics_covariance"]["matrix"], expected.intrinsics,
                               rtol=1e-9)  # fmt: skip
    unc = s["projection_uncertainty"]
    assert [d["depth_m"] for d in unc["depths"]] == [20.0, 40.0]
    np.testing.assert_allclose(unc["map"]["sigma_px"], sigma_map(expected, CAMERA.size, 20.0)[2],
                               rtol=1e-9)  # fmt: skip
    camera = load_intrinsics(tmp_path / "cam.yaml")
    assert camera.uncertainty is not None and camera.model is Model.PINHOLE5
    assert camera.uncertainty.names == tuple(s["intrinsics_covariance"]["names"])
    np.testing.assert_array_equal(
        camera.uncertainty.covariance, s["intrinsics_covariance"]["matrix"]
    )
    np.testing.assert_array_equal(camera.uncertainty.sigma_px, unc["map"]["sigma_px"])
    place, ground = _ground_views(rng)
    mount = estimate_mount(ground, camera.K, camera.dist, camera.model, place)
    ranges = range_uncertainty(camera, mount)
    assert ranges["intrinsics_covariance"] is True
    assert all(row["from_intrinsics_m"] > 0 for row in ranges["ranges"])
