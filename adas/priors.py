"""Object size priors per class, loaded once from ``data/priors/object_sizes.toml``.

The one place object sizes come from: the distance stage ranges from them and the danger stage
takes object widths from them, both from the same loaded :class:`SizePriors` (the pipeline
loads it once and hands it to both).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from adas.errors import ConfigError
from adas.types import FloatArray, ObjectClass

__all__ = ["DEFAULT_PRIORS_PATH", "SizePriors"]

DEFAULT_PRIORS_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "priors" / "object_sizes.toml"
)
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

    def width_or_unknown(self, class_id: npt.ArrayLike) -> FloatArray:
        """Width [m] of each class id, the ``[unknown]`` width where the class has none."""
        table = np.nan_to_num(self.width, nan=self.unknown_width_m)
        return np.asarray(table[np.clip(np.asarray(class_id, np.int64), 0, len(table) - 1)])

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PRIORS_PATH) -> SizePriors:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
        n = len(ObjectClass)
        arrays = {k: np.full(n, np.nan) for k in ("h", "sh", "w", "sw", "l", "sl")}
        cue = np.zeros(n, bool)
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
        return cls(
            arrays["h"],
            arrays["sh"],
            arrays["w"],
            arrays["sw"],
            arrays["l"],
            arrays["sl"],
            cue,
            unknown_width,
        )
