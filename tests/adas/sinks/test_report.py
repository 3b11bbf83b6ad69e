"""report.html: one plot per section, self-contained (no URL, no script), events listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adas.sinks import ReportSink
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
