"""Decoders of ONNX object-detector outputs: session outputs -> boxes in model-input pixels.

Every decoder is a pure function ``decode_<family>(outputs, input_wh, score_threshold)``.
``outputs`` are the session outputs in session order for one image (a leading batch dimension
of 1 is stripped), ``input_wh`` is the model input (width, height) and the result is a
:class:`RawDetections`: boxes in model-input pixels with continuous coordinates (x = 0 is the
left edge of the input tensor, x = width its right edge; pixel i spans [i, i + 1)), not clipped
to the input. Undoing the letterbox or stretch, and the half-pixel shift to the pixel-centre
convention of DESIGN.md, is the caller's job. The arrays are new: session output buffers that
are reused every frame can be overwritten afterwards.

Rows below ``score_threshold`` are dropped before any per-row work (box transforms, softmax),
with vectorised numpy, because this runs every frame. Each row gets one label, its arg-max
class (the per-class variant, one candidate per class above the threshold, is left out: it
only adds same-place boxes of other classes that the class-aware NMS then has to sort out).
Rows with NaN or inf in what they use are dropped, never passed on; with DEBUG logging on, the
count of non-finite output values and dropped rows is logged.

Families (``DECODERS`` keys) and the upstream code each convention was read from:

- ``yolox``: one output [1, N, 5 + C], N = sum over strides 8/16/32 of (W/s)(H/s) rows, stride 8
  grid row-major first. cx = (p0 + gx) s, cy = (p1 + gy) s, w = exp(p2) s, h = exp(p3) s;
  objectness p4 and classes p5.. are sigmoided inside the official export
  (Megvii-BaseDetection/YOLOX ``demo_postprocess``). score = obj * max class.
- ``yolov5``: one output [1, 3 N, 5 + C] (3 anchors per cell; strides 8/16/32 or 8..64 for P6),
  (cx, cy, w, h) already in input pixels, obj and classes sigmoided (ultralytics/yolov5
  ``Detect``); score = obj * max class. YOLOv7's plain export has the same layout.
- ``yolov8``: one output [1, 4 + C, N] (cx, cy, w, h in input pixels, sigmoided classes, no
  objectness; ultralytics ``Detect`` export); score = max class.
- ``nanodet`` (NanoDet-m, the old GFL head) and ``nanodet_plus``: per-stride outputs
  cls_pred [1, N_s, C] (sigmoided in the export: RangiLyu/nanodet ``nanodet_head.py`` and
  ``nanodet_plus_head.py::_forward_onnx``; the shared nanodet_m_320.onnx is all in [0, 1]) and
  dis_pred [1, N_s, 4 (reg_max + 1)], or NanoDet-Plus's single output [1, N, C + 4 (reg_max + 1)]
  over strides 8/16/32/64. Each side's distance is the expectation of a softmax over the
  reg_max + 1 bins times the stride (Generalized Focal Loss). Centre points: the old head uses
  (g + 0.5) s (``gfl_head.py::get_single_level_center_point``), NanoDet-Plus uses g s
  (``nanodet_plus_head.py::get_single_level_center_priors``). Checked on the shared
  nanodet_m_320.onnx: its two cars on the Udacity still test1.jpg agree with YOLOX-nano's boxes
  within 3.5 px per edge (mean) with (g + 0.5) s, and 15 px with g s.
- ``fastestdet``: one output [1, 5 + C, H/16, W/16] = (obj, tx, ty, tw, th, classes); obj is
  sigmoided and the classes softmaxed in the model (dog-qiuqiu/FastestDet
  ``module/custom_layers.py::DetectHead``), the box channels are raw: cx = (gx + tanh tx) W / Wg,
  w = sigmoid(tw) W (``utils/tool.py::handle_preds``, ``module/loss.py``: the centre is relative
  to the cell's top-left corner). score = obj^0.6 * cls^0.4 as in upstream's
  ``example/ncnn/FastestDet.cpp``; its ``example/onnx-runtime/runtime.py`` uses obj * cls, which
  ranks cells alike but scores lower, so thresholds do not carry over between the two.
- ``nms``: graphs with NMS inside. Layouts: [1, N, 6] = (x1, y1, x2, y2, score, class)
  (ultralytics end-to-end, YOLOv10); [N, 7] = (batch, x1, y1, x2, y2, class, score) (YOLOv7
  ``--end2end`` for onnxruntime; rows of batch 0 only); or separate boxes [1, N, 4], scores
  [1, N], classes [1, N] with an optional count [1, 1] (TensorRT EfficientNMS style ``num_dets``,
  ``det_boxes``, ``det_scores``, ``det_classes``), told apart by name, then shape and values.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import zip_longest
from typing import NoReturn, Protocol

import numpy as np
import numpy.typing as npt

from adas.errors import ConfigError, ContractError, ModelFormatError

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Dim = int | str | None

STRIDES_P5 = (8, 16, 32)  # YOLOX, YOLOv5/v8 and NanoDet-m heads
STRIDES_P6 = (8, 16, 32, 64)  # NanoDet-Plus and the P6 YOLO variants
YOLOV5_ANCHORS_PER_CELL = 3
NANODET_REG_MAX = 7  # every upstream NanoDet config (m, Plus); GFL's own default is 16
FASTESTDET_STRIDE = 16
FASTESTDET_OBJ_EXP = 0.6  # score = obj^0.6 * cls^0.4, FastestDet example/ncnn/FastestDet.cpp
FASTESTDET_CLS_EXP = 0.4


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


def _fail(family: str, what: str, outputs: Sequence[np.ndarray]) -> NoReturn:
    shapes = [list(np.shape(o)) for o in outputs]
    msg = (
        f"{family} decoder: {what}; got {len(shapes)} output(s) of shapes {shapes}. Is the "
        "model of this family? adas.detect.decode.identify_family tells it from the shapes"
    )
    raise ModelFormatError(msg)


def _check_args(input_wh: tuple[int, int], score_threshold: float) -> tuple[int, int]:
    w, h = (int(v) for v in input_wh)
    if w <= 0 or h <= 0:
        msg = f"input_wh = {input_wh}: width and height of the model input must be > 0"
        raise ContractError(msg)
    if not 0.0 <= score_threshold <= 1.0:  # also rejects NaN
        msg = f"score_threshold = {score_threshold} must be in [0, 1]"
        raise ConfigError(msg)
    return w, h


def _unbatch(arr: np.ndarray, rank: int) -> np.ndarray | None:
    """``arr`` without its leading batch dimension of 1, or None if it is not of ``rank``."""
    if arr.ndim == rank + 1 and arr.shape[0] == 1:
        return arr[0]
    return arr if arr.ndim == rank else None


def _single(family: str, outputs: Sequence[np.ndarray], rank: int) -> np.ndarray:
    if len(outputs) != 1:
        _fail(family, "expected exactly one output", outputs)
    # float32 whatever the export's dtype (fp16 graphs): no copy for the usual float32.
    arr = _unbatch(np.asarray(outputs[0], np.float32), rank)
    if arr is None:
        _fail(family, f"expected a {rank}-D output after the batch dimension of 1", outputs)
    return arr


def _grid(input_wh: tuple[int, int], stride: int) -> tuple[int, int]:
    # Stride-2 convolutions with padding round up, so a grid is ceil(size / stride).
    return math.ceil(input_wh[0] / stride), math.ceil(input_wh[1] / stride)


def grid_total(input_wh: tuple[int, int], strides: Sequence[int]) -> int:
    """Number of grid cells over ``strides`` for a model input (width, height)."""
    return sum(gw * gh for gw, gh in (_grid(input_wh, s) for s in strides))


@lru_cache(maxsize=32)
def _grid_points(
    input_wh: tuple[int, int], strides: tuple[int, ...]
) -> tuple[Float32Array, Float32Array, Float32Array]:
    """Cell column, row and stride of every row of a multi-stride grid output (cached)."""
    gx, gy, st = [], [], []
    for s in strides:
        gw, gh = _grid(input_wh, s)
        rows, cols = np.divmod(np.arange(gw * gh), gw)
        gx.append(cols)
        gy.append(rows)
        st.append(np.full(gw * gh, s))
    out = tuple(np.concatenate(a).astype(np.float32) for a in (gx, gy, st))
    for a in out:
        a.flags.writeable = False  # shared through the cache
    return out[0], out[1], out[2]


def _finish(
    family: str,
    corners: Sequence[np.ndarray],
    score: np.ndarray,
    label: np.ndarray,
    outputs: Sequence[np.ndarray],
) -> RawDetections:
    """Stack the kept rows, drop those with non-finite values, log the count at DEBUG."""
    xyxy = np.stack(corners, axis=1).astype(np.float32, copy=False).reshape(-1, 4)
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


def _xywh_corners(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    return [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]


def _obj_cls(rows: np.ndarray, score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kept row numbers, score = obj * best class, label) of N x (5 + C) rows, obj at 4."""
    # Class scores are probabilities (<= 1), so obj * cls >= t needs obj >= t: testing the one
    # objectness column first skips the class arg-max for nearly every row.
    idx = np.flatnonzero(rows[:, 4] >= score_threshold)
    cls = rows[idx, 5:]
    label = cls.argmax(axis=1)
    score = rows[idx, 4] * cls[np.arange(idx.size), label]
    keep = score >= score_threshold  # NaN fails
    return idx[keep], score[keep], label[keep]


def decode_yolox(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOX raw grid output [1, N, 5 + C] (see the module docstring)."""
    wh = _check_args(input_wh, score_threshold)
    pred = _single("yolox", outputs, rank=2)
    n = grid_total(wh, STRIDES_P5)
    if pred.shape[0] != n or pred.shape[1] < 6:
        _fail("yolox", f"expected 1 x {n} x (5 + classes) for input {wh[0]}x{wh[1]}", outputs)
    with np.errstate(invalid="ignore", over="ignore"):
        idx, score, label = _obj_cls(pred, score_threshold)
        gx, gy, st = _grid_points(wh, STRIDES_P5)
        rows, s = pred[idx], st[idx]
        cx, cy = (rows[:, 0] + gx[idx]) * s, (rows[:, 1] + gy[idx]) * s
        corners = _xywh_corners(cx, cy, np.exp(rows[:, 2]) * s, np.exp(rows[:, 3]) * s)
    return _finish("yolox", corners, score, label, outputs)


def decode_yolov5(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOv5 (and YOLOv7) output [1, 3 N, 5 + C], boxes (cx, cy, w, h) in input pixels."""
    wh = _check_args(input_wh, score_threshold)
    pred = _single("yolov5", outputs, rank=2)
    ns = [YOLOV5_ANCHORS_PER_CELL * grid_total(wh, s) for s in (STRIDES_P5, STRIDES_P6)]
    if pred.shape[0] not in ns or pred.shape[1] < 6:
        _fail("yolov5", f"expected 1 x ({' or '.join(map(str, ns))}) x (5 + classes)", outputs)
    with np.errstate(invalid="ignore"):
        idx, score, label = _obj_cls(pred, score_threshold)
        rows = pred[idx]
        corners = _xywh_corners(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
    return _finish("yolov5", corners, score, label, outputs)


def decode_yolov8(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """YOLOv8 output [1, 4 + C, N] (cx, cy, w, h in input pixels, then class scores)."""
    wh = _check_args(input_wh, score_threshold)
    pred = _single("yolov8", outputs, rank=2)
    ns = [grid_total(wh, s) for s in (STRIDES_P5, STRIDES_P6)]
    if pred.shape[1] not in ns or pred.shape[0] < 5:
        _fail("yolov8", f"expected 1 x (4 + classes) x ({' or '.join(map(str, ns))})", outputs)
    with np.errstate(invalid="ignore"):
        # Comparing along the class axis reads the array in memory order; the arg-max, the
        # expensive part, then only runs on columns with some class above the threshold.
        idx = np.flatnonzero((pred[4:] >= score_threshold).any(axis=0))
        cols = pred[:, idx]
        label = cols[4:].argmax(axis=0)
        score = cols[4:][label, np.arange(idx.size)]
        keep = score >= score_threshold
        cols, score, label = cols[:, keep], score[keep], label[keep]
        corners = _xywh_corners(cols[0], cols[1], cols[2], cols[3])
    return _finish("yolov8", corners, score, label, outputs)


def decode_fastestdet(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """FastestDet output [1, 5 + C, H/16, W/16] (see the module docstring)."""
    wh = _check_args(input_wh, score_threshold)
    pred = _single("fastestdet", outputs, rank=3)
    gw, gh = _grid(wh, FASTESTDET_STRIDE)
    if pred.shape[1:] != (gh, gw) or pred.shape[0] < 6:
        _fail("fastestdet", f"expected 1 x (5 + classes) x {gh} x {gw}", outputs)
    flat = pred.reshape(pred.shape[0], gh * gw)
    with np.errstate(invalid="ignore", over="ignore"):
        cls_best = flat[5:].max(axis=0)
        score = flat[0] ** FASTESTDET_OBJ_EXP * cls_best**FASTESTDET_CLS_EXP
        idx = np.flatnonzero(score >= score_threshold)
        label = flat[5:, idx].argmax(axis=0)
        gy, gx = np.divmod(idx, gw)
        cx = (gx + np.tanh(flat[1, idx])) * (wh[0] / gw)
        cy = (gy + np.tanh(flat[2, idx])) * (wh[1] / gh)
        w = wh[0] / (1.0 + np.exp(-flat[3, idx]))
        h = wh[1] / (1.0 + np.exp(-flat[4, idx]))
        corners = _xywh_corners(cx, cy, w, h)
    return _finish("fastestdet", corners, score[idx], label, outputs)


GflLevel = tuple[int, np.ndarray, np.ndarray]  # stride, cls N_s x C, dis N_s x 4 (reg_max + 1)


def _gfl_role(name: str) -> str | None:
    low = name.lower()
    if "cls" in low or "score" in low:
        return "cls"
    if re.search(r"dis|reg|box", low):
        return "dis"
    return None


def _gfl_levels(
    family: str,
    outputs: Sequence[np.ndarray],
    wh: tuple[int, int],
    output_names: Sequence[str] | None,
) -> list[GflLevel]:
    """Per-stride (stride, cls, dis) of NanoDet outputs, ordered by stride, not session order."""
    arrays = [_unbatch(np.asarray(o, np.float32), 2) for o in outputs]
    if not arrays or any(a is None for a in arrays):
        _fail(family, "expected 2-D outputs after the batch dimension of 1", outputs)
    mats = [a for a in arrays if a is not None]
    reg = 4 * (NANODET_REG_MAX + 1)
    if len(mats) == 1:  # NanoDet-Plus export: all strides concatenated, [cls | dis] columns
        pred = mats[0]
        strides = next((s for s in (STRIDES_P6, STRIDES_P5) if grid_total(wh, s) == len(pred)), ())
        if not strides or pred.shape[1] <= reg:
            n4, n3 = grid_total(wh, STRIDES_P6), grid_total(wh, STRIDES_P5)
            _fail(family, f"expected 1 x ({n4} or {n3}) x (classes + {reg})", outputs)
        levels, start = [], 0
        for s in strides:
            n = grid_total(wh, (s,))
            levels.append((s, pred[start : start + n, :-reg], pred[start : start + n, -reg:]))
            start += n
        return levels
    stride_of_rows: dict[int, int] = {}
    for s in (128, 64, 32, 16, 8):  # smaller strides win where tiny inputs make grids equal
        stride_of_rows[grid_total(wh, (s,))] = s
    groups: dict[int, list[int]] = {}
    for i, m in enumerate(mats):
        groups.setdefault(m.shape[0], []).append(i)
    names = list(output_names) if output_names is not None else []
    levels = []
    for rows, members in groups.items():
        if rows not in stride_of_rows or len(members) != 2:
            _fail(family, f"outputs with {rows} rows are not a cls/dis pair of one stride", outputs)
        a, b = members
        roles = {_gfl_role(names[i]) for i in members} if len(names) == len(mats) else set()
        if roles == {"cls", "dis"}:
            if _gfl_role(names[a]) == "dis":
                a, b = b, a
        else:  # by shape: dis_pred has 4 (reg_max + 1) columns
            wide = [i for i in members if mats[i].shape[1] == reg]
            if len(wide) != 1:
                what = f"cannot tell cls_pred from dis_pred ({reg} columns) among {rows} rows"
                _fail(family, what + "; pass output_names", outputs)
            b = wide[0]
            a = members[0] if b == members[1] else members[1]
        if mats[b].shape[1] != reg:
            _fail(family, f"dis_pred needs {reg} columns (reg_max {NANODET_REG_MAX})", outputs)
        levels.append((stride_of_rows[rows], mats[a], mats[b]))
    if len({lv[1].shape[1] for lv in levels}) != 1 or levels[0][1].shape[1] < 1:
        _fail(family, "cls_pred outputs need the same number (>= 1) of classes", outputs)
    return sorted(levels, key=lambda lv: lv[0])


def _rows_with_any(cls: np.ndarray, threshold: float) -> npt.NDArray[np.intp]:
    """Rows of N x C ``cls`` with some value >= threshold, ascending.

    Without objectness every class must be looked at; one flat comparison plus the few hits
    is about twice as fast as a row-wise any() at the usual thresholds (measured on NanoDet;
    it still wins where the flattening copies a strided view, NanoDet-Plus's class columns).
    """
    hits = np.flatnonzero(cls.reshape(-1) >= threshold) // cls.shape[1]
    if hits.size < 2:
        return hits
    return hits[np.concatenate(([True], hits[1:] != hits[:-1]))]  # sorted: drop repeats


def _decode_gfl(
    family: str,
    centre_offset: float,
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    output_names: Sequence[str] | None,
) -> RawDetections:
    wh = _check_args(input_wh, score_threshold)
    parts: list[tuple[list[np.ndarray], np.ndarray, np.ndarray]] = []
    bins = np.arange(NANODET_REG_MAX + 1, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        for stride, cls, dis in _gfl_levels(family, outputs, wh, output_names):
            idx = _rows_with_any(cls, score_threshold)
            c = cls[idx]
            label = c.argmax(axis=1)
            score = c[np.arange(idx.size), label]
            keep = score >= score_threshold
            idx, label, score = idx[keep], label[keep], score[keep]
            gy, gx = np.divmod(idx, _grid(wh, stride)[0])
            cx, cy = (gx + centre_offset) * stride, (gy + centre_offset) * stride
            logits = dis[idx].reshape(idx.size, 4, NANODET_REG_MAX + 1)
            p = np.exp(logits - logits.max(axis=2, keepdims=True))
            d = (p @ bins) / p.sum(axis=2) * stride  # left, top, right, bottom
            parts.append(([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], score, label))
    corners = [np.concatenate([p[0][k] for p in parts]) for k in range(4)]
    score_all = np.concatenate([p[1] for p in parts])
    return _finish(family, corners, score_all, np.concatenate([p[2] for p in parts]), outputs)


def decode_nanodet(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """NanoDet-m (old GFL head): centre points (g + 0.5) * stride."""
    return _decode_gfl("nanodet", 0.5, outputs, input_wh, score_threshold, output_names)


def decode_nanodet_plus(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """NanoDet-Plus: centre points g * stride; single concatenated output or per stride."""
    return _decode_gfl("nanodet_plus", 0.0, outputs, input_wh, score_threshold, output_names)


def _nms_role(name: str) -> str | None:
    low = name.lower()
    for role, pattern in (
        ("num", r"num|count"),
        ("boxes", r"box"),
        ("scores", r"score|conf"),
        ("labels", r"label|class|cls"),
    ):
        if re.search(pattern, low):
            return role
    return None


def _is_integral(a: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.issubdtype(a.dtype, np.integer) or np.all(np.mod(a, 1) == 0))


def _nms_split(
    outputs: Sequence[np.ndarray], output_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes N x 4, scores N, labels N) of a graph with NMS inside, in any output order."""
    arrays = [np.asarray(o) for o in outputs]
    if len(arrays) == 1:
        a = arrays[0]
        if a.ndim == 2 and a.shape[1] == 7:  # YOLOv7 ORT: batch, x1, y1, x2, y2, class, score
            a = a[a[:, 0] == 0]
            return a[:, 1:5], a[:, 6], a[:, 5]
        p = _unbatch(a, 2)
        if p is None or p.shape[1] != 6:
            _fail("nms", "expected one output [1, N, 6] or [N, 7]", outputs)
        return p[:, :4], p[:, 4], p[:, 5]
    if len(arrays) not in (3, 4):
        _fail("nms", "expected 1, 3 or 4 outputs", outputs)
    order = list(range(len(arrays)))
    roles: dict[str, int] = {}
    if output_names is not None and len(output_names) == len(arrays):
        found = [_nms_role(n) for n in output_names]
        wanted = ["boxes", "scores", "labels"] + (["num"] if len(arrays) == 4 else [])
        if all(found.count(r) == 1 for r in wanted):
            roles = {r: found.index(r) for r in wanted}
    if not roles:  # by shape, then values; ties keep session order (EfficientNMS order)
        if len(arrays) == 4:
            roles["num"] = next((i for i in order if arrays[i].size == 1), 0)
            order.remove(roles["num"])
        with_4 = [i for i in order if arrays[i].ndim >= 2 and arrays[i].shape[-1] == 4]
        if not with_4:
            _fail("nms", "no boxes output [1, N, 4]", outputs)
        roles["boxes"] = max(with_4, key=lambda i: arrays[i].size)
        order.remove(roles["boxes"])
        first, second = order
        swap = _is_integral(arrays[first]) and not _is_integral(arrays[second])
        roles["scores"], roles["labels"] = (second, first) if swap else (first, second)
    boxes = arrays[roles["boxes"]].reshape(-1, 4) if arrays[roles["boxes"]].size % 4 == 0 else None
    score = arrays[roles["scores"]].reshape(-1)
    label = arrays[roles["labels"]].reshape(-1)
    if boxes is None or not len(boxes) == len(score) == len(label):
        _fail("nms", "boxes, scores and labels disagree on the number of rows", outputs)
    if "num" in roles:
        num = np.asarray(arrays[roles["num"]], np.float64).reshape(-1)
        count = int(np.clip(num[0], 0, len(score))) if num.size and np.isfinite(num[0]) else 0
        boxes, score, label = boxes[:count], score[:count], label[:count]
    return boxes, score, label


def decode_nms(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """Graphs with NMS inside: xyxy in input pixels (layouts in the module docstring).

    Rows whose class is not an integer in [0, 2^31) (negative: padding of some exports) are
    dropped like low scores.
    """
    _check_args(input_wh, score_threshold)
    boxes, score, label = _nms_split(outputs, output_names)
    with np.errstate(invalid="ignore"):
        label_f = np.asarray(label, np.float64)
        # Class ids beyond int32 are garbage, not classes (and would overflow the cast).
        keep = (score >= score_threshold) & (label_f >= 0) & (label_f < 2**31)
        idx = np.flatnonzero(keep)
        corners = [np.asarray(boxes[idx, k], np.float32) for k in range(4)]
        label_k = np.rint(label_f[idx]).astype(np.int64)
    return _finish("nms", corners, score[idx], label_k, outputs)


DECODERS: dict[str, Decoder] = {
    "yolox": decode_yolox,
    "yolov5": decode_yolov5,
    "yolov8": decode_yolov8,
    "nanodet": decode_nanodet,
    "nanodet_plus": decode_nanodet_plus,
    "fastestdet": decode_fastestdet,
    "nms": decode_nms,
}

_LAYOUTS = (
    "yolox [1, G3, 5+C]; yolov5 [1, 3*G3 or 3*G4, 5+C]; yolov8 [1, 4+C, G3 or G4]; "
    "nanodet: cls_pred [1, N_s, C] + dis_pred [1, N_s, 32] per stride 8/16/32; nanodet_plus: "
    "[1, G4, C+32] or per stride 8/16/32/64; fastestdet [1, 5+C, H/16, W/16]; nms: [1, N, 6], "
    "[N, 7] or boxes [1, N, 4] + scores [1, N] + classes [1, N] (+ count [1, 1]); "
    "G3, G4 = grid cells over strides 8/16/32 and 8/16/32/64"
)


def _dims(shape: Sequence[Dim]) -> tuple[int, ...]:
    """A shape with dynamic dimensions (names, None, negative) as -1."""
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


def _identify(shapes: list[tuple[int, ...]], wh: tuple[int, int]) -> str:
    g3, g4 = grid_total(wh, STRIDES_P5), grid_total(wh, STRIDES_P6)
    if len(shapes) == 1:
        s = shapes[0]
        if len(s) == 4 and s[0] in (1, -1):
            gw, gh = _grid(wh, FASTESTDET_STRIDE)
            if s[2:] == (gh, gw) and s[1] >= 6:
                return "fastestdet"
        if len(s) == 3 and s[0] in (1, -1):
            rows, cols = s[1], s[2]
            if rows == g3 and cols >= 6:
                return "yolox"
            if rows in (3 * g3, 3 * g4) and cols >= 6:
                return "yolov5"
            if cols in (g3, g4) and rows >= 5:
                return "yolov8"
            if rows == g4 and cols > 4 * (NANODET_REG_MAX + 1):
                return "nanodet_plus"
            if cols == 6:
                return "nms"
        if len(s) == 2 and s[1] == 7:
            return "nms"
        return ""
    per_stride = {grid_total(wh, (st,)): st for st in STRIDES_P6}
    counts = [s[-2] if len(s) in (2, 3) else -1 for s in shapes]
    if len(shapes) in (6, 8) and all(r in per_stride for r in counts):
        strides = sorted({per_stride[r] for r in counts})
        if len(strides) * 2 == len(shapes) and all(counts.count(r) == 2 for r in counts):
            return "nanodet" if tuple(strides) == STRIDES_P5 else "nanodet_plus"
    if len(shapes) in (3, 4) and sum(len(s) >= 2 and s[-1] == 4 for s in shapes) >= 1:
        return "nms"
    return ""


def identify_family(
    output_names: Sequence[str],
    output_shapes: Sequence[Sequence[Dim]],
    input_wh: tuple[int, int],
) -> str:
    """The ``DECODERS`` key whose output layout matches the model's output shapes.

    Shapes as ONNX Runtime reports them (dynamic dimensions as names or None). YOLOX and
    YOLOv5 share a layout and are told apart by the row count (YOLOv5 has 3 anchors per cell);
    per-stride NanoDet outputs over strides 8/16/32 are read as the old head (NanoDet-m), over
    8/16/32/64 as NanoDet-Plus. A single [1, G3, C + 32] output reads as YOLOX, not as a
    3-stride NanoDet-Plus. Raises ModelFormatError listing the shapes seen and the layouts known.
    """
    wh = (int(input_wh[0]), int(input_wh[1]))
    shapes = [_dims(s) for s in output_shapes]
    family = _identify(shapes, wh)
    if not family:
        pairs = zip_longest(output_names, output_shapes, fillvalue="?")
        seen = ", ".join(f"{n}: {list(s) if s != '?' else s}" for n, s in pairs)
        msg = (
            f"cannot tell the detector family of outputs [{seen}] for input {wh[0]}x{wh[1]}; "
            f"known families: {sorted(DECODERS)} with layouts {_LAYOUTS}. Name the family in "
            "the model registry (data/models.toml) if it is one of these"
        )
        raise ModelFormatError(msg)
    log.debug("outputs %s identified as %s", shapes, family)
    return family
