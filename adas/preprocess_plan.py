"""One preprocessing geometry, derived once: the ``Plan`` every backend runs, and the box
transform between model-input and image pixels.

``adas.preprocess.Preprocessor`` validates a configuration and builds these; the backends
(``adas.preprocess_cpu``, the FPGA backend in ``fpga``) only read them. The fields are what
the FPGA kernel receives (fpga/spec.md §9), so the CPU golden model and the hardware share one
source of geometry, tables and LUT.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from adas import preprocess_kernels as k
from adas.errors import ContractError
from adas.types import Float32Array, PixelFormat

# Kernel format code (preprocess_kernels / fpga/spec.md §2) of each camera pixel format.
KERNEL_FORMAT = {
    PixelFormat.BGR8: k.FMT_BGR3,
    PixelFormat.RGB8: k.FMT_BGR3,
    PixelFormat.GRAY8: k.FMT_GRAY,
    PixelFormat.YUYV: k.FMT_YUYV,
    PixelFormat.BAYER_RGGB8: k.FMT_BAYER_RGGB,
}


@dataclass(frozen=True)
class LetterboxTransform:
    """Maps boxes between model-input pixels and original-image pixels.

    Pixel (0, 0) is the centre of the top-left pixel (docs/architecture.md), so pixel i covers
    [i - 0.5, i + 0.5]. Boxes use the detector convention of edges on that axis shifted by half
    a pixel: a box covering pixels a .. b-1 is [a, b) and a W-wide image is [0, W]. In this
    edge frame the half-pixel-centre resize (source centre + 0.5 = (dest centre + 0.5) /
    scale) is a pure scale, so for x (y alike)

        x_img = (x_model - pad_x) / scale_x + roi_x,   scale_x = content_w / roi_w

    with content_w the resized ROI width (not out_w / roi_w: the letterbox rounds it). A
    pixel-centre point p maps by adding 0.5 before and subtracting 0.5 after.
    """

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int
    roi_x: int
    roi_y: int
    image_w: int
    image_h: int

    def to_image(self, xyxy: npt.ArrayLike) -> Float32Array:
        """Model-input boxes (N x 4) -> original-image boxes, float32, clipped to the image."""
        b = _boxes(xyxy)
        out = np.empty_like(b)
        out[:, 0::2] = (b[:, 0::2] - self.pad_x) / self.scale_x + self.roi_x
        out[:, 1::2] = (b[:, 1::2] - self.pad_y) / self.scale_y + self.roi_y
        np.clip(out[:, 0::2], 0.0, self.image_w, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, self.image_h, out=out[:, 1::2])
        return out.astype(np.float32)

    def to_model(self, xyxy: npt.ArrayLike) -> Float32Array:
        """Original-image boxes (N x 4) -> model-input boxes, float32 (inverse of to_image)."""
        b = _boxes(xyxy)
        out = np.empty_like(b)
        out[:, 0::2] = (b[:, 0::2] - self.roi_x) * self.scale_x + self.pad_x
        out[:, 1::2] = (b[:, 1::2] - self.roi_y) * self.scale_y + self.pad_y
        return out.astype(np.float32)


def _boxes(xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    b = np.asarray(xyxy, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        msg = f"boxes must be N x 4 (x1, y1, x2, y2), got shape {b.shape}"
        raise ContractError(msg)
    return b


@functools.lru_cache(maxsize=256)
def cached_resize_table(src: int, dst: int) -> tuple[k.Int32Array, k.Int32Array, k.Int32Array]:
    """``preprocess_kernels.resize_table`` computed once per (src, dst), read-only."""
    tables = k.resize_table(src, dst)
    for t in tables:
        t.setflags(write=False)
    return tables


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything a backend needs for one geometry, derived and validated once.

    ``x_table`` / ``y_table`` are (i0, i1, w1) per content column / row (fpga/spec.md §5.1):
    what the FPGA kernel receives with ``lut`` and the geometry.
    """

    fmt: PixelFormat
    in_size: tuple[int, int]
    roi: tuple[int, int, int, int]
    out_size: tuple[int, int]
    content: tuple[int, int]
    pad: tuple[int, int]
    pad_value: int
    cmap: tuple[int, ...]  # output plane c reads converted channel cmap[c] (BGR / source order)
    lut: np.ndarray  # C x 256, uint8 identity or float32 normalisation
    x_table: tuple[k.Int32Array, k.Int32Array, k.Int32Array]
    y_table: tuple[k.Int32Array, k.Int32Array, k.Int32Array]

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return 1, len(self.cmap), self.out_size[1], self.out_size[0]


class Backend(Protocol):
    """Fills ``out`` (1 x C x H x W, C-contiguous) from a validated, C-contiguous frame."""

    def run(self, image: np.ndarray, out: np.ndarray) -> None: ...
