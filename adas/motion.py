"""Motion stage: filtered range, range rate, relative acceleration and time-to-collision (TTC).

Two Kalman filters per track id, stepped for all tracks of a frame by compiled kernels:

* **range + lateral**, block-diagonal: [range, range rate, relative acceleration] under constant
  acceleration driven by white jerk, [lateral, lateral velocity] under constant velocity. The
  measurement variances are the distance stage's ``sigma**2``, so near objects pull harder than
  far ones. One chi-square gate (2 dof): one box yields both numbers, an outlier box spoils both.
  The range rate starts at 0 with a large variance, so the second measurement makes it a
  properly weighted two-point difference without a special case.
* **box scale**: [u, du/dt] under constant velocity, u = 1 / size [1/px] = Z / (f H), Z the depth
  of the object's face from the camera: under constant relative velocity u is linear in time,
  the filter unbiased, and two noise-free boxes give the classic -u/u' = dt / (s - 1) (s the
  size ratio). Size is the geometric mean of height and width (edge noise averages down), height
  only for pedestrians and two-wheelers, whose width swings with gait and lean.

Range and u each have a companion state, the slow part of the detector's box error in them
(:mod:`adas.motion_bank`, docs/motion-box-error.md): a first-order process of correlation time
``box_error_slow_tau_s`` holding the share ``box_error_slow_share`` of the box's part of the
measurement variance; the rest, the fast error, is white to the filter at the variance of its
sample means. A box error that wanders over seconds is then not read as motion. The lateral
position has no companion: its error is taken as white, as before.

TTC. Each cue gives a constant-velocity closing rate rho = 1/TTC [1/s]: -v/d from the range
filter; -u'/u from the boxes, which under constant velocity is closing speed over the range to
the object's face *measured from the camera*, moved to the bumper as rho (d + c) / d (c =
``camera_behind_bumper_m``). The rates are fused by inverse variance (1/TTC is smooth through 0
= no collision; the scale cue carries a relative model error, ``scale_model_rel_sigma``, because
a box is not a flat object at one depth), then the relative acceleration a enters: TTC is the
smallest positive root of d + v t + a t^2/2 = 0 with v = -rho d (the enhanced TTC of ISO 22839),
0 at contact, inf without a root or above ``ttc_max_s``. An opening gap under relative
deceleration (lead car braking from matched speed, Euro NCAP CCRb) has a root and gets a finite
TTC on purpose. a is shrunk by max(0, 1 - (k sigma_a / a)^2) (positive-part James-Stein):
acceleration from differentiated monocular ranges is noisy and lags (~1 s to learn a braking
lead), and noise on a young track must neither make a closing object "stop short" nor shorten
TTC at random. Sigmas are first order and carry the full uncertainty of a. The reported
``accel_mps2`` is this credited acceleration, so the danger stage's required deceleration
rests on the same evidence as the TTC.

The ego yaw rate is a known input of the lateral prediction (a stationary object ``d`` ahead
drifts at ``-yaw_rate * d`` in the turning ego frame), so the lateral velocity state is the
object's own motion: our turning is the danger stage's curved path, not the object's motion.

Boxes cut by the image's left or right border (``RangeEstimates.side_cut``) describe the
visible part of the object: such a measurement moves only the filters' positions (the rates
keep what whole boxes taught, zero with the start variance for a track born cut) and gives no
box-scale measurement, so no rate, and no TTC, is ever derived from how a cut moves. Not so
for people and two-wheelers (``motion_kernels.HEIGHT_ONLY``): their size and range come
from the box's height and their centre from its inner edge (the distance stage), and a side
border cuts none of these, so a walker crossing in from the image border (the last 2-3 s of
a far-side walker at low ego speed) keeps teaching both filters. A box cut by the bottom
border (``RangeEstimates.bottom_cut``: an object within a few metres) gives no box-scale
measurement either: its height is the cut's, shrinking as the object nears.

Rows without a range state (never a valid range, or none for ``state_timeout_s``) report distance
and sigma inf, lateral and rates 0: consumers must check ``sigma_distance_m``. Their TTC may be
finite from the box scale alone (to the camera plane). No NaN leaves this stage.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from adas import motion_bank as mb
from adas import motion_frame as mf
from adas import motion_kernels as mk
from adas.errors import ContractError
from adas.motion_kernels import solve_ttc as solve_ttc  # re-exported: adas.motion API
from adas.params import param, validate
from adas.priors import box_edge_sigma
from adas.slots import TrackSlots
from adas.types import (
    EgoState,
    FloatArray,
    IntArray,
    ObjectStates,
    RangeEstimates,
    RangeStatus,
    Tracks,
)

log = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]
_INT64 = np.iinfo(np.int64)
_OK = int(RangeStatus.OK)


@dataclass(frozen=True)
class MotionConfig:
    """Parameters of the motion stage; each default carries its source or reason."""

    # White-jerk spectral density q: over an interval T the acceleration moves by ~sqrt(q T)
    # (Bar-Shalom et al., Estimation with Applications to Tracking, 6.2.3). q = 4 allows
    # 0.63 m/s^2 per 0.1 s, a jerk ~6 m/s^3: above ACC comfort limits (2.5 m/s^3, ISO 15622),
    # at emergency-braking onsets' order (10+ m/s^3) without chasing frame-to-frame noise.
    jerk_psd_m2ps5: float = param(4.0, lo=1e-3, hi=1e3, unit="m^2/s^5")
    # Initial range-rate sigma: relative speeds on roads lie within +-40 m/s at 2 sigma.
    init_sigma_range_rate_mps: float = param(20.0, lo=0.1, hi=100.0, unit="m/s")
    # Initial relative-acceleration sigma: at first sight most objects hold their speed relative
    # to us (|a| < 1 m/s^2); hard braking (to ~9 m/s^2) is then learned through the jerk noise.
    init_sigma_accel_mps2: float = param(1.0, lo=0.01, hi=50.0, unit="m/s^2")
    # k of the acceleration credit max(0, 1 - (k sigma_a / a)^2) in TTC and in the reported
    # acceleration. k = 1 halves the TTC error of the smooth credit a^2 / (a^2 + sigma_a^2);
    # k = 0.5 learns a braking lead sooner: in the closed-loop scenarios (adas scenarios, seed
    # 0, 7 trials, 2.6 s warning TTC) NHTSA's braking-lead warning passed 4/7 trials instead of
    # 1/7 with k = 1, with no added false reaction.
    accel_shrink_sigmas: float = param(0.5, lo=0.0, hi=10.0)
    # Lateral white-acceleration density: lane changes peak at ~1-2 m/s^2 lateral acceleration
    # for ~1 s, so q ~ a^2 T ~ 1.
    lateral_accel_psd_m2ps3: float = param(1.0, lo=1e-3, hi=1e3, unit="m^2/s^3")
    # Initial lateral-velocity sigma: lane changes < 1.5 m/s, walking 1.4 m/s, cycling more.
    init_sigma_lateral_velocity_mps: float = param(2.0, lo=0.01, hi=50.0, unit="m/s")
    # Innovation gate: probability of keeping a correct measurement (its chi-square quantile,
    # 2 dof for range + lateral, 1 dof for box scale): 1 false rejection in 1000.
    gate_probability: float = param(0.999, lo=0.9, hi=0.999999)
    # Consecutive gated-out measurements that mean a real jump (another object under the same
    # id, a ranging-cue switch): re-initialise on the 3rd (0.1 s at 30 Hz, 0.3 s at 10 Hz).
    reinit_after_rejections: int = param(3, lo=1, hi=100)
    # A state without a measurement for this long is dropped, as are ids absent this long:
    # constant-acceleration extrapolation is meaningless beyond ~1-2 s; trackers coast ~1 s.
    state_timeout_s: float = param(1.5, lo=0.05, hi=60.0, unit="s")
    # TTC cap: FCW / AEB act below ~4 s (ISO 15623, UN R152); 10 s keeps margin for logging.
    ttc_max_s: float = param(10.0, lo=0.5, hi=100.0, unit="s")
    # Box edge noise of the detector, sqrt(px^2 + var_per_px x box height), as
    # distance.edge_sigma_px and edge_var_per_px (fitted to data/sensor/yolox_nano.json: see
    # data/config/default.toml).
    box_edge_sigma_px: float = param(1.93, lo=0.01, hi=50.0, unit="px")
    box_edge_var_per_px: float = param(0.201, lo=0.0, hi=10.0, unit="px")
    # Scale filter white-acceleration density of u relative to u^2: u''/u = -a/Z, typically
    # 2 m/s^2 at 20 m = 0.1 /s^2 for ~1 s, q ~ 0.1^2 * 1 s (a braking lead is learned ~1 s late).
    scale_accel_psd_1ps3: float = param(0.01, lo=1e-6, hi=10.0, unit="1/s^3")
    # Initial sigma of (du/dt) / u (= -1/TTC): covers TTC down to 0.5 s at 1 sigma.
    init_sigma_scale_rate_1ps: float = param(2.0, lo=0.01, hi=1e3, unit="1/s")
    # Model error of the box-scale cue, relative to its closing rate: a box is not a flat
    # object at one depth (the roof's far edge and a visible side scale differently from the
    # nearest face; measured -10 % median bias of the cue alone on KITTI tracking ground-truth
    # boxes). Chosen on KITTI tracking 0000-0005 only.
    scale_model_rel_sigma: float = param(0.3, lo=0.0, hi=10.0)
    # The detector's box error in time (docs/sensor-simulation.md): a share of its variance
    # is slow, holding while the object looks the same, the rest fast. Share 0.88 and the
    # fast part's 0.08 s measured on real video (tools/box_jitter.py); the slow part's time
    # is the simulator's assumption (2 s): the shared recordings accept 0.2-20 s
    # (tools/box_drift.py). Both filters carry the slow part as a state of their own.
    box_error_slow_share: float = param(0.88, lo=0.0, hi=0.99)
    box_error_slow_tau_s: float = param(2.0, lo=0.05, hi=100.0, unit="s")
    box_error_fast_tau_s: float = param(0.08, lo=0.0, hi=10.0, unit="s")
    # Camera optical centre behind the front bumper: must equal the mount's behind_bumper_m.
    camera_behind_bumper_m: float = param(0.0, lo=0.0, hi=10.0, unit="m")

    def __post_init__(self) -> None:
        validate(self, "motion")


@dataclass(frozen=True)
class TtcCues:
    """Per-cue TTC [s] and sigma [s] of the last update (diagnostics; inf where unavailable)."""

    range_ttc_s: FloatArray
    range_sigma_ttc_s: FloatArray
    scale_ttc_s: FloatArray
    scale_sigma_ttc_s: FloatArray


class MotionEstimator:
    """Range, range rate, relative acceleration, lateral motion and fused TTC per track id.

    ``rejected_measurements`` counts range measurements refused by the gate,
    ``reinitialisations`` range filters restarted after consecutive refusals,
    ``rejected_boxes`` box sizes refused by the scale gate; ``cues`` holds the last frame's
    per-cue TTC (with the same acceleration applied, so sigmas compare).
    """

    def __init__(self, config: MotionConfig = MotionConfig()) -> None:  # frozen: safe default
        self.config = c = config
        self._model_r = mb.range_model(c.jerk_psd_m2ps5, c.lateral_accel_psd_m2ps3)
        self._model_s = mb.scale_model()
        s0 = (0, c.init_sigma_range_rate_mps, c.init_sigma_accel_mps2, 0,
              c.init_sigma_lateral_velocity_mps)  # fmt: skip
        self._prior_r = np.array([s0], np.float64) ** 2  # start variances of unmeasured states
        self._gate2 = -2.0 * math.log(1.0 - c.gate_probability)  # chi-square quantile, 2 dof
        self._gate1 = NormalDist().inv_cdf(0.5 + 0.5 * c.gate_probability) ** 2  # 1 dof
        self.reset()

    def reset(self) -> None:
        """Forget every state and zero the counters."""
        cap = 64
        self._track = TrackSlots(cap)
        self._t_ns = np.zeros(cap, np.int64)  # time the slot's states refer to
        self._ego_a = np.full(cap, np.nan)  # ego acceleration at _t_ns (NaN = unknown)
        self._forward = np.zeros(cap, bool)  # seen going our way (speed > 0 beyond its noise)
        self._sig_meas = np.zeros(cap)  # sigma of the last range measurement [m]
        slow = (self.config.box_error_slow_tau_s, self.config.box_error_slow_share)
        self._rng = mb.FilterBank(cap, self._model_r, (0, 3), self._gate2, *slow)
        self._scl = mb.FilterBank(cap, self._model_s, (0,), self._gate1, *slow)
        self._last_t_ns: int | None = None
        self.rejected_measurements = self.rejected_boxes = self.reinitialisations = 0
        self.cues = TtcCues(*(np.zeros(0) for _ in range(4)))

    def __len__(self) -> int:
        """Number of track ids whose state is held."""
        return len(self._track)

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
        dt, fresh, cut = np.empty(n), np.empty(n, np.bool_), np.empty(n, np.bool_)
        # Time steps, the ego's acceleration change and turning as known inputs, the rows whose
        # side cut misleads the rates (_ego_input, _yaw_input, mk.rigid_side_cut): one pass.
        mf.frame_inputs(
            slots, self._t_ns, t_ns, cfg.state_timeout_s,
            np.asarray(tracks.time_since_update, np.int64), np.asarray(tracks.class_id, np.int64),
            np.asarray(ranges.side_cut, np.bool_), self._ego_accel(ego), self._ego_a,
            self._rng.X, self._rng.live, self._yaw_rate(ego, n), dt, fresh, cut,
        )  # fmt: skip
        with np.errstate(all="ignore"):
            # The fast box error is white to the filter at the variance of its sample means:
            # x (1 + rho) / (1 - rho), rho its correlation over one frame interval.
            rho = np.exp(-dt / cfg.box_error_fast_tau_s) if cfg.box_error_fast_tau_s else 0 * dt
            xs, ps, f_s, rel2, fast_gain = self._scale_step(
                slots, dt, rho, tracks, fresh, cut, ranges.bottom_cut, t_ns
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

    def _slots(self, track_id: IntArray, t_ns: int) -> IntArray:
        slots, new = self._track.lookup(track_id, t_ns)
        cap = self._track.capacity
        if cap > len(self._t_ns):
            self._t_ns = self._track.fit(self._t_ns, 0)
            self._ego_a = self._track.fit(self._ego_a, np.nan)
            self._forward = self._track.fit(self._forward, False)
            self._sig_meas = self._track.fit(self._sig_meas, 0.0)
            self._rng.grow(cap)
            self._scl.grow(cap)
        if new:
            self._t_ns[new], self._ego_a[new], self._forward[new] = t_ns, np.nan, False
            self._sig_meas[new] = 0.0
            self._rng.forget(new)
            self._scl.forget(new)
        return slots

    def _drop_stale(self, t_ns: int) -> None:
        self._track.drop_stale(t_ns, int(self.config.state_timeout_s * 1e9))

    @staticmethod
    def _ego_accel(ego: EgoState | None) -> float:
        """The ego acceleration as a known input of the relative one: a change between frames
        shifts it at once (d'' = a_object - a_ego), so our own braking is not learned as jerk.
        NaN where unknown or absurd."""
        a_now = float(ego.accel_mps2) if ego is not None and ego.valid else math.nan
        return a_now if math.isfinite(a_now) and abs(a_now) < 100.0 else math.nan

    @staticmethod
    def _ego_motion(ego: EgoState | None) -> tuple[float, float]:
        """Ego speed [m/s] and acceleration [m/s^2] for the stop-limited TTC: NaN when the speed
        is unknown or absurd; an unknown acceleration counts as 0 (holding speed)."""
        if ego is None or not ego.valid:
            return math.nan, math.nan
        v, a = float(ego.speed_mps), float(ego.accel_mps2)
        if not (math.isfinite(v) and 0.0 <= v < 200.0):
            return math.nan, math.nan
        return v, a if math.isfinite(a) and abs(a) < 100.0 else 0.0

    @staticmethod
    def _yaw_rate(ego: EgoState | None, n: int) -> float:
        """Our own turning as a known input of the lateral prediction (NaN: none this frame).

        In the ego frame a parked car ``d`` metres ahead drifts sideways at ``-yaw_rate * d``
        while we turn (6 m/s at 60 m on a 200 m curve at 80 km/h). Moving each live lateral
        state by that drift before the filter predicts keeps the lateral velocity state the
        object's own motion: a young track need not learn our turning as its motion (parked
        cars on an inner verge "cut in" that way), and the danger stage's curved path, which
        already holds our turning, is not given it twice.
        """
        w = float(ego.yaw_rate_rps) if ego is not None and ego.valid else math.nan
        return w if math.isfinite(w) and abs(w) < 10.0 and n else math.nan

    def _range_step(
        self, slots: IntArray, dt: FloatArray, ranges: RangeEstimates, fresh: BoolArray,
        side_cut: BoolArray, fast_gain: FloatArray, rel2: FloatArray, t_ns: int,
    ) -> tuple[FloatArray, FloatArray, IntArray]:  # fmt: skip
        r, n = ranges, len(slots)
        m = np.array([r.distance_m, r.lateral_m, r.sigma_distance_m, r.sigma_lateral_m], np.float64)
        z, var, box = np.empty((n, 2)), np.empty((n, 2)), np.empty((n, 1))
        meas, cut = np.empty(n, np.bool_), np.empty(n, np.bool_)
        # Rows seen now, ranged, with sane numbers measure (mf.range_inputs). A box cut by a
        # side border ranges its visible part: as more of the object enters (or leaves) the
        # image, its range and lateral position change with the cut, not with the object (an
        # overtaking car entering at the left border "closed" at 22 m/s and "moved" into our
        # path). Such a measurement moves the positions only; the rates keep what whole boxes
        # taught (zero with the start variance for a track born cut). The box's part of the
        # range error is its relative size error (a size-prior range is off by as much); the
        # lateral error is taken as white, as before the error states: its slow part would
        # widen a walker's lateral-speed band (danger), the decision docs/vru.md leaves open.
        mf.range_inputs(
            m.reshape(4, n), np.asarray(r.status, np.int64), fresh,
            np.asarray(side_cut, np.bool_), rel2, slots, self._sig_meas, z, var, meas, cut, box,
        )  # fmt: skip
        x, p, flags = self._rng.step(
            slots, dt, np.ones(n), z, var, meas, self._prior_r, fast_gain, box, t_ns,
            *self._timeouts(), cut,
        )  # fmt: skip
        self.rejected_measurements += int(np.count_nonzero(flags & mk.REJECTED))
        self.reinitialisations += int(np.count_nonzero(flags & mk.REINIT))
        return x, p, flags

    def _scale_step(
        self, slots: IntArray, dt: FloatArray, rho: FloatArray, tracks: Tracks, fresh: BoolArray,
        side_cut: BoolArray, bottom_cut: BoolArray, t_ns: int,
    ) -> tuple[FloatArray, FloatArray, IntArray, FloatArray, FloatArray]:  # fmt: skip
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
        # "receded" and its TTC went to inf in the last metres of a 10 km/h approach). The
        # fast error's gain, the filter's noise and the box's relative variance: mf.scale_inputs.
        fast_gain, q, rel2 = np.empty(n), np.empty(n), np.empty(n)
        mf.scale_inputs(
            dt, rho, meas, np.asarray(side_cut, np.bool_), np.asarray(bottom_cut, np.bool_),
            self._scl.X, slots, cfg.scale_accel_psd_1ps3, u, R, fast_gain, q, rel2,
        )  # fmt: skip
        x, p, flags = self._scl.step(
            slots, dt, q, u[:, None], R, meas, prior, fast_gain, R, t_ns, *self._timeouts()
        )
        self.rejected_boxes += int(np.count_nonzero(flags & mk.REJECTED))
        return x, p, flags, rel2, fast_gain

    def _timeouts(self) -> tuple[int, int]:
        return int(self.config.state_timeout_s * 1e9), self.config.reinit_after_rejections
