"""Crossing prediction of the danger stage: when a target is in the ego's swept corridor, and
whether that overlaps the time the ego occupies the target's longitudinal position.

A helper of :mod:`adas.danger` (imported only there): pure numpy functions on parallel arrays,
one row per object, SI units, times in seconds from now.

**The target's corridor interval.** A target at lateral offset ``o`` from the path centre
(positive left), moving sideways at ``u`` (m/s, positive left), with half width ``h`` overlaps
a corridor of half width ``H`` while ``|o + u t| <= H + h``. The corridor is counted narrower
for entering than for leaving (``enter_half_m <= exit_half_m``: inside means inside by the
offset error the range error causes, out means out of the whole corridor; see
:mod:`adas.danger`), so

* a target inside now (``|o| <= enter_half + h``) is in it from ``t_in = 0`` until
  ``t_out = (exit_half + h - sign(u) o) / |u|`` (inf when ``u = 0``: it stays);
* a target outside moving towards the path enters at ``t_in = (|o| - enter_half - h) / |u|``
  and leaves on the far side at ``t_out = (|o| + exit_half + h) / |u|``, if
  ``enter_half + h >= 0``: where the margin is wider than the corridor and the target's half
  width together (a young track 60 m ahead, its range known to 12 m), no position is inside
  by the margin, and the target never enters (as the stage's former point prediction had it);
* any other target never enters (``t_in = t_out = inf``).

**The ego's interval.** With the gap ``d`` to the target's nearest face, the closing speed
``c`` and the range sigma ``s_d``, the ego's front bumper reaches the target's near face at
the earliest at ``t_arrive = max(d - k s_d, 0) / c`` and its rear has passed the far face at
the latest at ``t_passed = (d + k s_d + L_ego + L_target) / c`` (``k`` range sigmas; both inf
when not closing: the ego never gets there).

**Overlap.** In path when the two intervals overlap. The lateral prediction is trusted for
``horizon`` seconds only (the stage's prediction horizon): an entry later than that does not
count (a drift that far ahead is not a threat yet), and an exit later than that is not relied
on (a car changing into our lane stops there; only a crossing within the horizon is known to
end).

**Margins.** The range sigma widens the ego's interval (above). The lateral velocity's sigma
enters through its band (:func:`lateral_speeds`): a target coming in moves at the slow end of
its ``sigmas``-sigma interval (and not at all inside the deadband), so its entry and its exit
are both the latest its estimate allows: noise does not bring it in early (the false cut-ins
the band was made against), and it is not taken to be across before it surely is.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from adas.kinematics import finite_or
from adas.types import FloatArray, ObjectClass

__all__ = [
    "bound_lateral_velocity", "class_speed_limits", "corridor_interval", "ego_interval",
    "intervals_overlap", "lateral_speeds",
]  # fmt: skip


def class_speed_limits(
    *, pedestrian_mps: float, cyclist_mps: float, vehicle_mps: float
) -> FloatArray:
    """Plausible lateral speed of each class [m/s], indexed by ``ObjectClass``: a pedestrian's
    (walking or running) and a cyclist's their own, every other class a vehicle's."""
    limit = np.full(len(ObjectClass), float(vehicle_mps))
    limit[ObjectClass.PEDESTRIAN] = pedestrian_mps
    limit[ObjectClass.BICYCLE] = cyclist_mps
    return limit


def bound_lateral_velocity(velocity_mps: npt.ArrayLike, limit_mps: npt.ArrayLike) -> FloatArray:
    """Lateral velocity clipped to ``+-limit_mps`` (each row its class's plausible speed);
    NaN becomes 0 (no lateral motion known)."""
    v = finite_or(np.asarray(velocity_mps, np.float64), nan=0.0)
    limit = np.asarray(limit_mps, np.float64)
    return np.asarray(np.clip(v, -limit, limit))


def lateral_speeds(
    velocity_mps: npt.ArrayLike,
    sigma_mps: npt.ArrayLike,
    *,
    deadband_mps: float,
    sigmas: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """``(v_in, v_out)``: the lateral velocity beyond its noise, for coming in and for going
    out (signed, m/s; 0 where the speed is within the band).

    A deadband, so a filter's jitter neither pulls a parked car into the path nor pushes a
    lead car out of it. Coming in, the band is at least ``sigmas`` times the estimate's own
    sigma (young and distant tracks: lateral = range x bearing, and range errors leak into
    it; a NaN sigma is infinite: no motion); going out, the deadband alone, so a lead turning
    out leaves the path as soon as its motion shows. (Our own turning is not in the lateral
    velocity: the motion stage takes it as a known input.)
    """
    v = finite_or(np.asarray(velocity_mps, np.float64), nan=0.0)
    sigma = np.asarray(sigma_mps, np.float64)
    sigma = np.where(np.isnan(sigma), np.inf, sigma)
    far_band = np.maximum(deadband_mps, np.asarray(sigmas, np.float64) * sigma)
    v_in = np.sign(v) * np.maximum(np.abs(v) - far_band, 0.0)
    v_out = np.sign(v) * np.maximum(np.abs(v) - deadband_mps, 0.0)
    return np.asarray(v_in), np.asarray(v_out)


def corridor_interval(
    offset_m: npt.ArrayLike,
    velocity_mps: npt.ArrayLike,
    half_width_m: npt.ArrayLike,
    *,
    enter_half_m: npt.ArrayLike,
    exit_half_m: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """``(t_in, t_out)`` [s]: when a target at ``offset_m`` from the path centre moving
    sideways at ``velocity_mps`` (its half width ``half_width_m``) is first and last in a
    corridor of half width ``enter_half_m`` (to get in) and ``exit_half_m`` (to get out).
    ``inf`` where it never enters, ``t_out = inf`` where it never leaves. Non-finite offsets
    never enter."""
    o = np.asarray(offset_m, np.float64)
    u = np.asarray(velocity_mps, np.float64)
    h = np.asarray(half_width_m, np.float64)
    a = np.asarray(enter_half_m, np.float64) + h
    b = np.asarray(exit_half_m, np.float64) + h
    speed = np.abs(u)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.abs(o) <= a
        towards = (o * u < 0.0) & (speed > 0.0)
        out_inside = np.where(speed > 0.0, (b - np.sign(u) * o) / speed, np.inf)
        # A corridor narrower than nothing (the margin exceeds it): no entry is sure enough.
        in_outside = np.where(towards & (a >= 0.0), (np.abs(o) - a) / speed, np.inf)
        out_outside = np.where(towards, (np.abs(o) + b) / speed, np.inf)
    t_in = np.where(inside, 0.0, in_outside)
    t_out = np.where(inside, out_inside, out_outside)
    bad = ~np.isfinite(o)
    return np.where(bad, np.inf, t_in), np.where(bad, np.inf, t_out)


def ego_interval(
    distance_m: npt.ArrayLike,
    closing_mps: npt.ArrayLike,
    sigma_distance_m: npt.ArrayLike,
    *,
    range_sigmas: float,
    ego_length_m: float,
    target_length_m: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """``(t_arrive, t_passed)`` [s]: the earliest time the ego's front bumper reaches the
    target's near face and the latest its rear has passed the far face, the gap known to
    ``range_sigmas`` of its sigma. Both inf where the ego does not close in (a NaN sigma
    counts as infinite: any time from now)."""
    d = np.asarray(distance_m, np.float64)
    c = np.asarray(closing_mps, np.float64)
    sigma = np.asarray(sigma_distance_m, np.float64)
    margin = range_sigmas * np.where(np.isnan(sigma), np.inf, sigma)
    closing = np.isfinite(c) & (c > 0.0) & np.isfinite(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.maximum(d - margin, 0.0)
        far = d + margin + ego_length_m + np.asarray(target_length_m, np.float64)
        t_arrive = np.where(closing, near / np.where(closing, c, 1.0), np.inf)
        t_passed = np.where(closing, far / np.where(closing, c, 1.0), np.inf)
    return np.where(np.isnan(t_arrive), np.inf, t_arrive), np.where(
        np.isnan(t_passed), np.inf, t_passed
    )


def intervals_overlap(
    t_in: npt.ArrayLike,
    t_out: npt.ArrayLike,
    t_arrive: npt.ArrayLike,
    t_passed: npt.ArrayLike,
    *,
    horizon_s: float,
) -> npt.NDArray[np.bool_]:
    """Rows whose corridor interval ``[t_in, t_out]`` overlaps the ego's ``[t_arrive,
    t_passed]``, the lateral prediction trusted up to ``horizon_s``: an entry after it does
    not count, an exit after it is not relied on (taken as never)."""
    t_in_a = np.asarray(t_in, np.float64)
    t_out_a = np.asarray(t_out, np.float64)
    exit_known = np.where(t_out_a > horizon_s, np.inf, t_out_a)
    enters = t_in_a <= np.minimum(horizon_s, np.asarray(t_passed, np.float64))
    stays = exit_known >= np.asarray(t_arrive, np.float64)
    return np.asarray(enters & stays)
