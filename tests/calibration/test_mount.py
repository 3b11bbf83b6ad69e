"""Mount calibration: a board at a known place, seen by a camera on a known mount, gives that
mount back; the angles invert adas's rotation; the TOML loads in adas with the same numbers."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.camera import CameraModel, Mount, rotation_vehicle_camera
from adas.camera_lens import Lens
from adas.config import load_config
from calibration.boards import BoardKind, BoardSpec
from calibration.detect import Detection, detect_images
from calibration.errors import (
    BoardSpecError,
    CalibrationError,
    NotEnoughViewsError,
)
from calibration.models import Model
from calibration.mount import (
    FIELDS,
    BoardPlacement,
    Intrinsics,
    MountResult,
    estimate_mount,
    load_intrinsics,
    mount_angles,
    mount_values,
)
from calibration.mount_io import summary, write_mount_opencv_yaml, write_mount_toml
from tests.calibration.synth import Camera, render_view

K = np.array([[900.0, 0.0, 640.0], [0.0, 905.0, 400.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.2, 0.05, 0.001, -0.001, 0.0])
SIZE = (1280, 800)
SPEC = BoardSpec(BoardKind.CHARUCO, 8, 6, 0.15, 0.11, "DICT_4X4_50")  # 1.2 x 0.9 m
TRUTH = Mount.from_degrees(
    height_m=1.35, pitch_deg=6.5, roll_deg=1.2, yaw_deg=-2.0, behind_bumper_m=1.9, lateral_m=0.25
)
# Lying in front of the car, read upright from it: origin (far-left corner) 1.6 m ahead of the
# bumper; the board runs 1.2 m to the right and 0.9 m back towards the car.
GROUND = BoardPlacement.on_ground(1.6, 0.85, yaw_deg=-90.0, thickness_m=0.005)
# The same by hand: board x -> vehicle -y, board y -> vehicle -x, board z -> down.
T_VEHICLE_GROUND = np.array(
    [[0.0, -1.0, 0.0, 1.6], [-1.0, 0.0, 0.0, 0.85], [0.0, 0.0, -1.0, 0.005], [0, 0, 0, 1.0]]
)
TOL = {  # |error| bounds for exact projections + 0.2 px noise, per field (metres, radians)
    "height_m": 0.005, "pitch_rad": math.radians(0.05), "roll_rad": math.radians(0.05),
    "yaw_rad": math.radians(0.05), "behind_bumper_m": 0.005, "lateral_m": 0.005,
}  # fmt: skip


def _views(
    mount: Mount, place: BoardPlacement, n: int, noise_px: float, seed: int
) -> list[Detection]:
    """``n`` detections of the board's inner corners projected by adas's own camera model
    (independent of the solver's projection), with Gaussian pixel noise; corners outside the
    image are dropped."""
    rng = np.random.default_rng(seed)
    cam = CameraModel(K, DIST, *SIZE, mount=mount)
    obj = SPEC.chessboard_object_points().astype(np.float64)
    T = place.T_vehicle_board
    px = cam.project_vehicle(obj @ T[:3, :3].T + T[:3, 3])
    inside = np.isfinite(px).all(axis=1) & (px >= 0).all(axis=1) & (px < SIZE).all(axis=1)
    assert inside.sum() >= 20, f"only {inside.sum()} corners in view"
    views = []
    for i in range(n):
        noisy = px[inside] + rng.normal(0.0, noise_px, (int(inside.sum()), 2))
        ids = np.flatnonzero(inside).astype(np.int32)
        views.append(
            Detection(
                f"v{i}", "", noisy.astype(np.float32), obj[inside].astype(np.float32), ids, ""
            )
        )
    return views


def _errors(result: MountResult, truth: Mount) -> dict[str, float]:
    return {f: getattr(result.mount, f) - getattr(truth, f) for f in FIELDS}


def test_angles_invert_adas_rotation_exactly() -> None:
    """Mount -> R_vehicle_camera (adas) -> angles -> the same Mount, over the whole range."""
    rng = np.random.default_rng(0)
    angles = rng.uniform(-0.35, 0.35, (2000, 3))
    angles[:8] = [[a, b, c] for a in (-0.35, 0.35) for b in (-0.35, 0.35) for c in (-0.35, 0.35)]
    for pitch, roll, yaw in angles:
        back = mount_angles(rotation_vehicle_camera(pitch, roll, yaw))
        assert np.abs(np.subtract(back, (pitch, roll, yaw))).max() < 1e-12
    for _ in range(200):
        lo = [0.2, -0.35, -0.35, -0.35, 0.0, -2.5]
        hi = [5.0, 0.35, 0.35, 0.35, 10.0, 2.5]
        mount = Mount(*rng.uniform(lo, hi))
        values = mount_values(CameraModel(K, DIST, *SIZE, mount=mount).T_vehicle_camera)
        np.testing.assert_allclose(values, dataclasses.astuple(mount), atol=1e-12)


def test_placements_match_the_documented_axes() -> None:
    np.testing.assert_allclose(GROUND.T_vehicle_board, T_VEHICLE_GROUND, atol=1e-15)
    at0 = BoardPlacement.on_ground(3.0, 0.0).T_vehicle_board  # columns forward, rows right
    np.testing.assert_allclose(at0[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-15)
    # Standing, facing the car: x to the car's right, y down, z away from the car.
    up = BoardPlacement.standing(5.0, 0.5, 1.2).T_vehicle_board
    np.testing.assert_allclose(up[:3, :3], [[0, 0, 1.0], [-1.0, 0, 0], [0, -1.0, 0]], atol=1e-15)
    leaning = BoardPlacement.standing(5.0, 0.5, 1.2, tilt_deg=10.0).T_vehicle_board
    assert leaning[2, 1] < -math.cos(math.radians(10.0)) + 1e-12  # board y still mostly down
    assert leaning[0, 1] < 0  # its top leans away from the car: going down comes towards it
    for T in (at0, up, leaning):
        assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)


@pytest.mark.parametrize("noise_px", [0.0, 0.2])
def test_projected_ground_board_recovers_the_mount(noise_px: float) -> None:
    result = estimate_mount(_views(TRUTH, GROUND, 5, noise_px, seed=1), K, DIST, "pinhole5", GROUND)
    err = _errors(result, TRUTH)
    if noise_px == 0.0:
        assert max(map(abs, err.values())) < 1e-6, err  # float32 pixels in a Detection
        assert result.rms_px < 1e-4
        return
    assert result.rms_px == pytest.approx(noise_px * math.sqrt(2), rel=0.15)
    for f, e in err.items():
        assert abs(e) < TOL[f], f"{f}: off by {e:.3g}"
        assert abs(e) < 3 * result.std[f], f"{f}: off by {e:.3g}, std {result.std[f]:.3g}"
        spread = result.spread[f]
        assert spread is not None and spread < 4 * math.sqrt(5) * result.std[f]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_mounts_and_standing_board(seed: int) -> None:
    """Random mounts in the brief's range; a standing board turned and leaning at a known
    place 2 m ahead of the camera (the std grows with the square of the distance: 1.7 mm
    of height here, 9 mm at 4 m). Four images each, 0.2 px noise."""
    rng = np.random.default_rng(seed)
    truth = Mount.from_degrees(
        height_m=rng.uniform(1.2, 1.7), pitch_deg=rng.uniform(3, 8), roll_deg=rng.uniform(-2, 2),
        yaw_deg=rng.uniform(-3, 3), behind_bumper_m=rng.uniform(0.5, 2.5),
        lateral_m=rng.uniform(-0.5, 0.5),
    )  # fmt: skip
    ahead = 2.0 - truth.behind_bumper_m
    place = BoardPlacement.standing(ahead, 0.6, 1.3, yaw_deg=rng.uniform(-15, 15), tilt_deg=8.0)
    result = estimate_mount(_views(truth, place, 4, 0.2, seed), K, DIST, "pinhole5", place)
    for f, e in _errors(result, truth).items():
        assert abs(e) < 3 * result.std[f] + 1e-9, f"{f}: off by {e:.3g}, std {result.std[f]:.3g}"
        bound = 0.01 if f.endswith("_m") else math.radians(0.15)
        assert abs(e) < bound, f"{f}: off by {e:.3g}"


def test_reported_std_matches_the_scatter() -> None:
    """Over 60 noisy single-image solves the estimates scatter as the Jacobian std says."""
    views = _views(TRUTH, GROUND, 60, 0.3, seed=5)
    results = [estimate_mount([v], K, DIST, "pinhole5", GROUND) for v in views]
    values = np.array([dataclasses.astuple(r.mount) for r in results])
    reported = np.mean([list(r.std.values()) for r in results], axis=0)
    ratio = values.std(axis=0, ddof=1) / reported
    assert np.all((ratio > 0.7) & (ratio < 1.35)), dict(zip(FIELDS, ratio.round(2), strict=True))
    assert all(r.spread["height_m"] is None for r in results)  # one image: no spread


def test_one_placement_per_image_and_unused_images() -> None:
    """The board moved between images (one placement each); an image without a board is
    reported, not used."""
    other = BoardPlacement.on_ground(1.4, -0.2, yaw_deg=-80.0)
    views = _views(TRUTH, GROUND, 2, 0.2, 3) + _views(TRUTH, other, 2, 0.2, 4)
    empty = Detection("blank", "", np.zeros((0, 2), np.float32), np.zeros((0, 3), np.float32),
                      np.zeros(0, np.int32), "")  # fmt: skip
    places = [GROUND, GROUND, other, other, GROUND]
    result = estimate_mount([*views, empty], K, DIST, "pinhole5", places)
    assert result.images == 5 and result.unused == ("blank",) and len(result.per_image) == 4
    assert result.placements == (GROUND, other)
    for f, e in _errors(result, TRUTH).items():
        assert abs(e) < TOL[f], f"{f}: off by {e:.3g}"
    with pytest.raises(BoardSpecError, match="2 board placements for 5 images"):
        estimate_mount([*views, empty], K, DIST, "pinhole5", places[:2])


def test_rendered_ground_board(tmp_path: Path) -> None:
    """Rendered images of the board lying on the road, ChArUco detection, then the mount:
    height within 5 mm, angles within 0.1 degree (measured: 0.2 mm, 0.02 degree)."""
    T_camera_board = np.linalg.inv(CameraModel(K, DIST, *SIZE, mount=TRUTH).T_vehicle_camera)
    T_camera_board = T_camera_board @ T_VEHICLE_GROUND
    rvec = cv2.Rodrigues(T_camera_board[:3, :3])[0].ravel()
    rng = np.random.default_rng(7)
    for i in range(3):
        image = render_view(SPEC, Camera(K, DIST, SIZE), rvec, T_camera_board[:3, 3], rng, dpi=40)
        cv2.imwrite(str(tmp_path / f"ground{i}.png"), image)
    dets = detect_images(sorted(tmp_path.glob("*.png")), SPEC)
    assert len(dets.detected) == 3
    result = estimate_mount(dets.detected, K, DIST, "pinhole5", GROUND)
    err = _errors(result, TRUTH)
    assert result.rms_px < 0.3
    assert abs(err["height_m"]) < 0.005 and abs(err["behind_bumper_m"]) < 0.01
    assert abs(err["lateral_m"]) < 0.01
    for f in ("pitch_rad", "roll_rad", "yaw_rad"):
        assert abs(math.degrees(err[f])) < 0.1, f"{f}: off by {math.degrees(err[f]):.3f} deg"
    for f, e in err.items():
        assert abs(e) < 3 * result.std[f], f"{f}: off by {e:.3g}, std {result.std[f]:.3g}"


def test_toml_loads_in_adas_with_the_same_mount(tmp_path: Path) -> None:
    result = estimate_mount(_views(TRUTH, GROUND, 2, 0.2, 8), K, DIST, "pinhole5", GROUND)
    write_mount_toml(result, tmp_path / "mount.toml")
    cfg = load_config(tmp_path / "mount.toml")
    for f in FIELDS:
        tol = 1e-8 if f.endswith("_rad") else 1e-6  # 6 decimals of degrees or metres
        assert getattr(cfg.mount, f) == pytest.approx(getattr(result.mount, f), abs=tol), f
    assert cfg.motion.camera_behind_bumper_m == cfg.mount.behind_bumper_m


def test_opencv_yaml_is_the_camera_on_its_mount(tmp_path: Path) -> None:
    """The YAML's camera loads in adas; its R_vehicle_camera, t_vehicle_camera project
    vehicle points (through cv2.projectPoints) where adas's camera on the mount does."""
    result = estimate_mount(_views(TRUTH, GROUND, 2, 0.2, 8), K, DIST, "pinhole5", GROUND)
    camera = load_intrinsics_of(K, DIST, tmp_path)
    write_mount_opencv_yaml(result, camera, tmp_path / "mount.yaml")
    loaded = CameraModel.from_opencv_yaml(tmp_path / "mount.yaml", mount=result.mount)
    np.testing.assert_array_equal(loaded.K, K)
    fs = cv2.FileStorage(str(tmp_path / "mount.yaml"), cv2.FILE_STORAGE_READ)
    R, t = fs.getNode("R_vehicle_camera").mat(), fs.getNode("t_vehicle_camera").mat()
    pitch_deg = fs.getNode("pitch_deg").real()
    fs.release()
    np.testing.assert_allclose(R, loaded.R_vehicle_camera, atol=1e-15)
    np.testing.assert_allclose(t.ravel(), loaded.position_m, atol=1e-15)
    assert t[2, 0] == result.mount.height_m
    assert pitch_deg == pytest.approx(math.degrees(result.mount.pitch_rad), abs=1e-12)
    road = np.array([[x, y, 0.0] for x in (3.0, 8.0, 20.0) for y in (-2.0, 0.0, 2.5)])
    px, _ = cv2.projectPoints(road, cv2.Rodrigues(R.T)[0], -R.T @ t, K, DIST)
    np.testing.assert_allclose(px.reshape(-1, 2), loaded.project_vehicle(road), atol=1e-9)


def load_intrinsics_of(K: np.ndarray, dist: np.ndarray, folder: Path) -> Intrinsics:
    CameraModel(K, dist, *SIZE).to_opencv_yaml(folder / "camera.yaml")
    return load_intrinsics(folder / "camera.yaml")


def test_summary_is_json_in_degrees() -> None:
    result = estimate_mount(_views(TRUTH, GROUND, 3, 0.2, 9), K, DIST, "pinhole5", GROUND)
    s = json.loads(json.dumps(summary(result), allow_nan=False))
    assert (s["images"], s["used"], len(s["per_image"])) == (3, 3, 3)
    assert s["pitch_deg"] == pytest.approx(math.degrees(result.mount.pitch_rad))
    assert s["height_m"] == result.mount.height_m and s["rms_px"] == result.rms_px
    assert s["std"]["yaw_deg"] == pytest.approx(math.degrees(result.std["yaw_rad"]))
    assert set(s["spread"]) == set(s["std"]) == {f.replace("_rad", "_deg") for f in FIELDS}
    assert s["per_image"][0]["roll_deg"] == pytest.approx(math.degrees(TRUTH.roll_rad), abs=0.1)
    assert s["board"] == [GROUND.to_dict()]


def test_intrinsics_files_load(tmp_path: Path) -> None:
    cam = CameraModel(K, DIST, *SIZE)
    cam.to_opencv_yaml(tmp_path / "cv.yaml")
    cam.to_ros_camera_info_yaml(tmp_path / "ros.yaml")
    for name in ("cv.yaml", "ros.yaml"):
        intr = load_intrinsics(tmp_path / name)
        np.testing.assert_array_equal(intr.K, K)
        np.testing.assert_array_equal(intr.dist, DIST)
        assert intr.image_size == SIZE and intr.model == "pinhole5"
        intr.check_image_size(SIZE)
    with pytest.raises(CalibrationError, match="calibrated at 1280 x 800"):
        intr.check_image_size((640, 400))
    with pytest.raises(CalibrationError, match=r"missing\.yaml: file not found"):
        load_intrinsics(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: BoardPlacement.on_ground(float("nan"), 0.0), "x_m = nan"),
        (lambda: BoardPlacement.on_ground(2000.0, 0.0), "x_m = 2000.0 is outside"),
        (lambda: BoardPlacement.on_ground(2.0, 0.0, thickness_m=-0.01), "thickness_m = -0.01"),
        (lambda: BoardPlacement.on_ground(2.0, 0.0, yaw_deg=float("inf")), "yaw_deg = inf"),
        (lambda: BoardPlacement.standing(5.0, 0.0, -1.0), "z_m = -1.0 is outside"),
        (lambda: BoardPlacement.standing(5.0, 0.0, 1.0, tilt_deg=80.0), "tilt_deg = 80.0"),
        (lambda: BoardPlacement.standing(5.0, "0", 1.0), "y_m = '0': expected a number"),  # type: ignore[arg-type]
    ],
)
def test_bad_placement_is_refused(build: Callable[[], BoardPlacement], match: str) -> None:
    with pytest.raises(BoardSpecError, match=match):
        build()


def test_no_board_and_wrong_placement_give_clear_errors() -> None:
    empty = Detection("a.png", "", np.zeros((3, 2), np.float32), np.zeros((3, 3), np.float32),
                      np.arange(3, dtype=np.int32), "")  # fmt: skip
    with pytest.raises(NotEnoughViewsError, match="no board found in any of the 2 images"):
        estimate_mount([empty, empty], K, DIST, "pinhole5", GROUND)
    # The board really lies at yaw -90; claimed at 0 the camera would look 90 degrees sideways.
    wrong = dataclasses.replace(GROUND, yaw_deg=0.0)
    with pytest.raises(CalibrationError, match=r"yaw_rad=.*Check the board placement"):
        estimate_mount(_views(TRUTH, GROUND, 1, 0.2, 2), K, DIST, "pinhole5", wrong)


FISH_K = np.array([[560.0, 0.0, 641.0], [0.0, 561.0, 398.0], [0.0, 0.0, 1.0]])
FISH_D = np.array([0.05, 0.01, -0.005, 0.001])  # ~150 deg diagonal on 1280 x 800


def test_fisheye_camera_file_gives_a_fisheye_mount(tmp_path: Path) -> None:
    """A fisheye file loads as the fisheye model (not as 4 pinhole coefficients), and the
    mount solved through it from views projected by adas's fisheye camera is the truth."""
    fish = CameraModel(FISH_K, FISH_D, *SIZE, lens=Lens.FISHEYE)
    fish.to_opencv_yaml(tmp_path / "fish.yaml")
    fish.to_ros_camera_info_yaml(tmp_path / "fish_ros.yaml")
    for name in ("fish.yaml", "fish_ros.yaml"):
        intr = load_intrinsics(tmp_path / name)
        assert intr.model == Model.FISHEYE
        np.testing.assert_array_equal(intr.dist, FISH_D)
    rng = np.random.default_rng(3)
    cam = CameraModel(FISH_K, FISH_D, *SIZE, mount=TRUTH, lens=Lens.FISHEYE)
    obj = SPEC.chessboard_object_points().astype(np.float64)
    T = GROUND.T_vehicle_board
    px = cam.project_vehicle(obj @ T[:3, :3].T + T[:3, 3])
    inside = np.isfinite(px).all(axis=1) & (px >= 0).all(axis=1) & (px < SIZE).all(axis=1)
    ids = np.flatnonzero(inside).astype(np.int32)
    noisy = [px[inside] + rng.normal(0.0, 0.2, (ids.size, 2)) for _ in range(5)]
    pts = obj[inside].astype(np.float32)
    views = [
        Detection(f"v{i}", "", q.astype(np.float32), pts, ids, "") for i, q in enumerate(noisy)
    ]
    result = estimate_mount(views, intr.K, intr.dist, intr.model, GROUND)
    assert result.rms_px == pytest.approx(0.2 * math.sqrt(2), rel=0.15)
    for f, e in _errors(result, TRUTH).items():
        # the fisheye's focal length is 0.62 x the pinhole's: 1/0.62 x the pinhole bounds
        assert abs(e) < TOL[f] / 0.62, f"{f}: off by {e:.3g}"
        assert abs(e) < 3 * result.std[f], f"{f}: off by {e:.3g}, std {result.std[f]:.3g}"
