"""The rider fusion: a rider and the two-wheeler under them become one box; a pedestrian
beside, in front of or behind a parked bicycle stays a pedestrian.

Boxes are projected with a level pinhole camera (KITTI's: f = 721.5 px, 1.65 m above the
road, principal point (609.6, 172.9)) from objects whose geometry is given in metres, so each
case is a physical scene, not a hand-picked pixel box.
"""

from __future__ import annotations

import numpy as np
import pytest

from adas.detect.riders import RiderRule, fuse_riders, rider_pairs
from adas.types import ObjectClass

F, CX, CY, CAM_H = 721.5, 609.6, 172.9, 1.65
PED, BIKE, MOTO, OTHER = (int(c) for c in (ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE,
                                            ObjectClass.MOTORCYCLE, ObjectClass.OTHER))  # fmt: skip
THR = np.full(len(ObjectClass), 0.35, np.float32)


def box(x_left: float, x_right: float, z: float, y_low: float, y_high: float) -> list[float]:
    """Image box of a flat object facing the camera at depth ``z``, from ``x_left`` to
    ``x_right`` (m, right of the camera axis) and ``y_low`` to ``y_high`` above the road."""
    return [
        CX + F * x_left / z,
        CY + F * (CAM_H - y_high) / z,
        CX + F * x_right / z,
        CY + F * (CAM_H - y_low) / z,
    ]


def bicycle_side(x: float, z: float) -> list[float]:
    """A bicycle seen from the side: 1.75 m long, wheels on the road, handlebars 1.05 m up."""
    return box(x - 0.875, x + 0.875, z, 0.0, 1.05)


def rider(x: float, z: float) -> list[float]:
    """Its rider: 0.5 m wide, head 1.74 m up, the lower foot on the pedal 0.15 m up."""
    return box(x - 0.25, x + 0.25, z, 0.15, 1.74)


def pedestrian(x: float, z: float, height: float = 1.76) -> list[float]:
    return box(x - 0.3, x + 0.3, z, 0.0, height)


def fuse(boxes: list[list[float]], classes: list[int], scores: list[float] | None = None):
    s = np.asarray(scores or [0.8] * len(boxes), np.float32)
    return fuse_riders(np.asarray(boxes, np.float32), s, np.asarray(classes), THR)


def test_a_cyclist_is_one_box_the_union_of_rider_and_bicycle() -> None:
    b, r = bicycle_side(2.0, 15.0), rider(2.1, 15.0)
    xyxy, score, cls = fuse([r, b], [PED, BIKE], [0.79, 0.4])
    assert cls.tolist() == [BIKE]
    expect = [min(b[0], r[0]), min(b[1], r[1]), max(b[2], r[2]), max(b[3], r[3])]
    np.testing.assert_allclose(xyxy[0], expect, rtol=1e-6)
    assert score.tolist() == pytest.approx([0.79])
    # The same at 40 m and 6 m: the rule is relative to the boxes' own sizes.
    for z in (6.0, 40.0):
        assert fuse([rider(2.1, z), bicycle_side(2.0, z)], [PED, BIKE])[2].tolist() == [BIKE]


def test_a_motorcyclist_seen_from_behind_inside_its_motorcycle_box() -> None:
    """The detector boxed rider and motorcycle together; the rider's box lies inside."""
    moto = box(-0.45, 0.45, 20.0, 0.0, 1.6)
    rider_box = box(-0.3, 0.3, 20.0, 0.1, 1.6)
    xyxy, _, cls = fuse([rider_box, moto], [PED, MOTO])
    assert cls.tolist() == [MOTO]
    np.testing.assert_allclose(xyxy[0], moto, rtol=1e-6)


def test_a_pedestrian_beside_a_parked_bicycle_stays_a_pedestrian() -> None:
    """Side by side on the pavement, 0.3 m apart, at the bicycle's depth."""
    b = bicycle_side(4.0, 12.0)
    p = pedestrian(4.0 + 0.875 + 0.3 + 0.3, 12.0)
    _, _, cls = fuse([p, b], [PED, BIKE])
    assert sorted(cls.tolist()) == sorted([PED, OTHER])  # the bicycle: no rider, no cyclist
    assert rider_pairs(np.asarray([p, b]), np.ones(2), np.asarray([PED, BIKE])) == []


def test_a_pedestrian_in_front_of_a_parked_bicycle_stays_a_pedestrian() -> None:
    """Centred on the bicycle but 1.5 m nearer the camera: the feet end below its wheels."""
    _, _, cls = fuse([pedestrian(3.0, 10.5), bicycle_side(3.0, 12.0)], [PED, BIKE])
    assert PED in cls.tolist()


def test_a_person_seated_behind_a_parked_bicycle_stays_a_pedestrian() -> None:
    """Seated at a cafe table behind the bicycle (object_val/000015): the box ends at the
    chair, half-way up the bicycle."""
    b = bicycle_side(3.0, 12.0)
    seated = box(2.8, 3.3, 12.0, 0.5, 1.3)
    assert rider_pairs(np.asarray([seated, b]), np.ones(2), np.asarray([PED, BIKE])) == []


def test_a_bicycle_box_on_a_walking_pedestrians_legs_does_not_make_a_cyclist() -> None:
    """Detectors put faint "bicycles" on striding legs (kitti/object 000076): their top sits
    just below the head, not at the handlebars."""
    p = pedestrian(1.0, 17.0)
    legs = box(0.7, 1.3, 17.0, 0.0, 1.45)
    _, _, cls = fuse([p, legs], [PED, BIKE], [0.8, 0.4])
    assert sorted(cls.tolist()) == sorted([PED, OTHER])


def test_each_rider_takes_its_own_bicycle_and_a_faint_person_takes_none() -> None:
    left, right = bicycle_side(-2.0, 14.0), bicycle_side(2.0, 14.0)
    riders = [rider(-2.0, 14.0), rider(2.05, 14.0)]
    faint = rider(1.98, 14.0)  # a second, weaker box on the right rider
    boxes = np.asarray([riders[0], riders[1], faint, left, right])
    classes = np.asarray([PED, PED, PED, BIKE, BIKE])
    pairs = rider_pairs(boxes, np.asarray([0.9, 0.8, 0.3, 0.6, 0.6]), classes)
    assert sorted(pairs) == [(0, 3), (1, 4)]


def test_the_stronger_two_wheeler_box_gives_the_class() -> None:
    """A bicycle box and a weaker motorcycle box on the same wheels: a cyclist."""
    b = bicycle_side(0.0, 10.0)
    _, _, cls = fuse([rider(0.05, 10.0), b, b], [PED, BIKE, MOTO], [0.8, 0.5, 0.37])
    assert cls.tolist() == [BIKE, OTHER]


def test_partners_below_their_threshold_and_rejected_riders_take_no_part() -> None:
    b, r = bicycle_side(2.0, 15.0), rider(2.1, 15.0)
    # The bicycle scores 0.2 < 0.35: no detection in its own right, no partner.
    _xyxy, score, cls = fuse([r, b], [PED, BIKE], [0.8, 0.2])
    assert cls.tolist() == [PED] and score.tolist() == pytest.approx([0.8])
    # The rider was rejected by the second look (score 0): the bicycle leaves riderless.
    _, _, cls = fuse([r, b], [PED, BIKE], [0.0, 0.6])
    assert cls.tolist() == [OTHER]
    # A partner only the second look saw joins a rider, and is dropped without one.
    s = np.asarray([0.8, 0.6], np.float32)
    out = fuse_riders(np.asarray([r, b], np.float32), s, np.asarray([PED, BIKE]), THR,
                      np.asarray([False, True]))  # fmt: skip
    assert out[2].tolist() == [BIKE]
    out = fuse_riders(np.asarray([pedestrian(-5.0, 15.0), b], np.float32), s,
                      np.asarray([PED, BIKE]), THR, np.asarray([False, True]))  # fmt: skip
    assert out[2].tolist() == [PED]


def test_the_rule_tolerances_are_the_documented_ones() -> None:
    rule = RiderRule()
    assert (rule.centre_frac, rule.bottom_low_frac, rule.bottom_below_frac) == (0.25, 0.7, 0.1)
    assert (rule.top_gap_frac, rule.inside_frac) == (0.25, 0.9)
    # Off-centre by just over a quarter of the bicycle's width: no rider.
    b = np.asarray(bicycle_side(0.0, 10.0))
    w = b[2] - b[0]
    p = np.asarray(rider(0.0, 10.0))
    shifted = p + np.array([0.26 * w, 0, 0.26 * w, 0])
    cls = np.asarray([PED, BIKE])
    assert rider_pairs(np.asarray([shifted, b]), np.ones(2), cls) == []
    shifted = p + np.array([0.24 * w, 0, 0.24 * w, 0])
    assert rider_pairs(np.asarray([shifted, b]), np.ones(2), cls) == [(0, 1)]


def test_empty_and_non_finite_inputs() -> None:
    xyxy, score, cls = fuse_riders(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), THR)
    assert xyxy.shape == (0, 4) and score.shape == (0,) and cls.shape == (0,)
    b, r = bicycle_side(2.0, 15.0), rider(2.1, 15.0)
    r_nan = [float("nan"), *r[1:]]
    assert rider_pairs(np.asarray([r_nan, b]), np.ones(2), np.asarray([PED, BIKE])) == []
