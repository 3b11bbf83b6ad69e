"""The shared parts: object rows joined by track id, MultiSink closing everything."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from adas.sinks import (
    EventsSink,
    FramesCsvSink,
    McapSink,
    MultiSink,
    ReportSink,
    Sink,
    SummaryBuilder,
    VideoSink,
    object_rows,
)
from adas.types import DangerLevel, FrameResult, ObjectStates, Zone
from tests.adas.sinks._results import ADJACENT, LEAD, make_drive, make_image, make_result


def test_object_rows_join_states_by_track_id() -> None:
    r = make_result(9)  # lead, van, pedestrian
    ob = r.objects
    order = np.array([2, 0])  # states reordered, the van's missing
    partial = ObjectStates(
        **{f.name: getattr(ob, f.name)[order] for f in dataclasses.fields(ObjectStates)}
    )
    rows = {o.track_id: o for o in object_rows(dataclasses.replace(r, objects=partial))}
    full = {o.track_id: o for o in object_rows(r)}
    assert rows[LEAD] == full[LEAD]
    van = rows[ADJACENT]
    assert math.isnan(van.distance_m) and (van.zone, van.danger) == (Zone.UNKNOWN, DangerLevel.NONE)
    assert van.xyxy == full[ADJACENT].xyxy and van.class_name == "van"


class _Failing:
    def __init__(self) -> None:
        self.frames: list[FrameResult] = []

    def write(
        self, result: FrameResult, image: np.ndarray | None = None, encoded: object = None
    ) -> None:
        self.frames.append(result)

    def close(self) -> None:
        raise OSError("disk full")

    def __enter__(self) -> _Failing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_multisink_closes_every_sink_even_when_one_fails(tmp_path: Path) -> None:
    failing = _Failing()
    events, video = EventsSink(tmp_path), VideoSink(tmp_path, fps=10.0)
    with pytest.raises(OSError, match="disk full"), MultiSink([failing, events, video]) as sinks:
        for r in make_drive(3):
            sinks.write(r, make_image(r))
    assert len(failing.frames) == 3 and events.closed and video.closed
    assert (tmp_path / "annotated.mp4").stat().st_size > 0


def test_every_sink_satisfies_the_protocol(tmp_path: Path) -> None:
    sinks: list[Sink] = [
        EventsSink(tmp_path), FramesCsvSink(tmp_path), McapSink(tmp_path, images=False),
        VideoSink(tmp_path, fps=10.0), ReportSink(tmp_path), SummaryBuilder(tmp_path),
    ]  # fmt: skip
    with MultiSink(sinks) as multi:
        assert all(isinstance(s, Sink) for s in [*sinks, multi])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.jsonl", "frames.csv", "report.html", "results", "summary.json",
    ]  # fmt: skip
