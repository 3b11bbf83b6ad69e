"""Decoders of adas.detect.heads recover boxes encoded with each family's inverse transform
(tests/adas/detect/_encoded.py), drop non-finite rows, and refuse outputs of the wrong shape.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adas.detect.heads import DECODERS, RawDetections
from adas.errors import ContractError, ModelFormatError
from tests.adas.detect._encoded import (
    ENCODERS,
    LABELS,
    SCORES,
    SIZES,
    THR,
    C,
    Outputs,
    assert_decoded,
    encode_gfl,
    encode_nanodet,
    encode_yolox,
    expected_scores,
    n_cells,
    truth,
)


@pytest.mark.parametrize("wh", SIZES, ids=lambda wh: f"{wh[0]}x{wh[1]}")
@pytest.mark.parametrize("family", sorted(ENCODERS))
def test_decoder_recovers_encoded_boxes(family: str, wh: tuple[int, int]) -> None:
    raw = DECODERS[family](ENCODERS[family](wh), wh, THR)
    keep = SCORES >= THR  # the row just below the threshold is dropped
    assert_decoded(raw, truth(wh)[keep], expected_scores(family)[keep], LABELS[keep])


@pytest.mark.parametrize("family", sorted(ENCODERS))
def test_threshold_zero_keeps_background_and_stays_finite(family: str) -> None:
    wh = (320, 320)
    raw = DECODERS[family](ENCODERS[family](wh), wh, 0.0)
    # Every grid row passes a zero threshold (NMS graphs: every row incl. padding).
    assert len(raw) > len(SCORES)
    assert np.isfinite(raw.xyxy).all() and np.isfinite(raw.score).all()


@pytest.mark.parametrize("family", sorted(ENCODERS))
def test_detections_do_not_alias_the_outputs(family: str) -> None:
    """Sessions reuse their output buffers; decoded arrays must survive the next frame."""
    wh = (352, 352)
    outputs = ENCODERS[family](wh)
    raw = DECODERS[family](outputs, wh, THR)
    before = (raw.xyxy.copy(), raw.score.copy(), raw.label.copy())
    for o in outputs:
        o[...] = 0
    for a, b in zip(before, (raw.xyxy, raw.score, raw.label), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nanodet_output_order_comes_from_shapes_and_names() -> None:
    wh = (320, 320)
    outputs = encode_nanodet(wh)
    names = [f"cls_pred_stride_{s}" for s in (8, 16, 32)] + [
        f"dis_pred_stride_{s}" for s in (8, 16, 32)
    ]
    want = DECODERS["nanodet"](outputs, wh, THR)
    perm = [4, 2, 0, 5, 3, 1]
    shuffled = [outputs[i] for i in perm]
    for kwargs in ({}, {"output_names": [names[i] for i in perm]}):
        got = DECODERS["nanodet"](shuffled, wh, THR, **kwargs)
        assert_decoded(got, want.xyxy, want.score, want.label)


def test_nanodet_32_classes_needs_names_to_tell_cls_from_dis() -> None:
    wh = (64, 64)
    cls = [np.full((1, n, 32), 0.9, np.float32) for n in (64, 16, 4)]
    dis = [np.zeros((1, n, 32), np.float32) for n in (64, 16, 4)]
    with pytest.raises(ModelFormatError, match="output_names"):
        DECODERS["nanodet"](cls + dis, wh, THR)
    names = ["cls_8", "cls_16", "cls_32", "dis_8", "dis_16", "dis_32"]
    raw = DECODERS["nanodet"](cls + dis, wh, THR, output_names=names)
    # Uniform distance logits: every side is the mean bin 3.5 times the stride, and every
    # row (64 + 16 + 4 cells) is above the threshold.
    widths = np.sort(raw.xyxy[:, 2] - raw.xyxy[:, 0])
    np.testing.assert_allclose(widths, np.repeat([7.0 * 8, 7.0 * 16, 7.0 * 32], [64, 16, 4]))


def test_nanodet_plus_per_stride_outputs() -> None:
    wh = (320, 320)
    cls, dis = encode_gfl(wh, (8, 16, 32, 64), 0.0)
    raw = DECODERS["nanodet_plus"]([a[None] for a in dis + cls], wh, THR)
    keep = SCORES >= THR
    assert_decoded(raw, truth(wh)[keep], SCORES[keep], LABELS[keep])


def efficient_nms_outputs(wh: tuple[int, int]) -> tuple[Outputs, list[str]]:
    k = 10
    boxes = np.zeros((1, k, 4), np.float32)
    scores = np.zeros((1, k), np.float32)
    classes = np.zeros((1, k), np.int32)
    n = len(SCORES)
    boxes[0, :n], scores[0, :n], classes[0, :n] = truth(wh), SCORES, LABELS
    scores[0, n:] = 0.99  # rows beyond num_dets are garbage and must not come back
    num = np.array([[n]], np.int32)
    return [num, boxes, scores, classes], ["num_dets", "det_boxes", "det_scores", "det_classes"]


def test_nms_graph_layouts() -> None:
    wh = (640, 384)
    keep = SCORES >= THR
    want = (truth(wh)[keep], SCORES[keep], LABELS[keep])
    outs, names = efficient_nms_outputs(wh)
    assert_decoded(DECODERS["nms"](outs, wh, THR), *want)
    perm = [2, 0, 3, 1]
    shuffled = [outs[i] for i in perm]
    assert_decoded(DECODERS["nms"](shuffled, wh, THR, output_names=[names[i] for i in perm]), *want)
    # Three float outputs without names, classes before scores: told apart by their values.
    n = len(SCORES)
    three = [outs[1][:, :n], outs[3][:, :n].astype(np.float32), outs[2][:, :n]]
    assert_decoded(DECODERS["nms"](three, wh, THR), *want)
    # YOLOv7 onnxruntime end2end: [N, 7] = batch, x1, y1, x2, y2, class, score.
    v7 = np.zeros((n + 1, 7), np.float32)
    v7[:n, 1:5], v7[:n, 5], v7[:n, 6] = truth(wh), LABELS, SCORES
    v7[n] = [1, 0, 0, 10, 10, 3, 0.99]  # another image of the batch
    assert_decoded(DECODERS["nms"]([v7], wh, THR), *want)


def poison_first_box(family: str, outputs: Outputs, wh: tuple[int, int]) -> None:
    """NaN into a box value of the row that encodes box 0 (the best score)."""
    x1, y1, x2, y2 = truth(wh)[0]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if family == "yolox":  # box 0 is on the stride-8 grid, the first rows
        gw = math.ceil(wh[0] / 8)
        outputs[0][0, math.floor(cy / 8) * gw + math.floor(cx / 8), 2] = np.nan
    elif family == "yolov5":
        outputs[0][0, 7, 2] = np.nan
    elif family == "yolov8":
        outputs[0][0, 3, 3] = np.nan
    elif family == "fastestdet":
        gw, gh = math.ceil(wh[0] / 16), math.ceil(wh[1] / 16)
        outputs[0][0, 3, round(cy * gh / wh[1]), round(cx * gw / wh[0])] = np.nan
    elif family == "yolov6":
        outputs[0][0, 5, 2] = np.nan
    elif family == "rtdetr":
        outputs[0][0, 17, 1] = np.nan
    elif family == "nms":
        outputs[0][0, 0, 0] = np.nan
    else:  # GFL: a dis logit of box 0's row
        strides = (8, 16, 32) if family == "nanodet" else (8, 16, 32, 64)
        off = 0.0 if family == "nanodet_plus" else 0.5
        s = next(s for s in strides if max(x2 - x1, y2 - y1) <= 12 * s)
        gw = math.ceil(wh[0] / s)
        row = round(cy / s - off) * gw + round(cx / s - off)
        if family != "nanodet_plus":  # outputs: cls per stride, then dis per stride
            outputs[len(strides) + strides.index(s)][0, row, 0] = np.nan
        else:  # one output, strides concatenated, dis after the C class columns
            start = n_cells(wh, strides[: strides.index(s)])
            outputs[0][0, start + row, C] = np.nan


@pytest.mark.parametrize("family", sorted(ENCODERS))
def test_a_nan_row_is_dropped_and_the_others_kept(family: str) -> None:
    wh = (416, 416)
    clean = DECODERS[family](ENCODERS[family](wh), wh, THR)
    outputs = ENCODERS[family](wh)
    poison_first_box(family, outputs, wh)
    raw = DECODERS[family](outputs, wh, THR)
    assert np.isfinite(raw.xyxy).all()
    # Exactly the best row is gone; the others are unchanged.
    rest = np.argsort(-clean.score)[1:]
    assert_decoded(raw, clean.xyxy[rest], clean.score[rest], clean.label[rest])


NONFINITE = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30])


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(sorted(ENCODERS)),
    poison=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), NONFINITE), max_size=40),
    threshold=st.sampled_from([0.0, 0.01, THR, 0.9]),
    noise_seed=st.one_of(st.none(), st.integers(0, 2**16)),
)
def test_no_nan_or_inf_leaves_a_decoder(
    family: str,
    poison: list[tuple[float, float]],
    threshold: float,
    noise_seed: int | None,
) -> None:
    wh = (128, 96)
    outputs = ENCODERS[family](wh)
    if noise_seed is not None:  # raw-looking values instead of the tidy encoding
        rng = np.random.default_rng(noise_seed)
        for o in outputs:
            o[...] = rng.normal(0.0, 3.0, o.shape)
    for frac, value in poison:
        o = outputs[int(frac * 7) % len(outputs)].reshape(-1)
        o[int(frac * o.size)] = value
    raw = DECODERS[family](outputs, wh, threshold)
    assert np.isfinite(raw.xyxy).all() and np.isfinite(raw.score).all()
    assert (raw.score >= threshold).all()
    assert ((raw.label >= 0) & (raw.label < (C if family != "nms" else 2**31))).all()


WRONG: list[tuple[str, Outputs]] = [
    ("yolox", [np.zeros((1, 3548, 85), np.float32)]),
    ("yolox", [np.zeros((1, 3549, 5), np.float32)]),
    ("yolox", [np.zeros((1, 1, 3549, 85), np.float32)]),
    ("yolox", [np.zeros((1, 3549, 85), np.float32)] * 2),
    ("yolox", []),
    ("yolov5", [np.zeros((1, 3549, 85), np.float32)]),
    ("yolov8", [np.zeros((1, 3549, 84), np.float32)]),
    ("yolov8", [np.zeros((1, 4, 3549), np.float32)]),
    ("fastestdet", [np.zeros((1, 85, 22, 22), np.float32)]),
    ("fastestdet", [np.zeros((1, 85, 26 * 26), np.float32)]),
    ("nanodet", [np.zeros((1, n, 80), np.float32) for n in (2704, 676, 169)]),
    ("nanodet", [np.zeros((1, n, c), np.float32) for n in (2704, 676, 170) for c in (80, 32)]),
    ("nanodet", [np.zeros((1, n, c), np.float32) for n in (2704, 676, 169) for c in (80, 33)]),
    ("nanodet_plus", [np.zeros((1, 3549, 30), np.float32)]),
    ("nanodet_plus", [np.zeros((1, 3000, 112), np.float32)]),
    ("yolov6", [np.zeros((1, 3 * 3549, 85), np.float32)]),
    ("yolov6", [np.zeros((1, 3549, 5), np.float32)]),
    ("picodet", [np.zeros((1, 3549, 4), np.float32), np.zeros((1, 80, 3548), np.float32)]),
    ("picodet", [np.zeros((1, n, 80), np.float32) for n in (2704, 676, 169, 49)]),
    ("rtdetr", [np.zeros((1, 300, 4), np.float32)]),
    ("rtdetr", [np.zeros((1, 300, 4), np.float32), np.zeros((1, 299, 80), np.float32)]),
    ("rtdetr", [np.zeros((1, 300, 4), np.float32), np.zeros((1, 300, 4), np.float32)]),
    ("rtdetr", [np.zeros((1, 300, 84), np.float32)] * 4),
    ("nms", [np.zeros((1, 100, 5), np.float32)]),
    ("nms", [np.zeros((100, 6), np.float32), np.zeros((2,), np.int32)]),
    ("nms", [np.zeros((1, 100, 4), np.float32), np.zeros((1, 100), np.float32)]),
    ("nms", [np.zeros((1, 100, 4)), np.zeros((1, 99)), np.zeros((1, 100))]),
    ("nms", [np.zeros((1, 100, 3)), np.zeros((1, 100)), np.zeros((1, 100))]),
]


@pytest.mark.parametrize(("family", "outputs"), WRONG)
def test_wrong_shapes_raise_model_format_error(family: str, outputs: Outputs) -> None:
    with pytest.raises(ModelFormatError, match=family):
        DECODERS[family](outputs, (416, 416), THR)


def test_bad_arguments_are_rejected() -> None:
    outputs = encode_yolox((416, 416))
    with pytest.raises(ValueError, match="score_threshold"):
        DECODERS["yolox"](outputs, (416, 416), float("nan"))
    with pytest.raises(ContractError, match="input_wh"):
        DECODERS["yolox"](outputs, (0, 416), THR)
    with pytest.raises(ContractError, match="float32"):
        float64 = np.zeros((1, 4))
        RawDetections(float64, np.zeros(1, np.float32), np.zeros(1, np.int64))  # type: ignore[arg-type]
