"""Decoders of the YOLO grid heads: YOLOX, YOLOv5 (and YOLOv7's plain export), YOLOv6, YOLOv8
(and YOLO11).

- ``yolox``: one output [1, N, 5 + C], N = sum over strides 8/16/32 of (W/s)(H/s) rows, stride 8
  grid row-major first. cx = (p0 + gx) s, cy = (p1 + gy) s, w = exp(p2) s, h = exp(p3) s;
  objectness p4 and classes p5.. are sigmoided inside the official export
  (Megvii-BaseDetection/YOLOX ``demo_postprocess``). score = obj * max class.
- ``yolov5``: one output [1, 3 N, 5 + C] (3 anchors per cell; strides 8/16/32 or 8..64 for P6),
  (cx, cy, w, h) already in input pixels, obj and classes sigmoided (ultralytics/yolov5
  ``Detect``); score = obj * max class. WongKinYiu/yolov7's ``export.py --grid`` (without
  ``--end2end``) gives this same output; without ``--grid`` it leaves the per-level raw maps,
  which no decoder here reads.
- ``yolov6``: one output [1, N, 5 + C] with one row per grid cell (strides 8/16/32, or 8..64 for
  the P6 models), (cx, cy, w, h) already in input pixels (meituan/YOLOv6
  ``yolov6/models/effidehead.py::Detect.forward``, eval branch; ``deploy/ONNX/export_onnx.py``
  names the output ``outputs``). Since 2.0 the anchor-free DFL head writes a constant 1 as
  objectness (column 4) and sigmoided classes; 1.0 had a sigmoided objectness there. Either
  way score = obj * max class, as for YOLOv5.
- ``yolov8``: one output [1, 4 + C, N] (cx, cy, w, h in input pixels, sigmoided classes, no
  objectness; ultralytics ``Detect`` export); score = max class. Ultralytics YOLO11 exports the
  same layout (same ``Detect`` head).

Conventions shared by every decoder: :mod:`adas.detect.heads`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adas.detect.heads.common import (
    STRIDES_P5,
    STRIDES_P6,
    RawDetections,
    check_args,
    finish,
    finish_boxes,
    grid_points,
    grid_total,
    raise_format_error,
    single_output,
    xywh_corners,
)
from adas.detect.kernels import grid_boxes, objectness_rows

YOLOV5_ANCHORS_PER_CELL = 3


def _obj_cls(rows: np.ndarray, score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kept row numbers, score = obj * best class, label) of N x (5 + C) rows, obj at 4."""
    if type(score_threshold) is float:
        # numpy compares float32 with a Python float as float32: one compiled pass
        # (adas.detect.kernels) of the same selection.
        return objectness_rows(rows, np.float32(score_threshold))
    # Class scores are probabilities (<= 1), so obj * cls >= t needs obj >= t: testing the one
    # objectness column first skips the class arg-max for nearly every row.
    idx = np.flatnonzero(rows[:, 4] >= score_threshold)
    cls = rows[idx, 5:]
    label = cls.argmax(axis=1)
    score = rows[idx, 4] * cls[np.arange(idx.size), label]
    keep = score >= score_threshold  # NaN fails
    return idx[keep], score[keep], label[keep]


def decode_yolox(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOX raw grid output [1, N, 5 + C] (see the module docstring)."""
    wh = check_args(input_wh, score_threshold)
    pred = single_output("yolox", outputs, rank=2)
    n = grid_total(wh, STRIDES_P5)
    if pred.shape[0] != n or pred.shape[1] < 6:
        what = f"expected 1 x {n} x (5 + classes) for input {wh[0]}x{wh[1]}"
        raise_format_error("yolox", what, outputs)
    with np.errstate(invalid="ignore", over="ignore"):
        idx, score, label = _obj_cls(pred, score_threshold)
        gx, gy, st = grid_points(wh, STRIDES_P5)
        rows = pred[idx]
        # numpy's exponentials, the rest compiled: ((p0 + gx) s, (p1 + gy) s) +- exp(p) s / 2.
        xyxy = grid_boxes(rows, idx, gx, gy, st, np.exp(rows[:, 2]), np.exp(rows[:, 3]))
    return finish_boxes("yolox", xyxy, score, label, outputs)


def _pixel_rows(
    family: str,
    per_cell: int,
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
) -> RawDetections:
    """Rows [1, per_cell * G, 5 + C] of (cx, cy, w, h) in input pixels, objectness, classes."""
    wh = check_args(input_wh, score_threshold)
    pred = single_output(family, outputs, rank=2)
    ns = [per_cell * grid_total(wh, s) for s in (STRIDES_P5, STRIDES_P6)]
    if pred.shape[0] not in ns or pred.shape[1] < 6:
        what = f"expected 1 x ({' or '.join(map(str, ns))}) x (5 + classes)"
        raise_format_error(family, what, outputs)
    with np.errstate(invalid="ignore"):
        idx, score, label = _obj_cls(pred, score_threshold)
        rows = pred[idx]
        corners = xywh_corners(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
    return finish(family, corners, score, label, outputs)


def decode_yolov5(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOv5 (and YOLOv7) output [1, 3 N, 5 + C], boxes (cx, cy, w, h) in input pixels."""
    return _pixel_rows("yolov5", YOLOV5_ANCHORS_PER_CELL, outputs, input_wh, score_threshold)


def decode_yolov6(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOv6 output [1, N, 5 + C], one row per cell, boxes (cx, cy, w, h) in input pixels."""
    return _pixel_rows("yolov6", 1, outputs, input_wh, score_threshold)


def decode_yolov8(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOv8 output [1, 4 + C, N] (cx, cy, w, h in input pixels, then class scores)."""
    wh = check_args(input_wh, score_threshold)
    pred = single_output("yolov8", outputs, rank=2)
    ns = [grid_total(wh, s) for s in (STRIDES_P5, STRIDES_P6)]
    if pred.shape[1] not in ns or pred.shape[0] < 5:
        what = f"expected 1 x (4 + classes) x ({' or '.join(map(str, ns))})"
        raise_format_error("yolov8", what, outputs)
    with np.errstate(invalid="ignore"):
        # Comparing along the class axis reads the array in memory order; the arg-max, the
        # expensive part, then only runs on columns with some class above the threshold.
        idx = np.flatnonzero((pred[4:] >= score_threshold).any(axis=0))
        cols = pred[:, idx]
        label = cols[4:].argmax(axis=0)
        score = cols[4:][label, np.arange(idx.size)]
        keep = score >= score_threshold
        cols, score, label = cols[:, keep], score[keep], label[keep]
        corners = xywh_corners(cols[0], cols[1], cols[2], cols[3])
    return finish("yolov8", corners, score, label, outputs)
