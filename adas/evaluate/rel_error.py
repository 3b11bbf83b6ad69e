"""Relative errors of paired (estimate, truth) samples, overall and per distance bin: the
figures of ``adas eval kitti-tracking`` (median and p90 of |estimate - truth| / truth)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DISTANCE_BINS_M", "Samples", "binned"]

DISTANCE_BINS_M = ((5.0, 20.0), (20.0, 40.0), (40.0, 60.0))


@dataclass
class Samples:
    """Paired (estimate, truth) samples of one quantity."""

    est: list[float] = field(default_factory=list)
    truth: list[float] = field(default_factory=list)

    def add(self, est: float, truth: float) -> None:
        self.est.append(est)
        self.truth.append(truth)

    def extend(self, other: Samples) -> None:
        self.est.extend(other.est)
        self.truth.extend(other.truth)

    def signed_errors(self) -> np.ndarray:
        """(estimate - truth) / truth, clamped to +-10: an infinite estimate (a TTC of "no
        collision" for a closing object) is a miss of at least 1000 %, counted apart."""
        e, t = np.asarray(self.est, float), np.asarray(self.truth, float)
        if e.size == 0:
            return np.zeros(0)
        with np.errstate(invalid="ignore"):
            return np.clip(np.nan_to_num((e - t) / np.abs(t), nan=10.0), -10.0, 10.0)

    def stats(self) -> dict[str, Any]:
        signed = self.signed_errors()
        if signed.size == 0:
            return {"n": 0, "median_abs_rel": None, "p90_abs_rel": None, "median_rel": None}
        r = np.abs(signed)
        return {
            "n": int(r.size),
            "median_abs_rel": round(float(np.median(r)), 4),
            "p90_abs_rel": round(float(np.percentile(r, 90)), 4),
            "median_rel": round(float(np.median(signed)), 4),
            "n_infinite_estimate": int(np.count_nonzero(~np.isfinite(self.est))),
        }


def binned(
    samples: Samples, bins: Sequence[tuple[float, float]] = DISTANCE_BINS_M
) -> dict[str, Any]:
    """Statistics per truth bin ``[lo, hi)`` and over all samples."""
    truth = np.asarray(samples.truth)
    out = []
    for lo, hi in bins:
        sel = (truth >= lo) & (truth < hi)
        sub = Samples([e for e, s in zip(samples.est, sel, strict=True) if s], list(truth[sel]))
        out.append({"lo_m": lo, "hi_m": hi, **sub.stats()})
    return {"bins": out, "all": samples.stats()}
