"""Raw outputs of each detector family built from known boxes with the family's inverse
transform (logits, grid offsets, GFL distributions): the decoder tests check the decoders of
adas.detect.heads return those boxes."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from adas.detect.heads import RawDetections

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


def encode_yolov6(wh: tuple[int, int]) -> Outputs:
    """One row per cell (strides 8/16/32), objectness 1 as since YOLOv6 2.0."""
    pred = np.zeros((n_cells(wh, (8, 16, 32)), 5 + C), np.float32)
    pred[:, :4] = 40.0
    pred[:, 4] = 1.0
    pred[:, 5:] = 0.1
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        row = 5 + i * (len(pred) // 6)
        pred[row, :4] = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        pred[row, 5:] = class_probs(LABELS[i], SCORES[i])
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


def encode_picodet(wh: tuple[int, int]) -> Outputs:
    """Paddle2ONNX session order: cls over strides 8..64, then dis over strides 8..64."""
    cls, dis = encode_gfl(wh, (8, 16, 32, 64), 0.5)
    return [a[None] for a in cls + dis]


PICODET_NAMES = [f"save_infer_model/scale_{i}.tmp_1" for i in range(8)]


def encode_picodet_boxes_scores(wh: tuple[int, int]) -> Outputs:
    """PicoDet export.nms=False: boxes [1, N, 4] (input pixels), scores [1, C, N]."""
    n = n_cells(wh, (8, 16, 32, 64))
    boxes = np.tile(np.array([1.0, 2.0, 30.0, 40.0], np.float32), (n, 1))
    scores = np.full((C, n), 0.05, np.float32)
    for i, box in enumerate(truth(wh)):
        col = 11 + i * (n // 6)
        boxes[col] = box
        scores[:, col] = class_probs(LABELS[i], SCORES[i])
    return [boxes[None], scores[None]]


def rtdetr_queries(wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes Q x 4 normalised cx, cy, w, h; class probabilities Q x C) of 300 queries."""
    boxes = np.tile(np.array([0.5, 0.5, 0.2, 0.3], np.float32), (300, 1))
    probs = np.full((300, C), 0.02, np.float32)
    for i, (x1, y1, x2, y2) in enumerate(truth(wh)):
        q = 17 + 40 * i
        boxes[q] = (
            (x1 + x2) / 2 / wh[0],
            (y1 + y2) / 2 / wh[1],
            (x2 - x1) / wh[0],
            (y2 - y1) / wh[1],
        )
        probs[q] = class_probs(LABELS[i], SCORES[i])
    return boxes, probs


def encode_rtdetr(wh: tuple[int, int]) -> Outputs:
    """The raw RT-DETR / D-FINE model: boxes [1, Q, 4] and logits [1, Q, C]."""
    boxes, probs = rtdetr_queries(wh)
    logits = np.log(probs / (1.0 - probs)).astype(np.float32)
    return [boxes[None], logits[None]]


def encode_nms(wh: tuple[int, int]) -> Outputs:
    rows = np.zeros((100, 6), np.float32)  # zero padding rows score 0
    rows[: len(SCORES), :4] = truth(wh)
    rows[: len(SCORES), 4] = SCORES
    rows[: len(SCORES), 5] = LABELS
    return [rows[None]]


ENCODERS: dict[str, Callable[[tuple[int, int]], Outputs]] = {
    "yolox": encode_yolox,
    "yolov5": encode_yolov5,
    "yolov6": encode_yolov6,
    "yolov8": encode_yolov8,
    "fastestdet": encode_fastestdet,
    "nanodet": encode_nanodet,
    "nanodet_plus": encode_nanodet_plus,
    "picodet": encode_picodet,
    "rtdetr": encode_rtdetr,
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
