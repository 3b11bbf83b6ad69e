"""A rider and the bicycle or motorcycle under them are one road user, in one box.

A COCO detector boxes a cyclist as two objects: a ``person`` (the rider) and a ``bicycle``
(or ``motorcycle``) below them. Tracked apart, the rider would be ranged and judged as a
pedestrian (walking speed, a pedestrian's size) and the bicycle as a second object; KITTI, the
protocols and every road user's physics treat the two as one. :func:`fuse_riders` replaces
each rider-vehicle pair with one box, their union (KITTI's ``Cyclist`` box: rider and
bicycle together), of the vehicle's class and the higher of the two scores.

**The rule** (image geometry only, relative to the boxes' own sizes, so it holds at any
range and image size). A person ``P`` rides a two-wheeler ``B`` when

1. *centred*: P's centre column lies in the middle half of B, or within a quarter of P's
   width of B's centre when P is the wider (a two-wheeler seen from behind is narrower than
   its rider): ``|cx_P - cx_B| <= 0.25 max(w_B, w_P)``. A rider sits between the wheels,
   saddle to handlebar; a pedestrian *beside* a parked bicycle stands off its middle;
2. *on it, not in front of it*: P's bottom edge (the rider's lower foot) lies in the lowest
   30 % of B and at most a tenth of B's height below B's bottom:
   ``y1_B + 0.7 h_B <= y2_P <= y2_B + 0.1 h_B``. A rider's feet are on the pedals or pegs,
   and the lower pedal passes 0.1-0.3 m above the road (a 170 mm crank on a bottom bracket
   about 0.27 m high) on a bicycle about 1.05 m high with its handlebars; on the shared
   frames the riders' feet sat at 0.79-1.0 of the vehicle box's height from its top. A person
   seated or standing behind a parked bicycle ends higher (0.56 on ``object_val/000015``); a
   pedestrian in front of a bicycle (nearer the camera) ends below its wheels;
3. *above it*: P's top edge is at least a quarter of P's height above B's top edge, or B
   holds all of P (at least 90 % of P's area inside B: seen from behind, a motorcycle's box
   often includes its rider). A rider's head and shoulders rise above the handlebars: the
   bars are 1.0-1.1 m above the road, the rider's head 1.6-1.8 m (KITTI's Cyclist height
   prior is 1.74 m), so B's top lies 0.35-0.45 of P's height below P's top (0.35, 0.38, 0.41,
   0.46 on the shared frames). A detector also puts low-score "bicycles" on a walking
   pedestrian's legs; their tops sat 0.13-0.2 of the person's height below the head there, and
   this condition keeps the pedestrian a pedestrian.

Each person and each vehicle joins at most one pair: people in descending score each take the
free vehicle of highest score that meets the rule (the best centred among equals), so a
faint second person box cannot take a rider's bicycle, and of a bicycle box and a weaker
motorcycle box on the same wheels the bicycle gives the class.

Measured on the shared KITTI frames (``kitti/object`` and ``kitti/object_val``): the five
rider-vehicle pairs the detector found there meet all three conditions with the centre offset
at most 0.05 of the width (condition 1 allows 0.25) and the rider's bottom 0-21 % of the
vehicle's height above its bottom. What single-frame geometry cannot tell: a pedestrian
exactly in line with a parked bicycle's middle, at its depth or just behind it, looks like its
rider; that pedestrian is boxed as a cyclist for the frames it lines up (the class's height
prior, 1.74 m against 1.76 m, ranges both alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adas.types import IntArray, ObjectClass

TWO_WHEELERS = (int(ObjectClass.BICYCLE), int(ObjectClass.MOTORCYCLE))


@dataclass(frozen=True)
class RiderRule:
    """The three conditions' tolerances, as fractions of the boxes' own sizes (the module
    docstring derives them)."""

    centre_frac: float = 0.25  # |cx_P - cx_B| <= centre_frac * max(w_B, w_P)
    bottom_low_frac: float = 0.7  # y2_P >= y1_B + bottom_low_frac * h_B
    bottom_below_frac: float = 0.1  # y2_P <= y2_B + bottom_below_frac * h_B
    top_gap_frac: float = 0.25  # y1_B - y1_P >= top_gap_frac * h_P, or:
    inside_frac: float = 0.9  # at least this fraction of P's area inside B


def rider_pairs(
    xyxy: np.ndarray, score: np.ndarray, class_id: IntArray, rule: RiderRule = RiderRule()
) -> list[tuple[int, int]]:
    """(person row, two-wheeler row) of every rider and the vehicle they ride; rows with a
    non-finite box take no part."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    cls = np.asarray(class_id)
    finite = np.isfinite(b).all(axis=1)
    people = np.flatnonzero((cls == int(ObjectClass.PEDESTRIAN)) & finite)
    wheels = np.flatnonzero(np.isin(cls, TWO_WHEELERS) & finite)
    if not people.size or not wheels.size:
        return []
    people = people[np.argsort(-np.asarray(score)[people], kind="stable")]
    p, v = b[people][:, None, :], b[wheels][None, :, :]
    w_p, w_v = p[..., 2] - p[..., 0], v[..., 2] - v[..., 0]
    h_p, h_v = p[..., 3] - p[..., 1], v[..., 3] - v[..., 1]
    dx = np.abs(0.5 * (p[..., 0] + p[..., 2]) - 0.5 * (v[..., 0] + v[..., 2]))
    width = np.maximum(np.maximum(w_v, w_p), 1e-9)
    iw = np.clip(np.minimum(p[..., 2], v[..., 2]) - np.maximum(p[..., 0], v[..., 0]), 0, None)
    ih = np.clip(np.minimum(p[..., 3], v[..., 3]) - np.maximum(p[..., 1], v[..., 1]), 0, None)
    inside = iw * ih / np.maximum(w_p * h_p, 1e-9)
    ok = (
        (dx <= rule.centre_frac * width)
        & (p[..., 3] >= v[..., 1] + rule.bottom_low_frac * h_v)
        & (p[..., 3] <= v[..., 3] + rule.bottom_below_frac * h_v)
        & ((v[..., 1] - p[..., 1] >= rule.top_gap_frac * h_p) | (inside >= rule.inside_frac))
    )
    # Lexicographic: the vehicle's score first, then the centring (both in [0, 1)).
    sv = np.asarray(score, np.float64)[wheels][None, :]
    cost = np.where(ok, -np.round(sv, 3) + 1e-4 * np.minimum(dx / width, 1.0), np.inf)
    pairs: list[tuple[int, int]] = []
    for i in range(len(people)):
        j = int(np.argmin(cost[i]))
        if np.isfinite(cost[i, j]):
            pairs.append((int(people[i]), int(wheels[j])))
            cost[:, j] = np.inf
    return pairs


def fuse_riders(
    xyxy: np.ndarray,
    score: np.ndarray,
    class_id: IntArray,
    thresholds: np.ndarray,
    partner_only: np.ndarray | None = None,
    rule: RiderRule = RiderRule(),
    ridden: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, IntArray]:
    """Candidates -> detections: every rider and the two-wheeler they ride made one box (the
    union, the vehicle's class, the higher score), then each class's score threshold
    (``thresholds``, indexed by class).

    Riders are people with a score above 0 (the second look sets a rejected candidate to 0);
    partners are two-wheelers at or above their class's threshold (detections in their own
    right). Rows flagged ``partner_only`` (two-wheelers only the second look saw, on a crop)
    serve as partners and are dropped otherwise. A two-wheeler nobody rides (parked, or its
    rider not found) is no cyclist: the cyclist's size prior (1.74 m with the rider) would
    range a 1.1 m bicycle 60 % too far; it leaves as ``OTHER``, ranged from its ground
    contact alone. Classes flagged in ``ridden`` (per class id) are boxed with their rider by
    the model itself (a KITTI-trained model's ``Cyclist``: :func:`adas.detect.classes.
    ridden_classes`): a box of theirs with no person on it is still a cyclist.
    """
    thr = np.asarray(thresholds)
    cls = np.asarray(class_id, np.int64)
    wheel = (cls == TWO_WHEELERS[0]) | (cls == TWO_WHEELERS[1])  # np.isin, cheaper
    if not wheel.any():
        # No two-wheeler: no pair, no fused box, no class to change; only the thresholds
        # (and the partner-only rows) remain, on the same arrays.
        sc = np.asarray(score, np.float32)
        keep = sc >= thr[cls]
        if partner_only is not None:
            keep &= ~np.asarray(partner_only, bool)
        return np.asarray(xyxy, np.float32).reshape(-1, 4)[keep], sc[keep], cls[keep]
    out = np.array(xyxy, np.float32, copy=True).reshape(-1, 4)
    sc = np.array(score, np.float32, copy=True)
    cls = cls.copy()
    extra = np.zeros(len(out), bool) if partner_only is None else np.asarray(partner_only, bool)
    alive = np.where(wheel, sc >= thr[cls], sc > 0.0)
    fused = np.zeros(len(out), bool)
    rider = np.zeros(len(out), bool)
    boxes = np.where(alive[:, None], out, np.nan)
    for i, j in rider_pairs(boxes, sc, cls, rule):
        out[j, :2] = np.minimum(out[i, :2], out[j, :2])
        out[j, 2:] = np.maximum(out[i, 2:], out[j, 2:])
        sc[j] = max(sc[i], sc[j])
        fused[j], rider[i] = True, True
    keep = ~rider & (fused | ~extra) & (sc >= thr[cls])
    own = np.zeros(len(cls), bool) if ridden is None else np.asarray(ridden, bool)[cls]
    cls[wheel & ~fused & ~own] = int(ObjectClass.OTHER)
    return out[keep], sc[keep], cls[keep]
