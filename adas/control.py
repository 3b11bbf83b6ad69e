"""Warning and brake control: a deterministic state machine from object dangers to a Decision.

Each frame the most dangerous in-path object (highest danger level, then shortest TTC) is the
target. Its level, held for a number of consecutive frames (persistence: never act on one
frame), drives these rules, in this order:

1. **Unavailable**: input not OK (stale frame, stalled pipeline: the caller says so), an
   invalid or non-finite ego state -> ``UNAVAILABLE``, zero brake request. Persistence starts
   again from zero when the input is healthy again.
2. **Suppressed**: the driver brakes (pedal above a threshold), signals a turn, or the ego
   speed is outside the active range -> ``NONE`` with the reason; any intervention ends.
3. **Warning first**: a persistent WARNING (or worse) starts a warning, which lasts at least a
   minimum time. After a warning ends, new warnings are locked out for a while, unless the
   danger is already at a braking level.
4. **Braking** starts only after the warning has been on for 0.8 s (UN R152 5.2.1.1, the
   car-to-car scenario), except when waiting for the rest of the 0.8 s (plus the brake
   latency) would leave the collision unavoidable: the deceleration then needed, from the
   target's range, closing speed and acceleration, exceeds full braking. It could not be
   anticipated 0.8 s before, and R152 lets warning and braking start together. The target's
   deceleration enters this judgement scaled up (``unavoidable_decel_factor``): its estimate
   lags a braking onset by ~0.5 s. A pedestrian or cyclist target (``ObjectStates.class_id``)
   needs no warning time before braking (``warning_before_brake_vru_s``, 0): R152's
   pedestrian scenario (5.2.2.1) asks for the warning no later than the start of emergency
   braking, since a walker stepping out is seen for a second or two, not the several seconds
   of a car ahead. Cyclists are treated alike (our choice: they cross as suddenly). The
   warning still comes first or with the brakes, never after.
   Braking starts PARTIAL (at least the R152 emergency minimum of 5 m/s^2, or the required
   deceleration with a margin) and steps up to FULL only after a minimum partial phase and a
   persistent BRAKE_FULL danger.
5. **Release**: braking ends when the danger has been below the braking levels for some
   frames and the brakes have been held for a minimum time (hysteresis, no chattering).

Every threshold is in ``data/config/default.toml`` ``[control]`` with its source.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from adas.errors import ConfigError
from adas.kinematics import VehicleConfig, finite_or, required_decel
from adas.params import param, validate
from adas.types import (
    DangerLevel,
    Decision,
    DecisionLevel,
    EgoState,
    ObjectClass,
    ObjectStates,
    Zone,
)

log = logging.getLogger(__name__)

NS = 1_000_000_000
# Targets braked for without the car-to-car warning time (UN R152 5.2.2.1): pedestrians and
# cyclists. A motorcycle is a vehicle target there (Euro NCAP's CMR scenarios are rear-end).
_WARN_WITH_BRAKE = frozenset({int(ObjectClass.PEDESTRIAN), int(ObjectClass.BICYCLE)})


@dataclass(frozen=True)
class ControlConfig:
    """Parameters of the control stage. Defaults and their sources: data/config/default.toml."""

    warning_persistence_frames: int = param(2, lo=1, hi=100)
    brake_persistence_frames: int = param(3, lo=1, hi=100)
    release_frames: int = param(5, lo=1, hi=1000)
    warning_before_brake_s: float = param(0.8, lo=0.0, hi=5.0, unit="s")
    warning_before_brake_vru_s: float = param(0.0, lo=0.0, hi=5.0, unit="s")
    warning_min_s: float = param(1.0, lo=0.0, hi=10.0, unit="s")
    lockout_s: float = param(2.0, lo=0.0, hi=60.0, unit="s")
    brake_min_hold_s: float = param(0.5, lo=0.0, hi=10.0, unit="s")
    partial_min_s: float = param(0.2, lo=0.0, hi=5.0, unit="s")
    partial_decel_mps2: float = param(5.0, lo=1.0, hi=12.0, unit="m/s^2")
    partial_gain: float = param(1.2, lo=1.0, hi=3.0)
    full_decel_mps2: float = param(9.0, lo=1.0, hi=12.0, unit="m/s^2")
    driver_brake_threshold: float = param(0.3, lo=0.0, hi=1.0)
    suppress_on_turn_signal: bool = True
    min_active_speed_mps: float = param(1.4, lo=0.0, hi=30.0, unit="m/s")
    release_closing_speed_mps: float = param(0.3, lo=0.0, hi=5.0, unit="m/s")
    release_target_decel_mps2: float = param(1.0, lo=0.0, hi=10.0, unit="m/s^2")
    standstill_speed_mps: float = param(0.3, lo=0.0, hi=5.0, unit="m/s")
    lockout_bypass_ttc_s: float = param(2.0, lo=0.0, hi=10.0, unit="s")
    max_active_speed_mps: float = param(50.0, lo=1.0, hi=100.0, unit="m/s")
    unavoidable_decel_factor: float = param(2.0, lo=1.0, hi=3.0)

    def __post_init__(self) -> None:
        validate(self, "control")
        if self.partial_decel_mps2 > self.full_decel_mps2:
            msg = (
                f"config control.partial_decel_mps2 = {self.partial_decel_mps2} must not exceed "
                f"control.full_decel_mps2 = {self.full_decel_mps2}"
            )
            raise ConfigError(msg)
        if self.min_active_speed_mps >= self.max_active_speed_mps:
            msg = "config control.min_active_speed_mps must be below control.max_active_speed_mps"
            raise ConfigError(msg)


class Controller:
    """``update(objects, ego, t_ns)`` -> Decision, once per frame, in time order.

    Everything it decides on comes in the danger stage's :class:`ObjectStates` (zone, danger
    level, TTC, required deceleration) and the ego state; ``vehicle`` holds the brake
    constants, the same section the danger stage counts with.
    """

    def __init__(
        self, config: ControlConfig | None = None, vehicle: VehicleConfig | None = None
    ) -> None:
        self.config = config or ControlConfig()
        self.vehicle = vehicle or VehicleConfig()
        self.reset()

    def reset(self) -> None:
        self._counts = {
            DangerLevel.WARNING: 0,
            DangerLevel.BRAKE_PARTIAL: 0,
            DangerLevel.BRAKE_FULL: 0,
        }
        self._caution_count = 0
        self._below_warning = 0
        self._below_brake = 0
        self._warning_since: int | None = None
        self._brake_since: int | None = None
        self._full_since: int | None = None
        self._lockout_until = -1
        self._brake_target = -1
        self._last_t: int | None = None
        self.level = DecisionLevel.NONE

    def _end_intervention(self, t_ns: int) -> None:
        if self._warning_since is not None:
            self._lockout_until = t_ns + int(self.config.lockout_s * NS)
        self._warning_since = self._brake_since = self._full_since = None
        self._below_warning = self._below_brake = 0
        self._brake_target = -1

    def update(
        self,
        objects: ObjectStates,
        ego: EgoState,
        t_ns: int,
        *,
        input_ok: bool = True,
    ) -> Decision:
        cfg = self.config
        if self._last_t is not None and t_ns < self._last_t:
            log.warning(
                "control: time went backwards (%d -> %d ns); state reset", self._last_t, t_ns
            )
            self.reset()
        self._last_t = t_ns
        speed = float(ego.speed_mps)
        if not input_ok or not ego.valid or not math.isfinite(speed):
            why = "input not OK (stale or stalled)" if not input_ok else "ego state invalid"
            return self._unavailable(t_ns, why)

        target, want, ttc = self._target(objects)
        tid = int(objects.track_id[target]) if target >= 0 else -1
        req = 0.0
        if target >= 0:
            value = float(objects.required_decel_mps2[target])
            req = value if math.isfinite(value) else 0.0

        active = self._warning_since is not None or self._brake_since is not None
        suppressed = self._suppression(ego, speed, active)
        if suppressed:
            self._stand_down(t_ns)
            return self._emit(DecisionLevel.NONE, 0.0, tid, f"suppressed: {suppressed}")

        for k in self._counts:
            self._counts[k] = self._counts[k] + 1 if want >= k else 0
        self._caution_count = self._caution_count + 1 if want >= DangerLevel.CAUTION else 0
        warn_ok = self._counts[DangerLevel.WARNING] >= cfg.warning_persistence_frames
        brake_ok = self._counts[DangerLevel.BRAKE_PARTIAL] >= cfg.brake_persistence_frames
        full_ok = self._counts[DangerLevel.BRAKE_FULL] >= cfg.brake_persistence_frames

        # Warning: starts on a persistent WARNING (lockout aside), lasts a minimum time, ends
        # after some frames below WARNING.
        # The lockout keeps a nuisance warning from repeating; it never hides a real threat.
        unlocked = (
            t_ns >= self._lockout_until
            or want >= DangerLevel.BRAKE_PARTIAL
            or ttc <= cfg.lockout_bypass_ttc_s
        )
        if self._warning_since is None and warn_ok and unlocked:
            self._warning_since = t_ns
        if self._warning_since is not None:
            self._below_warning = 0 if want >= DangerLevel.WARNING else self._below_warning + 1
            warned = (t_ns - self._warning_since) / NS
            if (
                self._brake_since is None
                and self._below_warning >= cfg.release_frames
                and warned >= cfg.warning_min_s
            ):
                self._end_intervention(t_ns)

        # Braking: after 0.8 s of warning (none for a pedestrian or cyclist), or sooner when
        # waiting would leave it unavoidable.
        if self._brake_since is None and brake_ok and self._warning_since is not None:
            warned = (t_ns - self._warning_since) / NS
            # Earlier than 0.8 s only when waiting for it would leave the collision
            # unavoidable: R152 then lets braking start with the warning.
            vru = int(objects.class_id[target]) in _WARN_WITH_BRAKE
            first = cfg.warning_before_brake_vru_s if vru else cfg.warning_before_brake_s
            wait = first - warned
            urgent = wait > 0.0 and self._unavoidable_after(objects, target, ego, wait)
            if warned >= first - 1e-9 or urgent:
                self._brake_since = t_ns
                self._brake_target = tid
        if self._brake_since is not None:
            # Brake until the threat is over: its target no longer closes in on us (or left
            # the path), not merely until braking made the danger level drop.
            self._below_brake = (
                self._below_brake + 1 if self._threat_over(objects, want, ego) else 0
            )
            held = (t_ns - self._brake_since) / NS
            if self._below_brake >= cfg.release_frames and held >= cfg.brake_min_hold_s:
                self._brake_since = self._full_since = None
                self._below_brake = 0
            elif self._full_since is None and full_ok and held >= cfg.partial_min_s:
                self._full_since = t_ns

        if self._full_since is not None:
            return self._emit(
                DecisionLevel.BRAKE_FULL, cfg.full_decel_mps2, tid, f"full braking, TTC {ttc:.2f} s"
            )
        if self._brake_since is not None:
            decel = min(max(cfg.partial_decel_mps2, cfg.partial_gain * req), cfg.full_decel_mps2)
            return self._emit(
                DecisionLevel.BRAKE_PARTIAL, decel, tid,
                f"partial braking, TTC {ttc:.2f} s, required {req:.1f} m/s^2",
            )  # fmt: skip
        if self._warning_since is not None:
            return self._emit(
                DecisionLevel.WARNING, 0.0, tid, f"collision warning, TTC {ttc:.2f} s"
            )
        if self._caution_count >= cfg.warning_persistence_frames and want >= DangerLevel.CAUTION:
            return self._emit(DecisionLevel.CAUTION, 0.0, tid, "following too close")
        return self._emit(DecisionLevel.NONE, 0.0, -1, "")

    def _unavoidable_after(
        self, objects: ObjectStates, row: int, ego: EgoState, wait_s: float
    ) -> bool:
        """Would braking that starts ``wait_s`` from now (plus the brake latency) need more
        than full braking? Judged on the target's range, closing speed and acceleration."""
        if row < 0:
            return False
        sl = slice(row, row + 1)
        # The target's own deceleration counts unavoidable_decel_factor times: the estimate
        # lags a braking onset (see data/config/default.toml), and missing the exception
        # costs the collision while using it wrongly only brakes within the warning's 0.8 s.
        ego_accel = float(ego.accel_mps2) if math.isfinite(ego.accel_mps2) else 0.0
        target_accel = objects.accel_mps2[sl] + ego_accel
        target_accel = np.minimum(target_accel, target_accel * self.config.unavoidable_decel_factor)
        need = required_decel(
            objects.distance_m[sl], float(ego.speed_mps), objects.range_rate_mps[sl],
            target_accel - ego_accel, ego_accel, self.vehicle.brake_latency_s + wait_s,
            self.vehicle.collision_decel_mps2,
        )  # fmt: skip
        return bool(need[0] > self.config.full_decel_mps2)

    def _threat_over(self, objects: ObjectStates, want: DangerLevel, ego: EgoState) -> bool:
        """While braking: no braking-level danger, and the braking target (by track id) is
        out of the path or gone, or no longer closes in and no longer brakes (releasing while
        it still brakes only starts the approach again), or we stand still."""
        cfg = self.config
        if want >= DangerLevel.BRAKE_PARTIAL:
            return False
        if ego.speed_mps < cfg.standstill_speed_mps:
            return True
        rows = np.flatnonzero(objects.track_id == self._brake_target)
        if rows.size == 0 or objects.zone[rows[0]] != int(Zone.IN_PATH):
            return True
        row = rows[0]
        rate = float(objects.range_rate_mps[row])
        target_accel = float(ego.accel_mps2) + float(objects.accel_mps2[row])
        if not (math.isfinite(rate) and math.isfinite(target_accel)):
            return True
        return (
            rate > -cfg.release_closing_speed_mps and target_accel > -cfg.release_target_decel_mps2
        )

    def _target(self, objects: ObjectStates) -> tuple[int, DangerLevel, float]:
        """Row of the most dangerous in-path object, its level and TTC (-1, NONE, inf if none)."""
        if len(objects) == 0:
            return -1, DangerLevel.NONE, math.inf
        danger = np.where(objects.zone == int(Zone.IN_PATH), objects.danger, int(DangerLevel.NONE))
        top = int(danger.max())
        if top <= int(DangerLevel.NONE):
            return -1, DangerLevel.NONE, math.inf
        ttc = finite_or(np.asarray(objects.ttc_s, np.float64), nan=np.inf, posinf=np.inf)
        rows = np.flatnonzero(danger == top)
        row = int(rows[np.argmin(ttc[rows])])
        return row, DangerLevel(top), float(ttc[row])

    def _suppression(self, ego: EgoState, speed: float, active: bool) -> str:
        """Why interventions are suppressed now ("" if not). The speed range only keeps new
        interventions from starting: braking that slows the car below it goes on to the end."""
        cfg = self.config
        if math.isfinite(ego.brake_pedal) and ego.brake_pedal >= cfg.driver_brake_threshold:
            return "driver braking"
        if cfg.suppress_on_turn_signal and ego.turn_signal != 0:
            return "turn signal on"
        if active:
            return ""
        if speed < cfg.min_active_speed_mps:
            return f"ego speed {speed:.1f} m/s below the active range"
        if speed > cfg.max_active_speed_mps:
            return f"ego speed {speed:.1f} m/s above the active range"
        return ""

    def _stand_down(self, t_ns: int) -> None:
        """End any intervention and forget the persistence: acting again needs fresh frames."""
        self._end_intervention(t_ns)
        for k in self._counts:
            self._counts[k] = 0
        self._caution_count = 0

    def _unavailable(self, t_ns: int, why: str) -> Decision:
        self._stand_down(t_ns)
        return self._emit(DecisionLevel.UNAVAILABLE, 0.0, -1, why)

    def _emit(self, level: DecisionLevel, decel: float, track_id: int, reason: str) -> Decision:
        if level != self.level:
            log.info("control: %s -> %s (%s)", self.level.name, level.name, reason)
        self.level = level
        return Decision(
            level=level, decel_request_mps2=float(decel), target_track_id=track_id, reason=reason
        )
