"""``adas eval kitti-tracking``: the geometry chain on KITTI tracking ground truth.

The ground-truth 2D boxes of every frame (10 Hz) are fed as detections through
tracker -> distance -> motion/TTC, with the camera from ``P2`` and the KITTI mount (1.65 m above
the road, level) and nothing else about the scene. The 3D labels are used for scoring only,
per scored class (``--classes``: car, the default, pedestrian, cyclist; which labels count for
each: :mod:`adas.evaluate.tracking_classes`):

* distance: the class's labels with truncation 0 and occlusion <= 1, against the depth of the
  object's nearest face (see ``KittiObject.nearest_face_m``), per range bin: after tracking
  and the motion filter (``distance``), the distance stage's output on the tracks
  (``distance_per_frame``: the track's learned size, no motion filter) and each frame ranged
  on its own (``distance_single_frame``: a fresh distance stage per frame, no track history);
* TTC: the same objects on closing tracks, truth d / (-d') with d' the central difference of
  the ground-truth nearest-face distance over +-0.5 s, kept where 0.5 s <= TTC <= 4 s;
* tracking: CLEAR-MOT id switches and fragmentations of the class's tracks.

Distances are camera-referenced here (the KITTI truth is), so the mount puts the camera on the
bumper plane (``behind_bumper_m = 0``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adas.camera import CameraModel, Lens, Mount
from adas.camera_boxes import undistorted_boxes
from adas.distance import DistanceConfig, DistanceEstimator
from adas.errors import DataFormatError
from adas.evaluate.mot import MotAccumulator
from adas.evaluate.rel_error import Samples, binned
from adas.evaluate.tracking_classes import CLASSES, ScoredClass, label_counts, parse_classes
from adas.motion import MotionConfig, MotionEstimator
from adas.priors import ClassHypotheses
from adas.sources.kitti import (
    KITTI_CAMERA_HEIGHT_M,
    KITTI_FRAME_PERIOD_NS,
    KITTI_IMAGE_SIZE,
    KittiObject,
    load_tracking_labels,
)
from adas.track import Tracker
from adas.types import Detections, Tracks

log = logging.getLogger(__name__)

TTC_HALF_WINDOW_FRAMES = 5  # +-0.5 s at 10 Hz
TTC_RANGE_S = (0.5, 4.0)
BASELINE_HEIGHT_M = 1.5  # the naive class height prior of the issue and data README
CARS = CLASSES["car"]


def ttc_truth(
    objects: Sequence[KittiObject], cls: ScoredClass = CARS
) -> dict[tuple[int, int], float]:
    """Ground-truth TTC per (frame, track id) from the nearest-face distances of that track."""
    by_track: dict[int, dict[int, float]] = {}
    for o in objects:
        if o.kind in cls.kinds:
            by_track.setdefault(o.track_id, {})[o.frame] = o.nearest_face_m
    out: dict[tuple[int, int], float] = {}
    k = TTC_HALF_WINDOW_FRAMES
    dt = 2 * k * KITTI_FRAME_PERIOD_NS * 1e-9
    for tid, series in by_track.items():
        for fr, d in series.items():
            if fr - k in series and fr + k in series:
                rate = (series[fr + k] - series[fr - k]) / dt
                if rate < 0:
                    out[(fr, tid)] = d / -rate
    return out


@dataclass
class ClassResult:
    """The paired samples and counts of one scored class."""

    distance: Samples = field(default_factory=Samples)
    distance_raw: Samples = field(default_factory=Samples)
    distance_single: Samples = field(default_factory=Samples)
    distance_issue: Samples = field(default_factory=Samples)
    ttc: Samples = field(default_factory=Samples)
    baseline_flat: Samples = field(default_factory=Samples)
    baseline_height: Samples = field(default_factory=Samples)
    objects_scored: int = 0
    objects_ranged: int = 0
    labels_ignored: int = 0

    SAMPLES = (
        "distance",
        "distance_raw",
        "distance_single",
        "distance_issue",
        "ttc",
        "baseline_flat",
        "baseline_height",
    )

    def add(self, other: ClassResult) -> None:
        for name in self.SAMPLES:
            getattr(self, name).extend(getattr(other, name))
        self.objects_scored += other.objects_scored
        self.objects_ranged += other.objects_ranged
        self.labels_ignored += other.labels_ignored


@dataclass
class SequenceResult:
    """One :class:`ClassResult` per scored class (by its report key), frames, chain time."""

    classes: dict[str, ClassResult] = field(default_factory=dict)
    frames: int = 0
    chain_ns: int = 0

    def add(self, other: SequenceResult) -> None:
        for key, r in other.classes.items():
            self.classes.setdefault(key, ClassResult()).add(r)
        self.frames += other.frames
        self.chain_ns += other.chain_ns


def baselines(xyxy: np.ndarray, camera: CameraModel) -> tuple[float, float]:
    """Naive rangings of one box, for comparison: flat ground from the bottom centre (mount
    height, zero pitch) and a 1.5 m height prior. NaN where undefined. A fisheye's box is
    first undistorted (its edge centres through the lens): that maths holds in a pinhole image."""
    if camera.lens is Lens.FISHEYE:
        xyxy = undistorted_boxes(camera, xyxy)[0]
    dv = float(xyxy[3]) - camera.cy
    flat = camera.fy * camera.mount.height_m / dv if dv > 0 else float("nan")
    bh = float(xyxy[3] - xyxy[1])
    height = camera.fy * BASELINE_HEIGHT_M / bh if bh > 0 else float("nan")
    return flat, height


LABEL_BOXES = DistanceConfig(edge_sigma_px=1.0, edge_var_per_px=0.0)
LABEL_BOXES_MOTION = MotionConfig(box_edge_sigma_px=1.0, box_edge_var_per_px=0.0)


def single_frame_tracks(dets: Detections) -> Tracks:
    """Every detection as a track of its own, seen now for the first time."""
    n = len(dets)
    idx = np.arange(n, dtype=np.int64)
    zero = np.zeros(n, np.int64)
    return Tracks(dets.xyxy, dets.score, dets.class_id, idx, zero, zero + 1, zero, idx)


def run_sequence(
    labels: Sequence[KittiObject],
    camera: CameraModel,
    *,
    classes: Sequence[ScoredClass] = (CARS,),
    box_noise_px: float = 0.0,
    rng: np.random.Generator | None = None,
    mot: dict[str, MotAccumulator] | None = None,
) -> SequenceResult:
    """Feed one sequence's ground-truth boxes through the chain and pair estimates with truth
    for each scored class; ``mot`` (by class key) accumulates each class's tracking counts."""
    rng = rng or np.random.default_rng(0)
    # The boxes and classes are the annotators', not a detector's: a label is what it says, so
    # the detector's class confusion (data/priors/class_confusion.toml) does not apply, nor does
    # its edge noise law: label boxes are placed to about 1 px (as this figure always assumed;
    # the --box-noise runs keep it, so they show what unmodelled noise does).
    dist = DistanceEstimator(camera, LABEL_BOXES, hypotheses=ClassHypotheses.identity())
    single = DistanceEstimator(camera, LABEL_BOXES, hypotheses=ClassHypotheses.identity())
    tracker, motion = Tracker(), MotionEstimator(LABEL_BOXES_MOTION)
    ttc_true = {c.key: ttc_truth(labels, c) for c in classes}
    of_kind = {kind: c for c in classes for kind in c.kinds}
    frames: dict[int, list[KittiObject]] = {}
    for o in labels:
        if o.kind != "DontCare":
            frames.setdefault(o.frame, [])
            frames[o.frame].append(o)
    res = SequenceResult({c.key: ClassResult() for c in classes})
    last = max((o.frame for o in labels), default=-1)
    w, h = camera.width, camera.height
    for fr in range(last + 1):
        objs = frames.get(fr, [])
        xyxy = np.array([o.xyxy for o in objs], np.float64).reshape(-1, 4)
        if box_noise_px > 0 and len(objs):
            xyxy = xyxy + rng.normal(0.0, box_noise_px, xyxy.shape)
            xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w - 1)
            xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h - 1)
        dets = Detections.from_arrays(xyxy, np.ones(len(objs)), [int(o.object_class) for o in objs])
        t_ns = fr * KITTI_FRAME_PERIOD_NS
        t0 = time.perf_counter_ns()
        tracks = tracker.update(dets, t_ns)
        ranges = dist.update(tracks, t_ns)
        states = motion.update(tracks, ranges, t_ns)
        res.chain_ns += time.perf_counter_ns() - t0
        res.frames += 1
        single.reset()
        alone = single.update(single_frame_tracks(dets), t_ns)
        for c in classes:
            cr = res.classes[c.key]
            counts = label_counts(objs, c)
            cr.objects_scored += counts["scored"]
            cr.labels_ignored += counts["ignored"]
            if mot is not None:
                _mot_update(mot[c.key], c, objs, tracks)
        for i, o in enumerate(objs):
            oc = of_kind.get(o.kind)
            if oc is not None and oc.is_scored(o) and np.isfinite(alone.distance_m[i]):
                res.classes[oc.key].distance_single.add(
                    float(alone.distance_m[i]), o.nearest_face_m
                )
        for row, di in enumerate(tracks.det_index):
            if di < 0:
                continue
            o = objs[int(di)]
            oc = of_kind.get(o.kind)
            if oc is None or not oc.is_scored(o):
                continue
            cr = res.classes[oc.key]
            cr.objects_ranged += 1
            if np.isfinite(ranges.distance_m[row]):
                cr.distance_raw.add(float(ranges.distance_m[row]), o.nearest_face_m)
            if np.isfinite(states.distance_m[row]):
                cr.distance.add(float(states.distance_m[row]), o.nearest_face_m)
                flat, height = baselines(xyxy[int(di)], camera)
                if np.isfinite(flat):
                    cr.baseline_flat.add(flat, o.nearest_face_m)
                cr.baseline_height.add(height, o.nearest_face_m)
                cr.distance_issue.add(float(states.distance_m[row]), o.nearest_face_issue_formula_m)
            truth = ttc_true[oc.key].get((fr, o.track_id))
            if truth is not None and TTC_RANGE_S[0] <= truth <= TTC_RANGE_S[1]:
                cr.ttc.add(float(states.ttc_s[row]), truth)
    return res


def _mot_update(
    mot: MotAccumulator, cls: ScoredClass, objs: Sequence[KittiObject], tracks: Tracks
) -> None:
    mine = [o for o in objs if o.kind in cls.kinds or o.kind in cls.ignored_kinds]
    gt_ids = np.array([o.track_id for o in mine], np.int64)
    gt_xyxy = np.array([o.xyxy for o in mine], np.float64).reshape(-1, 4)
    ignore = np.array([not cls.is_scored(o) for o in mine], bool)
    # Tracks of other classes (and of DontCare regions) must not count as false positives.
    keep = np.isin(tracks.class_id, [int(c) for c in cls.object_classes])
    mot.update(gt_ids, gt_xyxy, tracks.track_id[keep], tracks.xyxy[keep], ignore=ignore)


def kitti_camera(
    calib_path: Path, width: int = KITTI_IMAGE_SIZE[0], height: int = KITTI_IMAGE_SIZE[1]
) -> CameraModel:
    """The KITTI colour camera of a calib file (``P2``) on the KITTI mount (1.65 m, level)."""
    return CameraModel.from_kitti_calib(
        calib_path, width=width, height=height, mount=Mount(height_m=KITTI_CAMERA_HEIGHT_M)
    )


def class_report(r: ClassResult, cls: ScoredClass, mot: MotAccumulator) -> dict[str, Any]:
    """The report block of one scored class."""
    return {
        "kitti_labels": list(cls.kinds),
        "kitti_labels_ignored": list(cls.ignored_kinds),
        "distance": binned(r.distance),
        "distance_per_frame": binned(r.distance_raw),
        "distance_single_frame": binned(r.distance_single),
        "distance_vs_issue_formula": binned(r.distance_issue),
        "baseline_flat_ground": binned(r.baseline_flat),
        "baseline_height_prior_1_5m": binned(r.baseline_height),
        "ttc": r.ttc.stats(),
        "tracking": mot.summary().to_dict(),
        "coverage": {
            "scored_objects": r.objects_scored,
            "ranged_by_confirmed_tracks": r.objects_ranged,
            "ignored_labels": r.labels_ignored,
        },
    }


def evaluate(
    root: str | Path,
    sequences: Iterable[str] | None = None,
    *,
    classes: Sequence[str] = ("car",),
    box_noise_px: float = 0.0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the evaluation over ``root/label_02/*.txt`` and return the JSON-ready report: one
    block per class of ``classes`` (keys ``cars``, ``pedestrians``, ``cyclists``). With cars
    among them, the cars' block is also at the top level, as the report always had it."""
    scored = parse_classes(",".join(classes))
    root = Path(root)
    label_dir = root / "label_02"
    if not label_dir.is_dir():
        msg = f"{label_dir} not found: --root must hold label_02/ and calib/ (KITTI tracking)"
        raise DataFormatError(msg)
    seqs = sorted(sequences) if sequences else sorted(p.stem for p in label_dir.glob("*.txt"))
    if not seqs:
        msg = f"no label files in {label_dir}"
        raise DataFormatError(msg)
    rng = np.random.default_rng(seed)
    total = SequenceResult({c.key: ClassResult() for c in scored})
    mot = {c.key: MotAccumulator() for c in scored}
    per_seq: dict[str, list[dict[str, Any]]] = {c.key: [] for c in scored}
    iterator: Iterable[str] = seqs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(seqs, desc="kitti-tracking", unit="seq")
    for s in iterator:
        cam = kitti_camera(root / "calib" / f"{s}.txt")
        labels = load_tracking_labels(label_dir / f"{s}.txt")
        seq_mot = {c.key: MotAccumulator() for c in scored}
        r = run_sequence(
            labels, cam, classes=scored, box_noise_px=box_noise_px, rng=rng, mot=seq_mot
        )
        total.add(r)
        for c in scored:
            mot[c.key].merge(seq_mot[c.key])
            cr = r.classes[c.key]
            per_seq[c.key].append(
                {
                    "sequence": s,
                    "frames": r.frames,
                    "distance": cr.distance.stats(),
                    "ttc": cr.ttc.stats(),
                    "tracking": seq_mot[c.key].summary().to_dict(),
                }
            )
    blocks = {
        c.key: {
            **class_report(total.classes[c.key], c, mot[c.key]),
            "per_sequence": per_seq[c.key],
        }
        for c in scored
    }
    report: dict[str, Any] = {
        "dataset": str(root),
        "sequences": seqs,
        "classes": [c.name for c in scored],
        "box_noise_px": box_noise_px,
        "seed": seed,
    }
    if CARS.key in blocks:
        legacy = {k: v for k, v in blocks[CARS.key].items() if not k.startswith("kitti_labels")}
        report.update(legacy)
    report.update(blocks)
    report["chain_us_per_frame"] = round(total.chain_ns / max(total.frames, 1) / 1e3, 1)
    return report
