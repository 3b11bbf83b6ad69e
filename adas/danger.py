"""Danger zone and per-object danger level (the stage between motion/TTC and control).

**Zone.** The forward collision danger zone is the area the ego vehicle will sweep: its path
predicted from speed and yaw rate at constant curvature (``kappa = yaw_rate / speed``), as
wide as the ego vehicle plus a margin, as long as the stopping distance plus a time horizon.
An object is

* ``IN_PATH`` when the time it is in the swept width overlaps the time the ego vehicle
  occupies its longitudinal position (from the front bumper's arrival until the ego has
  passed it; :mod:`adas.danger_crossing`), its lateral velocity bounded by what its class can
  do and trusted for the horizon: a car cutting in or a pedestrian walking in before we pass
  is a threat before it arrives; a car turning out or a pedestrian who will be across before
  we arrive is none. Inside means inside by ``offset_range_sigmas`` of the offset error its
  range error causes (``|lateral / d - kappa d| sigma_d``: on a curve a car ranged short on
  its bearing sits nearer the predicted path than it is);
* ``ADJACENT`` when it is within one lane width of the swept area, now or predicted;
* ``OUTSIDE`` otherwise, beyond the zone's length, or when it cannot be a threat at all:
  no ground contact (the bottom of its box, placed at its range, is far above the road:
  overhead signs, bridges) or an implausible size (the height its box implies at its range is
  far outside its class prior: a picture of a car on a truck's back, a reflection).

**Level.** For an in-path object, from its time to collision (motion stage), the deceleration
the ego vehicle needs to avoid it, and the time headway:

* required deceleration ``b``, counted from when the brakes act (``[vehicle]
  brake_latency_s``): if the target keeps moving until the gap stops closing,
  ``b = c^2 / (2 d) - a_t`` (closing speed ``c``, gap ``d``, target acceleration ``a_t``); if
  the target stops first,
  ``b = v^2 / (2 (d + s_t))`` with ``s_t`` its stopping distance (:func:`required_decel`);
* ``BRAKE_FULL`` / ``BRAKE_PARTIAL`` / ``WARNING`` when a collision is predicted (the object
  closes in, its TTC is finite and known to ``ttc_max_rel_sigma``) and the TTC is below, or
  the required deceleration above, the thresholds of each level; ``CAUTION`` when the time
  headway is below about 1 s; ``NONE`` otherwise. The required deceleration and the headway
  of every row are columns of the output, for the control stage.
* a new track (its range rate rests on a few range differences) raises no warning or brake
  level for ``min_track_age_s``, unless holding it back for the rest of that time would leave
  the collision unavoidable (:func:`adas.kinematics.unavoidable_after`: the need once the
  brakes act after the wait and the brake latency exceeds ``[vehicle] max_decel_mps2``): an
  object appearing from behind an obstruction is held no longer than avoidance allows. A
  track on its first frame here is always held, so a one-frame ghost raises nothing.

The thresholds are in ``data/config/default.toml`` ``[danger]`` with their sources.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adas import danger_kernels as dk
from adas.camera_boxes import undistorted_boxes
from adas.camera_lens import Lens
from adas.danger_crossing import class_speed_limits
from adas.errors import ConfigError, ContractError
from adas.kinematics import VehicleConfig, unavoidable_after
from adas.params import param, validate
from adas.priors import SizePriors
from adas.types import DangerLevel, EgoState, FloatArray, ObjectClass, ObjectStates, Tracks, Zone

if TYPE_CHECKING:
    from adas.camera import CameraModel

log = logging.getLogger(__name__)
VRU_CLASSES = (int(ObjectClass.PEDESTRIAN), int(ObjectClass.BICYCLE), int(ObjectClass.MOTORCYCLE))


@dataclass(frozen=True)
class DangerConfig:
    """Parameters of the danger stage. Defaults and their sources: data/config/default.toml."""

    ego_width_m: float = param(1.9, lo=0.5, hi=4.0, unit="m")
    ego_length_m: float = param(4.8, lo=1.0, hi=30.0, unit="m")
    path_margin_m: float = param(0.2, lo=0.0, hi=2.0, unit="m")
    lane_width_m: float = param(3.5, lo=2.0, hi=6.0, unit="m")
    horizon_s: float = param(3.0, lo=0.5, hi=10.0, unit="s")
    zone_decel_mps2: float = param(4.0, lo=1.0, hi=10.0, unit="m/s^2")
    zone_min_length_m: float = param(20.0, lo=0.0, hi=200.0, unit="m")
    min_curvature_speed_mps: float = param(2.0, lo=0.1, hi=20.0, unit="m/s")
    lateral_velocity_deadband_mps: float = param(0.3, lo=0.0, hi=3.0, unit="m/s")
    lateral_velocity_sigmas: float = param(2.0, lo=0.0, hi=10.0)
    vru_lateral_velocity_sigmas: float = param(2.0, lo=0.0, hi=10.0)
    offset_range_sigmas: float = param(2.0, lo=0.0, hi=10.0)
    arrival_range_sigmas: float = param(2.0, lo=0.0, hi=10.0)
    max_lateral_speed_pedestrian_mps: float = param(6.0, lo=0.5, hi=15.0, unit="m/s")
    max_lateral_speed_cyclist_mps: float = param(12.5, lo=1.0, hi=30.0, unit="m/s")
    max_lateral_speed_vehicle_mps: float = param(28.0, lo=1.0, hi=100.0, unit="m/s")
    max_ground_clearance_m: float = param(2.0, lo=0.5, hi=10.0, unit="m")
    plausible_size_ratio: float = param(2.5, lo=1.2, hi=10.0)
    latch_frames: int = param(3, lo=1, hi=100)
    min_track_age_s: float = param(0.3, lo=0.0, hi=5.0, unit="s")
    caution_headway_s: float = param(1.0, lo=0.0, hi=5.0, unit="s")
    warning_ttc_s: float = param(3.2, lo=0.5, hi=6.0, unit="s")
    warning_decel_mps2: float = param(4.0, lo=1.0, hi=10.0, unit="m/s^2")
    partial_ttc_s: float = param(1.9, lo=0.3, hi=5.0, unit="s")
    partial_decel_mps2: float = param(5.0, lo=1.0, hi=10.0, unit="m/s^2")
    full_ttc_s: float = param(1.0, lo=0.2, hi=4.0, unit="s")
    full_decel_mps2: float = param(7.0, lo=1.0, hi=12.0, unit="m/s^2")
    min_closing_speed_mps: float = param(0.5, lo=0.0, hi=10.0, unit="m/s")
    ttc_max_rel_sigma: float = param(0.8, lo=0.01, hi=100.0)
    max_ego_speed_mps: float = param(150.0, lo=10.0, hi=1000.0, unit="m/s")
    max_yaw_rate_rps: float = param(3.0, lo=0.1, hi=10.0, unit="rad/s")
    min_usable_distance_m: float = param(-1.0, lo=-20.0, hi=0.0, unit="m")
    headway_min_speed_mps: float = param(0.1, lo=0.0, hi=5.0, unit="m/s")
    bottom_cut_margin_px: float = param(2.0, lo=0.0, hi=50.0, unit="px")
    top_cut_margin_px: float = param(1.0, lo=0.0, hi=50.0, unit="px")

    def __post_init__(self) -> None:
        validate(self, "danger")
        for a, b in (("full_ttc_s", "partial_ttc_s"), ("partial_ttc_s", "warning_ttc_s")):
            if getattr(self, a) > getattr(self, b):
                msg = f"config danger.{a} = {getattr(self, a)} must not exceed danger.{b}"
                raise ConfigError(msg)


class DangerAssessor:
    """Fills ``zone``, ``danger``, ``required_decel_mps2`` and ``headway_s`` of the motion
    stage's ObjectStates.

    ``camera`` (optional) enables the ground-contact and size-plausibility checks, which need
    the boxes' rows; without it every object is assumed to stand on the road. ``priors`` are
    the object sizes the distance stage ranges with (loaded from the shipped file if not
    given); ``vehicle`` the brake constants the required deceleration counts with.
    """

    def __init__(
        self,
        config: DangerConfig | None = None,
        camera: CameraModel | None = None,
        priors: SizePriors | None = None,
        vehicle: VehicleConfig | None = None,
    ) -> None:
        self.config = config or DangerConfig()
        self.vehicle = vehicle or VehicleConfig()
        self.camera = camera
        self.priors = priors or SizePriors.load()
        self.no_threat: dict[str, int] = {"no_ground_contact": 0, "implausible_size": 0}
        self._floating: dict[int, int] = {}  # track id -> consecutive frames without ground
        self._grounded: dict[int, int] = {}  # track id -> grounded frames since it latched
        self._born_ns: dict[int, int] = {}  # track id -> first time seen
        self._warned: set[int] = set()  # track ids at WARNING or above on the last frame
        cfg = self.config
        self._speed_limit = class_speed_limits(
            pedestrian_mps=cfg.max_lateral_speed_pedestrian_mps,
            cyclist_mps=cfg.max_lateral_speed_cyclist_mps,
            vehicle_mps=cfg.max_lateral_speed_vehicle_mps,
        )
        # Length of each class [m], its longest side (the car's where the class has none), so
        # the ego's interval covers an object whichever way it faces.
        self._length = np.nan_to_num(self.priors.length, nan=self.priors.length[ObjectClass.CAR])
        # Per class: a vulnerable road user (whose lateral band has its own sigmas)?
        self._vru = np.zeros(len(self._speed_limit), bool)
        self._vru[list(VRU_CLASSES)] = True
        self._horizon: tuple[CameraModel, float] | None = None  # (camera, its horizon row)
        # Half width of each class [m] (as SizePriors.width_or_unknown), indexed by class id.
        self._half_width = 0.5 * self.priors.width_or_unknown(np.arange(len(self.priors.width)))
        vehicle = self.vehicle
        self._constants = dk.stage_constants(
            cfg, vehicle.brake_latency_s, vehicle.collision_decel_mps2
        )

    def zone_length_m(self, speed_mps: float) -> float:
        cfg = self.config
        v = max(speed_mps, 0.0)
        return max(cfg.zone_min_length_m, v * v / (2.0 * cfg.zone_decel_mps2) + v * cfg.horizon_s)

    def update(self, tracks: Tracks, objects: ObjectStates, ego: EgoState) -> ObjectStates:
        """Zone and danger level of every row (one per track row, same order)."""
        n = len(objects)
        if len(tracks) != n:
            msg = f"danger: {n} object rows for {len(tracks)} tracks; pass the motion output"
            raise ContractError(msg)
        with np.errstate(all="ignore"):  # rows with inf/NaN are masked out, not warned about
            return self._assess(tracks, objects, ego)

    def _assess(self, tracks: Tracks, objects: ObjectStates, ego: EgoState) -> ObjectStates:
        n = len(objects)
        cfg = self.config
        # A non-finite or absurd ego speed (the controller reports UNAVAILABLE for it) must
        # not overflow here: clamp to what a road vehicle can do.
        v = (
            min(max(float(ego.speed_mps), 0.0), cfg.max_ego_speed_mps)
            if math.isfinite(ego.speed_mps)
            else 0.0
        )
        obj = _rows(objects)
        d = obj[0]
        usable = np.isfinite(d) & np.isfinite(obj[1]) & (d > cfg.min_usable_distance_m)
        if not usable.any():
            self._warned = set()
            zone = np.full(n, int(Zone.OUTSIDE), np.int64)
            return _with_danger(
                objects, zone, np.zeros(n, np.int64), np.zeros(n), np.full(n, np.inf)
            )
        usable &= ~self._no_threat(tracks, objects)
        yaw = (
            min(max(float(ego.yaw_rate_rps), -cfg.max_yaw_rate_rps), cfg.max_yaw_rate_rps)
            if math.isfinite(ego.yaw_rate_rps)
            else 0.0
        )
        kappa = yaw / v if v >= cfg.min_curvature_speed_mps else 0.0
        a_ego = float(ego.accel_mps2) if math.isfinite(ego.accel_mps2) else 0.0
        # The zone, the required deceleration and the headway of every row (the rules of the
        # module docstring, adas.danger_crossing, adas.kinematics.required_decel): one
        # compiled pass, the same arithmetic as numpy's.
        ids = tracks.track_id.tolist()
        zone, out, flags = np.empty(n, np.int64), np.empty((8, n)), np.empty((5, n), np.bool_)
        dk.assess_rows(
            obj, np.asarray(tracks.class_id, np.int64), usable, self._speed_limit, self._length,
            self._vru, self._half_width, self._track_age(tracks, ego.t_ns), v, kappa,
            max(v, 0.0) if math.isfinite(v) else 0.0, a_ego, self.zone_length_m(v),
            self._constants, zone, out, flags,
        )  # fmt: skip
        # A new track's range rate comes from a few range differences: held back for
        # min_track_age_s, unless holding it would leave the collision unavoidable.
        for i in np.flatnonzero(flags[4]).tolist():
            flags[3, i] = unavoidable_after(
                out[7, i], d[i], v, out[5, i], out[6, i], a_ego, vehicle=self.vehicle
            )
        # Levels (dk.danger_levels): BRAKE_FULL, BRAKE_PARTIAL, WARNING where a collision is
        # predicted (a finite TTC known to ttc_max_rel_sigma) and the TTC is below, or the
        # required deceleration above, the level's threshold. Hysteresis: a track already at
        # WARNING or above keeps WARNING while it closes in, until its TTC and its TTC
        # without the acceleration credit are both, less one sigma, beyond the warning
        # threshold (a TTC wandering around 3.2 s, or a slow drift of the boxes read as the
        # target pulling away, must not end the warning and restart it, with R152's 0.8 s to
        # wait again before braking). Braking levels get no such hysteresis.
        warned = np.array([t in self._warned for t in ids], bool)
        danger = np.empty(n, np.int64)
        dk.danger_levels(flags, warned, out, self._constants, danger)
        self._warned = {t for t, lv in zip(ids, danger.tolist(), strict=True)
                        if lv >= DangerLevel.WARNING}  # fmt: skip
        return _with_danger(objects, zone, danger, out[0], out[1])

    def _track_age(self, tracks: Tracks, t_ns: int) -> FloatArray:
        """Seconds since each track was first seen by this stage."""
        ids = tracks.track_id.tolist()
        for tid in ids:
            self._born_ns.setdefault(tid, t_ns)
        if len(self._born_ns) > 4 * max(len(ids), 16):
            alive = set(ids)
            self._born_ns = {k: v for k, v in self._born_ns.items() if k in alive}
        return np.array([(t_ns - self._born_ns[t]) * 1e-9 for t in ids], np.float64)

    @staticmethod
    def _undistorted(
        cam: CameraModel, xyxy: FloatArray, bottom_at: float, top_at: float
    ) -> FloatArray:
        """Fisheye boxes in the ideal pinhole image, where no_threat_rows' f * size / range holds;
        the border cuts are judged on the captured image, so a cut edge is moved to +-inf
        (which no_threat_rows reads as cut), as is an edge outside the lens's field."""
        out = undistorted_boxes(cam, xyxy)
        out[(xyxy[:, 3] >= bottom_at) | np.isnan(out[:, 3]), 3] = np.inf
        out[(xyxy[:, 1] <= top_at) | np.isnan(out[:, 1]), 1] = -np.inf
        return out

    def _no_threat(self, tracks: Tracks, objects: ObjectStates) -> np.ndarray:
        """Rows that can never be threats: no ground contact, or an implausible size.

        A track judged floating on ``latch_frames`` consecutive frames stays no threat (an
        overhead sign is later cut by the top of the image, coasts or comes so close that its
        box says little) until as many consecutive frames show its bottom on the road. Boxes
        cut by the bottom border have no bottom; boxes cut by the top have no height (the size
        check is skipped for them).
        """
        n = len(tracks)
        out = np.zeros(n, bool)
        cam = self.camera
        if cam is None or n == 0:
            return out
        cfg = self.config
        fisheye = cam.lens is Lens.FISHEYE
        if self._horizon is None or self._horizon[0] is not cam:  # a frozen camera's constant
            # A fisheye's box maths runs in its ideal pinhole image (undistorted boxes).
            self._horizon = (cam, (cam.undistorted() if fisheye else cam).horizon_v())
        m = cam.mount
        geo = np.array([
            m.behind_bumper_m, m.height_m, cam.fy, self._horizon[1],
            cam.height - cfg.bottom_cut_margin_px, cfg.top_cut_margin_px,
            cfg.max_ground_clearance_m, cfg.plausible_size_ratio, 1.0 / cfg.plausible_size_ratio,
        ])  # fmt: skip
        xyxy = np.asarray(tracks.xyxy, np.float64)
        if fisheye:
            xyxy = self._undistorted(cam, xyxy, geo[4], geo[5])
        # Height of the box bottom above the road at the object's range (level camera), its
        # size at that range against the class prior: one compiled pass (dk.no_threat_rows).
        floating, odd, grounded = np.empty((3, n), np.bool_)
        dk.no_threat_rows(
            np.asarray(objects.distance_m, np.float64), xyxy,
            np.asarray(tracks.class_id, np.int64), np.asarray(tracks.time_since_update, np.int64),
            self.priors.height, geo, floating, odd, grounded,
        )  # fmt: skip
        latched = np.zeros(n, bool)
        # A latched track is released by latch_frames consecutive frames of ground contact
        # seen at its bottom edge: a car beyond a sag curve stands above our road plane and
        # looks "floating" from afar (the measured-sensor R152 60 km/h trial on a 5 % rise
        # hit at full speed), and touches down as we come closer. A sign never shows that.
        seen = (tracks.time_since_update == 0).tolist()
        is_floating, is_grounded = floating.tolist(), grounded.tolist()
        for i, tid in enumerate(tracks.track_id.tolist()):
            count, back = self._floating.get(tid, 0), self._grounded.get(tid, 0)
            if seen[i]:
                if is_floating[i]:
                    count, back = count + 1, 0
                elif count >= cfg.latch_frames:
                    back = back + 1 if is_grounded[i] else 0
                    if back >= cfg.latch_frames:
                        count = back = 0
                else:
                    count = 0
            self._floating[tid], self._grounded[tid] = count, back
            latched[i] = count >= cfg.latch_frames
        alive = set(tracks.track_id.tolist())
        for tid in [t for t in self._floating if t not in alive]:
            del self._floating[tid]
            self._grounded.pop(tid, None)
        self.no_threat["no_ground_contact"] += int(np.count_nonzero(floating | latched))
        self.no_threat["implausible_size"] += int(np.count_nonzero(odd & ~(floating | latched)))
        return floating | latched | odd


def _rows(objects: ObjectStates) -> FloatArray:
    """The fields the danger kernels read, one row each (float64, as the contract holds)."""
    o = objects
    return np.array(
        [
            o.distance_m, o.lateral_m, o.sigma_distance_m, o.range_rate_mps, o.accel_mps2,
            o.lateral_velocity_mps, o.sigma_lateral_velocity_mps, o.ttc_s, o.sigma_ttc_s,
        ],
        np.float64,
    ).reshape(9, len(o))  # fmt: skip


def _with_danger(
    o: ObjectStates, zone: np.ndarray, danger: np.ndarray, required: FloatArray, headway: FloatArray
) -> ObjectStates:
    """``o`` with the danger stage's fields (dataclasses.replace, without its introspection)."""
    return ObjectStates(
        o.track_id, o.distance_m, o.lateral_m, o.sigma_distance_m, o.range_rate_mps,
        o.accel_mps2, o.lateral_velocity_mps, o.ttc_s, o.sigma_ttc_s, zone, danger, required,
        headway, o.sigma_lateral_velocity_mps, o.class_id,
    )  # fmt: skip
