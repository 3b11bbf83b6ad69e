"""The adas-calibrate command: help, not-yet commands, board and intrinsics end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.camera import CameraModel
from calibration.cli import NOT_YET, build_parser, main


@pytest.mark.parametrize("command", ["board", "intrinsics"])
def test_help_starts_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n", 1)[1]
    assert description.startswith("example:\n  adas-calibrate " + command)


def test_top_level_help_lists_every_command() -> None:
    text = build_parser().format_help()
    for name in ("board", "intrinsics", *NOT_YET):
        assert name in text


@pytest.mark.parametrize("command", sorted(NOT_YET))
def test_unimplemented_commands_say_so(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command]) == 2
    assert "not implemented yet" in capsys.readouterr().err


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
    assert page.count("<svg") == 2 and "left01.jpg" in page and "<script" not in page
