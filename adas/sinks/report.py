"""``report.html``: one drive's replay on one self-contained page (inline SVG, no scripts, no
external resources), written on ``close``.

Sections: distance and TTC over time for the most relevant tracks (every track the decision
ever targeted first, then the longest in path, at most :data:`MAX_TRACKS`), the decision
timeline (one coloured band per run of a level), the decision events, the alert clips (links
to ``annotated/``, where the replay writes them), a latency histogram per
pipeline stage (p50 / p95 / p99 marked), and the summary tables (:mod:`adas.sinks.summary`).
The plot panels and tables reuse :mod:`adas.scenarios.report`'s SVG helpers. Long drives are
thinned to at most :data:`MAX_POINTS` points per curve (every k-th frame) to keep the page
small; the decision timeline stays exact (it is drawn from the level changes).
"""

from __future__ import annotations

import html
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adas.sinks.base import LEVEL_BGR, SinkBase, bgr_hex, object_rows, output_path
from adas.sinks.clips import Clip
from adas.sinks.events import DecisionEvent, EventDetector
from adas.sinks.summary import DriveSummary, SummaryBuilder
from adas.svgplot import PAD_L, PAD_R, PAD_T, PANEL_H, W, nice_range, panel, table
from adas.types import DecisionLevel, EncodedImage, FrameResult, Zone

REPORT_FILE = "report.html"
MAX_TRACKS = 5  # the panel legend has room for five curves
MAX_POINTS = 2000
TTC_MAX_S = 10.0  # TTC panel scale; larger (and infinite) TTCs are not drawn
HIST_BINS = 40
# Frames left out of the latency histograms (not the tables): after the warm-up the first
# frames still pay one-time costs (on the shared clip frames 1-3 took up to 4x the median in
# inference and box decoding: first allocations of the session's and the sinks' buffers).
WARMUP_FRAMES = 5
_PALETTE = ("#1f5fa8", "#d2691e", "#2e8b57", "#8b1a8b", "#b8860b")


@dataclass
class _TrackSeries:
    class_name: str
    frame: array[int] = field(default_factory=lambda: array("q"))
    distance_m: array[float] = field(default_factory=lambda: array("d"))
    ttc_s: array[float] = field(default_factory=lambda: array("d"))
    in_path: int = 0
    targeted: bool = False


class ReportSink(SinkBase):
    """Collects what the report plots, frame by frame, and writes ``report.html`` on close.

    :attr:`summary` and :attr:`detector` give the summary tables and the decision events. By
    default the report has its own and feeds them; a replay that already feeds a
    :class:`SummaryBuilder` and an :class:`EventDetector` (those of ``summary.json`` and
    ``events.jsonl``) passes them in, and the report only reads them (they must have seen every
    frame by the time the report closes). Pass skipped-frame reasons and warnings to the
    summary (``sink.summary.add_skipped(...)``) for them to appear in the summary table.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        title: str = "ADAS replay",
        overwrite: bool = False,
        summary: SummaryBuilder | None = None,
        detector: EventDetector | None = None,
        clips: Callable[[], Sequence[Clip]] | None = None,
    ) -> None:
        self.path = output_path(out_dir, REPORT_FILE, overwrite=overwrite)
        self.title = title
        self.clips = clips  # the drive's alert clips at close (a ClipSink's); None: no section
        self._feeds_summary, self._feeds_detector = summary is None, detector is None
        self.summary = SummaryBuilder(name=title) if summary is None else summary
        self.detector = EventDetector() if detector is None else detector
        self._t0_ns: int | None = None
        self._t_s: array[float] = array("d")
        self._levels: array[int] = array("b")
        self._tracks: dict[int, _TrackSeries] = {}

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        if self._t0_ns is None:
            self._t0_ns = result.t_ns
        k = len(self._t_s)
        self._t_s.append((result.t_ns - self._t0_ns) * 1e-9)
        self._levels.append(int(result.decision.level))
        target = int(result.decision.target_track_id)
        for r in object_rows(result):
            s = self._tracks.setdefault(r.track_id, _TrackSeries(r.class_name))
            s.frame.append(k)
            s.distance_m.append(r.distance_m)
            s.ttc_s.append(r.ttc_s)
            s.in_path += r.zone == Zone.IN_PATH
            s.targeted = s.targeted or r.track_id == target
        if self._feeds_detector:
            self.detector.update(result)
        if self._feeds_summary:
            self.summary.write(result)

    @property
    def events(self) -> list[DecisionEvent]:
        """The decision events so far (the detector's)."""
        return self.detector.events

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self._feeds_summary:
            self.summary.close()
        clips = "" if self.clips is None else _clips(self.clips(), self.path.parent, self._t0_ns)
        page = _page(
            self.title, self._t_s, self._levels, self._tracks, self.events, self.summary, clips
        )
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(self.path)


def _svg(body: str, height: float) -> str:
    # Inline SVG inside HTML needs no xmlns, which keeps the page free of any URL.
    return f'<svg width="{W}" height="{height:.0f}" viewBox="0 0 {W} {height:.0f}">{body}</svg>'


def _time_axis(y: float, t_end: float) -> str:
    right = W - PAD_R
    return (
        f'<text x="{PAD_L}" y="{y}" font-size="10">0 s</text>'
        f'<text x="{right}" y="{y}" font-size="10" text-anchor="end">{t_end:.1f} s</text>'
    )


def _pick_tracks(tracks: dict[int, _TrackSeries]) -> list[int]:
    """Targeted tracks first, then by frames in path, then by frames seen."""

    def rank(tid: int) -> tuple[bool, int, int]:
        s = tracks[tid]
        return s.targeted, s.in_path, len(s.frame)

    return sorted(tracks, key=rank, reverse=True)[:MAX_TRACKS]


def _track_plot(
    t_s: array[float], tracks: dict[int, _TrackSeries], ids: list[int], what: str
) -> str:
    """One panel of ``what`` (``distance_m`` or ``ttc_s``) per chosen track over time."""
    n = len(t_s)
    step = max(1, math.ceil(n / MAX_POINTS))
    ts = list(t_s[::step])
    curves, top, bottom = [], 0.0, math.inf
    for i, tid in enumerate(ids):
        s = tracks[tid]
        ys = np.full(n, np.nan)
        ys[np.asarray(s.frame, np.int64)] = np.asarray(getattr(s, what), np.float64)
        if what == "ttc_s":
            ys[ys > TTC_MAX_S] = np.nan
        finite = ys[np.isfinite(ys)]
        top = max(top, float(finite.max()) if finite.size else 0.0)
        bottom = min(bottom, float(finite.min()) if finite.size else math.inf)
        curves.append((f"#{tid} {s.class_name}", ys[::step].tolist(), _PALETTE[i % len(_PALETTE)]))
    if what == "ttc_s":
        ymin, ymax, unit = 0.0, TTC_MAX_S, "TTC s"
    else:  # scaled to the data: tracks 40-45 m away fill the panel, not its top tenth
        ymin, ymax = nice_range(max(bottom, 0.0), top, min_span=5.0)
        unit = "distance m"
    t_end = ts[-1] if ts else 0.0
    body = panel(PAD_T, ts, curves, ymax, unit, t_end, ymin=max(ymin, 0.0))
    return _svg(body + _time_axis(PAD_T + PANEL_H + 14, t_end), PAD_T + PANEL_H + 20)


def _timeline(t_s: array[float], levels: array[int]) -> str:
    """The decision level as coloured bands (one per run of equal level) and a legend."""
    n = len(t_s)
    t_end = t_s[-1] if n else 0.0
    span = W - PAD_L - PAD_R

    def sx(t: float) -> float:
        return PAD_L + span * t / max(t_end, 1e-6)

    lv = np.asarray(levels, np.int64)
    starts = np.flatnonzero(np.r_[True, lv[1:] != lv[:-1]]) if n else np.zeros(0, np.int64)
    parts, bar_h = [], 24
    for j, a in enumerate(starts.tolist()):
        b = int(starts[j + 1]) if j + 1 < len(starts) else n - 1
        x0, x1 = sx(t_s[a]), sx(t_s[b]) if b > a else sx(t_s[a]) + 1.0
        colour = bgr_hex(LEVEL_BGR[DecisionLevel(int(lv[a]))])
        parts.append(
            f'<rect x="{x0:.1f}" y="{PAD_T}" width="{max(x1 - x0, 1.0):.1f}" height="{bar_h}" '
            f'fill="{colour}"><title>{DecisionLevel(int(lv[a])).name} from {t_s[a]:.2f} s'
            "</title></rect>"
        )
    y = PAD_T + bar_h + 14
    parts.append(_time_axis(y, t_end))
    for i, level in enumerate(DecisionLevel):
        x = PAD_L + 40 + 105 * i
        parts.append(
            f'<rect x="{x}" y="{y + 8}" width="10" height="10" fill="{bgr_hex(LEVEL_BGR[level])}"/>'
            f'<text x="{x + 14}" y="{y + 17}" font-size="10">{level.name}</text>'
        )
    return _svg("".join(parts), y + 24)


def _steady(ns: np.ndarray) -> np.ndarray:
    """A stage's samples without the warm-up frames, where enough frames remain."""
    return ns[WARMUP_FRAMES:] if len(ns) > 2 * WARMUP_FRAMES else ns


def _histogram(stage: str, ns: np.ndarray) -> str:
    """Latency histogram of one stage in ms, with p50 / p95 / p99 lines."""
    ms = ns.astype(np.float64) / 1e6
    p995, *lines = np.percentile(ms, (99.5, 50, 95, 99)).tolist()
    hi = max(p995 * 1.1, 1e-3)
    counts, _ = np.histogram(np.minimum(ms, hi), bins=HIST_BINS, range=(0.0, hi))
    h, span = 90, W - PAD_L - PAD_R
    y0, bw, top = PAD_T, span / HIST_BINS, max(int(counts.max()), 1)
    parts = [
        f'<rect x="{PAD_L}" y="{y0}" width="{span}" height="{h}" fill="#fafafa" stroke="#bbb"/>',
        f'<text x="4" y="{y0 + 10}" font-size="10">{html.escape(stage)}</text>',
        f'<text x="{PAD_L - 4}" y="{y0 + 10}" font-size="9" text-anchor="end">{top}</text>',
    ]
    for i, c in enumerate(counts.tolist()):
        bh = h * c / top
        parts.append(
            f'<rect x="{PAD_L + i * bw:.1f}" y="{y0 + h - bh:.1f}" width="{bw - 1:.1f}" '
            f'height="{bh:.1f}" fill="#4a7fb5"/>'
        )
    marks = ((50, "#2a2"), (95, "#e90"), (99, "#d22"))
    for i, ((q, colour), v) in enumerate(zip(marks, lines, strict=True)):
        x = PAD_L + span * min(v, hi) / hi
        parts.append(
            f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h}" stroke="{colour}"/>'
            f'<text x="{x + 2:.1f}" y="{y0 + 10 + 12 * i}" font-size="9" fill="{colour}">'
            f"p{q} {v:.2f} ms</text>"
        )
    axis = (
        f'<text x="{PAD_L}" y="{y0 + h + 12}" font-size="10">0 ms</text>'
        f'<text x="{W - PAD_R}" y="{y0 + h + 12}" font-size="10" text-anchor="end">'
        f"{hi:.2f} ms</text>"
    )
    return _svg("".join(parts) + axis, y0 + h + 18)


_SUMMARY_COLS = (("key", "quantity"), ("value", "value"))
_LEVEL_COLS = (("level", "decision level"), ("frames", "frames"), ("events", "events"))
_LATENCY_COLS = (
    ("stage", "stage"), ("count", "frames"), ("mean_ms", "mean ms"), ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms"),
)  # fmt: skip
_EVENT_COLS = (
    ("t_s", "time s"), ("event", "event"), ("level", "level"), ("previous", "from"),
    ("target_track_id", "target"), ("class", "class"), ("distance_m", "distance m"),
    ("ttc_s", "TTC s"), ("decel_request_mps2", "decel m/s2"), ("reason", "reason"),
)  # fmt: skip


def _summary_tables(s: DriveSummary) -> str:
    rows: list[dict[str, Any]] = [
        {"key": "frames", "value": s.frames},
        {"key": "recorded time s", "value": s.duration_s},
        {"key": "replay wall time s", "value": s.wall_time_s},
        {"key": "frames/s", "value": s.frames_per_s},
    ]
    rows += [{"key": f"skipped: {k}", "value": v} for k, v in s.skipped.items()]
    rows += [{"key": "warning", "value": w} for w in s.warnings]
    levels = [
        {"level": k, "frames": v, "events": s.decision_events[k]}
        for k, v in s.decision_frames.items()
    ]
    lat = [{"stage": k, **v.to_json()} for k, v in s.latency.items()]
    return table(rows, _SUMMARY_COLS) + table(levels, _LEVEL_COLS) + table(lat, _LATENCY_COLS)


def _clips(clips: Sequence[Clip], folder: Path, t0_ns: int | None) -> str:
    """The alert clips: a link to each file (relative to the page), its start event's level,
    the capture times it holds (s since the drive's first frame), frames and episodes."""
    head = '<section id="clips"><h2>Alert clips</h2>'
    if not clips:
        return head + "<p>No clips: no alert.</p></section>"
    rows, t0_ns = [], t0_ns or 0
    for c in clips:
        inside = c.path.is_relative_to(folder)
        href = html.escape(c.path.relative_to(folder).as_posix() if inside else c.path.as_uri())
        span = ""
        if c.first_t_ns is not None and c.last_t_ns is not None:
            span = f"{(c.first_t_ns - t0_ns) * 1e-9:.2f} - {(c.last_t_ns - t0_ns) * 1e-9:.2f}"
        rows.append(
            f'<tr><td><a href="{href}">{html.escape(c.path.name)}</a></td>'
            f"<td>{c.level.name}</td><td>{span}</td><td>{c.frames}</td><td>{c.episodes}</td></tr>"
        )
    cols = "".join(f"<th>{h}</th>" for h in ("clip", "level", "t [s]", "frames", "episodes"))
    return f"{head}<table><tr>{cols}</tr>{''.join(rows)}</table></section>"


def _page(
    title: str,
    t_s: array[float],
    levels: array[int],
    tracks: dict[int, _TrackSeries],
    events: list[DecisionEvent],
    summary: SummaryBuilder,
    clips: str = "",
) -> str:
    """The whole page as a string (``ReportSink.close`` writes it); ``clips``: its section."""
    ids = _pick_tracks(tracks)
    no_tracks = "<p>(no tracks)</p>"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;margin:8px 0}",
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}",
        "td:first-child{text-align:left}section{margin-bottom:18px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(t_s)} frames, {len(tracks)} tracks, {len(events)} decision events.</p>",
        '<section id="distance"><h2>Distance per track</h2>',
        _track_plot(t_s, tracks, ids, "distance_m") if ids else no_tracks, "</section>",
        '<section id="ttc"><h2>Time to collision per track</h2>',
        _track_plot(t_s, tracks, ids, "ttc_s") if ids else no_tracks, "</section>",
        '<section id="decisions"><h2>Decision timeline</h2>', _timeline(t_s, levels),
        table([e.to_json() for e in events], _EVENT_COLS) if events
        else "<p>No decision events: the decision stayed NONE throughout.</p>", "</section>",
        clips, '<section id="latency"><h2>Latency per stage</h2>',
    ]  # fmt: skip
    if summary.frames > 2 * WARMUP_FRAMES:
        parts.append(
            f"<p>The first {WARMUP_FRAMES} frames (one-time costs after the warm-up) are left "
            "out of the histograms; the table below has every frame.</p>"
        )
    parts += [_histogram(stage, _steady(summary.latency_ns(stage))) for stage in summary.stages]
    parts += ["</section>", '<section id="summary"><h2>Summary</h2>']
    parts += [_summary_tables(summary.summary()), "</section></body></html>"]
    return "\n".join(parts)
