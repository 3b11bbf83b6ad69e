"""The sensor-model file: read back exactly, malformed files rejected with the key named."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adas.config import load_config
from adas.distance import DistanceConfig
from adas.errors import DataFormatError
from adas.motion import MotionConfig
from adas.scenarios.sensing import chain_config, resolve_sensor, sensor_name
from adas.scenarios.sensor_file import (
    DEFAULT_SENSOR_FILE,
    edge_noise_law,
    interp_bins,
    load_sensor_file,
)
from adas.types import ObjectClass
from tests.adas.scenarios.sensor_doc import sensor_doc, write_doc


def test_reads_the_figures_back(tmp_path: Path) -> None:
    f = load_sensor_file(write_doc(tmp_path / "s.json"))
    assert f.model == "synthetic"
    np.testing.assert_allclose(f.bin_heights_px, [12.5, 32.5, 50.0, 80.0, 150.0])
    np.testing.assert_allclose(f.edge_bias_rel[3], [-0.03] * 5)  # bottom
    np.testing.assert_allclose(f.edge_sigma_rel[2], [0.05, 0.04, 0.03, 0.02, 0.01])  # right
    assert f.miss_rate.shape == (3, 5) and f.miss_rate[2, 0] == 0.9
    assert f.false_per_frame == 0.6 and f.false_class == (ObjectClass.CAR, ObjectClass.TRUCK)
    car = f.flips[ObjectClass.CAR]
    assert car.flip_prob == pytest.approx(0.1)  # 100 of 1000 detected cars
    got = dict(zip(car.to_class, car.to_prob, strict=True))
    assert got == pytest.approx({ObjectClass.VAN: 0.3, ObjectClass.TRUCK: 0.5,
                                 ObjectClass.BUS: 0.05, ObjectClass.OTHER: 0.15})  # fmt: skip
    assert ObjectClass.BUS not in f.flips  # never detected: no statistics
    # A cyclist called "bicycle" is the same class; called pedestrian it is a flip.
    assert f.flips[ObjectClass.BICYCLE].flip_prob == pytest.approx(0.2)
    assert f.mean_run_frames is None
    assert set(f.sizes) == {ObjectClass.CAR, ObjectClass.TRUCK}


def test_interpolation_between_bins_and_held_beyond() -> None:
    heights = np.array([12.5, 32.5, 50.0, 80.0, 150.0])
    vals = np.array([0.05, 0.04, 0.03, 0.02, 0.01])
    assert interp_bins(65.0, heights, vals) == pytest.approx(0.025)
    assert interp_bins(5.0, heights, vals) == 0.05 and interp_bins(400.0, heights, vals) == 0.01


def test_sparse_bins_take_the_nearest_filled_bin(tmp_path: Path) -> None:
    doc = sensor_doc()
    doc["edges"]["right"]["n"] = [2, 200, 200, 3, 200]  # bins 0 and 3 have too few pairs
    doc["miss"]["n"][2] = [0, 0, 0, 0, 0]  # nothing at occlusion level 2
    f = load_sensor_file(write_doc(tmp_path / "s.json", doc))
    np.testing.assert_allclose(f.edge_sigma_rel[2], [0.04, 0.04, 0.03, 0.03, 0.01])
    np.testing.assert_allclose(f.miss_rate[2], f.miss_rate[1])  # as the level below


def test_persistence_null_means_not_measured(tmp_path: Path) -> None:
    doc = sensor_doc(class_persistence={"source": "v", "mean_run_frames": None})
    assert load_sensor_file(write_doc(tmp_path / "a.json", doc)).mean_run_frames is None
    doc = sensor_doc(class_persistence={"source": "v", "mean_run_frames": 4.0})
    assert load_sensor_file(write_doc(tmp_path / "b.json", doc)).mean_run_frames == 4.0


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *head, last = path.split(".")
    t = doc
    for k in head:
        t = t[k]
    if value is _DEL:
        del t[last]
    else:
        t[last] = value
    return doc


_DEL = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema", 2, "schema: expected 1"),
        ("edges", _DEL, "edges: missing"),
        ("edges.top.sigma_rel", [0.1, 0.1], "edges.top.sigma_rel: expected shape (5,)"),
        ("edges.left.sigma_rel", [-0.1] * 5, "sigma_rel must be >= 0"),
        ("height_bins_px", [0, 40, 25, 60, 100, 1e9], "increasing bin edges"),
        ("miss.rate", [[1.5] * 5] * 3, "rates must lie in [0, 1]"),
        ("miss.occlusion_levels", [1, 2], "expected [0, 1, ...]"),
        ("false_boxes.per_frame", -1, "expected a rate >= 0"),
        ("false_boxes.samples", [], "not empty when per_frame > 0"),
        ("confusion.detected", ["car"], "confusion.counts: expected shape (6, 1)"),
        ("confusion.labels", ["car", "van", "truck", "bus", "pedestrian", "unicorn"],
         "unknown class 'unicorn'"),
        ("scores.true.quantiles", [0.9, 0.8, 0.7, 0.6, 0.5], "5 rising scores"),
        ("sizes.car.corr", [[2.0, 0, 0], [0, 1, 0], [0, 0, 1]], "correlation matrix"),
        ("sizes.car.n", 1, "sample count >= 2"),
        ("class_persistence", {"mean_run_frames": 0.5}, "expected >= 1"),
    ],
)  # fmt: skip
def test_malformed_files_name_the_key(tmp_path: Path, path: str, value: Any, message: str) -> None:
    doc = _set(sensor_doc(), path, value)
    with pytest.raises(DataFormatError, match=r"s\.json") as exc:
        load_sensor_file(write_doc(tmp_path / "s.json", doc))
    assert message in str(exc.value)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFormatError, match="not readable JSON"):
        load_sensor_file(tmp_path / "bad.json")
    with pytest.raises(DataFormatError, match=r"no sensor-model file at .*sensor=.ideal."):
        load_sensor_file(tmp_path / "none.json")


def test_sensor_choices(tmp_path: Path) -> None:
    assert resolve_sensor("ideal") is None and sensor_name(None) == "ideal"
    path = write_doc(tmp_path / "s.json")
    model = resolve_sensor(path)
    assert model is not None and model.file.path == str(path)
    assert resolve_sensor(model) is model and sensor_name(model) == str(path)


@pytest.mark.skipif(not DEFAULT_SENSOR_FILE.exists(), reason="no data/sensor/yolox_nano.json")
def test_the_shipped_sensor_file_loads() -> None:
    f = load_sensor_file(DEFAULT_SENSOR_FILE)
    raw = json.loads(DEFAULT_SENSOR_FILE.read_text(encoding="utf-8"))
    assert f.model == raw["model"]["name"]
    assert f.false_per_frame == raw["false_boxes"]["per_frame"]
    assert ObjectClass.CAR in f.sizes and ObjectClass.CAR in f.flips
    assert os.fspath(DEFAULT_SENSOR_FILE) == f.path


def test_the_chains_noise_law_is_fitted_from_the_file(tmp_path: Path) -> None:
    # Every edge's spread set so the variance is exactly 4 + 0.25 h px^2: the fit returns it.
    doc = sensor_doc()
    h = np.array([12.5, 32.5, 50.0, 80.0, 150.0])
    rel = (np.sqrt(4.0 + 0.25 * h) / h).tolist()
    for name in ("left", "top", "right", "bottom"):
        doc["edges"][name]["sigma_rel"] = rel
    assert edge_noise_law(load_sensor_file(write_doc(tmp_path / "s.json", doc))) == (2.0, 0.25)


def test_the_shipped_chain_figures_are_yolox_nanos_law() -> None:
    """data/config/default.toml's box noise is the fit of the default sensor file, so the
    default measured-sensor scenarios run the chain exactly as shipped."""
    law = edge_noise_law(load_sensor_file(DEFAULT_SENSOR_FILE))
    assert law == (DistanceConfig().edge_sigma_px, DistanceConfig().edge_var_per_px)
    assert law == (MotionConfig().box_edge_sigma_px, MotionConfig().box_edge_var_per_px)
    cfg = load_config()
    assert chain_config(cfg, resolve_sensor("measured")) == cfg
    ideal = chain_config(cfg, None)  # told its 1 px white edge noise
    assert (ideal.distance.edge_sigma_px, ideal.distance.edge_var_per_px) == (1.0, 0.0)
    assert (ideal.motion.box_edge_sigma_px, ideal.motion.box_edge_var_per_px) == (1.0, 0.0)
