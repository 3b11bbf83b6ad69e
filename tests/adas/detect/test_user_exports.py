"""Exports as users bring them, end to end through the detector without a registry entry: an
Ultralytics-style file with a dynamic input size, its class names in the metadata (a KITTI-
trained model) and half-precision input; a card that fixes the size; a model that is not a
detector. Synthetic ONNX graphs (tests.adas.detect.test_heads_onnx.build_model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
from onnx import TensorProto

from adas.detect.config import DetectConfig
from adas.detect.detector import Detector
from adas.detect.session import OnnxSession
from adas.errors import ModelFormatError
from adas.types import ObjectClass as C
from tests.adas.detect import _encoded as enc
from tests.adas.detect.test_heads_onnx import WH, build_model, named

KITTI_80 = {i: f"thing{i}" for i in range(80)} | {0: "Pedestrian", 2: "Car", 7: "Cyclist"}
ULTRA = {"author": "Ultralytics", "task": "detect", "stride": "32", "names": repr(KITTI_80)}
DYNAMIC = ["batch", 3, "height", "width"]


def v8_export(path: Path, *, imgsz: bool = True, half: bool = False) -> Path:
    meta = ULTRA | ({"imgsz": f"[{WH[1]}, {WH[0]}]"} if imgsz else {})
    kind = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    case = named("yolov8", enc.encode_yolov8(WH), ["output0"])
    build_model(case, path, image_dims=DYNAMIC, image_type=kind, metadata=meta)
    return path


def plain(model: Path, card: str = "") -> Detector:
    cfg = DetectConfig(model=str(model), model_card=card, providers=("cpu",), tiles=1,
                       band_up_deg=90.0, band_down_deg=90.0, second_look_classes=())  # fmt: skip
    return Detector(cfg)


@pytest.mark.parametrize("half", [False, True])
def test_a_dynamic_ultralytics_export_runs_at_its_imgsz_with_its_class_names(
    tmp_path: Path, half: bool
) -> None:
    det = plain(v8_export(tmp_path / "kitti_v8.onnx", half=half))
    assert det.session.input_wh == WH and det.spec.family == "yolov8"
    assert det.spec.classes[:3] == ("Pedestrian", "thing1", "Car")
    assert det.spec.origin["classes"] == "ONNX metadata (names)"
    # An image the size of the input: the letterbox is the identity, boxes come back as made.
    d = det.detect(np.zeros((WH[1], WH[0], 3), np.uint8))
    got = {C(int(c)): box for c, box in zip(d.class_id, d.xyxy, strict=True)}
    assert set(got) == {C.CAR, C.PEDESTRIAN, C.BICYCLE}  # COCO's 2, 0, 7 under KITTI's names
    tol = 0.05 if half else 1e-3
    truth = enc.truth(WH)
    for cls, row in ((C.CAR, 0), (C.PEDESTRIAN, 1), (C.BICYCLE, 2)):
        np.testing.assert_allclose(got[cls], truth[row], atol=tol)


def test_a_dynamic_input_needs_a_size_from_the_metadata_or_the_card(tmp_path: Path) -> None:
    path = v8_export(tmp_path / "v8.onnx", imgsz=False)
    with pytest.raises(ModelFormatError, match="dynamic size"):
        OnnxSession(path, warmup_runs=0)
    (tmp_path / "v8.toml").write_text(f"input_size = [{WH[1]}, {WH[0]}]\n")
    assert plain(path).session.input_wh == WH


def test_a_segmentation_export_is_refused_by_its_task(tmp_path: Path) -> None:
    path = tmp_path / "seg.onnx"
    case = named("yolov8", enc.encode_yolov8(WH), ["output0"])
    build_model(case, path, metadata=ULTRA | {"task": "segment"})
    with pytest.raises(ModelFormatError, match="task = 'segment'"):
        plain(path)


def test_the_fit_finds_every_family_that_reads_a_shared_layout(tmp_path: Path) -> None:
    """PicoDet's per-stride outputs are NanoDet-Plus's layout (only the centres differ): both
    decoders read them, so --fit-card tries both on the frames. A YOLOv8 output is read by
    the generic query decoder too ([1, Q, 4 + C] with Q = 84), never by the grid heads."""
    from adas.evaluate.model_check import layout_families
    from tests.adas.detect.test_heads_onnx import CASES

    build_model(CASES["picodet"](), tmp_path / "pico.onnx")
    fams = layout_families(plain(tmp_path / "pico.onnx"))
    assert {"picodet", "nanodet_plus"} <= set(fams)
    build_model(CASES["yolov8"](), tmp_path / "v8.onnx")
    assert layout_families(plain(tmp_path / "v8.onnx")) == ["yolov8", "rtdetr"]


def test_inspect_refuses_outputs_of_no_family_with_shapes_and_a_card_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adas.cli import main

    path = tmp_path / "odd.onnx"
    build_model(named("?", [np.zeros((1, 7, 5, 3), np.float32)], ["heat"]), path)
    assert main(["models", "inspect", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out.startswith("# model card for odd.onnx") and 'family = "?"' in out.out
    assert "heat: [1, 7, 5, 3]" in out.err and "[1, 3, 80, 112]" in out.err
