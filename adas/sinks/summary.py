"""``summary.json``: one drive's replay in numbers, and the merge of several drives.

Per drive: frames, wall time and frames/s of the replay, the recorded time covered, per-stage
latency (mean, p50/p95/p99, max in ms, from ``FrameResult.latency_ns``), frames and events
per decision level (an event is a frame whose level differs from the previous frame's; the
stream starts at NONE), frames the source skipped, by reason, and warnings for the reader (an
input that ended early, frames without ego speed; both given by the caller).

Percentiles of one drive are exact (numpy's linear interpolation over every kept sample). To
merge drives without their samples, each stage also stores a sparse log histogram (100 bins
per decade from 1 us; bin 0 is everything below 1 us): :func:`merge_summaries` sums counts and
histograms and reads the pooled percentiles off the merged histogram at the bin's geometric
centre, which is within 1.2 % of the exact pooled value (bin half-width); means and maxima
merge exactly. Averaging per-drive percentiles instead would be wrong for drives of unequal
length or latency.
"""

from __future__ import annotations

import json
import math
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adas.sinks.base import SinkBase, output_path
from adas.types import DecisionLevel, EncodedImage, FrameResult

SUMMARY_FILE = "summary.json"
BINS_PER_DECADE = 100
_BIN0_NS = 1_000.0  # lower edge of bin 1 (1 us)
PERCENTILES = (50, 95, 99)


def _ms(ns: float) -> float:
    return round(float(ns) / 1e6, 6)


def latency_bin(ns: float) -> int:
    """Histogram bin of a latency in ns (0 below 1 us, then 100 log bins per decade)."""
    if ns < _BIN0_NS:
        return 0
    return 1 + math.floor(BINS_PER_DECADE * math.log10(ns / _BIN0_NS))


def bin_centre_ns(index: int) -> float:
    """Geometric centre of a bin in ns (0.5 us for bin 0)."""
    if index <= 0:
        return _BIN0_NS / 2
    return _BIN0_NS * 10 ** ((index - 0.5) / BINS_PER_DECADE)


@dataclass(frozen=True)
class LatencyStats:
    """Latency statistics of one pipeline stage over a drive (ms) and its histogram
    (bin -> count). Not :class:`adas.detect.detector.StageLatency`, one frame's detector times."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    histogram: dict[int, int]

    @classmethod
    def from_samples(cls, ns: np.ndarray) -> LatencyStats:
        """Exact statistics of the samples (ns, at least one)."""
        a = np.asarray(ns, np.float64)
        p50, p95, p99 = np.percentile(a, PERCENTILES)
        bins = Counter(latency_bin(v) for v in a.tolist())
        return cls(
            count=int(a.size), mean_ms=_ms(a.mean()), p50_ms=_ms(p50), p95_ms=_ms(p95),
            p99_ms=_ms(p99), max_ms=_ms(a.max()), histogram=dict(sorted(bins.items())),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in _STAGE_FIELDS}
        out["histogram"] = {str(k): v for k, v in self.histogram.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LatencyStats:
        hist = {int(k): int(v) for k, v in data["histogram"].items()}
        return cls(**{k: data[k] for k in _STAGE_FIELDS}, histogram=hist)


_STAGE_FIELDS = ("count", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def _hist_percentile(hist: Mapping[int, int], count: int, q: float) -> float:
    """The q-th percentile (ns) read off a histogram: centre of the bin holding the sample at
    numpy's linear-interpolation rank (rounded down)."""
    rank = math.floor(q / 100 * (count - 1))
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen > rank:
            return bin_centre_ns(index)
    return bin_centre_ns(max(hist))


def _merge_stage(parts: list[LatencyStats]) -> LatencyStats:
    hist: Counter[int] = Counter()
    for p in parts:
        hist.update(p.histogram)
    n = sum(p.count for p in parts)
    p50, p95, p99 = (_hist_percentile(hist, n, q) for q in PERCENTILES)
    return LatencyStats(
        count=n, mean_ms=round(sum(p.mean_ms * p.count for p in parts) / n, 6),
        p50_ms=_ms(p50), p95_ms=_ms(p95), p99_ms=_ms(p99),
        max_ms=max(p.max_ms for p in parts), histogram=dict(sorted(hist.items())),
    )  # fmt: skip


def _levels(counts: Mapping[str, int] | None = None) -> dict[str, int]:
    base = {level.name: 0 for level in DecisionLevel}
    return base | dict(counts or {})


@dataclass(frozen=True)
class DriveSummary:
    """The numbers of one drive (``drives == 1``) or of merged drives."""

    name: str
    drives: int
    frames: int
    wall_time_s: float  # replay wall-clock time
    frames_per_s: float | None  # frames / wall_time_s (None without wall time)
    duration_s: float  # recorded time covered: last minus first t_ns, summed over drives
    latency: dict[str, LatencyStats]
    decision_frames: dict[str, int] = field(default_factory=_levels)
    decision_events: dict[str, int] = field(default_factory=_levels)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what the reader must know to trust the numbers

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (no NaN or inf): the layout of ``summary.json``."""
        return {
            "name": self.name, "drives": self.drives, "frames": self.frames,
            "wall_time_s": self.wall_time_s, "frames_per_s": self.frames_per_s,
            "duration_s": self.duration_s,
            "latency_ms": {k: v.to_json() for k, v in self.latency.items()},
            "latency_bins_per_decade": BINS_PER_DECADE,
            "decision_frames": self.decision_frames, "decision_events": self.decision_events,
            "skipped_frames": self.skipped, "skipped_total": sum(self.skipped.values()),
            "warnings": list(self.warnings),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriveSummary:
        return cls(
            name=data["name"], drives=data["drives"], frames=data["frames"],
            wall_time_s=data["wall_time_s"], frames_per_s=data["frames_per_s"],
            duration_s=data["duration_s"],
            latency={k: LatencyStats.from_json(v) for k, v in data["latency_ms"].items()},
            decision_frames=_levels(data["decision_frames"]),
            decision_events=_levels(data["decision_events"]), skipped=dict(data["skipped_frames"]),
            warnings=tuple(data.get("warnings", ())),  # absent from older summary.json files
        )  # fmt: skip

    def write(self, path: str | Path) -> None:
        """Write as JSON, atomically (a reader never sees half a file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n", "utf-8")
        tmp.replace(path)


def read_summary(path: str | Path) -> DriveSummary:
    """A ``summary.json`` file back as a :class:`DriveSummary`."""
    return DriveSummary.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def merge_summaries(summaries: Iterable[DriveSummary], *, name: str = "all") -> DriveSummary:
    """Several drives as one: counts, wall and recorded time summed, frames/s over the total
    wall time, latency percentiles from the merged histograms (see the module docstring), each
    one drive's warnings prefixed with its name."""
    parts = list(summaries)
    if not parts:
        msg = "merge_summaries: no summaries given; pass at least one"
        raise ValueError(msg)
    stages = sorted({s for p in parts for s in p.latency})
    frames, wall = sum(p.frames for p in parts), sum(p.wall_time_s for p in parts)

    def total(key: str) -> dict[str, int]:
        c: Counter[str] = Counter()
        for p in parts:
            c.update(getattr(p, key))
        return dict(c)

    return DriveSummary(
        name=name, drives=sum(p.drives for p in parts), frames=frames, wall_time_s=wall,
        frames_per_s=frames / wall if wall > 0 else None,
        duration_s=sum(p.duration_s for p in parts),
        latency={s: _merge_stage([p.latency[s] for p in parts if s in p.latency]) for s in stages},
        decision_frames=_levels(total("decision_frames")),
        decision_events=_levels(total("decision_events")), skipped=total("skipped"),
        warnings=tuple(w if p.drives > 1 else f"{p.name}: {w}" for p in parts for w in p.warnings),
    )  # fmt: skip


class SummaryBuilder(SinkBase):
    """Accumulates a drive's frames (as a sink) and writes ``summary.json`` on ``close``
    when given ``out_dir``. Wall time runs from construction to ``close`` (``clock`` in s,
    injectable for tests). Latency samples are kept (8 bytes per stage and frame)."""

    def __init__(
        self,
        out_dir: str | Path | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] = time.perf_counter,
        overwrite: bool = False,
    ) -> None:
        self.path = (
            None if out_dir is None else output_path(out_dir, SUMMARY_FILE, overwrite=overwrite)
        )
        self.name, self._clock = name, clock
        self._t_start = clock()
        self._t_end: float | None = None
        self.frames = 0
        self._first_ns: int | None = None
        self._last_ns: int | None = None
        self._latency: dict[str, array[int]] = {}  # int64 samples, compact for long drives
        self._level_frames: Counter[str] = Counter()
        self._level_events: Counter[str] = Counter()
        self._previous = DecisionLevel.NONE
        self._skipped: Counter[str] = Counter()
        self._warnings: list[str] = []
        self._closed_summary: DriveSummary | None = None

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        self.frames += 1
        if self._first_ns is None:
            self._first_ns = result.t_ns
        self._last_ns = result.t_ns
        for stage, ns in result.latency_ns.items():
            self._latency.setdefault(stage, array("q")).append(int(ns))
        level = DecisionLevel(result.decision.level)
        self._level_frames[level.name] += 1
        if level != self._previous:
            self._level_events[level.name] += 1
        self._previous = level

    def add_skipped(self, reasons: Mapping[str, int]) -> None:
        """Add frames the source or pipeline skipped, by reason (``{"decode_error": 2}``)."""
        self._skipped.update({str(k): int(v) for k, v in reasons.items()})
        self._closed_summary = None  # (after close: summary() counts them, the file does not)

    def add_warning(self, text: str) -> None:
        """Add a warning for the reader of the summary (one sentence, with what fixes it)."""
        self._warnings.append(text)
        self._closed_summary = None

    @property
    def stages(self) -> list[str]:
        return list(self._latency)

    def latency_ns(self, stage: str) -> np.ndarray:
        """The kept latency samples of one stage (ns, frame order)."""
        return np.array(self._latency.get(stage, array("q")), np.int64)

    def summary(self) -> DriveSummary:
        """The drive's summary now (wall time up to now, or up to ``close``: then computed
        once)."""
        if self._closed_summary is not None:
            return self._closed_summary
        wall = (self._t_end if self._t_end is not None else self._clock()) - self._t_start
        span = 0 if self._first_ns is None else (self._last_ns or 0) - self._first_ns
        return DriveSummary(
            name=self.name, drives=1, frames=self.frames, wall_time_s=wall,
            frames_per_s=self.frames / wall if wall > 0 else None, duration_s=span * 1e-9,
            latency={k: LatencyStats.from_samples(self.latency_ns(k)) for k in self._latency},
            decision_frames=_levels(self._level_frames),
            decision_events=_levels(self._level_events), skipped=dict(self._skipped),
            warnings=tuple(self._warnings),
        )  # fmt: skip

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._t_end = self._clock()
        self._closed_summary = self.summary()
        if self.path is not None:
            self._closed_summary.write(self.path)
