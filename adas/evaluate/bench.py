"""``adas bench chain``: time tracker + distance + motion per frame on a synthetic scene.

The scene: ``n_objects`` cars in five lanes from 8 to 80 m, each with its own closing speed,
seen at 30 Hz by a KITTI-like camera, boxes with 0.5 px noise. A reference workload (a 32 x 32
IoU matrix plus optimal assignment, the core of any tracker) is timed in the same run so the
figures can be compared across machines as a ratio.
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from adas.camera import CameraModel, Mount
from adas.distance import DistanceEstimator
from adas.motion import MotionEstimator
from adas.synthetic import Objects3D, project_boxes
from adas.track import Tracker, iou_matrix
from adas.types import Detections, ObjectClass

FRAME_NS = 33_333_333  # 30 Hz


def bench_camera() -> CameraModel:
    k = np.array([[721.5377, 0.0, 609.5593], [0.0, 721.5377, 172.854], [0.0, 0.0, 1.0]])
    return CameraModel(K=k, dist=np.zeros(5), width=1242, height=375, mount=Mount(height_m=1.65))


def _stats(ns: np.ndarray) -> dict[str, float]:
    us = ns / 1e3
    return {
        "median": round(float(np.median(us)), 1),
        "p90": round(float(np.percentile(us, 90)), 1),
        "p99": round(float(np.percentile(us, 99)), 1),
    }


def bench_chain(n_objects: int = 32, n_frames: int = 2000, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cam = bench_camera()
    lanes = np.array([-7.0, -3.5, 0.0, 3.5, 7.0])
    d0 = rng.uniform(8.0, 80.0, n_objects)
    lat = lanes[np.arange(n_objects) % lanes.size] + rng.normal(0, 0.2, n_objects)
    speed = rng.uniform(-8.0, 3.0, n_objects)  # m/s, negative = closing
    hwl = np.column_stack(
        [
            rng.normal(1.53, 0.1, n_objects),
            rng.normal(1.63, 0.08, n_objects),
            np.full(n_objects, 3.9),
        ]
    )
    tracker, dist, motion = Tracker(), DistanceEstimator(cam), MotionEstimator()
    stages: dict[str, list[int]] = {"track": [], "distance": [], "motion": [], "chain": []}
    cls = np.full(n_objects, int(ObjectClass.CAR))
    for k in range(n_frames):
        t = k * FRAME_NS
        # Objects wrap around between 8 and 80 m so the scene stays full.
        d = 8.0 + np.mod(d0 + speed * t * 1e-9 - 8.0, 72.0)
        xyxy = project_boxes(cam, Objects3D(d, lat, hwl)) + rng.normal(0, 0.5, (n_objects, 4))
        dets = Detections.from_arrays(xyxy, np.full(n_objects, 0.9), cls)
        t0 = time.perf_counter_ns()
        tracks = tracker.update(dets, t)
        t1 = time.perf_counter_ns()
        ranges = dist.update(tracks, t)
        t2 = time.perf_counter_ns()
        motion.update(tracks, ranges, t)
        t3 = time.perf_counter_ns()
        if k >= 30:  # after warm-up (numba compilation, track births)
            stages["track"].append(t1 - t0)
            stages["distance"].append(t2 - t1)
            stages["motion"].append(t3 - t2)
            stages["chain"].append(t3 - t0)
    tracked = len(tracks)
    ref = []
    a = xyxy.astype(np.float32)
    for _ in range(500):
        t0 = time.perf_counter_ns()
        linear_sum_assignment(-iou_matrix(a, a))
        ref.append(time.perf_counter_ns() - t0)
    chain = np.asarray(stages["chain"], float)
    ref_us = float(np.median(ref)) / 1e3
    return {
        "benchmark": "chain",
        "objects": n_objects,
        "tracked_in_last_frame": tracked,
        "frames_timed": int(chain.size),
        "chain_us": _stats(chain),
        "stages_us": {k: _stats(np.asarray(v, float)) for k, v in stages.items() if k != "chain"},
        "reference_iou_assign_us": round(ref_us, 1),
        "chain_over_reference": round(float(np.median(chain)) / 1e3 / ref_us, 2),
        "budget_us": 500.0,
        "within_budget": bool(np.median(chain) / 1e3 <= 500.0),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
