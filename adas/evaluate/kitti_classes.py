"""Per-class rules of ``adas eval kitti-object``: which KITTI labels a class must find, which
labels its detections may hit without being false, and which ADAS classes score as it.

KITTI's object benchmark (Geiger, Lenz, Urtasun, CVPR 2012; the devkit's
``evaluate_object.cpp``) evaluates each class on its own, at the "moderate" difficulty: a
label must be found when its box is at least 25 px high, its truncation below 0.3 and its
occlusion at most 1 (partly occluded); harder labels of the class are neither to be found nor
false when detected. A neighbouring class is ignored as well: Van for Car, Person_sitting for
Pedestrian; Cyclist has none. DontCare regions swallow detections. We score every class at
IoU 0.5 (KITTI uses 0.7 for cars; 0.5 is its pedestrian and cyclist threshold).

Per class:

* **cars**: ``Car`` labels, detections of car, truck, bus and van (COCO models call an SUV or
  a pickup a truck); Van and Truck labels ignored. No height floor: the stack ranges cars to
  60 m and beyond, where a car is under 25 px high, and every earlier car figure of this
  project was measured that way. ``cars_kitti_moderate`` adds the 25 px floor, for comparison
  with published KITTI figures.
* **pedestrians**: ``Pedestrian`` labels, ``PEDESTRIAN`` detections; Person_sitting ignored.
* **cyclists**: ``Cyclist`` labels (the rider and the bicycle in one box), detections of
  ``BICYCLE`` and ``MOTORCYCLE``: the detector's rider fusion (:mod:`adas.detect.riders`)
  makes a rider and the two-wheeler under them one box; a COCO model tells a bicycle from a
  motorcycle poorly at KITTI's sizes, and KITTI has no motorcycle class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adas.errors import ConfigError
from adas.sources.kitti import KittiObject
from adas.types import ObjectClass

MODERATE_MIN_HEIGHT_PX = 25.0  # KITTI devkit, MIN_HEIGHT of the moderate difficulty
MAX_TRUNCATION = 0.3  # must-find labels are less truncated than this
MAX_OCCLUSION = 1  # and at most partly occluded (KITTI occlusion 0, 1)


@dataclass(frozen=True)
class ClassRule:
    """How one class is scored: the KITTI types it must find, the types a detection of it may
    hit without being false, the ADAS classes that count as detections of it, and the
    smallest box height [px] that must be found."""

    key: str  # JSON key of its counts
    kinds: tuple[str, ...]
    neighbours: tuple[str, ...]
    detections: tuple[ObjectClass, ...]
    min_height_px: float

    def must_find(self, o: KittiObject) -> bool:
        return (
            o.kind in self.kinds
            and o.truncation < MAX_TRUNCATION
            and o.occlusion <= MAX_OCCLUSION
            and o.xyxy[3] - o.xyxy[1] >= self.min_height_px
        )

    def split(
        self, labels: Sequence[KittiObject]
    ) -> tuple[list[KittiObject], list[KittiObject], list[KittiObject]]:
        """The labels of one image as (must be found, ignored when hit, DontCare regions)."""
        must = [o for o in labels if self.must_find(o)]
        ignore = [
            o
            for o in labels
            if o.kind in self.neighbours or (o.kind in self.kinds and not self.must_find(o))
        ]
        return must, ignore, [o for o in labels if o.kind == "DontCare"]


VEHICLES = (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.VAN)
RULES: dict[str, ClassRule] = {
    "car": ClassRule("cars", ("Car",), ("Van", "Truck"), VEHICLES, 0.0),
    "pedestrian": ClassRule(
        "pedestrians",
        ("Pedestrian",),
        ("Person_sitting",),
        (ObjectClass.PEDESTRIAN,),
        MODERATE_MIN_HEIGHT_PX,
    ),
    "cyclist": ClassRule(
        "cyclists",
        ("Cyclist",),
        (),
        (ObjectClass.BICYCLE, ObjectClass.MOTORCYCLE),
        MODERATE_MIN_HEIGHT_PX,
    ),
}
CARS_MODERATE = ClassRule(
    "cars_kitti_moderate", ("Car",), ("Van", "Truck"), VEHICLES, MODERATE_MIN_HEIGHT_PX
)


def parse_classes(text: str) -> tuple[str, ...]:
    """``car,pedestrian,cyclist`` -> the class names in that order; ConfigError naming the
    allowed ones for anything else (or an empty list)."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in RULES]
    if bad or not names:
        msg = f"--classes {text!r}: allowed {', '.join(RULES)} (comma-separated)"
        raise ConfigError(msg)
    return names


def boxes(objs: Sequence[KittiObject]) -> np.ndarray:
    """Label boxes as an N x 4 float array (x1, y1, x2, y2)."""
    return np.array([o.xyxy for o in objs], np.float64).reshape(-1, 4)
