"""Numba kernels of the tracker's per-frame steps (see :mod:`adas.track` for the model and
:mod:`adas.track_assoc` for the state layout): the detections' checks, the Kalman prediction
and correction, the bookkeeping after the association and the output rows.

Each replaces a run of small numpy calls on a few columns, doing the same float64
operations in the same order with numpy's NaN and signed-zero results (``np.maximum``
returns its second operand on a tie; a column without a match still gets numpy's zero gain,
``0 / S``), so the tracks keep every bit: tests/adas/test_track_kernels.py holds the numpy
steps and compares. Written for this project.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from adas.track_assoc import (
    AGE,
    CONFIRMED,
    HITS,
    ID,
    LAST_NS,
    N_CLASSES,
    PPP,
    PPV,
    PVV,
    SCORE,
    TSU,
    VEL,
    VOTES,
)

__all__ = ["correct", "detection_rows", "match_bookkeeping", "output_rows", "predict"]

_P0, _V0, _PP0, _PV0, _VV0, _VT0 = 0, VEL.start, PPP.start, PPV.start, PVV.start, VOTES.start
_FINITE_ROWS = PVV.stop  # the filter's rows that must stay finite


@numba.njit(
    "Tuple((i8[::1], f8[:, ::1], f8[:, ::1], f8[::1], i8))(f8[:, :], f8[:], i8[:], f8, f8)",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def detection_rows(
    xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, max_abs: float, low_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``Tracker._sanitize``: the rows usable (finite, within ``max_abs`` px, positive size,
    finite score, a known class) and at or above ``low_score``; their boxes x1 y1 x2 y2 and
    cx cy w h (4 x M each), scores, and the count of unusable rows."""
    n = xyxy.shape[0]
    idx = np.empty(n, np.int64)
    m = bad = 0
    for r in range(n):
        x1, y1, x2, y2 = xyxy[r, 0], xyxy[r, 1], xyxy[r, 2], xyxy[r, 3]
        good = (
            abs(x1) <= max_abs
            and abs(y1) <= max_abs
            and abs(x2) <= max_abs
            and abs(y2) <= max_abs
            and x2 > x1
            and y2 > y1
            and abs(score[r]) < math.inf
            and 0 <= class_id[r] < N_CLASSES
        )
        if not good:
            bad += 1
        elif score[r] >= low_score:
            idx[m] = r
            m += 1
    box, z, sc = np.empty((4, m)), np.empty((4, m)), np.empty(m)
    for j in range(m):
        r = idx[j]
        for c in range(4):
            box[c, j] = xyxy[r, c]
        z[0, j] = (box[0, j] + box[2, j]) * 0.5
        z[1, j] = (box[1, j] + box[3, j]) * 0.5
        z[2, j] = box[2, j] - box[0, j]
        z[3, j] = box[3, j] - box[1, j]
        sc[j] = score[r]
    return idx[:m].copy(), box, z, sc, bad


@numba.njit(cache=True, inline="always")
def _floor_size(f: np.ndarray, a: int, floor: float) -> None:
    """``np.maximum(f[2:4], floor, out=f[2:4])`` of column ``a``: NaN stays, a tie gives
    ``floor``."""
    for c in (2, 3):
        v = f[c, a]
        f[c, a] = v if math.isnan(v) else (v if v > floor else floor)


@numba.njit("void(f8[:, :], f8, f8, f8, f8)", cache=True, nogil=True, error_model="numpy")
def predict(f: np.ndarray, dt: float, q_pos: float, q_vel: float, floor: float) -> None:
    """``Tracker._predict`` in place: ``q_pos`` / ``q_vel`` are the position and rate noise
    densities times ``dt`` (computed in Python as the stage does), scaled by h^2 per track."""
    for a in range(f.shape[1]):
        h2 = f[3, a] * f[3, a]
        for c in range(4):
            ppv, pvv = f[_PV0 + c, a], f[_VV0 + c, a]
            f[_PP0 + c, a] = f[_PP0 + c, a] + (dt * (2.0 * ppv + dt * pvv) + q_pos * h2)
            f[_PV0 + c, a] = ppv + dt * pvv
            f[_VV0 + c, a] = pvv + q_vel * h2
        for c in range(4):
            f[_P0 + c, a] = f[_P0 + c, a] + dt * f[_V0 + c, a]
        _floor_size(f, a, floor)


@numba.njit(
    "void(f8[:, :], i8[:], i8[:], f8[:, :], f8, f8)", cache=True, nogil=True, error_model="numpy"
)
def correct(
    f: np.ndarray, t: np.ndarray, md: np.ndarray, z: np.ndarray, meas_std: float, floor: float
) -> None:
    """``Tracker._correct`` in place: the Kalman update of columns ``t`` with the boxes
    ``z[:, md]`` (cx, cy, w, h), run on every column with gain 0 / S for the unmatched ones."""
    n = f.shape[1]
    row = np.full(n, -1, np.int64)
    for j in range(t.size):
        row[t[j]] = md[j]
    for a in range(n):
        matched = 1.0 if row[a] >= 0 else 0.0
        r = (meas_std * f[3, a]) * (meas_std * f[3, a])
        for c in range(4):
            ppp, ppv = f[_PP0 + c, a], f[_PV0 + c, a]
            gain = matched / (ppp + r)
            innov = (z[c, row[a]] if row[a] >= 0 else 0.0) - f[_P0 + c, a]
            k_pos, k_vel = ppp * gain, ppv * gain
            f[_P0 + c, a] = f[_P0 + c, a] + k_pos * innov
            f[_V0 + c, a] = f[_V0 + c, a] + k_vel * innov
            f[_VV0 + c, a] = f[_VV0 + c, a] - k_vel * ppv
            k_pos = k_pos - 1.0
            f[_PV0 + c, a] = ppv * -k_pos
            f[_PP0 + c, a] = ppp * -k_pos
        _floor_size(f, a, floor)


@numba.njit(
    "b1[::1](f8[:, :], i8[:, :], i8[:], i8[:], i8[:], f8[:], i8[:], i8, i8, i8, i8[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def match_bookkeeping(
    f: np.ndarray,
    i: np.ndarray,
    mt: np.ndarray,
    md: np.ndarray,
    det_idx: np.ndarray,
    det_score: np.ndarray,
    det_class: np.ndarray,
    t_ns: int,
    min_hits: int,
    max_misses: int,
    track_det: np.ndarray,
) -> np.ndarray:
    """After the association of tracks ``mt`` with detection columns ``md``: ages and misses,
    hits, last time, confirmation, score and class votes, ``track_det`` (input rows); returns
    the columns to keep (confirmed, or tentative with fewer than ``max_misses`` misses, and
    a finite filter state)."""
    n = f.shape[1]
    for j in range(mt.size):
        track_det[mt[j]] = det_idx[md[j]]
    for a in range(n):
        i[AGE, a] += 1
        i[TSU, a] += 1
    for j in range(mt.size):
        a = mt[j]
        i[TSU, a] = 0
        i[HITS, a] += 1
        i[LAST_NS, a] = t_ns
    for a in range(n):
        if i[HITS, a] >= min_hits:
            i[CONFIRMED, a] |= 1
    for j in range(mt.size):
        a, sc = mt[j], det_score[md[j]]
        f[SCORE, a] = sc
        v = _VT0 + det_class[det_idx[md[j]]]
        f[v, a] = f[v, a] + sc
    keep = np.empty(n, np.bool_)
    for a in range(n):
        ok = i[CONFIRMED, a] == 1 or i[AGE, a] - i[HITS, a] < max_misses
        for r in range(_FINITE_ROWS):
            ok = ok and math.isfinite(f[r, a])
        keep[a] = ok
    return keep


@numba.njit(
    "Tuple((f4[:, ::1], f4[::1], i8[::1], i8[:, ::1], i8[::1]))"
    "(f8[:, :], i8[:, :], i8[:], f4[:, :], f4[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def output_rows(
    f: np.ndarray, i: np.ndarray, det: np.ndarray, det_xyxy: np.ndarray, det_score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``Tracker._output``'s arrays of the confirmed columns: box (the detection's where seen,
    else the filter's, float32), score, class (the arg-max of the votes, first on a tie or
    NaN), the integer rows ID, AGE, HITS, TSU, and the detection row."""
    sel = np.flatnonzero(i[CONFIRMED] != 0)
    m = sel.size
    xyxy, score = np.empty((m, 4), np.float32), np.empty(m, np.float32)
    cls, ints, rows = np.empty(m, np.int64), np.empty((4, m), np.int64), np.empty(m, np.int64)
    for j in range(m):
        a = sel[j]
        d = det[a]
        rows[j] = d
        if d >= 0:
            for c in range(4):
                xyxy[j, c] = det_xyxy[d, c]
            score[j] = det_score[d]
        else:
            for c in range(2):  # adas.track_assoc.boxes: centre less half the size, + size
                lo = f[c, a] - 0.5 * f[c + 2, a]
                xyxy[j, c] = np.float32(lo)
                xyxy[j, c + 2] = np.float32(lo + f[c + 2, a])
            score[j] = np.float32(f[SCORE, a])
        best = 0
        top = f[_VT0, a]
        if not math.isnan(top):
            for c in range(1, N_CLASSES):
                v = f[_VT0 + c, a]
                if not v <= top:
                    best, top = c, v
                    if math.isnan(v):
                        break
        cls[j] = best
        ints[0, j], ints[1, j], ints[2, j], ints[3, j] = i[ID, a], i[AGE, a], i[HITS, a], i[TSU, a]
    return xyxy, score, cls, ints, rows
