"""Decoder of FastestDet's single-stride head.

``fastestdet``: one output [1, 5 + C, H/16, W/16] = (obj, tx, ty, tw, th, classes); obj is
sigmoided and the classes softmaxed in the model (dog-qiuqiu/FastestDet
``module/custom_layers.py::DetectHead``), the box channels are raw: cx = (gx + tanh tx) W / Wg,
w = sigmoid(tw) W (``utils/tool.py::handle_preds``, ``module/loss.py``: the centre is relative
to the cell's top-left corner). score = obj^0.6 * cls^0.4 as in upstream's
``example/ncnn/FastestDet.cpp``; its ``example/onnx-runtime/runtime.py`` uses obj * cls, which
ranks cells alike but scores lower, so thresholds do not carry over between the two.

Conventions shared by every decoder: :mod:`adas.detect.heads`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adas.detect.heads.common import (
    RawDetections,
    check_args,
    finish,
    grid_size,
    raise_format_error,
    single_output,
    xywh_corners,
)

FASTESTDET_STRIDE = 16
FASTESTDET_OBJ_EXP = 0.6  # score = obj^0.6 * cls^0.4, FastestDet example/ncnn/FastestDet.cpp
FASTESTDET_CLS_EXP = 0.4


def decode_fastestdet(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """FastestDet output [1, 5 + C, H/16, W/16] (see the module docstring)."""
    wh = check_args(input_wh, score_threshold)
    pred = single_output("fastestdet", outputs, rank=3)
    gw, gh = grid_size(wh, FASTESTDET_STRIDE)
    if pred.shape[1:] != (gh, gw) or pred.shape[0] < 6:
        raise_format_error("fastestdet", f"expected 1 x (5 + classes) x {gh} x {gw}", outputs)
    flat = pred.reshape(pred.shape[0], gh * gw)
    with np.errstate(invalid="ignore", over="ignore"):
        cls_best = flat[5:].max(axis=0)
        score = flat[0] ** FASTESTDET_OBJ_EXP * cls_best**FASTESTDET_CLS_EXP
        idx = np.flatnonzero(score >= score_threshold)
        label = flat[5:, idx].argmax(axis=0)
        gy, gx = np.divmod(idx, gw)
        cx = (gx + np.tanh(flat[1, idx])) * (wh[0] / gw)
        cy = (gy + np.tanh(flat[2, idx])) * (wh[1] / gh)
        w = wh[0] / (1.0 + np.exp(-flat[3, idx]))
        h = wh[1] / (1.0 + np.exp(-flat[4, idx]))
        corners = xywh_corners(cx, cy, w, h)
    return finish("fastestdet", corners, score[idx], label, outputs)
