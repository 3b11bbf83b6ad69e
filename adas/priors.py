"""Object size priors per class, loaded once from ``data/priors/object_sizes.toml``.

The one place object sizes come from: the distance stage ranges from them and the danger stage
takes object widths from them, both from the same loaded :class:`SizePriors` (the pipeline
loads it once and hands it to both). Also the detector's box-edge noise law
(:func:`box_edge_sigma`), which the distance and motion stages both weigh boxes by.
"""

from __future__ import annotations

import copy
import functools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from adas.errors import ConfigError
from adas.types import FloatArray, ObjectClass

__all__ = [
    "DEFAULT_CONFUSION_PATH", "DEFAULT_PRIORS_PATH", "ClassHypotheses", "SizePriors",
    "box_edge_sigma",
]  # fmt: skip

DEFAULT_PRIORS_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "priors" / "object_sizes.toml"
)
DEFAULT_CONFUSION_PATH = DEFAULT_PRIORS_PATH.with_name("class_confusion.toml")
# Table of the file that is not a class: what is assumed for classes without a prior.
UNKNOWN_TABLE = "unknown"


@dataclass(frozen=True)
class SizePriors:
    """Per-class size priors as arrays indexed by ``ObjectClass`` (NaN where a class has none)."""

    height: FloatArray
    height_sigma: FloatArray
    width: FloatArray
    width_sigma: FloatArray
    length: FloatArray
    length_sigma: FloatArray
    width_cue: npt.NDArray[np.bool_]
    unknown_width_m: float  # width assumed where a class has no width prior (the [unknown] table)
    # Height of the class's ground contact above the road plane the traffic defines (a
    # pedestrian on a pavement stands a kerb higher), mean and spread; 0 where not given.
    ground_offset: FloatArray = field(default_factory=lambda: np.zeros(len(ObjectClass)))
    ground_offset_sigma: FloatArray = field(default_factory=lambda: np.zeros(len(ObjectClass)))

    def width_or_unknown(self, class_id: npt.ArrayLike) -> FloatArray:
        """Width [m] of each class id, the ``[unknown]`` width where the class has none."""
        table = np.nan_to_num(self.width, nan=self.unknown_width_m)
        return np.asarray(table[np.clip(np.asarray(class_id, np.int64), 0, len(table) - 1)])

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PRIORS_PATH) -> SizePriors:
        table = _read(path)
        n = len(ObjectClass)
        arrays = {k: np.full(n, np.nan) for k in ("h", "sh", "w", "sw", "l", "sl")}
        cue = np.zeros(n, bool)
        offset, offset_sigma = np.zeros(n), np.zeros(n)
        unknown = table.pop(UNKNOWN_TABLE, None)
        if not isinstance(unknown, dict) or not isinstance(unknown.get("width_m"), int | float):
            msg = f"{path}: needs an [{UNKNOWN_TABLE}] table with width_m (metres)"
            raise ConfigError(msg)
        unknown_width = float(unknown["width_m"])
        if not (math.isfinite(unknown_width) and 0.0 < unknown_width < 50.0):
            msg = f"{path}: [{UNKNOWN_TABLE}].width_m = {unknown_width} must be in (0, 50) m"
            raise ConfigError(msg)
        for name, entry in table.items():
            try:
                cid = ObjectClass[name.upper()]
            except KeyError:
                known = [c.name.lower() for c in ObjectClass]
                msg = f"{path}: unknown class [{name}]; known: {known}"
                raise ConfigError(msg) from None
            for key, short in (("height_m", "h"), ("width_m", "w"), ("length_m", "l")):
                mean, sigma = (float(v) for v in entry[key])
                if not (0.0 < mean < 50.0 and 0.0 < sigma < mean):
                    msg = (
                        f"{path}: [{name}].{key} = {entry[key]} must be [mean, sigma] "
                        "with 0 < sigma < mean < 50"
                    )
                    raise ConfigError(msg)
                arrays[short][cid], arrays["s" + short][cid] = mean, sigma
            cue[cid] = bool(entry.get("width_cue", False))
            if "ground_offset_m" in entry:
                mean, sigma = (float(v) for v in entry["ground_offset_m"])
                if not (abs(mean) < 1.0 and 0.0 <= sigma < 1.0):
                    msg = (
                        f"{path}: [{name}].ground_offset_m = {entry['ground_offset_m']} must be "
                        "[mean, sigma] metres with |mean| < 1 and 0 <= sigma < 1"
                    )
                    raise ConfigError(msg)
                offset[cid], offset_sigma[cid] = mean, sigma
        return cls(
            arrays["h"],
            arrays["sh"],
            arrays["w"],
            arrays["sw"],
            arrays["l"],
            arrays["sl"],
            cue,
            unknown_width,
            offset,
            offset_sigma,
        )


@dataclass(frozen=True)
class ClassHypotheses:
    """What a detected class may really be, as arrays indexed by the detected ``ObjectClass``.

    Row ``k``: the classes a box labelled ``k`` is ranged under (``classes[k, 0]`` is the
    reference class its size is expressed against; the other columns repeat it where unused)
    and the log probability of each (``-inf`` where unused). A class outside every group is
    itself with probability 1. Loaded from ``data/priors/class_confusion.toml``, whose counts
    become probabilities by Laplace's rule: ``(count + 1) / (total + group size)``.
    """

    classes: npt.NDArray[np.int64]  # n_classes x G
    log_prob: FloatArray  # n_classes x G

    @property
    def reference(self) -> npt.NDArray[np.int64]:
        """Reference class of each detected class (the first column)."""
        return self.classes[:, 0]

    @classmethod
    def identity(cls) -> ClassHypotheses:
        """Every class is what it is called (no confusion)."""
        n = len(ObjectClass)
        log_prob = np.full((n, 1), 0.0)
        return cls(np.arange(n, dtype=np.int64)[:, None], log_prob)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_CONFUSION_PATH) -> ClassHypotheses:
        table = _read(path)

        def cid(name: object, where: str) -> int:
            try:
                return int(ObjectClass[str(name).upper()])
            except KeyError:
                msg = f"{path}: unknown class {name!r} in {where}"
                raise ConfigError(msg) from None

        groups = table.get("group", {})
        width = max([len(g.get("classes", [])) for g in groups.values()] + [1])
        n = len(ObjectClass)
        classes = np.repeat(np.arange(n, dtype=np.int64)[:, None], width, axis=1)
        log_prob = np.full((n, width), -np.inf)
        log_prob[:, 0] = 0.0
        detected = table.get("detected", {})
        seen: set[int] = set()
        for gname, g in groups.items():
            members = [cid(c, f"[group.{gname}].classes") for c in g.get("classes", [])]
            ref = cid(g.get("reference", ""), f"[group.{gname}].reference")
            if ref not in members or len(set(members)) != len(members):
                msg = f"{path}: [group.{gname}] needs distinct classes that include its reference"
                raise ConfigError(msg)
            order = [ref] + [c for c in members if c != ref]
            for k in members:
                if k in seen:
                    msg = f"{path}: class {ObjectClass(k).name.lower()} is in two groups"
                    raise ConfigError(msg)
                seen.add(k)
                counts = detected.get(ObjectClass(k).name.lower(), {}).get("counts", {})
                raw = {
                    cid(c, f"[detected.{ObjectClass(k).name.lower()}]"): v
                    for c, v in counts.items()
                }
                if any(c not in members for c in raw) or any(
                    not (isinstance(v, int) and v >= 0) for v in raw.values()
                ):
                    msg = (
                        f"{path}: [detected.{ObjectClass(k).name.lower()}].counts must be "
                        f"non-negative integers over the group's classes {g.get('classes')}"
                    )
                    raise ConfigError(msg)
                total = sum(raw.values()) + len(order)
                classes[k, : len(order)] = order
                classes[k, len(order) :] = ref
                log_prob[k, : len(order)] = [math.log((raw.get(c, 0) + 1) / total) for c in order]
                log_prob[k, len(order) :] = -np.inf
        return cls(classes, log_prob)


def box_edge_sigma(xyxy: FloatArray, floor_px: float, var_per_px: float) -> FloatArray:
    """Per-row edge noise [px] of a detector box of height h: ``sqrt(floor_px^2 + var_per_px
    h)``.

    A detector's edge error grows with the object's size in the image (yolox_nano on KITTI:
    1.5 px at 12 px tall, 4 px at 50 px, 5.6 px at 150 px; docs/sensor-model.md), so a fixed
    pixel figure trusts near boxes far too much. Rows without a finite positive height get the
    floor.
    """
    b = np.asarray(xyxy, np.float64)
    if type(floor_px) is float and type(var_per_px) is float and b.ndim == 2 and b.shape[1] > 3:
        # The same float64 steps in one compiled pass (the stages' small per-frame arrays).
        out = np.empty(b.shape[0])
        _edge_sigma(b, floor_px * floor_px, var_per_px, out)
        return out
    with np.errstate(invalid="ignore"):
        h = b[:, 3] - b[:, 1]
        h = np.where(np.isfinite(h) & (h > 0.0), h, 0.0)
    return np.sqrt(floor_px * floor_px + var_per_px * h)


@numba.njit("void(f8[:, :], f8, f8, f8[:])", cache=True, nogil=True)
def _edge_sigma(b: FloatArray, floor2: float, var_per_px: float, out: FloatArray) -> None:
    """``sqrt(floor2 + var_per_px h)``, h the finite positive box height or 0."""
    for i in range(b.shape[0]):
        h = b[i, 3] - b[i, 1]
        out[i] = math.sqrt(floor2 + var_per_px * (h if math.isfinite(h) and h > 0.0 else 0.0))


def _read(path: str | Path) -> dict[str, Any]:
    """The TOML table of ``path``, parsed once per file version (path, mtime, size): every
    drive of a replay builds its priors (2.5 ms of parsing a drive), and the tables are the
    same. A copy: the loaders consume it."""
    st = Path(path).stat()  # missing: FileNotFoundError, as open would
    return copy.deepcopy(_parsed(str(path), st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=16)
def _parsed(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)
