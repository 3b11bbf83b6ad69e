"""``adas eval sensor-model``: the statistics on synthetic labels with exact values, the file
format round trip, and the detector on the shared KITTI object frames."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from adas.cli import main
from adas.errors import DataFormatError
from adas.evaluate.sensor_model import (
    SENSOR_DIR,
    check_sensor_model,
    key_figures,
    load_sensor_model,
    write_sensor_model,
)
from adas.evaluate.sensor_persistence import class_runs
from adas.evaluate.sensor_sizes import size_samples, size_summary
from adas.evaluate.sensor_stats import (
    DETECTED_CLASSES,
    LABEL_CLASSES,
    MAD_TO_SIGMA,
    SensorStats,
    edge_table,
    height_bin,
    match_frame,
    upper95,
)
from adas.sources.kitti import KittiObject
from adas.types import ObjectClass

W, H = 1000, 400


def _obj(
    kind: str, xyxy: tuple[float, float, float, float], trunc: float = 0.0, occ: int = 0
) -> KittiObject:
    return KittiObject(0, -1, kind, trunc, occ, xyxy, (1.5, 1.6, 4.0), (0.0, 1.65, 20.0), -1.57)


def _dets(rows: list[tuple[tuple[float, float, float, float], ObjectClass, float]]) -> tuple:
    xyxy = np.array([r[0] for r in rows], np.float64).reshape(-1, 4)
    cls = np.array([int(r[1]) for r in rows], np.int64)
    score = np.array([r[2] for r in rows], np.float64)
    return xyxy, cls, score


LABELS = [
    _obj("Car", (100, 100, 200, 150)),  # found as car, edges off by known amounts
    _obj("Van", (300, 100, 400, 180)),  # found as truck
    _obj("Pedestrian", (500, 100, 520, 160)),  # missed
    _obj("Tram", (600, 50, 800, 200)),  # unscored kind: a detection on it is ignored
    _obj("DontCare", (850, 100, 950, 200)),
]
DETS = [
    ((102, 99, 203, 154), ObjectClass.CAR, 0.9),  # the car: left +2, top -1, right +3, bottom +4
    ((101, 100, 201, 151), ObjectClass.TRUCK, 0.5),  # second box on the car: duplicate
    ((300, 100, 400, 180), ObjectClass.TRUCK, 0.7),  # the van, called truck
    ((600, 50, 800, 200), ObjectClass.TRAIN, 0.8),  # the tram: ignored
    ((860, 120, 900, 190), ObjectClass.CAR, 0.6),  # inside DontCare: ignored
    ((10, 300, 50, 330), ObjectClass.BUS, 0.45),  # nothing there: a false box
    ((900, 10, 910, 40), ObjectClass.PEDESTRIAN, 0.4),  # false, but not a vehicle class
]


def test_match_frame_sorts_every_box() -> None:
    r = match_frame(*_dets(DETS), LABELS, (W, H))
    assert [(o.kind, cls) for o, _, cls, _ in r.found] == [("Car", "car"), ("Van", "truck")]
    np.testing.assert_array_equal(r.found[0][1], [102, 99, 203, 154])
    assert [o.kind for o in r.missed] == ["Pedestrian"]
    assert r.duplicates == 1
    assert r.ignored == 2  # the tram and the box inside DontCare
    assert r.false_other == 1
    assert len(r.false) == 1
    f = r.false[0]
    assert (f.x_rel, f.y_rel, f.w_px, f.h_px, f.cls, f.score, f.label_iou) == (
        30 / W,
        315 / H,
        40.0,
        30.0,
        "bus",
        0.45,
        0.0,
    )


def test_dontcare_needs_half_the_box_inside() -> None:
    labels = [_obj("DontCare", (0, 0, 100, 100))]
    half = match_frame(*_dets([((50, 0, 150, 100), ObjectClass.CAR, 0.9)]), labels, (W, H))
    less = match_frame(*_dets([((51, 0, 151, 100), ObjectClass.CAR, 0.9)]), labels, (W, H))
    assert (half.ignored, len(half.false)) == (1, 0)
    assert (less.ignored, len(less.false)) == (0, 1)
    # a box half on a car is a false box that overlaps a label: IoU 50 * 50 / (2 * 2500 - 1250)
    car = [_obj("Car", (0, 0, 50, 50))]
    shifted = match_frame(*_dets([((25, 0, 75, 50), ObjectClass.CAR, 0.9)]), car, (W, H))
    assert [f.label_iou for f in shifted.false] == [pytest.approx(1 / 3)]
    assert [o.kind for o in shifted.missed] == ["Car"]


def test_height_bins() -> None:
    assert [height_bin(h) for h in (0.0, 24.99, 25.0, 39.9, 40.0, 99.9, 100.0, 1e12)] == [
        0,
        0,
        1,
        1,
        2,
        3,
        4,
        4,
    ]


def test_edge_bias_and_robust_spread_per_bin() -> None:
    true = np.array([0.0, 0.0, 100.0, 50.0])  # 50 px high: bin [40, 60)
    pairs = [(true, true + np.array([0.0, 0.0, 0.0, d])) for d in (1.0, 2.0, 4.0)]
    tall = np.array([0.0, 0.0, 100.0, 200.0])  # 200 px: last bin
    pairs.append((tall, tall + np.array([-5.0, 0.0, 0.0, -10.0])))
    t = edge_table(pairs)
    assert t["bottom"]["n"] == [0, 0, 3, 0, 1]
    assert t["bottom"]["bias_px"] == [None, None, 2.0, None, -10.0]
    assert t["bottom"]["sigma_px"][2] == pytest.approx(MAD_TO_SIGMA * 1.0, abs=1e-3)
    assert t["bottom"]["sigma_px"][4] == 0.0
    assert t["bottom"]["bias_rel"][2] == pytest.approx(2.0 / 50)
    assert t["bottom"]["bias_rel"][4] == pytest.approx(-10.0 / 200)
    assert t["left"]["bias_px"] == [None, None, 0.0, None, -5.0]
    assert t["top"]["n"] == t["bottom"]["n"]


def test_stats_pool_confusion_misses_and_scores() -> None:
    stats = SensorStats()
    stats.add(match_frame(*_dets(DETS), LABELS, (W, H)))
    occluded = [_obj("Car", (100, 100, 200, 130), occ=2), _obj("Car", (300, 100, 400, 300))]
    stats.add(match_frame(*_dets([((300, 100, 400, 300), ObjectClass.CAR, 0.8)]), occluded, (W, H)))
    s = stats.summary()
    counts = np.array(s["confusion"]["counts"])
    expected = np.zeros((len(LABEL_CLASSES), len(DETECTED_CLASSES) + 1), int)
    expected[0, 0] = 2  # two cars found as car
    expected[0, -1] = 1  # the occluded car missed
    expected[1, 2] = 1  # van as truck
    expected[4, -1] = 1  # the pedestrian missed
    np.testing.assert_array_equal(counts, expected)
    # misses: vehicles only; car 50 px, van 80 px, car 200 px found (occlusion 0), car 30 px
    # occlusion 2 missed; the pedestrian is no vehicle
    assert s["miss"]["n"] == [[0, 0, 1, 1, 1], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert s["miss"]["rate"] == [
        [None, None, 0.0, 0.0, 0.0],
        [None] * 5,
        [None, 1.0, None, None, None],
    ]
    assert s["false_boxes"]["frames"] == 2
    assert s["false_boxes"]["per_frame"] == 0.5
    assert s["scores"]["true"]["n"] == 3  # car 0.9, van-as-truck 0.7, car 0.8
    assert s["scores"]["true"]["quantiles"][2] == 0.8
    assert s["scores"]["false"]["quantiles"] == [0.45] * 5
    assert s["edges"]["bottom"]["n"] == [0, 0, 1, 1, 1]
    assert s["edges"]["bottom"]["bias_px"][2] == 4.0
    flip = s["class_flip"]
    assert flip["car_to_truck_van_bus"] == {"k": 0, "n": 2, "rate": 0.0, "upper95": 0.7764}
    assert flip["van_to_car"]["k"] == 0 and flip["van_to_car"]["n"] == 1


def test_upper_bound() -> None:
    assert upper95(0, 125) == pytest.approx(1 - 0.05 ** (1 / 125))
    assert upper95(3, 3) == 1.0
    assert upper95(0, 0) is None
    assert 5 / 6 < (upper95(5, 6) or 0) < 1.0


def test_class_runs() -> None:
    c = ["car"] * 4 + ["truck"] * 2 + ["car"] * 3 + ["van"] + ["car"]
    assert class_runs(c) == (10, 2, [2, 1])
    assert class_runs(["car", "truck"]) == (1, 1, [1])  # tie: the class seen first wins
    assert class_runs(["truck", "truck", "car"]) == (2, 1, [1])
    assert class_runs([]) == (0, 0, [])


def test_size_summary_exact() -> None:
    s = size_summary([np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 5.0])])
    assert s["n"] == 2
    assert s["mean"] == [2.0, 2.0, 4.0]
    assert s["std"] == [round(math.sqrt(2), 3), 0.0, round(math.sqrt(2), 3)]
    assert s["corr"] == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    assert s["min"] == [1.0, 2.0, 3.0] and s["max"] == [3.0, 2.0, 5.0]
    assert size_summary([]) == {"n": 0}


def _line(frame: int, tid: int, kind: str, hwl: tuple[float, float, float]) -> str:
    dims = " ".join(str(v) for v in hwl)
    return f"{frame} {tid} {kind} 0 0 0 10 10 50 50 {dims} 0 1.65 20 0\n"


def test_size_samples_one_per_track(tmp_path: Path) -> None:
    trk = tmp_path / "tracking" / "label_02"
    trk.mkdir(parents=True)
    (trk / "0000.txt").write_text(
        _line(0, 1, "Car", (1.4, 1.6, 4.0))
        + _line(1, 1, "Car", (1.5, 1.6, 4.2))
        + _line(2, 1, "Car", (1.9, 1.6, 4.1))
        + _line(0, 2, "Truck", (3.0, 2.5, 9.0))
        + _line(0, -1, "DontCare", (-1, -1, -1))
    )
    obj = tmp_path / "object" / "label_2"
    obj.mkdir(parents=True)
    (obj / "000000.txt").write_text(
        "Car 0 0 0 10 10 50 50 1.6 1.7 4.4 0 1.65 20 0\n"
        "Pedestrian 0 0 0 10 10 20 50 1.8 0.6 0.8 0 1.65 10 0\n"
    )
    samples, sources = size_samples([tmp_path / "tracking", tmp_path / "object"])
    cars = sorted(tuple(np.round(s, 3)) for s in samples["car"])
    assert cars == [(1.5, 1.6, 4.1), (1.6, 1.7, 4.4)]  # the track's median, counted once
    assert len(samples["truck"]) == 1 and len(samples["pedestrian"]) == 1
    assert [s["samples"] for s in sources] == [2, 2]
    with pytest.raises(DataFormatError):
        size_samples([tmp_path])


def _doc() -> dict:
    stats = SensorStats()
    stats.add(match_frame(*_dets(DETS), LABELS, (W, H)))
    return {
        "schema": 1,
        "model": {"name": "m", "file": "m.onnx", "sha256": "0" * 64},
        "created": "2026-12-06",
        "command": "adas eval sensor-model --model m",
        "sources": [{"root": "x", "frames": 1, "objects": 3}],
        **stats.summary(),
        "sizes": {"car": size_summary([np.array([1.5, 1.6, 4.0])])},
    }


def test_schema_round_trip(tmp_path: Path) -> None:
    doc = _doc()
    path = tmp_path / "m.json"
    write_sensor_model(doc, path)
    assert load_sensor_model(path) == json.loads(json.dumps(doc))
    broken = json.loads(json.dumps(doc))
    del broken["edges"]["bottom"]
    with pytest.raises(DataFormatError, match=r"edges\.bottom"):
        check_sensor_model(broken)
    broken = json.loads(json.dumps(doc))
    broken["miss"]["rate"] = broken["miss"]["rate"][:2]
    with pytest.raises(DataFormatError, match=r"miss\.rate"):
        check_sensor_model(broken)


def test_committed_sensor_model_is_valid() -> None:
    doc = load_sensor_model(SENSOR_DIR / "yolox_nano.json")
    assert doc["model"]["name"] == "yolox_nano"
    assert len(doc["model"]["sha256"]) == 64
    counts = np.array(doc["confusion"]["counts"])
    assert counts.sum() == sum(s["objects"] for s in doc["sources"])
    fb = doc["false_boxes"]
    assert fb["per_frame"] == pytest.approx(len(fb["samples"]) / fb["frames"], abs=1e-4)
    assert fb["frames"] == sum(s["frames"] for s in doc["sources"])


DATA = os.environ.get("ADAS_DATA_DIR")


@pytest.mark.skipif(
    not DATA or not (Path(DATA) / "kitti" / "object").is_dir(),
    reason="needs ADAS_DATA_DIR with kitti/object (the shared data folder)",
)
def test_cli_on_kitti_object(tmp_path: Path) -> None:
    assert DATA is not None
    root = Path(DATA) / "kitti" / "object"
    out, summary = tmp_path / "s.json", tmp_path / "k.json"
    rc = main(
        [
            "eval",
            "sensor-model",
            "--root",
            str(root),
            "--no-persistence",
            "--out",
            str(out),
            "--json",
            str(summary),
        ]
    )
    assert rc == 0
    doc = load_sensor_model(out)
    assert doc["sources"] == [{"root": "kitti/object", "frames": 13, "objects": 57}]
    counts = dict(zip(doc["confusion"]["labels"], doc["confusion"]["counts"], strict=True))
    labels = [
        o.split()[0] for p in (root / "label_2").glob("*.txt") for o in p.read_text().splitlines()
    ]
    for cls, kind in (("car", "Car"), ("van", "Van"), ("pedestrian", "Pedestrian")):
        assert sum(counts[cls]) == labels.count(kind)
    # kitti-object finds 25 of the 26 must-find cars on these frames (README): at least as many
    # cars are found here, where every car label counts
    assert sum(counts["car"][:-1]) >= 25
    assert doc["sizes"]["car"]["n"] == labels.count("Car")
    assert json.loads(summary.read_text()) == {
        k: v for k, v in key_figures(doc).items() if k != "lines"
    }
