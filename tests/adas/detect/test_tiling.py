"""Horizon band, tile layout and seam merging (adas.detect.tiling)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adas.detect.config import DetectConfig
from adas.detect.tiling import band_rows, merge_tiles, plan_layout
from adas.errors import ConfigError

# The seam-merging numbers of the default config (data/config/default.toml [detect]).
SEAM = {
    "edge_tol_px": DetectConfig().seam_edge_tol_px,
    "cover_fraction": DetectConfig().seam_cover_fraction,
}


def test_kitti_band_gets_two_tiles_at_almost_twice_the_scale() -> None:
    band = band_rows(375, 172.9, 721.5 * np.tan(np.radians(8.0)), None)
    assert band == (71, 375)
    lay = plan_layout((1242, 375), (416, 416), band=band, overlap_frac=0.12, gap_px=8)
    assert len(lay.tiles) == 2
    plain = plan_layout((1242, 375), (416, 416), tiles=1)
    assert plain.scale == pytest.approx(416 / 1242)
    assert lay.scale > 1.7 * plain.scale
    a, b = lay.tiles
    assert a.x == 0 and b.x + b.w == 1242  # the tiles span the width
    assert a.x + a.w - b.x == pytest.approx(0.12 * 1242, abs=2)  # with the overlap asked for
    assert b.slot_y == a.slot_h + 8  # packed under each other with the gap
    assert round(a.h * lay.scale) <= a.slot_h and round(a.w * lay.scale) <= 416


def test_16_9_full_frame_stays_one_tile() -> None:
    lay = plan_layout((1280, 720), (416, 416))
    assert len(lay.tiles) == 1 and lay.scale == pytest.approx(416 / 1280)


@given(
    iw=st.integers(16, 4000),
    ih=st.integers(16, 3000),
    mw=st.integers(32, 1280),
    mh=st.integers(32, 1280),
    n=st.integers(0, 4),
)
def test_layout_invariants(iw: int, ih: int, mw: int, mh: int, n: int) -> None:
    lay = (
        plan_layout((iw, ih), (mw, mh), tiles=n, gap_px=4)
        if n != 1
        else plan_layout((iw, ih), (mw, mh), tiles=1)
    )
    xs = sorted((t.x, t.x + t.w) for t in lay.tiles)
    assert xs[0][0] == 0 and xs[-1][1] == iw
    for (_, end), (start, _) in itertools.pairwise(xs):
        assert start <= end  # no column left out
    for t in lay.tiles:
        assert t.slot_y + t.slot_h <= mh
        assert t.w * lay.scale <= mw + 1e-6 and t.h * lay.scale <= t.slot_h + 1e-6


def test_bad_layouts_are_rejected() -> None:
    with pytest.raises(ConfigError, match="tiles"):
        plan_layout((1242, 375), (416, 416), tiles=9)
    with pytest.raises(ConfigError, match="overlap"):
        plan_layout((1242, 375), (416, 416), overlap_frac=0.6)
    with pytest.raises(ConfigError, match="band"):
        plan_layout((1242, 375), (416, 416), band=(300, 200))
    with pytest.raises(ConfigError, match="positive"):
        plan_layout((0, 375), (416, 416))


def _two_tiles():  # type: ignore[no-untyped-def]
    return plan_layout((1242, 375), (416, 416), band=(71, 375), tiles=2, gap_px=8)


def test_part_cut_by_the_seam_is_dropped_when_the_other_tile_has_it_whole() -> None:
    lay = _two_tiles()
    a, b = lay.tiles
    seam = a.x + a.w  # right inner edge of tile 0
    whole = [seam - 60.0, 200.0, seam + 40.0, 260.0]  # inside tile 1 (starts at b.x)
    assert whole[0] > b.x
    part = [seam - 60.0, 201.0, seam - 1.0, 259.0]  # tile 0 sees it up to its edge
    other = [100.0, 200.0, 160.0, 240.0]
    xyxy = np.array([whole, part, other], np.float32)
    keep = merge_tiles(
        lay, xyxy, np.array([0.9, 0.8, 0.7]), np.array([2, 2, 2]), np.array([1, 0, 0]), **SEAM
    )
    assert keep.tolist() == [True, False, True]


def test_object_wider_than_the_overlap_is_merged_into_its_union() -> None:
    lay = _two_tiles()
    a, b = lay.tiles
    left = [b.x - 200.0, 180.0, a.x + a.w - 1.0, 370.0]  # cut by tile 0's right edge
    right = [b.x + 0.5, 182.0, a.x + a.w + 150.0, 368.0]  # cut by tile 1's left edge
    xyxy = np.array([left, right], np.float32)
    score = np.array([0.6, 0.8], np.float32)
    keep = merge_tiles(lay, xyxy, score, np.array([2, 2]), np.array([0, 1]), **SEAM)
    assert keep.tolist() == [True, False]
    assert xyxy[0].tolist() == [left[0], 180.0, right[2], 370.0]
    assert score[0] == pytest.approx(0.8)


def test_different_classes_are_not_merged_and_one_tile_is_untouched() -> None:
    lay = _two_tiles()
    a, _ = lay.tiles
    seam = a.x + a.w
    xyxy = np.array([[seam - 60, 200, seam + 40, 260], [seam - 60, 201, seam - 1, 259]], np.float32)
    keep = merge_tiles(lay, xyxy, np.array([0.9, 0.8]), np.array([2, 0]), np.array([1, 0]), **SEAM)
    assert keep.all()
    single = plan_layout((1242, 375), (416, 416), tiles=1)
    labels, tiles = np.array([2, 2]), np.zeros(2, int)
    assert merge_tiles(single, xyxy, np.array([0.9, 0.8]), labels, tiles, **SEAM).all()
