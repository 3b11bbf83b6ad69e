"""Decoder of graphs with NMS inside (end-to-end exports): their rows are final boxes.

``nms`` layouts: [1, N, 6] = (x1, y1, x2, y2, score, class) (ultralytics end-to-end,
YOLOv10); [N, 7] = (batch, x1, y1, x2, y2, class, score) (YOLOv7 ``--end2end`` for
onnxruntime; rows of batch 0 only); or separate boxes [1, N, 4], scores [1, N], classes [1, N]
with an optional count [1, 1] (TensorRT EfficientNMS style ``num_dets``, ``det_boxes``,
``det_scores``, ``det_classes``), told apart by name, then shape and values; or PaddleDetection's
``multiclass_nms3`` rows [N, 6] = (class, score, x1, y1, x2, y2) with a row count [1]
(``ppdet/modeling/post_process.py``, PicoDet and PP-YOLOE exports with NMS). Those graphs take
``im_shape`` and ``scale_factor`` inputs and divide the boxes by the scale factor;
:class:`adas.detect.session.OnnxSession` feeds the input size and 1, so the boxes stay in input
pixels. Paddle pads an empty result with a row of class -1, which is dropped.

Conventions shared by every decoder: :mod:`adas.detect.heads`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from adas.detect.heads.common import (
    RawDetections,
    check_args,
    finish,
    raise_format_error,
    unbatch,
)


def _nms_role(name: str) -> str | None:
    low = name.lower()
    for role, pattern in (
        ("num", r"num|count"),
        ("boxes", r"box"),
        ("scores", r"score|conf"),
        ("labels", r"label|class|cls"),
    ):
        if re.search(pattern, low):
            return role
    return None


def _is_integral(a: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.issubdtype(a.dtype, np.integer) or np.all(np.mod(a, 1) == 0))


def _nms_split(
    outputs: Sequence[np.ndarray], output_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes N x 4, scores N, labels N) of a graph with NMS inside, in any output order."""
    arrays = [np.asarray(o) for o in outputs]
    if len(arrays) == 2:  # Paddle multiclass_nms3: rows [N, 6] and the count [1]
        rows_at = [i for i, a in enumerate(arrays) if a.ndim >= 2 and a.shape[-1] == 6]
        if len(rows_at) != 1 or arrays[1 - rows_at[0]].size != 1:
            raise_format_error("nms", "expected rows [N, 6] and a count [1]", outputs)
        rows = arrays[rows_at[0]].reshape(-1, 6)
        num = np.asarray(arrays[1 - rows_at[0]], np.float64).reshape(-1)
        count = int(np.clip(num[0], 0, len(rows))) if np.isfinite(num[0]) else 0
        rows = rows[:count]
        return rows[:, 2:6], rows[:, 1], rows[:, 0]
    if len(arrays) == 1:
        a = arrays[0]
        if a.ndim == 2 and a.shape[1] == 7:  # YOLOv7 ORT: batch, x1, y1, x2, y2, class, score
            a = a[a[:, 0] == 0]
            return a[:, 1:5], a[:, 6], a[:, 5]
        p = unbatch(a, 2)
        if p is None or p.shape[1] != 6:
            raise_format_error("nms", "expected one output [1, N, 6] or [N, 7]", outputs)
        return p[:, :4], p[:, 4], p[:, 5]
    if len(arrays) not in (3, 4):
        raise_format_error("nms", "expected 1 to 4 outputs", outputs)
    order = list(range(len(arrays)))
    roles: dict[str, int] = {}
    if output_names is not None and len(output_names) == len(arrays):
        found = [_nms_role(n) for n in output_names]
        wanted = ["boxes", "scores", "labels"] + (["num"] if len(arrays) == 4 else [])
        if all(found.count(r) == 1 for r in wanted):
            roles = {r: found.index(r) for r in wanted}
    if not roles:  # by shape, then values; ties keep session order (EfficientNMS order)
        if len(arrays) == 4:
            roles["num"] = next((i for i in order if arrays[i].size == 1), 0)
            order.remove(roles["num"])
        with_4 = [i for i in order if arrays[i].ndim >= 2 and arrays[i].shape[-1] == 4]
        if not with_4:
            raise_format_error("nms", "no boxes output [1, N, 4]", outputs)
        roles["boxes"] = max(with_4, key=lambda i: arrays[i].size)
        order.remove(roles["boxes"])
        first, second = order
        swap = _is_integral(arrays[first]) and not _is_integral(arrays[second])
        roles["scores"], roles["labels"] = (second, first) if swap else (first, second)
    boxes = arrays[roles["boxes"]].reshape(-1, 4) if arrays[roles["boxes"]].size % 4 == 0 else None
    score = arrays[roles["scores"]].reshape(-1)
    label = arrays[roles["labels"]].reshape(-1)
    if boxes is None or not len(boxes) == len(score) == len(label):
        what = "boxes, scores and labels disagree on the number of rows"
        raise_format_error("nms", what, outputs)
    if "num" in roles:
        num = np.asarray(arrays[roles["num"]], np.float64).reshape(-1)
        count = int(np.clip(num[0], 0, len(score))) if num.size and np.isfinite(num[0]) else 0
        boxes, score, label = boxes[:count], score[:count], label[:count]
    return boxes, score, label


def decode_nms(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """Graphs with NMS inside: xyxy in input pixels (layouts in the module docstring).

    Rows whose class is not an integer in [0, 2^31) (negative: padding of some exports) are
    dropped like low scores.
    """
    check_args(input_wh, score_threshold)
    boxes, score, label = _nms_split(outputs, output_names)
    with np.errstate(invalid="ignore"):
        label_f = np.asarray(label, np.float64)
        # Class ids beyond int32 are garbage, not classes (and would overflow the cast).
        keep = (score >= score_threshold) & (label_f >= 0) & (label_f < 2**31)
        idx = np.flatnonzero(keep)
        corners = [np.asarray(boxes[idx, k], np.float32) for k in range(4)]
        label_k = np.rint(label_f[idx]).astype(np.int64)
    return finish("nms", corners, score[idx], label_k, outputs)
