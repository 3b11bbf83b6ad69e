"""Where in the image the detector looks: a horizon band, cut into overlapping tiles that are
packed into ONE model input.

Small and distant vehicles matter most, and they sit in a band around the horizon. A wide
frame letterboxed whole into a square input wastes most of the input on padding and shrinks
the cars: KITTI's 1242 x 375 frames become 416 x 126, so a car 40 m away is 13 px wide. Cut
the band into ``n`` overlapping tiles and stack them vertically in the same input instead
(a thin band of padding between them): with two tiles the cars are drawn at almost twice
the size, for one inference. ``plan_layout`` picks ``n`` that draws them largest; on a 16:9
frame that is usually one tile, on KITTI two.

A vehicle that crosses the seam between two tiles is cut by one tile's inner edge. The
overlap is chosen so that a vehicle that fits in it is whole in the other tile; boxes
touching an inner edge are dropped where the neighbouring tile has the whole object, and
merged into their union where both tiles see only a part (:func:`merge_tiles`). Then one
class-aware NMS over everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adas.camera_band import band_rows, horizon_band
from adas.detect.kernels import seam_cuts
from adas.errors import ConfigError

__all__ = ["Layout", "Tile", "band_rows", "horizon_band", "merge_tiles", "plan_layout"]


@dataclass(frozen=True)
class Tile:
    """One tile: image region ``(x, y, w, h)`` and the rows of the model input it fills."""

    x: int
    y: int
    w: int
    h: int
    slot_y: int
    slot_h: int


@dataclass(frozen=True)
class Layout:
    tiles: tuple[Tile, ...]
    scale: float  # image px -> model px
    image_wh: tuple[int, int]
    model_wh: tuple[int, int]

    @property
    def inner_edges(self) -> list[tuple[bool, bool]]:
        """Per tile: (left edge is inside the image, right edge is inside the image)."""
        w = self.image_wh[0]
        return [(t.x > 0, t.x + t.w < w) for t in self.tiles]


def plan_layout(
    image_wh: tuple[int, int],
    model_wh: tuple[int, int],
    *,
    band: tuple[int, int] | None = None,
    tiles: int = 0,
    max_tiles: int = 4,
    overlap_frac: float = 0.12,
    gap_px: int = 8,
) -> Layout:
    """Cut rows ``band`` (default: all) of the image into ``tiles`` (0: the count that draws
    objects largest, up to ``max_tiles``) overlapping tiles stacked in one model input.

    ``overlap_frac`` is the overlap of neighbouring tiles as a fraction of the band width;
    ``gap_px`` rows of padding separate the tiles in the model input.
    """
    iw, ih = image_wh
    mw, mh = model_wh
    if iw < 1 or ih < 1 or mw < 1 or mh < 1:
        msg = f"image {image_wh} and model input {model_wh} sizes must be positive"
        raise ConfigError(msg)
    if not 0.0 <= overlap_frac < 0.5:
        msg = f"config detect.tile_overlap = {overlap_frac} must be in [0, 0.5)"
        raise ConfigError(msg)
    if not 0 <= tiles <= 8 or not 1 <= max_tiles <= 8:
        msg = f"config detect.tiles = {tiles} must be in [0, 8] (0 = automatic)"
        raise ConfigError(msg)
    y0, y1 = band if band is not None else (0, ih)
    if not 0 <= y0 < y1 <= ih:
        msg = f"band rows {band} must satisfy 0 <= y0 < y1 <= {ih}"
        raise ConfigError(msg)
    bh = y1 - y0
    overlap = round(overlap_frac * iw)

    def make(n: int) -> Layout | None:
        slot_h = (mh - gap_px * (n - 1)) // n
        if slot_h < 1:
            return None
        tw = iw if n == 1 else int(np.ceil((iw + (n - 1) * overlap) / n))
        tw = min(tw + (tw % 2), iw)  # even x and w: YUYV shares chroma across pixel pairs
        scale = min(mw / tw, slot_h / bh)
        out = []
        for i in range(n):
            x = 0 if n == 1 else round(i * (iw - tw) / (n - 1) / 2) * 2
            x = iw - tw if i == n - 1 else min(x, iw - tw)
            out.append(Tile(x, y0, tw, bh, i * (slot_h + gap_px), slot_h))
        return Layout(tuple(out), scale, (iw, ih), (mw, mh))

    if tiles:
        layout = make(tiles)
        if layout is None:
            msg = f"{tiles} tiles do not fit in a {mw} x {mh} model input"
            raise ConfigError(msg)
        return layout
    best: Layout | None = None
    for n in range(1, max_tiles + 1):
        cand = make(n)
        if cand is not None and (best is None or cand.scale > best.scale * 1.02):
            best = cand
    assert best is not None  # n = 1 always fits
    return best


def _inter(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N x 4) with every box of ``b`` (M x 4): N x M."""
    inter = _inter(a, b)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _area(a: np.ndarray) -> np.ndarray:
    return np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)


def merge_tiles(
    layout: Layout,
    xyxy: np.ndarray,
    score: np.ndarray,
    label: np.ndarray,
    tile: np.ndarray,
    *,
    edge_tol_px: float,
    cover_fraction: float,
) -> np.ndarray:
    """Resolve objects cut by a tile seam; returns the boxes (image px), modified in place
    for merged ones, as a keep mask over the rows.

    ``tile`` is the tile index of each row. A box is *cut* when one of its edges is within
    ``edge_tol_px`` image pixels of an inner edge of its tile. A cut box at least
    ``cover_fraction`` of whose area lies inside an uncut box of the same label from another
    tile is a part of that object and dropped; cut boxes of the same label from neighbouring
    tiles that overlap are one object seen in two parts and replaced by their union (highest
    score). Both numbers: ``[detect]`` in data/config/default.toml.
    """
    n = len(xyxy)
    keep = np.ones(n, bool)
    if n == 0 or len(layout.tiles) == 1:
        return keep
    cut = _cuts(layout, xyxy, tile, edge_tol_px)
    if not cut.any():
        return keep
    inter = _inter(xyxy, xyxy)
    area = _area(xyxy)
    same = (label[:, None] == label[None, :]) & (tile[:, None] != tile[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = inter / area[:, None]  # fraction of row i inside row j
    for a in np.flatnonzero(cut):
        whole = same[a] & ~cut & (inside[a] >= cover_fraction)
        if whole.any():
            keep[a] = False
    for a in np.flatnonzero(cut & keep):
        for b in np.flatnonzero(cut & keep & same[a]):
            if b <= a or inter[a, b] <= 0:
                continue
            # one object seen in two parts: the union, with the better score
            xyxy[a, :2] = np.minimum(xyxy[a, :2], xyxy[b, :2])
            xyxy[a, 2:] = np.maximum(xyxy[a, 2:], xyxy[b, 2:])
            score[a] = max(score[a], score[b])
            keep[b] = False
    return keep


def _cuts(layout: Layout, xyxy: np.ndarray, tile: np.ndarray, edge_tol_px: float) -> np.ndarray:
    """Rows with an edge within ``edge_tol_px`` of an inner edge of their tile."""
    edges = layout.inner_edges
    if xyxy.dtype == np.float32 and tile.dtype == np.int64 and type(edge_tol_px) in (int, float):
        # numpy compares a float32 with a Python number as float32: the same test, compiled.
        ts = layout.tiles
        return seam_cuts(
            xyxy,
            tile,
            np.array([e[0] for e in edges]),
            np.array([t.x + edge_tol_px for t in ts], np.float32),
            np.array([e[1] for e in edges]),
            np.array([t.x + t.w - 1 - edge_tol_px for t in ts], np.float32),
        )
    cut = np.zeros(len(xyxy), bool)
    for i in range(len(xyxy)):
        t = layout.tiles[int(tile[i])]
        left_in, right_in = edges[int(tile[i])]
        cut[i] = (left_in and xyxy[i, 0] <= t.x + edge_tol_px) or (
            right_in and xyxy[i, 2] >= t.x + t.w - 1 - edge_tol_px
        )
    return cut
