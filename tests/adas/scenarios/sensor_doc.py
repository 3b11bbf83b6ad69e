"""A small synthetic sensor-model file (schema 1) with known figures, for the simulator tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from adas.evaluate.sensor_stats import DETECTED_CLASSES

BINS = [0, 25, 40, 60, 100, 1e9]
N5 = [200, 200, 200, 200, 200]


def _edge(bias: float, sigma: float) -> dict[str, list[float]]:
    return {
        "bias_px": [bias * h for h in (12.5, 32.5, 50, 80, 150)],
        "sigma_px": [sigma * h for h in (12.5, 32.5, 50, 80, 150)],
        "bias_rel": [bias] * 5,
        "sigma_rel": [sigma] * 5,
        "n": N5,
    }


DOC: dict[str, Any] = {
    "schema": 1,
    "model": {"name": "synthetic", "file": "none.onnx", "sha256": "0"},
    "created": "2026-12-06",
    "command": "tests",
    "sources": [{"root": "synthetic", "frames": 1, "objects": 1}],
    "match_iou": 0.5,
    "classes": ["car", "van", "truck", "bus", "pedestrian", "cyclist"],
    "height_bins_px": BINS,
    "edges": {
        "left": _edge(0.01, 0.02),
        "top": _edge(-0.02, 0.03),
        # right: bias and spread fall with the box height (0.04 -> 0.0, 0.05 -> 0.01)
        "right": {
            "bias_rel": [0.04, 0.03, 0.02, 0.01, 0.0],
            "sigma_rel": [0.05, 0.04, 0.03, 0.02, 0.01],
            "n": N5,
        },
        "bottom": _edge(-0.03, 0.04),
    },
    "miss": {
        "occlusion_levels": [0, 1, 2],
        "rate": [
            [0.6, 0.3, 0.2, 0.1, 0.05],
            [0.7, 0.5, 0.4, 0.3, 0.2],
            [0.9, 0.8, 0.7, 0.6, 0.5],
        ],
        "n": [N5, N5, N5],
    },
    "false_boxes": {
        "per_frame": 0.6,
        "frames": 100,
        "samples": [
            {"x_rel": 0.5, "y_rel": 0.5, "w_px": 40.0, "h_px": 30.0, "class": "car", "score": 0.41},
            {
                "x_rel": 0.2,
                "y_rel": 0.45,
                "w_px": 20.0,
                "h_px": 20.0,
                "class": "truck",
                "score": 0.55,
            },
        ],
    },
    "confusion": {
        "labels": ["car", "van", "truck", "bus", "pedestrian", "cyclist"],
        "detected": [*DETECTED_CLASSES, "missed"],
        "counts": [
            [900, 30, 50, 5, 0, 0, 0, 15, 100],  # car: 10 % flipped (of 1000 detected)
            [60, 30, 10, 0, 0, 0, 0, 0, 10],
            [40, 0, 60, 0, 0, 0, 0, 0, 5],
            [0, 0, 0, 0, 0, 0, 0, 0, 0],  # never seen: no flip statistics
            [0, 0, 0, 0, 95, 5, 0, 0, 20],
            [0, 0, 0, 0, 10, 40, 0, 0, 30],
        ],
    },
    "scores": {
        "true": {"quantiles": [0.45, 0.6, 0.75, 0.85, 0.93]},
        "false": {"quantiles": [0.36, 0.4, 0.45, 0.52, 0.6]},
    },
    "sizes": {
        "car": {
            "n": 500,
            "mean": [1.53, 1.63, 3.88],
            "std": [0.14, 0.10, 0.43],
            "min": [1.0, 1.2, 2.2],
            "max": [2.1, 2.1, 5.6],
            "corr": [[1.0, 0.3, 0.2], [0.3, 1.0, 0.6], [0.2, 0.6, 1.0]],
        },
        "truck": {
            "n": 40,
            "mean": [3.07, 2.63, 11.1],
            "std": [0.4, 0.2, 2.5],
            "min": [2.2, 2.2, 6.0],
            "max": [4.0, 2.6, 17.0],
            "corr": [[1.0, 0.4, 0.5], [0.4, 1.0, 0.5], [0.5, 0.5, 1.0]],
        },
    },
}


def sensor_doc(**changes: Any) -> dict[str, Any]:
    """A deep copy of DOC with top-level keys replaced (None removes a key)."""
    doc = copy.deepcopy(DOC)
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


def write_doc(path: Path, doc: dict[str, Any] | None = None) -> Path:
    path.write_text(json.dumps(DOC if doc is None else doc), encoding="utf-8")
    return path
