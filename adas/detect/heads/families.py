"""The family registry: ``DECODERS`` (family name -> decoder) and :func:`identify_family`,
which tells the family of an unregistered model from its output shapes.

Layouts of each family: the modules of :mod:`adas.detect.heads`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import zip_longest

from adas.detect.heads.common import (
    STRIDES_P5,
    STRIDES_P6,
    Decoder,
    grid_size,
    grid_total,
)
from adas.detect.heads.end2end import decode_nms
from adas.detect.heads.fastestdet import FASTESTDET_STRIDE, decode_fastestdet
from adas.detect.heads.nanodet import NANODET_REG_MAX, decode_nanodet, decode_nanodet_plus
from adas.detect.heads.yolo import decode_yolov5, decode_yolov8, decode_yolox
from adas.errors import ModelFormatError

log = logging.getLogger(__name__)

Dim = int | str | None

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
            gw, gh = grid_size(wh, FASTESTDET_STRIDE)
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
