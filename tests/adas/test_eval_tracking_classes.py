"""``adas eval kitti-tracking --classes``: which KITTI labels count for which class (exact
counts on a small label file), and the report's shape, one block per class."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from adas.cli import main
from adas.evaluate.bench import bench_camera
from adas.evaluate.kitti_tracking import evaluate
from adas.evaluate.tracking_classes import CLASSES, label_counts, parse_classes
from adas.sources.kitti import load_tracking_labels
from adas.synthetic import Objects3D, project_boxes

P2 = "P2: 721.5377 0 609.5593 0 0 721.5377 172.854 0 0 0 1 0\n"
REST = "0 100 100 150 200 1.7 0.6 0.8 1 1.65 10 0"  # alpha, box, hwl, xyz, ry: any values

# kind, truncation, occlusion; what each class makes of the label (s = scored, i = ignored).
LABELS = [
    ("Pedestrian", 0.0, 0, "ped s"),
    ("Pedestrian", 0.0, 1, "ped s"),
    ("Pedestrian", 0.0, 2, "ped i"),  # too occluded
    ("Pedestrian", 0.3, 0, "ped i"),  # truncated
    ("Person_sitting", 0.0, 0, "ped i"),  # a neighbouring class: never a miss, never a hit
    ("Person_sitting", 0.5, 3, "ped i"),
    ("Cyclist", 0.0, 0, "cyc s"),
    ("Cyclist", 0.0, 3, "cyc i"),
    ("Cyclist", 1.0, 0, "cyc i"),
    ("Car", 0.0, 0, "car s"),
    ("Van", 0.0, 1, "car s"),
    ("Truck", 0.2, 0, "car i"),
    ("Tram", 0.0, 0, ""),  # nobody's
    ("Misc", 0.0, 0, ""),
    ("DontCare", -1.0, -1, ""),
]


def test_labels_count_for_their_class_by_kitti_rules(tmp_path: Path) -> None:
    path = tmp_path / "0000.txt"
    path.write_text("".join(f"0 {i} {k} {t} {o} {REST}\n" for i, (k, t, o, _) in enumerate(LABELS)))
    objects = load_tracking_labels(path)
    expected = {
        name: {
            "scored": sum(1 for *_, w in LABELS if w == f"{tag} s"),
            "ignored": sum(1 for *_, w in LABELS if w == f"{tag} i"),
        }
        for name, tag in (("pedestrian", "ped"), ("cyclist", "cyc"), ("car", "car"))
    }
    assert expected["pedestrian"] == {"scored": 2, "ignored": 4}
    for name, counts in expected.items():
        assert label_counts(objects, CLASSES[name]) == counts, name
    # No label is scored by two classes.
    for o in objects:
        assert sum(c.is_scored(o) for c in CLASSES.values()) <= 1


def test_class_list_is_parsed_in_order_without_repeats() -> None:
    assert [c.key for c in parse_classes("pedestrian, Cyclist,pedestrian")] == [
        "pedestrians",
        "cyclists",
    ]
    with pytest.raises(ValueError, match="choose from car, pedestrian, cyclist"):
        parse_classes("car,bus")
    with pytest.raises(ValueError, match="unknown"):
        parse_classes(" , ")


def write_sequence(root: Path, frames: int = 40) -> None:
    """A car ahead closing from 30 m, a pedestrian 4 m to the right closing from 28 m and a
    cyclist 3 m to the left closing from 35 m (all at 5 m/s, 10 Hz), labelled like KITTI, plus
    a Person_sitting (ignored for pedestrians) at 12 m."""
    (root / "label_02").mkdir(parents=True)
    (root / "calib").mkdir()
    (root / "calib" / "0000.txt").write_text(P2)
    cam = bench_camera()
    objects = [  # kind, track id, start distance, lateral (left +), hwl
        ("Car", 1, 30.0, 0.0, (1.53, 1.63, 3.88)),
        ("Pedestrian", 2, 28.0, -4.0, (1.76, 0.66, 0.84)),
        ("Cyclist", 3, 35.0, 3.0, (1.74, 0.60, 1.76)),
        ("Person_sitting", 4, 12.0, -6.0, (1.2, 0.6, 0.8)),
    ]
    lines = []
    for fr in range(frames):
        for kind, tid, d0, lat, hwl in objects:
            d = d0 - 0.5 * fr if kind != "Person_sitting" else d0
            one = Objects3D(np.array([d]), np.array([lat]), np.array([hwl]))
            box = project_boxes(cam, one)[0]
            z = d + hwl[2] / 2  # KITTI location: bottom centre of the 3D box
            lines.append(
                f"{fr} {tid} {kind} 0 0 0 {box[0]:.2f} {box[1]:.2f} {box[2]:.2f} {box[3]:.2f} "
                f"{hwl[0]} {hwl[1]} {hwl[2]} {-lat} 1.65 {z} {-math.pi / 2}\n"
            )
    (root / "label_02" / "0000.txt").write_text("".join(lines))


def test_report_has_one_block_per_class_with_the_cars_fields(tmp_path: Path) -> None:
    write_sequence(tmp_path / "kt")
    out = tmp_path / "r.json"
    argv = ["eval", "kitti-tracking", "--root", str(tmp_path / "kt"), "--json", str(out)]
    assert main([*argv, "--classes", "car,pedestrian,cyclist"]) == 0
    report = json.loads(out.read_text())
    assert report["classes"] == ["car", "pedestrian", "cyclist"]
    fields = {
        "kitti_labels", "kitti_labels_ignored", "distance", "distance_per_frame",
        "distance_single_frame", "distance_vs_issue_formula", "baseline_flat_ground",
        "baseline_height_prior_1_5m", "ttc", "tracking", "coverage", "per_sequence",
    }  # fmt: skip
    for key in ("cars", "pedestrians", "cyclists"):
        block = report[key]
        assert set(block) == fields, key
        assert [(b["lo_m"], b["hi_m"]) for b in block["distance"]["bins"]] == [
            (5.0, 20.0), (20.0, 40.0), (40.0, 60.0),
        ]  # fmt: skip
        assert block["coverage"]["scored_objects"] == 40
        assert block["tracking"]["gt_tracks"] == 1
        assert block["tracking"]["false_positives"] == 0  # the sitting person is ignored
        d = block["distance"]["all"]
        assert d["n"] >= 35 and d["median_abs_rel"] < 0.02, key
        single = block["distance_single_frame"]["all"]
        assert single["n"] == 40 and single["median_abs_rel"] < 0.02, key
    assert report["pedestrians"]["kitti_labels_ignored"] == ["Person_sitting"]
    assert report["pedestrians"]["coverage"]["ignored_labels"] == 40
    assert report["cyclists"]["kitti_labels"] == ["Cyclist"]
    # The cars' block is also at the top level, as the report always had it.
    assert report["distance"] == report["cars"]["distance"]
    assert report["tracking"] == report["cars"]["tracking"]


def test_default_is_cars_only_and_unknown_classes_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sequence(tmp_path / "kt", frames=12)
    root = str(tmp_path / "kt")
    report = evaluate(root)
    assert report["classes"] == ["car"]
    assert "cars" in report and "pedestrians" not in report and "cyclists" not in report
    assert main(["eval", "kitti-tracking", "--root", root, "--classes", "bus"]) == 2
    assert "--classes" in capsys.readouterr().err
