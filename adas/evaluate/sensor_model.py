"""``adas eval sensor-model``: the detector measured as a sensor, written as a sensor-model file.

The product's detector (the same path as ``adas eval kitti-object``: horizon band, tiles,
per-class score thresholds of ``data/config/default.toml``) runs on every labelled KITTI frame
under the roots; :mod:`adas.evaluate.sensor_stats` scores its boxes against the labels and
:mod:`adas.evaluate.sensor_sizes` takes the real spread of object sizes from every label
file. The result is ``data/sensor/<model>.json`` (format: docs/sensor-model.md), which the
scenario simulator draws its detections from.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adas.camera import CameraModel
from adas.detect.config import DetectConfig
from adas.detect.detector import Detector
from adas.detect.registry import sha256_of
from adas.errors import DataFormatError
from adas.evaluate.kitti_object import detect_samples, discover
from adas.evaluate.sensor_sizes import size_table
from adas.evaluate.sensor_stats import (
    EDGES,
    KITTI_TO_LABEL,
    SensorStats,
    match_frame,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SENSOR_DIR = Path(__file__).resolve().parents[2] / "data" / "sensor"
# The labelled real frames we have, relative to $ADAS_DATA_DIR (its README.md says what each is).
DEFAULT_ROOTS = ("kitti/object", "kitti/object_val", "kitti/tracking")


def default_roots(data_dir: str | Path) -> list[Path]:
    """The folders of :data:`DEFAULT_ROOTS` under ``data_dir`` that exist."""
    return [Path(data_dir) / r for r in DEFAULT_ROOTS if (Path(data_dir) / r).is_dir()]


def sensor_model_path(model_name: str) -> Path:
    """The project's sensor-model file of a model: ``data/sensor/<model name>.json``."""
    return SENSOR_DIR / f"{model_name}.json"


def source_name(root: Path, data_dir: str | Path | None) -> str:
    """``root`` relative to the data folder where it lies inside it (no machine's paths in a
    committed file), else as given."""
    if data_dir is not None:
        try:
            return root.resolve().relative_to(Path(data_dir).resolve()).as_posix()
        except ValueError:
            pass
    return str(root)


def measure(
    roots: Sequence[str | Path],
    *,
    config: DetectConfig | None = None,
    data_dir: str | Path | None = None,
    command: str = "",
    persistence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the detector on every labelled frame under ``roots`` and return the sensor-model
    document (JSON-ready). ``persistence`` is the optional ``class_persistence`` section."""
    t0 = time.perf_counter()
    detector = Detector(config or DetectConfig())
    stats = SensorStats()
    cams: dict[tuple[Path, int, int], CameraModel] = {}
    sources = []
    for root in map(Path, roots):
        samples = discover(root)
        frames = objects = 0
        for s, img, dets in detect_samples(detector, samples, cams):
            h, w = img.shape[:2]
            stats.add(match_frame(dets.xyxy, dets.class_id, dets.score, s.labels, (w, h)))
            frames += 1
            objects += sum(o.kind in KITTI_TO_LABEL for o in s.labels)
        sources.append({"root": source_name(root, data_dir), "frames": frames, "objects": objects})
        log.info("%s: %d frames, %d labelled objects", root, frames, objects)
    sizes, size_sources = size_table(roots)
    for src in size_sources:
        src["root"] = source_name(Path(src["root"]), data_dir)
    path = Path(detector.session.path)
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "model": {"name": detector.spec.name, "file": path.name, "sha256": sha256_of(path)},
        "created": datetime.date.today().isoformat(),
        "command": command,
        "sources": sources,
        **stats.summary(),
        "sizes": sizes,
        "size_sources": size_sources,
        "detector": {
            "providers_used": detector.providers_used,
            "tiles": detector.config.tiles,
            "score_thresholds": {
                k: float(v) for k, v in vars(detector.config.scores).items() if k != "other"
            },
        },
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if persistence is not None:
        doc["class_persistence"] = persistence
    check_sensor_model(doc)
    return doc


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def key_figures(doc: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a reader looks for first, and the summary lines printing them."""
    conf = doc["confusion"]
    counts = {
        lab: dict(zip(conf["detected"], row, strict=True))
        for lab, row in zip(conf["labels"], conf["counts"], strict=True)
    }

    def found(lab: str) -> int:
        return sum(v for k, v in counts[lab].items() if k != "missed")

    miss_n = sum(sum(r) for r in doc["miss"]["n"])
    miss_k = sum(
        round(rate * n)
        for rr, nr in zip(doc["miss"]["rate"], doc["miss"]["n"], strict=True)
        for rate, n in zip(rr, nr, strict=True)
        if rate is not None
    )
    bottom = doc["edges"]["bottom"]
    fig: dict[str, Any] = {
        "model": doc["model"]["name"],
        "frames": sum(s["frames"] for s in doc["sources"]),
        "labelled_objects": sum(s["objects"] for s in doc["sources"]),
        "vehicle_miss_rate": _rate(miss_k, miss_n),
        "vehicles_scored_for_miss": miss_n,
        "false_boxes_per_frame": doc["false_boxes"]["per_frame"],
        "false_boxes": len(doc["false_boxes"]["samples"]),
        "cars_found": found("car"),
        "class_flip": doc["class_flip"],
        "bottom_edge": {
            "height_bins_px": doc["height_bins_px"],
            "bias_px": bottom["bias_px"],
            "sigma_px": bottom["sigma_px"],
            "n": bottom["n"],
        },
        "size_car_mean_std_hwl": [doc["sizes"]["car"]["mean"], doc["sizes"]["car"]["std"]],
    }
    lines = [
        f"{fig['model']}: {fig['frames']} frames, {fig['labelled_objects']} labelled objects",
        f"vehicles missed: {fig['vehicle_miss_rate']} of {miss_n} (truncation < 0.3)",
        f"false vehicle boxes: {fig['false_boxes_per_frame']} per frame ({fig['false_boxes']})",
        "class flips (k/n, 95 % upper bound): "
        + "; ".join(
            f"{name} {v['k']}/{v['n']} (<= {v['upper95']})" for name, v in doc["class_flip"].items()
        ),
        "bottom edge bias / sigma px by height bin: "
        + ", ".join(
            f"{b}/{s} (n={n})"
            for b, s, n in zip(bottom["bias_px"], bottom["sigma_px"], bottom["n"], strict=True)
        ),
    ]
    pers = doc.get("class_persistence")
    if pers is not None:
        fig["class_persistence"] = {
            k: pers[k] for k in ("tracks", "switches", "switch_rate_per_frame", "mean_run_frames")
        }
        lines.append(
            f"class persistence: {pers['tracks']} tracks, {pers['switches']} switches in "
            f"{pers['frame_pairs']} frame pairs (rate <= {pers['switch_rate_upper95']} at 95 %)"
        )
    fig["lines"] = lines
    return fig


def _need(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        msg = f"sensor model: {where}{key} missing"
        raise DataFormatError(msg)
    value = doc[key]
    if not isinstance(value, kind):
        msg = f"sensor model: {where}{key} is {type(value).__name__}"
        raise DataFormatError(msg)
    return value


def check_sensor_model(doc: dict[str, Any]) -> None:
    """Raise DataFormatError unless ``doc`` has every key and shape of schema 1
    (docs/sensor-model.md); extra keys are allowed."""
    if _need(doc, "schema", int, "") != SCHEMA_VERSION:
        msg = f"sensor model: schema {doc['schema']} is not {SCHEMA_VERSION}"
        raise DataFormatError(msg)
    model = _need(doc, "model", dict, "")
    for k in ("name", "file", "sha256"):
        _need(model, k, str, "model.")
    _need(doc, "sources", list, "")
    _need(doc, "match_iou", float, "")
    _need(doc, "classes", list, "")
    bins = _need(doc, "height_bins_px", list, "")
    nb = len(bins) - 1
    edges = _need(doc, "edges", dict, "")
    for e in EDGES:
        table = _need(edges, e, dict, "edges.")
        for k in ("bias_px", "sigma_px", "bias_rel", "sigma_rel", "n"):
            if len(_need(table, k, list, f"edges.{e}.")) != nb:
                msg = f"sensor model: edges.{e}.{k} has not {nb} bins"
                raise DataFormatError(msg)
    miss = _need(doc, "miss", dict, "")
    levels = _need(miss, "occlusion_levels", list, "miss.")
    for k in ("rate", "n"):
        rows = _need(miss, k, list, "miss.")
        if len(rows) != len(levels) or any(len(r) != nb for r in rows):
            msg = f"sensor model: miss.{k} is not {len(levels)} x {nb}"
            raise DataFormatError(msg)
    fb = _need(doc, "false_boxes", dict, "")
    _need(fb, "per_frame", (float, int), "false_boxes.")
    _need(fb, "frames", int, "false_boxes.")
    for s in _need(fb, "samples", list, "false_boxes."):
        for k in ("x_rel", "y_rel", "w_px", "h_px", "score"):
            _need(s, k, (float, int), "false_boxes.samples[].")
        _need(s, "class", str, "false_boxes.samples[].")
    conf = _need(doc, "confusion", dict, "")
    labels = _need(conf, "labels", list, "confusion.")
    detected = _need(conf, "detected", list, "confusion.")
    counts = _need(conf, "counts", list, "confusion.")
    if len(counts) != len(labels) or any(len(r) != len(detected) for r in counts):
        msg = f"sensor model: confusion.counts is not {len(labels)} x {len(detected)}"
        raise DataFormatError(msg)
    scores = _need(doc, "scores", dict, "")
    for k in ("true", "false"):
        _need(_need(scores, k, dict, "scores."), "quantiles", list, f"scores.{k}.")
    sizes = _need(doc, "sizes", dict, "")
    for cls, table in sizes.items():
        if table.get("n"):
            for k in ("mean", "std", "min", "max"):
                if len(_need(table, k, list, f"sizes.{cls}.")) != 3:
                    msg = f"sensor model: sizes.{cls}.{k} is not (h, w, l)"
                    raise DataFormatError(msg)
            _need(table, "corr", list, f"sizes.{cls}.")
    if "class_persistence" in doc:
        _need(doc, "class_persistence", dict, "")


def write_sensor_model(doc: dict[str, Any], path: str | Path) -> None:
    """Check ``doc`` and write it as indented JSON (UTF-8)."""
    check_sensor_model(doc)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def load_sensor_model(path: str | Path) -> dict[str, Any]:
    """Read and check a sensor-model file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"cannot read sensor model {path}: {exc}"
        raise DataFormatError(msg) from exc
    if not isinstance(doc, dict):
        msg = f"sensor model {path}: not a JSON object"
        raise DataFormatError(msg)
    check_sensor_model(doc)
    return doc


__all__ = [
    "DEFAULT_ROOTS",
    "SCHEMA_VERSION",
    "SENSOR_DIR",
    "check_sensor_model",
    "default_roots",
    "key_figures",
    "load_sensor_model",
    "measure",
    "sensor_model_path",
    "source_name",
    "write_sensor_model",
]
