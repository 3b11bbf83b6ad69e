"""Per-track storage and models of the motion stage's Kalman filters (see :mod:`adas.motion`).

A :class:`FilterBank` holds one filter model for every track slot and steps the rows of a
frame through :func:`adas.motion_kernels.kf_kernel`. A measured state can have a companion
state (range and box scale have; the lateral position has none): the slow part of the
detector's box error in that measurement, a first-order (Gauss-Markov) process of
correlation time ``slow_tau_s`` whose stationary variance is the share ``slow_share`` of the
box's part of the measurement's variance (the rest is white to the filter). Without
it a filter that takes every frame's error as independent of the last reads an error that
wanders over seconds as motion: a lead held 25 m ahead at our speed, its box error wandering
by 10 % of the range over a second, was read as closing at 3.7 m/s and braking at 3 m/s^2
(TTC 2.8 s: a false warning in 4 of 10 class-flip-car-50 trials on tuning seeds 0-9). With
the error as a state, a slow change of the box is partly the error's and the rates learn only
what the error cannot explain; :meth:`FilterBank.step` returns the true states (each measured
state less its error).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from adas import motion_kernels as mk
from adas.types import FloatArray, IntArray

__all__ = ["CV", "FilterBank", "range_model", "scale_model", "split_variance"]

BoolArray = npt.NDArray[np.bool_]

# Range filter: range, range rate, acceleration (constant acceleration, white jerk), lateral,
# lateral velocity (constant velocity). F = I + dt A1 + dt^2/2 A2; Q = coef dt^EXPO.
_A1 = np.zeros((5, 5))
_A1[0, 1] = _A1[1, 2] = _A1[3, 4] = 1.0
_A2 = np.zeros((5, 5))
_A2[0, 2] = 1.0
_EXPO = np.zeros((5, 5))
_EXPO[:3, :3] = [[5, 4, 3], [4, 3, 2], [3, 2, 1]]
_EXPO[3:, 3:] = [[3, 2], [2, 1]]
_JERK = np.array([[1 / 20, 1 / 8, 1 / 6], [1 / 8, 1 / 3, 1 / 2], [1 / 6, 1 / 2, 1.0]])
CV = np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]])  # white-acceleration Q of [position, velocity]


def _pad(m: FloatArray, k: int) -> FloatArray:
    out = np.zeros((k, k))
    out[: m.shape[0], : m.shape[1]] = m
    return out


def range_model(jerk_psd: float, lateral_accel_psd: float) -> FloatArray:
    """(A1, A2, coef, expo) of the range filter, the range's error state last."""
    coef = np.zeros((5, 5))
    coef[:3, :3], coef[3:, 3:] = jerk_psd * _JERK, lateral_accel_psd * CV
    return np.stack([_pad(m, 6) for m in (_A1, _A2, coef, _EXPO)])


def scale_model() -> FloatArray:
    """(A1, A2, coef, expo) of the box-scale filter [u, du/dt, error of u]; Q scaled per row."""
    return np.stack([_pad(m, 3) for m in (np.eye(2, k=1), np.zeros((2, 2)), CV, _EXPO[3:, 3:])])


@numba.njit(cache=True)
def split_variance(
    slots: IntArray, var: FloatArray, box_var: FloatArray, meas: BoolArray,
    fast_gain: FloatArray, share: float, slow_var: FloatArray, prior: FloatArray,
    R: FloatArray, p0: FloatArray, qb: FloatArray,
) -> None:  # fmt: skip
    """Per row: the white measurement variance ``R`` (var less the box's part, plus the box's
    fast part times ``fast_gain``), the slow errors' stationary variances (``share`` of the
    box's part; kept per slot in ``slow_var`` for frames without a measurement), and from them
    the start variances ``p0`` (``prior`` first, one row serving all if it has one) and the
    errors' driving variances ``qb`` (see :func:`kf_kernel`). ``box_var`` has a column for each
    measurement with an error state (the first ones); the others are white as they come."""
    m, nb, k = var.shape[1], box_var.shape[1], p0.shape[1]
    kt = k - nb
    for r in range(slots.size):
        s, pr = slots[r], prior[min(r, prior.shape[0] - 1)]
        for i in range(kt):
            p0[r, i], qb[r, i] = pr[i], 0.0
        for c in range(m):
            v = var[r, c]
            if c >= nb:
                R[r, c] = v
                continue
            b = box_var[r, c] if box_var[r, c] < v else v  # NaN var stays NaN
            R[r, c] = v - b + (1.0 - share) * b * fast_gain[r]
            if meas[r]:
                slow_var[s, c] = share * b
            p0[r, kt + c] = qb[r, kt + c] = slow_var[s, c]


class FilterBank:
    """Per-slot storage of one filter model whose last states are the slow errors of the first
    ``errors`` measured states ``obs`` (module docstring)."""

    def __init__(
        self, cap: int, model: FloatArray, obs: tuple[int, ...], gate: float,
        slow_tau_s: float, slow_share: float, errors: int = 1,
    ) -> None:  # fmt: skip
        k, m = model.shape[1], errors
        self.model, self.obs, self.gate = model, np.array(obs, np.int64), gate
        self.slow_share = slow_share
        self.bias_of = np.full(k, -1, np.int64)
        self.bias_of[k - m :] = self.obs[:m]
        self.bias_rate = np.where(self.bias_of >= 0, 1.0 / slow_tau_s, 0.0)
        self.X, self.P = np.zeros((cap, k)), np.zeros((cap, k, k))
        self.live = np.zeros(cap, bool)
        self.t_meas = np.zeros(cap, np.int64)  # time of the last used measurement [ns]
        self.miss = np.zeros(cap, np.int64)  # consecutive refused measurements
        self.hits = np.zeros(cap, np.int64)  # measurements used since the start
        self.slow_var = np.zeros((cap, m))  # the errors' stationary variances, last measured

    def grow(self, cap: int) -> None:
        for name in ("X", "P", "live", "t_meas", "miss", "hits", "slow_var"):
            old = getattr(self, name)
            setattr(
                self,
                name,
                np.concatenate([old, np.zeros_like(old, shape=(cap - len(old), *old.shape[1:]))]),
            )

    def forget(self, slots: list[int]) -> None:
        """Slots taken by new track ids start without a state."""
        self.live[slots], self.miss[slots], self.slow_var[slots] = False, 0, 0.0

    def step(
        self, slots: IntArray, dt: FloatArray, q: FloatArray, z: FloatArray, var: FloatArray,
        meas: BoolArray, prior: FloatArray, fast_gain: FloatArray, box_var: FloatArray,
        t_ns: int, timeout_ns: int, n_reinit: int, position_only: BoolArray | None = None,
    ) -> tuple[FloatArray, FloatArray, IntArray]:  # fmt: skip
        """One frame for the rows' slots: measurements ``z`` of variance ``var`` (n x m) where
        ``meas``; ``box_var`` (n x errors) the part of ``var`` the box error causes, the share
        ``slow_share`` of it slow, the rest fast and white to the filter at ``fast_gain``
        (per row) times its variance (that of its sample means); the rest of ``var`` white;
        ``prior`` the start variances of the unmeasured true states. Returns the true states,
        their covariances and the flags."""
        n, k, m = len(slots), self.X.shape[1], self.slow_var.shape[1]
        R, p0, qb = np.empty(var.shape), np.empty((n, k)), np.empty((n, k))
        split_variance(
            slots, var, box_var, meas, fast_gain, self.slow_share, self.slow_var, prior, R, p0, qb
        )
        kt = k - m
        out_x, out_P, flags = np.empty((n, kt)), np.empty((n, kt, kt)), np.empty(n, np.int64)
        pos = np.zeros(n, np.bool_) if position_only is None else position_only
        mk.kf_kernel(
            self.X, self.P, self.live, self.t_meas, self.miss, self.hits, self.model, p0,
            self.obs, slots, dt, q, z, R, meas, pos, t_ns, timeout_ns,
            self.gate, n_reinit, self.bias_of, self.bias_rate, qb, out_x, out_P, flags,
        )  # fmt: skip
        return out_x, out_P, flags
