"""Decoders of the GFL heads: NanoDet-m (the old head), NanoDet-Plus and PicoDet.

``nanodet`` (NanoDet-m, the old GFL head) and ``nanodet_plus``: per-stride outputs
cls_pred [1, N_s, C] (sigmoided in the export: RangiLyu/nanodet ``nanodet_head.py`` and
``nanodet_plus_head.py::_forward_onnx``; the shared nanodet_m_320.onnx is all in [0, 1]) and
dis_pred [1, N_s, 4 (reg_max + 1)], or NanoDet-Plus's single output [1, N, C + 4 (reg_max + 1)]
over strides 8/16/32/64. Each side's distance is the expectation of a softmax over the
reg_max + 1 bins times the stride (Generalized Focal Loss). Centre points: the old head uses
(g + 0.5) s (``gfl_head.py::get_single_level_center_point``), NanoDet-Plus uses g s
(``nanodet_plus_head.py::get_single_level_center_priors``). Checked on the shared
nanodet_m_320.onnx: its two cars on the Udacity still test1.jpg agree with YOLOX-nano's boxes
within 3.5 px per edge (mean) with (g + 0.5) s, and 15 px with g s.

``picodet`` (PaddleDetection PP-PicoDet, legacy 2021.10 ``PicoHead`` and v2 ``PicoHeadV2``), two
ONNX exports (Paddle2ONNX of ``tools/export_model.py``):

- ``export.post_process=False`` (the ``*_non_postprocess`` downloads, and the legacy
  ``picodet_s_320_coco.onnx`` of ``deploy/third_engine``): per-stride cls [1, N_s, C] (sigmoided;
  v2 multiplies in its alignment probability and takes the square root, still in [0, 1]) for
  strides 8/16/32/64, then dis [1, N_s, 4 (reg_max + 1)] raw logits, named
  ``save_infer_model/scale_0.tmp_1`` .. ``scale_7.tmp_1`` (``ppdet/modeling/heads/pico_head.py``
  ``forward`` deploy branch; the output list in ``deploy/third_engine/demo_ncnn``). The layout is
  NanoDet-Plus's per-stride one, but the centres differ: ``cell_offset: 0.5`` and
  ``reg_max: 7`` in ``configs/picodet/_base_/picodet_esnet.yml`` (legacy) and ``picodet_v2.yml``,
  so centres are (g + 0.5) s as for NanoDet-m. (The hpc203 and Kazuhito00 ONNX samples use
  g s + (s - 1) / 2, the same point in the pixel-centre convention.)
- ``export.nms=False`` with post-processing kept: boxes [1, N, 4] (x1, y1, x2, y2 in input pixels:
  ``PicoHeadV2.forward_eval`` multiplies by the stride, and ``post_process`` returns before
  dividing by ``scale_factor`` when NMS is left out) and scores [1, C, N], N = cells over
  strides 8/16/32/64 (or 8/16/32). score = max class.

Conventions shared by every decoder: :mod:`adas.detect.heads`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from adas.detect.heads.common import (
    STRIDES_P5,
    STRIDES_P6,
    RawDetections,
    check_args,
    finish,
    grid_size,
    grid_total,
    raise_format_error,
    two_matrices,
    unbatch,
)

NANODET_REG_MAX = 7  # every upstream NanoDet config (m, Plus); GFL's own default is 16

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
    arrays = [unbatch(np.asarray(o, np.float32), 2) for o in outputs]
    if not arrays or any(a is None for a in arrays):
        raise_format_error(family, "expected 2-D outputs after the batch dimension of 1", outputs)
    mats = [a for a in arrays if a is not None]
    reg = 4 * (NANODET_REG_MAX + 1)
    if len(mats) == 1:  # NanoDet-Plus export: all strides concatenated, [cls | dis] columns
        pred = mats[0]
        strides = next((s for s in (STRIDES_P6, STRIDES_P5) if grid_total(wh, s) == len(pred)), ())
        if not strides or pred.shape[1] <= reg:
            n4, n3 = grid_total(wh, STRIDES_P6), grid_total(wh, STRIDES_P5)
            raise_format_error(family, f"expected 1 x ({n4} or {n3}) x (classes + {reg})", outputs)
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
            what = f"outputs with {rows} rows are not a cls/dis pair of one stride"
            raise_format_error(family, what, outputs)
        a, b = members
        roles = {_gfl_role(names[i]) for i in members} if len(names) == len(mats) else set()
        if roles == {"cls", "dis"}:
            if _gfl_role(names[a]) == "dis":
                a, b = b, a
        else:  # by shape: dis_pred has 4 (reg_max + 1) columns
            wide = [i for i in members if mats[i].shape[1] == reg]
            if len(wide) != 1:
                what = f"cannot tell cls_pred from dis_pred ({reg} columns) among {rows} rows"
                raise_format_error(family, what + "; pass output_names", outputs)
            b = wide[0]
            a = members[0] if b == members[1] else members[1]
        if mats[b].shape[1] != reg:
            what = f"dis_pred needs {reg} columns (reg_max {NANODET_REG_MAX})"
            raise_format_error(family, what, outputs)
        levels.append((stride_of_rows[rows], mats[a], mats[b]))
    if len({lv[1].shape[1] for lv in levels}) != 1 or levels[0][1].shape[1] < 1:
        what = "cls_pred outputs need the same number (>= 1) of classes"
        raise_format_error(family, what, outputs)
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
    wh = check_args(input_wh, score_threshold)
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
            gy, gx = np.divmod(idx, grid_size(wh, stride)[0])
            cx, cy = (gx + centre_offset) * stride, (gy + centre_offset) * stride
            logits = dis[idx].reshape(idx.size, 4, NANODET_REG_MAX + 1)
            p = np.exp(logits - logits.max(axis=2, keepdims=True))
            d = (p @ bins) / p.sum(axis=2) * stride  # left, top, right, bottom
            parts.append(([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], score, label))
    corners = [np.concatenate([p[0][k] for p in parts]) for k in range(4)]
    score_all = np.concatenate([p[1] for p in parts])
    return finish(family, corners, score_all, np.concatenate([p[2] for p in parts]), outputs)


def decode_nanodet(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """NanoDet-m (old GFL head): centre points (g + 0.5) * stride."""
    return _decode_gfl("nanodet", 0.5, outputs, input_wh, score_threshold, output_names)


def _picodet_boxes_scores(
    outputs: Sequence[np.ndarray], output_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes N x 4, scores C x N) of PicoDet's ``export.nms=False`` outputs, in either order."""
    a, b = two_matrices("picodet", outputs)
    roles = [_gfl_role(n) for n in output_names] if output_names is not None else []
    if sorted(map(str, roles)) == ["cls", "dis"]:  # names say which is which
        boxes, scores = (a, b) if roles[0] == "dis" else (b, a)
    elif a.shape[1] == 4 and b.shape[1] == a.shape[0]:
        boxes, scores = a, b
    else:
        boxes, scores = b, a
    if boxes.shape[1] != 4 or scores.shape[1] != boxes.shape[0] or scores.shape[0] < 1:
        what = "expected boxes [1, N, 4] and scores [1, classes, N]"
        raise_format_error("picodet", what, outputs)
    return boxes, scores


def decode_picodet(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """PicoDet: per-stride cls/dis pairs with centres (g + 0.5) * stride, or the decoded boxes
    [1, N, 4] and scores [1, C, N] of an export without NMS (see the module docstring)."""
    if len(outputs) != 2:
        return _decode_gfl("picodet", 0.5, outputs, input_wh, score_threshold, output_names)
    check_args(input_wh, score_threshold)
    boxes, scores = _picodet_boxes_scores(outputs, output_names)
    with np.errstate(invalid="ignore"):
        # Reading along the class axis follows memory order; the arg-max only runs on the
        # columns with some class above the threshold (as for YOLOv8's transposed output).
        idx = np.flatnonzero((scores >= score_threshold).any(axis=0))
        cols = scores[:, idx]
        label = cols.argmax(axis=0)
        score = cols[label, np.arange(idx.size)]
        keep = score >= score_threshold
        idx, score, label = idx[keep], score[keep], label[keep]
        corners = [boxes[idx, k] for k in range(4)]
    return finish("picodet", corners, score, label, outputs)


def decode_nanodet_plus(
    outputs: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    score_threshold: float,
    *,
    output_names: Sequence[str] | None = None,
) -> RawDetections:
    """NanoDet-Plus: centre points g * stride; single concatenated output or per stride."""
    return _decode_gfl("nanodet_plus", 0.0, outputs, input_wh, score_threshold, output_names)
