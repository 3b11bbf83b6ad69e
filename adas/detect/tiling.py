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

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adas.camera_lens import Lens
from adas.detect.kernels import seam_cuts
from adas.errors import ConfigError

if TYPE_CHECKING:
    from adas.camera import CameraModel

# Azimuths (deg from straight ahead) at which a fisheye's band edges are traced: every 2 deg
# across the front half-space, so the bent edges' extreme rows are found to well under a pixel
# (a row's slope along the edge is < f * 2 deg of arc, and the extreme is where it is 0).
_FISHEYE_AZIMUTHS_DEG = np.arange(-88.0, 88.1, 2.0)


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


def band_rows(
    image_h: int, horizon_y: float, up_px: float, down_px: float | None
) -> tuple[int, int]:
    """Rows ``[y0, y1)`` of the band from ``up_px`` above the horizon to ``down_px`` below it
    (None: the bottom of the image), clamped to the image."""
    y0 = int(np.clip(np.floor(horizon_y - up_px), 0, image_h - 1))
    y1 = image_h if down_px is None else int(np.clip(np.ceil(horizon_y + down_px), y0 + 1, image_h))
    return y0, y1


def horizon_band(
    camera: CameraModel | None, image_wh: tuple[int, int], up_deg: float, down_deg: float
) -> tuple[int, int]:
    """Rows ``[y0, y1)`` of the band from ``up_deg`` above the road's horizon to ``down_deg``
    below it (90 or more: to the image edge). Pinhole: the horizon at the centre column plus
    fy tan(angle); no camera: a ~90 deg field of view. A fisheye bends the band's edges, so
    each edge is the extreme row of rays at that elevation over the azimuths in the image."""
    w, h = image_wh
    if camera is not None and camera.lens is Lens.FISHEYE:
        y0 = 0.0 if up_deg >= 90.0 else _edge_row(camera, up_deg, w, top=True)
        y1 = float(h) if down_deg >= 90.0 else _edge_row(camera, -down_deg, w, top=False)
        return band_rows(h, y0, 0.0, None if down_deg >= 90.0 else y1 - y0)
    if camera is not None:
        horizon, fy = camera.horizon_v(), camera.fy
    else:
        horizon, fy = 0.5 * (h - 1), 0.5 * max(w, h)  # no camera: ~90 deg field of view
    up = math.inf if up_deg >= 90.0 else fy * math.tan(math.radians(up_deg))
    down = None if down_deg >= 90.0 else fy * math.tan(math.radians(down_deg))
    return band_rows(h, horizon, min(up, 1e9), down)


def _edge_row(camera: CameraModel, elevation_deg: float, width: int, *, top: bool) -> float:
    """The smallest (``top``) or largest image row of rays ``elevation_deg``
    above the road plane, over the azimuths whose pixels fall inside the image's columns."""
    az = np.radians(_FISHEYE_AZIMUTHS_DEG) + camera.mount.yaw_rad
    el = math.radians(elevation_deg)
    d = np.column_stack([math.cos(el) * np.cos(az), math.cos(el) * np.sin(az),
                         np.full(az.size, math.sin(el))])  # fmt: skip
    uv = camera.project_vehicle(camera.position_m + d)
    rows = uv[np.isfinite(uv).all(1) & (uv[:, 0] >= 0.0) & (uv[:, 0] <= width - 1.0), 1]
    if rows.size == 0:  # no such ray in the image: the band reaches the image edge
        return 0.0 if top else math.inf
    return float(np.min(rows) if top else np.max(rows))


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
