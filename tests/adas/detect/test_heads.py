"""Decoders recover boxes encoded with each family's inverse transform, and real models' cars.

Every synthetic test builds the raw outputs a model of the family would produce for known
boxes (logits, grid offsets, GFL distributions) and checks the decoder returns those boxes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adas.detect.classes import COCO80_NAMES, coco_to_adas, map_labels
from adas.detect.heads import DECODERS, RawDetections, identify_family
from adas.errors import ContractError, ModelFormatError
from adas.types import ObjectClass

C = 80
THR = 0.25
SIZES = [(416, 416), (640, 640), (320, 320), (352, 352), (640, 384)]
# Boxes as fractions of the input (x1, y1, x2, y2): centres in distinct grid cells, sizes from
# ~20 px to ~250 px at 640. The last score is below THR and must not come back.
FRACS = np.array(
    [
        [0.10, 0.15, 0.30, 0.40],
        [0.55, 0.50, 0.95, 0.90],
        [0.40, 0.05, 0.48, 0.12],
        [0.05, 0.60, 0.25, 0.98],
        [0.70, 0.10, 0.80, 0.30],
    ]
)
SCORES = np.array([0.91, 0.62, 0.40, THR + 1e-3, THR - 1e-3])
LABELS = np.array([2, 0, 7, 79, 5])

Outputs = list[np.ndarray]


def truth(wh: tuple[int, int]) -> np.ndarray:
    return FRACS * np.array([wh[0], wh[1], wh[0], wh[1]], np.float64)


def cells(wh: tuple[int, int], strides: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """(stride, grid width, grid height, first row) per stride, rows concatenated."""
    out, start = [], 0
    for s in strides:
        gw, gh = math.ceil(wh[0] / s), math.ceil(wh[1] / s)
        out.append((s, gw, gh, start))
        start += gw * gh
    return out


def n_cells(wh: tuple[int, int], strides: tuple[int, ...]) -> int:
    return sum(gw * gh for _, gw, gh, _ in cells(wh, strides))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def class_probs(label: int, p: float = 0.95) -> np.ndarray:
    out = np.full(C, 0.01, np.float32)
    out[label] = p
    return out


def encode_yolox(wh: tuple[int, int]) -> Outputs:
    grid = cells(wh, (8, 16, 32))
    pred = np.zeros((n_cells(wh, (8, 16, 32)), 5 + C), np.float32)
    pred[:, 4] = 0.05  # background objectness, under THR
    pred[:, 5:] = 0.5
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        s, gw, _, start = grid[i % 3]
        cx, cy = (x1 + x2) / 2 / s, (y1 + y2) / 2 / s
        gx, gy = math.floor(cx), math.floor(cy)
        row = start + gy * gw + gx
        pred[row, :4] = cx - gx, cy - gy, math.log((x2 - x1) / s), math.log((y2 - y1) / s)
        pred[row, 4] = SCORES[i] / 0.95
        pred[row, 5:] = class_probs(LABELS[i])
    return [pred[None]]


def encode_yolov5(wh: tuple[int, int]) -> Outputs:
    pred = np.zeros((3 * n_cells(wh, (8, 16, 32)), 5 + C), np.float32)
    pred[:, :4] = 50.0
    pred[:, 4] = 0.1
    pred[:, 5:] = 0.9  # 0.1 * 0.9 < THR
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        row = 7 + i * (len(pred) // 6)  # any rows: the boxes are not tied to the anchors
        pred[row, :4] = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        pred[row, 4] = SCORES[i] / 0.95
        pred[row, 5:] = class_probs(LABELS[i])
    return [pred[None]]


def encode_yolov8(wh: tuple[int, int]) -> Outputs:
    pred = np.zeros((4 + C, n_cells(wh, (8, 16, 32))), np.float32)
    pred[:4] = 30.0
    pred[4:] = 0.2
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        col = 3 + i * (pred.shape[1] // 6)
        pred[:4, col] = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        pred[4:, col] = class_probs(LABELS[i], SCORES[i])
    return [pred[None]]


def fastestdet_cls(label: int) -> np.ndarray:
    out = np.full(C, 0.1 / (C - 1), np.float32)  # a softmax: sums to 1
    out[label] = 0.9
    return out


def encode_fastestdet(wh: tuple[int, int]) -> Outputs:
    gw, gh = math.ceil(wh[0] / 16), math.ceil(wh[1] / 16)
    pred = np.zeros((5 + C, gh, gw), np.float32)
    pred[0] = 0.01
    pred[5:] = 1.0 / C
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        u, v = (x1 + x2) / 2 * gw / wh[0], (y1 + y2) / 2 * gh / wh[1]
        gx, gy = round(u), round(v)  # the cell whose corner is nearest: |tanh| <= 0.5
        # FastestDet score = obj^0.6 * cls^0.4 with cls = 0.9
        obj = (SCORES[i] / 0.9**0.4) ** (1 / 0.6)
        pred[:5, gy, gx] = (
            obj,
            math.atanh(u - gx),
            math.atanh(v - gy),
            logit((x2 - x1) / wh[0]),
            logit((y2 - y1) / wh[1]),
        )
        pred[5:, gy, gx] = fastestdet_cls(LABELS[i])
    return [pred[None]]


def gfl_logits(dist_bins: float) -> np.ndarray:
    """Logits over 8 bins whose softmax expectation is ``dist_bins`` (two adjacent bins)."""
    k = min(int(dist_bins), 6)
    f = dist_bins - k
    out = np.full(8, -60.0)  # exp(-60) ~ 1e-26: the other bins carry no mass
    out[k] = math.log(1 - f) if f < 1 else -60.0
    out[k + 1] = math.log(f) if f > 0 else -60.0
    return out


def encode_gfl(
    wh: tuple[int, int], strides: tuple[int, ...], offset: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-stride (cls [N_s, C], dis [N_s, 32]) for centre points (g + offset) * stride."""
    grid = {s: (gw, gh) for s, gw, gh, _ in cells(wh, strides)}
    cls = {s: np.full((gw * gh, C), 0.02, np.float32) for s, (gw, gh) in grid.items()}
    dis = {s: np.zeros((gw * gh, 32), np.float32) for s, (gw, gh) in grid.items()}
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        s = next(s for s in strides if max(x2 - x1, y2 - y1) <= 12 * s)
        gw, _ = grid[s]
        gx = round((x1 + x2) / 2 / s - offset)
        gy = round((y1 + y2) / 2 / s - offset)
        px, py = (gx + offset) * s, (gy + offset) * s
        row = gy * gw + gx
        dis[s][row] = np.concatenate(
            [gfl_logits(d / s) for d in (px - x1, py - y1, x2 - px, y2 - py)]
        )
        cls[s][row] = class_probs(LABELS[i], SCORES[i])
    return [cls[s] for s in strides], [dis[s] for s in strides]


def encode_nanodet(wh: tuple[int, int]) -> Outputs:
    cls, dis = encode_gfl(wh, (8, 16, 32), 0.5)
    return [a[None] for a in cls + dis]  # the session order of the shared model


def encode_nanodet_plus(wh: tuple[int, int]) -> Outputs:
    cls, dis = encode_gfl(wh, (8, 16, 32, 64), 0.0)
    rows = [np.concatenate([c, d], axis=1) for c, d in zip(cls, dis, strict=True)]
    return [np.concatenate(rows)[None]]


def encode_nms(wh: tuple[int, int]) -> Outputs:
    rows = np.zeros((100, 6), np.float32)  # zero padding rows score 0
    rows[: len(SCORES), :4] = truth(wh)
    rows[: len(SCORES), 4] = SCORES
    rows[: len(SCORES), 5] = LABELS
    return [rows[None]]


ENCODERS: dict[str, Callable[[tuple[int, int]], Outputs]] = {
    "yolox": encode_yolox,
    "yolov5": encode_yolov5,
    "yolov8": encode_yolov8,
    "fastestdet": encode_fastestdet,
    "nanodet": encode_nanodet,
    "nanodet_plus": encode_nanodet_plus,
    "nms": encode_nms,
}


def expected_scores(family: str) -> np.ndarray:
    if family == "fastestdet":  # the encoding rounds obj through float32
        obj = np.asarray((SCORES / 0.9**0.4) ** (1 / 0.6), np.float32).astype(np.float64)
        return obj**0.6 * np.float64(np.float32(0.9)) ** 0.4
    return SCORES


def assert_decoded(
    raw: RawDetections, xyxy: np.ndarray, score: np.ndarray, label: np.ndarray
) -> None:
    assert raw.xyxy.dtype == np.float32 and raw.score.dtype == np.float32
    assert raw.label.dtype == np.int64
    assert len(raw) == len(score), (raw, score)
    got, want = np.argsort(-raw.score), np.argsort(-score)
    np.testing.assert_allclose(raw.xyxy[got], xyxy[want], atol=1e-3, rtol=0)
    np.testing.assert_allclose(raw.score[got], score[want], atol=2e-6, rtol=0)
    np.testing.assert_array_equal(raw.label[got], label[want])


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
    elif family == "nms":
        outputs[0][0, 0, 0] = np.nan
    else:  # GFL: a dis logit of box 0's row
        strides = (8, 16, 32) if family == "nanodet" else (8, 16, 32, 64)
        off = 0.5 if family == "nanodet" else 0.0
        s = next(s for s in strides if max(x2 - x1, y2 - y1) <= 12 * s)
        gw = math.ceil(wh[0] / s)
        row = round(cy / s - off) * gw + round(cx / s - off)
        if family == "nanodet":  # outputs: cls 8/16/32, then dis 8/16/32
            outputs[3 + strides.index(s)][0, row, 0] = np.nan
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


def family_shapes(
    family: str, wh: tuple[int, int]
) -> tuple[list[str], Sequence[Sequence[int | str | None]]]:
    g3, g4 = n_cells(wh, (8, 16, 32)), n_cells(wh, (8, 16, 32, 64))
    per = [n_cells(wh, (s,)) for s in (8, 16, 32, 64)]
    if family == "yolox":
        return ["output"], [[1, g3, 85]]
    if family == "yolov5":
        return ["output0"], [[1, 3 * g3, 85]]
    if family == "yolov8":
        return ["output0"], [[1, 84, g3]]
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
        ([[1, n, c] for n in (1600, 400, 100, 25) for c in (80, 32)], "nanodet_plus"),
        ([["batch", 2100, 85]], "yolox"),
    ],
)
def test_identify_family_special_layouts(shapes: list[list[int | str | None]], family: str) -> None:
    names = [f"out{i}" for i in range(len(shapes))]
    if not family:
        with pytest.raises(ModelFormatError):
            identify_family(names, shapes, (320, 320))
    else:
        assert identify_family(names, shapes, (320, 320)) == family


@pytest.mark.parametrize(
    "shapes",
    [[[1, 1000, 85]], [[1, 2, 3, 4, 5]], [[1, 3549, 85], [1, 3549, 85]], [[1, 85, 52, 52]], []],
)
def test_identify_family_unknown_layout_says_what_it_saw(shapes: list[list[int]]) -> None:
    names = [f"out{i}" for i in range(len(shapes))]
    with pytest.raises(ModelFormatError) as err:
        identify_family(names, shapes, (416, 416))
    text = str(err.value)
    assert "416x416" in text and "yolox" in text and "nanodet" in text
    for s in shapes:
        assert str(s) in text


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
    ("nms", [np.zeros((1, 100, 5), np.float32)]),
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


def test_coco_to_adas_mapping() -> None:
    assert len(COCO80_NAMES) == len(coco_to_adas) == 80
    want = {
        "person": ObjectClass.PEDESTRIAN,
        "bicycle": ObjectClass.BICYCLE,
        "car": ObjectClass.CAR,
        "motorcycle": ObjectClass.MOTORCYCLE,
        "bus": ObjectClass.BUS,
        "truck": ObjectClass.TRUCK,
        "train": ObjectClass.TRAIN,
    }
    for i, name in enumerate(COCO80_NAMES):
        assert coco_to_adas[i] == want.get(name, -1), name
    assert COCO80_NAMES[:8] == (
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"
    )  # fmt: skip
    assert COCO80_NAMES[-1] == "toothbrush"


def test_map_labels_keeps_only_adas_classes() -> None:
    class_id, keep = map_labels(np.array([2, 4, 0, -1, 80, 7]), coco_to_adas)
    np.testing.assert_array_equal(
        class_id, [ObjectClass.CAR, -1, ObjectClass.PEDESTRIAN, -1, -1, 5]
    )
    np.testing.assert_array_equal(keep, [True, False, True, False, False, True])
    assert class_id.dtype == np.int64
    empty_id, empty_keep = map_labels(np.zeros(0, np.int64), coco_to_adas)
    assert empty_id.shape == empty_keep.shape == (0,)
    with pytest.raises(ContractError, match="integer"):
        map_labels(np.array([2.0]), coco_to_adas)


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
