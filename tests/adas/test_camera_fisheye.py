"""Fisheye (equidistant) cameras: files, pixel <-> ray against the model's own definition,
the field's edge, the horizon, and the box geometry the stages use."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.optimize import brentq

from adas.camera import CameraModel, Lens, Mount
from adas.camera_boxes import focal_px_at, undistorted_boxes
from adas.errors import CalibrationFileError

W, H = 1920, 1080
D = np.array([0.05, 0.01, -0.005, 0.001])  # small equidistant terms, theta_d increasing
HALF_DIAG_RAD = math.radians(75.0)  # a 150 deg diagonal


def theta_d(theta: np.ndarray, k: np.ndarray = D) -> np.ndarray:
    """OpenCV's fisheye model as its documentation defines it (the ground truth here)."""
    t2 = theta * theta
    return theta * (1 + k[0] * t2 + k[1] * t2**2 + k[2] * t2**3 + k[3] * t2**4)


# The focal length that puts the image corner at 75 deg: about 766 px.
F = math.hypot(0.5 * (W - 1), 0.5 * (H - 1)) / float(theta_d(np.array(HALF_DIAG_RAD)))
K = np.array([[F, 0.0, 0.5 * (W - 1) + 3.0], [0.0, F * 1.001, 0.5 * (H - 1) - 2.0], [0, 0, 1]])


def fisheye(k: np.ndarray = D, **mount: float) -> CameraModel:
    m = Mount.from_degrees(**{"height_m": 1.4, **mount})
    return CameraModel(K=K, dist=k, width=W, height=H, mount=m, lens=Lens.FISHEYE)


def truth_pixels(p_cam: np.ndarray, k: np.ndarray = D) -> np.ndarray:
    """Pixels of camera-frame points by the equidistant formula: theta off the axis, phi round."""
    theta = np.arctan2(np.hypot(p_cam[:, 0], p_cam[:, 1]), p_cam[:, 2])
    phi = np.arctan2(p_cam[:, 1], p_cam[:, 0])
    r = theta_d(theta, k)
    return np.column_stack(
        [K[0, 0] * r * np.cos(phi) + K[0, 2], K[1, 1] * r * np.sin(phi) + K[1, 2]]
    )


def image_grid(step: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(0.0, W, step), np.arange(0.0, H, step))
    corners = [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]
    return np.vstack([np.column_stack([u.ravel(), v.ravel()]), corners])


# ---- files ------------------------------------------------------------------------------------


def _calibration_opencv(cam: CameraModel, path: Path) -> None:
    from calibration.intrinsics import Model
    from calibration.io import write_camera_fields

    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
    write_camera_fields(fs, (cam.width, cam.height), cam.K, cam.dist, Model.FISHEYE)
    fs.release()


def _calibration_ros(cam: CameraModel, path: Path) -> None:
    from calibration.io import ros_calibration_text

    P = np.hstack([cam.K, np.zeros((3, 1))])
    text = ros_calibration_text(
        (cam.width, cam.height), "cam", cam.K, cam.dist, "equidistant", np.eye(3), P
    )
    path.write_text(text)


WRITERS: dict[str, Callable[[CameraModel, Path], None]] = {
    "adas opencv": lambda cam, p: cam.to_opencv_yaml(p),
    "adas ros": lambda cam, p: cam.to_ros_camera_info_yaml(p),
    "adas-calibrate opencv": _calibration_opencv,
    "adas-calibrate ros": _calibration_ros,
}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("reader", ["opencv", "ros", "app"])
def test_fisheye_files_round_trip_exactly(writer: str, reader: str, tmp_path: Path) -> None:
    from adas.app import load_camera_file
    from adas.config import load_config

    cam, path = fisheye(), tmp_path / "cam.yaml"
    WRITERS[writer](cam, path)
    read = {
        "opencv": lambda: CameraModel.from_opencv_yaml(path),
        "ros": lambda: CameraModel.from_ros_camera_info_yaml(path),
        "app": lambda: load_camera_file(path, load_config()),
    }[reader]()
    assert read.lens is Lens.FISHEYE
    assert (read.width, read.height) == (W, H)
    np.testing.assert_array_equal(read.K, cam.K)
    np.testing.assert_array_equal(read.dist, cam.dist)


def test_equidistant_spelling_in_opencv_yaml_and_pinhole_files_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "cam.yaml"
    fisheye().to_opencv_yaml(path)
    path.write_text(path.read_text().replace("fisheye", "equidistant"))
    assert CameraModel.from_opencv_yaml(path).lens is Lens.FISHEYE
    pin = CameraModel(K=K, dist=np.zeros(5), width=W, height=H)
    pin.to_opencv_yaml(path)
    assert "distortion_model" not in path.read_text()  # as before fisheye support
    assert CameraModel.from_opencv_yaml(path).lens is Lens.PINHOLE
    pin.to_ros_camera_info_yaml(path)
    assert "plumb_bob" in path.read_text()


@pytest.mark.parametrize(
    ("n_terms", "skew", "message"), [(5, 0.0, "4 coefficients"), (4, 5.0, "no skew")]
)
def test_a_bad_fisheye_file_is_refused_naming_it(
    n_terms: int, skew: float, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "cam.yaml"
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
    fs.write("image_width", W)
    fs.write("image_height", H)
    fs.write("camera_matrix", np.array([[700.0, skew, 960], [0.0, 700, 540], [0.0, 0.0, 1.0]]))
    fs.write("distortion_coefficients", np.full((n_terms, 1), 0.01))
    fs.write("distortion_model", "fisheye")
    fs.release()
    with pytest.raises(CalibrationFileError, match=message) as info:
        CameraModel.from_opencv_yaml(path)
    assert str(info.value).count(str(path)) == 1  # named once, however deep it was raised


def test_camera_info_carries_the_fisheye_both_ways() -> None:
    from adas.app import camera_key
    from adas.sources.source import CameraInfo

    cam = fisheye()
    info = CameraInfo.from_camera_model(cam)
    assert info.distortion_model == "equidistant"
    back = info.camera_model(cam.mount)
    assert back.lens is Lens.FISHEYE
    np.testing.assert_array_equal(back.dist, D)
    # Same numbers read as a pinhole are another camera for the detector cache.
    pin = CameraModel(K=K, dist=D, width=W, height=H, mount=cam.mount)
    assert camera_key(pin) != camera_key(cam)


# ---- pixel <-> ray ------------------------------------------------------------------------------


def test_pixels_and_rays_match_the_equidistant_model_over_the_whole_image() -> None:
    cam = fisheye(pitch_deg=4.0, roll_deg=-1.5, yaw_deg=2.0)
    uv = image_grid(4)  # every 4th pixel both ways (all 2.07 M pixels: 1.1e-12 px, 8 s)
    ray = cam.pixel_to_ray(uv)
    assert np.isfinite(ray).all()
    # Truth: the camera-frame direction of each ray gives back its pixel by the formula.
    p_cam = ray @ cam.R_vehicle_camera  # rows of R^T d
    np.testing.assert_allclose(truth_pixels(p_cam), uv, atol=1e-6, rtol=0)
    # Round trip through project_vehicle, at 10 m along each ray, < 1e-6 px everywhere.
    back = cam.project_vehicle(cam.position_m + 10.0 * ray)
    assert np.abs(back - uv).max() < 1e-6
    # The image corners are 75 deg off the axis (a 150 deg diagonal), +-0.3 deg for the offset
    # principal point and fy != fx.
    off_axis = np.degrees(np.arccos(p_cam[-4:, 2]))
    np.testing.assert_allclose(off_axis, 75.0, atol=0.3)


def test_truth_rays_project_to_truth_pixels_within_a_micro_pixel() -> None:
    cam = fisheye(pitch_deg=-3.0)
    rng = np.random.default_rng(0)
    theta = rng.uniform(0.0, math.radians(85.0), 2000)  # beyond the image's 75 deg too
    phi = rng.uniform(-math.pi, math.pi, 2000)
    p_cam = np.column_stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)]
    )
    uv = cam.project_vehicle(cam.position_m + 5.0 * p_cam @ cam.R_vehicle_camera.T)
    assert np.abs(uv - truth_pixels(p_cam)).max() < 1e-6


def test_no_pixel_for_points_behind_or_outside_the_field_and_no_ray_outside_it() -> None:
    cam = fisheye()
    behind = cam.project_vehicle([[-5.0, 0.0, 1.0], [cam.position_m[0], 3.0, 1.4]])
    assert np.isnan(behind).all()  # behind the camera, and exactly 90 deg off the axis
    # k1 = -0.2: theta_d stops growing at theta = 1 / sqrt(0.6) (74.5 deg); beyond it a pixel
    # would be the image of two rays, so neither direction has an answer.
    k = np.array([-0.2, 0.0, 0.0, 0.0])
    folded = fisheye(k=k)
    t_max = 1.0 / math.sqrt(0.6)
    edge = float(theta_d(np.array(t_max), k))
    r = np.array([0.9 * edge, 0.999 * edge, 1.001 * edge, 3.0 * edge]) * F
    uv = np.column_stack([K[0, 2] + r, np.full(4, K[1, 2])])
    xy = folded.normalized(uv)
    assert np.isfinite(xy[:2]).all() and np.isnan(xy[2:]).all()
    p_cam = np.array([[math.sin(a), 0.0, math.cos(a)] for a in (t_max - 0.01, t_max + 0.01)])
    px = folded.project_vehicle(folded.position_m + p_cam @ folded.R_vehicle_camera.T)
    assert np.isfinite(px[0]).all() and np.isnan(px[1]).all()
    assert np.isnan(cam.normalized([[np.nan, 5.0]])).all()


@pytest.mark.parametrize(("pitch_deg", "roll_deg"), [(0.0, 0.0), (5.0, 0.0), (-3.0, 4.0)])
def test_horizon_against_the_projection_of_level_rays(pitch_deg: float, roll_deg: float) -> None:
    cam = fisheye(pitch_deg=pitch_deg, roll_deg=roll_deg)

    def level_ray_pixel(azimuth: float) -> np.ndarray:
        d = np.array([math.cos(azimuth), math.sin(azimuth), 0.0])
        return cam.project_vehicle(cam.position_m + d)[0]

    for u0 in (100.0, 700.0, cam.cx, 1500.0):
        az = brentq(lambda a, u=u0: level_ray_pixel(a)[0] - u, -1.3, 1.3, xtol=1e-14)
        assert abs(cam.horizon_v(u=u0) - level_ray_pixel(az)[1]) < 1e-6
    if roll_deg == 0.0:  # level ray straight ahead: the horizon there is its row
        assert abs(cam.elevation_row(0.0) - cam.horizon_v()) < 1e-6


# ---- box geometry -----------------------------------------------------------------------------


def test_local_focal_length_matches_the_lens_derivative() -> None:
    pin = CameraModel(K=K, dist=np.zeros(5), width=W, height=H)
    np.testing.assert_allclose(focal_px_at(pin, [[10.0, 20.0], [900.0, 500.0]]),
                               math.sqrt(K[0, 0] * K[1, 1]), rtol=1e-6)  # fmt: skip
    k_c = np.array([[F, 0.0, 960.0], [0.0, F, 540.0], [0.0, 0.0, 1.0]])
    cam = CameraModel(K=k_c, dist=D, width=W, height=H, lens=Lens.FISHEYE)
    theta = np.array([0.0, 0.4, 0.9, 1.25])
    uv = np.column_stack([960.0 + F * theta_d(theta), np.full(4, 540.0)])
    h = 1e-7  # radial map r_pix = F theta_d(theta), r_norm = tan(theta): det = tangential x radial
    radial = F * (theta_d(theta + h) - theta_d(theta - h)) / (2 * h) * np.cos(theta) ** 2
    tangential = F * np.where(theta > 0, theta_d(theta) / np.tan(np.maximum(theta, 1e-9)), 1.0)
    np.testing.assert_allclose(focal_px_at(cam, uv), np.sqrt(radial * tangential), rtol=1e-5)


def test_undistorted_box_of_a_centred_upright_rectangle_is_its_pinhole_box() -> None:
    """Through a fisheye the extreme points of a centred, upright rectangle are its edge
    centres, which undistort to exactly the rectangle's pinhole box."""
    cam = fisheye()
    pin = cam.undistorted()
    t = np.linspace(0.0, 1.0, 2001)
    for z, half_w, half_h in ((6.0, 2.0, 1.0), (3.0, 4.0, 1.5)):
        xs = np.concatenate([-half_w + 2 * half_w * t, np.full(t.size, half_w)])
        ys = np.concatenate([np.full(t.size, half_h), -half_h + 2 * half_h * t])
        outline = np.column_stack([np.r_[xs, -xs], np.r_[ys, -ys], np.full(2 * xs.size, z)])
        # Camera-frame points into the vehicle frame, on the optical axis's line.
        p = cam.position_m + outline @ cam.R_vehicle_camera.T
        uv, uv_pin = cam.project_vehicle(p), pin.project_vehicle(p)
        box = np.r_[uv.min(0), uv.max(0)]
        np.testing.assert_allclose(undistorted_boxes(cam, box)[0],
                                   np.r_[uv_pin.min(0), uv_pin.max(0)], atol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(undistorted_boxes(pin, [[1, 2, 3, 4]]), [[1, 2, 3, 4]])


def test_detector_band_holds_every_ray_of_its_elevations_across_the_image() -> None:
    from adas.detect.tiling import horizon_band

    cam = fisheye(pitch_deg=3.0)
    y0, y1 = horizon_band(cam, (W, H), 8.0, 5.0)
    az = np.radians(np.linspace(-66.0, 66.0, 400))  # the image's horizontal field
    for elev, inside in ((8.0, True), (-5.0, True), (20.0, False)):
        e = math.radians(elev)
        d = np.column_stack([math.cos(e) * np.cos(az), math.cos(e) * np.sin(az),
                             np.full(az.size, math.sin(e))])  # fmt: skip
        uv = cam.project_vehicle(cam.position_m + d)
        uv = uv[(uv[:, 0] >= 0) & (uv[:, 0] <= W - 1)]
        within = (uv[:, 1] >= y0 - 1.0) & (uv[:, 1] <= y1 + 1.0)  # rows are whole pixels
        assert within.all() if inside else not within.any()
    assert horizon_band(cam, (W, H), 90.0, 90.0) == (0, H)
