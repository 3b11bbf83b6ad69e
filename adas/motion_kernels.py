"""Numba kernels of the motion stage (see :mod:`adas.motion` for the model).

Batched 3x3 / 5x5 Kalman algebra in numpy cost ~420 us per frame for 32 tracks on the 2-core
reference machine; as per-row loops compiled by numba it is ~80 us. Written for this project.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from adas.types import FloatArray, IntArray, ObjectClass

BoolArray = npt.NDArray[np.bool_]

MAX_ABS = 1e4  # |metres|, sigma or box side [px] beyond this is garbage, treated as missing
MIN_VAR = 1e-30  # floor on variances: a sigma of 0 must not divide by 0
MIN_RANGE_M = 0.1  # ranges below this count as this in rates (contact is handled apart)
# "Beyond the noise" in stop_limited_ttc: more than this many standard deviations (one-sided
# 2 sigma: 2.3 % of standing targets read oncoming).
NOISE_SIGMAS = 2.0
# Flags the filter kernel returns per row: has a state, (re)started now, measurement refused,
# restarted after refusals, has used two or more measurements.
LIVE, INIT, REJECTED, REINIT, SEASONED = 1, 2, 4, 8, 16
# Classes whose box width is not rigid (people, riders): the scale cue uses height only.
HEIGHT_ONLY = np.zeros(len(ObjectClass), np.bool_)
HEIGHT_ONLY[[ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE, ObjectClass.MOTORCYCLE]] = True


def rigid_side_cut(class_id: npt.ArrayLike, side_cut: npt.ArrayLike) -> BoolArray:
    """Rows whose side-cut box misleads the rates: all but the height-only classes (people
    and two-wheelers), whose size and range come from the box's height and whose centre from
    its inner edge, none of which a side border cuts (module docstring of adas.motion)."""
    cls = np.minimum(np.maximum(np.asarray(class_id, np.int64), 0), HEIGHT_ONLY.size - 1)
    return np.asarray(np.asarray(side_cut, np.bool_) & ~HEIGHT_ONLY[cls])


@numba.njit(cache=True)
def ttc1(d: float, v: float, a: float, cap: float) -> float:
    """Scalar core of :func:`solve_ttc`."""
    if d <= 0.0:
        return 0.0
    disc = v * v - 2.0 * a * d
    if not disc >= 0.0:  # also NaN
        return math.inf
    q = -0.5 * (v + math.copysign(math.sqrt(disc), v))  # one sign: no cancellation
    t = math.inf
    if q != 0.0 and d / q > 0.0:
        t = d / q
    if a != 0.0 and 0.0 < 2.0 * q / a < t:
        t = 2.0 * q / a
    return t if t <= cap else math.inf


@numba.njit(cache=True)
def ttc_many(d: FloatArray, v: FloatArray, a: FloatArray, cap: float, out: FloatArray) -> None:
    for i in range(d.size):
        out[i] = ttc1(d[i], v[i], a[i], cap)


@numba.njit(cache=True)
def ettc1(
    rate: float, var_rate: float, alpha: float, var_alpha: float, cap: float
) -> tuple[float, float]:
    """TTC [s] and sigma from the closing rate rho = -v/d [1/s] and alpha = a/d [1/s^2].

    The gap over d is 1 - rho t + alpha t^2/2; by the implicit function theorem dt/drho =
    t / (alpha t - rho) and dt/dalpha = -(t^2/2) / (alpha t - rho). Sigma is inf where TTC is.
    """
    t = ttc1(1.0, -rate, alpha, cap)
    slope = alpha * t - rate  # d(gap/d)/dt at contact, < 0 for a real crossing
    var = (t * t * var_rate + 0.25 * t**4 * var_alpha) / (slope * slope)
    return t, math.sqrt(var) if t < math.inf and var < math.inf else math.inf


@numba.njit(cache=True)
def kf_kernel(
    X: FloatArray, P: FloatArray, live: BoolArray, t_meas: IntArray, miss: IntArray,
    hits: IntArray, model: FloatArray, prior: FloatArray, obs: IntArray, slots: IntArray,
    dt: FloatArray, q: FloatArray, z: FloatArray, R: FloatArray, meas: BoolArray,
    position_only: BoolArray, t_ns: int, timeout_ns: int, gate: float, n_reinit: int,
    bias_of: IntArray, bias_rate: FloatArray, qb: FloatArray,
    out_x: FloatArray, out_P: FloatArray, flags: IntArray,
) -> None:  # fmt: skip
    """Predict, gate, update or (re)start the filter of each row's slot, in place.

    F = I + dt A1 + dt^2/2 A2, Q = q[r] coef dt^expo with (A1, A2, coef, expo) = model. Row r
    measures states obs with z[r], variances R[r]; a start puts z on obs, the rest at 0, with
    variances R and prior[r] (diagonal; a single row serves all rows). Where
    ``position_only[r]`` the predicted covariance between the measured and the other states is
    dropped first, so the measurement moves the measured states only: the rates keep what
    earlier measurements taught (a box cut by the image border, see adas.motion).

    Time-correlated measurement error (Bryson and Henrikson's state augmentation, in the
    form that keeps every measurement a single state): where ``bias_of[j] = i >= 0``, state j
    is a first-order (Gauss-Markov) error b of rate ``bias_rate[j]`` = 1/tau and state i is
    what the sensor reports, the true state plus b. Over dt, b' = e b + w with e = exp(-dt /
    tau) and var w = qb[r, j] (1 - e^2) (qb the error's stationary variance), and w moves the
    reported state too: F[j, j] = e, F[i, j] = e - 1, w's variance on (i, i), (i, j), (j, j).
    The error is relative to the box: before predicting, a live slot's errors are scaled by
    the ratio its first (true) state is predicted to change by, within 0.5-2
    (:func:`_follow_scale`). ``out_x``, ``out_P`` receive the true states (the first
    ``k - len(obs)``: each reported state less its error) and their covariance.
    """
    k = X.shape[1]
    F, T, Pp, xp, K = np.empty((k, k)), np.empty((k, k)), np.empty((k, k)), np.empty(k), np.empty(k)
    hp = np.empty(6)  # powers of dt for Q
    b0 = -1  # the error state of state 0
    err = np.full(out_x.shape[1], -1, np.int64)  # the error state of each true state, or -1
    for j in range(k):
        if bias_of[j] == 0:
            b0 = j
        if 0 <= bias_of[j] < err.size:
            err[bias_of[j]] = j
    for r in range(slots.size):
        s, h = slots[r], dt[r]
        if live[s] and b0 >= 0:
            _follow_scale(X[s], P[s], bias_of, b0, h)
        alive = live[s] and t_ns - t_meas[s] <= timeout_ns
        for e in range(6):
            hp[e] = h**e
        for i in range(k):
            for j in range(k):
                F[i, j] = (i == j) + h * model[0, i, j] + 0.5 * h * h * model[1, i, j]
        for j in range(k):
            if bias_of[j] >= 0:
                decay = math.exp(-h * bias_rate[j])
                F[j, j], F[bias_of[j], j] = decay, decay - 1.0
        for i in range(k):
            xp[i] = 0.0
            for j in range(k):
                xp[i] += F[i, j] * X[s, j]
                T[i, j] = 0.0
                for m in range(k):
                    T[i, j] += F[i, m] * P[s, m, j]
        for i in range(k):
            for j in range(k):
                Pp[i, j] = q[r] * model[2, i, j] * hp[int(model[3, i, j])]
                for m in range(k):
                    Pp[i, j] += T[i, m] * F[j, m]
        for j in range(k):
            if bias_of[j] >= 0:
                i, w = bias_of[j], qb[r, j] * -math.expm1(-2.0 * h * bias_rate[j])
                Pp[j, j] += w
                Pp[i, i] += w
                Pp[i, j] += w
                Pp[j, i] += w
        if position_only[r]:
            for m in range(obs.size):
                for j in range(k):
                    if j != obs[m]:
                        Pp[obs[m], j] = Pp[j, obs[m]] = 0.0
        # The measured states are uncorrelated (block-diagonal P): chi2 is a sum and
        # sequential scalar updates are exact.
        chi2 = 0.0
        for m in range(obs.size):
            e = z[r, m] - xp[obs[m]]
            chi2 += e * e / (Pp[obs[m], obs[m]] + max(R[r, m], MIN_VAR))
        rejected = meas[r] and alive and not chi2 <= gate
        ok = meas[r] and alive and not rejected
        for m in range(obs.size if ok else 0):
            o = obs[m]
            S, e = Pp[o, o] + max(R[r, m], MIN_VAR), z[r, m] - xp[o]
            for i in range(k):
                K[i] = Pp[i, o] / S
                xp[i] += K[i] * e
            for i in range(k):
                for j in range(k):
                    T[i, j] = Pp[i, j] - K[i] * Pp[o, j]
            for i in range(k):
                for j in range(k):
                    Pp[i, j] = 0.5 * (T[i, j] + T[j, i])
        miss[s] = miss[s] + 1 if rejected else (0 if ok else miss[s])
        reinit = miss[s] >= n_reinit
        init = (meas[r] and not alive) or reinit
        if init:
            xp[:], Pp[:], miss[s], hits[s] = 0.0, 0.0, 0, 0
            for i in range(k):
                Pp[i, i] = prior[min(r, prior.shape[0] - 1), i]  # one row serves all
            for m in range(obs.size):
                xp[obs[m]], Pp[obs[m], obs[m]] = z[r, m], max(R[r, m], MIN_VAR)
        alive = alive or init
        if not alive:
            xp[:], Pp[:] = 0.0, 0.0
        if ok or init:
            t_meas[s], hits[s] = t_ns, hits[s] + 1
        X[s], P[s], live[s] = xp, Pp, alive
        _true_states(xp, Pp, err, out_x[r], out_P[r])
        flags[r] = (
            alive * LIVE + init * INIT + rejected * REJECTED + reinit * REINIT
            + (hits[s] >= 2) * SEASONED
        )  # fmt: skip


@numba.njit(cache=True)
def _follow_scale(x: FloatArray, P: FloatArray, bias_of: IntArray, b0: int, h: float) -> None:
    """Scale a slot's error states by f = (x0 + x1 h) / x0 (x0 the true first state, x1 its
    rate; f within 0.5-2, 1 where undefined), the reported states moved so the true ones stay:
    x <- J x, P <- J P J' with J the identity but J[j, j] = f, J[i, j] = f - 1 (i = bias_of[j])."""
    x0 = x[0] - x[b0]
    f = (x0 + x[1] * h) / x0 if x0 > 0.0 else 1.0
    f = min(max(f, 0.5), 2.0) if f == f else 1.0
    if f == 1.0:
        return
    k = x.size
    for j in range(k):
        i = bias_of[j]
        if i >= 0:
            x[i] += (f - 1.0) * x[j]
            x[j] *= f
            for c in range(k):  # rows of J P (row i first: it needs row j unscaled)
                P[i, c] += (f - 1.0) * P[j, c]
                P[j, c] *= f
    for j in range(k):
        i = bias_of[j]
        if i >= 0:
            for c in range(k):  # columns of (J P) J'
                P[c, i] += (f - 1.0) * P[c, j]
                P[c, j] *= f


@numba.njit(cache=True)
def _true_states(
    x: FloatArray, P: FloatArray, e: IntArray, out_x: FloatArray, out_P: FloatArray
) -> None:
    """The first ``out_x.size`` states less their errors (``e[a]``: the error state of state a,
    -1 for none), and their covariance."""
    kt = out_x.size
    for a in range(kt):
        out_x[a] = x[a] - (x[e[a]] if e[a] >= 0 else 0.0)
        for b in range(kt):
            v = P[a, b]
            if e[b] >= 0:
                v -= P[a, e[b]]
            if e[a] >= 0:
                v -= P[e[a], b]
                if e[b] >= 0:
                    v += P[e[a], e[b]]
            out_P[a, b] = v


@numba.njit(cache=True)
def stop_limited_ttc(
    d: float, v: float, a: float, v_ego: float, a_ego: float, t: float, cap: float,
    sigma_v: float = 0.0, forward: bool = False, rel_sigma_d: float = 0.0,
) -> float:  # fmt: skip
    """TTC [s] of a target that cannot go below zero speed. ``d`` gap [m] (relative standard
    deviation ``rel_sigma_d``), ``v`` range rate (standard deviation ``sigma_v``), ``a``
    relative acceleration, ``v_ego`` / ``a_ego`` our speed and acceleration, ``t`` the
    constant-acceleration TTC.

    The target's speed is ``v_ego + v`` and its acceleration ``a + a_ego``. Standing (speed
    <= 0, and either seen going our way before (``forward``: a lead stops, it does not turn
    round) or not below zero by more than ``NOISE_SIGMAS`` sigma: its "reversing" and
    "braking" are estimation noise) it is a stationary object, which closes at our speed. A
    range that is a few per cent too long closes that much faster than we drive (a monocular
    range's scale error cancels in d / v), so the filter's closing speed is kept up to our
    speed times ``1 + NOISE_SIGMAS rel_sigma_d`` (the caller passes at least the range
    measurement's sigma: the filter's averaging does not remove a scale error; with the
    filter's alone, Euro NCAP CCR on seeds 0-29 collided 96 times, not 91); beyond that it is
    the overshoot when
    a lead stops (its deceleration still in the state, an error its sigma does not hold),
    which made a creeping queue read TTC 1.9-3.0 s instead of 4-5 s. Any other target whose
    speed is below zero comes towards us and keeps its own TTC. Braking, it
    stops after ``(v_ego + v) / -(a + a_ego)``; a collision after that is with a stopped car
    ``d + v_t^2 / (-2 a_t)`` ahead, reached at our own speed and acceleration. Without this a
    lead that had just stopped in a queue, its braking still in the filter, read TTC 2 s
    instead of 5 s.
    """
    v_t, a_t = v_ego + v, a + a_ego
    if v_t <= 0.0:
        if not forward and v_t < -NOISE_SIGMAS * sigma_v:
            return t
        closing = min(-v, v_ego * (1.0 + NOISE_SIGMAS * rel_sigma_d))
        return ttc1(d, -closing, -a_ego, cap)
    if a_t >= 0.0 or t <= v_t / -a_t:
        return t
    return ttc1(d + v_t * v_t / (-2.0 * a_t), -v_ego, -a_ego, cap)


@numba.njit(cache=True)
def ttc_kernel(
    x: FloatArray, p: FloatArray, f_r: IntArray, xs: FloatArray, ps: FloatArray, f_s: IntArray,
    c_bumper: float, shrink2: float, cap: float, model_rel2: float, v_ego: float,
    a_ego: float, forward: BoolArray, sig_meas: FloatArray, out: FloatArray,
) -> None:  # fmt: skip
    """Fuse the cues per row r into out[:, r]: TTC, sigma, range-cue TTC, sigma, scale-cue TTC,
    sigma, distance, sigma, lateral, range rate, acceleration, lateral velocity, its sigma.

    With the ego speed ``v_ego`` and acceleration ``a_ego`` known (NaN if not), the fused TTC
    lets a decelerating target stop at zero speed (:func:`stop_limited_ttc`); ``forward`` (per
    row, in and out) marks targets once seen going our way beyond ``NOISE_SIGMAS`` sigma;
    ``sig_meas`` (per row) is the last range measurement's sigma, a floor of the range's."""
    for r in range(x.shape[0]):
        live, d, v, a = f_r[r] & LIVE, x[r, 0], x[r, 1], x[r, 2]
        dd = max(d, MIN_RANGE_M) if live else 1.0
        # The range sigma, reported and used as its scale error, is never below the last
        # measurement's: the filter averages all but the box error's slow part as if
        # independent, but a box range's other errors (size prior, pitch, grade) hold too
        # (a parked car 61 m ahead on a 150 m curve, 20 % short for seconds, read 49 +- 3.2 m:
        # danger put it in our path).
        sig_d = max(math.sqrt(max(p[r, 0, 0], 0.0)), sig_meas[r])
        # Range cue: rho = -v/d, J = (v/d^2, -1/d).
        rate_r, var_r = 0.0, math.inf
        if live:
            k0, k1 = v / (dd * dd), -1.0 / dd
            rate_r = -v / dd
            var_r = k0 * k0 * p[r, 0, 0] + 2 * k0 * k1 * p[r, 0, 1] + k1 * k1 * p[r, 1, 1]
        # Scale cue from its second box on: rho = -(u'/u) (d + c)/d, J = (u'/u^2, -1/u) (d + c)/d.
        rate_s, var_s = 0.0, math.inf
        u, du = xs[r, 0], xs[r, 1]
        if f_s[r] & LIVE and f_s[r] & SEASONED and u > 0.0:
            c = (dd + c_bumper) / dd if live else 1.0
            j0, j1 = du / (u * u) * c, -c / u
            rate_s = -du / u * c
            var_s = j0 * j0 * ps[r, 0, 0] + 2 * j0 * j1 * ps[r, 0, 1] + j1 * j1 * ps[r, 1, 1]
            var_s += model_rel2 * rate_s * rate_s
        # Inverse-variance fusion of the rates; an unusable cue (var inf) weighs 0.
        var_r, var_s = max(var_r, MIN_VAR), max(var_s, MIN_VAR)
        W = 1.0 / var_r + 1.0 / var_s
        rate_f = (rate_r / var_r + rate_s / var_s) / W if W > 0.0 else 0.0
        # Acceleration credit max(0, 1 - k^2 var_a / a^2), as alpha = a/d.
        var_a = max(p[r, 2, 2], 0.0) if live else 0.0
        a_credit = a * max(0.0, 1.0 - shrink2 * var_a / (a * a + MIN_VAR)) if live else 0.0
        alpha = a_credit / dd
        var_alpha = var_a / (dd * dd)
        var_f = 1.0 / W if W > 0.0 else math.inf
        out[0, r], out[1, r] = ettc1(rate_f, var_f, alpha, var_alpha, cap)
        if live and v_ego == v_ego and a_ego == a_ego:
            sig_v = math.sqrt(var_f) * dd if W > 0.0 else math.inf
            v_t = v_ego - rate_f * dd
            forward[r] = forward[r] or v_t > NOISE_SIGMAS * sig_v
            rel_d = sig_d / dd
            t_s = stop_limited_ttc(
                dd, -rate_f * dd, a_credit, v_ego, a_ego, out[0, r], cap, sig_v, forward[r],
                rel_d,
            )  # fmt: skip
            if t_s != out[0, r]:
                rate_s_eff = 1.0 / t_s if t_s < math.inf else 0.0
                out[0, r], out[1, r] = t_s, ettc1(rate_s_eff, var_f, 0.0, 0.0, cap)[1]
        out[2, r], out[3, r] = ettc1(rate_r, var_r, alpha, var_alpha, cap)
        out[4, r], out[5, r] = ettc1(rate_s, var_s, alpha, var_alpha, cap)
        if live and d <= 0.0:  # at the face already: TTC 0, sigma from range and speed
            out[0, r], out[1, r] = 0.0, math.sqrt(max(p[r, 0, 0], 0.0)) / max(-v, 0.1)
        sig_vy = math.sqrt(max(p[r, 4, 4], 0.0))
        out[6:, r] = (
            (d, sig_d, x[r, 3], v, a_credit, x[r, 4], sig_vy)
            if live
            else (math.inf, math.inf, 0, 0, 0, 0, math.inf)
        )


@numba.njit(cache=True)
def box_sizes(
    xyxy: FloatArray, class_id: IntArray, fresh: BoolArray, edge_sigma: FloatArray,
    sig_g2: float, u: FloatArray, R: FloatArray, prior: FloatArray, meas: BoolArray,
) -> None:  # fmt: skip
    """Scale-filter measurement u = 1/size [1/px], its variance and start prior, per row.

    Relative size variance: a side has two edges of variance ``edge_sigma[r]^2`` (px, per row:
    adas.priors.box_edge_sigma); the geometric mean of two sides halves it again. Priors scale
    with u, so the filter is independent of object size.
    """
    for r in range(u.size):
        w, h = xyxy[r, 2] - xyxy[r, 0], xyxy[r, 3] - xyxy[r, 1]
        meas[r] = fresh[r] and 1.0 <= w <= MAX_ABS and 1.0 <= h <= MAX_ABS
        if not meas[r]:
            w = h = 1.0
        edge2 = edge_sigma[r] * edge_sigma[r]
        c = class_id[r]
        if 0 <= c < HEIGHT_ONLY.size and HEIGHT_ONLY[c]:
            size, rel2 = h, 2.0 * edge2 / (h * h)
        else:
            size, rel2 = math.sqrt(h * w), 0.5 * edge2 * (1.0 / (h * h) + 1.0 / (w * w))
        u[r] = 1.0 / size
        R[r, 0] = rel2 * u[r] * u[r]
        prior[r, 1] = sig_g2 * u[r] * u[r]


def solve_ttc(
    d: npt.ArrayLike, v: npt.ArrayLike, a: npt.ArrayLike, ttc_max_s: float = math.inf
) -> FloatArray:
    """Smallest positive t [s] with d + v t + a t^2/2 = 0; 0 where d <= 0, inf without a root.

    Stable form: q = -(v + sign(v) sqrt(v^2 - 2 a d)) / 2 adds terms of one sign and the roots
    are d / q and 2 q / a, so a -> 0 tends to d / -v without cancellation. Roots above
    ``ttc_max_s`` read inf. d [m], v [m/s] (< 0 closing), a [m/s^2], broadcast together.
    """
    dd, vv, aa = (np.array(x, np.float64) for x in np.broadcast_arrays(d, v, a))
    out = np.empty(dd.shape)
    ttc_many(dd.reshape(-1), vv.reshape(-1), aa.reshape(-1), float(ttc_max_s), out.reshape(-1))
    return out


# Range + lateral: (range, rate, accel) constant acceleration, white jerk (q coef dt^expo);
# (lateral, lateral velocity) constant velocity, white acceleration.
