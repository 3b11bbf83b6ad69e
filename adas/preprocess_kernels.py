"""Golden integer model of the preprocessing: resize tables and the fused numba kernel.

Everything here is specified bit for bit in ``fpga/spec.md``; the FPGA kernel and its
testbench are to be checked against these functions, and ``tests/adas/test_preprocess.py``
checks them against OpenCV. The kernel fuses crop, colour conversion, ``INTER_LINEAR_EXACT``
resize, letterbox padding, HWC -> CHW and the per-channel look-up table in one pass that
converts only the source pixels the output reads: for 1920x1080 -> 416x234 that is 1/5 of the
frame. Written for this project from the arithmetic described in the spec.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

Int32Array = npt.NDArray[np.int32]

# Source layouts the kernel understands; ``src`` is always a 2-D uint8 array of rows of bytes.
FMT_BGR3 = 0  # 3 interleaved bytes per pixel (BGR8, and RGB8 through the channel map)
FMT_GRAY = 1  # 1 byte per pixel
FMT_YUYV = 2  # Y0 U Y1 V per pair of pixels
FMT_BAYER_RGGB = 3  # 1 byte per pixel, R at even row / even column of the full frame

WEIGHT_BITS = 8  # Q0.8 interpolation weights
ONE = 1 << WEIGHT_BITS  # 256: weight of a single tap
ROUND_V = 1 << (2 * WEIGHT_BITS - 1)  # 32768: rounding of the Q16 vertical sum

# BT.601 limited range YUV -> RGB in Q20 (OpenCV's ITUR_BT_601_* constants):
# R = 1.164 (Y-16) + 1.596 (V-128), G = 1.164 (Y-16) - 0.813 (V-128) - 0.391 (U-128),
# B = 1.164 (Y-16) + 2.018 (U-128), each coefficient round(c * 2^20).
YUV_SHIFT = 20
YUV_CY = 1220542
YUV_CUB = 2116026
YUV_CUG = -409993
YUV_CVG = -852492
YUV_CVR = 1673527


def resize_table(src: int, dst: int) -> tuple[Int32Array, Int32Array, Int32Array]:
    """Per output index: first source index, second source index and Q0.8 weight of the second.

    ``f = (1 / (dst / src)) * (i + 0.5) - 0.5`` in IEEE double (two roundings, no FMA: the
    inverse of OpenCV's ``inv_scale``, not ``src / dst``); ``i0 = floor(f)``; the weight is
    ``f - i0`` times 256 rounded half to even. Outputs left of the first source centre
    (``i0 < 0``) or right of the last (``i0 >= src - 1``) and every output of a 1-pixel source
    copy the border pixel: index clamped, weight 0. ``i1 = min(i0 + 1, src - 1)``.
    """
    inv_scale = dst / src
    scale = 1.0 / inv_scale
    f = scale * (np.arange(dst, dtype=np.float64) + 0.5) - 0.5
    i = np.floor(f)
    w = np.rint((f - i) * ONE).astype(np.int64)  # f - floor(f) and * 256 are exact
    i = i.astype(np.int64)
    left = (i < 0) | (src == 1)
    right = ~left & (i >= src - 1)
    i0 = np.where(left, 0, np.where(right, src - 1, i))
    w = np.where(left | right, 0, w)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0.astype(np.int32), i1.astype(np.int32), w.astype(np.int32)


def content_geometry(
    roi_w: int, roi_h: int, out_w: int, out_h: int, *, letterbox: bool, center: bool
) -> tuple[int, int, int, int]:
    """(content_w, content_h, pad_x, pad_y) of a roi_w x roi_h ROI in an out_w x out_h output.

    Letterbox keeps the aspect ratio: the binding axis (scale = min(out_w / roi_w,
    out_h / roi_h)) fills the output and the other is ``in * scale`` rounded half up, in exact
    integer arithmetic (no float ties), at least 1 pixel. Centred content gets
    ``(out - content) // 2`` on the left / top (the odd pixel goes right / bottom); top-left
    content gets 0. Stretch: the content is the whole output.
    """
    if not letterbox:
        return out_w, out_h, 0, 0
    if out_w * roi_h <= out_h * roi_w:  # width binds
        cw, ch = out_w, max(1, (2 * roi_h * out_w + roi_w) // (2 * roi_w))
    else:
        cw, ch = max(1, (2 * roi_w * out_h + roi_h) // (2 * roi_h)), out_h
    if not center:
        return cw, ch, 0, 0
    return cw, ch, (out_w - cw) // 2, (out_h - ch) // 2


@numba.njit(cache=True, inline="always")
def _bayer_bgr(
    src: npt.NDArray[np.uint8], y: int, x: int, ry: int, rx: int, rh: int, rw: int
) -> tuple[np.int32, np.int32, np.int32]:
    """Bilinear demosaic of ROI pixel (y, x); the ROI starts at (ry, rx) and is rh x rw.

    The outer ring copies its inner neighbour (OpenCV fills it that way), so the pixel is the
    interior one at the clamped position.
    """
    y = min(max(y, 1), rh - 2) + ry
    x = min(max(x, 1), rw - 2) + rx
    up = src[y - 1]
    mid = src[y]
    dn = src[y + 1]
    c = np.int32(mid[x])
    if (y & 1) == (x & 1):  # R or B site
        cross = (np.int32(up[x]) + dn[x] + mid[x - 1] + mid[x + 1] + 2) >> 2
        diag = (np.int32(up[x - 1]) + up[x + 1] + dn[x - 1] + dn[x + 1] + 2) >> 2
        if (y & 1) == 0:
            return diag, cross, c
        return c, cross, diag
    hor = (np.int32(mid[x - 1]) + mid[x + 1] + 1) >> 1
    ver = (np.int32(up[x]) + dn[x] + 1) >> 1
    if (y & 1) == 0:  # green on a red row: red left/right, blue above/below
        return ver, c, hor
    return hor, c, ver


@numba.njit(cache=True)
def _fetch(
    src: npt.NDArray[np.uint8],
    fmt: int,
    y: int,
    roi: Int32Array,
    xs: npt.NDArray[np.int64],
    px: Int32Array,
    yuv: Int32Array,
) -> None:
    """Colour-converted source pixels of ROI row y that the output reads, as planes.

    ``px[c, j]`` is channel c (B, G, R; grey: plane 0) of the frame column ``xs[j]``: the
    first taps of all content columns, then the second taps. Gathering first and converting
    in a separate straight loop lets LLVM vectorise the YUV arithmetic.
    """
    rx, ry, rw, rh = roi[0], roi[1], roi[2], roi[3]
    n = xs.size
    if fmt == FMT_BAYER_RGGB:
        for j in range(n):
            b, g, r = _bayer_bgr(src, y, xs[j] - rx, ry, rx, rh, rw)
            px[0, j] = b
            px[1, j] = g
            px[2, j] = r
        return
    row = src[ry + y]
    if fmt == FMT_BGR3:
        for j in range(n):
            a = xs[j] * 3
            px[0, j] = row[a]
            px[1, j] = row[a + 1]
            px[2, j] = row[a + 2]
    elif fmt == FMT_GRAY:
        for j in range(n):
            px[0, j] = row[xs[j]]
    else:  # FMT_YUYV: pixel x is byte 2x (Y), its pair's U and V at 4 (x // 2) + 1 and + 3
        for j in range(n):
            x = xs[j]
            pair = (x >> 1) << 2
            yuv[0, j] = row[2 * x]
            yuv[1, j] = row[pair + 1]
            yuv[2, j] = row[pair + 3]
        half = 1 << (YUV_SHIFT - 1)
        for j in range(n):
            yy = max(yuv[0, j] - 16, 0) * YUV_CY + half
            u = yuv[1, j] - 128
            v = yuv[2, j] - 128
            px[0, j] = min(max((yy + YUV_CUB * u) >> YUV_SHIFT, 0), 255)
            px[1, j] = min(max((yy + YUV_CVG * v + YUV_CUG * u) >> YUV_SHIFT, 0), 255)
            px[2, j] = min(max((yy + YUV_CVR * v) >> YUV_SHIFT, 0), 255)


@numba.njit(cache=True, parallel=True)
def preprocess_kernel(
    src: npt.NDArray[np.uint8],
    fmt: int,
    roi: Int32Array,
    xi0: Int32Array,
    xi1: Int32Array,
    xw: Int32Array,
    yi0: Int32Array,
    yi1: Int32Array,
    yw: Int32Array,
    pad_x: int,
    pad_y: int,
    pad_value: int,
    cmap: Int32Array,
    lut: np.ndarray,
    out: np.ndarray,
    n_tasks: int,
) -> None:
    """Fill ``out`` (C x out_h x out_w) from the raw frame ``src`` (rows of bytes).

    ``roi`` = (x, y, w, h) in source pixels; the x tables map content columns to ROI columns,
    the y tables content rows to ROI rows; the content sits at (pad_x, pad_y). Output plane c
    reads converted channel ``cmap[c]`` (0 B, 1 G, 2 R; 0 for grey) through ``lut[c]``.
    Per content row: fetch + convert the needed pixels of its (one or two) source rows, the
    horizontal pass into Q8 rows, then the vertical pass, rounding and table look-up. Output
    rows are dealt round-robin to ``n_tasks`` parallel tasks, so pad rows and content rows
    spread evenly over the threads.
    """
    n_out, out_h, out_w = out.shape
    cw = xi0.size
    ch = yi0.size
    n_src = 1 if fmt == FMT_GRAY else 3
    xs = np.empty(2 * cw, np.int64)  # frame columns of both taps of every content column
    for j in range(cw):
        xs[j] = roi[0] + xi0[j]
        xs[cw + j] = roi[0] + xi1[j]
    w1 = xw.astype(np.int32)
    w0 = ONE - w1
    for t in numba.prange(n_tasks):
        px = np.empty((3, 2 * cw), np.int32)
        yuv = np.empty((3, 2 * cw), np.int32)
        hs = np.empty((2, n_src, cw), np.int32)
        idx = np.empty(cw, np.int32)  # table index per column: the look-up as its own loop
        for r in range(t, out_h, n_tasks):
            cy = r - pad_y
            if cy < 0 or cy >= ch:
                for c in range(n_out):
                    out[c, r, :] = lut[c, pad_value]
                continue
            wy = yw[cy]
            # A zero weight never reads the second row (OpenCV's border rows: vlineSet).
            for k in range(2 if wy != 0 else 1):
                _fetch(src, fmt, yi0[cy] if k == 0 else yi1[cy], roi, xs, px, yuv)
                for s in range(n_src):
                    for j in range(cw):
                        hs[k, s, j] = w0[j] * px[s, j] + w1[j] * px[s, cw + j]
            for c in range(n_out):
                s = cmap[c]
                lc = lut[c]
                row = out[c, r]
                fill = lc[pad_value]
                for j in range(pad_x):
                    row[j] = fill
                for j in range(pad_x + cw, out_w):
                    row[j] = fill
                h0 = hs[0, s]
                if wy == 0:
                    for j in range(cw):
                        idx[j] = (h0[j] * ONE + ROUND_V) >> 16
                else:
                    h1 = hs[1, s]
                    wy0 = ONE - wy
                    for j in range(cw):
                        idx[j] = (h0[j] * wy0 + h1[j] * wy + ROUND_V) >> 16
                for j in range(cw):
                    row[pad_x + j] = lc[idx[j]]
