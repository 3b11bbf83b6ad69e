"""Camera model: exact geometry on a KITTI-like camera, round trips, sign conventions, files."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adas.camera import CameraModel, Mount
from adas.errors import CalibrationFileError, ConfigError

FX = 721.5377  # KITTI P2 focal length, pixels
CX, CY = 609.5593, 172.854
K_KITTI = np.array([[FX, 0.0, CX], [0.0, FX, CY], [0.0, 0.0, 1.0]])
DIST = np.array([-0.28, 0.09, 1e-3, -6e-4, -0.015])  # a typical automotive lens (plumb_bob)
P2_LINE = (
    "7.215377000000e+02 0.000000000000e+00 6.095593000000e+02 4.485728000000e+01 "
    "0.000000000000e+00 7.215377000000e+02 1.728540000000e+02 2.163791000000e-01 "
    "0.000000000000e+00 0.000000000000e+00 1.000000000000e+00 2.745884000000e-03"
)


def kitti_camera(dist: np.ndarray | None = None, **mount: float) -> CameraModel:
    d = np.zeros(5) if dist is None else dist
    return CameraModel(K=K_KITTI, dist=d, width=1242, height=375, mount=Mount(**mount))


# ---- exact geometry ---------------------------------------------------------------------------


@pytest.mark.parametrize("behind_bumper_m", [0.0, 1.7])
def test_level_camera_row_maps_to_exact_distance(behind_bumper_m: float) -> None:
    cam = kitti_camera(height_m=1.65, behind_bumper_m=behind_bumper_m)
    v = CY + FX * 1.65 / 20.0
    u_right = CX + FX * 2.0 / 20.0  # 2 m to the right at 20 m ahead of the lens
    p = cam.pixel_to_road([[CX, v], [u_right, v]])
    expected = [[20.0 - behind_bumper_m, 0.0, 0.0], [20.0 - behind_bumper_m, -2.0, 0.0]]
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-12)


def test_road_height_moves_the_plane() -> None:
    cam = kitti_camera(height_m=1.65)
    v = CY + FX * (1.65 - 0.4) / 10.0
    np.testing.assert_allclose(cam.pixel_to_road([CX, v], road_height_m=0.4), [[10.0, 0.0, 0.4]])


def test_horizon_is_principal_row_when_level_and_moves_up_with_pitch() -> None:
    assert kitti_camera().horizon_v() == pytest.approx(CY, abs=1e-12)
    pitch = 0.05
    expected = CY - FX * math.tan(pitch)
    assert kitti_camera().horizon_v(pitch_rad=pitch) == pytest.approx(expected, abs=1e-9)
    assert kitti_camera(pitch_rad=pitch).horizon_v() == pytest.approx(expected, abs=1e-9)


def test_roll_tilts_horizon_right_side_up() -> None:
    roll = 0.03  # right side of the camera down: the horizon rises towards the right
    cam = kitti_camera(roll_rad=roll)
    slope = (cam.horizon_v(u=CX + 100.0) - cam.horizon_v(u=CX)) / 100.0
    assert slope == pytest.approx(-math.tan(roll), abs=1e-12)


@pytest.mark.parametrize("dist", [np.zeros(5), DIST], ids=["pinhole", "distorted"])
def test_horizon_pixels_look_parallel_to_the_road(dist: np.ndarray) -> None:
    cam = kitti_camera(dist, pitch_rad=0.04, roll_rad=-0.05, yaw_rad=0.1)
    us = np.linspace(0.0, 1241.0, 9)
    uv = np.column_stack([us, [cam.horizon_v(u=u) for u in us]])
    assert np.abs(cam.pixel_to_ray(uv)[:, 2]).max() < 1e-9


def test_sign_conventions_of_the_mount_angles() -> None:
    centre = [[CX, CY]]
    np.testing.assert_allclose(kitti_camera().pixel_to_ray(centre), [[1.0, 0.0, 0.0]], atol=1e-15)
    assert kitti_camera(pitch_rad=0.1).pixel_to_ray(centre)[0, 2] < 0  # nose down looks down
    assert kitti_camera(yaw_rad=0.1).pixel_to_ray(centre)[0, 1] > 0  # positive yaw looks left
    # Positive roll (right side down): the image's right points down in the vehicle frame.
    right = kitti_camera(roll_rad=0.1).R_vehicle_camera[:, 0]
    np.testing.assert_allclose(right, [0.0, -math.cos(0.1), -math.sin(0.1)], atol=1e-15)


def test_transform_places_and_orients_the_camera() -> None:
    cam = kitti_camera(height_m=1.3, behind_bumper_m=2.0, lateral_m=0.25, pitch_rad=0.02)
    T = cam.T_vehicle_camera
    np.testing.assert_allclose(T @ [0, 0, 0, 1], [-2.0, 0.25, 1.3, 1.0])
    R = T[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-15)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R, cam.R_vehicle_camera)


def test_pitch_override_replaces_the_mount_pitch() -> None:
    uv = np.array([[300.0, 250.0], [900.0, 300.0]])
    mounted = kitti_camera(pitch_rad=0.03, roll_rad=0.01)
    level = kitti_camera(roll_rad=0.01)
    np.testing.assert_allclose(mounted.pixel_to_road(uv), level.pixel_to_road(uv, pitch_rad=0.03))


# ---- round trips and NaN handling -------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    pitch=st.floats(-0.3, 0.3),
    roll=st.floats(-0.3, 0.3),
    yaw=st.floats(-0.3, 0.3),
    height=st.floats(0.5, 3.0),
    behind=st.floats(0.0, 3.0),
    lateral=st.floats(-1.0, 1.0),
    road=st.floats(-0.3, 0.3),
    distorted=st.booleans(),
    override=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_pixel_to_road_then_project_round_trips(
    pitch: float,
    roll: float,
    yaw: float,
    height: float,
    behind: float,
    lateral: float,
    road: float,
    distorted: bool,
    override: bool,
    seed: int,
) -> None:
    mount = Mount(
        height_m=height,
        pitch_rad=0.0 if override else pitch,
        roll_rad=roll,
        yaw_rad=yaw,
        behind_bumper_m=behind,
        lateral_m=lateral,
    )
    cam = CameraModel(K_KITTI, DIST if distorted else np.zeros(5), 1242, 375, mount)
    frame_pitch = pitch if override else None
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 1241.0, 64)
    # Horizon of the (raised or lowered) plane: its rows sit just below the road's own horizon.
    top = np.array([cam.horizon_v(frame_pitch, u=x) for x in u]) + 2.0
    ok = top < 374.0
    assume(ok.sum() >= 8)
    uv = np.column_stack([u[ok], rng.uniform(top[ok], 374.0)])
    p = cam.pixel_to_road(uv, pitch_rad=frame_pitch, road_height_m=road)
    assert np.isfinite(p).all()
    assert np.all(p[:, 2] == road)
    back = cam.project_vehicle(p, pitch_rad=frame_pitch)
    assert np.abs(back - uv).max() < 1e-6


@pytest.mark.parametrize("dist", [np.zeros(5), DIST], ids=["pinhole", "distorted"])
def test_pixels_on_or_above_the_horizon_do_not_hit_the_road(dist: np.ndarray) -> None:
    cam = kitti_camera(dist, pitch_rad=0.03, roll_rad=0.02)
    us = np.linspace(0.0, 1241.0, 20)
    above = np.column_stack([us, [cam.horizon_v(u=u) - 0.5 for u in us]])
    sky = np.column_stack([us, np.zeros_like(us)])
    assert np.isnan(cam.pixel_to_road(np.vstack([above, sky]))).all()


@pytest.mark.parametrize("dist", [np.zeros(5), DIST], ids=["pinhole", "distorted"])
def test_nan_rows_propagate_without_raising(dist: np.ndarray) -> None:
    cam = kitti_camera(dist, pitch_rad=0.02)
    uv = np.array([[np.nan, 300.0], [600.0, 300.0], [600.0, np.nan]])
    for out in (cam.normalized(uv), cam.pixel_to_ray(uv), cam.pixel_to_road(uv)):
        assert out.dtype == np.float64
        assert np.isnan(out[[0, 2]]).all() and np.isfinite(out[1]).all()
    pts = np.array([[np.nan, 0.0, 0.0], [15.0, 1.0, 0.0], [-3.0, 0.0, 0.0]])  # last: behind
    px = cam.project_vehicle(pts)
    assert np.isnan(px[[0, 2]]).all() and np.isfinite(px[1]).all()
    assert math.isnan(cam.horizon_v(pitch_rad=float("nan")))
    assert np.isnan(cam.pixel_to_road(uv, pitch_rad=float("nan"))).all()


def test_normalized_agrees_with_opencv() -> None:
    rng = np.random.default_rng(3)
    uv = rng.uniform([0.0, 0.0], [1241.0, 374.0], (50, 2))
    plain = kitti_camera().normalized(uv)
    np.testing.assert_allclose(plain, (uv - [CX, CY]) / FX, rtol=1e-14)
    xy = kitti_camera(DIST).normalized(uv)
    reproj, _ = cv2.projectPoints(
        np.column_stack([xy, np.ones(50)]), np.zeros(3), np.zeros(3), K_KITTI, DIST
    )
    assert np.abs(reproj.reshape(-1, 2) - uv).max() < 1e-8


def test_with_mount_keeps_intrinsics() -> None:
    cam = kitti_camera(DIST)
    moved = cam.with_mount(Mount(height_m=2.0))
    assert moved.mount.height_m == 2.0 and moved.fx == cam.fx and moved.cy == cam.cy
    np.testing.assert_array_equal(moved.dist, DIST)


# ---- calibration files ------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [": ", " "], ids=["object-colon", "tracking-space"])
def test_kitti_calib_loader(tmp_path: Path, sep: str) -> None:
    lines = [f"P{i}{sep}{P2_LINE}" for i in range(4)] + [f"R_rect{sep}1 0 0 0 1 0 0 0 1"]
    path = tmp_path / "calib.txt"
    path.write_text("\n".join(lines) + "\n")
    cam = CameraModel.from_kitti_calib(path)
    np.testing.assert_array_equal(cam.K, K_KITTI)
    assert (cam.width, cam.height, cam.fx) == (1242, 375, FX)
    assert not cam.has_distortion
    P = np.array(P2_LINE.split(), float).reshape(3, 4)
    np.testing.assert_allclose(cam.K @ cam.kitti_offset_m, P[:, 3], rtol=1e-14)
    tz = 2.745884e-03  # P[2, 3]; t = K^-1 P[:, 3] solves the triangular system by hand:
    assert cam.kitti_offset_m[2] == tz
    assert cam.kitti_offset_m[0] == pytest.approx((44.85728 - CX * tz) / FX, rel=1e-14)


def test_kitti_odometry_calib_rows_without_names_are_p0_p1_in_order(tmp_path: Path) -> None:
    p1 = P2_LINE.replace("4.485728000000e+01", "-3.798145000000e+02", 1)
    path = tmp_path / "calib.txt"
    path.write_text(f"{P2_LINE}\n{p1}")  # kitti/odometry/seq_1: two bare rows, no last newline
    p0_cam = CameraModel.from_kitti_calib(path, camera="P0")
    p1_cam = CameraModel.from_kitti_calib(path, camera="P1")
    np.testing.assert_array_equal(p0_cam.K, K_KITTI)
    assert p1_cam.kitti_offset_m[0] == pytest.approx((-3.798145e02 - CX * 2.745884e-03) / FX)
    # camera=None: P2 where the file names one, else P0.
    assert CameraModel.from_kitti_calib(path, camera=None).kitti_offset_m[0] > 0
    with pytest.raises(CalibrationFileError, match=r"no 'P2' line; found \['P0', 'P1'\]"):
        CameraModel.from_kitti_calib(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"P0: {P2_LINE}\n", "no 'P2' line"),
        ("P2: 1 2 3\n", "3 numbers, expected 12"),
        (f"P2: {P2_LINE.replace('6.095593', 'abc', 1)}\n", "non-numeric"),
        (f"P2: -{P2_LINE}\n", "focal lengths must be positive"),
    ],
)
def test_kitti_calib_rejects_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "calib.txt"
    path.write_text(text)
    with pytest.raises(CalibrationFileError, match=message):
        CameraModel.from_kitti_calib(path)


@pytest.mark.data
def test_kitti_tracking_calib_real_file(data_dir: Path) -> None:
    cam = CameraModel.from_kitti_calib(data_dir / "kitti" / "tracking" / "calib" / "0001.txt")
    assert cam.fx == FX and cam.fy == FX and cam.cy == CY
    assert cam.kitti_offset_m[0] == pytest.approx(0.0598, abs=1e-4)  # camera 2 is ~6 cm off


@pytest.mark.parametrize("fmt", ["opencv", "ros"])
@pytest.mark.parametrize("n_dist", [0, 4, 5, 8])
def test_yaml_round_trip(tmp_path: Path, fmt: str, n_dist: int) -> None:
    K = np.array([[1154.227, 0.35, 669.6], [0.0, 1148.182, 385.5], [0.0, 0.0, 1.0]])
    dist = np.array([-0.2415, -0.0528, -0.0011, -1.2e-05, 0.0223, 0.001, -3e-4, 1e-5])[:n_dist]
    mount = Mount(height_m=1.2, pitch_rad=0.01)
    cam = CameraModel(K=K, dist=dist, width=1280, height=720, mount=mount)
    path = tmp_path / "cam.yaml"
    if fmt == "opencv":
        cam.to_opencv_yaml(path)
        back = CameraModel.from_opencv_yaml(path, mount=mount)
    else:
        cam.to_ros_camera_info_yaml(path, camera_name="front_narrow")
        assert "camera_name: front_narrow" in path.read_text()
        back = CameraModel.from_ros_camera_info_yaml(path, mount=mount)
    np.testing.assert_array_equal(back.K, cam.K)
    padded = np.pad(cam.dist, (0, max(0, 5 - cam.dist.size))) if fmt == "ros" else cam.dist
    np.testing.assert_array_equal(back.dist, padded)
    assert (back.width, back.height, back.mount) == (1280, 720, mount)


def test_reads_handwritten_ros_and_opencv_key_aliases(tmp_path: Path) -> None:
    ros = tmp_path / "ros.yaml"
    ros.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: narrow_stereo\n"
        "camera_matrix:\n  rows: 3\n  cols: 3\n  data:\n"
        + "".join(f"    - {v}\n" for v in [500, 0, 320.5, 0, 501, 240.5, 0, 0, 1])
        + "distortion_model: plumb_bob\n"
        "distortion_coefficients: {rows: 1, cols: 5, data: [-0.1, 0.01, 0, 0, 0]}\n"
    )
    cam = CameraModel.from_ros_camera_info_yaml(ros)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width) == (500.0, 501.0, 320.5, 240.5, 640)
    np.testing.assert_array_equal(cam.dist, [-0.1, 0.01, 0, 0, 0])
    ocv = tmp_path / "ocv.yaml"
    fs = cv2.FileStorage(str(ocv), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", 640)
    fs.write("image_height", 480)
    fs.write("K", cam.K.copy())
    fs.write("D", cam.dist.copy())
    fs.release()
    np.testing.assert_array_equal(CameraModel.from_opencv_yaml(ocv).K, cam.K)


@pytest.mark.parametrize("fmt", ["opencv", "ros"])
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("camera_matrix", "camera_matrics"), "missing key 'camera_matrix'"),
        (lambda t: t.replace("1148.25", "fast"), "non-numeric"),
        (lambda t: t.replace("1148.25", "-1148.25"), "focal lengths must be positive"),
        (lambda t: t.replace("image_height: 720", "image_height: 7.5"), "whole pixels"),
        (lambda t: t.replace("image_width", "image_width: [\n"), "cannot read"),
    ],
    ids=["missing-key", "non-numeric", "negative-focal", "fractional-size", "not-yaml"],
)
def test_malformed_yaml_is_rejected(
    tmp_path: Path, fmt: str, edit: Callable[[str], str], message: str
) -> None:
    K = np.array([[1154.5, 0.0, 669.5], [0.0, 1148.25, 385.5], [0.0, 0.0, 1.0]])
    cam = CameraModel(K=K, dist=DIST, width=1280, height=720)
    path = tmp_path / "cam.yaml"
    write, read = (
        (cam.to_opencv_yaml, CameraModel.from_opencv_yaml)
        if fmt == "opencv"
        else (cam.to_ros_camera_info_yaml, CameraModel.from_ros_camera_info_yaml)
    )
    write(path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(CalibrationFileError, match=message) as info:
        read(path)
    assert str(path) in str(info.value)


def test_missing_file_and_unsupported_models(tmp_path: Path) -> None:
    with pytest.raises(CalibrationFileError, match="file not found"):
        CameraModel.from_opencv_yaml(tmp_path / "nope.yaml")
    with pytest.raises(CalibrationFileError, match="No such file"):
        CameraModel.from_kitti_calib(tmp_path / "nope.txt")
    cam = kitti_camera(DIST)
    path = tmp_path / "cam.yaml"
    cam.to_ros_camera_info_yaml(path)
    path.write_text(path.read_text().replace("plumb_bob", "kannala_brandt"))
    with pytest.raises(CalibrationFileError, match="distortion_model 'kannala_brandt'"):
        CameraModel.from_ros_camera_info_yaml(path)
    twelve = CameraModel(K=K_KITTI, dist=np.zeros(12), width=10, height=10)
    with pytest.raises(CalibrationFileError, match="12 coefficients"):
        twelve.to_ros_camera_info_yaml(path)


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"height_m": float("nan")}, "height_m"),
        ({"height_m": 0.1}, "height_m"),
        ({"pitch_rad": 0.5}, "pitch_rad"),
        ({"roll_rad": float("inf")}, "roll_rad"),
        ({"yaw_rad": -1.0}, "yaw_rad"),
        ({"behind_bumper_m": -0.1}, "behind_bumper_m"),
        ({"lateral_m": "left"}, "lateral_m"),
    ],
)
def test_mount_rejects_bad_values_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"mount\.{field} = "):
        Mount(**kwargs)  # type: ignore[arg-type]


def test_mount_from_degrees() -> None:
    m = Mount.from_degrees(height_m=1.5, pitch_deg=2.0, roll_deg=-1.0, yaw_deg=3.0, lateral_m=0.2)
    assert m == Mount(1.5, math.radians(2.0), math.radians(-1.0), math.radians(3.0), 0.0, 0.2)
    with pytest.raises(ConfigError, match=r"pitch_rad = 0\.52.*\[-0\.35, 0\.35\]"):
        Mount.from_degrees(height_m=1.5, pitch_deg=30.0)


@pytest.mark.parametrize(
    ("K", "dist", "size", "message"),
    [
        (K_KITTI * [[1, 1, 1], [1, -1, 1], [1, 1, 1]], np.zeros(5), (100, 100), "focal lengths"),
        (np.vstack([K_KITTI[:2], [0, 0, 2]]), np.zeros(5), (100, 100), r"\[0, 0, 1\]"),
        (K_KITTI[:2], np.zeros(5), (100, 100), "3 x 3"),
        (K_KITTI, np.zeros(6), (100, 100), "dist must hold"),
        (K_KITTI, np.full(5, np.nan), (100, 100), "dist must hold"),
        (K_KITTI, np.zeros(5), (0, 100), "width must be a positive integer"),
    ],
)
def test_camera_model_rejects_inconsistent_intrinsics(
    K: np.ndarray, dist: np.ndarray, size: tuple[int, int], message: str
) -> None:
    with pytest.raises(CalibrationFileError, match=message):
        CameraModel(K=K, dist=dist, width=size[0], height=size[1])


def test_arrays_are_read_only() -> None:
    cam = kitti_camera()
    with pytest.raises(ValueError, match="read-only"):
        cam.K[0, 0] = 1.0
