"""``adas bench detect``: detector latency per model and execution provider.

For every model of the registry whose file is present (or the ones named) and every provider
asked for, a session is made, the providers it really runs on are read back, and over
``runs`` frames the inference alone and the whole detector (preprocess + inference + decode,
NMS) are timed. The frame is a real image when one is given (``--image``), else a seeded
random image of the KITTI size.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adas.app import usable_cpus
from adas.detect.detector import DetectConfig, Detector
from adas.detect.registry import load_registry, resolve_model
from adas.errors import AdasError

log = logging.getLogger(__name__)


def _ms(ns: Sequence[int]) -> dict[str, float]:
    a = np.asarray(ns, np.float64) / 1e6
    return {
        "median": round(float(np.median(a)), 3),
        "p10": round(float(np.percentile(a, 10)), 3),
        "p90": round(float(np.percentile(a, 90)), 3),
    }


def bench_detect(
    models: Sequence[str] = (),
    providers: Sequence[str] = ("cpu",),
    *,
    image: np.ndarray | None = None,
    runs: int = 50,
    tiles: int = 1,
    threads: int = 0,
) -> dict[str, Any]:
    reg = load_registry()
    names = list(models) or list(reg.models)
    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (375, 1242, 3), np.uint8)
    results: list[dict[str, Any]] = []
    for name in names:
        try:
            path, _ = resolve_model(name)
        except AdasError as exc:
            results.append({"model": name, "error": str(exc)})
            continue
        for prov in providers:
            band = 90.0 if tiles == 1 else DetectConfig.band_up_deg
            cfg = DetectConfig(
                model=str(path) if Path(name).suffix == ".onnx" else name,
                providers=(prov,),
                tiles=tiles,
                intra_op_threads=threads,
                band_up_deg=band,
                band_down_deg=90.0,
            )
            try:
                det = Detector(cfg)
            except AdasError as exc:
                results.append({"model": name, "provider": prov, "error": str(exc)})
                continue
            # Geometry tables, first-run allocations; later runs reuse this input tensor.
            prep = det.prepare(image)
            det.infer(prep)
            pre, inf, post, n = [], [], [], []
            for _ in range(runs):
                prep = det.prepare(image, out=prep.tensor)
                d, took = det.infer(prep)
                pre.append(took.preprocess_ns)
                inf.append(took.infer_ns)
                post.append(took.postprocess_ns)
                n.append(len(d))
            total = np.add(np.add(pre, inf), post)
            results.append(
                {
                    "model": det.spec.name,
                    "input_wh": list(det.session.input_wh),
                    "provider_requested": prov,
                    "providers_used": det.providers_used,
                    "warmup_s": round(det.session.warmup_s, 3),
                    "infer_ms": _ms(inf),
                    "preprocess_ms": _ms(pre),
                    "postprocess_ms": _ms(post),
                    "detector_ms": _ms(total.tolist()),
                    "detections_median": float(np.median(n)),
                    "config": {
                        k: v
                        for k, v in dataclasses.asdict(cfg).items()
                        if k in ("tiles", "intra_op_threads", "preprocess_backend")
                    },
                }
            )
    return {
        "benchmark": "detect",
        "image_wh": [int(image.shape[1]), int(image.shape[0])],
        "runs": runs,
        "machine": {"cpu_count": usable_cpus(), "platform": platform.platform()},
        "results": results,
    }
