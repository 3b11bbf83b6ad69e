"""``adas bench preprocess``: frame -> 416x416 float32 letterbox tensor, three ways.

For a 1920x1080 BGR8 frame and a 1920x1080 YUYV frame (random bytes, fixed seed), YOLOX style
(BGR, pad 114, mean 0, std 1), timed interleaved in one run after warm-up:

* ``reference``: the numba golden model (``Preprocessor("reference")``);
* ``opencv_exact``: the bit-exact OpenCV composition (``Preprocessor("opencv")``);
* ``baseline``: the usual non-exact OpenCV path: ``cv2.cvtColor`` (YUYV) +
  ``cv2.resize(INTER_LINEAR)`` + ``cv2.copyMakeBorder`` + HWC -> contiguous CHW +
  ``astype(float32)`` + ``(x - mean) / std`` in place.

``reference_over_baseline`` is the ratio of medians; the target is <= 1.5.

Beside them, per case, the FPGA kernel (``fpga/hls``) C-simulated with g++ at 1, 2 and 4 pixels
per clock (``fpga_csim``): its modelled cycle count per frame, the frames/s and ms per frame
that gives at 150 and 300 MHz, and whether its bytes equal the golden model's. These are
cycle-model figures, not board measurements (no board here; see ``fpga.csim``), reached
through the preprocess backend registry (``adas.preprocess.plugin_factory``).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import cv2
import numba
import numpy as np

from adas.errors import ConfigError
from adas.preprocess import Normalize, PreprocessBackend, Preprocessor, plugin_factory
from adas.preprocess_plan import Plan

IN_SIZE = (1920, 1080)
OUT_SIZE = (416, 416)
PAD_VALUE = 114
TARGET_RATIO = 1.5
WARMUP = 20


@runtime_checkable
class CycleModel(Protocol):
    """A backend factory that can model its hardware's cost per frame without the hardware."""

    def cycle_report(self, plan: Plan, image: np.ndarray) -> dict[str, Any]: ...


def _baseline(
    fmt: str, out_size: tuple[int, int], norm: Normalize
) -> Callable[[np.ndarray], np.ndarray]:
    """The common hand-written path (not bit-exact: INTER_LINEAR has 11-bit weights)."""
    (iw, ih), (ow, oh) = IN_SIZE, out_size
    scale = min(ow / iw, oh / ih)
    cw, ch = round(iw * scale), round(ih * scale)
    top, left = (oh - ch) // 2, (ow - cw) // 2
    bottom, right = oh - ch - top, ow - cw - left
    mean = np.asarray(norm.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(norm.std, np.float32).reshape(3, 1, 1)
    fill = (PAD_VALUE,) * 3

    def run(image: np.ndarray) -> np.ndarray:
        bgr = cv2.cvtColor(image, cv2.COLOR_YUV2BGR_YUY2) if fmt == "yuyv" else image
        small = cv2.resize(bgr, (cw, ch), interpolation=cv2.INTER_LINEAR)
        padded = cv2.copyMakeBorder(
            small, top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill
        )
        chw = np.ascontiguousarray(padded.transpose(2, 0, 1)).astype(np.float32)
        # In place: one float32 allocation per frame like the other paths. Out-of-place
        # temporaries cost fresh 2 MB pages per call here, which would flatter the ratio.
        chw -= mean
        chw /= std
        return chw[None]

    return run


def _stats(ns: list[int]) -> dict[str, float]:
    ms = np.asarray(ns, np.float64) / 1e6
    return {
        "median": round(float(np.median(ms)), 3),
        "p10": round(float(np.percentile(ms, 10)), 3),
        "p90": round(float(np.percentile(ms, 90)), 3),
    }


def _case(fmt: str, repeats: int, rng: np.random.Generator) -> dict[str, Any]:
    iw, ih = IN_SIZE
    shape = (ih, iw, 3) if fmt == "bgr8" else (ih, iw, 2)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    norm = Normalize(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    kw: dict[str, Any] = {"input_format": fmt, "in_size": IN_SIZE, "out_size": OUT_SIZE}
    ref = Preprocessor("reference", normalize=norm, pad_value=PAD_VALUE, **kw)
    exact = Preprocessor("opencv", normalize=norm, pad_value=PAD_VALUE, **kw)
    paths: dict[str, Callable[[np.ndarray], object]] = {
        "reference": ref,
        "opencv_exact": exact,
        "baseline": _baseline(fmt, OUT_SIZE, norm),
    }
    times: dict[str, list[int]] = {name: [] for name in paths}
    names = list(paths)
    for i in range(WARMUP + repeats):
        # Rotate the order so no path always runs right after the same other one.
        for name in names[i % 3 :] + names[: i % 3]:
            t0 = time.perf_counter_ns()
            paths[name](image)
            dt = time.perf_counter_ns() - t0
            if i >= WARMUP:
                times[name].append(dt)
    same = bool(np.array_equal(ref(image)[0], exact(image)[0]))
    fpga = _fpga_csim(ref, image)
    stats = {name: _stats(v) for name, v in times.items()}
    ratio = stats["reference"]["median"] / stats["baseline"]["median"]
    return {
        "input": f"{iw}x{ih} {fmt}",
        "output": f"{OUT_SIZE[0]}x{OUT_SIZE[1]} letterbox float32",
        "ms": stats,
        "reference_over_baseline": round(ratio, 2),
        "opencv_exact_over_baseline": round(
            stats["opencv_exact"]["median"] / stats["baseline"]["median"], 2
        ),
        "reference_equals_opencv_exact": same,
        "within_target": bool(ratio <= TARGET_RATIO),
        "fpga_csim": fpga,
    }


def _fpga_csim(ref: Preprocessor, image: np.ndarray) -> dict[str, Any]:
    """The HLS kernel's C simulation on the same frame and plan: cycles, frames/s, same bytes.

    The FPGA backend lives in the ``fpga`` package, which adas does not import: it is found
    through the backend registry, and its ``cycle_report`` (``fpga.csim``) does the work.
    """
    try:
        factory = plugin_factory(PreprocessBackend.FPGA)
    except ConfigError as exc:
        return {"error": f"the fpga preprocess backend is not loadable: {exc}"}
    if not isinstance(factory, CycleModel):
        return {"error": "the fpga preprocess backend has no cycle_report"}
    return factory.cycle_report(ref.plan, image)


def bench_preprocess(repeats: int = 200) -> dict[str, Any]:
    """Median / p10 / p90 ms of the three paths for BGR8 and YUYV frames (JSON-ready)."""
    rng = np.random.default_rng(0)
    cases = [_case(fmt, repeats, rng) for fmt in ("bgr8", "yuyv")]
    return {
        "benchmark": "preprocess",
        "repeats": repeats,
        "target_ratio": TARGET_RATIO,
        "cases": cases,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "numba_threads": numba.get_num_threads(),
            "opencv_threads": cv2.getNumThreads(),
            "opencv": cv2.__version__,
        },
    }
