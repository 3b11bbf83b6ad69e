"""The road plane under the camera for the distance stage: its pitch and its cross slope.

The ground cue of :mod:`adas.distance` intersects a box's contact ray with the road. A level
road with the camera ``h`` above it puts the contact point of an object ``d`` ahead at
``y = h / d`` in the level camera frame. Two things move it: the camera's pitch (every row
shifts) and the road's *cross slope* relative to the camera, the road's roll: a road plane
``Y = h + s X`` (camera frame, y down) puts the contact point at ``y = h / d + s x`` with
``x = X / d`` the point's level bearing, so the ground range is ``h / (y - s x)``.

Roads are built with a crossfall (1.5-2.5 % on straight sections, more on curves: AASHTO,
"A Policy on Geometric Design of Highways and Streets", 2018, ch. 4 and 3) and a car rolls
on its suspension, so the plane is seldom level across. On the shared KITTI tracking
sequences the road plane fitted to every frame's labelled objects is rolled by -1 to -2 deg
in five of the eleven sequences (``adas eval kitti-tracking``: docs/ranging_vrus.md). It barely
matters in our lane (``x`` near 0) but does where pedestrians and cyclists are: 1.5 deg at
``X = 5 m`` is 0.13 m of ground height, an 8 % range error from a 1.65 m camera.

Each confident object is an *anchor*: its size cue says how far away it is, hence where its
contact point should be; the angle between that and where it is measures ``pitch - s x``.
Both are estimated together by a Kalman filter over (pitch, s): each a random walk that
reverts to the mount (Ornstein-Uhlenbeck), updated by the frame's anchors one at a time. The
anchors' robustness (a truck called "car" misplaces its contact point) comes from a Huber
weight (Huber, "Robust Estimation of a Location Parameter", 1964; k = 1.345, 95 % efficiency
under Gaussian noise) about the anchors' weighted median; their information is discounted to
the median's (2 / pi) and capped, because anchors share road relief that no plane absorbs.
This follows Hoiem, Efros, Hebert, "Putting Objects in Perspective" (CVPR 2006), with the
horizon's tilt estimated as well as its height. Written for this project.

The slope is off by default (``distance.cross_slope_sigma_deg = 0``): its frame-to-frame change
reaches the motion filter as motion and costs TTC (docs/ranging_vrus.md). Held level across,
the plane's pitch is updated from the anchors' weighted median, as the stage always did.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from adas.distance_kernels import GROUND_H, GROUND_HS, GROUND_Y, LAT_A, LAT_B, SIZE_D, SIZE_S
from adas.types import FloatArray

__all__ = ["HUBER_K", "GroundPlane", "ground_anchors"]

HUBER_K = 1.345  # Huber's tuning constant: 95 % efficiency for Gaussian residuals


@numba.njit(cache=True)
def ground_anchors(
    cues: FloatArray,  # N x N_CUES (adas.distance_kernels.range_cues)
    use: npt.NDArray[np.bool_],
    pitch: float,
    edge: FloatArray,  # N: pixel noise, normalised units
    theta: FloatArray,  # out, N: each anchor's implied pitch - s x (only the first m are set)
    x: FloatArray,  # out, N: each anchor's bearing (its near face's centre, level frame)
    var: FloatArray,  # out, N: the variance of its theta
) -> int:
    """Collect the anchors: ``theta = pitch + atan(h / d_s) - atan(y)`` (``h`` the camera's
    height above the object's contact, ``d_s`` its size range, ``y`` the level row of its
    contact point) measures ``pitch_true - s x``, with variance the size-range error seen
    from the camera height, the contact height's spread and the pixel noise. Returns the
    number of anchors ``m``."""
    m = 0
    for i in range(cues.shape[0]):
        d_s, s_s, yb, h = cues[i, SIZE_D], cues[i, SIZE_S], cues[i, GROUND_Y], cues[i, GROUND_H]
        if use[i] and d_s == d_s and yb > 0.0 and h > 0.0:
            theta[m] = pitch + math.atan(h / d_s) - math.atan(yb)
            x[m] = cues[i, LAT_A] + cues[i, LAT_B] / d_s  # the near face's centre
            # Size-range error seen from the camera height, the contact's own height spread
            # (a kerb) over the range, and the pixels.
            s_h = cues[i, GROUND_HS]
            var[m] = (h * s_s / (d_s * d_s + h * h)) ** 2 + (s_h / d_s) ** 2 + edge[i] ** 2
            m += 1
    return m


@numba.njit(cache=True)
def _update(
    mean: FloatArray,  # 2: pitch, slope (in/out)
    cov: FloatArray,  # 2 x 2 (in/out)
    theta: FloatArray,
    x: FloatArray,
    var: FloatArray,
    m: int,
    min_var: float,
) -> None:
    """Sequential scalar Kalman updates, one per anchor, measurement ``theta = p - s x``, with
    Huber weights about the anchors' weighted median and their total information capped at
    ``1 / min_var``."""
    order = np.argsort(theta[:m] + mean[1] * x[:m])  # slope-free implied pitches
    total = 0.0
    for j in range(m):
        total += 1.0 / var[j]
    acc = 0.0
    med = 0.0
    for j in range(m):
        acc += 1.0 / var[order[j]]
        if acc >= 0.5 * total:
            med = theta[order[j]] + mean[1] * x[order[j]]
            break
    r = np.empty(m)
    info = 0.0
    for j in range(m):
        # Huber: beyond k sigma from the median, the variance grows with the residual.
        z = abs(theta[j] + mean[1] * x[j] - med) / math.sqrt(var[j])
        r[j] = var[j] * max(1.0, z / HUBER_K) * 0.5 * math.pi
        info += 1.0 / r[j]
    inflate = max(1.0, info * min_var)
    for j in range(m):
        h0, h1 = 1.0, -x[j]
        ph0 = cov[0, 0] * h0 + cov[0, 1] * h1
        ph1 = cov[1, 0] * h0 + cov[1, 1] * h1
        s = h0 * ph0 + h1 * ph1 + r[j] * inflate
        if not s > 0.0:
            continue
        k0, k1 = ph0 / s, ph1 / s
        e = theta[j] - (mean[0] * h0 + mean[1] * h1)
        mean[0] += k0 * e
        mean[1] += k1 * e
        c00 = cov[0, 0] - k0 * ph0
        c01 = cov[0, 1] - k0 * ph1
        c11 = cov[1, 1] - k1 * ph1
        cov[0, 0], cov[0, 1], cov[1, 0], cov[1, 1] = c00, c01, c01, c11


@numba.njit(
    "Tuple((f8[::1], f8[:, ::1]))(f8[:], f8[:, :], f8[:], f8[:], f8[:], f8, f8[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _predict(
    mean: FloatArray,
    cov: FloatArray,
    mount: FloatArray,
    a: FloatArray,  # exp(-dt / revert_s)
    rate2: FloatArray,
    dt: float,
    limit: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """:meth:`GroundPlane.predict`'s new mean and covariance, as numpy computed them:
    ``mount + a (mean - mount)``, ``cov a a^T + diag(rate2 dt)``, then scaled by
    ``sqrt(min(1, limit^2 / max(var, 1e-300)))`` per side (np.minimum / np.maximum: NaN
    wins, the second operand on a tie; the off-diagonal gets numpy's + 0.0)."""
    m = np.empty(2)
    c = np.empty((2, 2))
    scale = np.empty(2)
    for i in range(2):
        m[i] = mount[i] + a[i] * (mean[i] - mount[i])
        for j in range(2):
            c[i, j] = cov[i, j] * (a[i] * a[j]) + (rate2[i] * dt if i == j else 0.0)
    for i in range(2):
        var = c[i, i]
        floor = var if math.isnan(var) or var > 1e-300 else 1e-300
        q = limit[i] * limit[i] / floor
        scale[i] = math.sqrt(1.0 if q > 1.0 else q)  # np.minimum(1.0, q): NaN stays
    for i in range(2):
        for j in range(2):
            c[i, j] = c[i, j] * (scale[i] * scale[j])
    return m, c


_MEDIAN_MAX = 128  # up to this many anchors numpy sums pairwise in one block (_numpy_sum)


@numba.njit(cache=True, inline="always")
def _numpy_sum(w: FloatArray) -> float:
    """``w.sum()`` as numpy adds up to 128 float64: in order below 8, else 8 running sums
    combined pairwise, then the rest in order."""
    n = w.size
    if n < 8:
        s = w[0]
        for i in range(1, n):
            s += w[i]
        return s
    r = w[:8].copy()
    end = n - n % 8
    for i in range(8, end, 8):
        for j in range(8):
            r[j] += w[i + j]
    s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(end, n):
        s += w[i]
    return s


@numba.njit(
    "b1(f8[:], f8[:, :], f8[:], f8[:], i8, f8, f8[:], f8[:])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _level_update(
    mean: FloatArray,
    cov: FloatArray,
    theta: FloatArray,
    var: FloatArray,
    m: int,
    min_var: float,
    mount: FloatArray,
    limit: FloatArray,
) -> bool:
    """:meth:`GroundPlane.update` held level across (in place), numpy's steps compiled: the
    weighted median of the anchors (a stable sort, numpy's sum, the first cumulative weight
    reaching half), the pitch's scalar update, the bound. False, with nothing changed, for
    anchors with a non-finite pitch or weight (numpy's path orders those)."""
    w = 1.0 / var[:m]
    for j in range(m):
        if not (math.isfinite(theta[j]) and math.isfinite(w[j])):
            return False
    order = np.empty(m, np.int64)  # np.argsort(theta, kind="stable")
    for j in range(m):
        q = j
        while q > 0 and theta[j] < theta[order[q - 1]]:
            order[q] = order[q - 1]
            q -= 1
        order[q] = j
    total = _numpy_sum(w)
    half = 0.5 * total
    acc = 0.0
    k = m - 1
    for q in range(m):  # np.searchsorted(np.cumsum(w[order]), half): the first >= half
        acc = w[order[q]] if q == 0 else acc + w[order[q]]
        if not acc < half:
            k = q
            break
    z = theta[order[k]]
    # Median of n anchors: variance ~ (pi/2) / sum(w); floored (shared road relief).
    r = 0.5 * math.pi / total
    r = min_var if min_var > r else r
    gain = cov[0, 0] / (cov[0, 0] + r)
    mean[0] += gain * (z - mean[0])
    cov[0, 0] *= 1.0 - gain
    for i in range(2):  # np.clip with array bounds: NaN stays, a tie gives the bound
        lo, hi = mount[i] - limit[i], mount[i] + limit[i]
        if not math.isnan(mean[i]):
            mean[i] = mean[i] if mean[i] > lo else lo
            mean[i] = mean[i] if mean[i] < hi else hi
    return True


def _weighted_median(values: FloatArray, weights: FloatArray) -> tuple[float, float]:
    """The weighted median of ``values`` (the first value where the cumulative weight of the
    sorted values reaches half) and the total weight."""
    order = np.argsort(values, kind="stable")
    total = float(weights.sum())
    j = int(np.searchsorted(np.cumsum(weights[order]), 0.5 * total))
    return float(values[order[min(j, len(order) - 1)]]), total


class GroundPlane:
    """Kalman filter of the camera pitch [rad] and the road's cross slope ``s`` (dY/dX in the
    level camera frame, y down: negative where the road rises to the right).

    Each component is an Ornstein-Uhlenbeck process about its mount value (pitch: the mount
    pitch; slope: 0) with a stationary spread and a reversion time; both are bounded.
    """

    def __init__(
        self,
        mount_pitch_rad: float,
        *,
        pitch_rate_rad: float,
        pitch_revert_s: float,
        pitch_max_dev_rad: float,
        slope_sigma: float,
        slope_revert_s: float,
        slope_max: float,
        min_sigma_rad: float,
    ) -> None:
        """``pitch_rate_rad``: the pitch's random walk [rad/sqrt(s)]; ``slope_sigma``: the
        slope's stationary spread. A process of rate ``q`` reverting in ``tau`` has the
        stationary variance ``q tau / 2``."""
        self.mount = np.array([mount_pitch_rad, 0.0])
        self.revert_s = np.array([pitch_revert_s, slope_revert_s])
        self.rate2 = np.array([pitch_rate_rad**2, 2.0 * slope_sigma**2 / slope_revert_s])
        self.limit = np.array([pitch_max_dev_rad, slope_max])
        self.min_var = min_sigma_rad**2
        self.reset()

    def reset(self) -> None:
        self.mean = self.mount.copy()
        stationary = 0.5 * self.rate2 * self.revert_s
        self.cov = np.diag(np.maximum(stationary, [1e-6 * (math.pi / 180.0) ** 2, 0.0]))

    @property
    def pitch(self) -> float:
        return float(self.mean[0])

    @property
    def slope(self) -> float:
        return float(self.mean[1])

    def predict(self, dt: float) -> None:
        """Revert towards the mount over ``dt`` seconds while the spread grows (never beyond
        the bound)."""
        if dt <= 0.0:
            return
        # numpy's exponential, the 2 x 2 algebra compiled (_predict).
        self.mean, self.cov = _predict(
            self.mean, self.cov, self.mount, np.exp(-dt / self.revert_s), self.rate2, dt,
            self.limit,
        )  # fmt: skip

    def update(self, theta: FloatArray, x: FloatArray, var: FloatArray, m: int) -> None:
        """Update from ``m`` anchors (see :func:`ground_anchors`), then bound the estimate.
        A plane held level across (slope spread 0) updates the pitch alone from the anchors'
        weighted median, as this stage always did."""
        if m <= 0:
            return
        if self.rate2[1] > 0.0:
            _update(self.mean, self.cov, theta, x, var, m, self.min_var)
        elif m <= _MEDIAN_MAX and _level_update(
            self.mean, self.cov, theta, var, m, self.min_var, self.mount, self.limit
        ):
            return  # the update below, compiled (mean bounded too)
        else:
            z, total = _weighted_median(theta[:m], 1.0 / var[:m])
            # Median of n anchors: variance ~ (pi/2) / sum(w); floored (shared road relief).
            r = max(0.5 * math.pi / total, self.min_var)
            gain = self.cov[0, 0] / (self.cov[0, 0] + r)
            self.mean[0] += gain * (z - self.mean[0])
            self.cov[0, 0] *= 1.0 - gain
        self.mean = np.clip(self.mean, self.mount - self.limit, self.mount + self.limit)

    def update_from_cues(
        self, cues: FloatArray, use: npt.NDArray[np.bool_], edge: FloatArray, min_anchors: int
    ) -> None:
        """Update from the rows ``use`` of a cue table (``adas.distance_kernels.range_cues``)
        when at least ``min_anchors`` of them anchor the plane."""
        n = cues.shape[0]
        theta, x, var = np.empty(n), np.empty(n), np.empty(n)
        m = ground_anchors(np.ascontiguousarray(cues), use, self.pitch, edge, theta, x, var)
        if m >= min_anchors:
            self.update(theta, x, var, m)
