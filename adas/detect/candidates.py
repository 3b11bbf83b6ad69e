"""A model run's decoded rows -> the first pass's candidates in image pixels, before the seams
of the tiles are resolved and NMS runs: ADAS classes, each class's candidate floor, the tile
that drew each box, and the box mapped back to the image and clipped to its tile.

Usually one compiled pass (:func:`adas.detect.kernels.image_candidates`) over tables built
once per tile layout (:func:`tile_tables`); the numpy steps it reproduces bit for bit are
the path for box transforms other than a letterbox.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adas.detect import classes as coco
from adas.detect import kernels
from adas.detect.tiling import Layout
from adas.preprocess_plan import LetterboxTransform
from adas.types import IntArray

__all__ = ["TileTableCache", "TileTables", "image_candidates", "tile_tables"]

# Tiles (x, y, w, h, slot_y, slot_h), their transforms (kernels.SCALE_X ..) and the smallest
# box side as float32.
TileTables = tuple[np.ndarray, np.ndarray, np.float32]


def tile_tables(layout: Layout, transforms: list[Any], min_box_px: float) -> TileTables | None:
    """What the kernel reads of a layout and its transforms, or None where it would not
    compute as numpy does: a transform other than a letterbox, or a minimum side that is not
    a Python number (numpy compares float32 with those as float32)."""
    if type(min_box_px) not in (int, float) or not all(
        type(tf) is LetterboxTransform for tf in transforms
    ):
        return None
    tiles = np.array([[t.x, t.y, t.w, t.h, t.slot_y, t.slot_h] for t in layout.tiles], np.int64)
    tfs = np.array(
        [
            [tf.scale_x, tf.scale_y, tf.pad_x, tf.pad_y, tf.roi_x, tf.roi_y, tf.image_w, tf.image_h]
            for tf in transforms
        ],
        np.float64,
    )
    return tiles, tfs, np.float32(min_box_px)


class TileTableCache:
    """:func:`tile_tables` of each layout and its transforms, built once (the objects are
    held, so their ids, the keys, cannot be reused while an entry lives)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, ...], tuple[Any, ...]] = {}

    def get(self, layout: Layout, transforms: list[Any], min_box_px: float) -> TileTables | None:
        key = (id(layout), *map(id, transforms), id(min_box_px))
        hit = self._entries.get(key)
        if hit is None:
            tables = tile_tables(layout, transforms, min_box_px)
            hit = self._entries[key] = (layout, tuple(transforms), min_box_px, tables)
        return hit[-1]

    def clear(self) -> None:
        self._entries.clear()


def image_candidates(
    layout: Layout,
    transforms: list[Any],
    tables: TileTables | None,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    label_table: IntArray,
    floors: np.ndarray,
    min_box_px: float,
) -> tuple[np.ndarray, np.ndarray, IntArray, IntArray]:
    """Decoded ``rows`` (boxes in model-input pixels, float32 scores, int64 labels) -> the
    candidates (boxes float32, scores, ADAS class, tile), in row order: the rows whose label
    maps to a class (``label_table``) scoring at least its floor (``floors``, float32 per
    class), drawn by a tile (the first whose slot holds the box's centre row), and finite and
    at least ``min_box_px`` on both sides once mapped and clipped to that tile. ``tables``:
    :func:`tile_tables` of the layout, or None for the numpy path."""
    xyxy, score, label = rows
    if tables is not None:
        return kernels.image_candidates(xyxy, score, label, label_table, floors, *tables)
    cls, known = coco.map_labels(label, label_table)
    xyxy, score, cls = xyxy[known], score[known], cls[known]
    ok = score >= floors[cls]
    xyxy, score, cls = xyxy[ok], score[ok], cls[ok]
    # Which tile drew each box: the slot holding its centre row.
    cy = 0.5 * (xyxy[:, 1] + xyxy[:, 3])
    tile = np.full(len(xyxy), -1, np.int64)
    out = np.empty_like(xyxy, dtype=np.float32)
    for i, (t, tf) in enumerate(zip(layout.tiles, transforms, strict=True)):
        sel = (cy >= t.slot_y) & (cy < t.slot_y + t.slot_h) & (tile < 0)
        if not sel.any():
            continue
        local = xyxy[sel].astype(np.float32).copy()
        local[:, [1, 3]] -= t.slot_y
        img = tf.to_image(local)
        # Boxes reaching into the letterbox padding end at the tile's edge.
        np.clip(img[:, 0::2], t.x, t.x + t.w, out=img[:, 0::2])
        np.clip(img[:, 1::2], t.y, t.y + t.h, out=img[:, 1::2])
        out[sel] = img
        tile[sel] = i
    use = tile >= 0
    out, score, cls, tile = out[use], score[use].astype(np.float32), cls[use], tile[use]
    wh = out[:, 2:] - out[:, :2]
    good = np.isfinite(out).all(axis=1) & (wh.min(axis=1) >= min_box_px)
    return out[good], score[good], cls[good], tile[good]
