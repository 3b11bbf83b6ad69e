"""Camera frame -> CNN input tensor, the same bytes on the CPU and on the FPGA.

The operation is fixed once, bit for bit, in ``fpga/spec.md``; its definition is this exact
OpenCV composition (``letterbox``; ``stretch`` resizes straight to the output size, no pad)::

    crop   = image[y:y+h, x:x+w]                        (ROI in source pixels, optional)
    bgr    = cv2.cvtColor(crop, code)                   (YUYV: COLOR_YUV2BGR_YUY2; Bayer RGGB:
                                                         the COLOR_Bayer*2BGR code of the 2x2
                                                         pattern the crop starts on; BGR8, RGB8
                                                         and MONO8 are not converted)
    small  = cv2.resize(bgr, (cw, ch), interpolation=cv2.INTER_LINEAR_EXACT)
    canvas = full((out_h, out_w, C), pad_value); canvas[py:py+ch, px:px+cw] = small
    chw    = canvas planes in the model's channel order (MONO8: the one plane, repeated for
             a 3-channel model), shape (1, C, out_h, out_w)
    out    = chw (uint8) or lut[c][chw[c]] (float32, lut = (v - mean[c]) / std[c] in float64)

Backends (``PreprocessBackend``): ``reference`` is the golden integer model (one fused numba
pass, ``adas.preprocess_kernels``); ``opencv`` runs the composition above through OpenCV;
``fpga`` runs the HLS kernel through its PYNQ driver (``fpga.driver``) and falls back to
``reference`` when no board is usable. Both CPU backends are byte-identical to the
composition (tested over hundreds of geometries per format), and so is the C-simulated kernel.
"""

from __future__ import annotations

import enum
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import cv2
import numba
import numpy as np
import numpy.typing as npt

from adas import preprocess_kernels as k
from adas.errors import ConfigError, ContractError
from adas.types import Float32Array, PixelFormat

log = logging.getLogger(__name__)
E = TypeVar("E", bound=enum.Enum)

MAX_IN_SIDE = 16384  # px; larger frames are not camera frames
MAX_OUT_SIDE = 4096  # px; CNN inputs are far smaller
MIN_BAYER_SIDE = 3  # OpenCV's bilinear demosaic needs a 3x3 neighbourhood (else all zero)
# OpenCV Bayer code of the 2x2 pattern a crop of an RGGB frame starts on, by (x & 1, y & 1).
BAYER_CODES = {
    (0, 0): cv2.COLOR_BayerRGGB2BGR,  # == COLOR_BayerBG2BGR (OpenCV's old naming)
    (1, 0): cv2.COLOR_BayerGRBG2BGR,
    (0, 1): cv2.COLOR_BayerGBRG2BGR,
    (1, 1): cv2.COLOR_BayerBGGR2BGR,
}


KERNEL_FORMAT = {
    PixelFormat.BGR8: k.FMT_BGR3,
    PixelFormat.RGB8: k.FMT_BGR3,
    PixelFormat.GRAY8: k.FMT_GRAY,
    PixelFormat.YUYV: k.FMT_YUYV,
    PixelFormat.BAYER_RGGB8: k.FMT_BAYER_RGGB,
}


class PreprocessBackend(enum.Enum):
    REFERENCE = "reference"  # numba golden model
    OPENCV = "opencv"  # the OpenCV composition
    FPGA = "fpga"  # the FPGA kernel via PYNQ, else reference (FpgaBackend)


class ResizeMode(enum.Enum):
    LETTERBOX = "letterbox"  # keep aspect, pad the rest with pad_value
    STRETCH = "stretch"  # resize straight to the output size


class Align(enum.Enum):
    CENTER = "center"  # pad split evenly, the odd pixel right / bottom
    TOP_LEFT = "top-left"  # all padding right / bottom


class ChannelOrder(enum.Enum):
    BGR = "bgr"
    RGB = "rgb"


@dataclass(frozen=True)
class Normalize:
    """Model input normalisation, ``(x - mean[c]) / std[c]``, in the OUTPUT channel order.

    A 1-channel model uses ``mean[0]`` and ``std[0]``. YOLOX: mean 0, std 1; ImageNet models in
    RGB order: mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375).
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        for name, vals in (("mean", self.mean), ("std", self.std)):
            if len(vals) != 3 or not all(math.isfinite(float(v)) for v in vals):
                msg = f"Normalize.{name} must be 3 finite numbers, got {vals!r}"
                raise ConfigError(msg)
        if not all(float(s) > 0.0 for s in self.std):
            msg = f"Normalize.std must be > 0 per channel, got {self.std!r}"
            raise ConfigError(msg)

    def lut(self, n_channels: int) -> Float32Array:
        """C x 256 float32 table: entry v of plane c is (v - mean[c]) / std[c] in float64."""
        v = np.arange(256, dtype=np.float64)
        rows = [(v - float(self.mean[c])) / float(self.std[c]) for c in range(n_channels)]
        return np.stack(rows).astype(np.float32)


@dataclass(frozen=True)
class LetterboxTransform:
    """Maps boxes between model-input pixels and original-image pixels.

    Pixel (0, 0) is the centre of the top-left pixel (DESIGN.md), so pixel i covers
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
    (uint8) or ``cv2.LUT`` of it with the float32 table.
    """

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
                dst[py : py + ch, px : px + cw] = cv2.LUT(planes[s], self._luts[c])


class FpgaBackend:
    """The FPGA kernel through its PYNQ driver (``fpga.driver``), else the golden model.

    The board is opened with ``fpga.driver.open_board(plan)`` (bitfile from
    ``$ADAS_FPGA_BITFILE``). When that is impossible (pynq not installed, no bitfile or
    board, kernel not in the overlay) or the board faults while running (any
    ``fpga.driver.FpgaError``: timeout, kernel never idle, device error), this backend
    switches to ``ReferenceBackend`` for good — bit-identical by fpga/spec.md, only slower —
    and logs one warning naming the reason. ``active`` says which one runs: ``"fpga"`` or
    ``"reference (fallback: <reason>)"``; ``reason`` is the reason alone (None on the FPGA).
    """

    def __init__(self, plan: Plan) -> None:
        from fpga import driver  # lazily: fpga.driver imports this module

        self.plan = plan
        self._errors: type[Exception] = driver.FpgaError
        self._board: Backend | None = None
        self._fallback: ReferenceBackend | None = None
        self.reason: str | None = None
        try:
            self._board = driver.open_board(plan)
        except driver.FpgaError as exc:
            self._fall_back(str(exc))

    @property
    def active(self) -> str:
        """``"fpga"`` while the board runs the frames, else the fallback and its reason."""
        return "fpga" if self.reason is None else f"reference (fallback: {self.reason})"

    def _fall_back(self, reason: str) -> None:
        self.reason = reason
        board, self._board = self._board, None
        close = getattr(board, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:  # a faulted board may fail to free its buffers too
                log.debug("closing the faulted FPGA board failed: %s", exc)
        self._fallback = ReferenceBackend(self.plan)
        log.warning(
            "preprocess backend 'fpga' runs on the CPU reference backend instead "
            "(bit-identical, slower): %s",
            reason,
        )

    def run(self, image: np.ndarray, out: np.ndarray) -> None:
        if self._board is not None:
            try:
                self._board.run(image, out)
                return
            except self._errors as exc:
                self._fall_back(f"FPGA fault: {exc}")
        assert self._fallback is not None
        self._fallback.run(image, out)


BACKENDS: dict[PreprocessBackend, Callable[[Plan], Backend]] = {
    PreprocessBackend.REFERENCE: ReferenceBackend,
    PreprocessBackend.OPENCV: OpenCVBackend,
    PreprocessBackend.FPGA: FpgaBackend,
}


def _enum(cls: type[E], key: str, value: object) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        msg = f"{key}={value!r} is not one of {allowed}"
        raise ConfigError(msg) from None


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _size(key: str, value: object, limit: int) -> tuple[int, int]:
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(_is_int(v) and 1 <= int(v) <= limit for v in value)
    ):
        return int(value[0]), int(value[1])
    msg = f"{key}={value!r} must be (width, height), integers in [1, {limit}]"
    raise ConfigError(msg)


def _roi(
    value: tuple[int, int, int, int] | None, in_size: tuple[int, int], fmt: PixelFormat
) -> tuple[int, int, int, int]:
    iw, ih = in_size
    if value is None:
        roi = (0, 0, iw, ih)
    else:
        if not (isinstance(value, tuple | list) and len(value) == 4 and all(map(_is_int, value))):
            msg = f"roi={value!r} must be (x, y, w, h), four integers in source pixels"
            raise ConfigError(msg)
        x, y, w, h = (int(v) for v in value)
        if not (x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= iw and y + h <= ih):
            msg = f"roi={value!r} must lie inside the {iw}x{ih} image with w, h >= 1"
            raise ConfigError(msg)
        roi = (x, y, w, h)
    if fmt is PixelFormat.YUYV and (roi[0] % 2 or roi[2] % 2):
        msg = f"roi={roi!r}: for yuyv x and w must be even (U and V are shared by pixel pairs)"
        raise ConfigError(msg)
    if fmt is PixelFormat.BAYER_RGGB8 and min(roi[2], roi[3]) < MIN_BAYER_SIDE:
        msg = (
            f"roi={roi!r}: Bayer demosaicing needs at least {MIN_BAYER_SIDE}x{MIN_BAYER_SIDE} "
            "pixels (OpenCV outputs zeros below that)"
        )
        raise ConfigError(msg)
    return roi


class Preprocessor:
    """Camera frame -> (1, C, out_h, out_w) tensor and the box transform back to the frame.

    Sizes are (width, height) in pixels; ``roi`` is (x, y, w, h) in source pixels. With
    ``normalize=None`` the tensor is uint8, else float32 through the per-channel table of
    ``Normalize``. ``out_channels=1`` (MONO8 input only) feeds a 1-channel model; MONO8 with 3
    output channels repeats the grey plane. Bad configuration raises ``ConfigError``, a frame
    of the wrong format or size ``ContractError``.
    """

    def __init__(
        self,
        backend: str,
        *,
        input_format: str,
        in_size: tuple[int, int],
        out_size: tuple[int, int],
        roi: tuple[int, int, int, int] | None = None,
        pad_value: int = 114,
        normalize: Normalize | None = None,
        mode: str = "letterbox",
        align: str = "center",
        channel_order: str = "bgr",
        out_channels: int = 3,
    ) -> None:
        kind = _enum(PreprocessBackend, "backend", backend)
        fmt = _enum(PixelFormat, "input_format", input_format)
        rmode = _enum(ResizeMode, "mode", mode)
        ralign = _enum(Align, "align", align)
        order = _enum(ChannelOrder, "channel_order", channel_order)
        isz = _size("in_size", in_size, MAX_IN_SIDE)
        osz = _size("out_size", out_size, MAX_OUT_SIDE)
        if fmt is PixelFormat.YUYV and isz[0] % 2:
            msg = f"in_size={in_size!r}: a yuyv frame has an even width (pixel pairs)"
            raise ConfigError(msg)
        box = _roi(roi, isz, fmt)
        if not (_is_int(pad_value) and 0 <= int(pad_value) <= 255):
            msg = f"pad_value={pad_value!r} must be an integer in [0, 255]"
            raise ConfigError(msg)
        if (
            not _is_int(out_channels)
            or out_channels not in (1, 3)
            or (out_channels == 1 and fmt is not PixelFormat.GRAY8)
        ):
            msg = f"out_channels={out_channels!r} must be 3, or 1 with input_format 'mono8'"
            raise ConfigError(msg)
        if normalize is not None and not isinstance(normalize, Normalize):
            msg = f"normalize={normalize!r} must be a Normalize(mean, std) or None"
            raise ConfigError(msg)
        if fmt is PixelFormat.GRAY8:
            cmap: tuple[int, ...] = (0,) * out_channels
        else:
            # Kernel channel index: byte order of the pixel for RGB8, B/G/R for the rest.
            src_is_rgb = fmt is PixelFormat.RGB8
            want_rgb = order is ChannelOrder.RGB
            cmap = (2, 1, 0) if src_is_rgb != want_rgb else (0, 1, 2)
        cw, ch, px, py = k.content_geometry(
            box[2],
            box[3],
            osz[0],
            osz[1],
            letterbox=rmode is ResizeMode.LETTERBOX,
            center=ralign is Align.CENTER,
        )
        lut: np.ndarray
        if normalize is None:
            lut = np.tile(np.arange(256, dtype=np.uint8), (len(cmap), 1))
        else:
            lut = normalize.lut(len(cmap))
        self.plan = Plan(
            fmt=fmt,
            in_size=isz,
            roi=box,
            out_size=osz,
            content=(cw, ch),
            pad=(px, py),
            pad_value=int(pad_value),
            cmap=cmap,
            lut=lut,
            x_table=cached_resize_table(box[2], cw),
            y_table=cached_resize_table(box[3], ch),
        )
        self.transform = LetterboxTransform(
            scale_x=cw / box[2],
            scale_y=ch / box[3],
            pad_x=px,
            pad_y=py,
            roi_x=box[0],
            roi_y=box[1],
            image_w=isz[0],
            image_h=isz[1],
        )
        self.backend_kind = kind
        self.backend: Backend = BACKENDS[kind](self.plan)
        log.debug(
            "preprocess %s %s %s roi %s -> content %dx%d at (%d, %d) in %s",
            kind.value, fmt.value, isz, box, cw, ch, px, py, osz,
        )  # fmt: skip

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, LetterboxTransform]:
        """A new (1, C, out_h, out_w) tensor for this frame, and the (fixed) box transform."""
        frame = self._check(image)
        out = np.empty(self.plan.out_shape, self.plan.lut.dtype)
        self.backend.run(frame, out)
        return out, self.transform

    def _check(self, image: np.ndarray) -> np.ndarray:
        """The frame as a C-contiguous uint8 array of the canonical shape of its format."""
        fmt, (iw, ih) = self.plan.fmt, self.plan.in_size
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            what = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
            msg = f"{fmt.value} frame must be a uint8 numpy array, got {what}"
            raise ContractError(msg)
        shape = image.shape
        if fmt in (PixelFormat.BGR8, PixelFormat.RGB8):
            ok, want = shape == (ih, iw, 3), f"({ih}, {iw}, 3)"
        elif fmt is PixelFormat.GRAY8:
            ok, want = shape in ((ih, iw), (ih, iw, 1)), f"({ih}, {iw}) or ({ih}, {iw}, 1)"
            image = image.reshape(ih, iw) if ok else image
        elif fmt is PixelFormat.YUYV:
            ok, want = shape in ((ih, iw, 2), (ih, 2 * iw)), f"({ih}, {iw}, 2) or ({ih}, {2 * iw})"
            image = image.reshape(ih, iw, 2) if ok else image
        else:
            ok, want = shape == (ih, iw), f"({ih}, {iw})"
        if not ok:
            msg = f"{fmt.value} frame of in_size {iw}x{ih} must have shape {want}, got {shape}"
            raise ContractError(msg)
        if not image.flags.c_contiguous:
            image = np.ascontiguousarray(image)
        return image
