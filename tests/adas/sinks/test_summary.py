"""summary.json: exact percentiles, decision and skip counts, frames/s; merging drives."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from adas.sinks import DriveSummary, SummaryBuilder, merge_summaries, read_summary
from adas.sinks.summary import bin_centre_ns, latency_bin
from tests.adas.sinks._results import LATENCY_STAGES, N_FRAMES, make_drive, make_result


def _clock(*times: float) -> Iterator[float]:
    return iter(times)


def _reject_constant(name: str) -> None:
    raise AssertionError(f"{name} in JSON")


def _known_latency_builder(ms: list[float], wall_s: float = 2.0) -> SummaryBuilder:
    """A builder fed one frame per value, with ``detect`` latency = the value in ms."""
    clock = _clock(0.0, wall_s)
    builder = SummaryBuilder(clock=lambda: next(clock))
    base = make_result(3)
    for i, v in enumerate(ms):
        builder.write(dataclasses.replace(base, seq=i, latency_ns={"detect": round(v * 1e6)}))
    return builder


def test_percentiles_exact_on_a_known_latency_set(tmp_path: Path) -> None:
    builder = _known_latency_builder([float(v) for v in range(100, 0, -1)])  # 100 .. 1 ms
    builder.close()
    s = builder.summary().latency["detect"]
    # numpy's linear interpolation over 1 .. 100: rank q/100 * 99.
    assert (s.count, s.p50_ms, s.p95_ms, s.p99_ms) == (100, 50.5, 95.05, 99.01)
    assert (s.mean_ms, s.max_ms) == (50.5, 100.0)
    assert sum(s.histogram.values()) == 100


def test_drive_summary_json(tmp_path: Path) -> None:
    drive = make_drive()
    clock = _clock(10.0, 12.5)
    with SummaryBuilder(tmp_path, name="drive-a", clock=lambda: next(clock)) as builder:
        for r in drive:
            builder.write(r)
        builder.add_skipped({"decode_error": 2, "out_of_order": 1})
        builder.add_skipped({"decode_error": 1})
    data = json.loads((tmp_path / "summary.json").read_text(), parse_constant=_reject_constant)
    assert (data["name"], data["frames"], data["drives"]) == ("drive-a", N_FRAMES, 1)
    assert data["wall_time_s"] == 2.5 and data["frames_per_s"] == N_FRAMES / 2.5
    assert data["duration_s"] == pytest.approx((N_FRAMES - 1) * 0.1)
    assert data["decision_frames"] == {
        "NONE": 9, "CAUTION": 2, "WARNING": 8, "BRAKE_PARTIAL": 3, "BRAKE_FULL": 7,
        "UNAVAILABLE": 0,
    }  # fmt: skip
    assert data["decision_events"] == {
        "NONE": 1, "CAUTION": 1, "WARNING": 1, "BRAKE_PARTIAL": 1, "BRAKE_FULL": 1,
        "UNAVAILABLE": 0,
    }  # fmt: skip
    assert data["skipped_frames"] == {"decode_error": 3, "out_of_order": 1}
    assert data["skipped_total"] == 4
    assert list(data["latency_ms"]) == list(LATENCY_STAGES)
    # control: 6 ms + 10 us per frame index.
    control = np.array([r.latency_ns["control"] for r in drive]) / 1e6
    assert data["latency_ms"]["control"]["p95_ms"] == round(float(np.percentile(control, 95)), 6)
    assert read_summary(tmp_path / "summary.json") == builder.summary()


def test_interrupted_run_still_writes_the_summary(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), SummaryBuilder(tmp_path) as builder:
        for r in make_drive(6):
            builder.write(r)
        raise KeyboardInterrupt
    assert read_summary(tmp_path / "summary.json").frames == 6


def test_histogram_bins_are_one_hundredth_of_a_decade() -> None:
    assert latency_bin(999) == 0 and latency_bin(1000) == 1 and latency_bin(10_000) == 101
    for ns in (1_234.0, 56_789.0, 3_210_000.0, 2.5e9):
        assert bin_centre_ns(latency_bin(ns)) == pytest.approx(ns, rel=0.0116)


def test_merge_sums_counts_and_pools_percentiles() -> None:
    rng = np.random.default_rng(7)
    a_ms, b_ms = rng.uniform(2.0, 20.0, 600), rng.uniform(10.0, 40.0, 400)
    a = _known_latency_builder(a_ms.tolist(), wall_s=3.0).summary()
    b = _known_latency_builder(b_ms.tolist(), wall_s=2.0).summary()
    merged = merge_summaries([a, b])
    assert (merged.drives, merged.frames, merged.wall_time_s) == (2, 1000, 5.0)
    assert merged.frames_per_s == 200.0
    assert merged.decision_frames["NONE"] == 1000
    lat, pooled = merged.latency["detect"], np.concatenate([a_ms, b_ms])
    assert lat.count == 1000 and lat.max_ms == pytest.approx(pooled.max(), abs=1e-6)
    assert lat.mean_ms == pytest.approx(pooled.mean(), abs=1e-5)
    for q, got in ((50, lat.p50_ms), (95, lat.p95_ms), (99, lat.p99_ms)):
        assert got == pytest.approx(np.percentile(pooled, q), rel=0.015)
    # A summary read back from JSON merges the same way.
    again = merge_summaries([_via_json(a), _via_json(b)])
    assert again.latency["detect"] == lat


def _via_json(summary: DriveSummary) -> DriveSummary:
    return DriveSummary.from_json(json.loads(json.dumps(summary.to_json())))


def test_warnings_reach_the_file_and_merge_with_the_drive_name(tmp_path: Path) -> None:
    builder = SummaryBuilder(tmp_path, name="drive_a")
    builder.write(make_result(3))
    builder.add_warning("input ended early after 1 of 2 frames")
    builder.close()
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["warnings"] == ["input ended early after 1 of 2 frames"]
    a = read_summary(tmp_path / "summary.json")
    assert a.warnings == ("input ended early after 1 of 2 frames",)
    b = dataclasses.replace(a, name="drive_b", warnings=())
    merged = merge_summaries([a, b])
    assert merged.warnings == ("drive_a: input ended early after 1 of 2 frames",)
    assert merge_summaries([merged, b]).warnings == merged.warnings  # no double prefix
    old = {k: v for k, v in a.to_json().items() if k != "warnings"}  # an older summary.json
    assert DriveSummary.from_json(old).warnings == ()
