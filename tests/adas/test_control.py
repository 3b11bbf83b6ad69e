"""The warning/brake state machine (adas.control): every transition, timing rule and guard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adas.control import ControlConfig, Controller
from adas.errors import ConfigError
from adas.types import DangerLevel, DecisionLevel, EgoState, ObjectClass, ObjectStates, Zone

FRAME = 33_333_333  # 30 fps
N, W, P, F, C = (
    DangerLevel.NONE,
    DangerLevel.WARNING,
    DangerLevel.BRAKE_PARTIAL,
    DangerLevel.BRAKE_FULL,
    DangerLevel.CAUTION,
)


def obj(
    level: DangerLevel, zone: Zone = Zone.IN_PATH, ttc: float = 1.5, rr: float = -10.0,
    d: float = 20.0, acc: float = 0.0, req: float = 0.0, cls: ObjectClass = ObjectClass.CAR,
) -> ObjectStates:  # fmt: skip
    one = np.ones(1)
    return ObjectStates(
        track_id=np.array([7], np.int64),
        distance_m=d * one,
        lateral_m=0 * one,
        sigma_distance_m=one,
        range_rate_mps=rr * one,
        accel_mps2=acc * one,
        lateral_velocity_mps=0 * one,
        ttc_s=ttc * one,
        sigma_ttc_s=0.1 * one,
        zone=np.array([int(zone)], np.int64),
        danger=np.array([int(level)], np.int64),
        required_decel_mps2=req * one,
        class_id=np.array([int(cls)], np.int64),
    )


def ego(t: int, speed: float = 15.0, **kw: object) -> EgoState:
    return EgoState(t_ns=t, speed_mps=speed, **kw)  # type: ignore[arg-type]


def run(
    levels: list[DangerLevel],
    ctl: Controller | None = None,
    start: int = 0,
    ttc: float = 1.5,
    rr: float = -10.0,
    dist: float = 20.0,
    acc: float = 0.0,
    req: float = 0.0,
    **kw: object,
) -> list[DecisionLevel]:
    ctl = ctl or Controller()
    out = []
    for i, lv in enumerate(levels):
        t = start + i * FRAME
        o = obj(lv, ttc=ttc, rr=rr, d=dist, acc=acc, req=req)
        d = ctl.update(o, ego(t), t, **kw)  # type: ignore[arg-type]
        out.append(d.level)
    return out


def test_a_single_frame_never_acts_and_persistence_starts_a_warning() -> None:
    assert run([W, N, N]) == [DecisionLevel.NONE] * 3
    assert run([W, W, W]) == [DecisionLevel.NONE, DecisionLevel.WARNING, DecisionLevel.WARNING]
    assert run([C, C]) == [DecisionLevel.NONE, DecisionLevel.CAUTION]


def test_braking_waits_0_8_s_after_the_warning_began() -> None:
    # The danger grows: WARNING first, braking level 5 frames later.
    out = run([W] * 5 + [P] * 40)
    first_warning = out.index(DecisionLevel.WARNING)
    first_brake = out.index(DecisionLevel.BRAKE_PARTIAL)
    assert first_warning == 1  # 2 frames of persistence
    # 0.8 s at 30 fps is 24 frames after the warning began.
    assert (first_brake - first_warning) * FRAME >= 0.8e9 - 1
    assert (first_brake - first_warning - 1) * FRAME < 0.8e9
    assert set(out[first_warning:first_brake]) == {DecisionLevel.WARNING}


def test_a_sudden_threat_brakes_with_the_warning() -> None:
    # Waiting the 0.8 s (plus 0.3 s brake latency) would leave the collision unavoidable: it
    # could not be anticipated 0.8 s ahead (UN R152 5.2.1.1): warning, then braking on
    # persistence. 16 m/s closing at 20 m from 15 m/s: 3.5 m left after 1.1 s, 32 m/s^2.
    out = run([P] * 6, rr=-16.0)
    assert out[:3] == [DecisionLevel.NONE, DecisionLevel.WARNING, DecisionLevel.BRAKE_PARTIAL]
    # A braking-level danger that waiting leaves avoidable (10 m/s at 20 m: 9 m and 5.6 m/s^2
    # after 1.1 s) waits the 0.8 s, whatever the danger stage's estimated need says.
    calm = run([P] * 6, rr=-10.0, req=6.0)
    assert DecisionLevel.BRAKE_PARTIAL not in calm
    # A lead braking hard 12 m ahead (relative 6 m/s^2, closing 3 m/s): after 1.1 s it has
    # almost stopped 5 m ahead of us, 15 m/s^2 needed: brake with the warning. The same gap
    # and closing speed without its deceleration waits.
    lead = run([P] * 6, rr=-3.0, dist=12.0, acc=-6.0)
    assert lead[:3] == [DecisionLevel.NONE, DecisionLevel.WARNING, DecisionLevel.BRAKE_PARTIAL]
    steady = run([P] * 6, rr=-3.0, dist=12.0)
    assert DecisionLevel.BRAKE_PARTIAL not in steady


def test_a_braking_leads_lagging_deceleration_counts_more_in_the_exception() -> None:
    # Euro NCAP CCRb 12 m / 6 m/s^2, 1 s after the lead began braking: the filter shows
    # 10.3 m, -3.3 m/s and only -3.0 m/s^2 of the lead's 6. Taken at face value waiting the
    # 0.8 s still looks avoidable after 1.07 s; with the deceleration counted 1.5 times (the
    # default) it needs more than full braking: brake with the warning.
    face_value = Controller(ControlConfig(unavoidable_decel_factor=1.0))
    assert DecisionLevel.BRAKE_PARTIAL not in run([P] * 6, face_value, rr=-3.3, dist=10.3, acc=-3.0)
    out = run([P] * 6, rr=-3.3, dist=10.3, acc=-3.0)
    assert out[:3] == [DecisionLevel.NONE, DecisionLevel.WARNING, DecisionLevel.BRAKE_PARTIAL]
    # The factor scales a deceleration only: the same closing without one still waits, and
    # so does a lead pulling away (+3 m/s^2 must not be read as +4.5, nor as braking).
    assert DecisionLevel.BRAKE_PARTIAL not in run([P] * 6, rr=-3.3, dist=10.3, acc=0.0)
    assert DecisionLevel.BRAKE_PARTIAL not in run([P] * 6, rr=-3.3, dist=10.3, acc=3.0)


@pytest.mark.parametrize(
    ("cls", "waits"),
    [(ObjectClass.PEDESTRIAN, False), (ObjectClass.BICYCLE, False),
     (ObjectClass.MOTORCYCLE, True), (ObjectClass.CAR, True), (ObjectClass.OTHER, True)],
)  # fmt: skip
def test_pedestrians_and_cyclists_brake_with_the_warning(cls: ObjectClass, waits: bool) -> None:
    # R152 5.2.2.1: for a pedestrian the warning comes no later than the braking; the 0.8 s
    # of the car-to-car scenario do not apply. An avoidable braking-level danger (10 m/s at
    # 20 m) brakes on the brake persistence (3 frames) for a pedestrian or cyclist, while a
    # vehicle target waits the 0.8 s. The warning is never later than the brakes.
    ctl = Controller()
    out = []
    for i in range(30):
        o = obj(P, rr=-10.0, cls=cls)
        out.append(ctl.update(o, ego(i * FRAME), i * FRAME).level)
    first_warning = out.index(DecisionLevel.WARNING)
    first_brake = out.index(DecisionLevel.BRAKE_PARTIAL)
    assert first_warning == 1
    if waits:
        assert (first_brake - first_warning) * FRAME >= 0.8e9 - 1
    else:
        assert first_brake == 2  # the third frame at braking level
        assert DecisionLevel.NONE not in out[first_brake:]


def test_urgent_danger_brakes_at_once_partial_first_then_full() -> None:
    ctl = Controller()
    out = run([F] * 20, ctl, rr=-16.0)
    assert out[:2] == [DecisionLevel.NONE, DecisionLevel.WARNING]
    assert out[2] == DecisionLevel.BRAKE_PARTIAL  # 3 frames of persistence, no 0.8 s wait
    first_full = out.index(DecisionLevel.BRAKE_FULL)
    assert (first_full - 2) * FRAME >= 0.2e9 - 1  # a partial stage of at least 0.2 s
    assert set(out[2:first_full]) == {DecisionLevel.BRAKE_PARTIAL}
    d = ctl.update(obj(F), ego(20 * FRAME), 20 * FRAME)
    assert d.decel_request_mps2 == 9.0 and d.target_track_id == 7


def test_a_full_level_from_a_dipping_ttc_still_waits_for_the_0_8_s() -> None:
    out = run([F] * 40, rr=-10.0)
    first_brake = next(i for i, x in enumerate(out) if x >= DecisionLevel.BRAKE_PARTIAL)
    assert (first_brake - 1) * FRAME >= 0.8e9 - 1


def test_partial_request_is_the_larger_of_the_minimum_and_the_need() -> None:
    for req, expected in ((1.0, 5.0), (6.0, 7.2), (20.0, 9.0)):
        ctl = Controller()
        d = None
        for i in range(40):
            d = ctl.update(obj(P, req=req), ego(i * FRAME), i * FRAME)
        assert d is not None and d.level == DecisionLevel.BRAKE_PARTIAL
        assert d.decel_request_mps2 == pytest.approx(expected)


def test_braking_lasts_until_the_target_stops_closing() -> None:
    ctl = Controller()
    out = run([P] * 30, ctl)
    assert out[-1] == DecisionLevel.BRAKE_PARTIAL
    # Braking works: the danger level drops, but the car still closes in: keep braking.
    still = run([N] * 20, ctl, start=30 * FRAME, rr=-4.0)
    assert set(still) == {DecisionLevel.BRAKE_PARTIAL}
    # The gap stops closing: 5 frames later the brakes are released.
    after = run([N] * 6, ctl, start=50 * FRAME, rr=0.0)
    assert after[:4] == [DecisionLevel.BRAKE_PARTIAL] * 4
    assert after[4] == DecisionLevel.WARNING  # brakes off; the warning winds down after it
    # A danger that flickers back to a braking level never releases (no chattering).
    ctl2 = Controller()
    run([P] * 30, ctl2)
    flicker = run([N, N, P, N, N, N, P] * 3, ctl2, start=30 * FRAME, rr=0.0)
    assert set(flicker) == {DecisionLevel.BRAKE_PARTIAL}


def test_brakes_are_held_a_minimum_time() -> None:
    ctl = Controller(ControlConfig(brake_min_hold_s=1.0))
    out = run([P] * 4, ctl, rr=-16.0)
    start = out.index(DecisionLevel.BRAKE_PARTIAL)
    later = run([N] * 40, ctl, start=4 * FRAME, rr=0.0)
    release = 4 + later.index(DecisionLevel.WARNING)
    assert (release - start) * FRAME >= 1.0e9 - 1  # held 1 s although the threat left at once
    assert (release - start - 1) * FRAME < 1.0e9


def test_warning_lasts_its_minimum_then_lockout() -> None:
    ctl = Controller()
    out = run([W, W] + [N] * 40, ctl)
    on = [i for i, x in enumerate(out) if x == DecisionLevel.WARNING]
    assert on[0] == 1 and (on[-1] - on[0] + 1) * FRAME >= 1.0e9 - FRAME
    # Within the 2 s lockout a new WARNING-level danger at TTC 2.5 s gives no warning...
    relapse = run([W] * 10, ctl, start=42 * FRAME, ttc=2.5)
    assert DecisionLevel.WARNING not in relapse
    # ...but one below the bypass TTC (2 s) does, and so does a braking-level danger.
    close = run([W] * 3, ctl, start=52 * FRAME, ttc=1.9)
    assert DecisionLevel.WARNING in close
    # After the lockout the ordinary warning is back.
    later = run([W] * 3, Controller(), start=0)
    assert later[-1] == DecisionLevel.WARNING


@pytest.mark.parametrize(
    ("kw", "reason"),
    [({"brake_pedal": 0.5}, "driver braking"), ({"turn_signal": 1}, "turn signal")],
)
def test_the_driver_ends_any_intervention(kw: dict[str, object], reason: str) -> None:
    ctl = Controller()
    run([P] * 30, ctl)
    assert ctl.level == DecisionLevel.BRAKE_PARTIAL
    d = ctl.update(obj(F), ego(30 * FRAME, **kw), 30 * FRAME)
    assert d.level == DecisionLevel.NONE and d.decel_request_mps2 == 0.0 and reason in d.reason


@pytest.mark.parametrize(("speed", "reason"), [(1.0, "below"), (60.0, "above")])
def test_speed_range_blocks_starting_but_not_finishing(speed: float, reason: str) -> None:
    ctl = Controller()
    for i in range(10):
        d = ctl.update(obj(F), ego(i * FRAME, speed), i * FRAME)
        assert d.level == DecisionLevel.NONE and f"{reason} the active range" in d.reason
    ctl = Controller()
    run([P] * 30, ctl)
    # Braking slows the car below the active range: it goes on until the threat is over.
    d = ctl.update(obj(P), ego(30 * FRAME, 1.0), 30 * FRAME)
    assert d.level == DecisionLevel.BRAKE_PARTIAL and d.decel_request_mps2 >= 5.0


def test_stale_or_invalid_input_is_unavailable_with_zero_brake_and_recovers() -> None:
    ctl = Controller()
    run([F] * 20, ctl, rr=-16.0)
    assert ctl.level == DecisionLevel.BRAKE_FULL
    d = ctl.update(obj(F), ego(20 * FRAME), 20 * FRAME, input_ok=False)
    assert d.level == DecisionLevel.UNAVAILABLE and d.decel_request_mps2 == 0.0
    for bad in (ego(21 * FRAME, valid=False), ego(21 * FRAME, float("nan"))):
        d = ctl.update(obj(F), bad, 21 * FRAME)
        assert d.level == DecisionLevel.UNAVAILABLE and d.decel_request_mps2 == 0.0
    # Healthy again: persistence starts from zero, so one frame is not enough.
    d = ctl.update(obj(F), ego(22 * FRAME), 22 * FRAME)
    assert d.level == DecisionLevel.NONE
    d = ctl.update(obj(F), ego(23 * FRAME), 23 * FRAME)
    assert d.level == DecisionLevel.WARNING


def test_objects_outside_the_path_and_time_going_back() -> None:
    ctl = Controller()
    for i in range(40):
        d = ctl.update(obj(F, Zone.ADJACENT), ego(i * FRAME), i * FRAME)
        assert d.level == DecisionLevel.NONE
    run([W] * 5, ctl, start=40 * FRAME)
    assert ctl.level == DecisionLevel.WARNING
    d = ctl.update(obj(W), ego(0), 0)  # time went backwards: state reset
    assert d.level == DecisionLevel.NONE


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="partial_decel"):
        ControlConfig(partial_decel_mps2=10.0, full_decel_mps2=8.0)
    with pytest.raises(ConfigError, match="min_active_speed"):
        ControlConfig(min_active_speed_mps=40.0, max_active_speed_mps=30.0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([N, C, W, P, F]), st.booleans(), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_safety_invariants_hold_for_any_sequence(
    steps: list[tuple[DangerLevel, bool, bool]],
) -> None:
    """Braking only with a warning on, never on bad input or with the driver braking, and
    earlier than 0.8 s after the warning began only when the danger was already at a braking
    level when the warning began (sudden) or reached BRAKE_FULL; a brake request exactly when
    braking."""
    ctl = Controller()
    warning_since: int | None = None
    exempt = False
    history: list[DangerLevel] = []
    for i, (lv, ok, pedal) in enumerate(steps):
        t = i * FRAME
        d = ctl.update(obj(lv), ego(t, brake_pedal=0.5 if pedal else 0.0), t, input_ok=ok)
        history.append(lv if ok and not pedal else N)
        braking = d.level in (DecisionLevel.BRAKE_PARTIAL, DecisionLevel.BRAKE_FULL)
        assert (d.decel_request_mps2 > 0) == braking
        if not ok or pedal:
            assert d.decel_request_mps2 == 0.0 and not braking
        if d.level == DecisionLevel.WARNING or braking:
            if warning_since is None:
                warning_since = t
                exempt = all(h >= P for h in history[-2:])
            exempt |= lv == F
        else:
            warning_since = None
        if braking and not exempt:
            assert warning_since is not None and t - warning_since >= 0.8e9 - 1
