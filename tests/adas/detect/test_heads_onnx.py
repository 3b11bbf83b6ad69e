"""Every family end to end through ONNX Runtime: a synthetic graph per family (built with the
``onnx`` package, no model files) outputs the family's layout of known boxes; the session
reports its output names and shapes, identify_family tells the family from them, and the
decoder returns the encoded boxes, scores and labels.

The graphs ignore the image (output = constant + 0 * ReduceSum(image)) except where an export
takes extra inputs: the RT-DETR deploy graph multiplies its boxes by ``orig_target_sizes`` and
the PaddleDetection NMS graph divides by ``scale_factor``, as upstream does, so the boxes only
come back in input pixels if the session feeds those inputs right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from adas.detect.heads import DECODERS, identify_family  # noqa: E402
from adas.detect.session import OnnxSession  # noqa: E402
from tests.adas.detect import _encoded as enc  # noqa: E402
from tests.adas.detect._encoded import LABELS, SCORES, THR, assert_decoded, truth  # noqa: E402

WH = (112, 80)  # small and non-square: a w/h mix-up moves every box
Dims = list[int | str]


@dataclass
class Case:
    """A synthetic export: its outputs (name, value, declared shape) and the family it is."""

    family: str
    outputs: list[tuple[str, np.ndarray, Dims | None]]
    extra_inputs: dict[str, int] = field(default_factory=dict)  # name -> TensorProto type
    scaled_by: dict[str, str] = field(default_factory=dict)  # output -> tensor it is times
    extra_nodes: list[onnx.NodeProto] = field(default_factory=list)


def named(family: str, outs: list[np.ndarray], names: list[str]) -> Case:
    return Case(family, [(n, o, None) for n, o in zip(names, outs, strict=True)])


def rtdetr_deploy() -> Case:
    """lyuwenyu/RT-DETR tools/export_onnx.py: labels, boxes (xyxy * orig_target_sizes), scores."""
    boxes, probs = enc.rtdetr_queries(WH)
    xyxy = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
    label = probs.argmax(axis=1).astype(np.int64)
    score = probs.max(axis=1)
    nodes = [
        helper.make_node("Concat", ["orig_target_sizes"] * 2, ["whwh_i"], axis=1),
        helper.make_node("Cast", ["whwh_i"], ["whwh"], to=TensorProto.FLOAT),
    ]
    return Case(
        "nms",
        [("labels", label[None], None), ("boxes", xyxy[None], None), ("scores", score[None], None)],
        extra_inputs={"orig_target_sizes": TensorProto.INT64},
        scaled_by={"boxes": "whwh"},
        extra_nodes=nodes,
    )


def paddle_nms() -> Case:
    """PaddleDetection multiclass_nms3: rows (class, score, x1, y1, x2, y2) / scale, count."""
    rows = np.zeros((len(SCORES), 6), np.float32)
    rows[:, 0], rows[:, 1], rows[:, 2:] = LABELS, SCORES, truth(WH)
    sf_xy = helper.make_tensor("xy", TensorProto.INT64, [2], [1, 0])
    nodes = [
        helper.make_node("Constant", [], ["xy_idx"], value=sf_xy),
        helper.make_node("Gather", ["scale_factor", "xy_idx"], ["sf_xy"], axis=1),  # y,x -> x,y
        helper.make_node("Div", ["one", "sf_xy"], ["inv_xy"]),
        helper.make_node("Concat", ["one", "inv_xy", "inv_xy"], ["row_scale"], axis=1),
        helper.make_node("ReduceSum", ["im_shape"], ["im_sum"], keepdims=0),
    ]
    return Case(
        "nms",
        [
            ("multiclass_nms3_0.tmp_0", rows, ["n", 6]),
            ("multiclass_nms3_0.tmp_2", np.array([len(rows)], np.int32), [1]),
        ],
        extra_inputs={"im_shape": TensorProto.FLOAT, "scale_factor": TensorProto.FLOAT},
        scaled_by={"multiclass_nms3_0.tmp_0": "row_scale"},
        extra_nodes=nodes,
    )


CASES: dict[str, Callable[[], Case]] = {
    "yolox": lambda: named("yolox", enc.encode_yolox(WH), ["output"]),
    "yolov5": lambda: named("yolov5", enc.encode_yolov5(WH), ["output0"]),
    "yolov7": lambda: named("yolov5", enc.encode_yolov5(WH), ["output"]),  # export.py --grid
    "yolov6": lambda: named("yolov6", enc.encode_yolov6(WH), ["outputs"]),
    "yolov8": lambda: named("yolov8", enc.encode_yolov8(WH), ["output0"]),
    "yolo11": lambda: named("yolov8", enc.encode_yolov8(WH), ["output0"]),
    "nanodet": lambda: named(
        "nanodet",
        enc.encode_nanodet(WH),
        [f"{k}_pred_stride_{s}" for k in ("cls", "dis") for s in (8, 16, 32)],
    ),
    "nanodet_plus": lambda: named("nanodet_plus", enc.encode_nanodet_plus(WH), ["output"]),
    "picodet": lambda: named("picodet", enc.encode_picodet(WH), enc.PICODET_NAMES),
    "picodet_without_nms": lambda: named(
        "picodet", enc.encode_picodet_boxes_scores(WH), ["out_a", "out_b"]
    ),
    "fastestdet": lambda: named("fastestdet", enc.encode_fastestdet(WH), ["758"]),
    "rtdetr": lambda: named("rtdetr", enc.encode_rtdetr(WH), ["pred_boxes", "pred_logits"]),
    "rtdetr_ultralytics": lambda: named(
        "rtdetr", [np.concatenate(enc.rtdetr_queries(WH), axis=1)[None]], ["output0"]
    ),
    "rtdetr_deploy": rtdetr_deploy,
    "yolov10": lambda: named("nms", enc.encode_nms(WH), ["output0"]),
    "paddle_nms": paddle_nms,
}


def build_model(
    case: Case,
    path: Path,
    *,
    image_dims: Dims | None = None,
    image_type: int = TensorProto.FLOAT,
    metadata: dict[str, str] | None = None,
) -> None:
    """An ONNX file: image input [1, 3, H, W] (or ``image_dims``, names for dynamic ones) of
    ``image_type`` (+ extra inputs), the case's outputs, and ``metadata`` as metadata_props."""
    w, h = WH
    image = helper.make_tensor_value_info("images", image_type, image_dims or [1, 3, h, w])
    inputs = [image] + [
        helper.make_tensor_value_info(n, t, [1, 2]) for n, t in case.extra_inputs.items()
    ]
    nodes = [
        helper.make_node("Cast", ["images"], ["images_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["images_f"], ["image_sum"], keepdims=0),
        helper.make_node("Mul", ["image_sum", "zero"], ["z"]),
        *case.extra_nodes,
    ]
    inits = [
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(np.ones((1, 2), np.float32), "one"),
    ]
    outs = []
    for name, value, dims in case.outputs:
        data = np.ascontiguousarray(value)
        inits.append(numpy_helper.from_array(data, f"{name}_c"))
        src = f"{name}_c"
        if name in case.scaled_by:
            nodes.append(helper.make_node("Mul", [src, case.scaled_by[name]], [f"{name}_s"]))
            src = f"{name}_s"
        elem = helper.np_dtype_to_tensor_dtype(data.dtype)
        nodes.append(helper.make_node("Cast", ["z"], [f"{name}_z"], to=elem))
        nodes.append(helper.make_node("Add", [src, f"{name}_z"], [name]))
        outs.append(helper.make_tensor_value_info(name, elem, dims or list(data.shape)))
    graph = helper.make_graph(nodes, "synthetic", inputs, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_through_onnxruntime(tmp_path: Path, name: str) -> None:
    case = CASES[name]()
    build_model(case, tmp_path / f"{name}.onnx")
    session = OnnxSession(tmp_path / f"{name}.onnx", warmup_runs=0)
    assert session.input_wh == WH
    image = np.random.default_rng(0).random((1, 3, WH[1], WH[0]), np.float32)
    outputs = session.run(image)
    family = identify_family(session.output_names, session.output_shapes, session.input_wh)
    assert family == case.family
    raw = DECODERS[family](outputs, session.input_wh, THR, output_names=session.output_names)
    keep = SCORES >= THR
    want = enc.expected_scores(family)[keep]
    assert_decoded(raw, truth(WH)[keep], want, LABELS[keep])
    if name == "rtdetr_deploy":  # the rtdetr decoder reads the deploy export too
        again = DECODERS["rtdetr"](outputs, WH, THR, output_names=session.output_names)
        assert_decoded(again, raw.xyxy, raw.score, raw.label)


def test_extra_inputs_are_fed_the_input_size(tmp_path: Path) -> None:
    build_model(paddle_nms(), tmp_path / "paddle.onnx")
    build_model(rtdetr_deploy(), tmp_path / "detr.onnx")
    paddle = OnnxSession(tmp_path / "paddle.onnx", warmup_runs=0)
    np.testing.assert_array_equal(paddle.aux_inputs["im_shape"], [[80, 112]])  # h, w
    np.testing.assert_array_equal(paddle.aux_inputs["scale_factor"], [[1, 1]])
    assert paddle.aux_inputs["scale_factor"].dtype == np.float32
    detr = OnnxSession(tmp_path / "detr.onnx", warmup_runs=1)
    np.testing.assert_array_equal(detr.aux_inputs["orig_target_sizes"], [[112, 80]])  # w, h
    assert detr.aux_inputs["orig_target_sizes"].dtype == np.int64


def test_io_binding_feeds_the_extra_inputs_too(tmp_path: Path) -> None:
    """A static float graph with extra inputs goes through IO binding on the CPU."""
    case = paddle_nms()
    case.outputs = [(n, v.astype(np.float32), None) for n, v, _ in case.outputs]
    build_model(case, tmp_path / "paddle.onnx")
    image = np.zeros((1, 3, WH[1], WH[0]), np.float32)
    bound = OnnxSession(tmp_path / "paddle.onnx", warmup_runs=0, io_binding=True)
    plain = OnnxSession(tmp_path / "paddle.onnx", warmup_runs=0, io_binding=False)
    assert bound._binding is not None and plain._binding is None
    got = bound.run(image)
    for a, b in zip(got, plain.run(image), strict=True):
        np.testing.assert_array_equal(a, b)
    raw = DECODERS["nms"](got, WH, THR, output_names=bound.output_names)
    keep = SCORES >= THR
    assert_decoded(raw, truth(WH)[keep], SCORES[keep], LABELS[keep])
