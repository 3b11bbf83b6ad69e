"""Result files load in the runtime (adas.camera) with the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adas.camera import CameraModel
from calibration import io
from calibration.detect import DetectionSet
from calibration.intrinsics import IntrinsicsResult, Model, calibrate
from tests.calibration.test_synthetic import _projected_views


@pytest.fixture(scope="module", params=[Model.PINHOLE5, Model.PINHOLE8])
def result(request: pytest.FixtureRequest) -> tuple[IntrinsicsResult, DetectionSet]:
    views, cam = _projected_views(Model.PINHOLE5, 21, 0.1)
    res = calibrate(views, cam.size, request.param, heldout=True)
    return res, DetectionSet(tuple(views), cam.size, "modern", 6, {"modern": 1, "legacy": 0})


def test_opencv_yaml_loads_in_adas(
    result: tuple[IntrinsicsResult, DetectionSet], tmp_path: Path
) -> None:
    res, _ = result
    io.write_opencv_yaml(res, tmp_path / "cam.yaml")
    cam = CameraModel.from_opencv_yaml(tmp_path / "cam.yaml")
    np.testing.assert_allclose(cam.K, res.K, rtol=1e-12)
    np.testing.assert_allclose(cam.dist, res.dist, rtol=1e-12)
    assert (cam.width, cam.height) == res.image_size


def test_ros_file_loads_in_adas(
    result: tuple[IntrinsicsResult, DetectionSet], tmp_path: Path
) -> None:
    res, _ = result
    io.write_ros_camera_info(res, tmp_path / "info.yaml", camera_name="front")
    text = (tmp_path / "info.yaml").read_text()
    expected = {Model.PINHOLE5: "plumb_bob", Model.PINHOLE8: "rational_polynomial"}[res.model]
    assert f"distortion_model: {expected}" in text and "projection_matrix:" in text
    cam = CameraModel.from_ros_camera_info_yaml(tmp_path / "info.yaml")
    np.testing.assert_array_equal(cam.K, res.K)
    np.testing.assert_array_equal(cam.dist, res.dist)


def test_ros_message_field_names_differ_by_version(
    result: tuple[IntrinsicsResult, DetectionSet],
) -> None:
    res, _ = result
    ros1 = io.camera_info_message(res, ros_version=1)
    ros2 = io.camera_info_message(res, ros_version=2)
    assert {"D", "K", "R", "P"} <= set(ros1) and not {"d", "k"} & set(ros1)
    assert {"d", "k", "r", "p"} <= set(ros2) and "seq" not in ros2["header"]
    assert ros1["K"] == ros2["k"] == [float(v) for v in res.K.ravel()]
    assert ros2["p"][3] == 0.0 and len(ros2["p"]) == 12


def test_json_summary_has_the_contract_keys(
    result: tuple[IntrinsicsResult, DetectionSet], tmp_path: Path
) -> None:
    res, dets = result
    io.write_json(io.summary(res, dets), tmp_path / "s.json")
    s = json.loads((tmp_path / "s.json").read_text())
    for key in ("images", "used", "rejected", "rms_px", "heldout_rms_px", "fx", "fy", "cx", "cy"):
        assert key in s
    assert s["images"] == len(dets.detections) and s["used"] == len(res.used)
    assert s["fx"] == res.fx and set(s["std"]) >= {"fx", "fy", "cx", "cy", "k1"}
    assert s["layout"] == "modern" and s["heldout_rms_px"] >= s["rms_px"] * 0.9
    assert sum(map(sum, s["coverage"])) == sum(d.count for d in dets.detections)
