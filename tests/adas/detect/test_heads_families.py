"""identify_family tells the family from output shapes, and each decoder is right for the real
model of its family (the shared ONNX files), not only for its own encoding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from adas.detect.classes import COCO80_NAMES
from adas.detect.heads import DECODERS, identify_family
from adas.errors import ModelFormatError
from tests.adas.detect._encoded import SIZES, n_cells


def family_shapes(
    family: str, wh: tuple[int, int]
) -> tuple[list[str], Sequence[Sequence[int | str | None]]]:
    g3, g4 = n_cells(wh, (8, 16, 32)), n_cells(wh, (8, 16, 32, 64))
    per = [n_cells(wh, (s,)) for s in (8, 16, 32, 64)]
    if family == "yolox":
        return ["output"], [[1, g3, 85]]
    if family == "yolov5":
        return ["output0"], [[1, 3 * g3, 85]]
    if family == "yolov6":
        return ["outputs"], [[1, g3, 85]]
    if family == "yolov8":
        return ["output0"], [[1, 84, g3]]
    if family == "picodet":
        names = [f"save_infer_model/scale_{i}.tmp_1" for i in range(8)]
        return names, [[1, n, 80] for n in per] + [[1, n, 32] for n in per]
    if family == "rtdetr":
        return ["pred_boxes", "pred_logits"], [[1, 300, 4], [1, 300, 80]]
    if family == "fastestdet":
        return ["758"], [[1, 85, math.ceil(wh[1] / 16), math.ceil(wh[0] / 16)]]
    if family == "nanodet":
        names = [f"cls_pred_stride_{s}" for s in (8, 16, 32)]
        names += [f"dis_pred_stride_{s}" for s in (8, 16, 32)]
        return names, [[1, n, 80] for n in per[:3]] + [[1, n, 32] for n in per[:3]]
    if family == "nanodet_plus":
        return ["output"], [[1, g4, 112]]
    return ["num_dets", "det_boxes", "det_scores", "det_classes"], [
        [1, 1],
        [1, 100, 4],
        [1, 100],
        [1, 100],
    ]


@pytest.mark.parametrize("wh", SIZES, ids=lambda wh: f"{wh[0]}x{wh[1]}")
@pytest.mark.parametrize("family", sorted(DECODERS))
def test_identify_family_from_shapes(family: str, wh: tuple[int, int]) -> None:
    names, shapes = family_shapes(family, wh)
    assert identify_family(names, shapes, wh) == family


@pytest.mark.parametrize(
    ("shapes", "family"),
    [
        ([["batch", 300, 6]], "nms"),  # ultralytics end-to-end, dynamic batch
        ([[None, 7]], "nms"),  # YOLOv7 onnxruntime end2end, dynamic row count
        ([[1, "n", 4], [1, "n"], [1, "n"]], "nms"),
        ([[1, 4 * n, 112] for n in (1600, 400, 100, 25)], ""),  # not a pair per stride
        ([[1, n, c] for n in (1600, 400, 100, 25) for c in (80, 32)], "picodet"),
        ([["batch", 2100, 85]], "yolox"),
        ([[1, 2100, 85]], "yolox"),  # YOLOv6's layout under another name than "outputs"
        ([[1, 2125, 85]], "nanodet_plus"),  # a YOLOv6 P6 likewise
        ([[1, 3 * 2100, 85]], "yolov5"),  # YOLOv7 --grid
        ([[1, 84, 2100]], "yolov8"),  # YOLO11
        ([[1, 300, 6]], "nms"),  # YOLOv10
        ([[1, 300, 84]], "rtdetr"),  # ultralytics RT-DETR
        ([[1, 2125, 4], [1, 80, 2125]], "picodet"),  # PicoDet export.nms=False
        ([[1, 80, "n"], [1, "n", 4]], "picodet"),
        ([[1, 300, 80], [1, 300, 4]], "rtdetr"),
        ([["n", 6], [1]], "nms"),  # PaddleDetection multiclass_nms3
        ([[1, 300], [1, 300, 4], [1, 300]], "nms"),  # RT-DETR deploy: labels, boxes, scores
    ],
)
def test_identify_family_special_layouts(shapes: list[list[int | str | None]], family: str) -> None:
    names = [f"out{i}" for i in range(len(shapes))]
    if not family:
        with pytest.raises(ModelFormatError):
            identify_family(names, shapes, (320, 320))
    else:
        assert identify_family(names, shapes, (320, 320)) == family


def test_per_stride_outputs_over_four_strides_are_picodet_unless_named_nanodet() -> None:
    """The same shapes are PicoDet's exports (NanoDet-Plus's own export is one concatenated
    output) unless the names say NanoDet."""
    wh = (320, 320)
    names, shapes = family_shapes("picodet", wh)
    assert identify_family(names, shapes, wh) == "picodet"
    other = [f"out{i}" for i in range(8)]
    assert identify_family(other, shapes, wh) == "picodet"
    nano = [f"{k}_pred_stride_{s}" for k in ("cls", "dis") for s in (8, 16, 32, 64)]
    assert identify_family(nano, shapes, wh) == "nanodet_plus"
    three = [s for s in shapes if s[1] != 25]
    assert identify_family([f"transpose_{i}.tmp_0" for i in range(6)], three, wh) == "picodet"


@pytest.mark.parametrize(
    "shapes",
    [
        [[1, 1000, 85]],
        [[1, 2, 3, 4, 5]],
        [[1, 3549, 85], [1, 3549, 85]],
        [[1, 85, 52, 52]],
        [],
        [[1, 300, 4], [1, 200, 80]],
    ],
)
def test_identify_family_unknown_layout_says_what_it_saw(shapes: list[list[int]]) -> None:
    names = [f"out{i}" for i in range(len(shapes))]
    with pytest.raises(ModelFormatError) as err:
        identify_family(names, shapes, (416, 416))
    text = str(err.value)
    assert "416x416" in text and "yolox" in text and "nanodet" in text
    for s in shapes:
        assert str(s) in text


# ---------------------------------------------------------------------------------------------
# The real models: a decoder is right for the model, not only for its own encoding.

UDACITY_STILL = "video/udacity/test_images/test1.jpg"  # 1280x720, two cars ahead-right
# Per-model input conventions of the data README: channel order BGR for all three.
MODELS = {
    "yolox_nano.onnx": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # 0-255, no normalisation
    "nanodet_m_320.onnx": ((103.53, 116.28, 123.675), (57.375, 57.12, 58.395)),
    "FastestDet.onnx": ((0.0, 0.0, 0.0), (255.0, 255.0, 255.0)),
}


@pytest.mark.data
@pytest.mark.parametrize("model", sorted(MODELS))
def test_real_model_finds_the_cars_ahead_right(data_dir: Path, model: str) -> None:
    import cv2
    import onnxruntime as ort

    image = cv2.imread(str(data_dir / UDACITY_STILL))
    assert image is not None, f"cannot read {data_dir / UDACITY_STILL}"
    img_h, img_w = image.shape[:2]
    so = ort.SessionOptions()
    so.log_severity_level = 3  # the NanoDet export warns about initializers in its inputs
    sess = ort.InferenceSession(
        str(data_dir / "models" / model), so, providers=["CPUExecutionProvider"]
    )
    inp = sess.get_inputs()[0]
    in_h, in_w = inp.shape[2], inp.shape[3]
    mean, std = MODELS[model]
    x = (cv2.resize(image, (in_w, in_h)).astype(np.float32) - mean) / std
    outputs = sess.run(None, {inp.name: x.transpose(2, 0, 1)[None].astype(np.float32)})
    names = [o.name for o in sess.get_outputs()]
    family = identify_family(names, [o.shape for o in sess.get_outputs()], (in_w, in_h))
    raw = DECODERS[family](outputs, (in_w, in_h), 0.3, output_names=names)
    boxes = raw.xyxy * np.array([img_w / in_w, img_h / in_h] * 2, np.float32)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    width = boxes[:, 2] - boxes[:, 0]
    car = COCO80_NAMES.index("car")
    ok = (
        (raw.label == car)
        & (raw.score >= 0.3)
        & (cx > img_w / 2)
        & (cy > img_h / 2)
        & (width >= 20)
        & (width <= 500)
    )
    assert ok.any(), f"{model} ({family}): no car ahead-right in {boxes.round()} {raw.label}"


def test_every_family_has_its_standard_preprocessing() -> None:
    from adas.detect.heads.preprocessing import FAMILY_PREPROCESSING

    assert set(FAMILY_PREPROCESSING) == set(DECODERS)
    keys = {"channel_order", "resize", "align", "pad_value", "mean", "std", "source"}
    for family, p in FAMILY_PREPROCESSING.items():
        assert keys <= set(p) <= keys | {"min_score"}, family
        assert 0.0 <= p.get("min_score", 0.0) <= 1.0
        assert p["channel_order"] in ("bgr", "rgb") and p["resize"] in ("letterbox", "stretch")
        assert p["align"] in ("center", "top-left") and 0 <= p["pad_value"] <= 255
        assert len(p["mean"]) == len(p["std"]) == 3 and min(p["std"]) > 0
        assert p["source"]
    # NanoDet's BGR statistics are ImageNet's in BGR order: PicoDet's RGB ones reversed.
    assert FAMILY_PREPROCESSING["nanodet"]["mean"] == FAMILY_PREPROCESSING["picodet"]["mean"][::-1]
