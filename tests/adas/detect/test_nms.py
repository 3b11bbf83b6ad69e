"""Class-aware NMS: exact kept sets, edge cases, tile merging, and a reference greedy NMS."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adas.detect.nms import NEARER_TOL, nms, suppress_nested, vehicle_groups
from adas.errors import ConfigError, ContractError

A = [0.0, 0.0, 10.0, 10.0]
B = [1.0, 1.0, 11.0, 11.0]  # IoU(A, B) = 81 / 119 = 0.68
C = [20.0, 20.0, 30.0, 30.0]  # apart from both


def run(
    boxes: list[list[float]], scores: list[float], classes: list[int], iou: float, **kw: int
) -> list[int]:
    out = nms(
        np.array(boxes, np.float32).reshape(-1, 4), np.array(scores), np.array(classes), iou, **kw
    )
    assert out.dtype == np.int64
    return out.tolist()


def test_overlap_above_threshold_is_suppressed() -> None:
    assert run([A, B, C], [0.9, 0.8, 0.7], [2, 2, 2], 0.5) == [0, 2]
    assert run([A, B, C], [0.9, 0.8, 0.7], [2, 2, 2], 0.7) == [0, 1, 2]  # 0.68 <= 0.7 stays
    # The kept one is the higher score wherever it is in the input; output in score order.
    assert run([C, B, A], [0.7, 0.95, 0.8], [2, 2, 2], 0.5) == [1, 0]


def test_suppression_is_per_class() -> None:
    assert run([A, A, B], [0.9, 0.8, 0.7], [2, 0, 2], 0.5) == [0, 1]
    # Boxes left of and above the image: OpenCV's per-class offset alone would mix classes.
    neg = [-100.0, -100.0, -90.0, -90.0]
    assert run([neg, neg, neg], [0.9, 0.8, 0.7], [2, 0, 2], 0.5) == [0, 1]
    # Large, sparse class ids are fine too.
    assert run([A, A], [0.9, 0.8], [10**9, 3], 0.5) == [0, 1]


def test_max_detections_cuts_after_suppression() -> None:
    # OpenCV's top_k would cut to A, B before suppressing B and lose C.
    assert run([A, B, C], [0.9, 0.8, 0.7], [2, 2, 2], 0.5, max_detections=2) == [0, 2]
    assert run([A, C], [0.9, 0.8], [2, 2], 0.5, max_detections=1) == [0]


def test_edge_cases() -> None:
    assert run([], [], [], 0.5) == []
    assert run([A], [0.1], [0], 0.5) == [0]
    # Identical boxes and scores: the first one stays (stable order).
    assert run([A, A, A], [0.5, 0.5, 0.5], [1, 1, 1], 0.5) == [0]
    assert run([A, A], [0.5, 0.6], [1, 1], 0.99) == [1]  # IoU 1 > any threshold < 1
    zero_area = [5.0, 5.0, 5.0, 9.0]
    inverted = [9.0, 9.0, 1.0, 1.0]
    assert run([zero_area, inverted], [0.9, 0.9], [0, 0], 0.5) == []
    nan_box = [np.nan, 0.0, 10.0, 10.0]
    inf_box = [0.0, 0.0, np.inf, 10.0]
    # The invalid rows would have suppressed A; dropped first, they cannot.
    assert run([nan_box, inf_box, A, A], [0.99, 0.98, np.nan, 0.5], [0, 0, 0, 0], 0.5) == [3]
    assert run([A, A], [np.inf, 0.5], [0, 0], 0.5) == [1]


def test_merge_of_overlapping_tiles() -> None:
    """Two tiles overlap in x 600..700: the car inside the overlap is found by both."""
    car_tile1 = [610.0, 400.0, 690.0, 460.0]
    car_tile2 = [612.0, 401.0, 692.0, 462.0]  # the same car, slightly different box
    person = [650.0, 380.0, 680.0, 470.0]  # in front of the car, other class
    other_car = [900.0, 410.0, 980.0, 470.0]  # only in tile 2
    boxes = np.array([car_tile1, person, car_tile2, other_car], np.float32)
    score = np.array([0.82, 0.6, 0.86, 0.7], np.float32)
    cls = np.array([2, 0, 2, 2])
    kept = nms(boxes, score, cls, 0.5)
    assert kept.tolist() == [2, 3, 1]  # tile 2's car (higher score), other car, person
    np.testing.assert_array_equal(kept, nms(boxes, score, cls, 0.5))


def test_bad_arguments() -> None:
    with pytest.raises(ContractError, match="N x 4"):
        nms(np.zeros((3, 4)), np.zeros(2), np.zeros(3, np.int64), 0.5)
    with pytest.raises(ContractError, match="N x 4"):
        nms(np.zeros((3, 5)), np.zeros(3), np.zeros(3, np.int64), 0.5)
    with pytest.raises(ConfigError, match="iou_threshold"):
        nms(np.zeros((1, 4)), np.zeros(1), np.zeros(1, np.int64), 1.5)
    with pytest.raises(ConfigError, match="max_detections"):
        nms(np.zeros((1, 4)), np.zeros(1), np.zeros(1, np.int64), 0.5, max_detections=0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return float(inter / (area - inter))


def reference_nms(boxes: np.ndarray, score: np.ndarray, cls: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS: by descending score (ties by index), drop IoU > thr same class."""
    kept: list[int] = []
    for i in sorted(range(len(score)), key=lambda i: (-score[i], i)):
        if all(cls[i] != cls[k] or iou(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return kept


@settings(max_examples=80, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.floats(-50, 200),
            st.floats(-50, 200),
            st.floats(1, 80),
            st.floats(1, 80),
            st.floats(0, 1, width=32),
            st.integers(0, 3),
        ),
        max_size=40,
    ),
    thr=st.sampled_from([0.3, 0.45, 0.5, 0.7]),
)
def test_matches_reference_greedy_nms(
    data: list[tuple[float, float, float, float, float, int]], thr: float
) -> None:
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _, _ in data]).reshape(-1, 4)
    score = np.array([d[4] for d in data], np.float32)
    cls = np.array([d[5] for d in data], np.int64)
    # IoUs within rounding of the threshold may go either way in float32 vs float64.
    for i in range(len(data)):
        for j in range(i):
            if cls[i] == cls[j]:
                assume(abs(iou(boxes[i], boxes[j]) - thr) > 1e-5)
    assert nms(boxes, score, cls, thr).tolist() == reference_nms(boxes, score, cls, thr)


def nested(boxes: list[list[float]], scores: list[float], groups: list[int], f: float) -> list[int]:
    out = suppress_nested(np.array(boxes), np.array(scores), np.array(groups), f)
    assert out.dtype == np.int64
    return out.tolist()


WHOLE = [0.0, 0.0, 100.0, 50.0]  # a car seen whole
PART = [50.0, 0.0, 130.0, 50.0]  # its rear half and 30 px beside: 50 / 80 = 0.625 inside
INNER = [10.0, 10.0, 30.0, 30.0]  # wholly inside WHOLE; IoU 400 / 5000 = 0.08
APART = [200.0, 0.0, 240.0, 30.0]  # beside them


def test_a_box_half_inside_a_higher_box_of_its_group_is_dropped() -> None:
    assert nested([WHOLE, PART, APART], [0.9, 0.8, 0.7], [0, 0, 0], 0.5) == [0, 2]
    assert nested([WHOLE, PART], [0.9, 0.8], [0, 0], 0.625) == [0]  # exactly at f: dropped
    assert nested([WHOLE, PART], [0.9, 0.8], [0, 0], 0.63) == [0, 1]
    assert nested([WHOLE, INNER], [0.9, 0.8], [0, 0], 0.99) == [0]  # NMS keeps it (IoU 0.08)
    assert run([WHOLE, INNER], [0.9, 0.8], [2, 2], 0.45) == [0, 1]


def test_a_nested_box_reaching_lower_is_a_nearer_vehicle_and_stays() -> None:
    """A car 15 m ahead in front of a bus at 20 m (f = 721 px, camera 1.65 m up): the car's
    box lies 0.74 inside the bus's, but its bottom edge is 19 px (0.165 of the bus's height)
    lower: it stands nearer, so it is another vehicle, never a part of the bus."""
    bus = [100.0, 145.0, 190.0, 260.0]
    car = [110.0, 207.0, 180.0, 279.0]
    assert nested([bus, car], [0.9, 0.8], [0, 0], 0.5) == [0, 1]
    # Its bottom just within NEARER_TOL of the bus's: taken for a part of the bus.
    low = 260.0 + 0.99 * NEARER_TOL * 115.0
    assert nested([bus, [110.0, low - 72.0, 180.0, low]], [0.9, 0.8], [0, 0], 0.5) == [0]


def test_only_a_higher_kept_box_of_the_same_group_drops_one() -> None:
    # The inner box scores higher: it stays, and so does the whole box (under 0.5 inside it).
    assert nested([WHOLE, INNER], [0.5, 0.8], [0, 0], 0.5) == [1, 0]
    # Another group, or no group (-1: pedestrians, cyclists), is never dropped nor drops.
    assert nested([WHOLE, INNER], [0.9, 0.8], [0, 1], 0.5) == [0, 1]
    assert nested([WHOLE, INNER], [0.9, 0.8], [0, -1], 0.5) == [0, 1]
    assert nested([WHOLE, INNER], [0.9, 0.8], [-1, 0], 0.5) == [0, 1]
    # A chain: INNER sits in PART2 which sits in WHOLE; PART2 dropped, INNER still in WHOLE.
    part2 = [5.0, 5.0, 60.0, 40.0]
    assert nested([WHOLE, part2, INNER], [0.9, 0.8, 0.7], [0, 0, 0], 0.5) == [0]
    # Above 1: off.
    assert nested([WHOLE, INNER], [0.9, 0.8], [0, 0], 1.01) == [0, 1]
    assert nested([], [], [], 0.5) == []
    with pytest.raises(ContractError):
        suppress_nested(np.zeros((2, 4)), np.zeros(1), np.zeros(2), 0.5)


def test_vehicle_classes_are_one_nms_group() -> None:
    nms_group, nested_group = vehicle_groups([2, 4, 5, 6], 9)
    assert nms_group.tolist() == [0, 1, 2, 3, 2, 2, 2, 7, 8]
    assert nested_group.tolist() == [-1, -1, 0, -1, 0, 0, 0, -1, -1]
    # A car box and a truck box on one SUV (IoU 0.68): class-aware NMS keeps both, the
    # vehicle group keeps the better one; a pedestrian on it stays.
    classes = np.array([2, 5, 0])
    assert run([A, B, A], [0.8, 0.9, 0.7], classes.tolist(), 0.45) == [1, 0, 2]
    assert run([A, B, A], [0.8, 0.9, 0.7], nms_group[classes].tolist(), 0.45) == [1, 2]
    none_nms, none_nested = vehicle_groups([], 9)
    assert none_nms.tolist() == list(range(9)) and (none_nested == -1).all()
