"""Configuration of the detector stage (light: no ONNX Runtime or numba imports).

Defaults and their sources: ``data/config/default.toml`` section ``[detect]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adas.errors import ConfigError
from adas.params import param, validate
from adas.types import ObjectClass


@dataclass(frozen=True)
class ClassScores:
    """Minimum detector score per ADAS class (an output below it is dropped)."""

    pedestrian: float = param(0.4, lo=0.0, hi=1.0)
    bicycle: float = param(0.35, lo=0.0, hi=1.0)
    car: float = param(0.4, lo=0.0, hi=1.0)
    motorcycle: float = param(0.35, lo=0.0, hi=1.0)
    bus: float = param(0.4, lo=0.0, hi=1.0)
    truck: float = param(0.4, lo=0.0, hi=1.0)
    van: float = param(0.4, lo=0.0, hi=1.0)
    train: float = param(0.5, lo=0.0, hi=1.0)
    other: float = param(1.0, lo=0.0, hi=1.0)

    def table(self) -> np.ndarray:
        return np.array([getattr(self, c.name.lower()) for c in ObjectClass], np.float32)


@dataclass(frozen=True)
class DetectConfig:
    """Parameters of the detector stage. Defaults and their sources: data/config/default.toml."""

    model: str = ""  # registry name or path; "" = the registry default
    model_card: str = ""  # card path (adas.detect.cards); "" = the card beside the model, if any
    providers: tuple[str, ...] = ("tensorrt", "cuda", "cpu")
    require_first_provider: bool = False
    intra_op_threads: int = param(0, lo=0, hi=256)
    inter_op_threads: int = param(0, lo=0, hi=256)
    io_binding: bool = True
    preprocess_backend: str = "opencv"
    scores: ClassScores = ClassScores()
    nms_iou: float = param(0.45, lo=0.05, hi=0.95)
    max_detections: int = param(300, lo=1, hi=10000)
    # One vehicle, one box (adas.detect.nms): NMS treats these classes as one (a COCO model
    # boxes one SUV as car and truck), and drops a box of them with nested_fraction of its
    # area inside a higher-scoring one (a part of a vehicle; > 1: off).
    vehicle_classes: tuple[str, ...] = ("car", "bus", "truck", "van")
    nested_fraction: float = param(0.5, lo=0.0, hi=1.01)
    tiles: int = param(0, lo=0, hi=8)
    max_tiles: int = param(3, lo=1, hi=8)
    tile_overlap: float = param(0.12, lo=0.0, hi=0.45)
    tile_gap_px: int = param(8, lo=0, hi=64, unit="px")
    # Seam merging (adas.detect.tiling.merge_tiles): a box edge this close to a tile's inner
    # edge [image px] is cut by it; a cut box this much (area fraction) inside a whole box of
    # another tile is a part of that box.
    seam_edge_tol_px: float = param(2.0, lo=0.0, hi=50.0, unit="px")
    seam_cover_fraction: float = param(0.6, lo=0.0, hi=1.0)
    band_up_deg: float = param(8.0, lo=0.0, hi=90.0, unit="deg")
    band_down_deg: float = param(90.0, lo=0.0, hi=90.0, unit="deg")
    min_box_px: float = param(2.0, lo=0.0, hi=100.0, unit="px")
    # The second look (adas.detect.second_look) and the rider fusion (adas.detect.riders).
    second_look_classes: tuple[str, ...] = ("pedestrian", "bicycle", "motorcycle")
    second_look_min_score: float = param(0.15, lo=0.0, hi=1.0)
    second_look_accept_score: float = param(0.8, lo=0.0, hi=1.0)
    second_look_crop: float = param(2.0, lo=1.0, hi=8.0)
    second_look_iou: float = param(0.5, lo=0.05, hi=0.95)
    second_look_grid: int = param(2, lo=1, hi=4)
    second_look_min_zoom: float = param(1.5, lo=1.0, hi=10.0)
    second_look_max_crops: int = param(8, lo=0, hi=64)

    def __post_init__(self) -> None:
        validate(self, "detect")
        if self.preprocess_backend not in ("reference", "opencv", "fpga"):
            msg = (
                f"config detect.preprocess_backend = {self.preprocess_backend!r}; allowed "
                "'reference', 'opencv', 'fpga'"
            )
            raise ConfigError(msg)
        names = [c.name.lower() for c in ObjectClass]
        for key in ("second_look_classes", "vehicle_classes"):
            bad = [c for c in getattr(self, key) if c not in names]
            if bad:
                msg = f"config detect.{key} has {bad}; allowed {names}"
                raise ConfigError(msg)
