"""What the detector's false cars and missed cars are, box by box, on KITTI object folders.

SYNOPSIS
    ADAS_DATA_DIR=../shared/data python tools/detect_audit.py \
        $ADAS_DATA_DIR/kitti/object $ADAS_DATA_DIR/kitti/object_val [--config TOML] [--rows]
    -> {"kitti/object": {"fp": {"duplicate": 1, "part of a car": 2, ...},
                         "fn": {"below threshold": 1, ...}}, ...}

Runs the shipped detector (data/config/default.toml, or --config) and scores cars as
``adas eval kitti-object`` does (adas/evaluate/kitti_classes.py). Each false car box (a car,
truck, bus or van detection that is neither a true positive nor ignored) is put in the first
class that fits:

* ``duplicate``: IoU >= 0.5 with a vehicle label another (higher-scoring) box took;
* ``two cars``: at least half of each of two vehicle labels (Car, Van, Truck) inside it;
* ``part of a car``: >= 80 % of it inside a vehicle label and under 70 % of its area;
* ``too big``: >= 80 % of a vehicle label inside it and over 1.4 times its area;
* ``misplaced``: IoU 0.1-0.5 with a vehicle label otherwise;
* ``other label``: IoU >= 0.1 with, or half inside, a Pedestrian, Cyclist, Tram, Misc or
  Person_sitting label;
* ``DontCare edge``: overlaps a DontCare region, but less than half inside;
* ``unlabelled``: touches no label (roadside objects, or a car nobody labelled).

``seam`` marks boxes with an edge on a tile's inner edge (the merge's rule). Each missed
must-find car: ``taken by a neighbour`` (a final box at IoU >= 0.5 matched an overlapping car
better), ``merged away`` (a first-pass box at IoU >= 0.5 the seam merge dropped or changed),
``NMS`` (kept by the merge, not by NMS or the nested-box rule), ``below threshold`` (a
vehicle box at IoU >= 0.5 between 0.1 and the class threshold), ``misplaced`` (best box IoU
0.3-0.5), else ``not seen``; with its height, occlusion and truncation, and whether the plain
pass found it. Reads the data folder; writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import adas.detect.detector as detector_module
from adas.detect.config import DetectConfig
from adas.detect.detector import Detector
from adas.detect.tiling import iou
from adas.evaluate.kitti_classes import RULES, VEHICLES, boxes
from adas.evaluate.kitti_object import detect_samples, discover, inside_fraction, score_boxes
from adas.types import Detections

VEHICLE_LABELS = ("Car", "Van", "Truck")
OTHER_LABELS = ("Pedestrian", "Cyclist", "Tram", "Misc", "Person_sitting")
LOW_FLOOR = 0.1


class MergeSpy:
    """Records what the seam merge got and kept on the last frame."""

    def __init__(self) -> None:
        self.original = detector_module.merge_tiles
        self.last: dict[str, np.ndarray] = {}

    def __call__(
        self, layout: Any, xyxy: np.ndarray, score: np.ndarray, *args: Any, **kw: Any
    ) -> np.ndarray:
        before = xyxy.copy()
        keep = self.original(layout, xyxy, score, *args, **kw)
        cls = args[0]
        self.last = {"before": before, "after": xyxy.copy(), "keep": keep, "cls": cls.copy()}
        return keep


def vehicles(dets: Detections) -> tuple[np.ndarray, np.ndarray]:
    sel = np.flatnonzero(np.isin(dets.class_id, [int(c) for c in VEHICLES]))
    sel = sel[np.argsort(-dets.score[sel], kind="stable")]
    return dets.xyxy[sel].astype(np.float64), dets.score[sel]


def is_cut(box: np.ndarray, layout: Any, tol: float) -> bool:
    """Whether an edge of ``box`` lies on an inner tile edge (any tile)."""
    w = layout.image_wh[0]
    for t in layout.tiles:
        if t.x > 0 and abs(box[0] - t.x) <= tol:
            return True
        if t.x + t.w < w and abs(box[2] - (t.x + t.w - 1)) <= tol + 1:
            return True
    return False


def classify_fp(b: np.ndarray, labels: list[Any]) -> str:
    veh = [o for o in labels if o.kind in VEHICLE_LABELS]
    vb = boxes(veh)
    if len(vb) and iou(b[None], vb).max() >= 0.5:
        return "duplicate"  # a false box at IoU >= 0.5 with a vehicle label: it was taken
    if len(vb):
        ov = iou(b[None], vb)[0]
        det_in = inside_fraction(b, vb)  # of the detection inside each label
        lab_in = np.array([inside_fraction(v, b[None])[0] for v in vb])  # label inside det
        area_b = (b[2] - b[0]) * (b[3] - b[1])
        area_v = (vb[:, 2] - vb[:, 0]) * (vb[:, 3] - vb[:, 1])
        j = int(np.argmax(ov))
        if (lab_in >= 0.5).sum() >= 2:
            return "two cars"
        part = (det_in >= 0.8) & (area_b < 0.7 * area_v)
        if part.any():
            return f"part of a {veh[int(np.argmax(np.where(part, ov, -1)))].kind}"
        big = (lab_in >= 0.8) & (area_b > 1.4 * area_v)
        if big.any():
            return f"too big ({veh[int(np.argmax(np.where(big, ov, -1)))].kind})"
        if ov[j] >= 0.1:
            return f"misplaced ({veh[j].kind})"
    oth = [o for o in labels if o.kind in OTHER_LABELS]
    ob = boxes(oth)
    if len(ob):
        ov = iou(b[None], ob)[0]
        hit = (ov >= 0.1) | (inside_fraction(b, ob) >= 0.5)
        if hit.any():
            return f"other label ({oth[int(np.argmax(np.where(hit, ov, -1)))].kind})"
    dc = boxes([o for o in labels if o.kind == "DontCare"])
    if len(dc) and inside_fraction(b, dc).max() > 0:
        return "DontCare edge"
    return "unlabelled"


def false_rows(xyxy: np.ndarray, matched: set[int], ign: np.ndarray, dc: np.ndarray) -> list[int]:
    """The unmatched rows the evaluator counts false: each ignored label takes one box (as
    in adas.evaluate.kitti_object.score_boxes), DontCare regions any number."""
    used = np.zeros(len(ign), bool)
    out = []
    for k in range(len(xyxy)):
        if k in matched:
            continue
        if len(ign):
            cand = np.where(used, -1.0, iou(xyxy[k : k + 1], ign)[0])
            if cand.max() >= 0.5:
                used[int(np.argmax(cand))] = True
                continue
        if len(dc) and inside_fraction(xyxy[k], dc).max() >= 0.5:
            continue
        out.append(k)
    return out


def audit(root: Path, cfg: DetectConfig, spy: MergeSpy) -> dict[str, Any]:
    samples = discover(root)
    det = Detector(cfg)
    low_scores = dataclasses.replace(
        cfg.scores, car=LOW_FLOOR, truck=LOW_FLOOR, bus=LOW_FLOOR, van=LOW_FLOOR
    )
    low = Detector(dataclasses.replace(cfg, scores=low_scores))
    plain = Detector(
        dataclasses.replace(
            cfg, tiles=1, band_up_deg=90.0, band_down_deg=90.0, second_look_classes=()
        )
    )
    rule = RULES["car"]
    fps: list[dict[str, Any]] = []
    fns: list[dict[str, Any]] = []
    for s, img, dets in detect_samples(det, samples):
        merged = spy.last
        layout = det.layout(img.shape[1], img.shape[0])
        low.camera = det.camera
        low_dets = low.detect(img)
        plain_dets = plain.detect(img)
        must, ignore, dontcare = rule.split(s.labels)
        mb = boxes(must)
        xyxy, score = vehicles(dets)
        _, pairs = score_boxes(xyxy, mb, boxes(ignore), boxes(dontcare))
        matched = {k for k, _ in pairs}
        found = {j for _, j in pairs}
        ign = boxes(ignore)
        dc = boxes(dontcare)
        for k in false_rows(xyxy, matched, ign, dc):
            b = xyxy[k]
            fps.append(
                {
                    "image": s.name,
                    "box": [round(float(v)) for v in b],
                    "score": round(float(score[k]), 2),
                    "kind": classify_fp(b, list(s.labels)),
                    "seam": is_cut(b, layout, cfg.seam_edge_tol_px + 1),
                }
            )
        pxy, _ = vehicles(plain_dets)
        plain_found = {j for _, j in score_boxes(pxy, mb, ign, dc)[1]}
        lxy, lsc = vehicles(low_dets)
        veh_ids = [int(c) for c in VEHICLES]
        for j, o in enumerate(must):
            if j in found:
                continue
            g = mb[j : j + 1]
            why = "not seen"
            best = float(iou(g, xyxy).max()) if len(xyxy) else 0.0
            if best >= 0.5:
                why = "taken by a neighbour"  # its box matched an overlapping car better
            elif merged:
                v = np.isin(merged["cls"], veh_ids)
                before = merged["before"][v]
                after_ok = merged["after"][v][merged["keep"][v]]
                if len(before) and iou(g, before).max() >= 0.5:
                    why = (
                        "NMS" if len(after_ok) and iou(g, after_ok).max() >= 0.5 else "merged away"
                    )
            if why == "not seen" and len(lxy):
                lo = iou(g, lxy)[0]
                if lo.max() >= 0.5:
                    why = f"below threshold ({lsc[int(np.argmax(lo))]:.2f})"
            if why == "not seen" and best >= 0.3:
                why = f"misplaced (IoU {best:.2f})"
            fns.append(
                {
                    "image": s.name,
                    "box": [round(v) for v in o.xyxy],
                    "height": round(o.xyxy[3] - o.xyxy[1]),
                    "occlusion": o.occlusion,
                    "truncation": round(o.truncation, 2),
                    "why": why,
                    "plain_found": j in plain_found,
                }
            )

    def family(text: str) -> str:
        return text.split(" (")[0]

    return {
        "fp": dict(Counter(family(f["kind"]) for f in fps).most_common()),
        "fp_on_seam": sum(f["seam"] for f in fps),
        "fn": dict(Counter(family(f["why"]) for f in fns).most_common()),
        "fp_rows": fps,
        "fn_rows": fns,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="KITTI object folders")
    ap.add_argument("--config", help="TOML overriding data/config/default.toml")
    ap.add_argument("--rows", action="store_true", help="list every false and missed box")
    args = ap.parse_args()
    cfg = DetectConfig()
    if args.config:
        from adas.config import load_config

        cfg = load_config(args.config).detect
    spy = MergeSpy()
    detector_module.merge_tiles = spy
    report = {}
    for root in args.roots:
        rep = audit(root, cfg, spy)
        if not args.rows:
            rep = {k: v for k, v in rep.items() if not k.endswith("_rows")}
        report[f"{root.parent.name}/{root.name}"] = rep
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
