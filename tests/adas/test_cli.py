"""The ``adas`` command: help, argument errors, eval on a KITTI-format folder, bench JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adas.cli import main
from adas.evaluate.bench import bench_camera
from adas.evaluate.synthetic import Objects3D, project_boxes

P2 = "P2: 721.5377 0 609.5593 0 0 721.5377 172.854 0 0 0 1 0\n"


def write_sequence(root: Path, frames: int = 40) -> None:
    """A car ahead closing from 30 m at 5 m/s, labelled like KITTI (ry = -pi/2, 10 Hz)."""
    (root / "label_02").mkdir(parents=True)
    (root / "calib").mkdir()
    (root / "calib" / "0000.txt").write_text(P2)
    cam = bench_camera()
    hwl = (1.53, 1.63, 3.88)
    lines = []
    for fr in range(frames):
        d = 30.0 - 0.5 * fr
        box = project_boxes(cam, Objects3D(np.array([d]), np.array([0.0]), np.array([hwl])))[0]
        z = d + hwl[2] / 2  # KITTI location: bottom centre of the 3D box
        lines.append(
            f"{fr} 1 Car 0 0 0 {box[0]:.2f} {box[1]:.2f} {box[2]:.2f} {box[3]:.2f} "
            f"{hwl[0]} {hwl[1]} {hwl[2]} 0 1.65 {z} {-math.pi / 2}\n"
        )
    (root / "label_02" / "0000.txt").write_text("".join(lines))


def test_eval_on_a_synthetic_sequence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sequence(tmp_path / "kt")
    out = tmp_path / "report.json"
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path / "kt"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    near = report["distance"]["bins"][0]
    assert near["n"] == 19 and near["median_abs_rel"] < 0.01  # frames 21-39 are under 20 m
    assert report["ttc"]["n"] > 10 and report["ttc"]["median_abs_rel"] < 0.1
    assert report["tracking"]["id_switches"] == 0
    assert "distance" in capsys.readouterr().out


def test_eval_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path)]) == 2
    assert "label_02" in capsys.readouterr().err
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path), "--box-noise-px", "-1"]) == 2


def test_bench_chain_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "chain", "--objects", "8", "--frames", "60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["objects"] == 8
    assert report["tracked_in_last_frame"] == 8
    assert report["chain_us"]["median"] > 0
    assert set(report["stages_us"]) == {"track", "distance", "motion"}
    assert main(["bench", "chain", "--objects", "0"]) == 2


def test_help_is_instant_and_imports_nothing_heavy() -> None:
    code = (
        "import sys; from adas.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numba', 'cv2', 'scipy', 'adas.distance') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
    assert "kitti-tracking" in out.stdout
