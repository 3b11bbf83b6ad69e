"""Frames and legal geometries shared by the preprocessing tests (CPU backends and the FPGA
kernel's C simulation): seeded random frames in every input layout."""

from __future__ import annotations

from typing import Any

import numpy as np

from adas.preprocess import Normalize

# YOLOX-style normalisation of the float32 cases.
NORM = Normalize(mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395))
# (use ROI, mode, align, normalise): every combination, dealt round-robin over the sizes.
VARIANTS = [
    (roi, mode, align, norm)
    for roi in (False, True)
    for mode, align in (("letterbox", "center"), ("letterbox", "top-left"), ("stretch", "center"))
    for norm in (False, True)
]


def frame(rng: np.random.Generator, fmt: str, w: int, h: int) -> np.ndarray:
    """A seeded random frame in the canonical layout (YUYV alternately H x W x 2 / H x 2W)."""
    shape = {"bgr8": (h, w, 3), "rgb8": (h, w, 3), "yuyv": (h, w, 2)}.get(fmt, (h, w))
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    if fmt == "yuyv" and rng.random() < 0.5:
        img = img.reshape(h, 2 * w)
    return img


def legal_in(fmt: str, w: int, h: int) -> tuple[int, int]:
    """Smallest legal frame size >= (w, h): YUYV even width, Bayer at least 3 x 3."""
    if fmt == "yuyv":
        return max(2, w + w % 2), h
    if fmt == "bayer_rggb8":
        return max(3, w), max(3, h)
    return w, h


def random_roi(rng: np.random.Generator, fmt: str, w: int, h: int) -> tuple[int, int, int, int]:
    """A random legal ROI (YUYV: even x and w; Bayer: at least 3 x 3), odd offsets included."""
    lo = 3 if fmt == "bayer_rggb8" else 1
    rw, rh = int(rng.integers(lo, w + 1)), int(rng.integers(lo, h + 1))
    x, y = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
    if fmt == "yuyv":
        x, rw = x - x % 2, max(2, rw - rw % 2)
    return x, y, rw, rh


def sweep_config(
    rng: np.random.Generator,
    fmt: str,
    i: int,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    variant: int,
) -> dict[str, Any]:
    """Preprocessor keyword arguments of sweep case ``i``."""
    use_roi, mode, align, norm = VARIANTS[variant]
    cfg: dict[str, Any] = {
        "input_format": fmt,
        "in_size": in_size,
        "out_size": out_size,
        "roi": random_roi(rng, fmt, *in_size) if use_roi else None,
        "mode": mode,
        "align": align,
        "normalize": NORM if norm else None,
        "channel_order": "rgb" if i % 2 else "bgr",
        "pad_value": int(rng.integers(0, 256)),
    }
    if fmt == "mono8":
        cfg["out_channels"] = 1 if (i // 2) % 2 else 3
    return cfg
