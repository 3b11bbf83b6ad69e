"""The detector end to end on real frames: Udacity stills (hand-annotated cars) and all models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.detect.config import DetectConfig
from adas.detect.detector import DetectLatency, Detector
from adas.errors import ContractError
from adas.evaluate.kitti_object import Counts, score_boxes
from adas.types import ObjectClass, PixelFormat

LABELS = Path(__file__).resolve().parents[2] / "data" / "udacity_test_images_cars.json"
VEHICLES = [int(c) for c in (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.VAN)]

pytestmark = pytest.mark.data


@pytest.fixture(autouse=True)
def _models(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAS_DATA_DIR", str(data_dir))


def _score_udacity(det: Detector, data_dir: Path) -> Counts:
    table = json.loads(LABELS.read_text())["images"]
    total = Counts()
    for name, lab in table.items():
        img = cv2.imread(str(data_dir / "video" / "udacity" / "test_images" / name))
        assert img is not None and img.shape == (720, 1280, 3)
        d = det.detect(img)
        assert np.isfinite(d.xyxy).all() and (d.xyxy[:, 2:] > d.xyxy[:, :2]).all()
        assert (d.xyxy >= 0).all() and (d.xyxy[:, 2] <= 1280).all() and (d.xyxy[:, 3] <= 720).all()
        sel = np.flatnonzero(np.isin(d.class_id, VEHICLES))
        sel = sel[np.argsort(-d.score[sel])]
        counts, _ = score_boxes(
            d.xyxy[sel].astype(float),
            np.array(lab["must"], float).reshape(-1, 4),
            np.array(lab["optional"], float).reshape(-1, 4),
            np.zeros((0, 4)),
        )
        total.add(counts)
    return total


def test_yolox_finds_the_udacity_cars(data_dir: Path) -> None:
    det = Detector(DetectConfig(providers=("cpu",)))
    c = _score_udacity(det, data_dir).to_dict()
    assert c["gt"] == 9
    assert c["recall"] >= 0.85 and c["precision"] >= 0.8, c


@pytest.mark.parametrize("model", ["nanodet_m_320", "fastestdet"])
def test_other_models_find_the_near_udacity_cars(data_dir: Path, model: str) -> None:
    det = Detector(DetectConfig(model=model, providers=("cpu",)))
    c = _score_udacity(det, data_dir).to_dict()
    # Smaller, older models: a floor that still proves decoding and geometry are right.
    assert c["recall"] >= 0.5 and c["precision"] >= 0.5, c


def test_bad_images_are_rejected_with_a_reason(data_dir: Path) -> None:
    det = Detector(DetectConfig(model="fastestdet", providers=("cpu",)))
    with pytest.raises(ContractError, match="uint8"):
        det.detect(np.zeros((375, 1242, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="uint8"):
        det.detect("frame.png")  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="PixelFormat"):  # the enum, not its value
        det.detect(np.zeros((375, 1242, 3), np.uint8), "bgr8")  # type: ignore[arg-type]


def test_infer_returns_the_detections_with_their_latencies(data_dir: Path) -> None:
    img = cv2.imread(str(data_dir / "video" / "udacity" / "test_images" / "test1.jpg"))
    det = Detector(DetectConfig(providers=("cpu",)))
    prepared = det.prepare(img, PixelFormat.BGR8)
    dets, took = det.infer(prepared)
    assert isinstance(took, DetectLatency) and not hasattr(det, "latency")
    assert took.preprocess_ns == prepared.preprocess_ns > 0
    assert took.infer_ns > 0 and took.postprocess_ns > 0
    again = det.detect(img)  # the one-shot call: the same boxes
    np.testing.assert_array_equal(again.xyxy, dets.xyxy)
    np.testing.assert_array_equal(again.class_id, dets.class_id)


def test_yuyv_and_bgr_frames_give_the_same_cars(data_dir: Path) -> None:
    img = cv2.imread(str(data_dir / "video" / "udacity" / "test_images" / "test1.jpg"))
    det = Detector(DetectConfig(providers=("cpu",)))
    # The same picture as a camera would send it: BT.601 limited range, 4:2:2 packed YUYV.
    b, g, r = (img[:, :, i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    yuyv = np.empty((720, 1280, 2), np.uint8)
    yuyv[:, :, 0] = np.clip(np.rint(y), 0, 255)
    yuyv[:, 0::2, 1] = np.clip(np.rint(0.5 * (u[:, 0::2] + u[:, 1::2])), 0, 255)
    yuyv[:, 1::2, 1] = np.clip(np.rint(0.5 * (v[:, 0::2] + v[:, 1::2])), 0, 255)
    a = det.detect(img)
    b = det.detect(yuyv, PixelFormat.YUYV)
    cars_a = a.xyxy[a.class_id == int(ObjectClass.CAR)]
    cars_b = b.xyxy[b.class_id == int(ObjectClass.CAR)]
    assert len(cars_a) >= 2 and len(cars_b) >= 2
    from adas.track import iou_matrix

    best = iou_matrix(cars_a.astype(float), cars_b.astype(float)).max(axis=1)
    assert (np.sort(best)[-2:] > 0.8).all()  # the two near cars, in both formats


@pytest.mark.parametrize("file", ["FastestDet.onnx", "nanodet_m_320.onnx"])
def test_a_model_outside_the_registry_gets_its_familys_preprocessing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    """An unregistered file (a user's own export) is identified from its outputs and fed its
    family's standard preprocessing: it finds what the registered entry finds."""
    import adas.detect.detector as detector_module

    path = data_dir / "models" / file
    registered = Detector(DetectConfig(model=str(path), providers=("cpu",)))
    monkeypatch.setattr(detector_module, "resolve_model", lambda model: (path, None))
    det = Detector(DetectConfig(model=str(path), providers=("cpu",)))
    assert det.spec.family == registered.spec.family and det.spec.name == path.stem
    for key in ("channel_order", "resize", "mean", "std"):
        assert getattr(det.spec, key) == getattr(registered.spec, key), key
        assert det.spec.origin[key].startswith("family default"), det.spec.origin[key]
    assert det.spec.origin["family"] == "output shapes (identify_family)"
    img = cv2.imread(str(data_dir / "video" / "udacity" / "test_images" / "test1.jpg"))
    a, b = registered.detect(img), det.detect(img)
    ok = b.score >= registered.spec.min_score  # the registry's floor is not a family default
    np.testing.assert_allclose(b.xyxy[ok], a.xyxy, atol=1e-3)
    assert len(a) >= 2
