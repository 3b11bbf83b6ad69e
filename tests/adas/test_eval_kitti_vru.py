"""Distance for pedestrians and cyclists on the shared KITTI tracking sequences, ground-truth
boxes with tracking (``adas eval kitti-tracking --classes pedestrian,cyclist``).

Issue 19's target: median <= 3 % and p90 <= 8 % in each bin to 40 m for both classes.
Measured (docs/ranging_vrus.md): pedestrians 1.3 / 8.0 % (5-20 m) and 1.2 / 6.0 % (20-40 m)
meet it and are asserted at the target. Cyclists measure 1.7 / 10.3 % and 3.9 / 8.7 %: two of
their seven tracks have boxes 8 % and 6 % shorter than the class prior (one partly occluded)
on ground the plane does not explain; they are held to regression bounds here and the gap is
tracked, not hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adas.evaluate.kitti_tracking import evaluate

pytestmark = [pytest.mark.data, pytest.mark.slow]

TO_40_M = (5.0, 20.0)  # the bins' lower edges up to 40 m


@pytest.fixture(scope="module")
def report(data_dir: Path) -> dict[str, Any]:
    return evaluate(data_dir / "kitti" / "tracking", classes=("pedestrian", "cyclist"))


def bins(report: dict[str, Any], key: str, field: str = "distance") -> list[dict[str, Any]]:
    return [b for b in report[key][field]["bins"] if b["lo_m"] in TO_40_M]


def test_pedestrians_meet_the_issue_target(report: dict[str, Any]) -> None:
    for b in bins(report, "pedestrians"):
        assert b["n"] >= 80, b
        assert b["median_abs_rel"] <= 0.03, b
        assert b["p90_abs_rel"] <= 0.08, b


def test_cyclists_within_regression_bounds(report: dict[str, Any]) -> None:
    for b in bins(report, "cyclists"):
        assert b["n"] >= 100, b
        assert b["median_abs_rel"] <= 0.04, b
        assert b["p90_abs_rel"] <= 0.11, b


def test_classes_are_scored_by_kitti_rules(report: dict[str, Any]) -> None:
    assert "cars" not in report and "distance" not in report  # no car block unless asked
    ped, cyc = report["pedestrians"], report["cyclists"]
    # 16 pedestrian and 7 cyclist tracks pass truncation 0 / occlusion <= 1 somewhere.
    assert ped["tracking"]["gt_tracks"] == 16
    assert cyc["tracking"]["gt_tracks"] == 7
    assert ped["coverage"]["ranged_by_confirmed_tracks"] >= 0.8 * ped["coverage"]["scored_objects"]
    assert cyc["coverage"]["ranged_by_confirmed_tracks"] >= 0.9 * cyc["coverage"]["scored_objects"]


def test_tracking_keeps_the_tail_of_single_frames(report: dict[str, Any]) -> None:
    """Tracking (a learned size, the motion filter) never widens the tail by more than a point
    over ranging each frame alone (pedestrians: p90 9.7 -> 8.0 % and 7.3 -> 6.0 %; cyclists
    9.5 -> 10.3 % and 8.8 -> 8.7 %)."""
    for key in ("pedestrians", "cyclists"):
        tracked, single = bins(report, key), bins(report, key, "distance_single_frame")
        for b, s in zip(tracked, single, strict=True):
            assert b["p90_abs_rel"] <= s["p90_abs_rel"] + 0.01, (key, b, s)
