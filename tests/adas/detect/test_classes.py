"""COCO-80 -> ADAS class mapping (adas.detect.classes)."""

from __future__ import annotations

import numpy as np
import pytest

from adas.detect.classes import COCO80_NAMES, coco_to_adas, map_labels
from adas.errors import ContractError
from adas.types import ObjectClass


def test_coco_to_adas_mapping() -> None:
    assert len(COCO80_NAMES) == len(coco_to_adas) == 80
    want = {
        "person": ObjectClass.PEDESTRIAN,
        "bicycle": ObjectClass.BICYCLE,
        "car": ObjectClass.CAR,
        "motorcycle": ObjectClass.MOTORCYCLE,
        "bus": ObjectClass.BUS,
        "truck": ObjectClass.TRUCK,
        "train": ObjectClass.TRAIN,
    }
    for i, name in enumerate(COCO80_NAMES):
        assert coco_to_adas[i] == want.get(name, -1), name
    assert COCO80_NAMES[:8] == (
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"
    )  # fmt: skip
    assert COCO80_NAMES[-1] == "toothbrush"


def test_map_labels_keeps_only_adas_classes() -> None:
    class_id, keep = map_labels(np.array([2, 4, 0, -1, 80, 7]), coco_to_adas)
    np.testing.assert_array_equal(
        class_id, [ObjectClass.CAR, -1, ObjectClass.PEDESTRIAN, -1, -1, 5]
    )
    np.testing.assert_array_equal(keep, [True, False, True, False, False, True])
    assert class_id.dtype == np.int64
    empty_id, empty_keep = map_labels(np.zeros(0, np.int64), coco_to_adas)
    assert empty_id.shape == empty_keep.shape == (0,)
    with pytest.raises(ContractError, match="integer"):
        map_labels(np.array([2.0]), coco_to_adas)
