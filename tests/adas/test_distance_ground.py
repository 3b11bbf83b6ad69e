"""The road plane of the distance stage (pitch and cross slope) and the per-class ground offset:
synthetic scenes with a known roll and a known kerb, checked against the truth."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from adas import distance_kernels as k
from adas.camera import CameraModel, Mount
from adas.distance import DistanceConfig, DistanceEstimator
from adas.distance_ground import GroundPlane
from adas.errors import ConfigError
from adas.priors import DEFAULT_PRIORS_PATH, ClassHypotheses, SizePriors
from adas.synthetic import Objects3D, project_boxes
from adas.types import ObjectClass, Tracks

F = 721.5377
CAR_HWL = (1.53, 1.63, 3.88)
PED_HWL = (1.76, 0.66, 0.84)  # the pedestrian prior means
EXACT = DistanceConfig(edge_sigma_px=1.0, edge_var_per_px=0.0)
SLOPED = dataclasses.replace(EXACT, cross_slope_sigma_deg=1.5)


def camera(roll_deg: float = 0.0, height: float = 1.65) -> CameraModel:
    k_mat = np.array([[F, 0.0, 609.5593], [0.0, F, 172.854], [0.0, 0.0, 1.0]])
    mount = Mount.from_degrees(height_m=height, roll_deg=roll_deg)
    return CameraModel(K=k_mat, dist=np.zeros(5), width=1242, height=375, mount=mount)


def tracks_from(xyxy: np.ndarray, cls: list[int]) -> Tracks:
    n = xyxy.shape[0]
    z = np.zeros(n, np.int64)
    return Tracks(
        xyxy.astype(np.float32), np.full(n, 0.9, np.float32), np.asarray(cls, np.int64),
        np.arange(1, n + 1), z, z + 3, z, np.arange(n),
    )  # fmt: skip


def priors_with_offset(offset: float, sigma: float) -> SizePriors:
    p = SizePriors.load()
    off, sd = p.ground_offset.copy(), p.ground_offset_sigma.copy()
    off[ObjectClass.PEDESTRIAN], sd[ObjectClass.PEDESTRIAN] = offset, sigma
    return dataclasses.replace(p, ground_offset=off, ground_offset_sigma=sd)


def rolled_scene() -> tuple[Objects3D, list[int]]:
    """Prior-sized cars across three lanes and a pedestrian 6 m to the right, 15 m ahead."""
    d = [10.0, 18.0, 25.0, 30.0, 40.0, 15.0]
    lat = [3.5, -3.5, 0.0, 7.0, -7.0, -6.0]
    hwl = np.array([CAR_HWL] * 5 + [PED_HWL])
    cls = [int(ObjectClass.CAR)] * 5 + [int(ObjectClass.PEDESTRIAN)]
    return Objects3D(np.array(d), np.array(lat), hwl), cls


def on_sloped_road(obj: Objects3D, slope: float) -> np.ndarray:
    """Boxes of upright objects standing on a road ``Y = 1.65 + slope X`` (camera frame, y
    down, X right = -lateral): each is projected by a camera that much higher above it."""
    rows = []
    for i in range(len(obj.distance_m)):
        one = Objects3D(obj.distance_m[i : i + 1], obj.lateral_m[i : i + 1], obj.hwl_m[i : i + 1])
        h = 1.65 + slope * -obj.lateral_m[i]
        rows.append(project_boxes(camera(height=h), one))
    return np.vstack(rows)


def test_cross_slope_is_found_and_ranges_the_roadside() -> None:
    """A road rising 2 deg to the right (a cambered road) seen by a camera configured level:
    the plane's slope is found from the cars within 0.2 deg in 2 s, and the pedestrian 6 m to
    the right (whose ground is 0.21 m higher than under the camera) is ranged within 1 %.
    Held level across, the plane misplaces the roadside ground and the range by more."""
    obj, cls = rolled_scene()
    slope = -math.tan(math.radians(2.0))
    boxes = on_sloped_road(obj, slope)
    level, on_road = camera(), priors_with_offset(0.0, 0.0)  # this pedestrian is on the road
    sloped = DistanceEstimator(level, SLOPED, on_road, ClassHypotheses.identity())
    flat = DistanceEstimator(level, EXACT, on_road, ClassHypotheses.identity())
    for i in range(20):
        r_s = sloped.update(tracks_from(boxes, cls), i * 100_000_000)
        r_f = flat.update(tracks_from(boxes, cls), i * 100_000_000)
    assert math.degrees(math.atan(sloped.cross_slope)) == pytest.approx(-2.0, abs=0.2)
    assert flat.cross_slope == 0.0
    err_s = np.abs(r_s.distance_m - obj.distance_m) / obj.distance_m
    err_f = np.abs(r_f.distance_m - obj.distance_m) / obj.distance_m
    assert err_s.max() < 0.01
    assert err_f[5] > 2 * err_s[5]


def test_slope_is_bounded_and_relaxes_to_level() -> None:
    """An absurd 20 deg roll never pushes the slope beyond cross_slope_max_deg, and with no
    object in view the estimate relaxes back towards level."""
    obj, cls = rolled_scene()
    boxes = project_boxes(camera(roll_deg=20.0), obj)
    keep = np.all(np.isfinite(boxes), axis=1)
    est = DistanceEstimator(camera(), SLOPED, hypotheses=ClassHypotheses.identity())
    for i in range(10):
        est.update(tracks_from(boxes[keep], [c for c, kk in zip(cls, keep, strict=True) if kk]),
                   i * 100_000_000)  # fmt: skip
    assert abs(math.degrees(math.atan(est.cross_slope))) <= 5.0 + 1e-9
    before = abs(est.cross_slope)
    for i in range(10, 50):
        est.update(Tracks.empty(), i * 100_000_000)
    assert abs(est.cross_slope) < 0.2 * before


def test_level_plane_pitch_update_is_the_weighted_median() -> None:
    """Slope held level: one update moves the pitch towards the anchors' weighted median with
    the Kalman gain of the median's variance (pi/2 over the total weight), as before."""
    g = GroundPlane(
        0.0, pitch_rate_rad=0.01, pitch_revert_s=2.0, pitch_max_dev_rad=0.05,
        slope_sigma=0.0, slope_revert_s=2.0, slope_max=0.1, min_sigma_rad=0.0,
    )  # fmt: skip
    theta = np.array([0.010, 0.002, 0.004])
    var = np.array([1e-5, 1e-5, 4e-5])  # weights 1e5, 1e5, 2.5e4: median is 0.004
    p0 = g.cov[0, 0]
    g.update(theta, np.zeros(3), var, 3)
    r = 0.5 * math.pi / (1e5 + 1e5 + 2.5e4)
    gain = p0 / (p0 + r)
    assert g.pitch == pytest.approx(gain * 0.004, rel=1e-12)
    assert g.slope == 0.0
    assert g.cov[0, 0] == pytest.approx((1 - gain) * p0, rel=1e-12)


def test_ground_offset_ranges_a_raised_contact_exactly() -> None:
    """The ground cue meets the plane the class's offset above the road: a contact point 0.15 m
    up (a kerb) 12 m ahead is ranged at 12 m with the offset, 1.65 / 1.5 times too far without;
    the offset's spread enters the cue's sigma as a height error."""
    y = (1.65 - 0.15) / 12.0  # level row of a contact 0.15 m above the road, 12 m ahead
    norm = np.zeros((5, 2))
    norm[:, 1] = [y - 0.1, y, y - 0.05, y - 0.05, y]  # top, bottom, left, right, ranging point
    norm[:, 0] = [0.0, 0.0, -0.02, 0.02, 0.0]
    out = {}
    for offset in (0.0, 0.15):
        prior = np.array([[1.76, 0.11, 0.66, 0.14, 0.84, 0.23, 0.0, offset, 0.05]])
        cues = np.empty((1, k.N_CUES))
        k.range_cues(
            norm, np.eye(3), 0.0, prior, np.zeros((1, 5), np.bool_), 1.65, np.array([1e-3]),
            0.05, 0.005, np.array([0.0, 1e-6, 0.0, 0.0]), 1.5, cues,
        )  # fmt: skip
        out[offset] = cues[0]
    assert out[0.15][k.GROUND_D] == pytest.approx(12.0, rel=1e-9)
    assert out[0.0][k.GROUND_D] == pytest.approx(12.0 * 1.65 / 1.5, rel=1e-9)
    assert out[0.15][k.GROUND_H] == pytest.approx(1.5)
    assert out[0.15][k.GROUND_HS] == 0.05
    rel2 = (0.05**2 + 0.05**2) / 1.5**2 + (12.0 / 1.5) ** 2 * (1e-6 + 1e-6 + 0.005**2)
    assert out[0.15][k.GROUND_S] == pytest.approx(12.0 * math.sqrt(rel2), rel=1e-9)


def test_a_pedestrian_on_a_kerb_is_ranged_by_the_offset_prior() -> None:
    """A prior-sized pedestrian standing 0.06 m up (the prior's mean offset) beside prior-sized
    cars is ranged exactly when the priors know the kerb, and too far when they do not."""
    cam = camera()
    cars = Objects3D(np.array([12.0, 25.0]), np.array([3.5, -3.5]), np.array([CAR_HWL] * 2))
    ped = Objects3D(np.array([10.0]), np.array([-4.0]), np.array([PED_HWL]))
    raised = dataclasses.replace(cam, mount=Mount.from_degrees(height_m=1.65 - 0.06))
    boxes = np.vstack([project_boxes(cam, cars), project_boxes(raised, ped)])
    cls = [int(ObjectClass.CAR)] * 2 + [int(ObjectClass.PEDESTRIAN)]
    got = {}
    for offset in (0.0, 0.06):
        est = DistanceEstimator(
            cam, EXACT, priors_with_offset(offset, 0.06), ClassHypotheses.identity()
        )
        got[offset] = est.update(tracks_from(boxes, cls), 0)
    assert got[0.06].distance_m[2] == pytest.approx(10.0, rel=0.005)
    assert got[0.0].distance_m[2] > got[0.06].distance_m[2] + 0.05


def test_ground_offset_is_read_and_checked(tmp_path: Path) -> None:
    shipped = SizePriors.load()
    assert shipped.ground_offset[ObjectClass.PEDESTRIAN] == pytest.approx(0.06)
    assert shipped.ground_offset_sigma[ObjectClass.PEDESTRIAN] == pytest.approx(0.06)
    assert shipped.ground_offset[ObjectClass.CAR] == 0.0  # not given: on the road
    text = DEFAULT_PRIORS_PATH.read_text().replace(
        "ground_offset_m = [0.06, 0.06]", "ground_offset_m = [0.06, -0.1]"
    )
    bad = tmp_path / "sizes.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"\[pedestrian\]\.ground_offset_m"):
        SizePriors.load(bad)
