"""The measured sensor reproduces the figures of its file (many draws against known values)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from adas.camera import Mount
from adas.scenarios.camera_sim import sim_camera, visible_boxes
from adas.scenarios.measured_camera import (
    KITTI_PRINCIPAL_PX,
    KITTI_SIZE_PX,
    MeasuredCameraSim,
    MeasuredSensor,
    occluded_fractions,
    score_from_quantiles,
)
from adas.scenarios.sensor_file import SensorFile, interp_bins, load_sensor_file
from adas.scenarios.sim import ScenarioSpec, TargetSpec, _Obj, corners_in_ego
from adas.types import ObjectClass
from tests.adas.scenarios.sensor_doc import write_doc

CAM = sim_camera(Mount(height_m=1.65))
CAR = int(ObjectClass.CAR)


@pytest.fixture(scope="module")
def sfile(tmp_path_factory: pytest.TempPathFactory) -> SensorFile:
    return load_sensor_file(write_doc(tmp_path_factory.mktemp("s") / "s.json"))


def _row_of_cars(gap_m: float, n: int = 10) -> np.ndarray:
    """``n`` cars side by side ``gap_m`` ahead, 3 m apart: no one hides another."""
    objs = [_Obj(TargetSpec(gap_m, d), gap_m, 0.0, d=d) for d in 3.0 * (np.arange(n) - n // 2)]
    return corners_in_ego(objs, 0.0, 0.0)


def _quiet(f: SensorFile, **changes: object) -> MeasuredSensor:
    """The file with no false boxes (and other changes) as a sensor."""
    return MeasuredSensor(dataclasses.replace(f, false_per_frame=0.0, **changes))  # type: ignore[arg-type]


def test_edge_bias_and_spread(sfile: SensorFile) -> None:
    """5000 boxes of ~44 px (fresh simulator each frame: the processes start at their
    stationary spread): each edge's mean and spread per box height match the file."""
    sensor = _quiet(sfile, miss_rate=sfile.miss_rate * 0.0)
    corners = _row_of_cars(25.0)
    truth = visible_boxes(CAM, corners, 0.0, sensor.geometry)
    h = truth[:, 3] - truth[:, 1]
    rng = np.random.default_rng(0)
    errs = []
    for _ in range(500):
        dets, obj = MeasuredCameraSim(CAM, sensor, rng).detect(corners, [CAR] * 10, 0.0)
        errs.append((dets.xyxy - truth[obj]) / h[obj, None])
    err = np.concatenate(errs)
    assert err.shape == (5000, 4)
    bias = interp_bins(h.mean(), sfile.bin_heights_px, sfile.edge_bias_rel)
    sigma = interp_bins(h.mean(), sfile.bin_heights_px, sfile.edge_sigma_rel)
    # float32 boxes: 1e-4 px; 5000 draws: the mean within 4 standard errors
    np.testing.assert_allclose(err.mean(0), bias, atol=4 * sigma.max() / math.sqrt(5000) + 1e-5)
    np.testing.assert_allclose(err.std(0), sigma, rtol=0.05)


def test_slow_and_fast_jitter_over_frames(sfile: SensorFile) -> None:
    """Frame-to-frame correlation of the edge error: (1 - f) a_slow + f a_fast."""
    sensor = _quiet(sfile, miss_rate=sfile.miss_rate * 0.0)
    corners = _row_of_cars(25.0)
    truth = visible_boxes(CAM, corners, 0.0, sensor.geometry)
    sim = MeasuredCameraSim(CAM, sensor, np.random.default_rng(1))
    series = np.array([sim.detect(corners, [CAR] * 10, 0.0)[0].xyxy - truth for _ in range(300)])
    x = series[:, :, 0] - series[:, :, 0].mean(0)
    lag1 = (x[1:] * x[:-1]).sum() / (x * x).sum()
    dt = 1.0 / 30.0
    f = sensor.fast_share
    want = (1 - f) * math.exp(-dt / sensor.slow_tau_s) + f * math.exp(-dt / sensor.fast_tau_s)
    assert lag1 == pytest.approx(want, abs=0.03)


@pytest.mark.parametrize(("gap_m", "level"), [(25.0, 0), (60.0, 0)])
def test_miss_rate_by_box_height(sfile: SensorFile, gap_m: float, level: int) -> None:
    sensor = _quiet(sfile)
    corners = _row_of_cars(gap_m)
    truth = visible_boxes(CAM, corners, 0.0, sensor.geometry)
    h = float((truth[:, 3] - truth[:, 1]).mean())
    rng = np.random.default_rng(2)
    sim = MeasuredCameraSim(CAM, sensor, rng)
    seen = sum(len(sim.detect(corners, [CAR] * 10, 0.0)[1]) for _ in range(300))
    want = float(interp_bins(h, sfile.bin_heights_px, sfile.miss_rate[level]))
    assert 1.0 - seen / 3000 == pytest.approx(want, abs=4 * math.sqrt(want * (1 - want) / 3000))


def test_occlusion_by_a_nearer_car_raises_the_miss_rate(sfile: SensorFile) -> None:
    boxes = np.array([[100.0, 100, 200, 200], [150.0, 100, 250, 200], [0, 0, 10, 10]])
    occ = occluded_fractions(boxes, np.array([20.0, 10.0, 5.0]))
    np.testing.assert_allclose(occ, [0.5, 0.0, 0.0])  # half of the far box is behind the near
    band = occluded_fractions(boxes, np.array([20.0, 10.0, 5.0]), np.array([0.25, 0.0, 0.0]))
    assert band[0] == pytest.approx(0.5 + 0.25 * 0.5)  # the crest band adds its uncovered part
    # A car straight behind another, 10 m further, is half hidden: level 2 (>= 0.5).
    objs = [_Obj(TargetSpec(20.0, 0.0), 20.0, 0.0), _Obj(TargetSpec(30.0, 0.9), 30.0, 0.0, d=0.9)]
    corners = corners_in_ego(objs, 0.0, 0.0)
    sensor = _quiet(sfile)
    sim = MeasuredCameraSim(CAM, sensor, np.random.default_rng(3))
    seen = sum(1 in sim.detect(corners, [CAR, CAR], 0.0)[1] for _ in range(1000))
    truth = visible_boxes(CAM, corners, 0.0, sensor.geometry)
    occ = occluded_fractions(truth, corners[:, :, 0].min(1))
    assert 0.5 <= occ[1] <= sensor.max_occluded
    want = float(interp_bins(truth[1, 3] - truth[1, 1], sfile.bin_heights_px, sfile.miss_rate[2]))
    assert 1.0 - seen / 1000 == pytest.approx(want, abs=0.05)


def test_false_boxes_per_frame_and_where(sfile: SensorFile, tmp_path: Path) -> None:
    sim = MeasuredCameraSim(CAM, MeasuredSensor(sfile), np.random.default_rng(4))
    empty = np.zeros((0, 8, 3))
    counts, boxes = [], []
    for _ in range(3000):
        dets, obj = sim.detect(empty, [], 0.0)
        assert obj == [-1] * len(dets)
        counts.append(len(dets))
        boxes.append(dets.xyxy)
    assert np.mean(counts) == pytest.approx(0.6, abs=4 * math.sqrt(0.6 / 3000))
    assert np.var(counts) == pytest.approx(0.6, rel=0.1)  # Poisson
    # Sample 0 (x_rel 0.5, y_rel 0.5, 40 x 30 px) keeps its offset from the principal point.
    cx = CAM.cx + 0.5 * KITTI_SIZE_PX[0] - KITTI_PRINCIPAL_PX[0]
    cy = CAM.K[1, 2] + 0.5 * KITTI_SIZE_PX[1] - KITTI_PRINCIPAL_PX[1]
    want = np.array([cx - 20.0, cy - 15.0, cx + 20.0, cy + 15.0], np.float32)
    allb = np.concatenate(boxes)
    assert (np.abs(allb - want).max(1) < 1e-3).mean() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("run", [None, 4.0])
def test_class_flip_rate_and_runs(sfile: SensorFile, run: float | None) -> None:
    """The share of frames with another class is the measured 10 %; flips come in runs (mean
    length from the file's persistence when given, else the assumption)."""
    sensor = MeasuredSensor(dataclasses.replace(sfile, mean_run_frames=run))
    sim = MeasuredCameraSim(CAM, sensor, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    seq = np.array([sim._classes([CAR] * 20, rng.random((20, 3))) for _ in range(3000)])
    flipped = seq != CAR
    assert flipped.mean() == pytest.approx(0.1, abs=0.015)
    to = seq[flipped]
    assert (to == ObjectClass.TRUCK).sum() / to.size == pytest.approx(0.5, abs=0.05)
    starts = (flipped[1:] & ~flipped[:-1]).sum()
    mean_run = flipped[1:].sum() / starts
    share = 0.0 if run is not None else sensor.flip_independent_share
    length = run if run is not None else sensor.flip_run_frames
    # runs: a share of 1-frame independent flips and geometric runs of the given mean length
    sticky = 0.1 * (1 - share)
    indep_starts = 0.1 * share  # independent flips per frame
    want = 0.1 / (indep_starts + sticky / length)
    assert mean_run == pytest.approx(want, rel=0.2)


def test_scores_follow_the_quantiles(sfile: SensorFile) -> None:
    u = np.random.default_rng(7).random(20000)
    s = score_from_quantiles(u, sfile.score_quantiles)
    np.testing.assert_allclose(np.quantile(s, [0.05, 0.25, 0.5, 0.75, 0.95]),
                               sfile.score_quantiles, atol=0.01)  # fmt: skip
    assert s.min() > 0.0 and s.max() <= 1.0


def test_sizes_follow_the_class_distribution(sfile: SensorFile) -> None:
    car = sfile.sizes[CAR]
    rng = np.random.default_rng(8)
    x = np.array([car.draw(rng) for _ in range(5000)])
    assert (x >= car.lo).all() and (x <= car.hi).all()
    np.testing.assert_allclose(x.mean(0), car.mean, atol=4 * car.std.max() / math.sqrt(5000))
    np.testing.assert_allclose(x.std(0), car.std, rtol=0.05)
    np.testing.assert_allclose(np.corrcoef(x.T), car.corr, atol=0.05)


def test_world_draws_sizes_but_keeps_fixed_ones(sfile: SensorFile) -> None:
    from adas.scenarios.sensing import draw_world

    sign = TargetSpec(100.0, hwl_m=(1.5, 4.0, 0.3), elevation_m=5.0,
                      class_id=int(ObjectClass.TRUCK), fixed_size=True)  # fmt: skip
    ped = TargetSpec(30.0, class_id=int(ObjectClass.PEDESTRIAN), hwl_m=(1.7, 0.6, 0.8))
    spec = ScenarioSpec(20.0, (TargetSpec(50.0), sign, ped), duration_s=5.0)
    drawn, world = draw_world(spec, sfile, np.random.default_rng(9))
    assert drawn.targets[0].hwl_m != spec.targets[0].hwl_m  # a car's size is drawn
    assert drawn.targets[1].hwl_m == (1.5, 4.0, 0.3)  # the sign keeps its size
    assert drawn.targets[2].hwl_m == (1.7, 0.6, 0.8)  # no pedestrian sizes in this file
    assert world.hwl_m == tuple(t.hwl_m for t in drawn.targets)
    assert abs(world.pitch_error_rad) <= math.radians(0.25)
    assert drawn.road_profile and not world.road.flat
    g = world.road.grade(np.linspace(-100.0, 300.0, 401))
    assert np.abs(g).max() <= 0.05 + 1e-12
    # the vertical curvature stays within the 80 km/h design radii (crest 2600 m, sag 3000 m)
    curv = np.diff(g) / 1.0
    assert curv.min() >= -1.0 / 2600.0 - 1e-12 and curv.max() <= 1.0 / 3000.0 + 1e-12
    assert world.speed.measure(0.0) == 0.0
    v = np.array([world.speed.measure(20.0) for _ in range(2000)])
    assert v.mean() == pytest.approx(20.0 * world.speed.scale, abs=0.01)
    assert v.std() == pytest.approx(0.05, rel=0.1)
