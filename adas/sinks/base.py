"""What every replay output sink shares: the ``Sink`` protocol, the per-object row view of a
``FrameResult`` and the colours that code zone, danger and decision level.

A sink consumes one ``FrameResult`` per frame (plus, for image sinks, the frame as BGR uint8)
and writes one file into an output directory. Each sink is a context manager whose ``close``
runs on any exit, Ctrl-C (``KeyboardInterrupt``) included, so the file it leaves is readable up
to the last frame written: line formats flush every frame, MCAP is finalised in ``close``, and
the H.264 videos are fragmented MP4, readable up to their last fragment (about a second) even
after a hard kill.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import numpy as np

from adas.closing import Closing
from adas.errors import SinkError
from adas.types import DangerLevel, DecisionLevel, EncodedImage, FrameResult, ObjectClass, Zone

log = logging.getLogger(__name__)

BGR = tuple[int, int, int]

# Box colours (BGR). In path: red once the object is a warning-or-worse threat, else orange;
# adjacent lane yellow; outside the corridor grey; not yet classified by the danger stage blue.
THREAT_BGR: BGR = (0, 0, 255)
IN_PATH_BGR: BGR = (0, 140, 255)
ADJACENT_BGR: BGR = (0, 220, 255)
OUTSIDE_BGR: BGR = (160, 160, 160)
UNKNOWN_BGR: BGR = (230, 170, 60)
# Banner / timeline colour per decision level (BGR), indexed by DecisionLevel value.
LEVEL_BGR: dict[DecisionLevel, BGR] = {
    DecisionLevel.NONE: (70, 70, 70),
    DecisionLevel.CAUTION: (0, 220, 255),
    DecisionLevel.WARNING: (0, 140, 255),
    DecisionLevel.BRAKE_PARTIAL: (0, 0, 255),
    DecisionLevel.BRAKE_FULL: (90, 0, 170),
    DecisionLevel.UNAVAILABLE: (150, 110, 60),
}


@runtime_checkable
class Sink(Protocol):
    """One output of ``adas replay``: ``write`` once per frame, ``close`` once at the end.

    ``image`` is the frame as H x W x 3 BGR uint8 (or ``None`` where the caller has none);
    sinks that do not draw ignore it. ``encoded`` is the frame as the source recorded it
    (JPEG/PNG bytes, an H.264 access unit; ``None`` where it has none), for sinks that store
    images without encoding them again. ``close`` is idempotent and finalises the file.
    """

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SinkBase(Closing):
    """Context-manager plumbing shared by the sinks: ``__exit__`` always closes (also on an
    exception or Ctrl-C, which is the point: the file must be finalised, not abandoned)."""

    closed: bool = False

    def close(self) -> None:
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            msg = f"{type(self).__name__}: write after close; open a new sink for a new run"
            raise SinkError(msg)


def output_path(out_dir: str | Path, name: str, *, overwrite: bool) -> Path:
    """``out_dir / name``, creating ``out_dir``; refuses to replace an existing file unless
    ``overwrite`` (a replay must not silently destroy an earlier run's results)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    if path.exists() and not overwrite:
        msg = f"{path} exists; choose a new output directory or pass overwrite=True"
        raise SinkError(msg)
    return path


class MultiSink(SinkBase):
    """Fans every frame out to several sinks and closes all of them, even when one fails.

    The replay loop needs one ``with MultiSink([...]) as sinks:``; a failing ``close`` of one
    sink is logged and re-raised after the others have been closed.
    """

    def __init__(self, sinks: Iterable[Sink], timing: dict[str, int] | None = None) -> None:
        """``timing``, where given, accumulates each sink's wall time in ns (writes, and
        ``<name>.close``) by sink class name: where a replay's output time goes."""
        self.sinks = list(sinks)
        self.timing = timing

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        if self.timing is None:
            for sink in self.sinks:
                sink.write(result, image, encoded)
            return
        for sink in self.sinks:
            t0 = time.perf_counter_ns()
            sink.write(result, image, encoded)
            name = type(sink).__name__
            self.timing[name] = self.timing.get(name, 0) + time.perf_counter_ns() - t0

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        first: BaseException | None = None
        for sink in self.sinks:
            t0 = time.perf_counter_ns()
            try:
                sink.close()
            except Exception as err:  # close the rest first, then report the first failure
                log.error("closing %s failed: %s", type(sink).__name__, err)
                first = first or err
            if self.timing is not None:
                key = f"{type(sink).__name__}.close"
                self.timing[key] = self.timing.get(key, 0) + time.perf_counter_ns() - t0
        if first is not None:
            raise first


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One tracked object of a frame with its state; NaN where the motion stage has none.

    Distances in m (vehicle frame, ISO 8855: ``lateral_m`` positive left), speeds in m/s,
    ``ttc_s`` inf when opening. ``xyxy`` is the track box in pixels of the original image.
    """

    track_id: int
    class_id: int
    score: float
    xyxy: tuple[float, float, float, float]
    distance_m: float
    sigma_distance_m: float
    lateral_m: float
    range_rate_mps: float
    accel_mps2: float
    ttc_s: float
    zone: Zone
    danger: DangerLevel

    @property
    def class_name(self) -> str:
        return class_name(self.class_id)


def class_name(class_id: int) -> str:
    """Lower-case ADAS class name (``car``), ``class_<id>`` for an id outside ``ObjectClass``."""
    try:
        return ObjectClass(int(class_id)).name.lower()
    except ValueError:
        return f"class_{int(class_id)}"


_last_rows: tuple[FrameResult, tuple[ObjectRow, ...]] | None = None


def object_rows(result: FrameResult) -> tuple[ObjectRow, ...]:
    """The frame's tracks joined with their object states by track id.

    The motion stage returns one state row per track in track order; a result built otherwise
    (states missing, e.g. on an UNAVAILABLE frame, or reordered) is joined by id, and a track
    without a state gets NaN kinematics, zone UNKNOWN and danger NONE. The rows of the last
    result asked for are kept: a replay's outputs each ask for the same frame's (results are
    immutable, so the same object has the same rows).
    """
    global _last_rows
    last = _last_rows
    if last is not None and last[0] is result:
        return last[1]
    rows = _join_rows(result)
    _last_rows = (result, rows)
    return rows


def _join_rows(result: FrameResult) -> tuple[ObjectRow, ...]:
    tr, ob = result.tracks, result.objects
    aligned = len(ob) == len(tr) and bool(np.array_equal(ob.track_id, tr.track_id))
    index = {} if aligned else {int(t): j for j, t in enumerate(ob.track_id)}
    rows = []
    for i in range(len(tr)):
        tid = int(tr.track_id[i])
        j = i if aligned else index.get(tid, -1)
        box = tr.xyxy[i]
        xyxy = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))

        def state(arr: np.ndarray, j: int = j) -> float:
            return float(arr[j]) if j >= 0 else math.nan

        rows.append(
            ObjectRow(
                track_id=tid,
                class_id=int(tr.class_id[i]),
                score=float(tr.score[i]),
                xyxy=xyxy,
                distance_m=state(ob.distance_m),
                sigma_distance_m=state(ob.sigma_distance_m),
                lateral_m=state(ob.lateral_m),
                range_rate_mps=state(ob.range_rate_mps),
                accel_mps2=state(ob.accel_mps2),
                ttc_s=state(ob.ttc_s),
                zone=Zone(int(ob.zone[j])) if j >= 0 else Zone.UNKNOWN,
                danger=DangerLevel(int(ob.danger[j])) if j >= 0 else DangerLevel.NONE,
            )
        )
    return tuple(rows)


def object_bgr(zone: Zone, danger: DangerLevel) -> BGR:
    """Box colour of an object: see the module constants (red means an in-path threat)."""
    if zone == Zone.IN_PATH:
        return THREAT_BGR if danger >= DangerLevel.WARNING else IN_PATH_BGR
    if zone == Zone.ADJACENT:
        return ADJACENT_BGR
    if zone == Zone.OUTSIDE:
        return OUTSIDE_BGR
    return UNKNOWN_BGR


def bgr_hex(bgr: BGR) -> str:
    """``#rrggbb`` of a BGR colour (for HTML / SVG)."""
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def finite(x: float) -> float | None:
    """``x`` as a float, or ``None`` where it is NaN or infinite (JSON has neither)."""
    v = float(x)
    return v if math.isfinite(v) else None
