"""The motion stage's compiled input steps (adas.motion_frame) against the numpy code they
replace, kept here as the reference: every output bit and the filter banks' state over random
frame sequences (NaN, cut boxes, odd ego states, time going back)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas import motion_kernels as mk
from adas.errors import ContractError
from adas.motion import _INT64, _OK, BoolArray, MotionConfig, MotionEstimator, TtcCues, log
from adas.priors import box_edge_sigma
from adas.types import (
    EgoState,
    FloatArray,
    IntArray,
    ObjectStates,
    RangeEstimates,
    Tracks,
)


class NumpyMotion(MotionEstimator):
    """The stage's per-frame steps as numpy code (adas/motion.py before adas.motion_frame)."""

    def update(
        self, tracks: Tracks, ranges: RangeEstimates, t_ns: int, ego: EgoState | None = None
    ) -> ObjectStates:
        """Filter this frame's ranges and boxes; one output row per track row, same order.

        Only rows with ``time_since_update == 0`` measure (coasting boxes are predictions);
        ranges also need status OK. Time going backwards resets every state. ``ego``, when
        valid: a change of ego acceleration between frames shifts the relative acceleration at
        once (a known input, d'' = a_object - a_ego), so our own braking is not learned as jerk.
        """
        n, cfg = len(tracks), self.config
        if len(ranges) != n:
            msg = f"motion: {len(ranges)} range rows for {n} tracks; pass their distance output"
            raise ContractError(msg)
        t_ns = int(t_ns)
        if not _INT64.min <= t_ns <= _INT64.max:
            msg = f"motion: t_ns = {t_ns} does not fit int64 nanoseconds"
            raise ContractError(msg)
        if self._last_t_ns is not None and t_ns < self._last_t_ns:
            log.warning("motion: time went back %d -> %d ns; states reset", self._last_t_ns, t_ns)
            self.reset()
        self._last_t_ns = t_ns
        self._drop_stale(t_ns)
        slots = self._slots(tracks.track_id, t_ns)
        dt = np.minimum(np.maximum((t_ns - self._t_ns[slots]) * 1e-9, 0.0), cfg.state_timeout_s)
        self._t_ns[slots] = t_ns
        fresh = np.asarray(tracks.time_since_update) == 0
        with np.errstate(all="ignore"):
            self._ego_input(slots, ego)
            self._yaw_input(slots, dt, ego)
            cut = mk.rigid_side_cut(tracks.class_id, ranges.side_cut)
            # The fast box error is white to the filter at the variance of its sample means:
            # x (1 + rho) / (1 - rho), rho its correlation over one frame interval.
            rho = np.exp(-dt / cfg.box_error_fast_tau_s) if cfg.box_error_fast_tau_s else 0 * dt
            fast_gain = np.where(dt > 0, (1 + rho) / (1 - rho), 1.0)
            xs, ps, f_s, rel2 = self._scale_step(
                slots, dt, tracks, fresh, cut, ranges.bottom_cut, fast_gain, t_ns
            )
            x, p, f_r = self._range_step(slots, dt, ranges, fresh, cut, fast_gain, rel2, t_ns)
        out = np.empty((13, n))
        shrink2 = cfg.accel_shrink_sigmas**2
        forward = self._forward[slots]
        mk.ttc_kernel(
            x, p, f_r, xs, ps, f_s, cfg.camera_behind_bumper_m, shrink2, cfg.ttc_max_s,
            cfg.scale_model_rel_sigma**2, *self._ego_motion(ego), forward, self._sig_meas[slots],
            out,
        )  # fmt: skip
        self._forward[slots] = forward
        self.cues = TtcCues(out[2], out[3], out[4], out[5])
        return ObjectStates(
            track_id=np.array(tracks.track_id, np.int64), ttc_s=out[0], sigma_ttc_s=out[1],
            distance_m=out[6], sigma_distance_m=out[7], lateral_m=out[8], range_rate_mps=out[9],
            accel_mps2=out[10], lateral_velocity_mps=out[11], sigma_lateral_velocity_mps=out[12],
            class_id=np.array(tracks.class_id, np.int64),
        )  # fmt: skip

    def _ego_input(self, slots: IntArray, ego: EgoState | None) -> None:
        a_now = float(ego.accel_mps2) if ego is not None and ego.valid else math.nan
        if not (math.isfinite(a_now) and abs(a_now) < 100.0):
            a_now = math.nan
        elif len(slots):
            prev = self._ego_a[slots]
            self._rng.X[slots, 2] -= np.where(np.isfinite(prev), a_now - prev, 0.0)
        self._ego_a[slots] = a_now

    def _yaw_input(self, slots: IntArray, dt: FloatArray, ego: EgoState | None) -> None:
        """Our own turning as a known input of the lateral prediction.

        In the ego frame a parked car ``d`` metres ahead drifts sideways at ``-yaw_rate * d``
        while we turn (6 m/s at 60 m on a 200 m curve at 80 km/h). Moving each live lateral
        state by that drift before the filter predicts keeps the lateral velocity state the
        object's own motion: a young track need not learn our turning as its motion (parked
        cars on an inner verge "cut in" that way), and the danger stage's curved path, which
        already holds our turning, is not given it twice.
        """
        w = float(ego.yaw_rate_rps) if ego is not None and ego.valid else math.nan
        if not (math.isfinite(w) and abs(w) < 10.0) or not len(slots):
            return
        live = self._rng.live[slots]
        rows = slots[live]
        self._rng.X[rows, 3] -= w * (self._rng.X[rows, 0] - self._rng.X[rows, 5]) * dt[live]

    def _range_step(
        self, slots: IntArray, dt: FloatArray, ranges: RangeEstimates, fresh: BoolArray,
        side_cut: BoolArray, fast_gain: FloatArray, rel2: FloatArray, t_ns: int,
    ) -> tuple[FloatArray, FloatArray, IntArray]:  # fmt: skip
        r = ranges
        m = np.stack([r.distance_m, r.lateral_m, r.sigma_distance_m, r.sigma_lateral_m], 1)
        m = m.astype(np.float64)
        sane = (np.abs(m) <= mk.MAX_ABS).all(1) & (m[:, 2] >= 0) & (m[:, 3] >= 0)
        meas = fresh & (np.asarray(r.status) == _OK) & sane
        ones, z, var = np.ones(len(slots)), np.ascontiguousarray(m[:, :2]), m[:, 2:] ** 2
        # A box cut by a side border ranges its visible part: as more of the object enters
        # (or leaves) the image, its range and lateral position change with the cut, not with
        # the object (an overtaking car entering at the left border "closed" at 22 m/s and
        # "moved" into our path). Such a measurement moves the positions only; the rates keep
        # what whole boxes taught (zero with the start variance for a track born cut).
        cut = side_cut & meas
        self._sig_meas[slots[meas]] = m[meas, 2]
        # The box's part of the range error: its relative size error (a size-prior range is
        # off by as much). The lateral error is taken as white, as before the error states:
        # its slow part would widen a walker's lateral-speed band (danger), the decision
        # docs/vru.md leaves open.
        box = (rel2 * m[:, 0] ** 2)[:, None]
        x, p, flags = self._rng.step(
            slots, dt, ones, z, var, meas, self._prior_r, fast_gain, box, t_ns,
            *self._timeouts(), cut,
        )  # fmt: skip
        self.rejected_measurements += int(np.count_nonzero(flags & mk.REJECTED))
        self.reinitialisations += int(np.count_nonzero(flags & mk.REINIT))
        return x, p, flags

    def _scale_step(
        self, slots: IntArray, dt: FloatArray, tracks: Tracks, fresh: BoolArray,
        side_cut: BoolArray, bottom_cut: BoolArray, fast_gain: FloatArray, t_ns: int,
    ) -> tuple[FloatArray, FloatArray, IntArray, FloatArray]:  # fmt: skip
        cfg, n = self.config, len(slots)
        u, R, prior, meas = np.empty(n), np.empty((n, 1)), np.zeros((n, 2)), np.empty(n, bool)
        xyxy = np.asarray(tracks.xyxy, np.float64)
        edge = box_edge_sigma(xyxy, cfg.box_edge_sigma_px, cfg.box_edge_var_per_px)
        mk.box_sizes(
            xyxy, np.asarray(tracks.class_id, np.int64), fresh, edge,
            cfg.init_sigma_scale_rate_1ps**2, u, R, prior, meas,
        )  # fmt: skip
        # The size of a box cut by a side border is the size of the cut: no scale measurement
        # from it (the filter coasts on what whole boxes taught). Nor from a box cut by the
        # bottom border: its height shrinks as the object comes nearer (a walker 3 m ahead
        # "receded" and its TTC went to inf in the last metres of a 10 km/h approach).
        meas &= ~(np.asarray(side_cut, np.bool_) | np.asarray(bottom_cut, np.bool_))
        q = cfg.scale_accel_psd_1ps3 * self._scl.X[slots, 0] ** 2
        x, p, flags = self._scl.step(
            slots, dt, q, u[:, None], R, meas, prior, fast_gain, R, t_ns, *self._timeouts()
        )
        self.rejected_boxes += int(np.count_nonzero(flags & mk.REJECTED))
        return x, p, flags, R[:, 0] / u**2


def frame(
    rng: np.random.Generator, ids: np.ndarray, d: np.ndarray
) -> tuple[Tracks, RangeEstimates]:
    n = ids.size
    h = np.clip(8000.0 / np.maximum(d, 1.0), 2.0, 600.0) * rng.uniform(0.95, 1.05, n)
    cx = rng.uniform(0, 1280, n)
    xyxy = np.column_stack([cx - h, 500 - h, cx + h, 500 + rng.uniform(-1, 1, n)])
    hit = rng.random(xyxy.shape) < 0.03
    xyxy[hit] = rng.choice([np.nan, np.inf, -0.0, 1e5])
    tracks = Tracks(
        xyxy=xyxy.astype(np.float32), score=np.ones(n, np.float32),
        class_id=rng.choice([0, 1, 2, 2, 3, 5, -1, 9], n), track_id=ids.copy(),
        age=np.ones(n, np.int64), hits=np.ones(n, np.int64),
        time_since_update=rng.choice([0, 0, 0, 1], n), det_index=np.zeros(n, np.int64),
    )  # fmt: skip
    dist = d + rng.normal(0, 0.5, n)
    cols = [
        dist,
        rng.normal(0, 2, n),
        np.abs(rng.normal(1, 0.5, n)),
        np.abs(rng.normal(0.3, 0.1, n)),
    ]
    cols = [np.where(rng.random(n) < 0.03, rng.choice([np.nan, -1.0, 2e4, -0.0]), c) for c in cols]
    ranges = RangeEstimates(
        distance_m=cols[0], lateral_m=cols[1], sigma_distance_m=cols[2], sigma_lateral_m=cols[3],
        status=rng.choice([0, 0, 0, 5], n), method=np.ones(n, np.int64), pitch_rad=0.0,
        side_cut=rng.random(n) < 0.15, bottom_cut=rng.random(n) < 0.1,
    )  # fmt: skip
    return tracks, ranges


def ego(rng: np.random.Generator, t_ns: int) -> EgoState | None:
    if rng.random() < 0.05:
        return None
    return EgoState(
        t_ns=t_ns, speed_mps=float(rng.choice([20.0, 0.0, np.nan, 300.0])),
        yaw_rate_rps=float(rng.choice([0.0, -0.0, 0.1, -0.3, np.nan, 20.0])),
        accel_mps2=float(rng.choice([0.0, -3.0, 1.5, np.inf, 200.0])), valid=rng.random() > 0.05,
    )  # fmt: skip


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", range(24))
def test_kernels_give_the_numpy_stage_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = MotionConfig(box_error_fast_tau_s=float(rng.choice([0.0, 0.08])))
    fast, ref = MotionEstimator(cfg), NumpyMotion(cfg)
    ids = np.arange(int(rng.integers(0, 10)))
    d = rng.uniform(3, 80, ids.size)
    t_ns = 0
    for _ in range(60):
        t_ns += int(rng.choice([33_333_333, 10**8, 2 * 10**9, -(10**7)], p=[0.6, 0.3, 0.05, 0.05]))
        if rng.random() < 0.15:
            keep = rng.random(ids.size) < 0.8
            ids, d = (
                np.concatenate([ids[keep], [ids.max(initial=0) + 1]]),
                np.concatenate([d[keep], [40.0]]),
            )
        d = d + rng.normal(-0.5, 0.3, ids.size)
        tracks, ranges = frame(rng, ids, d)
        e = ego(rng, t_ns)
        a, b = fast.update(tracks, ranges, t_ns, e), ref.update(tracks, ranges, t_ns, e)
        for name in ObjectStates.__dataclass_fields__:
            assert same(getattr(a, name), getattr(b, name)), name
        for name in ("_t_ns", "_ego_a", "_forward", "_sig_meas"):
            assert same(getattr(fast, name), getattr(ref, name)), name
        for bank in ("_rng", "_scl"):
            for name in ("X", "P", "live", "t_meas", "miss", "hits", "slow_var"):
                assert same(getattr(getattr(fast, bank), name), getattr(getattr(ref, bank), name))
        counts = ("rejected_measurements", "rejected_boxes", "reinitialisations")
        assert [getattr(fast, c) for c in counts] == [getattr(ref, c) for c in counts]
