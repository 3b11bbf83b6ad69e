"""Decoder of the DETR-style query heads: RT-DETR (lyuwenyu/RT-DETR, ultralytics), D-FINE.

``rtdetr`` layouts, Q object queries (300 in every upstream config), no objectness, no NMS:

- boxes [1, Q, 4] and class logits [1, Q, C]: the raw model without its post-processor
  (lyuwenyu/RT-DETR ``RTDETRTransformer`` ``pred_boxes`` / ``pred_logits``; Peterande/D-FINE the
  same). Boxes are (cx, cy, w, h) normalised to the input (0..1); scores are the sigmoid of the
  logits (focal-loss training, ``RTDETRPostProcessor`` with ``use_focal_loss``); score = max class.
- one output [1, Q, 4 + C]: ultralytics ``RTDETRDecoder`` export, the same normalised boxes
  followed by class scores already sigmoided.
- labels [1, Q], boxes [1, Q, 4], scores [1, Q]: the official deploy export
  (``rtdetrv2_pytorch/tools/export_onnx.py``: inputs ``images`` and ``orig_target_sizes``, outputs
  ``labels``, ``boxes``, ``scores``). Its post-processor multiplies the xyxy boxes by
  ``orig_target_sizes`` = (width, height); fed the model input size (as
  :class:`adas.detect.session.OnnxSession` does) they come back in input pixels, so these
  outputs decode as the ``nms`` family's separate boxes/scores/labels.

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
    two_matrices,
    unbatch,
    xywh_corners,
)
from adas.detect.heads.end2end import decode_nms

RTDETR_QUERIES = 300  # num_queries of every RT-DETR / D-FINE / ultralytics RT-DETR config


def _is_boxes_name(name: str) -> bool | None:
    low = name.lower()
    if re.search(r"box", low):
        return True
    if re.search(r"logit|score|cls|class", low):
        return False
    return None


def _boxes_logits(
    outputs: Sequence[np.ndarray], output_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes Q x 4, logits Q x C) of the two-output layout, in either session order."""
    a, b = two_matrices("rtdetr", outputs)
    said = [_is_boxes_name(n) for n in output_names] if output_names is not None else []
    if sorted(map(str, said)) == ["False", "True"]:
        boxes, logits = (a, b) if said[0] else (b, a)
    elif (a.shape[1] == 4) != (b.shape[1] == 4):
        boxes, logits = (a, b) if a.shape[1] == 4 else (b, a)
    else:
        what = "cannot tell boxes [1, Q, 4] from logits [1, Q, classes]; pass output_names"
        raise_format_error("rtdetr", what, outputs)
    if boxes.shape[1] != 4 or logits.shape[0] != boxes.shape[0] or logits.shape[1] < 1:
        raise_format_error("rtdetr", "expected boxes [1, Q, 4] and logits [1, Q, classes]", outputs)
    return boxes, logits


def decode_rtdetr(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """RT-DETR / D-FINE query outputs (layouts in the module docstring)."""
    if len(outputs) == 3:  # the deploy export: final labels, boxes, scores
        return decode_nms(outputs, input_wh, score_threshold, output_names=output_names)
    w, h = check_args(input_wh, score_threshold)
    if len(outputs) == 1:
        pred = unbatch(np.asarray(outputs[0], np.float32), 2)
        if pred is None or pred.shape[1] < 5:
            raise_format_error("rtdetr", "expected one output [1, Q, 4 + classes]", outputs)
        boxes, probs = pred[:, :4], pred[:, 4:]
        with np.errstate(invalid="ignore"):
            idx = np.flatnonzero((probs >= score_threshold).any(axis=1))
            label = probs[idx].argmax(axis=1)
            score = probs[idx, label]
    elif len(outputs) == 2:
        boxes, logits = _boxes_logits(outputs, output_names)
        with np.errstate(invalid="ignore", over="ignore"):
            # Q is a few hundred rows: the best logit of every row is cheap, and the sigmoid
            # is monotonic, so the best class's sigmoid is the row's score.
            best = logits.argmax(axis=1)
            score_all = 1.0 / (1.0 + np.exp(-logits[np.arange(len(best)), best]))
            idx = np.flatnonzero(score_all >= score_threshold)
            label, score = best[idx], score_all[idx]
    else:
        raise_format_error("rtdetr", "expected 1, 2 or 3 outputs", outputs)
    rows = boxes[idx]
    corners = xywh_corners(rows[:, 0] * w, rows[:, 1] * h, rows[:, 2] * w, rows[:, 3] * h)
    return finish("rtdetr", corners, score, label, outputs)
