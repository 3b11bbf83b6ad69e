"""Numba kernels that run steps of the distance stage over all of a frame's rows in one call
(see :mod:`adas.distance` for the model, :mod:`adas.distance_kernels` for the cue geometry).

Each replaces a run of small numpy calls on a few rows, doing the same float64 operations in
the same order (numpy's NaN results, comparisons, ``astype`` truncation), so the stage's
outputs keep every bit; tests/adas/test_distance_batch.py compares them with the numpy code.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from adas.distance_kernels import LAT_A, LAT_B, range_cues
from adas.types import FloatArray

__all__ = ["border_cuts", "hyp_cues", "range_outputs"]


@numba.njit(
    "void(f8[:, ::1], f8[:, :], f8[:], f8[:, :], i8[:], f8[:], f8[:, :], i8[:], b1[:], b1[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def range_outputs(
    res: FloatArray,  # N x 3 from fuse_with_track_size (NaN rows where the box had no range)
    cues: FloatArray,  # N x N_CUES
    edge: FloatArray,  # N: box edge noise, normalised units
    xyxy: FloatArray,  # N x 4 boxes [px]
    status: npt.NDArray[np.int64],  # in/out: RangeStatus, the range's own checks added
    geo: FloatArray,  # behind bumper, lateral, min and max distance, side/bottom cut rows
    out: FloatArray,  # 4 x N: distance, lateral, sigma distance, sigma lateral
    method: npt.NDArray[np.int64],
    side_cut: npt.NDArray[np.bool_],
    bottom_cut: npt.NDArray[np.bool_],
) -> None:
    """The stage's outputs of every row: no range (ABOVE_HORIZON 5) and out of range
    (OUT_OF_RANGE 6) added to ``status``, NaN in every float where it is not OK; the
    lateral position from the bearing at the range, its sigma; the border cuts."""
    bumper, lateral, lo, hi, left_at, right_at, bottom_at = geo[:7]
    for i in range(status.size):
        d = res[i, 0]
        if status[i] == 0 and not math.isfinite(d):
            status[i] = 5
        dist = d - bumper
        if status[i] == 0 and (dist < lo or dist > hi):
            status[i] = 6
        good = status[i] == 0
        sig = res[i, 1] if good else np.nan
        x_cam = cues[i, LAT_A] * d + cues[i, LAT_B]
        out[0, i] = dist if good else np.nan
        out[1, i] = lateral - x_cam if good else np.nan
        out[2, i] = sig
        out[3, i] = abs(cues[i, LAT_A]) * sig + edge[i] * d if good else np.nan
        method[i] = int(res[i, 2]) if good else 0
        side_cut[i] = xyxy[i, 0] <= left_at or xyxy[i, 2] >= right_at
        bottom_cut[i] = xyxy[i, 3] >= bottom_at


@numba.njit(
    "void(f8[:, :], f8, f8, f8, b1[:], b1[:, :])", cache=True, nogil=True, error_model="numpy"
)
def border_cuts(
    xyxy: FloatArray,
    width: float,
    height: float,
    margin: float,
    turned: npt.NDArray[np.bool_],
    cut: npt.NDArray[np.bool_],
) -> None:
    """The ``cut`` table of range_cues: bottom, top, no width cue (a side cut or ``turned``),
    left, right, each within ``margin`` px of the border."""
    for i in range(xyxy.shape[0]):
        cut[i, 0] = xyxy[i, 3] >= height - 1 - margin
        cut[i, 1] = xyxy[i, 1] <= margin
        cut[i, 3] = xyxy[i, 0] <= margin
        cut[i, 4] = xyxy[i, 2] >= width - 1 - margin
        cut[i, 2] = cut[i, 3] or cut[i, 4] or turned[i]


@numba.njit(
    "void(f8[:, ::1], f8[:, ::1], f8, f8[:, :], i8[:, :], i8[:], b1[:, ::1], f8, f8[::1], f8, f8,"
    " f8[::1], f8, f8[:, :, ::1])",
    cache=True,
    nogil=True,
)
def hyp_cues(
    norm: FloatArray,  # N*5 x 2 (pixel_points, normalised)
    rot: FloatArray,  # 3 x 3 camera -> level rotation at this pass's pitch
    roll_sin: float,
    prior_table: FloatArray,  # classes x 9 (DistanceEstimator._prior_table)
    hyp: npt.NDArray[np.int64],  # N x G: the classes each box may be
    cols: npt.NDArray[np.int64],  # the hypothesis columns some box uses
    cut: npt.NDArray[np.bool_],
    cam_height: float,
    edge: FloatArray,
    road_sigma: float,
    grade_sigma: float,
    plane: FloatArray,
    width_gate: float,
    out: FloatArray,  # G x N x N_CUES: written NaN, then the used columns' cue tables
) -> None:
    """range_cues under every class hypothesis a box may be: column ``j`` of ``hyp`` gives
    each box's class, its row of ``prior_table`` the sizes."""
    n = hyp.shape[0]
    out[:] = np.nan
    prior = np.empty((n, prior_table.shape[1]))
    for j in cols:
        for i in range(n):
            prior[i] = prior_table[hyp[i, j]]
        range_cues(
            norm, rot, roll_sin, prior, cut, cam_height, edge, road_sigma, grade_sigma, plane,
            width_gate, out[j],
        )  # fmt: skip
