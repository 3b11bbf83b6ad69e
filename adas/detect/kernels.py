"""Numba kernels of the detector's per-frame postprocessing: the YOLO heads' row selection,
NMS's candidate rows and the nested-box suppression.

A frame leaves a few to a few hundred candidate rows, where each numpy call costs more than
its arithmetic: these loops do in one call what took 10-30 small array calls, with the same
float32 / float64 operations in the same order, so every result is bit for bit the numpy
one (tests/adas/detect/test_kernels.py holds the numpy versions and compares). Compiled with
explicit signatures when first imported (then cached in ``__pycache__``), so no frame waits
for a compilation.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = [
    "grid_boxes", "image_candidates", "nested_keep", "nms_candidates", "objectness_rows",
    "seam_cuts",
]  # fmt: skip


@numba.njit(
    "Tuple((i8[::1], f4[::1], i8[::1]))(f4[:, :], f4)", cache=True, nogil=True, error_model="numpy"
)
def objectness_rows(
    rows: np.ndarray, threshold: np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row numbers, score = objectness x best class, label) of the rows of N x (5 + C)
    scores (objectness in column 4) whose score reaches ``threshold``; NaN fails.

    The best class is numpy's ``argmax``: the first maximum, or the first NaN. Objectness
    below the threshold skips the arg-max (class scores are probabilities, <= 1).
    """
    n, c = rows.shape
    idx = np.empty(n, np.int64)
    score = np.empty(n, np.float32)
    label = np.empty(n, np.int64)
    k = 0
    for r in range(n):
        obj = rows[r, 4]
        if not obj >= threshold:
            continue
        best = 5
        top = rows[r, 5]
        if not math.isnan(top):
            for j in range(6, c):
                v = rows[r, j]
                if not v <= top:  # larger, or NaN: numpy's arg-max stops at the first NaN
                    best, top = j, v
                    if math.isnan(v):
                        break
        s = obj * rows[r, best]
        if s >= threshold:
            idx[k], score[k], label[k] = r, s, best - 5
            k += 1
    return idx[:k].copy(), score[:k].copy(), label[:k].copy()


_RO_F4 = "Array(float32, 1, 'A', readonly=True)"  # the cached grids of heads.common


@numba.njit(
    f"f4[:, ::1](f4[:, :], i8[:], {_RO_F4}, {_RO_F4}, {_RO_F4}, f4[:], f4[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def grid_boxes(
    rows: np.ndarray,
    cells: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    stride: np.ndarray,
    exp_w: np.ndarray,
    exp_h: np.ndarray,
) -> np.ndarray:
    """x1, y1, x2, y2 (float32, N x 4) of a grid head's rows: centre ((p0 + gx) s,
    (p1 + gy) s) and size (exp(p2) s, exp(p3) s) of the row's grid ``cells``, the
    exponentials given (numpy's, whose float32 ``exp`` need not be the C library's)."""
    n = rows.shape[0]
    out = np.empty((n, 4), np.float32)
    half = np.float32(0.5)
    for r in range(n):
        c = cells[r]
        s = stride[c]
        cx = (rows[r, 0] + gx[c]) * s
        cy = (rows[r, 1] + gy[c]) * s
        w = exp_w[r] * s
        h = exp_h[r] * s
        out[r, 0] = cx - half * w
        out[r, 1] = cy - half * h
        out[r, 2] = cx + half * w
        out[r, 3] = cy + half * h
    return out


@numba.njit("b1[::1](f4[:, :], i8[:], b1[:], f4[:], b1[:], f4[:])", cache=True, nogil=True)
def seam_cuts(
    xyxy: np.ndarray,
    tile: np.ndarray,
    left_in: np.ndarray,
    left_at: np.ndarray,
    right_in: np.ndarray,
    right_at: np.ndarray,
) -> np.ndarray:
    """Rows cut by an inner edge of their tile (:func:`adas.detect.tiling.merge_tiles`):
    x1 at or left of ``left_at`` where the tile's left edge is inside the image, or x2 at or
    right of ``right_at`` where its right edge is (per tile, float32 as numpy compares)."""
    n, m = xyxy.shape[0], left_in.size
    cut = np.zeros(n, np.bool_)
    for i in range(n):
        t = tile[i] + m if tile[i] < 0 else tile[i]  # a Python index of the tiles
        if not 0 <= t < m:
            raise IndexError("tile index out of range")
        cut[i] = (left_in[t] and xyxy[i, 0] <= left_at[t]) or (
            right_in[t] and xyxy[i, 2] >= right_at[t]
        )
    return cut


# Columns of the per-tile tables of image_candidates: the tile's image region and its rows of
# the model input (adas.detect.tiling.Tile), and its letterbox transform
# (adas.preprocess_plan.LetterboxTransform).
TILE_X, TILE_Y, TILE_W, TILE_H, SLOT_Y, SLOT_H = range(6)
SCALE_X, SCALE_Y, PAD_X, PAD_Y, ROI_X, ROI_Y, IMAGE_W, IMAGE_H = range(8)


@numba.njit(cache=True, inline="always")
def _clip(x: Any, lo: Any, hi: Any) -> Any:
    """``np.clip`` of one float as numpy clips: NaN stays NaN, and a bound equal to ``x``
    leaves ``x`` (-0.0 stays -0.0 at a bound of 0.0)."""
    if math.isnan(x):
        return x
    x = x if x >= lo else lo
    return x if x <= hi else hi


@numba.njit(
    # The label table may be a read-only module constant (adas.detect.classes).
    "Tuple((f4[:, ::1], f4[::1], i8[::1], i8[::1]))(f4[:, :], f4[:], i8[:], "
    "Array(int64, 1, 'A', readonly=True), f4[:], i8[:, :], f8[:, :], f4)",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def image_candidates(
    xyxy: np.ndarray,
    score: np.ndarray,
    label: np.ndarray,
    table: np.ndarray,
    floors: np.ndarray,
    tiles: np.ndarray,
    transforms: np.ndarray,
    min_box: np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decoded rows (model-input pixels) -> candidates in image pixels, before the seams and
    NMS: (boxes, scores, class, tile) of the rows whose label maps to a class (``table``, -1:
    none) scoring at least its floor, drawn by a tile (the first whose slot holds the box's
    centre row), finite and at least ``min_box`` px on both sides once mapped and clipped to
    the tile. Row order is kept. The float32 / float64 steps of the numpy original
    (``Detector._to_image`` with ``LetterboxTransform.to_image``), in its order."""
    n = xyxy.shape[0]
    out = np.empty((n, 4), np.float32)
    sc = np.empty(n, np.float32)
    cls = np.empty(n, np.int64)
    tile = np.empty(n, np.int64)
    half = np.float32(0.5)
    m = 0
    for r in range(n):
        lab = label[r]
        c = table[lab] if 0 <= lab < table.size else -1
        if c < 0 or not score[r] >= floors[c]:
            continue
        cy = half * (xyxy[r, 1] + xyxy[r, 3])
        t = -1
        for i in range(tiles.shape[0]):
            if cy >= tiles[i, SLOT_Y] and cy < tiles[i, SLOT_Y] + tiles[i, SLOT_H]:
                t = i
                break
        if t < 0:
            continue
        tf = transforms[t]
        slot = np.float32(tiles[t, SLOT_Y])
        for j in range(4):
            v = xyxy[r, j] if j % 2 == 0 else xyxy[r, j] - slot
            if j % 2 == 0:
                img = (np.float64(v) - tf[PAD_X]) / tf[SCALE_X] + tf[ROI_X]
                img = _clip(img, 0.0, tf[IMAGE_W])
                lo, hi = tiles[t, TILE_X], tiles[t, TILE_X] + tiles[t, TILE_W]
            else:
                img = (np.float64(v) - tf[PAD_Y]) / tf[SCALE_Y] + tf[ROI_Y]
                img = _clip(img, 0.0, tf[IMAGE_H])
                lo, hi = tiles[t, TILE_Y], tiles[t, TILE_Y] + tiles[t, TILE_H]
            out[m, j] = _clip(np.float32(img), np.float32(lo), np.float32(hi))
        w = out[m, 2] - out[m, 0]
        h = out[m, 3] - out[m, 1]
        finite = (
            math.isfinite(out[m, 0])
            and math.isfinite(out[m, 1])
            and math.isfinite(out[m, 2])
            and math.isfinite(out[m, 3])
        )
        if finite and min(w, h) >= min_box:
            sc[m], cls[m], tile[m] = score[r], c, t
            m += 1
    return out[:m].copy(), sc[:m].copy(), cls[:m].copy(), tile[:m].copy()


@numba.njit(
    "Tuple((i8[::1], f8[:, ::1], i4[::1], b1))(f8[:, :], f4[:], i8[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def nms_candidates(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> tuple:
    """What :func:`adas.detect.nms.nms` hands OpenCV: the rows with finite boxes of positive
    size and finite scores, their (x, y, w, h) translated so the smallest x and y are 0, and
    their classes renumbered 0..K-1 in ascending order (``np.unique``'s inverse).

    The last value is False where the smallest x or y is a zero that occurs with both signs:
    which one numpy's ``min`` returns depends on its vector reduction, so the caller takes
    the translation from numpy then."""
    n = boxes.shape[0]
    idx = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        x1, y1, x2, y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        finite = math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)
        if finite and math.isfinite(scores[i]) and x2 > x1 and y2 > y1:
            idx[k] = i
            k += 1
    idx = idx[:k].copy()
    rects = np.empty((k, 4))
    dense = np.empty(k, np.int32)
    if k == 0:
        return idx, rects, dense, True
    x0, y0 = boxes[idx[0], 0], boxes[idx[0], 1]
    signs = np.zeros(4, np.bool_)  # x: +0.0, -0.0 seen; y: +0.0, -0.0 seen
    for r in range(k):
        x0 = min(x0, boxes[idx[r], 0])
        y0 = min(y0, boxes[idx[r], 1])
        for c in range(2):
            v = boxes[idx[r], c]
            if v == 0.0:
                signs[2 * c + int(math.copysign(1.0, v) < 0.0)] = True
    exact = not ((x0 == 0.0 and signs[0] and signs[1]) or (y0 == 0.0 and signs[2] and signs[3]))
    values = np.empty(k, np.int64)
    for r in range(k):
        i = idx[r]
        rects[r, 0] = boxes[i, 0] - x0
        rects[r, 1] = boxes[i, 1] - y0
        rects[r, 2] = boxes[i, 2] - boxes[i, 0]
        rects[r, 3] = boxes[i, 3] - boxes[i, 1]
        values[r] = classes[i]
    ordered = np.sort(values)
    distinct = np.empty(k, np.int64)
    m = 0
    for v in ordered:
        if m == 0 or v != distinct[m - 1]:
            distinct[m] = v
            m += 1
    ranks = np.searchsorted(distinct[:m], values)
    for r in range(k):
        dense[r] = ranks[r]
    return idx, rects, dense, exact


@numba.njit(cache=True, inline="always")
def _min_nan(a: float, b: float) -> float:
    """``np.minimum`` of two floats: NaN if either is."""
    return a + b if math.isnan(a) or math.isnan(b) else min(a, b)


@numba.njit(cache=True, inline="always")
def _max_nan(a: float, b: float) -> float:
    """``np.maximum`` of two floats: NaN if either is."""
    return a + b if math.isnan(a) or math.isnan(b) else max(a, b)


@numba.njit(cache=True, inline="always")
def _clip0(a: float) -> float:
    """``np.clip(a, 0, None)``: NaN stays NaN."""
    return 0.0 if a < 0.0 else a


@numba.njit("i8[::1](f8[:, :], f8[:], i8[:], f8, f8)", cache=True, nogil=True, error_model="numpy")
def nested_keep(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, fraction: float, nearer_tol: float
) -> np.ndarray:
    """The greedy loop of :func:`adas.detect.nms.suppress_nested` (its docstring has the
    rule): rows in descending score (stable, NaN last), each dropped when a kept row of its
    group holds at least ``fraction`` of it and no kept row of its group gives NaN."""
    n = boxes.shape[0]
    # np.argsort(-scores, kind="stable"): an insertion sort, NaN after every number.
    order = np.empty(n, np.int64)
    for i in range(n):
        key = -scores[i]
        j = i
        while j > 0:
            prev = -scores[order[j - 1]]
            if key < prev or (math.isnan(prev) and not math.isnan(key)):
                order[j] = order[j - 1]
                j -= 1
            else:
                break
        order[j] = i
    area = np.empty(n)
    for i in range(n):
        area[i] = _clip0(boxes[i, 2] - boxes[i, 0]) * _clip0(boxes[i, 3] - boxes[i, 1])
    kept = np.empty(n, np.int64)
    m = 0
    for o in range(n):
        i = order[o]
        g = groups[i]
        if g >= 0 and area[i] > 0.0:
            others = covered = undefined = False
            for q in range(m):
                j = kept[q]
                if groups[j] != g:
                    continue
                others = True
                w = _min_nan(boxes[j, 2], boxes[i, 2]) - _max_nan(boxes[j, 0], boxes[i, 0])
                h = _min_nan(boxes[j, 3], boxes[i, 3]) - _max_nan(boxes[j, 1], boxes[i, 1])
                inside = _clip0(w) * _clip0(h) / area[i]
                b3, b1 = boxes[j, 3], boxes[j, 1]
                nearer = boxes[i, 3] > b3 + nearer_tol * (b3 - b1)
                value = inside * (0.0 if nearer else 1.0)
                if math.isnan(value):
                    undefined = True
                elif value >= fraction:
                    covered = True
            if others and covered and not undefined:
                continue
        kept[m] = i
        m += 1
    return kept[:m].copy()
