"""``adas-calibrate stereo`` / ``rig`` with fisheye and mixed cameras, through the command.

Detection is replaced by the synthetic truth's projected corners (the detector itself is
tested elsewhere; rendering and detecting a dozen 1280 x 800 views would take most of the
test budget), so these check the flags, the models' path through the command and the files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from adas.camera import CameraModel
from calibration import detect
from calibration.cli import main
from calibration.detect import DetectionSet
from tests.calibration.test_fisheye_stereo import FISH_R, PINHOLE, synthetic_pair

BOARD = ["--charuco", "12x8", "--square", "0.06", "--marker", "0.045", "--dict", "DICT_5X5_100"]


@pytest.fixture
def fake_detection(monkeypatch: pytest.MonkeyPatch) -> dict[str, DetectionSet]:
    """``detect_images`` of the glob NAME returns ``sets[NAME]``."""
    sets: dict[str, DetectionSet] = {}
    monkeypatch.setattr(detect, "expand_inputs", lambda inputs: [str(i) for i in inputs])
    monkeypatch.setattr(detect, "detect_images", lambda paths, spec, **_: sets[paths[0]])
    return sets


def test_stereo_command_on_a_mixed_pair(
    fake_detection: dict[str, DetectionSet], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pinhole left, fisheye right: the ROS files say plumb_bob and equidistant, the pair's
    YAML says mixed with each camera's model, the JSON and the report carry the models and
    the rectified view; the baseline is the truth's 12 cm (0.5 mm: 2x the measured error)."""
    fake_detection["L"], fake_detection["R"] = synthetic_pair(PINHOLE, FISH_R, seed=5, n=8)
    out = {n: tmp_path / n for n in ("s.yaml", "l.yaml", "r.yaml", "s.json", "s.html")}
    args = ["stereo", "--left", "L", "--right", "R", *BOARD, "--model", "pinhole5",
            "--right-model", "fisheye", "--no-heldout", "--out", str(out["s.yaml"]),
            "--ros-out-left", str(out["l.yaml"]), "--ros-out-right", str(out["r.yaml"]),
            "--json", str(out["s.json"]), "--report", str(out["s.html"])]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["baseline"] == pytest.approx(np.linalg.norm([0.12, 0.002, 0.003]), abs=5e-4)
    s = json.loads(out["s.json"].read_text())
    assert s["model"] == "mixed" and (s["left"]["model"], s["right"]["model"]) == (
        "pinhole5", "fisheye",
    )  # fmt: skip
    assert s["rectified_dy_rms_px"] is None  # --no-heldout
    # the cameras' own focal length (700 and 548 px, mean 624): 2 atan(640 / 624) = 91 degrees
    f = s["rectification"]["P1"][0][0]
    assert f == pytest.approx((s["left"]["fy"] + s["right"]["fy"]) / 2, rel=0.01)
    assert s["rectified_view_deg"][0] == pytest.approx(
        2 * math.degrees(math.atan(640 / f)), abs=0.5
    )
    assert s["rectification"]["fov_deg"] == s["rectified_view_deg"]
    ros_r = yaml.safe_load(out["r.yaml"].read_text())
    assert ros_r["distortion_model"] == "equidistant"
    assert yaml.safe_load(out["l.yaml"].read_text())["distortion_model"] == "plumb_bob"
    assert CameraModel.from_ros_camera_info_yaml(out["l.yaml"]).fx == pytest.approx(s["left"]["fx"])
    assert "distortion_model1: plumb_bob" in out["s.yaml"].read_text()
    assert "distortion_model2: fisheye" in out["s.yaml"].read_text()
    page = out["s.html"].read_text()
    assert "mixed" in page and "rectified_view_deg" in page


def test_stereo_command_refuses_alpha_for_a_fisheye_pair(
    fake_detection: dict[str, DetectionSet], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_detection["L"], fake_detection["R"] = synthetic_pair(PINHOLE, FISH_R, seed=5, n=4)
    args = ["stereo", "--left", "L", "--right", "R", *BOARD, "--model", "fisheye", "--alpha", "0"]
    assert main(args) == 1
    assert "fov_deg" in capsys.readouterr().err


def test_rig_command_with_a_fisheye_camera(
    fake_detection: dict[str, DetectionSet], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--camera-model makes one camera fisheye; its ROS file is equidistant, the YAML says so.
    A rig matches views by image name: with the pair's leftNN/rightNN names nothing is shared,
    and the command says so."""
    left, right = synthetic_pair(PINHOLE, FISH_R, seed=5, n=8)
    fake_detection["L"], fake_detection["R"] = left, right
    args = ["rig", "--camera", "p", "L", "--camera", "f", "R", *BOARD, "--camera-model", "f",
            "fisheye"]  # fmt: skip
    assert main(args) == 1
    assert "shares no views with any other camera" in capsys.readouterr().err
    for key, d in (("L", left), ("R", right)):  # the same instant gets the same name
        views = tuple(dataclasses.replace(v, name=v.name[-6:]) for v in d.detections)
        fake_detection[key] = dataclasses.replace(d, detections=views)
    args = ["rig", "--camera", "p", "L", "--camera", "f", "R", *BOARD, "--camera-model", "f",
            "fisheye", "--out", str(tmp_path / "rig.yaml"), "--ros-out-dir",
            str(tmp_path / "ros"), "--json", str(tmp_path / "rig.json")]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    s = json.loads((tmp_path / "rig.json").read_text())
    assert {c: v["model"] for c, v in s["cameras"].items()} == {"p": "pinhole5", "f": "fisheye"}
    ros = yaml.safe_load((tmp_path / "ros" / "f.yaml").read_text())
    assert ros["distortion_model"] == "equidistant"
    assert "distortion_model: fisheye" in (tmp_path / "rig.yaml").read_text()
    bad = [
        "rig",
        "--camera",
        "p",
        "L",
        "--camera",
        "f",
        "R",
        *BOARD,
        "--camera-model",
        "x",
        "fisheye",
    ]
    assert main(bad) == 1
    assert "unknown cameras ['x']" in capsys.readouterr().err
