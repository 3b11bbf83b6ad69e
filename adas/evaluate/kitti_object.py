"""``adas eval kitti-object``: the detector on KITTI frames, scored against their labels.

Scoring (the KITTI object benchmark's rules at IoU 0.5, per class: ``--classes
car,pedestrian,cyclist``; which labels and detections each class takes is in
:mod:`adas.evaluate.kitti_classes`):

* ground truth that must be found: labels of the class with truncation < 0.3 and occlusion
  <= 1 (and, for pedestrians and cyclists, a box at least 25 px high);
* detections of the class are matched greedily in descending score to the unmatched must-find
  label of highest IoU >= 0.5 (a true positive); a second detection of the same object is a
  false positive;
* a detection that matches no must-find label is *ignored* (neither true nor false) when it
  overlaps a neighbouring class (Van or Truck for cars, Person_sitting for pedestrians) or a
  label of the class exempt from the rules at IoU >= 0.5, or lies at least half inside a
  DontCare region; otherwise it is a false positive. As in KITTI's devkit, each ignored label
  takes one detection (a second box on the same van is a false positive: a duplicate);
  DontCare regions take any number (docs/detection-precision.md).

The same frames also go through a plain single pass of the model (its own preprocessing of
the whole frame, no band, no tiles): its recall and precision are the baseline, and its
inference time the unit of the cost target (``infer_ratio``).

``--root`` may be a KITTI object folder (``image_2/``, ``label_2/``, ``calib/``) or a KITTI
tracking folder (``image_02/SSSS/NNNNNN.png``, ``label_02/SSSS.txt``, ``calib/SSSS.txt``):
images without labels are skipped. Distances of the true positives come from the distance
stage on the detected boxes of one frame (no tracking), against the nearest-face depth; cars
the detector calls truck/van/bus are scored apart (``adas.evaluate.kitti_object_distance``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adas.camera import CameraModel
from adas.detect.detector import DetectConfig, Detector, PreparedInput
from adas.distance import DistanceConfig
from adas.errors import DataFormatError
from adas.evaluate.kitti_classes import CARS_MODERATE, RULES, ClassRule, boxes
from adas.evaluate.kitti_object_distance import DistanceScores, error_stats, range_rows
from adas.evaluate.kitti_tracking import kitti_camera
from adas.sources.kitti import (
    KittiObject,
    load_object_labels,
    load_tracking_labels,
)
from adas.track import iou_matrix
from adas.types import Detections, ObjectClass

log = logging.getLogger(__name__)

IOU_MATCH = 0.5
DONTCARE_INSIDE = 0.5


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    labels: tuple[KittiObject, ...]
    calib: Path


def discover(root: str | Path) -> list[Sample]:
    """The labelled images under ``root`` (object or tracking layout)."""
    root = Path(root)
    out: list[Sample] = []
    if (root / "label_2").is_dir():
        for lab in sorted((root / "label_2").glob("*.txt")):
            img = root / "image_2" / f"{lab.stem}.png"
            if img.is_file():
                out.append(
                    Sample(lab.stem, img, tuple(load_object_labels(lab)), root / "calib" / lab.name)
                )
    elif (root / "label_02").is_dir():
        for lab in sorted((root / "label_02").glob("*.txt")):
            seq_dir = root / "image_02" / lab.stem
            if not seq_dir.is_dir():
                continue
            by_frame: dict[int, list[KittiObject]] = {}
            for o in load_tracking_labels(lab):
                by_frame.setdefault(o.frame, []).append(o)
            for img in sorted(seq_dir.glob("*.png")):
                frame = int(img.stem)
                out.append(
                    Sample(
                        f"{lab.stem}/{img.stem}",
                        img,
                        tuple(by_frame.get(frame, [])),
                        root / "calib" / lab.name,
                    )
                )
    if not out:
        msg = (
            f"no labelled images under {root}: expected image_2/ + label_2/ (KITTI object) or "
            "image_02/SSSS/ + label_02/ (KITTI tracking)"
        )
        raise DataFormatError(msg)
    return out


@dataclass
class Counts:
    gt: int = 0
    tp: int = 0
    fp: int = 0
    ignored: int = 0

    def add(self, other: Counts) -> None:
        self.gt += other.gt
        self.tp += other.tp
        self.fp += other.fp
        self.ignored += other.ignored

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "recall": round(self.tp / self.gt, 4) if self.gt else None,
            "precision": round(self.tp / (self.tp + self.fp), 4) if self.tp + self.fp else None,
        }


def score_boxes(
    boxes: np.ndarray, must: np.ndarray, ignore: np.ndarray, dontcare: np.ndarray
) -> tuple[Counts, list[tuple[int, int]]]:
    """Score detections ``boxes`` (N x 4, in descending score) against objects that must be
    found, objects whose detection is neither right nor wrong (``ignore``, IoU >= 0.5; each
    takes one detection, as a must-find object does) and regions where detections do not
    count (``dontcare``: half the box inside; any number).

    Returns the counts and the (detection, must-find object) index pairs of the matches.
    """
    counts = Counts(gt=len(must))
    pairs: list[tuple[int, int]] = []
    iou_must = iou_matrix(boxes, must)
    iou_ign = iou_matrix(boxes, ignore)
    used = np.zeros(len(must), bool)
    used_ign = np.zeros(len(ignore), bool)
    for k in range(len(boxes)):
        if len(must):
            cand = np.where(used, -1.0, iou_must[k])
            j = int(np.argmax(cand))
            if cand[j] >= IOU_MATCH:
                used[j] = True
                counts.tp += 1
                pairs.append((k, j))
                continue
        if len(ignore):
            cand = np.where(used_ign, -1.0, iou_ign[k])
            j = int(np.argmax(cand))
            if cand[j] >= IOU_MATCH:
                used_ign[j] = True
                counts.ignored += 1
                continue
        if len(dontcare) and inside_fraction(boxes[k], dontcare).max() >= DONTCARE_INSIDE:
            counts.ignored += 1
            continue
        counts.fp += 1
    return counts, pairs


def score_image(
    dets: Detections,
    labels: Sequence[KittiObject],
    classes: Sequence[ObjectClass] | None = None,
    rule: ClassRule = RULES["car"],
) -> tuple[Counts, list[tuple[int, KittiObject]]]:
    """Counts of one KITTI image for one class ``rule`` (default: cars), and the (detection
    row, label) pairs of its true positives. ``classes`` replaces the rule's detection
    classes where given (cars scored on the car label alone)."""
    take = rule.detections if classes is None else classes
    sel = np.flatnonzero(np.isin(dets.class_id, [int(c) for c in take]))
    sel = sel[np.argsort(-dets.score[sel], kind="stable")]
    must, ignore, dontcare = rule.split(labels)
    counts, pairs = score_boxes(
        dets.xyxy[sel].astype(np.float64), boxes(must), boxes(ignore), boxes(dontcare)
    )
    return counts, [(int(sel[k]), must[j]) for k, j in pairs]


def inside_fraction(box: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Fraction of ``box``'s area (x1, y1, x2, y2, px) inside each region (N x 4)."""
    x1 = np.maximum(box[0], regions[:, 0])
    y1 = np.maximum(box[1], regions[:, 1])
    x2 = np.minimum(box[2], regions[:, 2])
    y2 = np.minimum(box[3], regions[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    return np.asarray(inter / area)


def detect_config(
    config: DetectConfig | None = None, *, model: str = "", tiles: int | None = None
) -> DetectConfig:
    """The detector configuration of an evaluation: ``config`` (default: the built-in
    defaults) with the model and tile count the command line names, where it names them."""
    cfg = config or DetectConfig()
    if model:
        cfg = dataclasses.replace(cfg, model=model)
    if tiles is not None:
        cfg = dataclasses.replace(cfg, tiles=tiles)
    return cfg


def detect_samples(
    detector: Detector,
    samples: Sequence[Sample],
    cameras: dict[tuple[Path, int, int], CameraModel] | None = None,
) -> Iterator[tuple[Sample, np.ndarray, Detections]]:
    """Each readable sample's image (BGR) and the product detector's output on it.

    The detector gets the sample's KITTI camera first (its horizon band depends on it);
    cameras are cached in ``cameras`` by (calib file, width, height). Unreadable images are
    skipped with a warning.
    """
    cams = {} if cameras is None else cameras
    for s in samples:
        img = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("skipping unreadable image %s", s.image)
            continue
        h, w = img.shape[:2]
        key = (s.calib, w, h)
        if key not in cams:
            cams[key] = kitti_camera(s.calib, w, h)
        detector.camera = cams[key]
        yield s, img, detector.detect(img)


def _range_vrus(
    camera: CameraModel,
    dets: Detections,
    pairs: dict[str, list[tuple[int, KittiObject]]],
    errors: dict[str, list[float]],
    config: DistanceConfig,
) -> None:
    """Relative distance errors of the matched pedestrians and cyclists of one frame (into
    ``errors``, by class key): ranged together with the frame's matched cars, as the
    pipeline ranges every track of a frame together."""
    rows = [r for key in ("cars", *errors) for r, _ in pairs.get(key, [])]
    if not any(pairs.get(k) for k in errors):
        return
    est = dict(zip(rows, range_rows(camera, dets, rows, config=config), strict=True))
    for key in errors:
        for r, o in pairs.get(key, []):
            truth = o.nearest_face_m
            errors[key].append((est[r] - truth) / truth if truth > 0 else float("nan"))


def _ms(ns: list[int]) -> dict[str, float | None]:
    if not ns:
        return {"median": None, "p90": None}
    a = np.asarray(ns) / 1e6
    return {"median": round(float(np.median(a)), 3), "p90": round(float(np.percentile(a, 90)), 3)}


def evaluate(
    root: str | Path | Sequence[str | Path],
    *,
    model: str = "",
    tiles: int | None = None,
    config: DetectConfig | None = None,
    repeats: int = 3,
    baseline: bool = True,
    distance: DistanceConfig | None = None,
    classes: Sequence[str] = tuple(RULES),
) -> dict[str, Any]:
    """Detect on every labelled image under ``root`` (one folder or several, pooled) and score
    each of ``classes`` (names of :data:`adas.evaluate.kitti_classes.RULES`); JSON-ready
    report. Found objects are ranged by a distance stage with ``distance`` (default: the
    shipped figures), each frame on its own."""
    roots = [root] if isinstance(root, str | Path) else list(root)
    samples = [s for r in roots for s in discover(r)]
    rules = [RULES[c] for c in dict.fromkeys(classes)]
    cars = RULES["car"] in rules
    cfg = detect_config(config, model=model, tiles=tiles)
    plain_cfg = dataclasses.replace(
        cfg, tiles=1, band_up_deg=90.0, band_down_deg=90.0, second_look_classes=()
    )
    t_start = time.perf_counter()
    cams: dict[tuple[Path, int, int], CameraModel] = {}
    detector = Detector(cfg)
    plain = Detector(plain_cfg) if baseline else None
    total = {r.key: Counts() for r in rules}
    total_plain = {r.key: Counts() for r in rules}
    total_car, total_moderate = Counts(), Counts()
    lat: dict[str, list[int]] = {
        "preprocess": [],
        "infer": [],
        "postprocess": [],
        "second_look": [],
        "plain_infer": [],
    }
    dist = DistanceScores(distance or DistanceConfig())
    vru_errors: dict[str, list[float]] = {r.key: [] for r in rules if r is not RULES["car"]}
    per_image = []
    layouts: dict[str, Any] = {}
    prep: PreparedInput | None = None
    plain_prep: PreparedInput | None = None
    for s, img, dets in detect_samples(detector, samples, cams):
        h, w = img.shape[:2]
        key = (s.calib, w, h)
        for _ in range(max(repeats, 1)):
            # Timing: the detector and the plain pass interleaved, so load hits both alike;
            # each reuses its input tensor as detect() does.
            prep = detector.prepare(img, out=prep.tensor if prep else None)
            _, took = detector.infer(prep)
            lat["preprocess"].append(took.preprocess_ns)
            lat["infer"].append(took.infer_ns)
            lat["postprocess"].append(took.postprocess_ns)
            lat["second_look"].append(took.second_look_ns)
            if plain is not None:
                plain_prep = plain.prepare(img, out=plain_prep.tensor if plain_prep else None)
                _, took = plain.infer(plain_prep)
                lat["plain_infer"].append(took.infer_ns)
        lay = detector.layout(w, h)
        layouts[f"{w}x{h}"] = {
            "tiles": [[t.x, t.y, t.w, t.h] for t in lay.tiles],
            "scale": round(lay.scale, 4),
        }
        row: dict[str, Any] = {"image": s.name}
        pairs: dict[str, list[tuple[int, KittiObject]]] = {}
        plain_dets = plain.detect(img) if plain is not None else None
        for r in rules:
            counts, pairs[r.key] = score_image(dets, s.labels, rule=r)
            total[r.key].add(counts)
            row[r.key] = counts.to_dict()
            if plain_dets is not None:
                total_plain[r.key].add(score_image(plain_dets, s.labels, rule=r)[0])
        if cars:
            total_car.add(score_image(dets, s.labels, (ObjectClass.CAR,))[0])
            total_moderate.add(score_image(dets, s.labels, rule=CARS_MODERATE)[0])
            must = RULES["car"].split(s.labels)[0]
            dist.add_frame(cams[key], dets, pairs["cars"], must)
        _range_vrus(cams[key], dets, pairs, vru_errors, dist.config)
        per_image.append(row)
    t_infer = np.median(lat["infer"]) if lat["infer"] else float("nan")
    t_plain = np.median(lat["plain_infer"]) if lat["plain_infer"] else float("nan")
    t_all = np.median(
        np.add(np.add(lat["preprocess"], lat["infer"]), lat["postprocess"])
        if lat["infer"]
        else [float("nan")]
    )
    blocks = {k: c.to_dict() for k, c in total.items()}
    for k, errs in vru_errors.items():
        blocks[k]["distance"] = error_stats(errs)
    car_keys: dict[str, Any] = {}
    if cars:
        blocks["cars"]["distance"] = error_stats(dist.matched)
        car_keys = {
            "cars_car_label_only": total_car.to_dict(),
            "cars_kitti_moderate": total_moderate.to_dict(),
            "distance": dist.to_dict(),
        }
    return {
        "dataset": [str(r) for r in roots] if len(roots) > 1 else str(roots[0]),
        "images": len(per_image),
        "model": detector.spec.name,
        "model_file": str(detector.session.path),
        "providers_used": detector.providers_used,
        "layout": layouts,
        "score_thresholds": dataclasses.asdict(cfg.scores),
        "classes": [r.key for r in rules],
        **blocks,
        **car_keys,
        "baseline_single_pass": (
            {k: c.to_dict() for k, c in total_plain.items()} if plain is not None else None
        ),
        "latency_ms": {k: _ms(v)["median"] for k, v in lat.items() if k != "plain_infer"},
        "latency_p90_ms": {k: _ms(v)["p90"] for k, v in lat.items() if k != "plain_infer"},
        "single_pass_infer_ms": _ms(lat["plain_infer"])["median"],
        "infer_ratio": round(float(t_infer / t_plain), 3) if plain is not None else None,
        "detector_total_ratio": round(float(t_all / t_plain), 3) if plain is not None else None,
        "timing_repeats": repeats,
        "per_image": per_image,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
