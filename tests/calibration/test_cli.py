"""The adas-calibrate command: help, and every command end to end on real or rendered data."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from adas.camera import CameraModel
from calibration.cli import build_parser, main
from calibration.io import read_uncertainty
from tests.calibration.rectified import pair01_row_misalignment

COMMANDS = ("board", "intrinsics", "stereo", "rectify-uncalibrated", "rig", "mount", "bench")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_starts_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n", 1)[1]
    assert description.startswith("example:\n  adas-calibrate " + command)


def test_top_level_help_lists_every_command() -> None:
    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("adas-calibrate ")


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "board"])
def test_json_takes_a_path_or_dash(command: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    (json_action,) = [a for a in sub.choices[command]._actions if "--json" in a.option_strings]
    assert json_action.nargs is None and json_action.metavar == "PATH"
    assert "'-'" in (json_action.help or "")


def test_board_command_writes_the_three_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stem = tmp_path / "b"
    args = ["board", "--chessboard", "9x6", "--square", "0.025", "--dpi", "200", "--out", str(stem)]
    assert main(args) == 0
    image = cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)
    # 10 x 7 squares of 25 mm + 2 x 10 mm margin = 270 x 195 mm at 200 dpi
    assert image.shape == (round(0.195 * 200 / 0.0254), round(0.270 * 200 / 0.0254))
    assert json.loads(stem.with_suffix(".json").read_text())["squares_x"] == 10
    assert "b.svg" in capsys.readouterr().out


def test_bad_board_arguments_fail_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        main(["board", "--charuco", "5x5", "--square", "0.03", "--out", str(tmp_path / "x")]) == 1
    )
    assert "--marker" in capsys.readouterr().err


@pytest.mark.data
def test_intrinsics_end_to_end_on_the_left_camera(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = str(data_dir / "calibration" / "opencv_stereo" / "left*.jpg")
    out = {
        k: tmp_path / n
        for k, n in (("yaml", "c.yaml"), ("ros", "r.yaml"), ("json", "s.json"), ("html", "r.html"))
    }
    args = ["intrinsics", images, "--chessboard", "9x6", "--square", "0.025", "--no-heldout"]
    args += ["--out", str(out["yaml"]), "--ros-out", str(out["ros"]), "--json", str(out["json"])]
    args += ["--report", str(out["html"]), "--workers", "2"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads(out["json"].read_text())
    assert printed["images"] == summary["images"] == 13 and summary["rejected"] == []
    cam = CameraModel.from_opencv_yaml(out["yaml"])
    ros = CameraModel.from_ros_camera_info_yaml(out["ros"])
    assert cam.fx == summary["fx"] and np.array_equal(cam.K, ros.K)
    page = out["html"].read_text()
    assert page.count("<svg") == 3 and "left01.jpg" in page and "<script" not in page
    assert "Projection uncertainty" in page  # the third figure: the map at --uncertainty-depth
    # The YAML carries the intrinsics' covariance, the same numbers as the JSON's
    assert [d["depth_m"] for d in summary["projection_uncertainty"]["depths"]] == [20.0]
    cov = summary["intrinsics_covariance"]
    np.testing.assert_array_equal(read_uncertainty(out["yaml"]).covariance, cov["matrix"])


def test_mount_end_to_end_on_rendered_road_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rendered views of a ChArUco board lying on the road through a camera on a known mount:
    the command's TOML loads in adas with that mount (height within 5 mm, angles 0.1 deg)."""
    from adas.config import load_config
    from tests.calibration import test_mount as tm
    from tests.calibration.synth import Camera, render_view

    cam = CameraModel(tm.K, tm.DIST, *tm.SIZE, mount=tm.TRUTH)
    T_camera_board = np.linalg.inv(cam.T_vehicle_camera) @ tm.T_VEHICLE_GROUND
    rvec = cv2.Rodrigues(T_camera_board[:3, :3])[0].ravel()
    rng = np.random.default_rng(3)
    for i in range(2):
        image = render_view(tm.SPEC, Camera(tm.K, tm.DIST, tm.SIZE), rvec, T_camera_board[:3, 3],
                            rng, dpi=40)  # fmt: skip
        cv2.imwrite(str(tmp_path / f"road{i}.png"), image)
    CameraModel(tm.K, tm.DIST, *tm.SIZE).to_opencv_yaml(tmp_path / "front.yaml")
    files = {n: tmp_path / n for n in ("mount.toml", "mount.json", "mount.html", "mount.yaml")}
    args = ["mount", str(tmp_path / "road*.png"), "--camera", str(tmp_path / "front.yaml"),
            "--charuco", "8x6", "--square", "0.15", "--marker", "0.11", "--dict", "DICT_4X4_50",
            "--on-ground", "1.6", "0.85", "--board-yaw-deg", "-90", "--thickness", "0.005",
            "--out", str(files["mount.toml"]), "--json", str(files["mount.json"]),
            "--report", str(files["mount.html"]),
            "--yaml-out", str(files["mount.yaml"])]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"] == printed["used"] == 2
    mount = load_config(files["mount.toml"]).mount
    assert abs(mount.height_m - tm.TRUTH.height_m) < 0.005
    for f in ("pitch_rad", "roll_rad", "yaw_rad"):
        assert abs(np.degrees(getattr(mount, f) - getattr(tm.TRUTH, f))) < 0.1, f
    assert json.loads(files["mount.json"].read_text())["height_m"] == printed["height_m"]
    on_mount = CameraModel.from_opencv_yaml(files["mount.yaml"], mount=mount)
    fs = cv2.FileStorage(str(files["mount.yaml"]), cv2.FILE_STORAGE_READ)
    R_yaml = fs.getNode("R_vehicle_camera").mat()  # the TOML rounds angles to 1e-6 deg
    np.testing.assert_allclose(R_yaml, on_mount.R_vehicle_camera, atol=1e-7)
    fs.release()
    page = files["mount.html"].read_text()
    assert "road0.png" in page and "height_m" in page and page.count("<svg") == 1
    # The board said to lie the wrong way round: the solution is off the road; refused.
    args[args.index("-90")] = "90"
    assert main(args) == 1
    assert "board" in capsys.readouterr().err
    # --json -: the full summary (per image too) printed instead of the short line.
    args[args.index("90")] = "-90"
    args[args.index(str(files["mount.json"]))] = "-"
    assert main(args) == 0
    full = json.loads(capsys.readouterr().out)
    assert len(full["per_image"]) == 2
    # No covariance in this camera file: only the mount's part of the range error, no verdict
    assert full["ground_range"]["intrinsics_covariance"] is False
    assert full["ground_range"]["supported"] is None


@pytest.mark.data
def test_rectify_uncalibrated_end_to_end_on_the_stereo_set(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mono calibrations, then corners of all 13 pairs as matches: rows line up within the
    issue's 0.30 px; the YAML's R_i is P^-1 H_i K_i with one P (undistort and rectify in one
    map); the ROS pair, fed to initUndistortRectifyMap as image_proc does, rectifies pair 01
    so that its re-detected corners share rows."""
    folder = data_dir / "calibration" / "opencv_stereo"
    board = ["--chessboard", "9x6", "--square", "1"]
    for side in ("left", "right"):
        args = ["intrinsics", str(folder / f"{side}*.jpg"), *board, "--no-heldout"]
        assert main([*args, "--out", str(tmp_path / f"{side}.yaml")]) == 0
    capsys.readouterr()
    names = ("rect.yaml", "rect.json", "rect.html", "l_info.yaml", "r_info.yaml")
    out = {n: tmp_path / n for n in names}
    pairs = ["--pairs-left", str(folder / "left*.jpg"), "--pairs-right", str(folder / "right*.jpg")]
    args = ["rectify-uncalibrated", *pairs, *board,
            "--left-camera", str(tmp_path / "left.yaml"),
            "--right-camera", str(tmp_path / "right.yaml"), "--out", str(out["rect.yaml"]),
            "--ros-out-left", str(out["l_info.yaml"]), "--ros-out-right", str(out["r_info.yaml"]),
            "--json", str(out["rect.json"]), "--report", str(out["rect.html"])]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads(out["rect.json"].read_text())
    assert list(summary)[:3] == ["matches", "dy_rms_px", "dy_median_px"]
    assert printed["matches"] == summary["matches"] == 13 * 54
    assert summary["dy_rms_px"] <= 0.30 and printed["undistorted"] is True
    fs = cv2.FileStorage(str(out["rect.yaml"]), cv2.FILE_STORAGE_READ)
    K1, K2, H1, H2, R1, R2, P1, P2 = (
        fs.getNode(k).mat() for k in ("K1", "K2", "H1", "H2", "R1", "R2", "P1", "P2")
    )
    fs.release()
    np.testing.assert_allclose(R1, np.linalg.inv(K1) @ H1 @ K1, rtol=1e-12)
    np.testing.assert_allclose(R2, np.linalg.inv(K1) @ H2 @ K2, rtol=1e-12)
    np.testing.assert_array_equal(P1, P2)
    np.testing.assert_allclose(H1, summary["H1"], rtol=1e-12)
    page = out["rect.html"].read_text()
    assert "lmeds" in page and page.count("<svg") == 2  # candidates' dy, where matches lie
    chosen = next(c for c in summary["candidates"] if c["name"] == summary["chosen"])
    assert f"<title>{chosen['name']}: {chosen['dy_rms_px']:.3f} px</title>" in page

    maps = []
    for info_path in (out["l_info.yaml"], out["r_info.yaml"]):
        info = yaml.safe_load(info_path.read_text())
        K, D, R, P = (
            np.array(info[key]["data"], np.float64).reshape(info[key]["rows"], info[key]["cols"])
            for key in ("camera_matrix", "distortion_coefficients", "rectification_matrix",
                        "projection_matrix")
        )  # fmt: skip
        assert info["distortion_model"] == "plumb_bob" and P[0, 3] == 0.0  # baseline unknown
        np.testing.assert_allclose(CameraModel.from_ros_camera_info_yaml(info_path).K, K)
        maps.append(cv2.initUndistortRectifyMap(K, D, R, P[:, :3], (640, 480), cv2.CV_32FC1))
    assert pair01_row_misalignment(folder, *maps) <= 0.4

    # Neither keypoint images nor board pairs: a usage error, said.
    assert main(["rectify-uncalibrated", "--left", str(folder / "left01.jpg")]) == 1
    assert "--pairs-left" in capsys.readouterr().err
    assert main(["rectify-uncalibrated", "--pairs-left", "l*.jpg", "--pairs-right", "r*.jpg"]) == 1
    assert "need the board" in capsys.readouterr().err
    # A ROS pair without both intrinsics, or half a pair, is refused before any work.
    no_cams = ["rectify-uncalibrated", *pairs, *board, "--ros-out-left", str(tmp_path / "a"),
               "--ros-out-right", str(tmp_path / "b")]  # fmt: skip
    assert main(no_cams) == 1
    assert "--left-camera" in capsys.readouterr().err
    assert main([*no_cams[:-2]]) == 1
    assert "both --ros-out-left and --ros-out-right" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


@pytest.mark.data
def test_stereo_end_to_end_on_the_stereo_set(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's targets through the command: stereo RMS <= 0.30 px, held-out rectified
    vertical disparity <= 0.27 px RMS; the ROS pair loads in adas with Tx = -fx' * baseline."""
    folder = data_dir / "calibration" / "opencv_stereo"
    out = {n: tmp_path / n for n in ("s.yaml", "l.yaml", "r.yaml", "s.json", "s.html")}
    args = ["stereo", "--left", str(folder / "left*.jpg"), "--right", str(folder / "right*.jpg"),
            "--chessboard", "9x6", "--square", "1", "--out", str(out["s.yaml"]),
            "--ros-out-left", str(out["l.yaml"]), "--ros-out-right", str(out["r.yaml"]),
            "--json", str(out["s.json"]), "--report", str(out["s.html"])]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    s = json.loads(out["s.json"].read_text())
    contract = ["pairs", "used", "rejected", "rms_px", "left", "right", "baseline",
                "rectified_dy_rms_px", "rectified_dy_p95_px"]  # fmt: skip
    assert list(s)[: len(contract)] == contract
    assert printed["pairs"] == s["pairs"] == 13 and s["rms_px"] <= 0.30
    assert s["rectified_dy_rms_px"] <= 0.27
    assert s["rectified_dy_p95_px"] >= s["rectified_dy_rms_px"]
    left = CameraModel.from_ros_camera_info_yaml(out["l.yaml"])
    assert left.fx == pytest.approx(s["left"]["fx"])
    P2 = s["rectification"]["P2"]
    assert P2[0][3] == pytest.approx(-P2[0][0] * s["baseline"], rel=1e-6)
    fs = cv2.FileStorage(str(out["s.yaml"]), cv2.FILE_STORAGE_READ)
    assert np.linalg.norm(fs.getNode("T").mat()) == pytest.approx(s["baseline"])
    fs.release()
    page = out["s.html"].read_text()
    assert "Per pair" in page and page.count("<tr") >= 1 + 13  # a header and a row per pair
    # plots: stereo RMS and dy bars per pair, a coverage grid per camera (54 corners x 13)
    assert page.count("<svg") == 4
    p02 = next(p for p in s["per_pair"] if p["name"] == "02.jpg")
    assert f"<title>02.jpg: {p02['rms_px']:.3f} px</title>" in page
    assert f"<title>02.jpg held out: {p02['heldout_dy_rms_px']:.3f} px</title>" in page
    grids = page.split("Coverage, left", 1)[1].split("</svg>")[:2]
    for grid in grids:
        cells = [int(n) for n in re.findall(r'text-anchor="middle">(\d+)</text>', grid)]
        assert len(cells) == 48 and sum(cells) == 13 * 54


@pytest.mark.data
@pytest.mark.slow
def test_rig_end_to_end_on_the_charuco_set(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three cameras, layout found automatically: fx within 5 px of the reference, the loop
    of pairwise extrinsics closes within 0.5 degree, a ROS file per camera loads in adas."""
    folder = data_dir / "calibration" / "charuco_3cam"
    args = ["rig"]
    for cam in ("1", "2", "3"):
        args += ["--camera", f"cam{cam}", str(folder / cam / "*.jpg")]
    args += ["--charuco", "20x20", "--square", "0.004", "--marker", "0.0032",
             "--dict", "DICT_4X4_1000", "--out", str(tmp_path / "rig.yaml"),
             "--ros-out-dir", str(tmp_path / "ros"), "--json", str(tmp_path / "rig.json"),
             "--report", str(tmp_path / "rig.html")]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    ref = {"cam1": 2840.4, "cam2": 2828.2, "cam3": 2860.7}
    for cam, fx in ref.items():
        assert abs(printed["fx"][cam] - fx) < 5.0
        assert CameraModel.from_ros_camera_info_yaml(tmp_path / "ros" / f"{cam}.yaml").fx == (
            pytest.approx(printed["fx"][cam])
        )
    (loop,) = printed["loop_closure"]
    assert loop["rotation_deg"] < 0.5
    s = json.loads((tmp_path / "rig.json").read_text())
    assert s["reference"] == "cam1" and s["extrinsics"]["cam1"]["T"] == pytest.approx([0, 0, 0])
    page = (tmp_path / "rig.html").read_text()
    assert "Loop closure" in page and page.count("<svg") == 2 + 3  # bars, bars, 3 coverages
    joint = printed["joint_rms_px"]["cam1"]
    assert f"<title>cam1: {joint:.3f} px</title>" in page
