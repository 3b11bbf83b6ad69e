"""Numba kernels that prepare the motion stage's per-frame inputs (see :mod:`adas.motion` for
the model, :mod:`adas.motion_kernels` and :mod:`adas.motion_bank` for the filters): time steps,
the ego's known inputs, the measurements of both filters and their checks.

Each replaces a run of small numpy calls on a few rows with the same float64 operations in the
same order (numpy's NaN results; ``np.maximum`` / ``np.minimum`` give the second operand on a
tie), so the stage keeps every bit: tests/adas/test_motion_frame.py keeps the numpy steps
and compares.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from adas.motion_kernels import HEIGHT_ONLY, MAX_ABS

__all__ = ["frame_inputs", "range_inputs", "scale_inputs"]


@numba.njit(
    "void(i8[:], i8[:], i8, f8, i8[:], i8[:], b1[:], f8, f8[:], f8[:, :], b1[:], f8,"
    " f8[:], b1[:], b1[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def frame_inputs(
    slots: np.ndarray,
    t_slot: np.ndarray,  # in/out: the time each slot's states refer to [ns]
    t_ns: int,
    timeout_s: float,
    time_since_update: np.ndarray,
    class_id: np.ndarray,
    side_cut: np.ndarray,
    a_now: float,  # ego acceleration, NaN where unknown
    ego_a: np.ndarray,  # in/out: per slot, the ego acceleration at t_slot
    X: np.ndarray,  # in/out: the range bank's states
    live: np.ndarray,  # the range bank's slots with a state
    w: float,  # ego yaw rate, NaN where unknown
    dt: np.ndarray,
    fresh: np.ndarray,
    cut: np.ndarray,
) -> None:
    """Per row: the time step (clamped to [0, timeout_s]), seen this frame, cut by a side
    border in a way that misleads the rates (``rigid_side_cut``); the ego's acceleration
    change moved into the relative acceleration and our own turning into the lateral
    velocity (MotionEstimator._ego_input, _yaw_input). ``a_now`` / ``w`` are NaN where
    those inputs are skipped."""
    n = slots.size
    last = HEIGHT_ONLY.size - 1
    for r in range(n):
        s = slots[r]
        step = (t_ns - t_slot[s]) * 1e-9
        step = step if math.isnan(step) else (step if step > 0.0 else 0.0)
        dt[r] = step if math.isnan(step) else (step if step < timeout_s else timeout_s)
        t_slot[s] = t_ns
        fresh[r] = time_since_update[r] == 0
        cut[r] = side_cut[r] and not HEIGHT_ONLY[min(max(class_id[r], 0), last)]
    if not math.isnan(a_now):
        for r in range(n):
            s = slots[r]
            prev = ego_a[s]
            X[s, 2] = X[s, 2] - (a_now - prev if math.isfinite(prev) else 0.0)
    for r in range(n):
        ego_a[slots[r]] = a_now
    if not math.isnan(w):
        for r in range(n):
            s = slots[r]
            if live[s]:
                X[s, 3] = X[s, 3] - w * (X[s, 0] - X[s, 5]) * dt[r]


@numba.njit(
    "void(f8[:], f8[:], b1[:], b1[:], b1[:], f8[:, :], i8[:], f8, f8[:], f8[:, :], f8[:], f8[:],"
    " f8[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def scale_inputs(
    dt: np.ndarray,
    rho: np.ndarray,  # the fast box error's correlation over dt
    meas: np.ndarray,  # in/out: box_sizes' measurable rows
    side_cut: np.ndarray,
    bottom_cut: np.ndarray,
    X: np.ndarray,  # the scale bank's states
    slots: np.ndarray,
    psd: float,
    u: np.ndarray,  # box_sizes' measurement 1 / size
    R: np.ndarray,  # N x 1: its variance
    fast_gain: np.ndarray,
    q: np.ndarray,
    rel2: np.ndarray,
) -> None:
    """The fast error's gain ``(1 + rho) / (1 - rho)`` (1 without a time step), no scale
    measurement from a box cut by a side or the bottom border, the scale filter's noise
    ``psd x^2`` (its state x) and the box's relative size variance ``R / u^2`` per row."""
    for r in range(dt.size):
        fast_gain[r] = (1.0 + rho[r]) / (1.0 - rho[r]) if dt[r] > 0.0 else 1.0
        meas[r] = meas[r] and not (side_cut[r] or bottom_cut[r])
        x = X[slots[r], 0]
        q[r] = psd * (x * x)
        rel2[r] = R[r, 0] / (u[r] * u[r])


@numba.njit(
    "void(f8[:, :], i8[:], b1[:], b1[:], f8[:], i8[:], f8[:], f8[:, ::1], f8[:, ::1], b1[:],"
    " b1[:], f8[:, ::1])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def range_inputs(
    m: np.ndarray,  # 4 x N: distance, lateral, their sigmas (RangeEstimates)
    status: np.ndarray,
    fresh: np.ndarray,
    side_cut: np.ndarray,
    rel2: np.ndarray,  # the box's relative size variance (scale filter)
    slots: np.ndarray,
    sig_meas: np.ndarray,  # in/out: per slot, the sigma of the last range measurement
    z: np.ndarray,  # N x 2: distance, lateral
    var: np.ndarray,  # N x 2: their variances
    meas: np.ndarray,
    cut: np.ndarray,
    box: np.ndarray,  # N x 1: the box's part of the range variance
) -> None:
    """The range filter's measurements: rows seen now, ranged (status OK) with sane numbers
    (|value| <= MAX_ABS, sigmas >= 0); their variances, the side-cut ones (positions only),
    the box's part ``rel2 d^2``."""
    for r in range(status.size):
        d, lat, sd, sl = m[0, r], m[1, r], m[2, r], m[3, r]
        sane = abs(d) <= MAX_ABS and abs(lat) <= MAX_ABS and abs(sd) <= MAX_ABS
        sane = sane and abs(sl) <= MAX_ABS and sd >= 0 and sl >= 0
        meas[r] = fresh[r] and status[r] == 0 and sane
        z[r, 0], z[r, 1] = d, lat
        var[r, 0], var[r, 1] = sd * sd, sl * sl
        cut[r] = side_cut[r] and meas[r]
        if meas[r]:
            sig_meas[slots[r]] = sd
        box[r, 0] = rel2[r] * (d * d)
