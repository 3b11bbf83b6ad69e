"""The stages on a fisheye camera: ranging from undistorted box points, the danger stage's
ground-contact check and the chain's motion input, against synthetic truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adas.camera import CameraModel, Lens, Mount
from adas.danger import DangerAssessor
from adas.distance import DistanceEstimator
from adas.scenarios.camera_sim import sim_camera
from adas.synthetic import Objects3D, box_corners_vehicle, edge_points, project_boxes
from adas.types import EgoState, RangeStatus, Zone
from tests.adas.test_danger import objects, tracks
from tests.adas.test_distance import CAR_HWL, EXACT_BOXES, scene, tracks_from

D_M = [6.0, 12.0, 25.0, 45.0, 60.0, 30.0, 8.0, 10.0]
LAT_M = [0.0, 3.5, -3.5, 0.0, 3.5, -7.0, 4.0, -3.5]
MOUNTS = {
    "level": Mount.from_degrees(height_m=1.65),
    "pitched, rolled": Mount.from_degrees(height_m=1.3, pitch_deg=2.0, roll_deg=0.5),
}


@pytest.mark.parametrize("mount", MOUNTS.values(), ids=list(MOUNTS))
def test_prior_sized_cars_on_a_fisheye_are_ranged_from_undistorted_points(mount: Mount) -> None:
    cam = sim_camera(mount, Lens.FISHEYE)
    obj = scene(D_M, LAT_M)
    boxes = project_boxes(cam, obj)  # extents of the bent outlines: the exact fisheye boxes
    est = DistanceEstimator(cam, EXACT_BOXES)
    r = est.update(tracks_from(boxes), 0)
    assert (r.status == RangeStatus.OK).all()
    # A pinhole box is exact (test_distance: 0.5 %); a fisheye box's top and bottom are where
    # its bent edges bulge furthest, a little off the edge centres that are undistorted: 1 %.
    rel = np.abs(r.distance_m - obj.distance_m) / obj.distance_m
    assert rel.max() < 0.01, rel
    assert np.abs(r.lateral_m - obj.lateral_m).max() < 0.05
    assert abs(est.pitch_rad - mount.pitch_rad) < math.radians(0.05)
    # The same boxes through pinhole maths (the undistorted camera's K, no lens) are off by
    # several per cent: the test would see a stage that skipped the lens.
    naive = DistanceEstimator(cam.undistorted(), EXACT_BOXES).update(tracks_from(boxes), 0)
    assert (np.abs(naive.distance_m - obj.distance_m) / obj.distance_m).max() > 0.03


def _fisheye_box(cam: CameraModel, d: float, lat: float, up_m: float) -> list[float]:
    """The image box of a car-sized box ``up_m`` above the road, its outline through the lens."""
    obj = Objects3D(np.array([d]), np.array([lat]), np.array([CAR_HWL]))
    c = box_corners_vehicle(obj)[0] + [0.0, 0.0, up_m]
    uv = cam.project_vehicle(edge_points(c, np.ones(8), 65))
    return [*uv.min(0), *uv.max(0)]


def test_danger_box_maths_on_a_fisheye_sees_the_pinhole_geometry() -> None:
    """The no-threat check's rows (box top and bottom against the horizon) of a fisheye box,
    undistorted, are those of the same object through a pinhole of the same K."""
    m = Mount.from_degrees(height_m=1.5)
    cam, pin = sim_camera(m, Lens.FISHEYE), sim_camera(m)
    horizon, pin_horizon = cam.undistorted().horizon_v(), pin.horizon_v()
    naive = []
    for d in (4.0, 8.0, 30.0):
        for up in (0.0, 3.0):  # on the road, and a sign-like box 3 m up
            box = np.array([_fisheye_box(cam, d, 0.0, up)])
            rows = DangerAssessor._undistorted(cam, box, math.inf, -math.inf)[0, [1, 3]]
            obj = Objects3D(np.array([d]), np.array([0.0]), np.array([CAR_HWL]))
            uv = pin.project_vehicle(box_corners_vehicle(obj)[0] + [0.0, 0.0, up])
            truth = np.array([uv[:, 1].min(), uv[:, 1].max()]) - pin_horizon
            # 0.5 px: a raised box's bottom row is its far edge, bent a little off the
            # undistorted bottom centre (0.37 px at 4 m); on the road it is exact.
            assert np.abs(rows - horizon - truth).max() < 0.5
            naive.append(np.abs(box[0, [1, 3]] - cam.horizon_v() - truth).max())
    assert max(naive) > 5.0  # the captured rows themselves are far off near the camera
    ego = EgoState(t_ns=0, speed_mps=20.0)
    for d, lat, up, zone in ((5.0, 0.5, 0.0, Zone.IN_PATH), (30.0, 0.0, 4.0, Zone.OUTSIDE)):
        a = DangerAssessor(camera=cam)
        a._born_ns = {0: -(10**9)}  # seen long enough for the new-track gate
        out = a.update(tracks(1, [_fisheye_box(cam, d, lat, up)]), objects([d], [lat]), ego)
        assert out.zone[0] == zone


def test_the_chain_gives_motion_undistorted_boxes_on_a_fisheye_only() -> None:
    from adas.camera_boxes import undistorted_boxes
    from adas.config import load_config
    from adas.pipeline import Chain

    boxes = np.array([[100.0, 300.0, 400.0, 500.0], [900.0, 500.0, 1000.0, 600.0]])
    t = tracks_from(boxes)
    fish = Chain(sim_camera(Mount(), Lens.FISHEYE), load_config())
    moved = fish._motion_tracks(t).xyxy
    np.testing.assert_allclose(moved, undistorted_boxes(fish.camera, boxes), rtol=1e-6)
    # Off the axis the lens squeezes: the undistorted box is wider than the captured one.
    assert moved[0, 2] - moved[0, 0] > 1.2 * (boxes[0, 2] - boxes[0, 0])
    pin = Chain(sim_camera(Mount()), load_config())
    assert pin._motion_tracks(t) is t
