"""The detector's compiled kernels against the numpy code they replace (kept here as the
reference): bit for bit on random rows with NaN, inf, ties, empty and edge-of-threshold
values."""

from __future__ import annotations

import numpy as np
import pytest

from adas.detect import kernels
from adas.detect.candidates import image_candidates, tile_tables
from adas.detect.nms import NEARER_TOL, nms, suppress_nested
from adas.detect.tiling import Layout, Tile, merge_tiles, plan_layout
from adas.preprocess_plan import LetterboxTransform

SEEDS = range(40)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bits (any NaN equals any NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    if a.dtype.kind == "f" and not np.array_equal(nan, np.isnan(b)):
        return False
    return a[~nan].tobytes() == b[~nan].tobytes()


def spoil(rng: np.random.Generator, a: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """``a`` with a fraction of its entries NaN, +inf or -inf."""
    a = a.copy()
    hit = rng.random(a.shape) < frac
    a[hit] = rng.choice([np.nan, np.inf, -np.inf], int(hit.sum()))
    return a


def obj_cls_reference(rows: np.ndarray, thr: float) -> tuple[np.ndarray, ...]:
    idx = np.flatnonzero(rows[:, 4] >= thr)
    cls = rows[idx, 5:]
    label = cls.argmax(axis=1)
    score = rows[idx, 4] * cls[np.arange(idx.size), label]
    keep = score >= thr
    return idx[keep], score[keep], label[keep]


@pytest.mark.parametrize("seed", SEEDS)
def test_objectness_rows_is_numpys_selection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(0, 400)), int(rng.integers(6, 40))
    rows = rng.choice([-0.0, 0.0, 0.15, 0.5, 1.0], (n, c)).astype(np.float32)  # ties
    rows[:, 4] = rng.random(n).astype(np.float32)
    rows = spoil(rng, rows, 0.05) if seed % 2 else rows
    for thr in (0.0, 0.15000000596046448, 0.15 + 1e-9, 0.5, 1.0):
        got = kernels.objectness_rows(rows, np.float32(thr))
        for a, b in zip(got, obj_cls_reference(rows, thr), strict=True):
            assert same(a, b)


def nested_reference(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, fraction: float
) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    with np.errstate(divide="ignore", invalid="ignore"):
        area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
        area *= np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
        w = np.minimum(boxes[None, :, 2], boxes[:, None, 2]) - np.maximum(
            boxes[None, :, 0], boxes[:, None, 0]
        )
        h = np.minimum(boxes[None, :, 3], boxes[:, None, 3]) - np.maximum(
            boxes[None, :, 1], boxes[:, None, 1]
        )
        inside = np.clip(w, 0, None) * np.clip(h, 0, None) / area[:, None]
        b3, b1 = boxes[None, :, 3], boxes[None, :, 1]
        nearer = boxes[:, None, 3] > b3 + NEARER_TOL * (b3 - b1)
        value = inside * ~nearer
        covered = (value >= fraction).tolist()
        undefined = np.isnan(value).tolist()
    can_drop = ((groups >= 0) & (area > 0)).tolist()
    group_of = groups.tolist()
    kept: list[int] = []
    for i in order.tolist():
        if can_drop[i]:
            g, cov, nan = group_of[i], covered[i], undefined[i]
            others = [j for j in kept if group_of[j] == g]
            if others and any(cov[j] for j in others) and not any(nan[j] for j in others):
                continue
        kept.append(i)
    return np.asarray(kept, np.int64)


def random_boxes(rng: np.random.Generator, n: int, grid: bool) -> np.ndarray:
    """Boxes in a small area (much nesting); on a coarse grid for exact ties and touches."""
    xy = rng.uniform(-20, 200, (n, 2))
    wh = rng.uniform(-5, 120, (n, 2))
    b = np.column_stack([xy, xy + wh])
    return np.round(b / 10) * 10 if grid else b


@pytest.mark.parametrize("seed", SEEDS)
def test_nested_keep_is_the_numpy_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    boxes = random_boxes(rng, n, grid=seed % 3 == 0)
    scores = rng.choice([0.2, 0.5, 0.5, 0.9, -0.0, 0.0], n) if seed % 2 else rng.random(n)
    if seed % 4 == 1:
        boxes, scores = spoil(rng, boxes), spoil(rng, scores)
    groups = rng.integers(-1, 3, n)
    for fraction in (0.0, 0.5, 0.625, 1.0, 1.01):
        got = suppress_nested(boxes, scores, groups, fraction)
        assert same(got, nested_reference(boxes, scores, groups, fraction))


def candidates_reference(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, ...]:
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
    return idx, rects.reshape(-1, 4), dense.astype(np.int32).reshape(-1)


@pytest.mark.parametrize("seed", SEEDS)
def test_nms_candidates_are_numpys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 80))
    boxes = spoil(rng, random_boxes(rng, n, grid=seed % 2 == 0), 0.05 * (seed % 3))
    if seed % 5 == 0:  # zeros of both signs at the smallest x and y
        boxes[:, :2] = np.where(rng.random((n, 2)) < 0.5, -0.0, 0.0)
    scores = spoil(rng, rng.random(n), 0.05 * (seed % 2)).astype(np.float32)
    classes = rng.choice([-3, 0, 2, 2, 5, 10**12], n).astype(np.int64)
    idx, rects, dense, exact = kernels.nms_candidates(boxes, scores, classes)
    ref = candidates_reference(boxes, scores, classes)
    assert same(idx, ref[0]) and same(dense, ref[2])
    # Where the smallest x or y is a zero of both signs, nms translates with numpy's min.
    if exact:
        assert same(rects, ref[1])
    # Class ids of another dtype take the numpy path: the same kept rows.
    assert same(nms(boxes, scores, classes, 0.5), nms(boxes, scores, classes.astype(float), 0.5))


@pytest.mark.parametrize("seed", SEEDS)
def test_grid_boxes_are_the_numpy_corners(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, cells = int(rng.integers(0, 50)), 300
    rows = spoil(rng, rng.normal(0, 3, (n, 8)).astype(np.float32), 0.05)
    idx = rng.integers(0, cells, n)
    gx, gy = (rng.integers(0, 40, cells).astype(np.float32) for _ in range(2))
    st = rng.choice([8, 16, 32], cells).astype(np.float32)
    for a in (gx, gy, st):
        a.flags.writeable = False  # as heads.common caches them
    with np.errstate(over="ignore", invalid="ignore"):
        ew, eh = np.exp(rows[:, 2]), np.exp(rows[:, 3])
        got = kernels.grid_boxes(rows, idx, gx, gy, st, ew, eh)
        s = st[idx]
        cx, cy = (rows[:, 0] + gx[idx]) * s, (rows[:, 1] + gy[idx]) * s
        w, h = ew * s, eh * s
        ref = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
    assert same(got, ref.reshape(-1, 4))


def random_layout(rng: np.random.Generator) -> tuple[Layout, list[LetterboxTransform]]:
    iw, ih = int(rng.integers(200, 1400)), int(rng.integers(150, 800))
    n = int(rng.integers(1, 4))
    layout = plan_layout((iw, ih), (416, 416), tiles=n, band=(int(rng.integers(0, ih // 3)), ih))
    tfs = [
        LetterboxTransform(
            float(rng.uniform(0.2, 1.5)),
            float(rng.uniform(0.2, 1.5)),
            int(rng.choice([0, 0, 7])),
            int(rng.choice([0, 0, 7])),
            t.x,
            t.y,
            image_w=iw,
            image_h=ih,
        )
        for t in layout.tiles
    ]
    return layout, tfs


@pytest.mark.parametrize("seed", SEEDS)
def test_image_candidates_kernel_is_the_numpy_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layout, tfs = random_layout(rng)
    n = int(rng.integers(0, 120))
    xy = rng.uniform(-30, 440, (n, 2))
    xyxy = np.column_stack([xy, xy + rng.uniform(-2, 150, (n, 2))]).astype(np.float32)
    xyxy = spoil(rng, xyxy, 0.03 * (seed % 3))
    xyxy[rng.random(xyxy.shape) < 0.1] = -0.0  # kept at a bound of 0 as numpy keeps it
    score = rng.choice([0.1, 0.15, 0.3, 0.9], n).astype(np.float32)
    label = rng.integers(-2, 12, n).astype(np.int64)
    table = np.array([0, 1, 2, -1, 5, 8, -1, 3, 2, 4], np.int64)
    table.flags.writeable = seed % 2 == 0  # the detector's may be a read-only constant
    floors = rng.choice([0.1, 0.15, 0.3], 9).astype(np.float32)
    for min_box in (0, 2.0, 4.5):
        tables = tile_tables(layout, tfs, min_box)
        assert tables is not None
        args = (xyxy, score, label)
        got = image_candidates(layout, tfs, tables, args, table, floors, min_box)
        ref = image_candidates(layout, tfs, None, args, table, floors, min_box)
        for a, b in zip(got, ref, strict=True):
            assert same(a, b)
    # Not a letterbox, or a numpy scalar as the minimum side: the numpy path.
    assert tile_tables(layout, [object()] * len(tfs), 2.0) is None
    assert tile_tables(layout, tfs, np.float64(2.0)) is None


def cuts_reference(layout: Layout, xyxy: np.ndarray, tile: np.ndarray, tol: float) -> np.ndarray:
    edges = layout.inner_edges
    cut = np.zeros(len(xyxy), bool)
    for i in range(len(xyxy)):
        t = layout.tiles[int(tile[i])]
        left_in, right_in = edges[int(tile[i])]
        cut[i] = (left_in and xyxy[i, 0] <= t.x + tol) or (
            right_in and xyxy[i, 2] >= t.x + t.w - 1 - tol
        )
    return cut


@pytest.mark.parametrize("seed", SEEDS)
def test_seam_cuts_are_the_python_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tiles = (Tile(0, 0, 700, 300, 0, 204), Tile(541, 0, 700, 300, 212, 204))
    layout = Layout(tiles, 0.6, (1241, 300), (416, 416))
    n = int(rng.integers(0, 60))
    x = rng.choice([0.0, 3.0, 3.0000001, 541.0, 544.5, 695.0, 696.0, 1240.0], (n, 2))
    xyxy = spoil(rng, np.column_stack([x[:, 0], x[:, 0], x[:, 1], x[:, 1]]), 0.05)
    xyxy = xyxy.astype(np.float32)
    tile = rng.integers(-2, 2, n).astype(np.int64)
    for tol in (0, 3, 3.0000001, 4.5):
        left = [e[0] for e in layout.inner_edges]
        right = [e[1] for e in layout.inner_edges]
        got = kernels.seam_cuts(
            xyxy, tile, np.array(left), np.array([t.x + tol for t in tiles], np.float32),
            np.array(right), np.array([t.x + t.w - 1 - tol for t in tiles], np.float32),
        )  # fmt: skip
        assert same(got, cuts_reference(layout, xyxy, tile, tol))
    with pytest.raises(IndexError):  # a tile the layout does not have, as the loop raised
        merge_tiles(
            layout, np.array([[0, 0, 9, 9]], np.float32), np.ones(1, np.float32),
            np.zeros(1, np.int64), np.array([2]), edge_tol_px=3.0, cover_fraction=0.8,
        )  # fmt: skip
