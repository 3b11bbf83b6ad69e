"""Association of tracks with detections for :mod:`adas.track`: the tracker's state layout, the
gated IoU pair matrices of both ByteTrack stages (one compiled numba pass) and the matching.

Kept apart from the filter so each reads in one sitting; only :mod:`adas.track` uses it.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.optimize import linear_sum_assignment

from adas.types import ObjectClass

__all__ = [
    "AGE", "CLASS_GROUP", "CONFIRMED", "GROUP", "HITS", "ID", "LAST_NS", "N_CLASSES", "N_FLOAT",
    "N_INT", "POS", "PPP", "PPV", "PVV", "SCORE", "TSU", "VEL", "VOTES", "assign", "boxes",
    "pair_matrices",
]  # fmt: skip

N_CLASSES = len(ObjectClass)

# Classes a detector confuses with each other (KITTI Car/Van/Truck, bus/tram, bicycle/motorbike)
# share a group; a track is only associated with detections of its own group. A car box never
# continues a pedestrian track, but a Car track survives a frame labelled Van.
CLASS_GROUP = np.zeros(N_CLASSES, np.int64)
CLASS_GROUP[ObjectClass.PEDESTRIAN] = 0
CLASS_GROUP[[ObjectClass.BICYCLE, ObjectClass.MOTORCYCLE]] = 1
CLASS_GROUP[[ObjectClass.CAR, ObjectClass.VAN, ObjectClass.TRUCK, ObjectClass.BUS]] = 2
CLASS_GROUP[ObjectClass.TRAIN] = 2  # trams are detected as buses and trucks
CLASS_GROUP[ObjectClass.OTHER] = 3

# The two N x M kernels below are compiled by numba when this module is first imported (about
# 2 s, then cached in __pycache__), with one signature each over arrays of any layout, so no
# frame ever waits for a compilation.

# The state is stored field-major: one row per quantity, one column per track, so that every
# element-wise operation runs on contiguous memory (2-3x faster than on strided columns).
POS = slice(0, 4)  # cx, cy, w, h [px]
VEL = slice(4, 8)  # their rates [px/s]
PPP = slice(8, 12)  # covariance position-position per coordinate [px^2]
PPV = slice(12, 16)  # position-rate [px^2/s]
PVV = slice(16, 20)  # rate-rate [px^2/s^2]
SCORE = 20  # score of the last associated detection
VOTES = slice(21, 21 + N_CLASSES)  # summed detection score per class
N_FLOAT = 21 + N_CLASSES
# Integer bookkeeping rows (AGE and TSU adjacent: both count frames up together).
ID, AGE, TSU, HITS, LAST_NS, CONFIRMED, GROUP = range(7)
N_INT = 7


@njit(
    "Tuple((f8[:, :], b1[:, :], b1[:, :]))"
    "(f8[:, :], i8[:], i8[:], f8[:, :], f8[:, :], i8[:], b1[:], f8, f8, f8, f8)",
    cache=True,
    nogil=True,
)
def pair_matrices(
    f: np.ndarray,
    track_group: np.ndarray,
    confirmed: np.ndarray,
    box: np.ndarray,
    z: np.ndarray,
    det_group: np.ndarray,
    det_low: np.ndarray,
    meas_std: float,
    gate_chi2: float,
    iou_stage1: float,
    iou_stage2: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU and the allowed pairs of both stages for every (track, detection): N x M each.

    A pair is allowed when the classes share a group, the detection centre passes the motion
    gate (squared Mahalanobis distance with S = P + R, both diagonal, chi-square 2 dof), and the
    IoU of the predicted box reaches the stage's threshold; stage 1 takes high-score
    detections, stage 2 low-score ones on confirmed tracks. This N x M part is the one that
    grows with the scene, so it is compiled (one pass, ~10x faster than ~40 numpy calls).
    """
    n, m = f.shape[1], box.shape[1]
    iou = np.empty((n, m))
    ok1 = np.zeros((n, m), np.bool_)
    ok2 = np.zeros((n, m), np.bool_)
    for a in range(n):
        cx, cy, w, h = f[0, a], f[1, a], f[2, a], f[3, a]
        x1, y1 = cx - 0.5 * w, cy - 0.5 * h
        x2, y2 = x1 + w, y1 + h
        r = (meas_std * h) ** 2
        sx, sy = f[PPP.start, a] + r, f[PPP.start + 1, a] + r
        for b in range(m):
            iw = min(x2, box[2, b]) - max(x1, box[0, b])
            ih = min(y2, box[3, b]) - max(y1, box[1, b])
            inter = max(iw, 0.0) * max(ih, 0.0)
            v = inter / (w * h + z[2, b] * z[3, b] - inter)
            iou[a, b] = v
            dx, dy = z[0, b] - cx, z[1, b] - cy
            if track_group[a] != det_group[b] or dx * dx / sx + dy * dy / sy > gate_chi2:
                continue
            if det_low[b]:
                ok2[a, b] = confirmed[a] == 1 and v >= iou_stage2
            else:
                ok1[a, b] = v >= iou_stage1
    return iou, ok1, ok2


def boxes(pos: np.ndarray) -> np.ndarray:
    """Field-major cx, cy, w, h (4 x N) to x1, y1, x2, y2 (4 x N)."""
    out = np.empty_like(pos)
    np.subtract(pos[0:2], 0.5 * pos[2:4], out=out[0:2])
    np.add(out[0:2], pos[2:4], out=out[2:4])
    return out


@njit("Tuple((intp[:], intp[:], b1))(b1[:, :])", cache=True, nogil=True)
def candidates(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Rows and columns of ``ok`` with at least one allowed pair, and whether every row and
    column has at most one (then the allowed pairs are the matching: nothing to solve)."""
    n, m = ok.shape
    row_count = np.zeros(n, np.int64)
    col_count = np.zeros(m, np.int64)
    for a in range(n):
        for b in range(m):
            if ok[a, b]:
                row_count[a] += 1
                col_count[b] += 1
    unique = row_count.max() <= 1 and col_count.max() <= 1 if n and m else True
    return np.nonzero(row_count)[0], np.nonzero(col_count)[0], unique


def assign(ok: np.ndarray, iou: np.ndarray, iou_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching on 1 - IoU among the allowed pairs ``ok``; returns (rows, cols).

    Disallowed pairs cost exactly what leaving both sides unmatched costs in ByteTrack's
    ``lapjv(cost_limit=1 - iou_min)``, so the rectangular Hungarian solution equals ByteTrack's:
    one good match is preferred to two poor ones, not the largest number of matches.
    """
    rows, cols, unique = candidates(ok)
    if unique:  # includes "no candidates"; the usual case when objects are apart
        r, c = np.nonzero(ok)
        return r, c
    sub_ok = ok[rows][:, cols]
    cost = np.where(sub_ok, 1.0 - iou[rows][:, cols], 1.0 - iou_min + 1e-9)
    r, c = linear_sum_assignment(cost)
    keep = sub_ok[r, c]
    return rows[r[keep]], cols[c[keep]]
