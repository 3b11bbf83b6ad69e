"""frames.csv: read back with csv, every value equals the FrameResult's, frames recoverable."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import pytest

from adas.sinks import FramesCsvSink, object_rows, parse_float
from adas.sinks.table import COLUMNS
from adas.types import DecisionLevel, FrameResult
from tests.adas.sinks._results import N_FRAMES, make_drive


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def _same(cell: str, value: float) -> bool:
    got = parse_float(cell)
    return (math.isnan(got) and math.isnan(value)) or got == value


def _check_frame(rows: list[dict[str, str]], result: FrameResult) -> None:
    objects = object_rows(result)
    assert len(rows) == max(1, len(objects))
    for row in rows:
        assert (int(row["t_ns"]), int(row["seq"])) == (result.t_ns, result.seq)
        assert row["decision"] == DecisionLevel(result.decision.level).name
        assert float(row["decel_request_mps2"]) == result.decision.decel_request_mps2
        assert int(row["target_track_id"]) == result.decision.target_track_id
    if not objects:
        assert all(rows[0][c] == "" for c in COLUMNS[2:17])
        return
    for row, obj in zip(rows, objects, strict=True):
        assert int(row["track_id"]) == obj.track_id and row["class"] == obj.class_name
        assert (row["zone"], row["danger"]) == (obj.zone.name, obj.danger.name)
        floats = {
            "score": obj.score, "x1": obj.xyxy[0], "y1": obj.xyxy[1], "x2": obj.xyxy[2],
            "y2": obj.xyxy[3], "distance_m": obj.distance_m,
            "sigma_distance_m": obj.sigma_distance_m, "lateral_m": obj.lateral_m,
            "range_rate_mps": obj.range_rate_mps, "accel_mps2": obj.accel_mps2,
            "ttc_s": obj.ttc_s,
        }  # fmt: skip
        for key, value in floats.items():
            assert _same(row[key], value), (key, row[key], value)


def test_round_trip_exact(tmp_path: Path) -> None:
    drive = make_drive()
    with FramesCsvSink(tmp_path) as sink:
        for r in drive:
            sink.write(r)
    rows = _read(tmp_path / "frames.csv")
    by_seq: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        by_seq.setdefault(int(row["seq"]), []).append(row)
    assert len(by_seq) == N_FRAMES == sink.frames
    for r in drive:
        _check_frame(by_seq[r.seq], r)
    # The pedestrian has no range: empty cells; an opening object's TTC is written as inf.
    ped = next(row for row in rows if row["class"] == "pedestrian")
    assert ped["distance_m"] == "" and ped["ttc_s"] == ""
    van = next(row for row in rows if row["class"] == "van")
    assert van["ttc_s"] == "inf"


def test_frames_without_objects_keep_one_row(tmp_path: Path) -> None:
    with FramesCsvSink(tmp_path) as sink:
        for r in make_drive(2):  # frames 0 and 1 have no tracks
            sink.write(r)
    rows = _read(tmp_path / "frames.csv")
    assert [int(r["seq"]) for r in rows] == [100, 101]
    assert all(r["track_id"] == "" and r["decision"] == "NONE" for r in rows)


def test_interrupted_run_is_readable_up_to_the_last_frame(tmp_path: Path) -> None:
    drive = make_drive()
    with pytest.raises(RuntimeError), FramesCsvSink(tmp_path) as sink:
        for r in drive[:9]:
            sink.write(r)
        raise RuntimeError("decoder crashed")
    rows = _read(tmp_path / "frames.csv")
    assert sorted({int(r["seq"]) for r in rows}) == [r.seq for r in drive[:9]]
    _check_frame([r for r in rows if int(r["seq"]) == drive[8].seq], drive[8])


def test_object_rows_are_joined_once_per_result() -> None:
    """The outputs of one frame share its rows (the same tuple); another result, even one
    equal to it in every field, gets rows of its own, equal to the first's."""
    a, b = [r for r in make_drive() if len(r.tracks)][:2]
    rows = object_rows(a)
    assert object_rows(a) is rows and len(rows) == len(a.tracks)
    assert object_rows(b) is not rows
    copy = dataclasses.replace(a)
    again = object_rows(copy)
    assert again is not rows and again == rows
    assert [r.track_id for r in object_rows(a)] == [int(t) for t in a.tracks.track_id]
