"""What every output decoder shares: the :class:`RawDetections` result, the :class:`Decoder`
signature, argument checks, grid geometry and the final stacking of the kept rows.

Conventions (every decoder of :mod:`adas.detect.heads`): ``outputs`` are the session outputs in
session order for one image (a leading batch dimension of 1 is stripped), ``input_wh`` is the
model input (width, height) in pixels, and boxes come back in model-input pixels with
continuous coordinates (x = 0 is the left edge of the input tensor, x = width its right edge;
pixel i spans [i, i + 1)), not clipped to the input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn, Protocol

import numpy as np
import numpy.typing as npt

from adas.errors import ConfigError, ContractError, ModelFormatError

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

STRIDES_P5 = (8, 16, 32)  # YOLOX, YOLOv5/v8 and NanoDet-m heads
STRIDES_P6 = (8, 16, 32, 64)  # NanoDet-Plus and the P6 YOLO variants


@dataclass(frozen=True)
class RawDetections:
    """Decoded rows in model-input pixels: xyxy float32 N x 4, score float32 N, label int64 N.

    ``label`` is the model's own class index (COCO-80 index for COCO models).
    """

    xyxy: Float32Array
    score: Float32Array
    label: IntArray

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        ok = (
            self.xyxy.ndim == 2
            and self.xyxy.shape[1] == 4
            and self.xyxy.dtype == np.float32
            and self.score.shape == (n,)
            and self.score.dtype == np.float32
            and self.label.shape == (n,)
            and self.label.dtype == np.int64
        )
        if not ok:
            msg = (
                "RawDetections needs xyxy float32 N x 4, score float32 N, label int64 N; got "
                f"{self.xyxy.dtype}{list(self.xyxy.shape)}, {self.score.dtype}"
                f"{list(self.score.shape)}, {self.label.dtype}{list(self.label.shape)}"
            )
            raise ContractError(msg)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> RawDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


class Decoder(Protocol):
    """The signature every ``decode_<family>`` has. ``output_names`` (session order) only
    helps where shapes alone are ambiguous (NanoDet per-stride outputs, NMS graphs)."""

    def __call__(
        self,
        outputs: Sequence[np.ndarray],
        input_wh: tuple[int, int],
        score_threshold: float,
        *,
        output_names: Sequence[str] | None = None,
    ) -> RawDetections: ...


def raise_format_error(family: str, what: str, outputs: Sequence[np.ndarray]) -> NoReturn:
    """Raise ModelFormatError: ``what`` the ``family`` decoder expected, and the shapes seen."""
    shapes = [list(np.shape(o)) for o in outputs]
    msg = (
        f"{family} decoder: {what}; got {len(shapes)} output(s) of shapes {shapes}. Is the "
        "model of this family? adas.detect.heads.identify_family tells it from the shapes"
    )
    raise ModelFormatError(msg)


def check_args(input_wh: tuple[int, int], score_threshold: float) -> tuple[int, int]:
    """``input_wh`` as ints after checking it and the threshold (ContractError, ConfigError)."""
    w, h = (int(v) for v in input_wh)
    if w <= 0 or h <= 0:
        msg = f"input_wh = {input_wh}: width and height of the model input must be > 0"
        raise ContractError(msg)
    if not 0.0 <= score_threshold <= 1.0:  # also rejects NaN
        msg = f"score_threshold = {score_threshold} must be in [0, 1]"
        raise ConfigError(msg)
    return w, h


def unbatch(arr: np.ndarray, rank: int) -> np.ndarray | None:
    """``arr`` without its leading batch dimension of 1, or None if it is not of ``rank``."""
    if arr.ndim == rank + 1 and arr.shape[0] == 1:
        return arr[0]
    return arr if arr.ndim == rank else None


def two_matrices(family: str, outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The two outputs of a two-output layout as float32 matrices (batch stripped), in session
    order; the caller tells which is which."""
    mats = [unbatch(np.asarray(o, np.float32), 2) for o in outputs]
    if any(m is None for m in mats):
        what = "expected 2-D outputs after the batch dimension of 1"
        raise_format_error(family, what, outputs)
    a, b = (m for m in mats if m is not None)
    return a, b


def single_output(family: str, outputs: Sequence[np.ndarray], rank: int) -> np.ndarray:
    """The one output of a single-output family as float32 of ``rank`` (batch stripped)."""
    if len(outputs) != 1:
        raise_format_error(family, "expected exactly one output", outputs)
    # float32 whatever the export's dtype (fp16 graphs): no copy for the usual float32.
    arr = unbatch(np.asarray(outputs[0], np.float32), rank)
    if arr is None:
        what = f"expected a {rank}-D output after the batch dimension of 1"
        raise_format_error(family, what, outputs)
    return arr


def grid_size(input_wh: tuple[int, int], stride: int) -> tuple[int, int]:
    """(columns, rows) of the grid of one stride for a model input (width, height)."""
    # Stride-2 convolutions with padding round up, so a grid is ceil(size / stride).
    return math.ceil(input_wh[0] / stride), math.ceil(input_wh[1] / stride)


def grid_total(input_wh: tuple[int, int], strides: Sequence[int]) -> int:
    """Number of grid cells over ``strides`` for a model input (width, height)."""
    return sum(gw * gh for gw, gh in (grid_size(input_wh, s) for s in strides))


@lru_cache(maxsize=32)
def grid_points(
    input_wh: tuple[int, int], strides: tuple[int, ...]
) -> tuple[Float32Array, Float32Array, Float32Array]:
    """Cell column, row and stride of every row of a multi-stride grid output (cached)."""
    gx, gy, st = [], [], []
    for s in strides:
        gw, gh = grid_size(input_wh, s)
        rows, cols = np.divmod(np.arange(gw * gh), gw)
        gx.append(cols)
        gy.append(rows)
        st.append(np.full(gw * gh, s))
    out = tuple(np.concatenate(a).astype(np.float32) for a in (gx, gy, st))
    for a in out:
        a.flags.writeable = False  # shared through the cache
    return out[0], out[1], out[2]


def finish(
    family: str,
    corners: Sequence[np.ndarray],
    score: np.ndarray,
    label: np.ndarray,
    outputs: Sequence[np.ndarray],
) -> RawDetections:
    """Stack the kept rows, drop those with non-finite values, log the count at DEBUG."""
    xyxy = np.stack(corners, axis=1).astype(np.float32, copy=False).reshape(-1, 4)
    return finish_boxes(family, xyxy, score, label, outputs)


def finish_boxes(
    family: str,
    xyxy: np.ndarray,
    score: np.ndarray,
    label: np.ndarray,
    outputs: Sequence[np.ndarray],
) -> RawDetections:
    """:func:`finish` of rows already stacked into float32 N x 4 boxes."""
    score = np.asarray(score, np.float32).reshape(-1)
    ok = np.isfinite(xyxy).all(axis=1) & np.isfinite(score)
    dropped = int(ok.size - np.count_nonzero(ok))
    if log.isEnabledFor(logging.DEBUG):
        bad = sum(int(np.count_nonzero(~np.isfinite(np.asarray(o, float)))) for o in outputs)
        if bad or dropped:
            log.debug(
                "%s: %d non-finite output values; %d rows above the threshold dropped for them",
                family,
                bad,
                dropped,
            )
    if dropped:
        xyxy, score, label = xyxy[ok], score[ok], label[ok]
    return RawDetections(np.ascontiguousarray(xyxy), score, np.asarray(label, np.int64).reshape(-1))


def xywh_corners(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    """(x1, y1, x2, y2) columns of boxes given by centre and size."""
    return [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
