"""report.html: one plot per section, self-contained (no URL, no script), events listed."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from adas.sinks import EventsSink, ReportSink, SummaryBuilder
from tests.adas.sinks._results import LATENCY_STAGES, make_drive


def _sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, flags=re.S))


def test_report_has_one_plot_per_section_and_no_external_resource(tmp_path: Path) -> None:
    drive = make_drive()
    with ReportSink(tmp_path, title="drive <a>") as sink:
        for r in drive:
            sink.write(r)
        sink.summary.add_skipped({"decode_error": 2})
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    sections = _sections(page)
    plots = {name: body.count("<svg") for name, body in sections.items()}
    assert plots == {
        "distance": 1, "ttc": 1, "decisions": 1, "latency": len(LATENCY_STAGES), "summary": 0,
    }  # fmt: skip
    assert all(body.count("<svg") == body.count("</svg>") for body in sections.values())
    for banned in ("http:", "https:", "//", "<script", "<link", "<img", "@import"):
        assert banned not in page, banned
    assert "drive &lt;a&gt;" in page  # the title is escaped
    # Curves: the lead car (targeted) first; polylines carry the data.
    assert "#7 car" in sections["distance"] and "<polyline" in sections["distance"]
    assert "#7 car" in sections["ttc"]
    # Decision timeline: one band per run of a level (NONE, CAUTION, WARNING, PARTIAL, FULL,
    # NONE), and the four events in the table.
    assert sections["decisions"].count("<title>") == 6
    assert sections["decisions"].count("<tr") == 1 + 4
    for stage in LATENCY_STAGES:
        assert f">{stage}<" in sections["latency"]
    assert "skipped: decode_error" in sections["summary"]
    assert "BRAKE_FULL" in sections["summary"]


def test_interrupted_run_still_writes_the_report(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ReportSink(tmp_path) as sink:
        for r in make_drive(10):
            sink.write(r)
        raise RuntimeError("stop")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.rstrip().endswith("</html>")
    assert "10 frames" in page


def test_empty_run_writes_a_valid_page(tmp_path: Path) -> None:
    ReportSink(tmp_path).close()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "(no tracks)" in page and page.rstrip().endswith("</html>")


def test_report_reads_a_shared_summary_and_detector_without_feeding_them(tmp_path: Path) -> None:
    """Replay's way: one SummaryBuilder and one EventDetector (events.jsonl's) for every
    output; the page equals that of a report with its own, apart from the wall time."""
    own_dir, shared_dir = tmp_path / "own", tmp_path / "shared"
    own = ReportSink(own_dir, title="t")
    ticks_own, ticks_shared = itertools.count(0.0, 2.0), itertools.count(0.0, 2.0)
    own.summary = SummaryBuilder(name="t", clock=lambda: next(ticks_own))  # same wall time
    summary = SummaryBuilder(shared_dir, name="t", clock=lambda: next(ticks_shared))
    events = EventsSink(shared_dir)
    shared = ReportSink(shared_dir, title="t", summary=summary, detector=events.detector)
    for r in make_drive():
        own.write(r)
        for sink in (events, shared, summary):  # replay's order: the report before the summary
            sink.write(r)
    for s in (own.summary, summary):
        s.add_skipped({"decode_error": 2})
        s.add_warning("input ended early after 3 of 4 frames")
    own.close()
    shared.close()
    assert summary.frames == len(make_drive())  # fed once, by the replay, not by the report
    assert len(shared.events) == 4 and not summary.closed  # its owner closes it
    summary.close()
    events.close()
    page = (shared_dir / "report.html").read_text(encoding="utf-8")
    assert page == (own_dir / "report.html").read_text(encoding="utf-8")
    assert "input ended early after 3 of 4 frames" in _sections(page)["summary"]


def test_nice_range_holds_the_data_on_round_limits() -> None:
    from adas.svgplot import nice_range

    assert nice_range(40.2, 44.8, min_span=5.0) == (39.0, 46.0)  # not 0..50
    assert nice_range(0.0, 97.0, min_span=5.0) == (-20.0, 120.0)  # step 20: 7 ticks
    assert nice_range(3.0, 3.0, min_span=5.0) == (2.5, 7.5)  # at least min_span wide
    assert nice_range(float("nan"), 1.0) == (0.0, 1.0)


def test_distance_axis_is_scaled_to_the_plotted_tracks(tmp_path: Path) -> None:
    import math

    from adas.svgplot import nice_range

    drive = make_drive()
    with ReportSink(tmp_path) as sink:
        for r in drive:
            sink.write(r)
    section = _sections((tmp_path / "report.html").read_text(encoding="utf-8"))["distance"]
    d = [x for r in drive for x in r.objects.distance_m.tolist() if math.isfinite(x)]
    lo, hi = nice_range(min(d), max(d), min_span=5.0)
    labels = re.findall(r'text-anchor="end">([-\d.]+)</text>', section)
    assert labels == [f"{hi:g}", f"{max(lo, 0.0):g}"]


def test_warm_up_frames_stay_out_of_the_histograms_and_no_events_is_said(
    tmp_path: Path,
) -> None:
    import numpy as np

    from adas.sinks.report import WARMUP_FRAMES

    drive = make_drive()
    with ReportSink(tmp_path) as sink:
        for r in drive:
            sink.write(r)
    latency = _sections((tmp_path / "report.html").read_text(encoding="utf-8"))["latency"]
    first = LATENCY_STAGES[0]
    steady = np.array([r.latency_ns[first] for r in drive[WARMUP_FRAMES:]]) / 1e6
    p50 = re.search(r"p50 ([\d.]+) ms", latency)
    assert p50 is not None and p50.group(1) == f"{np.percentile(steady, 50):.2f}"
    assert f"first {WARMUP_FRAMES} frames" in latency
    quiet = [r for r in drive if r.decision.level == 0][:3]
    with ReportSink(tmp_path / "q") as sink:
        for r in quiet:
            sink.write(r)
    page = (tmp_path / "q" / "report.html").read_text(encoding="utf-8")
    assert "No decision events" in _sections(page)["decisions"]
