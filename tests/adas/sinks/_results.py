"""A synthetic drive for the sink tests: a lead car closing in the ego lane until full braking.

29 frames at 10 Hz on a 320 x 240 camera (focal length 250 px, horizon at row 110, camera
1.3 m high). Frames 0-1 have no tracks. Track 7 (car, in path) closes at 8 m/s from 30 m; the
ego's braking (the scripted decisions' deceleration requests) slows the closing to 0.5 m/s.
Track 12 (van) follows in the adjacent lane at a constant 22 m; track 3 (pedestrian, outside)
is seen in frames 8-12 without a range. The decision is scripted (not the control stage):
NONE -> CAUTION -> WARNING (0.8 s, as UN R152 asks before braking) -> BRAKE_PARTIAL ->
BRAKE_FULL -> NONE once the threat is gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adas.types import (
    DangerLevel,
    Decision,
    DecisionLevel,
    Detections,
    FrameResult,
    ObjectClass,
    ObjectStates,
    RangeEstimates,
    RangeStatus,
    Tracks,
    Zone,
)

T0_NS = 1_700_000_000_000_000_000  # an epoch time in ns, as recorded bags carry
PERIOD_NS = 100_000_000  # 10 Hz
WIDTH, HEIGHT = 320, 240
FOCAL_PX, HORIZON_ROW, CAMERA_HEIGHT_M = 250.0, 110.0, 1.3
LEAD, ADJACENT, PEDESTRIAN = 7, 12, 3
# Decision level per frame and its deceleration request (m/s^2).
LEVELS = (
    [DecisionLevel.NONE] * 5 + [DecisionLevel.CAUTION] * 2 + [DecisionLevel.WARNING] * 8
    + [DecisionLevel.BRAKE_PARTIAL] * 3 + [DecisionLevel.BRAKE_FULL] * 7
    + [DecisionLevel.NONE] * 4
)  # fmt: skip
N_FRAMES = len(LEVELS)
DECEL = {DecisionLevel.BRAKE_PARTIAL: 4.0, DecisionLevel.BRAKE_FULL: 9.0}
REASONS = {
    DecisionLevel.CAUTION: "headway 0.9 s",
    DecisionLevel.WARNING: "fcw: ttc below 3.2 s",
    DecisionLevel.BRAKE_PARTIAL: "aeb partial: ttc below 1.9 s",
    DecisionLevel.BRAKE_FULL: "aeb full: collision unavoidable otherwise",
}
LATENCY_STAGES = ("preprocess", "detect", "track", "distance", "motion", "control")


@dataclass(frozen=True)
class _Obj:
    track_id: int
    cls: ObjectClass
    distance_m: float
    lateral_m: float
    range_rate_mps: float
    zone: Zone
    danger: DangerLevel
    ranged: bool = True
    size_m: tuple[float, float] = (1.8, 1.5)  # width, height
    seen_at_m: tuple[float, float] = (0.0, 0.0)  # (distance, lateral) that places the box


def _lead_states() -> list[tuple[float, float]]:
    """(gap m, closing speed m/s) of the lead car per frame from frame 2 on: the requested
    deceleration of each frame reduces the closing speed over the next 0.1 s."""
    d, v, out = 30.0, 8.0, []
    for level in LEVELS[2:]:
        out.append((d, v))
        v -= DECEL.get(level, 0.0) * PERIOD_NS * 1e-9
        d -= v * PERIOD_NS * 1e-9
    return out


LEAD_STATES = _lead_states()


def _box(o: _Obj) -> tuple[float, float, float, float]:
    w, h = o.size_m
    d, lat = (o.distance_m, o.lateral_m) if o.ranged else o.seen_at_m
    cx = WIDTH / 2 - FOCAL_PX * lat / d
    bottom = HORIZON_ROW + FOCAL_PX * CAMERA_HEIGHT_M / d
    half = FOCAL_PX * w / d / 2
    return cx - half, bottom - FOCAL_PX * h / d, cx + half, bottom


def _objects(k: int, level: DecisionLevel) -> list[_Obj]:
    out = []
    if k >= 2:
        d, v = LEAD_STATES[k - 2]
        danger = DangerLevel(min(int(level), int(DangerLevel.BRAKE_FULL)))
        lead = _Obj(LEAD, ObjectClass.CAR, d, 0.1, -v, Zone.IN_PATH, danger)
        out.append(lead)
    if 4 <= k <= 22:
        out.append(_Obj(ADJACENT, ObjectClass.VAN, 22.0, 3.5, 0.0, Zone.ADJACENT, DangerLevel.NONE))
    if 8 <= k <= 12:
        ped = _Obj(
            PEDESTRIAN, ObjectClass.PEDESTRIAN, math.nan, math.nan, math.nan, Zone.OUTSIDE,
            DangerLevel.NONE, ranged=False, size_m=(0.6, 1.7), seen_at_m=(12.0, -5.0),
        )  # fmt: skip
        out.append(ped)
    return out


def make_result(k: int) -> FrameResult:
    """Frame ``k`` of the drive."""
    level = LEVELS[k]
    objs = _objects(k, level)
    n = len(objs)
    xyxy = np.array([_box(o) for o in objs], np.float32).reshape(n, 4)
    score = np.array([0.9 - 0.05 * i for i in range(n)], np.float32)
    cls = np.array([int(o.cls) for o in objs], np.int64)
    ids = np.array([o.track_id for o in objs], np.int64)
    det_xyxy = np.vstack([xyxy, [[10.0, 150.0, 30.0, 170.0]]]).astype(np.float32)  # + a clutter box
    dets = Detections.from_arrays(det_xyxy, [*score.tolist(), 0.3], [*cls.tolist(), 8])
    age = np.full(n, k, np.int64)
    tracks = Tracks(xyxy, score, cls, ids, age, age, np.zeros(n, np.int64), np.arange(n))
    d = np.array([o.distance_m for o in objs], np.float64)
    lat = np.array([o.lateral_m for o in objs], np.float64)
    ok = np.array([o.ranged for o in objs], bool)
    sigma = np.where(ok, 0.05 * d, np.nan)
    status = np.where(ok, RangeStatus.OK, RangeStatus.TOO_SMALL).astype(np.int64)
    ranges = RangeEstimates(d, lat, sigma, np.where(ok, 0.2, np.nan), status, status * 0, 0.01)
    rate = np.array([o.range_rate_mps for o in objs], np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ttc = np.where(rate < 0, d / -rate, np.where(ok, np.inf, np.nan))
    objects = ObjectStates(
        track_id=ids, distance_m=d, lateral_m=lat, sigma_distance_m=sigma, range_rate_mps=rate,
        accel_mps2=np.where(ok, -0.25, np.nan), lateral_velocity_mps=np.zeros(n), ttc_s=ttc,
        sigma_ttc_s=np.where(ok, 0.3, np.nan), zone=np.array([int(o.zone) for o in objs], np.int64),
        danger=np.array([int(o.danger) for o in objs], np.int64),
    )  # fmt: skip
    target = LEAD if level >= DecisionLevel.CAUTION else -1
    decision = Decision(level, DECEL.get(level, 0.0), target, REASONS.get(level, ""))
    latency = {s: (i + 1) * 1_000_000 + k * 10_000 for i, s in enumerate(LATENCY_STAGES)}
    return FrameResult(
        t_ns=T0_NS + k * PERIOD_NS, seq=100 + k, detections=dets, tracks=tracks, ranges=ranges,
        objects=objects, decision=decision, latency_ns=latency,
    )  # fmt: skip


def make_drive(n: int = N_FRAMES) -> list[FrameResult]:
    """The first ``n`` frames of the drive."""
    return [make_result(k) for k in range(n)]


def make_image(result: FrameResult) -> np.ndarray:
    """A plain camera image for a frame: grey road below a lighter sky, BGR uint8."""
    img = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    img[: int(HORIZON_ROW)] = 140
    return img
