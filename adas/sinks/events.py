"""``events.jsonl``: one JSON line per decision event, flushed as it happens.

An event is a change of the decision level that the driver notices: entering an alert level
(WARNING, BRAKE_PARTIAL, BRAKE_FULL, UNAVAILABLE) from a quiet one (NONE, CAUTION) is a
``start``, moving between alert levels a ``change``, and dropping back to a quiet level an
``end`` (with how long the alert episode lasted). NONE <-> CAUTION is not an event (it has no
driver-visible alert). The stream starts quiet (NONE), so an alert on the first frame is a
``start``. Times: ``t_ns`` as recorded, ``t_s`` seconds since the first frame of the stream.
Values that are NaN or infinite (a TTC while opening) are written as ``null``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from adas.sinks.base import SinkBase, class_name, finite, object_rows, output_path
from adas.types import DecisionLevel, EncodedImage, FrameResult

EVENTS_FILE = "events.jsonl"
ALERT_LEVELS = frozenset(
    {
        DecisionLevel.WARNING,
        DecisionLevel.BRAKE_PARTIAL,
        DecisionLevel.BRAKE_FULL,
        DecisionLevel.UNAVAILABLE,
    }
)
EventKind = Literal["start", "change", "end"]


@dataclass(frozen=True)
class DecisionEvent:
    """One decision event. ``target_*`` describe the decision's target track in that frame
    (``None`` when there is none, or it is not among the frame's tracks)."""

    kind: EventKind
    level: DecisionLevel
    previous: DecisionLevel
    t_ns: int
    t_s: float  # seconds since the first frame of the stream
    seq: int
    target_track_id: int | None
    class_name: str | None
    distance_m: float | None
    ttc_s: float | None
    decel_request_mps2: float | None
    reason: str
    episode_s: float | None = None  # ``end`` only: seconds since the episode's ``start``

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (level names as strings, no NaN or inf)."""
        return {
            "event": self.kind,
            "level": self.level.name,
            "previous": self.previous.name,
            "t_ns": self.t_ns,
            "t_s": self.t_s,
            "seq": self.seq,
            "target_track_id": self.target_track_id,
            "class": self.class_name,
            "distance_m": self.distance_m,
            "ttc_s": self.ttc_s,
            "decel_request_mps2": self.decel_request_mps2,
            "reason": self.reason,
            "episode_s": self.episode_s,
        }


class EventDetector:
    """Turns the per-frame decisions into events (no I/O). ``events`` keeps every event made so
    far (a drive has few), so one detector serves ``events.jsonl`` and the HTML report."""

    def __init__(self) -> None:
        self.events: list[DecisionEvent] = []
        self._previous = DecisionLevel.NONE
        self._t0_ns: int | None = None
        self._episode_t_ns: int | None = None

    def update(self, result: FrameResult) -> DecisionEvent | None:
        """The event this frame makes, or ``None``."""
        if self._t0_ns is None:
            self._t0_ns = result.t_ns
        level, previous = DecisionLevel(result.decision.level), self._previous
        self._previous = level
        alert, was_alert = level in ALERT_LEVELS, previous in ALERT_LEVELS
        if level == previous or not (alert or was_alert):
            return None
        kind: EventKind = "change" if alert and was_alert else "start" if alert else "end"
        episode_s = None
        if kind == "start":
            self._episode_t_ns = result.t_ns
        elif kind == "end" and self._episode_t_ns is not None:
            episode_s = (result.t_ns - self._episode_t_ns) * 1e-9
        t_s = (result.t_ns - self._t0_ns) * 1e-9
        event = _event(kind, level, previous, result, t_s, episode_s)
        self.events.append(event)
        return event


def _event(
    kind: EventKind,
    level: DecisionLevel,
    previous: DecisionLevel,
    result: FrameResult,
    t_s: float,
    episode_s: float | None,
) -> DecisionEvent:
    d = result.decision
    tid = int(d.target_track_id)
    row = next((r for r in object_rows(result) if r.track_id == tid), None) if tid >= 0 else None
    return DecisionEvent(
        kind=kind,
        level=level,
        previous=previous,
        t_ns=int(result.t_ns),
        t_s=t_s,
        seq=int(result.seq),
        target_track_id=tid if tid >= 0 else None,
        class_name=class_name(row.class_id) if row else None,
        distance_m=finite(row.distance_m) if row else None,
        ttc_s=finite(row.ttc_s) if row else None,
        decel_request_mps2=finite(d.decel_request_mps2),
        reason=d.reason,
        episode_s=episode_s,
    )


class EventsSink(SinkBase):
    """Writes ``events.jsonl`` into ``out_dir``; every event line is flushed at once, so the
    file is complete up to the last event even if the process dies afterwards. Its
    :attr:`detector` (fed here) can be handed to :class:`adas.sinks.ReportSink`."""

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False) -> None:
        self.path = output_path(out_dir, EVENTS_FILE, overwrite=overwrite)
        self.detector = EventDetector()
        self.count = 0
        self._file = self.path.open("w", encoding="utf-8")

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        event = self.detector.update(result)
        if event is None:
            return
        self._file.write(json.dumps(event.to_json(), allow_nan=False) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events of an ``events.jsonl`` file, one dict per line (blank lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
