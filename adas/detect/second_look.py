"""A second look at uncertain pedestrians, cyclists and motorcyclists, at a higher resolution.

The detector's first pass sees a KITTI pedestrian 40 m away about 25 px tall (two tiles draw
the band at 0.6 of its size), and at that size a road sign on a post, a red-and-white beacon
or a bollard scores like a person: on the shared KITTI frames every false pedestrian above
0.35 that was not a cyclist's rider was one of those (keep-right signs, beacons, a bollard, a
parked bicycle). Seen again at two to four times the size the model tells them apart:
cropped around the candidate and re-detected, true pedestrians scored 0.5-0.9 and the signs
and beacons mostly 0.0, at most 0.4 (measured on ``kitti/object`` and ``kitti/object_val``;
docs/vru.md).

So each candidate of a class that gets a second look (``[detect] second_look_classes``) whose
first-pass score lies in ``[second_look_min_score, second_look_accept_score)``, and which the
crop would draw at least ``second_look_min_zoom`` times larger than the first pass did, is
cropped (a square of ``second_look_crop`` times its larger side, centred on it, moved inside
the image); the crops are packed ``second_look_grid`` x ``second_look_grid`` into a model
input, as many inputs as needed for at most ``second_look_max_crops`` crops (highest first-pass
scores first; the rest keep their first-pass score). A candidate's score becomes the best
score of the second pass's detections of its class that overlap it at IoU >=
``second_look_iou``, and its box that detection's box (drawn from more pixels); 0 (dropped)
when there is none. The two-wheelers the second pass finds are offered to the rider fusion
(:mod:`adas.detect.riders`) as partners: a rider whose bicycle the first pass missed at 30 px
is often found at 90.

Candidates at or above ``second_look_accept_score`` are kept as they are. The second look
costs one more model run per ``second_look_grid``^2 crops on a frame that has uncertain
candidates, none on the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adas.detect import classes as coco
from adas.detect.nms import nms
from adas.detect.riders import TWO_WHEELERS
from adas.detect.tiling import iou
from adas.types import IntArray

if TYPE_CHECKING:
    from adas.detect.detector import Detector, PreparedInput


@dataclass(frozen=True)
class Cell:
    """One crop: its image region ``(x, y, w, h)`` and the input pixels it fills."""

    roi: tuple[int, int, int, int]
    slot_x: int
    slot_y: int
    side: int


def crop_roi(
    box: np.ndarray, image_wh: tuple[int, int], factor: float
) -> tuple[int, int, int, int]:
    """A square region ``factor`` times the box's larger side, centred on it, moved inside
    the image (cut to it when larger); even x and width (YUYV pairs pixels)."""
    iw, ih = image_wh
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(factor * max(x2 - x1, y2 - y1), 2.0)
    w = min(math.ceil(side / 2.0) * 2, iw - iw % 2)
    h = min(math.ceil(side), ih)
    x = round(0.5 * (x1 + x2) - 0.5 * w)
    y = round(0.5 * (y1 + y2) - 0.5 * h)
    x = min(max(x, 0), iw - w) // 2 * 2
    y = min(max(y, 0), ih - h)
    return x, y, max(w, 2), max(h, 1)


def plan_cells(
    boxes: np.ndarray,
    image_wh: tuple[int, int],
    model_wh: tuple[int, int],
    factor: float,
    grid: int,
) -> list[list[Cell]]:
    """The crops of ``boxes`` in the given order, ``grid`` x ``grid`` to a model input: one
    list of cells per model run."""
    side = min(model_wh) // grid
    per = grid * grid
    return [
        [
            Cell(crop_roi(boxes[i], image_wh, factor), (k % grid) * side, (k // grid) * side, side)
            for k, i in enumerate(range(start, min(start + per, len(boxes))))
        ]
        for start in range(0, len(boxes), per)
    ]


def rescore(
    xyxy: np.ndarray,
    class_id: IntArray,
    looked: np.ndarray,
    second: tuple[np.ndarray, np.ndarray, IntArray],
    iou_min: float,
) -> tuple[np.ndarray, np.ndarray]:
    """New boxes and scores of the rows ``looked`` (indices into ``xyxy``): the best second-
    pass detection of the row's class at IoU >= ``iou_min``; score 0 where none is."""
    sx, ss, sc = second
    boxes = np.array(xyxy[looked], np.float32, copy=True).reshape(-1, 4)
    scores = np.zeros(len(looked), np.float32)
    if not len(sx) or not len(looked):
        return boxes, scores
    overlap = iou(boxes.astype(np.float64), np.asarray(sx, np.float64))
    same = class_id[looked][:, None] == sc[None, :]
    cand = np.where(same & (overlap >= iou_min), ss[None, :], -1.0)
    best = cand.argmax(axis=1)
    hit = cand[np.arange(len(looked)), best] >= 0.0
    boxes[hit] = sx[best[hit]]
    scores[hit] = ss[best[hit]]
    return boxes, scores


def partners(second: tuple[np.ndarray, np.ndarray, IntArray]) -> np.ndarray:
    """Rows of the second pass that are two-wheelers (rider-fusion partners)."""
    return np.flatnonzero(np.isin(second[2], TWO_WHEELERS))


def second_look(
    det: Detector, prepared: PreparedInput, xyxy: np.ndarray, score: np.ndarray, cls: IntArray
) -> tuple[np.ndarray, np.ndarray, IntArray, tuple[np.ndarray, np.ndarray, IntArray]]:
    """Uncertain candidates re-scored on crops at a higher resolution (one more model run,
    only when there are some); returns the rows and the second pass's two-wheelers."""
    cfg = det.config
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    uncertain = det.look_classes[cls] & (score < cfg.second_look_accept_score)
    if not uncertain.any():
        return xyxy, score, cls, empty
    # Only where the crop draws the object at least second_look_min_zoom times larger than
    # the first pass did: a big near object gains nothing from a second look.
    cell = min(det.session.input_wh) // cfg.second_look_grid
    side = cfg.second_look_crop * np.max(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    zoom = cell / np.maximum(side, 1e-9) / prepared.layout.scale
    rows = np.flatnonzero(uncertain & (zoom >= cfg.second_look_min_zoom))
    if not rows.size or prepared.image is None:
        return xyxy, score, cls, empty
    rows = rows[: cfg.second_look_max_crops]  # NMS left them in descending score
    w, h = prepared.layout.image_wh
    passes = plan_cells(
        xyxy[rows], (w, h), det.session.input_wh, cfg.second_look_crop, cfg.second_look_grid
    )
    found = [_run_cells(det, prepared, cells) for cells in passes]
    second = (
        np.concatenate([f[0] for f in found]).reshape(-1, 4),
        np.concatenate([f[1] for f in found]),
        np.concatenate([f[2] for f in found]),
    )
    boxes, scores = rescore(xyxy, cls, rows, second, cfg.second_look_iou)
    xyxy, score = xyxy.copy(), score.copy()
    xyxy[rows], score[rows] = boxes, scores
    wheels = partners(second)
    return xyxy, score, cls, (second[0][wheels], second[1][wheels], second[2][wheels])


def _run_cells(
    det: Detector, prepared: PreparedInput, cells: list[Cell]
) -> tuple[np.ndarray, np.ndarray, IntArray]:
    """The model on ``cells`` packed in one input: ADAS-class boxes in image pixels."""
    assert prepared.image is not None
    fmt, (w, h) = prepared.pixel_format, prepared.layout.image_wh
    tensor = np.empty(
        (1, det.session.channels, det.session.input_h, det.session.input_w), np.float32
    )
    tensor[0] = det.pad_values()[:, None, None]
    transforms = []
    backend = "opencv" if det.config.preprocess_backend == "fpga" else None
    for c in cells:
        pre = det.preprocessor(fmt, (w, h), (c.side, c.side), c.roi, "letterbox", "center", backend)
        part, tf = pre(prepared.image)
        tensor[:, :, c.slot_y : c.slot_y + c.side, c.slot_x : c.slot_x + c.side] = part
        transforms.append(tf)
    # Unbound: a pipelined replay decodes this frame while the model runs the next one.
    outputs = det.session.run(tensor, bound=False)
    raw = det.decode(
        outputs, det.session.input_wh, det.candidate_floor, output_names=det.session.output_names
    )
    label, known = coco.map_labels(raw.label, det.label_table)
    b, sc, label = raw.xyxy[known], raw.score[known], label[known]
    keep = sc >= det.candidate_floors[label]
    b, sc, label = b[keep], sc[keep], label[keep]
    cx, cy = 0.5 * (b[:, 0] + b[:, 2]), 0.5 * (b[:, 1] + b[:, 3])
    out = np.zeros_like(b)
    cell = np.full(len(b), -1, np.int64)
    for i, (c, tf) in enumerate(zip(cells, transforms, strict=True)):
        sel = (cx >= c.slot_x) & (cx < c.slot_x + c.side) & (cy >= c.slot_y)
        sel &= (cy < c.slot_y + c.side) & (cell < 0)
        local = b[sel] - np.array([c.slot_x, c.slot_y, c.slot_x, c.slot_y], np.float32)
        img = tf.to_image(local)
        x, y, cw, ch = c.roi
        np.clip(img[:, 0::2], x, x + cw, out=img[:, 0::2])
        np.clip(img[:, 1::2], y, y + ch, out=img[:, 1::2])
        out[sel], cell[sel] = img, i
    use = cell >= 0
    out, sc, label = out[use], sc[use], label[use]
    idx = nms(out, sc, label, det.config.nms_iou, det.config.max_detections)
    return out[idx], sc[idx], label[idx]
