"""Class-robust ranging: a label the detector often gets wrong must not move the range.

Built from issue 18's failures: a car called "truck" ranged at 54.8 m instead of about 20 m
(the truck's size prior), and a class flip along a track jumping the range.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adas.distance import DistanceConfig, DistanceEstimator
from adas.errors import ConfigError
from adas.evaluate.kitti_object_distance import DistanceScores, error_stats
from adas.priors import ClassHypotheses, SizePriors
from adas.synthetic import Objects3D, project_boxes
from adas.types import Detections, ObjectClass, Tracks
from tests.adas.test_distance import camera

CAR_HWL = (1.53, 1.63, 3.88)
TRUCK_HWL = (3.07, 2.63, 11.17)


def tracks(xyxy: np.ndarray, cls: list[int], ids: list[int] | None = None) -> Tracks:
    n = xyxy.shape[0]
    z = np.zeros(n, np.int64)
    return Tracks(
        xyxy.astype(np.float32),
        np.full(n, 0.9, np.float32),
        np.asarray(cls, np.int64),
        np.asarray(ids if ids is not None else np.arange(1, n + 1), np.int64),
        z,
        z + 3,
        z,
        np.arange(n),
    )


def objects(d: list[float], lat: list[float], hwl: list[tuple[float, float, float]]) -> Objects3D:
    return Objects3D(np.array(d, float), np.array(lat, float), np.array(hwl, float))


@pytest.mark.parametrize("called", [ObjectClass.TRUCK, ObjectClass.VAN, ObjectClass.BUS])
@pytest.mark.parametrize("d", [8.0, 14.0, 20.0, 30.0, 45.0])
def test_single_car_called_truck_is_ranged_within_15_percent(called: ObjectClass, d: float) -> None:
    """The issue's red car: a car alone in the frame, called truck/van/bus for one frame.

    Within 15 % up to 20 m (the issue's case). Beyond, one frame's ground contact (1 deg of
    grade is 21 % of range at 20 m) can no longer tell a car from a van, so the range may lie
    between theirs (van prior / car prior = 1.43), but not at the truck's (2.0-2.9 x)."""
    cam = camera()
    box = project_boxes(cam, objects([d], [0.0], [CAR_HWL]))
    r = DistanceEstimator(cam).update(tracks(box, [called]), 0)
    bound = 0.15 if d <= 20.0 else 0.3
    assert abs(r.distance_m[0] - d) / d < bound, r.distance_m[0]
    # The failure it prevents: the label's size prior alone (its height over the box's)
    # misses by more than 15 %.
    naive = cam.fy * SizePriors.load().height[called] / (box[0, 3] - box[0, 1])
    assert naive > 1.15 * d, naive


def test_real_truck_called_truck_is_still_ranged_as_a_truck() -> None:
    cam = camera()
    for d in (10.0, 20.0, 30.0):
        box = project_boxes(cam, objects([d], [0.0], [TRUCK_HWL]))
        r = DistanceEstimator(cam).update(tracks(box, [ObjectClass.TRUCK]), 0)
        assert abs(r.distance_m[0] - d) / d < 0.15, (d, r.distance_m[0])


def test_class_flip_along_a_track_does_not_jump_the_range() -> None:
    """A car approaching from 30 m to 18 m at 10 Hz, called truck in frames 30-39 (a sticky
    flip, as the tracker's majority vote can change): between consecutive frames the range
    changes only by the car's own motion, and never by more than 3 % beyond it."""
    cam = camera()
    est = DistanceEstimator(cam)
    naive = DistanceEstimator(cam, hypotheses=ClassHypotheses.identity())
    dists = np.linspace(30.0, 18.0, 60)
    lat = [0.0, 3.5, -3.5]
    got, got_naive = [], []
    for i, d in enumerate(dists):
        obj = objects([d, 22.0, 35.0], lat, [CAR_HWL] * 3)
        cls = [ObjectClass.TRUCK if 30 <= i < 40 else ObjectClass.CAR, ObjectClass.CAR, 2]
        t = (i + 1) * 100_000_000
        got.append(est.update(tracks(project_boxes(cam, obj), cls), t).distance_m[0])
        got_naive.append(naive.update(tracks(project_boxes(cam, obj), cls), t).distance_m[0])
    rel = np.abs(np.asarray(got) - dists) / dists
    assert rel.max() < 0.03, rel.max()
    step = np.abs(np.diff(np.asarray(got) / dists))
    assert step.max() < 0.03, step.max()
    # The failure it prevents: with the label's prior the range jumps at the flip.
    jump_naive = abs(got_naive[30] / dists[30] - got_naive[29] / dists[29])
    assert jump_naive > 0.2


def test_track_keeps_its_learned_size_in_metres_through_a_flip() -> None:
    """A car 12 % smaller than the prior, learned near, called truck later: its range keeps
    the learned size (better than a fresh car track), not the truck's or the car's prior."""
    cam = camera()
    hwl = [tuple(0.88 * np.array(CAR_HWL)), CAR_HWL, CAR_HWL, CAR_HWL]
    lat = [0.0, 3.5, -3.5, 7.0]
    exact_boxes = DistanceConfig(edge_sigma_px=1.0, edge_var_per_px=0.0)  # not yolox_nano's law
    est = DistanceEstimator(cam, exact_boxes)
    t = 0
    for i, d in enumerate(list(np.full(100, 12.0)) + list(np.linspace(12.0, 40.0, 30))):
        t += 100_000_000
        obj = objects([d, 15.0, 25.0, 35.0], lat, hwl)
        cls = [ObjectClass.TRUCK if i >= 110 else ObjectClass.CAR] + [ObjectClass.CAR] * 3
        r = est.update(tracks(project_boxes(cam, obj), cls), t)
    learned = abs(r.distance_m[0] - 40.0) / 40.0
    fresh = DistanceEstimator(cam, est.config).update(tracks(project_boxes(cam, obj)[:1], [2]), t)
    assert learned < 0.6 * abs(fresh.distance_m[0] - 40.0) / 40.0


def test_an_untrusted_label_does_not_anchor_the_pitch() -> None:
    """A car called truck alone in view: its truck-sized range would imply a 2-3 deg pitch
    error; the estimate must stay at the mount pitch. Checked with single anchors allowed
    (``pitch_min_anchors = 1``), so that this rule, not the consensus rule, keeps it."""
    cam = camera()
    box = project_boxes(cam, objects([20.0], [0.0], [CAR_HWL]))
    lone = DistanceConfig(pitch_min_anchors=1)
    est = DistanceEstimator(cam, lone)
    est.update(tracks(box, [ObjectClass.TRUCK]), 0)
    assert abs(est.pitch_rad) < 1e-9
    naive = DistanceEstimator(cam, lone, hypotheses=ClassHypotheses.identity())
    naive.update(tracks(box, [ObjectClass.TRUCK]), 0)
    assert abs(math.degrees(naive.pitch_rad)) > 0.5


def test_confusion_counts_become_laplace_probabilities() -> None:
    h = ClassHypotheses.load()
    p = np.exp(h.log_prob)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    truck = int(ObjectClass.TRUCK)
    cols = list(h.classes[truck])
    assert cols[0] == ObjectClass.CAR  # the reference class comes first
    # data/priors/class_confusion.toml: truck counts car 1, van 3, truck 5, bus 0 (+1 each, /13)
    assert p[truck, cols.index(ObjectClass.CAR)] == pytest.approx(2 / 13)
    assert p[truck, cols.index(ObjectClass.TRUCK)] == pytest.approx(6 / 13)
    ped = int(ObjectClass.PEDESTRIAN)
    assert h.classes[ped, 0] == ped and p[ped, 0] == 1.0 and p[ped, 1:].sum() == 0.0
    ident = ClassHypotheses.identity()
    assert (ident.reference == np.arange(len(ObjectClass))).all()


def test_confusion_file_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[group.a]\nreference = "car"\nclasses = ["van", "truck"]\n')
    with pytest.raises(ConfigError, match="reference"):
        ClassHypotheses.load(bad)
    bad.write_text(
        '[group.a]\nreference = "car"\nclasses = ["car", "van"]\n'
        "[detected.car]\ncounts = { car = 3, lorry = 1 }\n"
    )
    with pytest.raises(ConfigError, match="lorry"):
        ClassHypotheses.load(bad)
    bad.write_text(
        '[group.a]\nreference = "car"\nclasses = ["car", "van"]\n'
        "[detected.car]\ncounts = { car = 3, truck = 1 }\n"
    )
    with pytest.raises(ConfigError, match="non-negative"):
        ClassHypotheses.load(bad)


def test_error_stats_are_exact() -> None:
    s = error_stats([0.1, -0.2, 0.05, float("nan"), 0.3])
    assert s == {"n": 4, "median_abs_rel": 0.15, "p90_abs_rel": 0.27, "max_abs_rel": 0.3}
    assert error_stats([])["n"] == 0


def test_eval_scores_a_car_called_truck_apart() -> None:
    """A frame with a car found as car and a second box on it called truck, and another car:
    the truck box lands in the confused set; each matched car is also ranged as truck."""
    from adas.sources.kitti import KittiObject

    cam = camera()
    obj = objects([15.0, 25.0], [0.0, 3.5], [CAR_HWL, CAR_HWL])
    box = project_boxes(cam, obj)
    dets = Detections(
        xyxy=np.vstack([box, box[:1] + 1.0]).astype(np.float32),
        score=np.array([0.9, 0.8, 0.5], np.float32),
        class_id=np.array([2, 2, int(ObjectClass.TRUCK)], np.int64),
    )
    cars = [
        KittiObject(0, -1, "Car", 0.0, 0, tuple(float(v) for v in b), CAR_HWL, (0.0, 1.65, z), 0.0)
        for b, z in zip(box, (15.0 + 1.94, 25.0 + 1.94), strict=True)
    ]
    scores = DistanceScores()
    scores.add_frame(cam, dets, [(0, cars[0]), (1, cars[1])], cars)
    out = scores.to_dict()
    assert out["n"] == 2 and out["car_called_truck_van_bus"]["n"] == 1
    assert out["car_called_truck_van_bus"]["max_abs_rel"] < 0.15
    assert out["car_relabelled"]["all"]["n"] == 6


def _fuse_one(
    scale: float, var: float, bounds: tuple[float, float], mix_row: dict[int, float]
) -> tuple[float, float, np.ndarray]:
    """One frame of k.fuse_with_track_size for one track (slot 0): a car-referenced box with
    size range 20 m and ground range 40 m (2 m sigma), as learned; returns the new scale, its
    variance and the slot's bounds."""
    from adas import distance_kernels as k

    cues = np.full((1, k.N_CUES), np.nan)
    cues[0, [k.SIZE_D, k.SIZE_S, k.GROUND_D, k.GROUND_S, k.LEVEL_H]] = 20.0, 1.0, 40.0, 2.0, 0.05
    mix = np.zeros((1, k.N_MIX))
    for col, val in mix_row.items():
        mix[0, col] = val
    sc, sv, last = np.array([scale]), np.array([var]), np.zeros(1, np.int64)
    b = np.array([bounds], float)
    out = np.empty((1, 3))
    k.fuse_with_track_size(
        cues, mix, np.zeros(1, np.int64), np.ones(1, np.bool_), sc, sv, last, b, 0,
        np.array([1e-4]), 0.0, 10.0, math.log1p(0.3), out,
    )  # fmt: skip
    return float(sc[0]), float(sv[0]), b[0]


def test_learned_size_is_bounded_by_every_label_the_track_had() -> None:
    """A truck (size offset log 2 from the car) learned while called truck, now called car:
    the bound is the union of what its labels allowed, so it keeps its size (this frame's
    car label alone would clamp it to the car's +30 %: log 1.3 = 0.26, a 37 % range jump)."""
    from adas import distance_kernels as k

    truck = math.log(2.0)
    car_label = {k.MIX_MEAN: 0.0, k.MIX_LO: 0.0, k.MIX_HI: 0.0, k.MIX_PVAR: 0.01}
    scale, _, bounds = _fuse_one(truck, 0.002, (0.0, truck), car_label)
    assert scale == pytest.approx(truck, abs=0.01)
    assert tuple(bounds) == pytest.approx((0.0, truck))
    # A track only ever called car stays within the car's bound.
    scale, _, _ = _fuse_one(truck, 0.002, (math.inf, -math.inf), car_label)
    assert scale == pytest.approx(math.log1p(0.3))


def test_a_new_track_starts_with_the_spread_of_true_sizes() -> None:
    """A new track's size variance is the size prior's (mixture's) alone, not that minus the
    box's pixel noise: with yolox_nano's edge noise the difference went negative for boxes
    under ~60 px and left a floor of 1e-6 (a 0.1 % size sigma), so a track never learned."""
    from adas import distance_kernels as k

    new = {k.MIX_MEAN: 0.0, k.MIX_LO: 0.0, k.MIX_HI: 0.0, k.MIX_PVAR: 0.004}
    scale, var, _ = _fuse_one(0.0, -1.0, (math.inf, -math.inf), new)
    # Started at 0.004, then one Kalman update with the ground cue (inflated x10).
    r = ((2.0 / 40.0) ** 2 + 2.0 * (1e-4 / 0.05) ** 2) * 10.0
    assert var == pytest.approx(0.004 * r / (0.004 + r))
    assert scale == pytest.approx(0.004 / (0.004 + r) * math.log(2.0))
