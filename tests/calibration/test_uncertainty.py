"""Projection uncertainty (calibration.uncertainty): the covariance against OpenCV's and a
numeric one, the analytic Jacobians against finite differences, and the predicted 1 sigma
against the scatter of many noisy calibrations of a known camera."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from calibration.boards import BoardKind, BoardSpec
from calibration.detect import Detection
from calibration.errors import CalibrationError
from calibration.intrinsics import IntrinsicsResult, Model, calibrate, project
from calibration.report import uncertainty_svg
from calibration.uncertainty import (
    camera_model,
    detection_band,
    fit_covariance,
    image_grid,
    project_with_jacobian,
    projection_summary,
    result_covariance,
    sigma_map,
    summary_fields,
    unproject,
    worst_sigma,
)
from tests.calibration.synth import Camera, projected_detection, random_poses

SPEC = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 0.03)  # 9 x 6 inner corners, 27 x 18 cm
CAM = Camera(
    np.array([[800.0, 0.0, 330.0], [0.0, 805.0, 235.0], [0.0, 0.0, 1.0]]),
    np.array([-0.2, 0.08, 0.001, -0.001, 0.0]),
    (640, 480),
)
NOISE_PX = 0.3  # the corner noise
FISHEYE_D = np.array([0.05, -0.02, 0.01, -0.003])  # equidistant k1..k4 on CAM's K
# The validation's 20 % tolerance against the sampling error of a standard deviation from n
# draws: relative SE ~ 1 / sqrt(2 (n - 1)), 4.1 % at n = 300; the worst of
# the grid's (strongly correlated) cells sits a few SE out, so 20 % leaves room for the
# prediction's own linearisation and its sigma estimated from one fit's residuals.
TOLERANCE = 0.2


def _views(model: Model, rng: np.random.Generator, poses: list, noise: float) -> list[Detection]:
    """Noisy detections of the board at ``poses`` through CAM (fisheye: FISHEYE_D's lens)."""
    if model is not Model.FISHEYE:
        dets = [projected_detection(f"v{i}", SPEC, CAM, r, t, rng, noise_px=noise)
                for i, (r, t) in enumerate(poses)]  # fmt: skip
        assert all(d is not None for d in dets)
        return [d for d in dets if d is not None]
    obj = SPEC.chessboard_object_points().astype(np.float64)
    out = []
    for i, (r, t) in enumerate(poses):
        px = project(Model.FISHEYE, obj, np.asarray(r), np.asarray(t), CAM.K, FISHEYE_D)
        px += rng.normal(0.0, noise, px.shape)
        ids = np.arange(len(obj), dtype=np.int32)
        out.append(Detection(f"v{i}", "", px.astype(np.float32), obj.astype(np.float32), ids, ""))
    return out


def _poses(n: int, seed: int, *, whole: bool = False) -> list:
    """Board poses over the image; ``whole``: only poses with every corner inside (the
    fisheye views keep every corner, so they must all be in the image)."""
    rng = np.random.default_rng(seed)
    out: list = []
    while len(out) < n:
        (r, t), = random_poses(1, SPEC, CAM, rng)  # fmt: skip
        d = projected_detection("p", SPEC, CAM, r, t, rng)
        if d is not None and (not whole or d.count == 54):
            out.append((r, t))
    return out


def _fit(model: Model, dets: list[Detection]) -> IntrinsicsResult:
    return calibrate(dets, CAM.size, model, reject=False, heldout=False)


@pytest.mark.parametrize("model", list(Model))
def test_jacobians_match_finite_differences(model: Model) -> None:
    rng = np.random.default_rng(0)
    obj = SPEC.chessboard_object_points().astype(np.float64)[::7]
    r, t = np.array([0.2, -0.3, 0.1]), np.array([-0.1, 0.05, 0.6])
    dist = (
        FISHEYE_D
        if model is Model.FISHEYE
        else rng.normal(0, 0.01, 8 if model is Model.PINHOLE8 else 5)
    )
    k0 = np.array([800.0, 805.0, 330.0, 235.0, *dist])
    _, jk, jp = project_with_jacobian(model, obj, r, t, CAM.K, dist)

    def px(k: np.ndarray, pose: np.ndarray) -> np.ndarray:
        K = np.array([[k[0], 0, k[2]], [0, k[1], k[3]], [0, 0, 1.0]])
        return project(model, obj, pose[:3], pose[3:], K, k[4:]).ravel()

    x0 = np.concatenate([k0, r, t])
    num = np.empty((2 * len(obj), x0.size))
    for j in range(x0.size):
        h = 1e-6 * max(1.0, abs(x0[j]))
        up, down = x0.copy(), x0.copy()
        up[j], down[j] = up[j] + h, down[j] - h
        num[:, j] = (px(up[: k0.size], up[k0.size :]) - px(down[: k0.size], down[k0.size :])) / (
            2 * h
        )
    # central differences at h = 1e-6 relative: truncation and rounding both below 1e-4 px
    np.testing.assert_allclose(np.hstack([jk, jp]), num, atol=1e-4 * np.abs(num).max())


@pytest.mark.parametrize("model", list(Model))
def test_covariance_diagonal_is_the_fit_s_std(model: Model) -> None:
    """Pinhole: the diagonal is OpenCV's calibrateCameraExtended std (an independent
    computation); fisheye: the numeric-Jacobian std intrinsics.py forms. Both use sigma^2 from
    RSS / (2N - n), so they must agree to the Jacobians' precision."""
    rng = np.random.default_rng(1)
    res = _fit(model, _views(model, rng, _poses(8, 2, whole=model is Model.FISHEYE), NOISE_PX))
    cov = result_covariance(res)
    assert cov.names == tuple(res.std)
    for name, s in res.std.items():
        assert cov.std[name] == pytest.approx(s, rel=1e-3), name
    assert 0.25 < cov.sigma_px < 0.35  # the 0.3 px drawn, from ~800 residual dof (SE 2.5 %)
    n = len(cov.names) + 6 * len(res.used)
    assert cov.matrix.shape == (n, n) and np.allclose(cov.matrix, cov.matrix.T, rtol=1e-9)
    assert np.all(np.linalg.eigvalsh(cov.matrix) > 0)


def test_fisheye_std_matches_a_numeric_jacobian() -> None:
    """The fisheye std (calibration.covariance's analytic J since intrinsics.py uses it)
    against sigma^2 (J^T J)^-1 with J by central differences over intrinsics and poses here,
    an independent computation (to the 1e-3 the two Jacobians allow)."""
    rng = np.random.default_rng(1)
    res = _fit(Model.FISHEYE, _views(Model.FISHEYE, rng, _poses(8, 2, whole=True), NOISE_PX))
    views = res.fit_views
    poses = [np.r_[r, t] for r, t in zip(res.fit_rvecs, res.fit_tvecs, strict=True)]
    x0 = np.concatenate([[res.fx, res.fy, res.cx, res.cy], res.dist, *poses])

    def residuals(x: np.ndarray) -> np.ndarray:
        K = np.array([[x[0], 0, x[2]], [0, x[1], x[3]], [0, 0, 1.0]])
        return np.concatenate([
            (project(Model.FISHEYE, v.object_points, x[8 + 6 * i : 11 + 6 * i],
                     x[11 + 6 * i : 14 + 6 * i], K, x[4:8]) - v.image_points).ravel()
            for i, v in enumerate(views)
        ])  # fmt: skip

    J = np.empty((residuals(x0).size, x0.size))
    for j in range(x0.size):
        h = 1e-6 * max(1.0, abs(x0[j]))  # as test_jacobians_match_finite_differences
        up, down = x0.copy(), x0.copy()
        up[j], down[j] = up[j] + h, down[j] - h
        J[:, j] = (residuals(up) - residuals(down)) / (2 * h)
    r = residuals(x0)
    cov = np.linalg.pinv(J.T @ J) * float(r @ r) / (r.size - x0.size)
    for i, (name, s) in enumerate(res.std.items()):
        assert s == pytest.approx(math.sqrt(cov[i, i]), rel=1e-3), name


def _refit(dets: list[Detection]) -> tuple[np.ndarray, np.ndarray, list, list]:
    """K, dist, rvecs, tvecs of cv2.calibrateCamera (pinhole5), what calibrate() fits, without
    its second run for the standard deviations: the draws only need the solution."""
    obj = [np.asarray(d.object_points, np.float32) for d in dets]
    img = [np.asarray(d.image_points, np.float32) for d in dets]
    _, K, dist, rvecs, tvecs = cv2.calibrateCamera(obj, img, CAM.size, None, None)
    return K, dist.ravel(), [r.ravel() for r in rvecs], [t.ravel() for t in tvecs]


def projection_errors(
    camera: Camera, poses: list, K: np.ndarray, dist: np.ndarray, fitted: list,
    pixels: np.ndarray, depth: float,
) -> np.ndarray:  # fmt: skip
    """The module doc's projection error of a fit (K, dist, the views' ``fitted`` poses)
    against the truth (``camera``, the views' true ``poses``): the true point at ``depth`` on
    each pixel's true ray, fixed in each true board frame, carried back into the camera by
    the fitted poses (mean over the views) and projected by the fitted intrinsics."""
    xy = unproject(Model.PINHOLE5, pixels, camera.K, camera.dist)
    p = np.column_stack([xy, np.ones(len(xy))]) * depth
    moved = np.zeros_like(p)
    for (r_true, t_true), (r, t) in zip(poses, fitted, strict=True):
        b = (p - t_true) @ cv2.Rodrigues(np.asarray(r_true, np.float64))[0]
        moved += b @ cv2.Rodrigues(np.asarray(r, np.float64))[0].T + t
    moved /= len(poses)
    return project(Model.PINHOLE5, moved, np.zeros(3), np.zeros(3), K, dist) - pixels


def grid_pixels(size: tuple[int, int]) -> np.ndarray:
    """The projection map's grid points (M x 2 pixels, row-major)."""
    uu, vv = np.meshgrid(*image_grid(size))
    return np.column_stack([uu.ravel(), vv.ravel()])


def _validate(n_draws: int, depths: tuple[float, ...]) -> dict[float, np.ndarray]:
    """Empirical / predicted worst-direction sigma on the image grid at each depth (pinhole5)."""
    poses = _poses(8, 3)
    rng = np.random.default_rng(4)
    px = grid_pixels(CAM.size)
    errors: dict[float, list[np.ndarray]] = {d: [] for d in depths}
    predicted: dict[float, np.ndarray] = {}
    for k in range(n_draws):
        dets = _views(Model.PINHOLE5, rng, poses, NOISE_PX)
        if k == 0:  # what a user gets: the prediction from one calibration
            cov = result_covariance(_fit(Model.PINHOLE5, dets))
            predicted = {d: sigma_map(cov, CAM.size, d)[2].ravel() for d in depths}
        K, dist, rvecs, tvecs = _refit(dets)
        fitted = list(zip(rvecs, tvecs, strict=True))
        for d in depths:
            errors[d].append(projection_errors(CAM, poses, K, dist, fitted, px, d))
    return scatter_ratios(errors, predicted)


def scatter_ratios(
    errors: dict[float, list[np.ndarray]], predicted: dict[float, np.ndarray]
) -> dict[float, np.ndarray]:
    """Per depth: the worst-direction sigma of the draws' projection errors (draws x M x 2)
    over the predicted one (M), at each of the M pixels."""
    ratios = {}
    for d, draws in errors.items():
        e = np.array(draws)
        e -= e.mean(axis=0)
        empirical = worst_sigma(np.einsum("kmi,kmj->mij", e, e) / (len(e) - 1))
        ratios[d] = empirical / predicted[d]
    return ratios


def check_ratios(ratios: dict[float, np.ndarray], label: str) -> None:
    """Every ratio of :func:`scatter_ratios` within TOLERANCE of 1 (printed for the log)."""
    for d, r in ratios.items():
        print(f"{label} depth {d:g} m: empirical/predicted median {np.median(r):.3f}, "
              f"min {r.min():.3f}, max {r.max():.3f} over {r.size} grid points")  # fmt: skip
        assert np.all(np.abs(r - 1.0) <= TOLERANCE), (d, r.min(), r.max())


def test_projection_sigma_matches_300_noisy_calibrations() -> None:
    """pinhole5, 8 views, 0.3 px: at the boards' depth (~0.6 m) and at 20 m, every grid
    point's scatter over 300 refits is the predicted sigma within 20 %."""
    check_ratios(_validate(300, (0.6, 20.0)), "pinhole5")


def test_exact_corners_give_zero_uncertainty_and_depth_matters() -> None:
    rng = np.random.default_rng(5)
    poses = _poses(6, 6)
    exact = result_covariance(_fit(Model.PINHOLE5, _views(Model.PINHOLE5, rng, poses, 0.0)))
    # Detection stores float32 pixels: ~3e-5 px rounding at 500 px is all the noise left
    assert exact.sigma_px < 1e-4
    assert sigma_map(exact, CAM.size, 20.0)[2].max() < 1e-3
    cov = result_covariance(_fit(Model.PINHOLE5, _views(Model.PINHOLE5, rng, poses, NOISE_PX)))
    near, far = sigma_map(cov, CAM.size, 0.6)[2], sigma_map(cov, CAM.size, 20.0)[2]
    # 20 m is 30x the boards' distance: the camera's rotation against them now shows
    assert np.median(far) > np.median(near)
    s = projection_summary(cov, CAM.size, (0.6, 20.0))
    assert [d["median_px"] for d in s["depths"]] == pytest.approx([np.median(near), np.median(far)])
    assert s["map"]["sigma_px"] == near.tolist() and s["corner_noise_px"] == cov.sigma_px


def test_detection_band_follows_adas_config() -> None:
    """8 deg above the horizon row to the bottom (adas DetectConfig's band_up/down_deg)."""
    K = np.array([[800.0, 0.0, 320.0], [0.0, 800.0, 300.0], [0.0, 0.0, 1.0]])
    y0 = math.floor(300.0 - 800.0 * math.tan(math.radians(8.0)))
    assert detection_band(camera_model(K, np.zeros(5), (640, 480), Model.PINHOLE5)) == (y0, 480)
    K[1, 2] = 50.0
    assert detection_band(camera_model(K, np.zeros(5), (640, 480), Model.PINHOLE5)) == (0, 480)


def test_fisheye_detection_band_holds_every_ray_8_degrees_up() -> None:
    """A fisheye bends the band's top edge upwards off-axis: the band starts at the highest
    row of the rays 8 deg above the road that fall in the image (and no higher)."""
    K = np.array([[560.0, 0.0, 641.0], [0.0, 561.0, 398.0], [0.0, 0.0, 1.0]])
    cam = camera_model(K, np.array([0.05, 0.01, -0.005, 0.001]), (1280, 800), Model.FISHEYE)
    y0, y1 = detection_band(cam)
    az = np.radians(np.linspace(-89.0, 89.0, 3561))
    el = math.radians(8.0)
    d = np.column_stack([math.cos(el) * np.cos(az), math.cos(el) * np.sin(az),
                         np.full(az.size, math.sin(el))])  # fmt: skip
    uv = cam.project_vehicle(cam.position_m + d)
    rows = uv[np.isfinite(uv).all(1) & (uv[:, 0] >= 0) & (uv[:, 0] <= 1279), 1]
    # y0 is the floor of the true extreme; the dense sampling may overshoot it by its step
    assert y1 == 800 and y0 <= rows.min() < y0 + 1.1
    level = 398.0 - 561.0 * math.radians(8.0)  # the equidistant lens straight ahead
    assert rows.min() < level - 10  # bent: off-axis the edge is well above the centre's


def test_bad_inputs_are_refused() -> None:
    rng = np.random.default_rng(7)
    poses = _poses(4, 8)
    res = _fit(Model.PINHOLE5, _views(Model.PINHOLE5, rng, poses, NOISE_PX))
    with pytest.raises(CalibrationError, match="pose"):
        fit_covariance(
            Model.PINHOLE5, res.fit_views, res.K, res.dist, res.fit_rvecs[:-1], res.fit_tvecs
        )
    with pytest.raises(CalibrationError, match="distortion"):
        fit_covariance(Model.PINHOLE8, res.fit_views, res.K, res.dist, res.fit_rvecs, res.fit_tvecs)
    few = [
        Detection(v.name, "", v.image_points[:3], v.object_points[:3], v.ids[:3], "")
        for v in res.fit_views
    ]
    with pytest.raises(CalibrationError, match="corners cannot determine"):
        fit_covariance(Model.PINHOLE5, few, res.K, res.dist, res.fit_rvecs, res.fit_tvecs)
    cov = result_covariance(res)
    for depth in (0.0, -1.0, float("nan")):
        with pytest.raises(CalibrationError, match="depth"):
            sigma_map(cov, CAM.size, depth)
    with pytest.raises(CalibrationError, match="no depth"):
        projection_summary(cov, CAM.size, ())
    for depths in ((), (20.0, 0.0)):
        with pytest.raises(CalibrationError, match="positive"):
            summary_fields(res, depths)
    # A fit whose views cannot determine the parameters: the summary says why, no crash
    flat = dataclasses.replace(res, fit_views=tuple(few))
    assert (
        "corners cannot determine"
        in summary_fields(flat, (20.0,))["projection_uncertainty"]["error"]
    )


def test_map_svg_has_a_cell_per_grid_point_and_the_band() -> None:
    u, v = image_grid(CAM.size)
    grid = {"u": u.tolist(), "v": v.tolist(), "sigma_px": np.ones((v.size, u.size)).tolist()}
    svg = uncertainty_svg(grid, CAM.size, (100, 480))
    assert svg.count("<rect") == u.size * v.size and svg.count("<line") == 1  # 480: the edge
