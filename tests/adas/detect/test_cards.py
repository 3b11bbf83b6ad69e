"""Model cards (adas.detect.cards): card over registry over ONNX metadata over the family's
defaults, each value's origin recorded; class names mapped to ADAS classes by name; models
the stack does not understand refused with their shapes and a card template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adas.detect.cards import ModelInfo, build_spec, card_template, metadata_values, read_card
from adas.detect.classes import COCO80_NAMES, coco_to_adas, label_table, names_to_adas
from adas.detect.heads.preprocessing import FAMILY_PREPROCESSING
from adas.detect.registry import load_registry
from adas.errors import ConfigError, ModelFormatError
from adas.types import ObjectClass as C


def info(path: Path, shapes: list[list[int]], meta: dict[str, str] | None = None) -> ModelInfo:
    names = [f"out{i}" for i in range(len(shapes))]
    return ModelInfo(path, "images", [1, 3, 64, 96], names, shapes, dict(meta or {}), (96, 64))


# A YOLOv8-layout output for a 96 x 64 input: 4 + C rows, one column per grid cell.
V8 = [[1, 84, 12 * 8 + 6 * 4 + 3 * 2]]


def test_an_unknown_model_gets_its_familys_defaults_with_their_origin(tmp_path: Path) -> None:
    spec = build_spec(info(tmp_path / "m.onnx", V8))
    assert spec.family == "yolov8" and spec.name == "m"
    d = FAMILY_PREPROCESSING["yolov8"]
    assert (spec.channel_order, spec.resize) == (d["channel_order"], "letterbox")
    assert spec.align == "center"
    assert spec.std == tuple(d["std"]) and spec.pad_value == 114
    assert spec.origin["family"] == "output shapes (identify_family)"
    assert spec.origin["std"].startswith("family default")
    assert spec.classes == "coco80" and spec.origin["classes"] == "built-in default"


def test_the_card_beside_the_model_wins_over_every_other_source(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(
        'channel_order = "bgr"\nstd = [1, 1, 1]\nclasses = ["car", "Pedestrian", "sign"]\n'
    )
    meta = {"names": "{0: 'person', 1: 'car'}", "task": "detect"}
    spec = build_spec(info(tmp_path / "m.onnx", V8, meta))
    assert spec.channel_order == "bgr" and spec.std == (1.0, 1.0, 1.0)
    assert spec.classes == ("car", "Pedestrian", "sign")  # card over metadata
    assert spec.origin["classes"] == f"card {tmp_path / 'm.toml'}"
    assert spec.resize == "letterbox" and spec.origin["resize"].startswith("family default")
    np.testing.assert_array_equal(label_table(spec.classes), [int(C.CAR), int(C.PEDESTRIAN), -1])


def test_a_card_overrides_a_registry_entry_key_by_key(tmp_path: Path) -> None:
    reg = load_registry().get("yolox_nano")
    card = tmp_path / "mine.toml"
    card.write_text("min_score = 0.3\n")
    spec = build_spec(info(tmp_path / "yolox_nano.onnx", [[1, 126, 85]]), reg, card)
    assert spec.min_score == 0.3 and spec.origin["min_score"] == f"card {card}"
    assert spec.family == "yolox" and spec.origin["family"] == "registry [yolox_nano]"
    assert (spec.align, spec.std, spec.sha256) == ("top-left", (1.0, 1.0, 1.0), reg.sha256)


def test_ultralytics_metadata_gives_the_class_names(tmp_path: Path) -> None:
    meta = {
        "author": "Ultralytics",
        "task": "detect",
        "stride": "32",
        "imgsz": "[64, 96]",
        "names": "{0: 'pedestrian', 1: 'rider', 2: 'car', 3: 'truck', 4: 'bus', 5: 'train', "
        "6: 'motorcycle', 7: 'bicycle', 8: 'traffic light'}",
    }
    spec = build_spec(info(tmp_path / "bdd.onnx", [[1, 13, 126]], meta))
    assert spec.origin["classes"] == "ONNX metadata (names)"
    want = [C.PEDESTRIAN, C.PEDESTRIAN, C.CAR, C.TRUCK, C.BUS, C.TRAIN, C.MOTORCYCLE, C.BICYCLE]
    np.testing.assert_array_equal(label_table(spec.classes), [int(c) for c in want] + [-1])


@pytest.mark.parametrize("task", ["segment", "pose", "'classify'"])
def test_a_model_that_is_not_a_detector_is_refused_by_its_metadata(
    tmp_path: Path, task: str
) -> None:
    with pytest.raises(ModelFormatError, match="task"):
        metadata_values(info(tmp_path / "seg.onnx", V8, {"task": task}))


def test_kitti_class_names_map_by_name() -> None:
    kitti = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")
    want = [C.CAR, C.VAN, C.TRUCK, C.PEDESTRIAN, C.PEDESTRIAN, C.BICYCLE, C.TRAIN]
    np.testing.assert_array_equal(names_to_adas(kitti), [int(c) for c in want] + [-1])
    np.testing.assert_array_equal(names_to_adas(COCO80_NAMES), coco_to_adas)


def test_outputs_of_no_family_are_refused_with_shapes_and_a_card_template(
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelFormatError) as err:
        build_spec(info(tmp_path / "odd.onnx", [[1, 7, 5, 3]]))
    text = str(err.value)
    assert "[1, 7, 5, 3]" in text and "[1, 3, 64, 96]" in text
    assert 'family = "?"' in text and str(tmp_path / "odd.toml") in text


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("colour = 'bgr'\n", "unknown keys"),
        ("family = 'yolo99'\n", "family"),
        ("mean = ['a', 1, 2]\n", "could not convert"),
        ("resize = 'crop'\n", "resize"),
        ("std = [1, 0, 1]\n", "std > 0"),
        ("classes = 'voc'\n", "classes"),
        ("family = \n", "cannot read"),
    ],
)
def test_a_bad_card_is_a_clear_error_naming_the_card(
    tmp_path: Path, content: str, match: str
) -> None:
    card = tmp_path / "m.toml"
    card.write_text(content)
    with pytest.raises(ConfigError, match=match) as err:
        read_card(card) and build_spec(info(tmp_path / "m.onnx", V8))
    assert str(card) in str(err.value)


def test_a_named_card_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        build_spec(info(tmp_path / "m.onnx", V8), card=tmp_path / "none.toml")


def test_the_template_is_a_valid_card_once_the_family_is_filled_in(tmp_path: Path) -> None:
    card = tmp_path / "t.toml"
    card.write_text(card_template(None, "nanodet"))
    values = read_card(card)
    assert values["family"] == "nanodet" and values["mean"] == (103.53, 116.28, 123.675)


def test_a_cyclist_class_is_boxed_with_its_rider_and_stays_a_cyclist_alone() -> None:
    from adas.detect.classes import ridden_classes
    from adas.detect.riders import fuse_riders

    kitti = ridden_classes(("Car", "Pedestrian", "Cyclist"))
    assert kitti[C.BICYCLE] and not kitti[C.MOTORCYCLE] and kitti.sum() == 1
    assert not ridden_classes(("bike", "rider", "motor")).any()  # BDD100K: boxed apart
    assert not ridden_classes(("bicycle", "cyclist")).any()  # mixed: a bicycle may be parked
    assert not ridden_classes("coco80").any()
    box = np.array([[10.0, 10.0, 30.0, 50.0]], np.float32)
    thr = np.full(len(C), 0.3, np.float32)
    lone = (box, np.array([0.9], np.float32), np.array([int(C.BICYCLE)]), thr)
    assert fuse_riders(*lone)[2].tolist() == [int(C.OTHER)]  # COCO: a riderless bicycle
    assert fuse_riders(*lone, ridden=kitti)[2].tolist() == [int(C.BICYCLE)]
