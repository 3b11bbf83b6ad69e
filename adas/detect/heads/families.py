"""The family registry: ``DECODERS`` (family name -> decoder) and :func:`identify_family`,
which tells the family of an unregistered model from its output shapes.

Layouts of each family: the modules of :mod:`adas.detect.heads`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from itertools import zip_longest

from adas.detect.heads.common import (
    STRIDES_P5,
    STRIDES_P6,
    Decoder,
    grid_size,
    grid_total,
)
from adas.detect.heads.detr import RTDETR_QUERIES, decode_rtdetr
from adas.detect.heads.end2end import decode_nms
from adas.detect.heads.fastestdet import FASTESTDET_STRIDE, decode_fastestdet
from adas.detect.heads.nanodet import (
    NANODET_REG_MAX,
    decode_nanodet,
    decode_nanodet_plus,
    decode_picodet,
)
from adas.detect.heads.yolo import decode_yolov5, decode_yolov6, decode_yolov8, decode_yolox
from adas.errors import ModelFormatError

log = logging.getLogger(__name__)

Dim = int | str | None

DECODERS: dict[str, Decoder] = {
    "yolox": decode_yolox,
    "yolov5": decode_yolov5,
    "yolov6": decode_yolov6,
    "yolov8": decode_yolov8,
    "nanodet": decode_nanodet,
    "nanodet_plus": decode_nanodet_plus,
    "picodet": decode_picodet,
    "fastestdet": decode_fastestdet,
    "rtdetr": decode_rtdetr,
    "nms": decode_nms,
}

YOLOV6_OUTPUT_NAME = "outputs"  # meituan/YOLOv6 deploy/ONNX/export_onnx.py; YOLOX's is "output"
# Paddle2ONNX output names (``save_infer_model/scale_0.tmp_1``, ``transpose_0.tmp_0``,
# ``p2o.Concat.1``): a graph exported from PaddlePaddle.
_PADDLE_NAME = re.compile(r"save_infer_model|\.tmp_\d|^p2o\.")
_NANODET_NAME = re.compile(r"cls_pred|dis_pred|nanodet", re.IGNORECASE)

_LAYOUTS = (
    "yolox [1, G3, 5+C]; yolov5 [1, 3*G3 or 3*G4, 5+C]; yolov6 [1, G3 or G4, 5+C] named "
    "'outputs'; yolov8 [1, 4+C, G3 or G4]; "
    "nanodet: cls_pred [1, N_s, C] + dis_pred [1, N_s, 32] per stride 8/16/32; nanodet_plus: "
    "[1, G4, C+32] or per stride 8/16/32/64; picodet: per stride 8/16/32/64 with Paddle output "
    "names, or boxes [1, G4, 4] + scores [1, C, G4]; fastestdet [1, 5+C, H/16, W/16]; "
    "rtdetr: [1, 300, 4+C] or boxes [1, Q, 4] + logits [1, Q, C]; nms: [1, N, 6], "
    "[N, 7], rows [N, 6] + count [1] (Paddle) or boxes [1, N, 4] + scores [1, N] + "
    "classes [1, N] (+ count [1, 1]); "
    "G3, G4 = grid cells over strides 8/16/32 and 8/16/32/64"
)


def _dims(shape: Sequence[Dim]) -> tuple[int, ...]:
    """A shape with dynamic dimensions (names, None, negative) as -1."""
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


def _identify_single(s: tuple[int, ...], name: str, wh: tuple[int, int]) -> str:
    g3, g4 = grid_total(wh, STRIDES_P5), grid_total(wh, STRIDES_P6)
    if len(s) == 4 and s[0] in (1, -1):
        gw, gh = grid_size(wh, FASTESTDET_STRIDE)
        if s[2:] == (gh, gw) and s[1] >= 6:
            return "fastestdet"
    if len(s) == 3 and s[0] in (1, -1):
        rows, cols = s[1], s[2]
        if rows in (g3, g4) and cols >= 6 and name == YOLOV6_OUTPUT_NAME:
            return "yolov6"
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
        if rows == RTDETR_QUERIES and cols >= 5:
            return "rtdetr"
    if len(s) == 2 and s[1] == 7:
        return "nms"
    return ""


def _identify_pair(shapes: list[tuple[int, ...]], wh: tuple[int, int]) -> str:
    grids = (grid_total(wh, STRIDES_P5), grid_total(wh, STRIDES_P6))
    for r, c in (shapes, shapes[::-1]):
        if len(r) == 2 and r[1] == 6 and len(c) == 1:
            return "nms"  # Paddle multiclass_nms3 rows and count
        if len(r) == 3 and len(c) == 3 and r[0] in (1, -1) and c[0] in (1, -1) and r[2] == 4:
            n = r[1]
            pico = c[2] == n  # scores [1, C, N]
            detr = c[1] == n  # logits [1, Q, C]
            if pico and (not detr or n in grids):
                return "picodet"
            if detr:
                return "rtdetr"
    return ""


def _identify(shapes: list[tuple[int, ...]], names: list[str], wh: tuple[int, int]) -> str:
    if len(shapes) == 1:
        return _identify_single(shapes[0], names[0] if names else "", wh)
    if len(shapes) == 2:
        return _identify_pair(shapes, wh)
    per_stride = {grid_total(wh, (st,)): st for st in STRIDES_P6}
    counts = [s[-2] if len(s) in (2, 3) else -1 for s in shapes]
    if len(shapes) in (6, 8) and all(r in per_stride for r in counts):
        strides = sorted({per_stride[r] for r in counts})
        if len(strides) * 2 == len(shapes) and all(counts.count(r) == 2 for r in counts):
            if any(_PADDLE_NAME.search(n) for n in names):
                return "picodet"
            if tuple(strides) == STRIDES_P5:
                return "nanodet"
            return "nanodet_plus" if any(_NANODET_NAME.search(n) for n in names) else "picodet"
    if len(shapes) in (3, 4) and sum(len(s) >= 2 and s[-1] == 4 for s in shapes) >= 1:
        return "nms"
    return ""


def identify_family(
    output_names: Sequence[str],
    output_shapes: Sequence[Sequence[Dim]],
    input_wh: tuple[int, int],
) -> str:
    """The ``DECODERS`` key whose output layout matches the model's output shapes.

    Shapes as ONNX Runtime reports them (dynamic dimensions as names or None); names only where
    shapes are ambiguous. G3, G4: grid cells over strides 8/16/32 and 8/16/32/64. The rules,
    in the order they are tried:

    - One output [1, G3 or G4, 5 + C] named ``outputs`` (YOLOv6's export name) is YOLOv6. Any
      other name: [1, G3, 5 + C] is YOLOX (YOLOv6 renamed reads as YOLOX; the layouts differ
      only in YOLOX's raw offsets, so name such a model in the registry).
    - [1, 3 G3 or 3 G4, 5 + C] is YOLOv5 (3 anchors per cell; YOLOv7's ``--grid`` export too);
      [1, 4 + C, G3 or G4] is YOLOv8 (YOLO11 too).
    - [1, G4, C + 32] is NanoDet-Plus (a [1, G3, C + 32] one reads as YOLOX, not as a 3-stride
      NanoDet-Plus; a YOLOv6 P6 not named ``outputs`` reads as NanoDet-Plus).
    - [1, N, 6] is an end-to-end graph (``nms``: YOLOv10, ultralytics end2end); this wins over
      RT-DETR, so a 2-class ultralytics RT-DETR [1, 300, 6] must be named in the registry.
      [1, 300, 4 + C] (300 queries, not a grid count) is ultralytics RT-DETR.
    - Two outputs: rows [N, 6] and a count [1] are Paddle's NMS (``nms``); boxes [1, N, 4]
      with scores [1, C, N] are PicoDet without NMS, with logits [1, N, C] RT-DETR / D-FINE
      (when C = N, PicoDet if N is a grid count).
    - Per-stride cls/dis pairs: PicoDet if any output name is a Paddle2ONNX name
      (``save_infer_model/scale_0.tmp_1``, ``*.tmp_0``, ``p2o.*``); else NanoDet-m over strides
      8/16/32; over 8/16/32/64 NanoDet-Plus where a name says NanoDet (``cls_pred``,
      ``dis_pred``), PicoDet otherwise. PicoDet and NanoDet-Plus have the very same per-stride
      shapes and only differ in the centre points ((g + 0.5) s against g s). NanoDet-Plus's own
      export concatenates its levels into one [1, G4, C + 32] output (RangiLyu/nanodet
      ``nanodet_plus_head.py::_forward_onnx``); per-stride outputs over four strides are what
      PaddleDetection's PicoDet exports give (its ``deploy/third_engine`` ONNX demo reads
      scores then boxes per stride 8/16/32/64), so unnamed ones read as PicoDet.
      ``adas models check --fit-card`` tries both on labelled frames.
    - Three or four outputs with boxes [.., 4] are ``nms`` (EfficientNMS style, and the
      RT-DETR / D-FINE deploy export's labels, boxes, scores).

    Raises ModelFormatError listing the shapes seen and the layouts known.
    """
    wh = (int(input_wh[0]), int(input_wh[1]))
    shapes = [_dims(s) for s in output_shapes]
    family = _identify(shapes, [str(n) for n in output_names], wh)
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
