"""The second look: crop geometry, packing, re-scoring (exact), and on real KITTI frames that
it removes a road sign the first pass called a person and keeps the pedestrians."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.detect.config import DetectConfig
from adas.detect.second_look import crop_roi, plan_cells, rescore
from adas.evaluate.kitti_tracking import kitti_camera
from adas.track import iou_matrix
from adas.types import ObjectClass

PED, CAR = int(ObjectClass.PEDESTRIAN), int(ObjectClass.CAR)


def test_a_crop_is_a_square_around_the_box_moved_inside_the_image() -> None:
    # 20 x 50 box centred at (110, 225): a 100 px square, even x and width.
    assert crop_roi(np.array([100.0, 200.0, 120.0, 250.0]), (1242, 375), 2.0) == (60, 175, 100, 100)
    # Near the left and bottom borders: moved inside, same size.
    assert crop_roi(np.array([0.0, 330.0, 10.0, 370.0]), (1242, 375), 2.0) == (0, 295, 80, 80)
    # Larger than the image: cut to it.
    assert crop_roi(np.array([0.0, 0.0, 600.0, 300.0]), (640, 360), 2.0) == (0, 0, 640, 360)
    # An odd x is rounded down to even (YUYV pairs pixels).
    x, _, w, _ = crop_roi(np.array([101.0, 200.0, 121.0, 230.0]), (1242, 375), 2.0)
    assert x % 2 == 0 and w % 2 == 0


def test_crops_are_packed_grid_by_grid_one_model_run_each() -> None:
    boxes = np.array([[100.0 + 30 * i, 200.0, 120.0 + 30 * i, 250.0] for i in range(5)])
    passes = plan_cells(boxes, (1242, 375), (416, 416), 2.0, 2)
    assert [len(p) for p in passes] == [4, 1]
    assert [(c.slot_x, c.slot_y, c.side) for c in passes[0]] == [
        (0, 0, 208), (208, 0, 208), (0, 208, 208), (208, 208, 208),
    ]  # fmt: skip
    assert (passes[1][0].slot_x, passes[1][0].slot_y) == (0, 0)
    assert plan_cells(boxes[:0], (1242, 375), (416, 416), 2.0, 2) == []
    assert [len(p) for p in plan_cells(boxes, (1242, 375), (416, 416), 2.0, 3)] == [5]


def test_rescore_takes_the_best_same_class_second_box_at_the_match_iou() -> None:
    first = np.array([[100, 100, 120, 150], [300, 100, 320, 150], [500, 100, 520, 150]], np.float32)
    cls = np.array([PED, PED, CAR])
    second = (
        np.array([[101, 99, 121, 151], [100, 100, 120, 150], [301, 100, 321, 150],
                  [500, 100, 520, 150]], np.float32),
        np.array([0.6, 0.9, 0.7, 0.95], np.float32),
        np.array([PED, CAR, PED, PED]),
    )  # fmt: skip
    boxes, scores = rescore(first, cls, np.array([0, 1, 2]), second, 0.5)
    # Row 0: the car box does not count, the person box (IoU 0.82) does.
    np.testing.assert_array_equal(boxes[0], second[0][0])
    # Row 1: its own box; row 2 (a car) has no car box in the second pass: 0.
    np.testing.assert_array_equal(boxes[1], second[0][2])
    assert scores.tolist() == pytest.approx([0.6, 0.7, 0.0])
    np.testing.assert_array_equal(boxes[2], first[2])
    # Nothing in the second pass: every looked-at row drops to 0.
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    assert rescore(first, cls, np.array([0, 2]), empty, 0.5)[1].tolist() == [0.0, 0.0]


@pytest.mark.data
def test_on_kitti_the_second_look_drops_a_road_sign_and_keeps_the_pedestrians(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """object_val/000017: a keep-right sign on a post the first pass calls a person (0.53);
    object/000000 and object_val/000043: pedestrians 8-12 m away that must stay."""
    from adas.detect.detector import Detector

    monkeypatch.setenv("ADAS_DATA_DIR", str(data_dir))
    root = data_dir / "kitti"
    on = Detector(DetectConfig())
    off = Detector(dataclasses.replace(DetectConfig(), second_look_classes=()))
    sign = np.array([[968.0, 175.0, 990.0, 221.0]])
    people = {
        "object/image_2/000000.png": [[712.0, 143.0, 811.0, 308.0]],
        "object_val/image_2/000043.png": [[472.0, 175.0, 502.0, 266.0],
                                          [441.0, 170.0, 473.0, 268.0]],
    }  # fmt: skip

    def persons(det: Detector, rel: str) -> np.ndarray:
        img = cv2.imread(str(root / rel))
        assert img is not None
        calib = root / rel.split("/")[0] / "calib" / (Path(rel).stem + ".txt")
        det.use_camera(kitti_camera(calib, img.shape[1], img.shape[0]))
        d = det.detect(img)
        return d.xyxy[d.class_id == PED].astype(np.float64).reshape(-1, 4)

    def hits(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
        return iou_matrix(truth, found).max(axis=1) if len(found) else np.zeros(len(truth))

    assert hits(persons(off, "object_val/image_2/000017.png"), sign)[0] >= 0.5
    assert hits(persons(on, "object_val/image_2/000017.png"), sign)[0] < 0.3
    for rel, truth in people.items():
        assert (hits(persons(on, rel), np.array(truth)) >= 0.5).all(), rel


@pytest.mark.data
def test_the_second_look_crops_every_pixel_format(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same KITTI frame as a YUYV, Bayer RGGB and grey camera would send it: the second
    look runs on each (it crops the raw frame through the same preprocessing) and, in colour,
    drops the keep-right sign as on BGR."""
    from adas.detect.detector import Detector
    from adas.types import PixelFormat

    monkeypatch.setenv("ADAS_DATA_DIR", str(data_dir))
    img = cv2.imread(str(data_dir / "kitti" / "object_val" / "image_2" / "000017.png"))
    assert img is not None
    h, w = img.shape[:2]
    b, g, r = (img[:, :, i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    yuyv = np.empty((h, w, 2), np.uint8)
    yuyv[:, :, 0] = np.clip(np.rint(y), 0, 255)
    yuyv[:, 0::2, 1] = np.clip(np.rint(0.5 * (u[:, 0::2] + u[:, 1::2])), 0, 255)
    yuyv[:, 1::2, 1] = np.clip(np.rint(0.5 * (v[:, 0::2] + v[:, 1::2])), 0, 255)
    bayer = np.empty((h, w), np.uint8)  # RGGB
    bayer[0::2, 0::2], bayer[0::2, 1::2] = img[0::2, 0::2, 2], img[0::2, 1::2, 1]
    bayer[1::2, 0::2], bayer[1::2, 1::2] = img[1::2, 0::2, 1], img[1::2, 1::2, 0]
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    sign = np.array([[968.0, 175.0, 990.0, 221.0]])
    det = Detector(DetectConfig())
    det.use_camera(kitti_camera(data_dir / "kitti" / "object_val" / "calib" / "000017.txt", w, h))
    for frame, fmt in ((yuyv, PixelFormat.YUYV), (bayer, PixelFormat.BAYER_RGGB8),
                       (grey, PixelFormat.GRAY8)):  # fmt: skip
        dets, took = det.infer(det.prepare(frame, fmt))
        assert took.second_look_ns > 0, fmt
        assert det.second_look_failures == 0, fmt
        if fmt is not PixelFormat.GRAY8:
            people = dets.xyxy[dets.class_id == PED].astype(np.float64).reshape(-1, 4)
            assert len(people) == 0 or iou_matrix(sign, people).max() < 0.3, fmt


@pytest.mark.data
def test_a_failing_second_look_keeps_the_first_pass_and_counts(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adas.detect.detector as detector_module
    from adas.errors import ConfigError

    monkeypatch.setenv("ADAS_DATA_DIR", str(data_dir))
    img = cv2.imread(str(data_dir / "kitti" / "object_val" / "image_2" / "000017.png"))
    assert img is not None
    det = detector_module.Detector(DetectConfig())
    off = detector_module.Detector(dataclasses.replace(DetectConfig(), second_look_classes=()))

    def refuse(*_args: object) -> None:
        raise ConfigError("roi refused")

    monkeypatch.setattr(detector_module, "second_look", refuse)
    a, b = det.detect(img), off.detect(img)
    assert det.second_look_failures == 1
    # The first pass as it is, each class at its own threshold: as without a second look.
    np.testing.assert_array_equal(a.class_id, b.class_id)
    np.testing.assert_allclose(a.xyxy, b.xyxy)
