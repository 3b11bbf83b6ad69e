"""The scenario simulator with a fisheye camera: boxes of bent outlines, and the same decisions
as the pinhole camera on the same trials."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adas.camera import CameraModel, Lens, Mount
from adas.scenarios.camera_compare import compare_decisions
from adas.scenarios.camera_sim import SensorModel, sim_camera, visible_boxes
from adas.synthetic import Objects3D, box_corners_vehicle, edge_points

# Near objects whose outlines bend most (a car crossing 2.5 m ahead, trucks), a far car ahead.
CARS = Objects3D(
    np.array([2.5, 5.0, 6.0, 40.0]),
    np.array([0.0, 0.0, 2.0, 0.0]),
    np.array([[1.53, 1.63, 3.88], [3.5, 2.5, 10.0], [3.5, 2.5, 10.0], [1.53, 1.63, 3.88]]),
    np.array([math.pi / 2, 0.0, 0.0, 0.0]),
)


def test_fisheye_boxes_are_the_extent_of_the_bent_outline() -> None:
    cam = sim_camera(Mount.from_degrees(height_m=1.5, pitch_deg=1.0), Lens.FISHEYE)
    corners = box_corners_vehicle(CARS)
    boxes = visible_boxes(cam, corners, cam.mount.pitch_rad, SensorModel())
    assert np.isfinite(boxes).all()
    bulge = []
    for box, c in zip(boxes, corners, strict=True):
        dense = cam.project_vehicle(edge_points(c, np.ones(8), 2001))
        truth = np.clip(np.r_[dense.min(0), dense.max(0)], 0, [cam.width - 1, cam.height - 1] * 2)
        # EDGE_SAMPLES' rule: within 0.05 px of the extent of 2001 points per edge.
        assert np.abs(box - truth).max() < 0.05
        uv = cam.project_vehicle(c)
        corner_box = np.clip(np.r_[uv.min(0), uv.max(0)], 0, [cam.width - 1, cam.height - 1] * 2)
        bulge.append(np.abs(corner_box - truth).max())
    assert max(bulge) > 20.0  # corners alone miss the crossing car's bulge by ~38 px


def _side_angles_deg(cam: CameraModel) -> np.ndarray:
    """Angles off the forward axis of the rays through the middles of the image's sides."""
    mid = [[0.0, cam.cy], [cam.width - 1.0, cam.cy], [cam.cx, 0.0], [cam.cx, cam.height - 1.0]]
    return np.degrees(np.arccos(cam.pixel_to_ray(mid)[:, 0]))


def test_the_narrow_fisheye_sees_the_pinholes_field_of_view() -> None:
    pin, fish = sim_camera(Mount()), sim_camera(Mount(), Lens.FISHEYE, wide=False)
    # 0.05 deg: the sensor is whole pixels; half a pixel at f = 721.5 px is 0.04 deg.
    np.testing.assert_allclose(_side_angles_deg(fish), _side_angles_deg(pin), atol=0.05)


def test_the_pinhole_simulator_is_unchanged_by_the_lens_option() -> None:
    cam = sim_camera(Mount())
    assert cam.lens is Lens.PINHOLE and (cam.width, cam.height) == (1280, 720)
    corners = box_corners_vehicle(CARS)
    boxes = visible_boxes(cam, corners, 0.0, SensorModel())
    for box, c in zip(boxes, corners, strict=True):  # straight edges: the corners' extent
        if np.isfinite(box).all():
            uv = cam.project_vehicle(c)
            full = np.clip(np.r_[uv.min(0), uv.max(0)], 0, [1279.0, 719.0] * 2)
            np.testing.assert_array_equal(box, full)


def _row(sid: str, warn: float | None, brake: float | None, **kw: Any) -> dict[str, Any]:
    return {"scenario": sid, "seed": 0, "trial": 0, "warning_time_s": warn,
            "first_brake_time_s": brake, "collided": False, "passed": True, **kw}  # fmt: skip


def test_decision_comparison_counts_flags_and_times_against_the_tolerance() -> None:
    a = [_row("a", 1.0, 2.0), _row("b", None, None), _row("c", 3.0, None), _row("d", 1.0, 1.5),
         _row("e", 2.5, 3.0), _row("f", 2.0, 2.1, collided=True, passed=False)]  # fmt: skip
    b = [_row("a", 1.1, 2.05), _row("b", 0.5, None), _row("c", 3.3, None), _row("d", 1.0, None),
         _row("e", 2.7, 3.0), _row("f", 2.0, 2.133)]  # fmt: skip
    out = compare_decisions(a, b, time_tol_s=0.2)
    # b: a warning only one run gave; c: 0.3 s apart; d: a brake only one gave. e: 2.7 - 2.5 is
    # 0.2 up to rounding (agrees); f: same decisions, the outcome flipped (counted apart).
    assert (out["trials"], out["agree"], out["same_outcome"]) == (6, 3, 5)
    assert out["flags_match"] == {
        "warned": 5, "braked": 5, "collided": 5, "passed": 5
    }  # fmt: skip
    assert out["times"]["warn"]["both"] == 5 and out["times"]["warn"]["max_abs_s"] == 0.3
    assert out["times"]["warn"]["beyond_tolerance"] == 1
    assert [d["scenario"] for d in out["disagree"]] == ["b", "c", "d"]
    assert out["outcome_only"] == [
        {"scenario": "f", "seed": 0, "trial": 0, "differs": ["collided", "passed"]}
    ]
    with pytest.raises(ValueError, match="different trials"):
        compare_decisions(a, b[:3], time_tol_s=0.2)


# Warning/brake times agree within 0.2 s (6 frames: tools/fisheye_decisions.py's rule).
SCENARIOS = ["nhtsa/lvs", "ncap/ccrs-40-o75", "r152/stationary-60", "false-reaction/gantry"]


def test_a_fisheye_camera_gives_the_pinhole_decisions_on_the_same_trials() -> None:
    """Longitudinal scenarios, where the target stays ahead: the fisheye with the pinhole's
    field (the lens model alone differs) and the 150 deg one decide as the pinhole does."""
    from adas.config import load_config
    from adas.scenarios import run_suite

    cfg = load_config()
    runs = [
        run_suite("all", config=cfg, scenario_ids=SCENARIOS, camera=cam)["results"]
        for cam in (None, *(sim_camera(cfg.mount, Lens.FISHEYE, wide=w) for w in (False, True)))
    ]
    for fisheye in runs[1:]:
        out = compare_decisions(runs[0], fisheye, time_tol_s=0.2)
        assert out["trials"] == len(SCENARIOS)
        assert out["agree"] == out["trials"], out["disagree"]
        assert out["times"]["warn"]["both"] >= 3  # the car-following scenarios warn on both


def test_scenarios_cli_camera_choice(tmp_path: Path) -> None:
    from adas.cli.cmd_scenarios import _camera
    from adas.config import load_config

    cfg = load_config()
    assert _camera("pinhole", cfg) is None
    fish = _camera("fisheye", cfg)
    assert fish.lens is Lens.FISHEYE and (fish.width, fish.height) == (1920, 1080)
    narrow = _camera("fisheye-narrow", cfg)
    assert narrow.lens is Lens.FISHEYE and (narrow.width, narrow.height) == (1094, 680)
    path = tmp_path / "fish.yaml"
    fish.to_ros_camera_info_yaml(path)
    read = _camera(str(path), cfg)
    assert read.lens is Lens.FISHEYE and math.isclose(read.fx, fish.fx)
    from adas.errors import CalibrationFileError

    (tmp_path / "bad.yaml").write_text("image_width: 10\n")
    with pytest.raises(CalibrationFileError, match=r"bad\.yaml"):
        _camera(str(tmp_path / "bad.yaml"), cfg)


def test_scenarios_command_runs_the_fast_subset_through_a_fisheye(tmp_path: Path) -> None:
    import json

    from adas.cli import main
    from adas.scenarios import FAST_SUBSET

    out = tmp_path / "s.json"
    code = main(
        ["scenarios", "--fast", "--camera", "fisheye", "--workers", "1", "--json", str(out)]
    )
    d = json.loads(out.read_text())
    assert code == (0 if d["failed"] == 0 else 1)
    assert d["camera"] == "fisheye" and len(d["results"]) == len(FAST_SUBSET)
