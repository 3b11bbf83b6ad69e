"""CLEAR-MOT tracking metrics (Bernardin & Stiefelhagen, "Evaluating Multiple Object Tracking
Performance: The CLEAR MOT Metrics", EURASIP JIVP 2008), written from scratch.

Feed one frame at a time to :class:`MotAccumulator` (ground-truth ids and boxes, hypothesis
ids and boxes, in pixels) and read a :class:`MotSummary`. Per frame:

1. A ground truth (GT) matched to hypothesis h in the previous frame keeps h if h is still
   present and their IoU is still >= the threshold (the CLEAR-MOT continuity rule; it stops
   a better-overlapping newcomer from stealing an established correspondence).
2. The remaining GT and hypotheses are matched by the Hungarian method on 1 - IoU among
   pairs with IoU >= the threshold, maximising the number of matches first and the total
   IoU second (the convention of the KITTI and MOTChallenge devkits).
3. A match whose GT was last matched (in any earlier frame) to a different hypothesis is an
   identity switch. A GT that was tracked, then missed, then tracked again counts one
   fragmentation per interruption. Unmatched GT are misses, unmatched hypotheses false
   positives.

"Don't care" GT rows (KITTI DontCare regions, truncated or heavily occluded objects) take no
part in steps 1-3; afterwards a hypothesis left unmatched that lies mostly inside one of them
(intersection over the hypothesis area >= the threshold, as the KITTI devkit does for
DontCare) is neither a false positive nor a match. Those rows never count as misses.

The evaluation has its own IoU so that a bug in the tracker's cannot hide itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from adas.errors import ContractError

# Cost given to pairs below the IoU threshold: far above any real cost (<= 1), so the solver
# first maximises the number of valid matches (those pairs are dropped afterwards).
_INVALID = 1e6


@dataclass(frozen=True)
class MotSummary:
    """CLEAR-MOT counts over a sequence (or several, if one accumulator saw them all).

    ``mota`` = 1 - (misses + false_positives + id_switches) / gt_objects, NaN without any
    ground truth. ``motp`` is the mean IoU of the matches (NaN without matches). A GT track is
    mostly tracked when matched in >= 80 % of the frames it is present (not don't care),
    mostly lost below 20 %.
    """

    frames: int
    gt_objects: int  # GT rows that count (not don't care), summed over frames
    gt_tracks: int  # distinct GT ids with at least one such row
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    matches: int
    misses: int
    false_positives: int
    id_switches: int
    fragmentations: int
    mota: float
    motp: float

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class _GtTrack:
    frames: int = 0  # frames present and cared for
    tracked: int = 0  # of those, frames matched
    last_hyp: int | None = None  # hypothesis id at the last match, any earlier frame
    interrupted: bool = False  # tracked before, missed since


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a`` (N x 4, x1 y1 x2 y2) with ``b`` (M x 4): N x M; 0 for empty boxes."""
    inter = _intersection(a, b)
    area_a = _area(a)
    area_b = _area(b)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou, nan=0.0)


def _area(a: np.ndarray) -> np.ndarray:
    return np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def _ids(name: str, ids: npt.ArrayLike) -> np.ndarray:
    out = np.asarray(ids).reshape(-1).astype(np.int64)
    if np.unique(out).size != out.size:
        msg = f"{name} holds the same id twice in one frame: {out.tolist()}; ids must be unique"
        raise ContractError(msg)
    return out


def _boxes(name: str, xyxy: npt.ArrayLike, n: int) -> np.ndarray:
    out = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if out.shape[0] != n:
        msg = f"{name} has {out.shape[0]} boxes for {n} ids; give one x1 y1 x2 y2 row per id"
        raise ContractError(msg)
    return out


class MotAccumulator:
    """Accumulates CLEAR-MOT counts frame by frame; see the module docstring for the rules.

    ``iou_threshold`` 0.5 is the CLEAR-MOT / KITTI / MOTChallenge convention for 2-D boxes;
    the mostly tracked / lost ratios 0.8 / 0.2 are those of Li, Huang & Nevatia (CVPR 2009).
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.5,
        mostly_tracked_ratio: float = 0.8,
        mostly_lost_ratio: float = 0.2,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            msg = f"iou_threshold = {iou_threshold} must lie in (0, 1]"
            raise ValueError(msg)
        self.iou_threshold = iou_threshold
        self.mostly_tracked_ratio = mostly_tracked_ratio
        self.mostly_lost_ratio = mostly_lost_ratio
        self._frames = 0
        self._matches = 0
        self._misses = 0
        self._false_positives = 0
        self._id_switches = 0
        self._fragmentations = 0
        self._iou_sum = 0.0
        self._gt: dict[int, _GtTrack] = {}
        self._merged: list[tuple[int, int]] = []  # (frames, tracked) of merged GT tracks
        self._prev: dict[int, int] = {}  # GT id -> hypothesis id in the previous frame

    def update(
        self,
        gt_ids: npt.ArrayLike,
        gt_xyxy: npt.ArrayLike,
        hyp_ids: npt.ArrayLike,
        hyp_xyxy: npt.ArrayLike,
        ignore: npt.ArrayLike | None = None,
    ) -> None:
        """Add one frame. Boxes are N x 4 (x1, y1, x2, y2) pixels; ``ignore`` is an optional
        boolean mask of the don't-care GT rows (their ids are not used)."""
        g_ids_all = np.asarray(gt_ids).reshape(-1).astype(np.int64)
        g_box_all = _boxes("gt_xyxy", gt_xyxy, g_ids_all.size)
        care = (
            np.ones(g_ids_all.size, bool)
            if ignore is None
            else ~np.asarray(ignore, bool).reshape(-1)
        )
        if care.size != g_ids_all.size:
            msg = f"ignore has {care.size} entries for {g_ids_all.size} GT rows"
            raise ContractError(msg)
        g_ids = _ids("gt_ids", g_ids_all[care])
        g_box = g_box_all[care]
        h_ids = _ids("hyp_ids", hyp_ids)
        h_box = _boxes("hyp_xyxy", hyp_xyxy, h_ids.size)
        self._frames += 1

        iou = box_iou(g_box, h_box)
        valid = iou >= self.iou_threshold
        pairs: list[tuple[int, int]] = []  # (GT row, hyp row)
        g_free = np.ones(g_ids.size, bool)
        h_free = np.ones(h_ids.size, bool)
        # 1. Continuity: keep last frame's correspondences that are still valid.
        h_row = {int(h): r for r, h in enumerate(h_ids)}
        for r, g in enumerate(g_ids):
            h = self._prev.get(int(g))
            c = None if h is None else h_row.get(h)
            if c is not None and valid[r, c]:
                pairs.append((r, c))
                g_free[r] = h_free[c] = False
        # 2. Hungarian on the rest.
        gr, hc = np.flatnonzero(g_free), np.flatnonzero(h_free)
        if gr.size and hc.size:
            sub_valid = valid[np.ix_(gr, hc)]
            if sub_valid.any():
                cost = np.where(sub_valid, 1.0 - iou[np.ix_(gr, hc)], _INVALID)
                rows, cols = linear_sum_assignment(cost)
                for r, c in zip(rows, cols, strict=True):
                    if sub_valid[r, c]:
                        pairs.append((int(gr[r]), int(hc[c])))
                        g_free[gr[r]] = h_free[hc[c]] = False

        # 3. Counting.
        self._prev = {}
        for r, c in pairs:
            g, h = int(g_ids[r]), int(h_ids[c])
            track = self._gt.setdefault(g, _GtTrack())
            if track.last_hyp is not None and track.last_hyp != h:
                self._id_switches += 1
            if track.interrupted:
                self._fragmentations += 1
                track.interrupted = False
            track.last_hyp = h
            track.frames += 1
            track.tracked += 1
            self._prev[g] = h
            self._iou_sum += float(iou[r, c])
        for g in g_ids[g_free].tolist():
            track = self._gt.setdefault(g, _GtTrack())
            track.frames += 1
            track.interrupted = track.tracked > 0
        self._matches += len(pairs)
        self._misses += int(g_free.sum())

        # Hypotheses left over are false positives unless they lie in a don't-care region.
        fp = h_free
        if fp.any() and not care.all():
            rows = np.flatnonzero(fp)
            inter = _intersection(h_box[rows], g_box_all[~care])
            with np.errstate(invalid="ignore", divide="ignore"):
                inside = inter / _area(h_box[rows])[:, None] >= self.iou_threshold
            fp = fp.copy()
            fp[rows[inside.any(axis=1)]] = False
        self._false_positives += int(fp.sum())

    def merge(self, other: MotAccumulator) -> None:
        """Add the counts of ``other`` (another sequence); its GT tracks stay distinct from
        ours even where the ids coincide. Continuity does not carry over between the two."""
        self._frames += other._frames
        self._matches += other._matches
        self._misses += other._misses
        self._false_positives += other._false_positives
        self._id_switches += other._id_switches
        self._fragmentations += other._fragmentations
        self._iou_sum += other._iou_sum
        self._merged.extend(other._track_counts())

    def _track_counts(self) -> list[tuple[int, int]]:
        own = [(t.frames, t.tracked) for t in self._gt.values()]
        return self._merged + own

    def summary(self) -> MotSummary:
        """The counts so far (the accumulator can keep going afterwards)."""
        gt_objects = self._matches + self._misses
        ratios = [tracked / frames for frames, tracked in self._track_counts() if frames]
        mt = sum(1 for r in ratios if r >= self.mostly_tracked_ratio)
        ml = sum(1 for r in ratios if r < self.mostly_lost_ratio)
        errors = self._misses + self._false_positives + self._id_switches
        return MotSummary(
            frames=self._frames,
            gt_objects=gt_objects,
            gt_tracks=len(ratios),
            mostly_tracked=mt,
            partially_tracked=len(ratios) - mt - ml,
            mostly_lost=ml,
            matches=self._matches,
            misses=self._misses,
            false_positives=self._false_positives,
            id_switches=self._id_switches,
            fragmentations=self._fragmentations,
            mota=1.0 - errors / gt_objects if gt_objects else float("nan"),
            motp=self._iou_sum / self._matches if self._matches else float("nan"),
        )
