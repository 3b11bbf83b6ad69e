"""Which KITTI labels count for which scored class of ``adas eval kitti-tracking`` (``adas eval
kitti-object`` has its own rules, KITTI object's: :mod:`adas.evaluate.kitti_classes`).

KITTI's rules (Geiger et al., CVPR 2012; the object devkit's ``cleanData``): a class is scored
on its own labels; a *neighbouring* label (for pedestrians, ``Person_sitting``) is neither to
be found nor a false positive when found, and ``DontCare`` regions count for no class. A KITTI
``Cyclist`` box holds the rider and the bicycle, the ADAS class ``BICYCLE`` (a bicycle with or
without its rider). The car class keeps this evaluation's vehicle set (Car, Van, Truck: all
ranged by the chain) as it always had. Every scored class uses the same filters: truncation 0
and occlusion <= 1 (``ScoredClass.is_scored``); a label of the class outside them is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from adas.sources.kitti import KittiObject
from adas.types import ObjectClass

__all__ = ["CLASSES", "MAX_OCCLUSION", "ScoredClass", "label_counts", "parse_classes"]

MAX_OCCLUSION = 1  # KITTI occlusion 0 (fully visible) or 1 (partly occluded)


@dataclass(frozen=True)
class ScoredClass:
    """One scored class: its command-line name, JSON key, KITTI labels and ADAS classes."""

    name: str  # as given to --classes
    key: str  # the report's block
    kinds: tuple[str, ...]  # KITTI labels of the class
    ignored_kinds: tuple[str, ...]  # neighbouring labels: never a miss, never a false positive
    object_classes: tuple[ObjectClass, ...]  # ADAS classes whose tracks belong to it

    def is_scored(self, obj: KittiObject) -> bool:
        """A label of the class, fully inside the image (truncation 0), at most partly
        occluded: its distance, TTC and track are scored."""
        return obj.kind in self.kinds and obj.truncation == 0 and obj.occlusion <= MAX_OCCLUSION

    def is_ignored(self, obj: KittiObject) -> bool:
        """A label that takes no part: the class's labels outside the filters and the
        neighbouring labels."""
        mine = obj.kind in self.kinds
        return obj.kind in self.ignored_kinds or (mine and not self.is_scored(obj))


CLASSES: dict[str, ScoredClass] = {
    c.name: c
    for c in (
        ScoredClass(
            "car", "cars", ("Car", "Van", "Truck"), (),
            (ObjectClass.CAR, ObjectClass.VAN, ObjectClass.TRUCK),
        ),
        ScoredClass(
            "pedestrian", "pedestrians", ("Pedestrian",), ("Person_sitting",),
            (ObjectClass.PEDESTRIAN,),
        ),
        ScoredClass("cyclist", "cyclists", ("Cyclist",), (), (ObjectClass.BICYCLE,)),
    )
}  # fmt: skip


def parse_classes(text: str) -> tuple[ScoredClass, ...]:
    """``"pedestrian,cyclist"`` -> the classes in the order given, without repeats.
    ValueError naming the known classes for an unknown or empty list."""
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in CLASSES]
    if not names or unknown:
        msg = f"unknown class(es) {unknown or [text]}: choose from {', '.join(CLASSES)}"
        raise ValueError(msg)
    return tuple(CLASSES[n] for n in dict.fromkeys(names))


def label_counts(objects: Iterable[KittiObject], cls: ScoredClass) -> dict[str, int]:
    """How many labels of ``objects`` the class scores and ignores (the rest are not its)."""
    scored = ignored = 0
    for o in objects:
        scored += cls.is_scored(o)
        ignored += cls.is_ignored(o)
    return {"scored": scored, "ignored": ignored}
