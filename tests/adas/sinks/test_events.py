"""events.jsonl: exactly the driver-visible decision transitions, with exact values, no NaN."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from adas.sinks import EventDetector, EventsSink, SinkError, read_events
from adas.types import Decision, DecisionLevel, FrameResult
from tests.adas.sinks._results import LEAD, PEDESTRIAN, REASONS, T0_NS, make_drive, make_result


def _lead(result: FrameResult) -> tuple[float, float]:
    row = list(result.objects.track_id).index(LEAD)
    return float(result.objects.distance_m[row]), float(result.objects.ttc_s[row])


def test_drive_gives_exactly_the_expected_transitions(tmp_path: Path) -> None:
    drive = make_drive()
    with EventsSink(tmp_path) as sink:
        for r in drive:
            sink.write(r)
    events = read_events(tmp_path / "events.jsonl")
    # (frame, kind, level, previous, decel): NONE -> CAUTION is no event (nothing is shown).
    expected = [
        (7, "start", "WARNING", "CAUTION", 0.0),
        (15, "change", "BRAKE_PARTIAL", "WARNING", 4.0),
        (18, "change", "BRAKE_FULL", "BRAKE_PARTIAL", 9.0),
    ]
    assert len(events) == len(expected) + 1
    for e, (k, kind, level, previous, decel) in zip(events, expected, strict=False):
        distance, ttc = _lead(drive[k])
        assert e == {
            "event": kind, "level": level, "previous": previous, "t_ns": T0_NS + k * 100_000_000,
            "t_s": k * 100_000_000 * 1e-9, "seq": 100 + k, "target_track_id": LEAD,
            "class": "car", "distance_m": distance, "ttc_s": ttc, "decel_request_mps2": decel,
            "reason": REASONS[DecisionLevel[level]], "episode_s": None,
        }  # fmt: skip
    end = events[-1]
    assert (end["event"], end["level"], end["previous"], end["seq"]) == (
        "end", "NONE", "BRAKE_FULL", 125,
    )  # fmt: skip
    assert end["episode_s"] == pytest.approx(1.8, abs=1e-12)  # WARNING at 0.7 s to 2.5 s
    assert (end["target_track_id"], end["class"], end["distance_m"], end["ttc_s"]) == (
        None, None, None, None,
    )  # fmt: skip
    assert sink.count == 4


def test_unavailable_and_unknown_values_are_null_never_nan(tmp_path: Path) -> None:
    base = make_result(9)  # the pedestrian (no range) is in this frame
    unavailable = Decision(DecisionLevel.UNAVAILABLE, 0.0, PEDESTRIAN, "stale frame")
    caution = Decision(DecisionLevel.CAUTION, target_track_id=99)
    frames = [
        dataclasses.replace(base, seq=1, decision=unavailable),  # alert on the first frame
        dataclasses.replace(base, seq=2, decision=caution),
        dataclasses.replace(base, seq=3, decision=Decision(DecisionLevel.NONE)),
    ]
    with EventsSink(tmp_path) as sink:
        for r in frames:
            sink.write(r)
    text = (tmp_path / "events.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    start, end = [json.loads(line) for line in text.splitlines()]
    assert (start["event"], start["level"], start["previous"]) == ("start", "UNAVAILABLE", "NONE")
    assert (start["target_track_id"], start["class"]) == (PEDESTRIAN, "pedestrian")
    assert start["distance_m"] is None and start["ttc_s"] is None
    assert (end["event"], end["level"], end["seq"], end["episode_s"]) == ("end", "CAUTION", 2, 0.0)
    assert end["target_track_id"] == 99 and end["class"] is None  # not among the frame's tracks


def test_detector_alone_matches_sink() -> None:
    detector = EventDetector()
    made = [e for r in make_drive() if (e := detector.update(r)) is not None]
    assert [e.level for e in made] == [
        DecisionLevel.WARNING, DecisionLevel.BRAKE_PARTIAL, DecisionLevel.BRAKE_FULL,
        DecisionLevel.NONE,
    ]  # fmt: skip
    assert detector.events == made  # kept, for the report that shares the detector


def test_interrupted_run_leaves_every_written_event(tmp_path: Path) -> None:
    drive = make_drive()
    with pytest.raises(KeyboardInterrupt), EventsSink(tmp_path) as sink:
        for r in drive[:17]:  # stops inside BRAKE_PARTIAL
            sink.write(r)
        raise KeyboardInterrupt
    events = read_events(tmp_path / "events.jsonl")
    assert [e["seq"] for e in events] == [107, 115]
    assert sink.closed
    with pytest.raises(SinkError):
        sink.write(drive[17])


def test_existing_file_is_not_overwritten_by_default(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("earlier run\n")
    with pytest.raises(SinkError, match="overwrite"):
        EventsSink(tmp_path)
    EventsSink(tmp_path, overwrite=True).close()
    assert (tmp_path / "events.jsonl").read_text() == ""
