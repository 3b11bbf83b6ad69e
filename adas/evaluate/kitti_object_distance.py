"""Distance part of ``adas eval kitti-object``: the distance stage on detector boxes.

Each frame on its own (one frame, no tracking), against the nearest-face depth of the KITTI
3D label. Three sets of cars:

* ``matched``: the true positives of the detection scoring (cars that must be found,
  matched at IoU 0.5), with whatever vehicle class the detector gave them;
* ``car_called_truck_van_bus``: every vehicle detection the detector calls truck, van or bus
  whose label of highest IoU (>= 0.5) is a car that must be found (a true positive or a
  second box on the same car): what a class confusion does to the range;
* ``car_relabelled``: each matched car in turn ranged as if the detector had called it truck,
  van or bus (the other cars of the frame keep their classes): the same question asked of
  every car, since real confusions are few on the shared frames.

All boxes of a set in one frame go through the stage together, as the pipeline ranges all
tracks of a frame together (they share the per-frame pitch estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adas.camera import CameraModel
from adas.distance import DistanceConfig, DistanceEstimator
from adas.sources.kitti import KittiObject
from adas.track import iou_matrix
from adas.types import Detections, ObjectClass, Tracks

CONFUSED_CLASSES = (ObjectClass.TRUCK, ObjectClass.VAN, ObjectClass.BUS)
IOU_SAME_OBJECT = 0.5  # the detection scoring's match threshold (KITTI's for cars)


def range_rows(
    camera: CameraModel, dets: Detections, rows: Sequence[int], class_id: np.ndarray | None = None,
    config: DistanceConfig | None = None,
) -> np.ndarray:  # fmt: skip
    """Distance-stage ranges [m] of detection ``rows`` of one frame, ranged together by a fresh
    stage (no history, ``config`` or the defaults); ``class_id`` replaces their classes where
    given."""
    if not len(rows):
        return np.zeros(0)
    idx = np.asarray(rows, np.int64)
    n = idx.size
    tracks = Tracks(
        xyxy=dets.xyxy[idx],
        score=dets.score[idx],
        class_id=dets.class_id[idx] if class_id is None else np.asarray(class_id, np.int64),
        track_id=np.arange(n, dtype=np.int64),
        age=np.ones(n, np.int64),
        hits=np.ones(n, np.int64),
        time_since_update=np.zeros(n, np.int64),
        det_index=idx,
    )
    est = DistanceEstimator(camera, config)
    return np.asarray(est.update(tracks, 0).distance_m, np.float64)


def error_stats(err: Sequence[float]) -> dict[str, Any]:
    """n, median, p90 and max of absolute relative errors (finite ones; None when empty)."""
    a = np.abs(np.asarray(err, np.float64))
    a = a[np.isfinite(a)]
    if not a.size:
        return {"n": 0, "median_abs_rel": None, "p90_abs_rel": None, "max_abs_rel": None}
    return {
        "n": int(a.size),
        "median_abs_rel": round(float(np.median(a)), 4),
        "p90_abs_rel": round(float(np.percentile(a, 90)), 4),
        "max_abs_rel": round(float(a.max()), 4),
    }


def _rel(est: float, truth: float) -> float:
    return (est - truth) / truth if np.isfinite(est) and truth > 0 else float("nan")


@dataclass
class DistanceScores:
    """Signed relative distance errors of the three sets, accumulated frame by frame."""

    config: DistanceConfig = field(default_factory=DistanceConfig)
    matched: list[float] = field(default_factory=list)
    called_other: list[float] = field(default_factory=list)
    relabelled: dict[str, list[float]] = field(
        default_factory=lambda: {c.name.lower(): [] for c in CONFUSED_CLASSES}
    )

    def add_frame(
        self,
        camera: CameraModel,
        dets: Detections,
        pairs: Sequence[tuple[int, KittiObject]],
        must: Sequence[KittiObject],
    ) -> None:
        """One frame: ``pairs`` are the (detection row, car) true positives, ``must`` the cars
        that must be found (for the confused-class set)."""
        rows = [r for r, _ in pairs]
        truth = {r: o.nearest_face_m for r, o in pairs}
        other = self._called_other(dets, must)
        for r, o in other.items():
            truth.setdefault(r, o.nearest_face_m)
        all_rows = sorted(truth)
        ranged = range_rows(camera, dets, all_rows, config=self.config)
        est = dict(zip(all_rows, ranged, strict=True))
        self.matched += [_rel(est[r], truth[r]) for r in rows]
        self.called_other += [_rel(est[r], truth[r]) for r in other]
        base = dets.class_id[np.asarray(rows, np.int64)] if rows else np.zeros(0, np.int64)
        for j, r in enumerate(rows):
            for c in CONFUSED_CLASSES:
                cls = base.copy()
                cls[j] = int(c)
                d = range_rows(camera, dets, rows, cls, self.config)[j]
                self.relabelled[c.name.lower()].append(_rel(d, truth[r]))

    @staticmethod
    def _called_other(dets: Detections, must: Sequence[KittiObject]) -> dict[int, KittiObject]:
        """Detection rows called truck/van/bus whose best label (IoU >= 0.5) is a car in
        ``must``."""
        sel = np.flatnonzero(np.isin(dets.class_id, [int(c) for c in CONFUSED_CLASSES]))
        if not sel.size or not len(must):
            return {}
        boxes = np.array([o.xyxy for o in must], np.float64)
        iou = iou_matrix(dets.xyxy[sel].astype(np.float64), boxes)
        best = iou.argmax(axis=1)
        return {
            int(r): must[int(b)]
            for r, b, v in zip(sel, best, iou.max(axis=1), strict=True)
            if v >= IOU_SAME_OBJECT
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the matched cars' statistics at the top level (n, median_abs_rel,
        p90_abs_rel, max_abs_rel) and the two confusion sets under their names."""
        pooled = [e for v in self.relabelled.values() for e in v]
        return {
            **error_stats(self.matched),
            "car_called_truck_van_bus": error_stats(self.called_other),
            "car_relabelled": {
                **{k: error_stats(v) for k, v in self.relabelled.items()},
                "all": error_stats(pooled),
            },
        }
