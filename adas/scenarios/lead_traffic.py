"""False-reaction scenarios with a lead vehicle that is never a threat: its class flips between
car and truck, it brakes lightly and then turns out of the lane, or it stops and creeps in a
queue. Pass = no warning, no brake request.

Why (issue 18): a red car classified "truck" was ranged at 54.8 m instead of about 20 m (the
truck size prior), so a class flip jumps the range and fakes a range rate; on real dashcam
clips brake requests were issued with "TTC inf s, required 25.3 m/s^2", a brake on a target
that was not closing, driven by the lead-deceleration estimate alone; and a lead turning out of
the lane gave a false warning and a false brake in 2 of 7 trials of one seed.
"""

from __future__ import annotations

from adas.scenarios.scenario import KMH, TRUCK_HWL_M, Scenario, false_scenario
from adas.scenarios.sim import CAR_HWL_M, TargetSpec
from adas.types import ObjectClass

__all__ = [
    "FLICKER", "LONG_FLIPS", "STICKY_FLIPS", "brake_then_turn_out", "class_flips", "flip_schedule",
    "lead_traffic", "stop_and_go",
]  # fmt: skip

CAR, TRUCK = int(ObjectClass.CAR), int(ObjectClass.TRUCK)
# Class flips of a lead (our choice, covering what detectors do): two sticky flips, 1 s and
# 0.5 s long, then a second of flicker that changes the class every 0.1 s (3 frames). The
# tracker reports the class with the largest summed score over a track's life, so these never
# change the track's class; LONG_FLIPS do, twice: called wrong at birth for 0.5 s, right until
# 3 s, then wrong until 8 s (the wrong class leads the vote from ~5 s), then right again (the
# right class leads again from ~11 s; the trial lasts LONG_FLIP_DURATION_S).
STICKY_FLIPS = ((2.0, 3.0), (5.0, 5.5))  # (start, end) s of the wrong class
FLICKER = (7.0, 8.0, 0.1)  # start, end, period s
FLIP_DURATION_S = 10.0
LONG_FLIPS = ((0.0, 0.5), (3.0, 8.0))
LONG_FLIP_DURATION_S = 13.0


def flip_schedule(
    own: int, other: int, sticky: tuple[tuple[float, float], ...] = STICKY_FLIPS,
    flicker: tuple[float, float, float] | None = FLICKER,
) -> tuple[tuple[float, int], ...]:  # fmt: skip
    """The ``TargetSpec.class_schedule`` of a lead of class ``own`` that is called ``other``
    during the ``sticky`` (start, end) windows and alternately during ``flicker``."""
    out: list[tuple[float, int]] = []
    for start, end in sticky:
        out += [(start, other), (end, own)]
    if flicker is not None:
        start, end, period = flicker
        n = round((end - start) / period)
        out += [(round(start + k * period, 6), other if k % 2 == 0 else own) for k in range(n)]
        out.append((end, own))
    return tuple(out)


def class_flips() -> list[Scenario]:
    """A lead at our speed and a safe following distance (1.8-2.3 s) whose class flips: a car
    called truck (the truck prior ranges it ~2x too far) and a truck called car (~2x too near);
    briefly (``STICKY_FLIPS``, ``FLICKER``) and for long enough to flip the track's class
    (``LONG_FLIPS``, ids ending in ``-long``)."""
    out = []
    # (name, ego = lead km/h, gap m, true size, own class, flipped-to class)
    cases = (
        ("car-50", 50, 25.0, CAR_HWL_M, CAR, TRUCK),
        ("car-90", 90, 45.0, CAR_HWL_M, CAR, TRUCK),
        ("truck-80", 80, 50.0, TRUCK_HWL_M, TRUCK, CAR),
    )
    long_cases = [(f"{c[0]}-long", *c[1:]) for c in (cases[0], cases[2])]
    for name, kmh, gap, hwl, own, other in [*cases, *long_cases]:
        long = name.endswith("-long")  # long enough to flip the track's class
        sched = flip_schedule(own, other, LONG_FLIPS, None) if long else flip_schedule(own, other)
        t = (TargetSpec(gap, 0.0, kmh * KMH, hwl_m=hwl, class_id=own, class_schedule=sched),)
        duration = LONG_FLIP_DURATION_S if long else FLIP_DURATION_S
        sid = f"false-reaction/class-flip-{name}"
        out.append(false_scenario(sid, kmh, t, duration, headway_s=round(gap / (kmh * KMH), 2)))
    return out


def brake_then_turn_out() -> list[Scenario]:
    """A lead at our speed brakes lightly (2 m/s^2, reached in 0.5 s) to its turning speed and
    leaves our lane to the right 1 s after its brake lights: an exit or a side road. At 2 s
    headway the true TTC (ego holding its speed) stays >= 3.26 s (50 km/h) and >= 3.99 s
    (80 km/h) until it is out of our path: a driver lifts off and waits; nobody brakes for it.
    Afterwards we pass it, slower in the lane to our right, cut by the right image border."""
    out = []
    # (name, ego = lead km/h, gap m, turning speed km/h, lane-change duration s)
    for name, kmh, gap, turn_kmh, change_s in (("50", 50, 30.0, 20, 3.0),
                                               ("80", 80, 45.0, 50, 4.0)):  # fmt: skip
        t = (TargetSpec(gap, 0.0, kmh * KMH, brake_at_s=2.0, brake_decel_mps2=2.0,
                        min_speed_mps=turn_kmh * KMH, lane_change_at_s=3.0,
                        lane_change_m=-3.5, lane_change_s=change_s),)  # fmt: skip
        out.append(false_scenario(f"false-reaction/brake-turn-out-{name}", kmh, t, 12.0,
                                  lane_change_m=-3.5, target_decel_mps2=2.0))  # fmt: skip
    return out


def stop_and_go() -> list[Scenario]:
    """A queue: we roll at a constant low speed (the driver lets the car creep) behind a lead
    that stops, stands, creeps at 1-2 m/s and catches up again, at the gap a driver keeps (the
    true TTC stays above 4 s). Lead speed changes at 1.5 m/s^2 (``speed_schedule``)."""
    out = []
    # (name, ego m/s, gap m, lead schedule (time s, commanded speed m/s)). Worked out with
    # SpeedProfile: creep-5 gap 4.8-9.0 m, stands 1.0 s and 0.5 s, creeps at 1.0 m/s, true TTC
    # >= 4.5 s; creep-9 gap 8.0-15.1 m, stands 0.3 s and 0.7 s, creeps at 1.5 and 1.0 m/s,
    # true TTC >= 4.4 s.
    cases = (
        ("creep-5", 1.5, 9.0, ((1.0, 0.0), (3.0, 1.0), (6.0, 3.0), (9.0, 0.0), (11.5, 2.0),
                               (13.0, 1.5))),
        ("creep-9", 2.5, 14.0, ((1.0, 0.0), (3.0, 1.5), (5.0, 5.0), (8.5, 0.0), (12.5, 1.0),
                                (13.5, 4.0), (15.0, 2.5))),
    )  # fmt: skip
    for name, ego, gap, schedule in cases:
        t = (TargetSpec(gap, 0.0, ego, speed_schedule=schedule, speed_change_mps2=1.5),)
        out.append(false_scenario(f"false-reaction/stop-and-go-{name}", ego / KMH, t, 16.0,
                                  ego_speed_mps=ego))  # fmt: skip
    return out


def lead_traffic() -> list[Scenario]:
    """Every scenario of this module, in a fixed order."""
    return [*class_flips(), *brake_then_turn_out(), *stop_and_go()]
