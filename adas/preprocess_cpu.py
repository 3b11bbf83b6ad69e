"""The CPU preprocessing backends: ``reference`` (the golden integer model) and ``opencv``.

Both are byte-identical to the OpenCV composition of ``adas.preprocess`` (fpga/spec.md §8);
each is built from one ``Plan`` and fills a caller-allocated tensor per frame.
"""

from __future__ import annotations

import cv2
import numba
import numpy as np

from adas import preprocess_kernels as k
from adas.preprocess_plan import KERNEL_FORMAT, Plan
from adas.types import PixelFormat

# OpenCV Bayer code of the 2x2 pattern a crop of an RGGB frame starts on, by (x & 1, y & 1).
BAYER_CODES = {
    (0, 0): cv2.COLOR_BayerRGGB2BGR,  # == COLOR_BayerBG2BGR (OpenCV's old naming)
    (1, 0): cv2.COLOR_BayerGRBG2BGR,
    (0, 1): cv2.COLOR_BayerGBRG2BGR,
    (1, 1): cv2.COLOR_BayerBGGR2BGR,
}


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class ReferenceBackend:
    """The golden integer model: one fused numba pass (``preprocess_kernels``)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._fmt = KERNEL_FORMAT[plan.fmt]
        self._roi = _readonly(np.array(plan.roi, np.int32))
        cmap = _readonly(np.array(plan.cmap, np.int32))
        lut = _readonly(np.ascontiguousarray(plan.lut))
        # Arguments from pad_x to lut, in kernel order; every array read-only, so the kernel
        # has exactly one compiled signature per output dtype.
        self._static = (*plan.x_table, *plan.y_table, *plan.pad, plan.pad_value, cmap, lut)

    def run(self, image: np.ndarray, out: np.ndarray) -> None:
        rows = _readonly(image.reshape(image.shape[0], -1).view())  # rows of bytes
        n_tasks = max(1, min(self.plan.out_size[1], numba.get_num_threads()))
        k.preprocess_kernel(rows, self._fmt, self._roi, *self._static, out[0], n_tasks)


class OpenCVBackend:
    """The composition in OpenCV calls, writing each output plane in place.

    crop view -> cvtColor -> resize(INTER_LINEAR_EXACT) -> split into planes; per output
    plane the pad strips are filled with ``lut[c][pad_value]`` and the content is the plane
    (uint8) or ``cv2.LUT`` of it with the float32 table, written by OpenCV straight into the
    output (which may be a strided view: a tile's rows of a bigger input).
    """

    writes_views = True  # run() fills a (1, C, H, W) view in place

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        x, y = plan.roi[0], plan.roi[1]
        self._code: int | None = None
        if plan.fmt is PixelFormat.YUYV:
            self._code = cv2.COLOR_YUV2BGR_YUY2
        elif plan.fmt is PixelFormat.BAYER_RGGB8:
            self._code = BAYER_CODES[(x & 1, y & 1)]
        self._fill = [plan.lut[c, plan.pad_value] for c in range(len(plan.cmap))]
        self._luts = [np.ascontiguousarray(plan.lut[c]) for c in range(len(plan.cmap))]

    def run(self, image: np.ndarray, out: np.ndarray) -> None:
        p = self.plan
        x, y, w, h = p.roi
        (cw, ch), (px, py) = p.content, p.pad
        img = image[y : y + h, x : x + w]
        if self._code is not None:
            img = cv2.cvtColor(img, self._code)
        small = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_LINEAR_EXACT)
        planes = cv2.split(small) if small.ndim == 3 else (small,)
        for c, s in enumerate(p.cmap):
            dst = out[0, c]
            fill = self._fill[c]
            dst[:py] = fill
            dst[py + ch :] = fill
            dst[py : py + ch, :px] = fill
            dst[py : py + ch, px + cw :] = fill
            if out.dtype == np.uint8:
                dst[py : py + ch, px : px + cw] = planes[s]
            else:
                _lut_into(planes[s], self._luts[c], dst[py : py + ch, px : px + cw])


def _lut_into(src: np.ndarray, lut: np.ndarray, dst: np.ndarray) -> None:
    """``dst[...] = cv2.LUT(src, lut)`` without the temporary: OpenCV writes the view in place
    (its rows may be strided); should it return a new array instead, that is copied in."""
    got = cv2.LUT(src, lut, dst=dst)
    if got is not dst:
        dst[...] = got
