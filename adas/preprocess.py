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

Backends (``PreprocessBackend``, registry ``BACKENDS``): ``reference`` is the golden integer
model (one fused numba pass, ``adas.preprocess_kernels``); ``opencv`` runs the composition
above through OpenCV (both in ``adas.preprocess_cpu``); ``fpga`` runs the HLS kernel through
its PYNQ driver and falls back to ``reference`` when no board is usable. The FPGA backend
lives in the ``fpga`` package, which sits above this module: it registers itself through the
entry point group :data:`BACKEND_ENTRY_POINTS` and is loaded only when asked for
(:func:`plugin_factory`), so ``adas`` never imports ``fpga``. Both CPU backends are
byte-identical to the composition (tested over hundreds of geometries per format), and so is
the C-simulated kernel.
"""

from __future__ import annotations

import enum
import functools
import importlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TypeVar

import numpy as np

from adas import preprocess_kernels as k
from adas.errors import ConfigError, ContractError
from adas.preprocess_cpu import OpenCVBackend, ReferenceBackend
from adas.preprocess_plan import Backend, LetterboxTransform, Plan, cached_resize_table
from adas.types import Float32Array, PixelFormat

log = logging.getLogger(__name__)
E = TypeVar("E", bound=enum.Enum)

MAX_IN_SIDE = 16384  # px; larger frames are not camera frames
MAX_OUT_SIDE = 4096  # px; CNN inputs are far smaller
MIN_BAYER_SIDE = 3  # OpenCV's bilinear demosaic needs a 3x3 neighbourhood (else all zero)


class PreprocessBackend(enum.Enum):
    REFERENCE = "reference"  # numba golden model
    OPENCV = "opencv"  # the OpenCV composition
    FPGA = "fpga"  # the FPGA kernel via PYNQ, else reference (fpga.backend.FpgaBackend)


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


# --- backend registry ---------------------------------------------------------------------

BackendFactory = Callable[[Plan], Backend]

# Entry point group of the backends that live outside adas: entry name = a PreprocessBackend
# value, object = its BackendFactory. The fpga package declares its one in pyproject.toml.
BACKEND_ENTRY_POINTS = "adas.preprocess_backends"
# "module:object" of the plug-in backends this project ships, imported by name when no entry
# point names them. Entry points are read from installed package metadata: a source checkout
# on PYTHONPATH has none, and an install made before an entry point was added (an editable
# one too) does not list it until reinstalled. The module is importable in both cases, so the
# backend must not disappear there.
SHIPPED_PLUGINS: dict[PreprocessBackend, str] = {
    PreprocessBackend.FPGA: "fpga.backend:FpgaBackend",
}


@functools.cache
def plugin_factory(kind: PreprocessBackend) -> BackendFactory:
    """The factory of backend ``kind`` from outside adas, loaded once on first use.

    Looked up among the entry points of :data:`BACKEND_ENTRY_POINTS` named ``kind.value``;
    when none is registered, imported by name from :data:`SHIPPED_PLUGINS` (see there why).
    Importing lazily, and only here, keeps ``adas`` below the packages that provide backends
    (``fpga`` imports ``adas.preprocess``, never the reverse). Raises ``ConfigError`` when the
    backend cannot be found or imported.
    """
    found = next(iter(entry_points(group=BACKEND_ENTRY_POINTS, name=kind.value)), None)
    target = found.value if found is not None else SHIPPED_PLUGINS.get(kind)
    if target is None:
        msg = (
            f"preprocess backend {kind.value!r} is not installed: no entry point named "
            f"{kind.value!r} in group {BACKEND_ENTRY_POINTS!r}"
        )
        raise ConfigError(msg)
    try:
        if found is not None:
            factory = found.load()
        else:
            module, _, name = target.partition(":")
            factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        msg = f"preprocess backend {kind.value!r}: cannot load {target!r}: {exc}"
        raise ConfigError(msg) from exc
    if not callable(factory):
        msg = f"preprocess backend {kind.value!r}: {target!r} is not a backend factory"
        raise ConfigError(msg)
    log.debug("preprocess backend %r from %s", kind.value, target)
    return factory


def _plugin(kind: PreprocessBackend) -> BackendFactory:
    """A factory that loads ``kind``'s plug-in (:func:`plugin_factory`) on its first call."""

    def build(plan: Plan) -> Backend:
        return plugin_factory(kind)(plan)

    return build


BACKENDS: dict[PreprocessBackend, BackendFactory] = {
    PreprocessBackend.REFERENCE: ReferenceBackend,
    PreprocessBackend.OPENCV: OpenCVBackend,
    PreprocessBackend.FPGA: _plugin(PreprocessBackend.FPGA),
}


# --- configuration checks -----------------------------------------------------------------


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
        input_format: PixelFormat | str,
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

    def run_into(self, image: np.ndarray, out: np.ndarray) -> LetterboxTransform:
        """This frame's tensor written into ``out`` (a (1, C, out_h, out_w) array of the
        tensor's dtype, which may be a view: the rows of a tile's slot in a bigger input), and
        the box transform. Backends that write strided views do so in place (no temporary
        tensor, no copy); the others fill a temporary that is copied in."""
        if out.shape != self.plan.out_shape or out.dtype != self.plan.lut.dtype:
            msg = (
                f"out must be {self.plan.lut.dtype} {list(self.plan.out_shape)}, "
                f"got {out.dtype} {list(out.shape)}"
            )
            raise ContractError(msg)
        frame = self._check(image)
        if getattr(self.backend, "writes_views", False) or out.flags.c_contiguous:
            self.backend.run(frame, out)
        else:
            tmp = np.empty(self.plan.out_shape, self.plan.lut.dtype)
            self.backend.run(frame, tmp)
            out[...] = tmp
        return self.transform

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
