"""adas.sources.kitti_odometry: KITTI poses -> ego speed and yaw rate, the ego CSV, and the
replay of a KITTI odometry sequence (image folder, calib.txt camera, poses)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adas import app
from adas.cli import main
from adas.config import load_config
from adas.errors import CalibrationFileError, DataFormatError
from adas.replay import ReplayOptions, replay_drive
from adas.sources import ImageFolderSource, SourceError, load_ego_csv, open_source
from adas.sources.kitti_odometry import (
    ego_from_poses,
    heading_change_rad,
    kitti_poses_ego,
    load_kitti_poses,
    write_ego_csv,
)
from adas.types import FloatArray

PERIOD_NS = 100_000_000  # KITTI's 10 Hz
SEQ_1 = Path("kitti") / "odometry" / "seq_1"


def pose(heading_left_rad: float, position: tuple[float, float, float]) -> FloatArray:
    """Camera-to-world [R | t] of a level camera turned ``heading_left_rad`` to the left of
    the world's z axis (camera x right, y down, z forward)."""
    c, s = math.cos(heading_left_rad), math.sin(heading_left_rad)
    rot = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])  # columns: x, y, z axes
    return np.hstack([rot, np.reshape(position, (3, 1))])


def straight(speed: float, n: int, heading: float = 0.0) -> FloatArray:
    step = speed * PERIOD_NS / 1e9
    forward = np.array([-math.sin(heading), 0.0, math.cos(heading)])
    return np.array([pose(heading, tuple(i * step * forward)) for i in range(n)])


def circle(speed: float, radius: float, n: int, left: bool = True) -> FloatArray:
    """A drive round a circle of ``radius`` at ``speed``, centre to the left (or right)."""
    sign = 1.0 if left else -1.0
    poses = []
    for i in range(n):
        psi = sign * speed / radius * i * PERIOD_NS / 1e9
        # Centre at x = -radius (left); the camera starts at the origin heading along +z.
        x = sign * (-radius + radius * math.cos(psi))
        z = radius * math.sin(abs(psi))
        poses.append(pose(psi, (x, 0.0, z)))
    return np.array(poses)


def write_poses(path: Path, poses: FloatArray) -> Path:
    path.write_text("\n".join(" ".join(f"{v:.17g}" for v in p.ravel()) for p in poses) + "\n")
    return path


def test_straight_drive_is_its_speed_and_no_yaw() -> None:
    for heading in (0.0, 0.7, -2.0):  # the world frame's orientation does not matter
        ego = ego_from_poses(straight(12.0, 6, heading))
        assert ego.t_ns == tuple(i * PERIOD_NS for i in range(6))
        np.testing.assert_allclose(ego.speed_mps, 12.0, rtol=1e-12)
        np.testing.assert_allclose(ego.yaw_rate_rps, 0.0, atol=1e-12)


@pytest.mark.parametrize("left", [True, False], ids=["left", "right"])
def test_circle_gives_its_speed_and_speed_over_radius(left: bool) -> None:
    v, radius = 15.0, 40.0  # 0.375 rad/s: a 4 deg turn per frame
    ego = ego_from_poses(circle(v, radius, 8, left=left))
    # Exact at every pose, the one-sided ends included: the chord is corrected to the arc.
    np.testing.assert_allclose(ego.speed_mps, v, rtol=1e-12)
    np.testing.assert_allclose(ego.yaw_rate_rps, (1 if left else -1) * v / radius, rtol=1e-12)


def test_heading_change_is_positive_to_the_left() -> None:
    assert heading_change_rad(pose(0.0, (0, 0, 0)), pose(0.1, (0, 0, 0))) == pytest.approx(0.1)
    # A turn measured in the first camera's axes: the same from any starting heading.
    assert heading_change_rad(pose(2.0, (0, 0, 0)), pose(1.7, (0, 0, 0))) == pytest.approx(-0.3)


def test_csv_round_trips_exactly_through_the_replay_loader(tmp_path: Path) -> None:
    poses = write_poses(tmp_path / "poses.txt", circle(11.0, 25.0, 5))
    ego = kitti_poses_ego(poses)
    csv = tmp_path / "ego.csv"
    write_ego_csv(csv, ego)
    assert csv.read_text().splitlines()[:3] == [
        "time_s,speed_mps,yaw_rate_rps",
        f"0,{ego.speed_mps[0]!r},{ego.yaw_rate_rps[0]!r}",
        f"0.1,{ego.speed_mps[1]!r},{ego.yaw_rate_rps[1]!r}",
    ]
    track = load_ego_csv(csv, max_age_ns=0)
    assert track.t_ns == list(ego.t_ns)
    assert track.speed_mps == list(ego.speed_mps)
    assert track.yaw_rate_rps == list(ego.yaw_rate_rps)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1 0 0 0 0 1 0 0 0 0 1 0\n", r"1 pose\(s\); speed and yaw rate need at least two"),
        ("1 0 0 0 0 1 0 0 0 0 1\n1 0 0 0 0 1 0 0 0 0 1 0\n", ":1: a pose row is 12 finite"),
        ("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 x 0 1 0 0 0 0 1 0\n", ":2: a pose row is 12 numbers"),
        ("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 nan 0 1 0 0 0 0 1 0\n", ":2: a pose row is 12 finite"),
        (  # a KITTI calib file: 12 numbers a row, but K is no rotation
            "707.1 0 601.9 0 0 707.1 183.1 0 0 0 1 0\n707.1 0 601.9 -379.8 0 707.1 183.1 0 0 0 1 0",
            ":1: the 3 x 3 part is not a rotation",
        ),
    ],
)
def test_bad_pose_files_name_the_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "poses.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=words):
        load_kitti_poses(path)


def test_image_folder_takes_its_ego_from_poses(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "image_0"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:06d}.png"), np.full((8, 12), 40 * i, np.uint8))
    poses = write_poses(tmp_path / "poses.txt", straight(12.0, 3))  # one pose short, as seq_1
    with ImageFolderSource(folder, ego_kitti_poses=poses, max_ego_age_s=0.1) as src:
        items = list(src)
    assert [it.ego.speed_mps for it in items] == pytest.approx([12.0] * 4, rel=1e-12)
    # The frame past the last pose reuses it while it is fresh (here 0.1 s old: still fresh).
    assert [it.ego.valid for it in items] == [True] * 4
    assert items[3].ego.t_ns == 2 * PERIOD_NS
    with ImageFolderSource(folder, ego_kitti_poses=poses, max_ego_age_s=0.05) as src:
        assert [it.ego.valid for it in src] == [True, True, True, False]
    with pytest.raises(SourceError, match="not both"):
        open_source(folder, ego_csv=tmp_path / "ego.csv", ego_kitti_poses=poses)


P0 = "7.07e+02 0.0 6.0e+02 0.0 0.0 7.07e+02 1.83e+02 0.0 0.0 0.0 1.0 0.0"
P1 = "7.07e+02 0.0 6.0e+02 -3.8e+02 0.0 7.07e+02 1.83e+02 0.0 0.0 0.0 1.0 0.0"


def test_replay_camera_from_an_odometry_calib_without_row_names(tmp_path: Path) -> None:
    calib = tmp_path / "calib.txt"
    calib.write_text(f"{P0}\n{P1}")  # as kitti/odometry/seq_1 has it: no names, no newline
    config = load_config(None)
    cam = app.load_camera_file(calib, config, size=(1226, 370))
    assert (cam.fx, cam.cx, cam.cy, cam.width, cam.height) == (707.0, 600.0, 183.0, 1226, 370)
    assert cam.kitti_offset_m.tolist() == [0.0, 0.0, 0.0]  # P0, not P1
    assert cam.mount == config.mount
    calib.write_text(f"P0: {P0}\nP1: {P1}\nP2: {P1}\n")  # named rows: P2 where present
    assert app.load_camera_file(calib, config, size=(1226, 370)).kitti_offset_m[0] < -0.5
    with pytest.raises(CalibrationFileError, match="no image size"):
        app.load_camera_file(calib, config)


@pytest.mark.data
def test_real_seq_1_poses_drive_at_about_12_mps(data_dir: Path) -> None:
    ego = kitti_poses_ego(data_dir / SEQ_1 / "poses.txt")
    assert len(ego.t_ns) == 51  # one pose per image (the last row has no newline)
    assert 11.8 < float(np.median(ego.speed_mps)) < 12.2
    assert min(ego.speed_mps) > 11.5 and max(ego.speed_mps) < 12.5
    assert max(abs(w) for w in ego.yaw_rate_rps) < 0.05  # a straight street: < 3 deg/s


@pytest.mark.data
def test_real_seq_1_replays_calibrated_with_ego_from_poses(data_dir: Path, tmp_path: Path) -> None:
    seq = data_dir / SEQ_1
    options = ReplayOptions(
        camera_file=seq / "calib.txt",
        ego_kitti_poses=seq / "poses.txt",
        video=False,
        mcap_images=False,
        max_frames=3,
    )
    summary = replay_drive(seq / "image_l", tmp_path / "a", options)
    assert summary.name == "image_l"  # calibrated: no UNCALIBRATED note
    assert summary.frames == 3 and summary.decision_frames["UNAVAILABLE"] == 0
    assert summary.warnings == ()
    args = ["replay", str(seq / "image_l"), "--camera", str(seq / "calib.txt"),
            "--ego-kitti-poses", str(seq / "poses.txt"), "--ego-csv", str(seq / "poses.txt"),
            "--out", str(tmp_path / "b")]  # fmt: skip
    assert main(args) == 2  # both ego inputs: refused before anything runs
    assert not (tmp_path / "b").exists()
