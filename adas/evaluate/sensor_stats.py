"""The detector as a sensor: statistics of its boxes against KITTI labels (no I/O, no model).

One frame at a time, :func:`match_frame` pairs detections with labels and sorts every box into
what the sensor-model file (``data/sensor/<model>.json``, docs/sensor-model.md) counts;
:class:`SensorStats` pools the frames and writes the file's measured sections.

Matching (KITTI object benchmark rule, class-agnostic so that class confusions are seen):
detections in descending score each take the unmatched labelled object of highest IoU >=
``IOU_MATCH`` among every label except DontCare. Then

* a matched label of a scored class (``LABEL_CLASSES``) is *found*, with the detection's
  class in the confusion matrix; a label matched by nothing is *missed*;
* a detection matched to an unscored label (Tram, Misc, Person_sitting) is *ignored*;
* an unmatched detection that overlaps an already matched label at IoU >= ``IOU_MATCH`` is a
  *duplicate* (a second box on one object, e.g. car and truck on the same SUV);
* an unmatched detection at least ``DONTCARE_INSIDE`` of its area inside a DontCare region is
  *ignored*; any other unmatched detection is a *false box*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adas.evaluate.kitti_classes import VEHICLES
from adas.evaluate.kitti_object import DONTCARE_INSIDE, IOU_MATCH, inside_fraction
from adas.sources.kitti import KittiObject
from adas.stats import binomial_upper
from adas.track import iou_matrix
from adas.types import ObjectClass

# Label classes scored (rows of the confusion matrix). KITTI has no Bus: its row stays 0.
LABEL_CLASSES = ("car", "van", "truck", "bus", "pedestrian", "cyclist")
KITTI_TO_LABEL = {
    "Car": "car",
    "Van": "van",
    "Truck": "truck",
    "Bus": "bus",
    "Pedestrian": "pedestrian",
    "Cyclist": "cyclist",
}
VEHICLE_LABELS = ("car", "van", "truck", "bus")
# Detected classes (columns of the confusion matrix, then "missed").
DETECTED_CLASSES = (
    "car",
    "van",
    "truck",
    "bus",
    "pedestrian",
    "bicycle",
    "motorcycle",
    "other",
)
# Bin edges on the true box height (px): KITTI's 25 px and 40 px difficulty limits, then
# the sizes of cars at about 30 m (60 px) and 17 m (100 px) on KITTI's 721.5 px focal length.
HEIGHT_BINS_PX = (0.0, 25.0, 40.0, 60.0, 100.0, 1e9)
OCCLUSION_LEVELS = (0, 1, 2)  # KITTI: 0 fully visible, 1 partly, 2 largely occluded
# Edge errors and miss rates are taken on objects the box of which is not cut by the image
# border (KITTI "moderate": truncation < 0.3); edges on occlusion <= 1 as well, since an
# occluder moves the visible box's edges.
MAX_TRUNCATION = 0.3
EDGE_MAX_OCCLUSION = 1
EDGES = ("left", "top", "right", "bottom")
MAD_TO_SIGMA = 1.4826  # sigma of a normal distribution per median absolute deviation
SCORE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# A false box overlapping a labelled object at least this much is a badly placed box on a real
# object (counted apart in the file), below it a box on nothing.
LABEL_OVERLAP_IOU = 0.1


def detected_name(class_id: int) -> str:
    """The confusion-matrix column of an ADAS class (trains and OTHER are "other")."""
    name = ObjectClass(class_id).name.lower()
    return name if name in DETECTED_CLASSES else "other"


@dataclass(frozen=True)
class FalseBox:
    """A detection that matches no labelled object: where it sits and how big (px)."""

    x_rel: float  # box centre / image width
    y_rel: float  # box centre / image height
    w_px: float
    h_px: float
    cls: str
    score: float
    label_iou: float = 0.0  # highest IoU with any labelled object (> 0: a mislocated box)


@dataclass
class FrameResult:
    """The boxes of one frame sorted into what the sensor model counts."""

    found: list[tuple[KittiObject, np.ndarray, str, float]] = field(default_factory=list)
    missed: list[KittiObject] = field(default_factory=list)
    false: list[FalseBox] = field(default_factory=list)
    false_other: int = 0  # false boxes of non-vehicle classes (not in the samples)
    duplicates: int = 0
    ignored: int = 0


def match_frame(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    score: np.ndarray,
    labels: Sequence[KittiObject],
    image_wh: tuple[int, int],
) -> FrameResult:
    """Match one frame's detections (N x 4 boxes in px, ADAS class ids, scores) to its labels.

    ``found`` holds (label, detected box, detected class name, score) for each label of a
    scored class that a detection matched; the module docstring gives the rules.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(score, np.float64), kind="stable")
    objs = [o for o in labels if o.kind != "DontCare"]
    dontcare = np.array([o.xyxy for o in labels if o.kind == "DontCare"], np.float64)
    lab_boxes = np.array([o.xyxy for o in objs], np.float64).reshape(-1, 4)
    iou = iou_matrix(boxes, lab_boxes) if len(objs) else np.zeros((len(boxes), 0))
    used = np.zeros(len(objs), bool)
    out = FrameResult()
    w, h = image_wh
    for k in order:
        cls = int(class_id[k])
        if len(objs):
            cand = np.where(used, -1.0, iou[k])
            j = int(np.argmax(cand))
            if cand[j] >= IOU_MATCH:
                used[j] = True
                if objs[j].kind in KITTI_TO_LABEL:
                    out.found.append((objs[j], boxes[k], detected_name(cls), float(score[k])))
                else:
                    out.ignored += 1
                continue
            if iou[k].max() >= IOU_MATCH:
                out.duplicates += 1
                continue
        if len(dontcare) and inside_fraction(boxes[k], dontcare).max() >= DONTCARE_INSIDE:
            out.ignored += 1
            continue
        if ObjectClass(cls) not in VEHICLES:
            out.false_other += 1
            continue
        b = boxes[k]
        out.false.append(
            FalseBox(
                x_rel=float((b[0] + b[2]) / 2 / w),
                y_rel=float((b[1] + b[3]) / 2 / h),
                w_px=float(b[2] - b[0]),
                h_px=float(b[3] - b[1]),
                cls=detected_name(cls),
                score=float(score[k]),
                label_iou=float(iou[k].max()) if len(objs) else 0.0,
            )
        )
    out.missed = [o for o, u in zip(objs, used, strict=True) if not u and o.kind in KITTI_TO_LABEL]
    return out


def upper95(k: int, n: int) -> float | None:
    """One-sided 95 % Clopper-Pearson upper bound on a rate seen ``k`` times in ``n`` trials
    (the upper end of the two-sided 90 % interval)."""
    return None if n <= 0 else binomial_upper(min(k, n), n, confidence=0.90)


def height_bin(height_px: float, bins: Sequence[float] = HEIGHT_BINS_PX) -> int:
    """Index of the bin [bins[i], bins[i+1]) holding ``height_px`` (clamped to the ends)."""
    i = int(np.searchsorted(np.asarray(bins), height_px, side="right")) - 1
    return min(max(i, 0), len(bins) - 2)


def robust(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Median and 1.4826 x median absolute deviation; (None, None) for no values."""
    if not len(values):
        return None, None
    a = np.asarray(values, np.float64)
    med = float(np.median(a))
    return med, float(MAD_TO_SIGMA * np.median(np.abs(a - med)))


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def edge_table(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], bins: Sequence[float] = HEIGHT_BINS_PX
) -> dict[str, dict[str, list[Any]]]:
    """Per edge and true-height bin: median (bias) and robust spread of detected minus true
    edge, in px and relative to the true box height, with counts. ``pairs`` are (true box,
    detected box), each x1 y1 x2 y2 in px."""
    nb = len(bins) - 1
    px: list[list[list[float]]] = [[[] for _ in range(nb)] for _ in EDGES]
    rel: list[list[list[float]]] = [[[] for _ in range(nb)] for _ in EDGES]
    for true, det in pairs:
        hgt = float(true[3] - true[1])
        b = height_bin(hgt, bins)
        for e in range(4):
            d = float(det[e] - true[e])
            px[e][b].append(d)
            rel[e][b].append(d / hgt)
    table: dict[str, dict[str, list[Any]]] = {}
    for e, name in enumerate(EDGES):
        rp = [robust(v) for v in px[e]]
        rr = [robust(v) for v in rel[e]]
        table[name] = {
            "bias_px": [_r(m, 3) for m, _ in rp],
            "sigma_px": [_r(s, 3) for _, s in rp],
            "bias_rel": [_r(m) for m, _ in rr],
            "sigma_rel": [_r(s) for _, s in rr],
            "n": [len(v) for v in px[e]],
        }
    return table


def quantiles(values: Sequence[float]) -> dict[str, Any]:
    """``SCORE_QUANTILES`` of ``values`` (None for none) and their count."""
    if not len(values):
        return {"quantiles": [None] * len(SCORE_QUANTILES), "n": 0}
    q = np.quantile(np.asarray(values, np.float64), SCORE_QUANTILES)
    return {"quantiles": [round(float(v), 4) for v in q], "n": len(values)}


@dataclass
class SensorStats:
    """Frames pooled: the measured sections of the sensor-model file (:meth:`summary`)."""

    bins: tuple[float, ...] = HEIGHT_BINS_PX
    frames: int = 0
    edge_pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    found_hits: list[tuple[int, int]] = field(default_factory=list)  # (occlusion, height bin)
    missed_hits: list[tuple[int, int]] = field(default_factory=list)
    confusion: np.ndarray = field(
        default_factory=lambda: np.zeros((len(LABEL_CLASSES), len(DETECTED_CLASSES) + 1), int)
    )
    false: list[FalseBox] = field(default_factory=list)
    false_other: int = 0
    duplicates: int = 0
    ignored: int = 0
    true_scores: list[float] = field(default_factory=list)

    def add(self, result: FrameResult) -> None:
        """Pool one frame's :func:`match_frame` result."""
        self.frames += 1
        for obj, det, cls, sc in result.found:
            lab = KITTI_TO_LABEL[obj.kind]
            self.confusion[LABEL_CLASSES.index(lab), DETECTED_CLASSES.index(cls)] += 1
            true = np.asarray(obj.xyxy, np.float64)
            if obj.truncation < MAX_TRUNCATION and obj.occlusion <= EDGE_MAX_OCCLUSION:
                group = "vehicle" if lab in VEHICLE_LABELS else lab
                self.edge_pairs.setdefault(group, []).append((true, det))
            if lab in VEHICLE_LABELS:
                self._count_miss(obj, self.found_hits)
                if cls in ("car", "van", "truck", "bus"):
                    self.true_scores.append(sc)
        for obj in result.missed:
            lab = KITTI_TO_LABEL[obj.kind]
            self.confusion[LABEL_CLASSES.index(lab), -1] += 1
            if lab in VEHICLE_LABELS:
                self._count_miss(obj, self.missed_hits)
        self.false += result.false
        self.false_other += result.false_other
        self.duplicates += result.duplicates
        self.ignored += result.ignored

    def _count_miss(self, obj: KittiObject, into: list[tuple[int, int]]) -> None:
        if obj.truncation < MAX_TRUNCATION and obj.occlusion in OCCLUSION_LEVELS:
            into.append((obj.occlusion, height_bin(obj.xyxy[3] - obj.xyxy[1], self.bins)))

    def miss_table(self) -> dict[str, Any]:
        """Miss rate (None where no object) and count per occlusion level and height bin."""
        nb = len(self.bins) - 1
        found = np.zeros((len(OCCLUSION_LEVELS), nb), int)
        missed = np.zeros_like(found)
        for occ, b in self.found_hits:
            found[OCCLUSION_LEVELS.index(occ), b] += 1
        for occ, b in self.missed_hits:
            missed[OCCLUSION_LEVELS.index(occ), b] += 1
        n = found + missed
        rate = [
            [_r(float(m / t)) if t else None for m, t in zip(mr, nr, strict=True)]
            for mr, nr in zip(missed, n, strict=True)
        ]
        return {"occlusion_levels": list(OCCLUSION_LEVELS), "rate": rate, "n": n.tolist()}

    def flip_rates(self) -> dict[str, dict[str, Any]]:
        """Single-frame class flips among vehicles: of the labelled objects of a class that
        were found, the fraction detected as another vehicle class, with its 95 % upper
        bound (the counts are small: a rate of 0 is not a rate known to be 0)."""
        out = {}
        for lab, others in (
            ("car", ("truck", "van", "bus")),
            ("van", ("car",)),
            ("truck", ("car",)),
        ):
            row = self.confusion[LABEL_CLASSES.index(lab)]
            n = int(row[:-1].sum())
            k = int(sum(row[DETECTED_CLASSES.index(c)] for c in others))
            rate = _r(k / n) if n else None
            name = f"{lab}_to_{'_'.join(others)}"
            out[name] = {"k": k, "n": n, "rate": rate, "upper95": _r(upper95(k, n))}
        return out

    def summary(self) -> dict[str, Any]:
        """The measured sections of the sensor-model file (schema: docs/sensor-model.md)."""
        samples = [
            {
                "x_rel": round(f.x_rel, 4),
                "y_rel": round(f.y_rel, 4),
                "w_px": round(f.w_px, 1),
                "h_px": round(f.h_px, 1),
                "class": f.cls,
                "score": round(f.score, 4),
                "label_iou": round(f.label_iou, 3),
            }
            for f in self.false
        ]
        per_frame = len(self.false) / self.frames if self.frames else None
        return {
            "match_iou": IOU_MATCH,
            "classes": list(LABEL_CLASSES),
            "height_bins_px": list(self.bins),
            "edges": edge_table(self.edge_pairs.get("vehicle", []), self.bins),
            "edges_pedestrian": edge_table(self.edge_pairs.get("pedestrian", []), self.bins),
            "miss": self.miss_table(),
            "false_boxes": {
                "per_frame": _r(per_frame),
                "frames": self.frames,
                "n": len(self.false),
                "n_overlapping_a_label": sum(f.label_iou >= LABEL_OVERLAP_IOU for f in self.false),
                "samples": samples,
            },
            "other_detections": {
                "duplicates": self.duplicates,
                "ignored": self.ignored,
                "false_non_vehicle": self.false_other,
            },
            "confusion": {
                "labels": list(LABEL_CLASSES),
                "detected": [*DETECTED_CLASSES, "missed"],
                "counts": self.confusion.tolist(),
            },
            "class_flip": self.flip_rates(),
            "scores": {
                "true": quantiles(self.true_scores),
                "false": quantiles([f.score for f in self.false]),
            },
            "filters": {
                "edges": f"vehicle labels (car/van/truck/bus), truncation < {MAX_TRUNCATION}, "
                f"occlusion <= {EDGE_MAX_OCCLUSION}, matched at IoU >= {IOU_MATCH}; "
                "bias = median, sigma = 1.4826 MAD",
                "miss": f"vehicle labels, truncation < {MAX_TRUNCATION}; missed = matched by "
                "no detection of any class",
                "scores_true": "vehicle-class detections matched to vehicle labels",
            },
        }
