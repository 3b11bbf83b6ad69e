"""CLEAR-MOT accumulator: hand-built sequences with exactly known counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas.errors import ContractError
from adas.evaluate.mot import MotAccumulator, box_iou


def box(x: float, y: float = 100.0, w: float = 40.0, h: float = 40.0) -> list[float]:
    return [x, y, x + w, y + h]


A, B, C = box(0), box(200), box(400)  # three well separated places
EMPTY = np.zeros((0, 4))


def test_box_iou_exact_values() -> None:
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10], [3, 3, 3, 3]], float)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 3, 0.0, 1.0, 0.0]])


def test_perfect_tracking_gives_mota_one() -> None:
    acc = MotAccumulator()
    for k in range(20):
        acc.update([1, 2], [box(10 * k), box(300 - 5 * k)], [7, 9], [box(10 * k), box(300 - 5 * k)])
    r = acc.summary()
    assert r.mota == 1.0
    assert r.motp == pytest.approx(1.0)
    assert (r.matches, r.misses, r.false_positives) == (40, 0, 0)
    assert (r.id_switches, r.fragmentations) == (0, 0)
    assert (r.gt_tracks, r.mostly_tracked, r.mostly_lost) == (2, 2, 0)
    assert r.frames == 20


def test_an_id_swap_gives_exactly_two_switches() -> None:
    acc = MotAccumulator()
    for k in range(10):
        hyp = [1, 2] if k < 5 else [2, 1]
        acc.update([10, 20], [A, B], hyp, [A, B])
    r = acc.summary()
    assert r.id_switches == 2
    assert r.fragmentations == 0
    assert r.mota == pytest.approx(1 - 2 / 20)


def test_each_gap_is_a_fragmentation_and_a_new_id_a_switch() -> None:
    acc = MotAccumulator()
    present = [True, True, True, False, False, True, True, False, True, True]
    for k, seen in enumerate(present):
        hyp_id = 5 if k < 8 else 6  # the last reacquisition comes with a new id
        acc.update([1], [A], [hyp_id] if seen else [], [A] if seen else EMPTY)
    r = acc.summary()
    assert r.fragmentations == 2
    assert r.id_switches == 1
    assert r.misses == 3
    assert r.matches == 7
    assert r.mota == pytest.approx(1 - (3 + 1) / 10)


def test_frames_without_the_gt_do_not_fragment_it() -> None:
    acc = MotAccumulator()
    for k in range(6):
        if k in (2, 3):  # GT absent (e.g. left the image) and no hypothesis
            acc.update([], EMPTY, [], EMPTY)
        else:
            acc.update([1], [A], [5], [A])
    assert acc.summary().fragmentations == 0


def test_an_established_match_is_kept_while_still_valid() -> None:
    # Frame 0: GT 1 matched to hyp 5. Frame 1: hyp 5 still overlaps (IoU 0.6), hyp 6 overlaps
    # perfectly; CLEAR-MOT keeps 5 (no switch) and 6 is a false positive.
    shifted = [A[0] + 10, A[1], A[2] + 10, A[3]]
    assert box_iou(np.array([A]), np.array([shifted]))[0, 0] == pytest.approx(0.6)
    acc = MotAccumulator()
    acc.update([1], [A], [5], [A])
    acc.update([1], [A], [5, 6], [shifted, A])
    r = acc.summary()
    assert r.id_switches == 0
    assert r.false_positives == 1
    assert r.motp == pytest.approx((1.0 + 0.6) / 2)


def test_hungarian_maximises_the_number_of_matches() -> None:
    # Hyp 5 overlaps GT 1 best (IoU 0.78), but it is the only candidate of GT 2 (IoU 0.33)
    # while GT 1 also has hyp 6 (IoU 0.54): greedy best-first would lose a match.
    g1, g2 = box(0), box(25)
    h5, h6 = box(5), box(-12)
    acc = MotAccumulator(iou_threshold=0.3)
    acc.update([1, 2], [g1, g2], [5, 6], [h5, h6])
    r = acc.summary()
    assert r.matches == 2
    assert r.misses == 0


def test_misses_false_positives_and_mota() -> None:
    acc = MotAccumulator()
    acc.update([1, 2, 3], [A, B, C], [7], [A])  # 2 misses
    acc.update([1, 2, 3], [A, B, C], [7, 8, 9, 10], [A, B, C, box(600)])  # 1 FP
    r = acc.summary()
    assert (r.matches, r.misses, r.false_positives, r.id_switches) == (4, 2, 1, 0)
    assert r.mota == pytest.approx(1 - 3 / 6)
    assert r.gt_objects == 6


def test_dont_care_rows_are_neither_misses_nor_make_false_positives() -> None:
    region = [0.0, 50.0, 300.0, 200.0]  # a DontCare region holding several parked cars
    acc = MotAccumulator()
    acc.update(
        [1, -1, 2],
        [C, region, box(600)],
        [7, 8, 9],
        [C, box(20), box(900)],  # 8 lies in the region; 9 is a real false positive
        ignore=[False, True, True],  # GT 2 is, say, heavily occluded: its miss does not count
    )
    r = acc.summary()
    assert (r.matches, r.misses, r.false_positives) == (1, 0, 1)
    assert r.gt_tracks == 1


def test_mostly_tracked_and_mostly_lost() -> None:
    acc = MotAccumulator()
    for k in range(10):
        hyps = [5] + ([6] if k < 5 else []) + ([7] if k < 1 else [])
        acc.update([1, 2, 3], [A, B, C], hyps, [A, B, C][: len(hyps)])
    r = acc.summary()
    assert (r.gt_tracks, r.mostly_tracked, r.partially_tracked, r.mostly_lost) == (3, 1, 1, 1)


def test_merge_adds_counts_and_keeps_tracks_of_each_sequence_apart() -> None:
    seq1, seq2, total = MotAccumulator(), MotAccumulator(), MotAccumulator()
    for k in range(4):
        seq1.update([1], [A], [5] if k != 2 else [], [A] if k != 2 else EMPTY)
        seq2.update([1], [B], [9], [B])  # same GT id 1, a different object
    total.merge(seq1)
    total.merge(seq2)
    r = total.summary()
    assert r.gt_tracks == 2
    assert (r.matches, r.misses, r.fragmentations, r.frames) == (7, 1, 1, 8)
    assert r.to_dict()["matches"] == 7


def test_empty_sequence_has_undefined_mota() -> None:
    r = MotAccumulator().summary()
    assert math.isnan(r.mota)
    assert r.gt_tracks == 0


def test_bad_input_is_rejected_with_a_message() -> None:
    acc = MotAccumulator()
    with pytest.raises(ContractError, match="same id twice"):
        acc.update([1, 1], [A, B], [], EMPTY)
    with pytest.raises(ContractError, match="boxes"):
        acc.update([1, 2], [A], [], EMPTY)
    with pytest.raises(ContractError, match="ignore"):
        acc.update([1], [A], [], EMPTY, ignore=[True, False])
