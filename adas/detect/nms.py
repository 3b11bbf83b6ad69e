"""Class-aware non-maximum suppression over detector boxes (also merges tile detections), and
the suppression of boxes nested inside a higher-scoring box of their group.

Greedy NMS: boxes are visited in descending score order and a box is suppressed when its IoU
with an already kept box of the same class is above ``iou_threshold`` (IoU of continuous
boxes, no +1 pixel). The work is done by OpenCV's ``cv2.dnn.NMSBoxesBatched``, with two of its
behaviours worked around:

- it separates classes by shifting each class's boxes by class_id * (largest coordinate + 1),
  which only keeps classes apart when no coordinate is negative (boxes that start left of or
  above the image are common), so the boxes are translated to start at 0 first, and class ids
  are renumbered 0..K-1 to keep the shifts small;
- its ``top_k`` cuts the candidates *before* suppression (a suppressed box then takes the place
  of a later survivor), so it is left at 0 and the result is cut to ``max_detections`` after.

Boxes with NaN/inf, zero or negative width or height, and non-finite scores are dropped first.
Equal scores keep their input order (OpenCV sorts stably).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from adas.detect.kernels import nested_keep, nms_candidates
from adas.errors import ConfigError, ContractError

IntArray = npt.NDArray[np.int64]

# OpenCV's stubs ask for Python sequences; the binding takes numpy arrays as they are, which
# saves converting every box to a list.
_nms_boxes_batched: Any = cv2.dnn.NMSBoxesBatched


def nms(
    xyxy: npt.ArrayLike,
    score: npt.ArrayLike,
    class_id: npt.ArrayLike,
    iou_threshold: float,
    max_detections: int = 300,
) -> IntArray:
    """Indices of the kept boxes, in descending score order (at most ``max_detections``)."""
    boxes = np.asarray(xyxy, np.float64)
    scores = np.asarray(score, np.float32)
    classes = np.asarray(class_id)
    n = boxes.shape[0] if boxes.ndim == 2 else -1
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (n,) or classes.shape != (n,):
        msg = (
            f"nms needs xyxy N x 4, score N and class_id N; got shapes {list(boxes.shape)}, "
            f"{list(scores.shape)}, {list(classes.shape)}"
        )
        raise ContractError(msg)
    if not 0.0 <= iou_threshold <= 1.0:
        msg = f"iou_threshold = {iou_threshold} must be in [0, 1]"
        raise ConfigError(msg)
    if max_detections < 1:
        msg = f"max_detections = {max_detections} must be >= 1"
        raise ConfigError(msg)
    if classes.dtype == np.int64:  # class ids as the detector has them: one compiled pass
        idx, rects, dense, exact = nms_candidates(boxes, scores, classes)
        if not exact:  # a zero of both signs at the smallest x or y: numpy's translation
            idx, rects, dense = _candidates(boxes, scores, classes)
    else:
        idx, rects, dense = _candidates(boxes, scores, classes)
    if idx.size == 0:
        return np.zeros(0, np.int64)
    kept = _nms_boxes_batched(rects, scores[idx], dense, -np.inf, float(iou_threshold))
    order = np.asarray(kept, np.int64).reshape(-1)[:max_detections]
    return idx[order]


def _candidates(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray
) -> tuple[IntArray, np.ndarray, np.ndarray]:
    """:func:`adas.detect.kernels.nms_candidates` for class ids of any dtype."""
    with np.errstate(invalid="ignore"):
        valid = (
            np.isfinite(boxes).all(axis=1)
            & np.isfinite(scores)
            & (boxes[:, 2] > boxes[:, 0])
            & (boxes[:, 3] > boxes[:, 1])
        )
    idx = np.flatnonzero(valid)
    b = boxes[idx]
    x0, y0 = (b[:, 0].min(), b[:, 1].min()) if idx.size else (0.0, 0.0)
    rects = np.column_stack([b[:, 0] - x0, b[:, 1] - y0, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])
    _, dense = np.unique(classes[idx], return_inverse=True)
    return idx, rects, dense.astype(np.int32).reshape(-1)


# How far below a containing box's bottom edge (a fraction of its height) a nested box's may
# reach and still be taken for a part of it. The rule errs towards keeping: the detector's
# bottom edge scatters by 5-9 % of the height (docs/sensor-model.md), so some parts whose
# bottom lands lower stay (a precision cost), while a vehicle nearer by 10 % of the
# container's height in image rows is never dropped (a car 15 m ahead of a bus at 20 m is 17 %).
NEARER_TOL = 0.1


def suppress_nested(
    xyxy: npt.ArrayLike, score: npt.ArrayLike, group: npt.ArrayLike, fraction: float
) -> IntArray:
    """Indices of the boxes kept, in descending score order: a box is dropped when at least
    ``fraction`` of its area lies inside one kept box of the same ``group`` scoring at least
    as high, and its bottom edge is not below that box's bottom edge by more than
    :data:`NEARER_TOL` of that box's height. Rows of a negative group are never dropped and
    drop nothing; ``fraction`` > 1 drops nothing.

    What it removes is what NMS cannot see: a part of a vehicle boxed on its own (the rear of
    a car whose front a closer car hides, one car of a row boxed inside the box of the row)
    has a small IoU with the whole box but lies inside it. A part of a vehicle stands on the
    same ground as the whole, or behind it (a car of a row, or seen past it): its bottom edge
    is at or above the whole box's. A box reaching lower stands nearer on a flat road, so it is
    another object in front (a car ahead of a big bus further on), and is never dropped.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    scores = np.asarray(score, np.float64).reshape(-1)
    groups = np.asarray(group, np.int64).reshape(-1)
    if not len(boxes) == len(scores) == len(groups):
        msg = f"suppress_nested needs N boxes, scores and groups; got {len(boxes)}, "
        msg += f"{len(scores)}, {len(groups)}"
        raise ContractError(msg)
    # One compiled pass (adas.detect.kernels.nested_keep): per candidate in descending score,
    # the share of its area inside each kept box of its group, in float64 as numpy would.
    return nested_keep(boxes, scores, groups, float(fraction), NEARER_TOL)


def vehicle_groups(vehicles: list[int], n_classes: int) -> tuple[IntArray, IntArray]:
    """Per class id: its NMS group (the ``vehicles`` share the smallest of their ids, every
    other class is its own) and its nested-box group (0 for the vehicles, -1: none)."""
    nms_group = np.arange(n_classes, dtype=np.int64)
    nested_group = np.full(n_classes, -1, np.int64)
    if vehicles:
        nms_group[vehicles] = min(vehicles)
        nested_group[vehicles] = 0
    return nms_group, nested_group
