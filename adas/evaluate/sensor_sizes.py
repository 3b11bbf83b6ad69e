"""The real spread of object sizes: KITTI 3D box dimensions (h, w, l in metres) per class.

Every label file under the given roots is read: a KITTI object folder's ``label_2/*.txt``
gives one sample per labelled object; a KITTI tracking folder's ``label_02/*.txt`` gives one
sample per track (sequence and track id), the per-dimension median over the track's frames,
so that a car seen in 300 frames weighs as much as one seen in 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import DataFormatError
from adas.sources.kitti import load_object_labels, load_tracking_labels

# KITTI kinds whose sizes are kept, and the sensor-model class each becomes.
SIZE_CLASSES = {
    "Car": "car",
    "Van": "van",
    "Truck": "truck",
    "Pedestrian": "pedestrian",
    "Cyclist": "cyclist",
}
SIZE_QUANTILES = (0.05, 0.5, 0.95)


def size_samples(roots: Iterable[str | Path]) -> tuple[dict[str, list[np.ndarray]], list[dict]]:
    """(h, w, l) samples per class from every label file under ``roots``, and per root what
    was read (label files, samples). Dimensions <= 0 (KITTI's -1 placeholders) are skipped."""
    samples: dict[str, list[np.ndarray]] = {c: [] for c in SIZE_CLASSES.values()}
    sources: list[dict] = []
    for root in map(Path, roots):
        files = 0
        before = sum(len(v) for v in samples.values())
        if (root / "label_2").is_dir():
            for lab in sorted((root / "label_2").glob("*.txt")):
                files += 1
                for o in load_object_labels(lab):
                    if o.kind in SIZE_CLASSES and min(o.hwl_m) > 0:
                        samples[SIZE_CLASSES[o.kind]].append(np.asarray(o.hwl_m, np.float64))
        elif (root / "label_02").is_dir():
            for lab in sorted((root / "label_02").glob("*.txt")):
                files += 1
                tracks: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
                for o in load_tracking_labels(lab):
                    if o.kind in SIZE_CLASSES and min(o.hwl_m) > 0:
                        tracks.setdefault((o.kind, o.track_id), []).append(o.hwl_m)
                for (kind, _), dims in tracks.items():
                    samples[SIZE_CLASSES[kind]].append(np.median(np.asarray(dims), axis=0))
        else:
            msg = f"{root}: no label_2/ (KITTI object) or label_02/ (KITTI tracking) folder"
            raise DataFormatError(msg)
        after = sum(len(v) for v in samples.values())
        sources.append({"root": str(root), "label_files": files, "samples": after - before})
    return samples, sources


def _round(values: Sequence[float] | np.ndarray, nd: int = 3) -> list[float]:
    return [round(float(v), nd) for v in values]


def size_summary(samples: Sequence[np.ndarray]) -> dict[str, Any]:
    """Count, mean, sample standard deviation, min, max, 5/50/95 % quantiles and the 3 x 3
    correlation of (h, w, l) samples. A dimension without spread (or n < 2) has correlation 0
    with the others and 1 with itself."""
    a = np.asarray(samples, np.float64).reshape(-1, 3)
    n = len(a)
    if n == 0:
        return {"n": 0}
    std = a.std(axis=0, ddof=1) if n > 1 else np.zeros(3)
    corr = np.eye(3)
    ok = std > 0
    if n > 1 and ok.any():
        c = np.corrcoef(a[:, ok], rowvar=False)
        corr[np.ix_(ok, ok)] = np.atleast_2d(c)
    return {
        "n": n,
        "mean": _round(a.mean(axis=0)),
        "std": _round(std),
        "min": _round(a.min(axis=0)),
        "max": _round(a.max(axis=0)),
        "quantiles": {
            f"p{round(100 * q):02d}": _round(np.quantile(a, q, axis=0)) for q in SIZE_QUANTILES
        },
        "corr": [_round(row) for row in corr],
    }


def size_table(roots: Iterable[str | Path]) -> tuple[dict[str, Any], list[dict]]:
    """The ``sizes`` section of the sensor-model file and its sources."""
    samples, sources = size_samples(roots)
    return {c: size_summary(v) for c, v in samples.items()}, sources
