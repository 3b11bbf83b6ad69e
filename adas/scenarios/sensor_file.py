"""The measured sensor-model file (``data/sensor/<model>.json``): read, check, interpolate.

``adas eval sensor-model`` writes the file from a detector run on labelled KITTI frames; the
scenario simulator draws its detections from it (:mod:`adas.scenarios.measured_camera`). Every
figure is at the KITTI image scale (1242 x 375, fx 721.5 px, the simulated camera's focal
length). A malformed file raises :class:`adas.errors.DataFormatError` naming the file, the key
and what was expected. The schema is described in docs/sensor-simulation.md.

Bins: box-height bins ``[e0, e1), [e1, e2), ...``; a bin stands for its midpoint, the last,
open one (upper edge >= 1e6 px or inf) for 1.5 x its lower edge, and values are interpolated
linearly between those heights and held beyond them (:func:`interp_bins`). A bin with fewer
than ``MIN_BIN_SAMPLES`` samples takes the value of the nearest bin that has enough.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import DataFormatError
from adas.types import FloatArray, ObjectClass

__all__ = [
    "DEFAULT_SENSOR_FILE", "EDGES", "MIN_BIN_SAMPLES", "ClassFlips", "SensorFile", "SizeModel",
    "edge_noise_law", "interp_bins", "load_sensor_file",
]  # fmt: skip

DEFAULT_SENSOR_FILE = Path(__file__).resolve().parents[2] / "data" / "sensor" / "yolox_nano.json"
EDGES = ("left", "top", "right", "bottom")
MIN_BIN_SAMPLES = 5  # fewer matched pairs than this say nothing about a bin's spread
OPEN_BIN_EDGE_PX = 1e6
OPEN_BIN_FACTOR = 1.5  # the open last bin [a, inf) stands for 1.5 a (150 px for a = 100 px)
# KITTI 3D-object / tracking label and detector class names -> our classes ("missed" is not one).
CLASS_NAMES = {
    "car": ObjectClass.CAR, "van": ObjectClass.VAN, "truck": ObjectClass.TRUCK,
    "bus": ObjectClass.BUS, "pedestrian": ObjectClass.PEDESTRIAN, "person": ObjectClass.PEDESTRIAN,
    "cyclist": ObjectClass.BICYCLE, "bicycle": ObjectClass.BICYCLE,
    "motorcycle": ObjectClass.MOTORCYCLE, "tram": ObjectClass.TRAIN, "train": ObjectClass.TRAIN,
    "other": ObjectClass.OTHER, "misc": ObjectClass.OTHER,
}  # fmt: skip


@dataclass(frozen=True)
class SizeModel:
    """Real 3D size spread of one class (KITTI labels): height, width, length in metres."""

    mean: FloatArray
    std: FloatArray
    lo: FloatArray
    hi: FloatArray
    corr: FloatArray  # 3 x 3
    n: int

    def draw(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """One size from the normal of this mean, spread and correlation, clipped to [lo, hi]."""
        z = rng.standard_normal(3)
        x = np.clip(self.mean + self.std * (self.chol @ z), self.lo, self.hi)
        return float(x[0]), float(x[1]), float(x[2])

    @property
    def chol(self) -> FloatArray:
        """Cholesky factor of ``corr`` (made positive definite by clipping eigenvalues)."""
        w, v = np.linalg.eigh(0.5 * (self.corr + self.corr.T))
        c = (v * np.maximum(w, 1e-9)) @ v.T
        d = np.sqrt(np.diag(c))
        return np.linalg.cholesky(c / np.outer(d, d))


@dataclass(frozen=True)
class ClassFlips:
    """What one true class is called when detected: the probability of another class and,
    given a flip, the distribution over the other classes (rows of the confusion matrix)."""

    flip_prob: float
    to_class: tuple[int, ...]
    to_prob: FloatArray


@dataclass(frozen=True)
class SensorFile:
    """The measured figures the simulator uses (see the module docstring for the bins)."""

    path: str
    model: str
    bin_edges_px: FloatArray
    bin_heights_px: FloatArray  # the height each bin stands for
    edge_bias_rel: FloatArray  # 4 x bins (left, top, right, bottom), detected - true / height
    edge_sigma_rel: FloatArray  # 4 x bins, robust spread / height
    edge_n: FloatArray  # bins: matched pairs behind each bin's edge figures (mean of the edges)
    occlusion_levels: tuple[int, ...]
    miss_rate: FloatArray  # occlusion levels x bins
    false_per_frame: float
    false_boxes: FloatArray  # K x 4: x_rel, y_rel (centre / image size), w_px, h_px
    false_class: tuple[int, ...]
    false_score: FloatArray
    flips: dict[int, ClassFlips]
    mean_run_frames: float | None  # class persistence on video; None = not measured
    score_quantiles: FloatArray  # q05, q25, q50, q75, q95 of true detections
    sizes: dict[int, SizeModel]


def interp_bins(h_px: FloatArray | float, heights: FloatArray, values: FloatArray) -> FloatArray:
    """``values`` (one per bin, last axis) at box heights ``h_px``: linear between the bins'
    heights, held beyond the first and last."""
    h = np.asarray(h_px, np.float64)
    v = np.asarray(values, np.float64)
    if v.ndim == 1:
        return np.interp(h, heights, v)
    return np.stack([np.interp(h, heights, row) for row in v])


def edge_noise_law(f: SensorFile) -> tuple[float, float]:
    """(floor_px, var_per_px) of the chain's box noise ``sqrt(floor^2 + var_per_px h)``
    (adas.priors.box_edge_sigma) for this detector: a weighted least-squares fit of the edge
    variance (the four edges' mean of ``(sigma_rel h)^2`` at each bin's height ``h``) on ``h``,
    weights the matched pairs per bin; the floor at least a pixel's quantisation noise
    (1/sqrt(12) px), the growth >= 0, both rounded to 3 significant digits (the shipped
    [distance] / [motion] figures are this fit of yolox_nano's file)."""
    h = np.asarray(f.bin_heights_px, np.float64)
    var = np.mean((np.asarray(f.edge_sigma_rel) * h) ** 2, axis=0)
    w = np.sqrt(np.maximum(np.asarray(f.edge_n, np.float64), 0.0))
    ok = np.isfinite(var) & (w > 0)
    if np.count_nonzero(ok) < 2:
        raise _fail(f.path, "edges", "need two height bins with matched pairs for the noise law")
    design = np.stack([np.ones(np.count_nonzero(ok)), h[ok]], 1) * w[ok, None]
    (a2, b), *_ = np.linalg.lstsq(design, var[ok] * w[ok], rcond=None)
    if b < 0.0:  # spread falling with height: a constant, the weighted mean variance
        a2, b = float(np.average(var[ok], weights=w[ok] ** 2)), 0.0
    floor = max(math.sqrt(max(a2, 0.0)), 1.0 / math.sqrt(12.0))
    return float(f"{floor:.3g}"), float(f"{b:.3g}")


def _fail(path: str, key: str, what: str) -> DataFormatError:
    return DataFormatError(f"sensor file {path}: {key}: {what}")


def _get(path: str, table: dict[str, Any], key: str, prefix: str = "") -> Any:
    if not isinstance(table, dict) or key not in table:
        raise _fail(path, prefix + key, "missing")
    return table[key]


def _numbers(path: str, key: str, value: Any, shape: tuple[int, ...] | None = None) -> FloatArray:
    """A float array of ``value`` (null -> NaN), of ``shape`` when given."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _fail(path, key, f"expected numbers, got {value!r:.80}") from exc
    if shape is not None and arr.shape != shape:
        raise _fail(path, key, f"expected shape {shape}, got {arr.shape}")
    return arr


def _filled(path: str, key: str, values: FloatArray, counts: FloatArray) -> FloatArray:
    """Values of bins with too few samples replaced by the nearest bin with enough."""
    ok = (counts >= MIN_BIN_SAMPLES) & np.isfinite(values)
    if not ok.any():
        raise _fail(path, key, f"no bin has {MIN_BIN_SAMPLES} or more samples")
    good = np.flatnonzero(ok)
    nearest = good[np.abs(np.arange(values.size)[:, None] - good[None]).argmin(1)]
    return values[nearest]


def _class(path: str, key: str, name: Any) -> int:
    if name not in CLASS_NAMES:
        raise _fail(path, key, f"unknown class {name!r}; known: {sorted(CLASS_NAMES)}")
    return int(CLASS_NAMES[name])


def _bins(path: str, doc: dict[str, Any]) -> tuple[FloatArray, FloatArray]:
    edges = _numbers(path, "height_bins_px", _get(path, doc, "height_bins_px"))
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0) or edges[0] < 0:
        raise _fail(path, "height_bins_px", "expected >= 2 increasing bin edges >= 0 px")
    lo, hi = edges[:-1], edges[1:]
    heights = np.where(hi >= OPEN_BIN_EDGE_PX, OPEN_BIN_FACTOR * lo, 0.5 * (lo + hi))
    return edges, heights


def _edges(path: str, doc: dict[str, Any], nb: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    table = _get(path, doc, "edges")
    bias, sigma, count = np.empty((4, nb)), np.empty((4, nb)), np.empty((4, nb))
    for i, name in enumerate(EDGES):
        e = _get(path, table, name, "edges.")
        key = f"edges.{name}"
        n = _numbers(path, key + ".n", _get(path, e, "n", key + "."), (nb,))
        b = _numbers(path, key + ".bias_rel", _get(path, e, "bias_rel", key + "."), (nb,))
        s = _numbers(path, key + ".sigma_rel", _get(path, e, "sigma_rel", key + "."), (nb,))
        if np.any(s[np.isfinite(s)] < 0) or np.any(np.abs(b[np.isfinite(b)]) > 1.0):
            raise _fail(path, key, "sigma_rel must be >= 0 and |bias_rel| <= 1 (box heights)")
        bias[i], sigma[i] = _filled(path, key, b, n), _filled(path, key, s, n)
        count[i] = np.nan_to_num(n, nan=0.0)
    return bias, sigma, count.mean(axis=0)


def _miss(path: str, doc: dict[str, Any], nb: int) -> tuple[tuple[int, ...], FloatArray]:
    table = _get(path, doc, "miss")
    levels = _get(path, table, "occlusion_levels", "miss.")
    if not isinstance(levels, list) or levels != list(range(len(levels))) or not levels:
        raise _fail(path, "miss.occlusion_levels", f"expected [0, 1, ...], got {levels!r}")
    shape = (len(levels), nb)
    rate = _numbers(path, "miss.rate", _get(path, table, "rate", "miss."), shape)
    n = _numbers(path, "miss.n", _get(path, table, "n", "miss."), shape)
    finite = rate[np.isfinite(rate)]
    if np.any((finite < 0) | (finite > 1)):
        raise _fail(path, "miss.rate", "rates must lie in [0, 1]")
    out = np.empty(shape)
    for k in range(len(levels)):
        enough = (n[k] >= MIN_BIN_SAMPLES) & np.isfinite(rate[k])
        if enough.any():
            out[k] = _filled(path, f"miss.rate[{k}]", rate[k], n[k])
        elif k == 0:
            raise _fail(path, "miss.rate[0]", f"no bin has {MIN_BIN_SAMPLES} or more samples")
        else:  # no data at this occlusion level: at least as often missed as the level below
            out[k] = out[k - 1]
    return tuple(levels), out


def _false(path: str, doc: dict[str, Any]) -> tuple[float, FloatArray, tuple[int, ...], FloatArray]:
    table = _get(path, doc, "false_boxes")
    rate = _get(path, table, "per_frame", "false_boxes.")
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0:
        raise _fail(path, "false_boxes.per_frame", f"expected a rate >= 0, got {rate!r}")
    samples = _get(path, table, "samples", "false_boxes.")
    if not isinstance(samples, list) or (rate > 0 and not samples):
        raise _fail(path, "false_boxes.samples", "expected a list (not empty when per_frame > 0)")
    boxes, classes, scores = np.empty((len(samples), 4)), [], np.empty(len(samples))
    for i, smp in enumerate(samples):
        key = f"false_boxes.samples[{i}]"
        row = [_get(path, smp, k, key + ".") for k in ("x_rel", "y_rel", "w_px", "h_px", "score")]
        vals = _numbers(path, key, row, (5,))
        if not np.isfinite(vals).all() or vals[2] <= 0 or vals[3] <= 0 or not 0 < vals[4] <= 1:
            raise _fail(
                path, key, "expected finite x_rel, y_rel, w_px > 0, h_px > 0, score in (0, 1]"
            )
        boxes[i], scores[i] = vals[:4], vals[4]
        classes.append(_class(path, key + ".class", _get(path, smp, "class", key + ".")))
    return float(rate), boxes, tuple(classes), scores


def _flips(path: str, doc: dict[str, Any]) -> dict[int, ClassFlips]:
    table = _get(path, doc, "confusion")
    labels = _get(path, table, "labels", "confusion.")
    detected = _get(path, table, "detected", "confusion.")
    if not isinstance(labels, list) or not isinstance(detected, list):
        raise _fail(path, "confusion", "labels and detected must be lists of class names")
    counts = _numbers(path, "confusion.counts", _get(path, table, "counts", "confusion."),
                      (len(labels), len(detected)))  # fmt: skip
    if not np.isfinite(counts).all() or np.any(counts < 0):
        raise _fail(path, "confusion.counts", "counts must be finite and >= 0")
    det_cls = [-1 if d == "missed" else _class(path, "confusion.detected", d) for d in detected]
    out: dict[int, ClassFlips] = {}
    for i, name in enumerate(labels):
        own = _class(path, "confusion.labels", name)
        row: dict[int, float] = {}
        for c, n in zip(det_cls, counts[i], strict=True):
            if c >= 0:
                row[c] = row.get(c, 0.0) + float(n)
        total = sum(row.values())
        if total <= 0:
            continue  # never detected: no flip statistics for this class
        others = {c: n for c, n in row.items() if c != own and n > 0}
        flip = sum(others.values()) / total
        probs = np.array(list(others.values())) / max(sum(others.values()), 1e-300)
        out[own] = ClassFlips(flip, tuple(others), probs)
    return out


def _sizes(path: str, doc: dict[str, Any]) -> dict[int, SizeModel]:
    table = _get(path, doc, "sizes")
    if not isinstance(table, dict):
        raise _fail(path, "sizes", "expected a table of classes")
    out = {}
    for name, s in table.items():
        key = f"sizes.{name}"
        arr = {k: _numbers(path, f"{key}.{k}", _get(path, s, k, key + "."), (3,))
               for k in ("mean", "std", "min", "max")}  # fmt: skip
        corr = _numbers(path, key + ".corr", _get(path, s, "corr", key + "."), (3, 3))
        n = _get(path, s, "n", key + ".")
        good = all(np.isfinite(a).all() for a in (*arr.values(), corr))
        if not good or np.any(arr["std"] < 0) or np.any(arr["min"] > arr["max"]):
            raise _fail(path, key, "expected finite mean, std >= 0, min <= max, corr")
        if np.any(np.abs(corr) > 1.0 + 1e-9) or not np.allclose(np.diag(corr), 1.0):
            raise _fail(path, key + ".corr", "expected a correlation matrix (unit diagonal)")
        if not isinstance(n, int) or n < 2:
            raise _fail(path, key + ".n", f"expected a sample count >= 2, got {n!r}")
        out[_class(path, key, name)] = SizeModel(
            arr["mean"], arr["std"], arr["min"], arr["max"], corr, n
        )
    return out


def _scores(path: str, doc: dict[str, Any]) -> FloatArray:
    table = _get(path, doc, "scores")
    true = _get(path, table, "true", "scores.")
    q = _numbers(path, "scores.true.quantiles", _get(path, true, "quantiles", "scores.true."),
                 (5,))  # fmt: skip
    if not np.isfinite(q).all() or np.any(np.diff(q) < 0) or q[0] <= 0 or q[-1] > 1:
        raise _fail(path, "scores.true.quantiles", "expected 5 rising scores in (0, 1]")
    return q


def _persistence(path: str, doc: dict[str, Any]) -> float | None:
    table = doc.get("class_persistence")
    if table is None:
        return None
    m = _get(path, table, "mean_run_frames", "class_persistence.")
    if m is None:  # no class switch seen on the video: the run length is not measured
        return None
    if not isinstance(m, int | float) or not math.isfinite(m) or m < 1:
        raise _fail(path, "class_persistence.mean_run_frames", f"expected >= 1, got {m!r}")
    return float(m)


def load_sensor_file(path: str | Path) -> SensorFile:
    """Read and check a sensor-model file; DataFormatError names what is wrong."""
    p = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        msg = (
            f"no sensor-model file at {p}: write one with `adas eval sensor-model` or use the "
            "idealised sensor (sensor='ideal')"
        )
        raise DataFormatError(msg) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(p, "file", f"not readable JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise _fail(p, "schema", f"expected 1, got {got!r}")
    model = _get(p, doc, "model")
    name = model.get("name", "?") if isinstance(model, dict) else str(model)
    edges, heights = _bins(p, doc)
    nb = heights.size
    bias, sigma, count = _edges(p, doc, nb)
    levels, miss = _miss(p, doc, nb)
    per_frame, boxes, classes, fscores = _false(p, doc)
    return SensorFile(
        path=p, model=str(name), bin_edges_px=edges, bin_heights_px=heights,
        edge_bias_rel=bias, edge_sigma_rel=sigma, edge_n=count, occlusion_levels=levels,
        miss_rate=miss,
        false_per_frame=per_frame, false_boxes=boxes, false_class=classes, false_score=fscores,
        flips=_flips(p, doc), mean_run_frames=_persistence(p, doc),
        score_quantiles=_scores(p, doc), sizes=_sizes(p, doc),
    )  # fmt: skip
