"""COCO-80 class names and the mapping of detector labels onto ADAS object classes.

COCO-trained detectors (YOLOX, NanoDet, FastestDet, YOLOv5/v8) number the 80 detection
classes 0..79 in the order below (the contiguous index, not the sparse COCO category id 1..90).
Only the road users the ADAS stack tracks are kept; everything else maps to -1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from adas.errors import ContractError
from adas.types import ObjectClass

COCO80_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

COCO_ADAS_CLASSES: dict[str, ObjectClass] = {
    "person": ObjectClass.PEDESTRIAN,
    "bicycle": ObjectClass.BICYCLE,
    "car": ObjectClass.CAR,
    "motorcycle": ObjectClass.MOTORCYCLE,
    "bus": ObjectClass.BUS,
    "truck": ObjectClass.TRUCK,  # COCO "truck" includes pickups and vans
    "train": ObjectClass.TRAIN,  # trams too
}


def _table(names: tuple[str, ...], mapping: dict[str, ObjectClass]) -> npt.NDArray[np.int64]:
    table = np.full(len(names), -1, np.int64)
    for name, cls in mapping.items():
        table[names.index(name)] = int(cls)
    table.flags.writeable = False  # module-wide constant
    return table


coco_to_adas: npt.NDArray[np.int64] = _table(COCO80_NAMES, COCO_ADAS_CLASSES)
"""ADAS class (``ObjectClass`` value) of each COCO-80 label, -1 where it is no ADAS class."""


def map_labels(
    labels: npt.ArrayLike, table: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """ADAS class of each detector label through ``table``, and the mask of labels to keep.

    Labels outside the table (negative, or beyond its length) get -1 and are not kept, like
    classes the table maps to -1; ``class_id[keep]`` are then valid ``ObjectClass`` values.
    """
    lab = np.asarray(labels)
    if lab.ndim != 1 or not (np.issubdtype(lab.dtype, np.integer) or lab.size == 0):
        msg = f"labels must be a 1-D integer array, got {lab.dtype} of shape {lab.shape}"
        raise ContractError(msg)
    lab = lab.astype(np.int64, copy=False)
    inside = (lab >= 0) & (lab < len(table))
    class_id = np.full(lab.shape, -1, np.int64)
    class_id[inside] = table[lab[inside]]
    return class_id, class_id >= 0


# Class names of other label sets (KITTI, BDD100K, Cityscapes, nuScenes-style exports) onto
# ADAS classes, after lower-casing and turning '_' and '-' into spaces. A KITTI "Cyclist" box
# is rider and bicycle together, which is what BICYCLE means here; a BDD100K "rider" is the
# person on a two-wheeler, mapped to PEDESTRIAN so the rider fusion (adas.detect.riders) joins
# it with the "bike"/"motor" under it. Names not listed are no ADAS class (-1).
NAME_ADAS_CLASSES: dict[str, ObjectClass] = {
    **COCO_ADAS_CLASSES,
    "pedestrian": ObjectClass.PEDESTRIAN,
    "people": ObjectClass.PEDESTRIAN,
    "walker": ObjectClass.PEDESTRIAN,
    "person sitting": ObjectClass.PEDESTRIAN,
    "rider": ObjectClass.PEDESTRIAN,
    "child": ObjectClass.PEDESTRIAN,
    "bike": ObjectClass.BICYCLE,
    "cyclist": ObjectClass.BICYCLE,
    "motor": ObjectClass.MOTORCYCLE,
    "motorbike": ObjectClass.MOTORCYCLE,
    "motorcyclist": ObjectClass.MOTORCYCLE,
    "van": ObjectClass.VAN,
    "tram": ObjectClass.TRAIN,
}


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def names_to_adas(names: tuple[str, ...] | list[str]) -> npt.NDArray[np.int64]:
    """ADAS class of each of a model's class names (its label order), -1 for no ADAS class."""
    norm = tuple(_norm(n) for n in names)
    table = np.array([int(NAME_ADAS_CLASSES.get(n, -1)) for n in norm], np.int64)
    table.flags.writeable = False
    return table


def label_table(classes: str | tuple[str, ...]) -> npt.NDArray[np.int64]:
    """The label -> ADAS class table of a model spec's ``classes`` (a set name or names)."""
    if isinstance(classes, str):
        if classes != "coco80":
            msg = f"unknown class set {classes!r}; known: ['coco80'] or a list of names"
            raise ContractError(msg)
        return coco_to_adas
    return names_to_adas(classes)


RIDDEN_NAMES = ("cyclist", "motorcyclist")  # a two-wheeler boxed with its rider (KITTI)


def ridden_classes(classes: str | tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """Per ADAS class id: True where every model label of that class names a two-wheeler
    boxed with its rider (KITTI's ``Cyclist``), so a box of it is a cyclist with or without a
    separate person on it. COCO's bicycle and motorcycle are boxed alone: all False."""
    out = np.zeros(len(ObjectClass), bool)
    if isinstance(classes, str):
        return out
    table = names_to_adas(classes)
    norm = [_norm(n) for n in classes]
    for c in set(table.tolist()) - {-1}:
        labels = [i for i in range(len(norm)) if table[i] == c]
        out[c] = all(norm[i] in RIDDEN_NAMES for i in labels)
    return out
