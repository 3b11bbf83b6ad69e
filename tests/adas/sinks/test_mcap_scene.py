"""results.mcap's 3D scene and /tf, and the images stored as the source recorded them."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from adas.camera import Mount, rotation_vehicle_camera
from adas.priors import SizePriors
from adas.sinks import FramesCsvSink, McapSink, object_bgr, object_rows, parse_float
from adas.sinks.mcap import TOPIC_IMAGE, TOPIC_SCENE, TOPIC_TF, TOPIC_VIDEO
from adas.sinks.mcap_scene import CORRIDOR_BGR, Corridor, quaternion_xyzw
from adas.types import EncodedImage, ObjectClass
from tests.adas.sinks._mcap_read import read_messages
from tests.adas.sinks._results import make_drive, make_image


def _rgba(bgr: tuple[int, int, int]) -> tuple[float, float, float]:
    b, g, r = bgr
    return r / 255, g / 255, b / 255


def test_one_scene_update_per_frame_with_boxes_where_frames_csv_puts_them(tmp_path: Path) -> None:
    """x = distance_m + length / 2 (distance is to the nearest face), y = lateral_m,
    z = height / 2, the size the class's prior."""
    drive = make_drive()
    corridor = Corridor(half_width_m=1.3, length_m=25.0)
    with FramesCsvSink(tmp_path) as table, McapSink(tmp_path, corridor=corridor) as sink:
        for r in drive:
            table.write(r)
            sink.write(r, make_image(r))
    scenes = read_messages(sink.path)[TOPIC_SCENE]
    assert [t for t, _ in scenes] == [r.t_ns for r in drive]
    priors = SizePriors.load()
    with table.path.open() as f:
        rows = [row for row in csv.DictReader(f) if row["track_id"]]
    by_frame: dict[int, dict[str, dict[str, str]]] = {}
    for row in rows:
        by_frame.setdefault(int(row["t_ns"]), {})[f"track_{row['track_id']}"] = row
    n_cubes = 0
    for (t_ns, scene), r in zip(scenes, drive, strict=True):
        assert [
            (d.type, d.timestamp.sec * 10**9 + d.timestamp.nanosec) for d in scene.deletions
        ] == [(1, t_ns)]
        entities = {e.id: e for e in scene.entities}
        ranged = {k: v for k, v in by_frame.get(t_ns, {}).items() if v["distance_m"]}
        assert set(entities) == {"corridor", *ranged}
        for entity_id, row in ranged.items():
            e = entities[entity_id]
            assert e.frame_id == "vehicle" and len(e.cubes) == 1 and len(e.texts) == 1
            cls = ObjectClass[row["class"].upper()]
            length, width, height = priors.length[cls], priors.width[cls], priors.height[cls]
            cube = e.cubes[0]
            pos = cube.pose.position
            distance, lateral = parse_float(row["distance_m"]), parse_float(row["lateral_m"])
            assert (pos.x, pos.y, pos.z) == (distance + length / 2, lateral, height / 2)
            assert (cube.size.x, cube.size.y, cube.size.z) == (length, width, height)
            label = e.texts[0].text
            assert label.startswith(
                f"#{row['track_id']} {row['class']} {float(row['distance_m']):.1f} m"
            )
            ttc = parse_float(row["ttc_s"])
            assert (f"TTC {ttc:.1f} s" in label) == math.isfinite(ttc)
            n_cubes += 1
        # colours as the 2D annotations
        for o in object_rows(r):
            if math.isfinite(o.distance_m):
                c = entities[f"track_{o.track_id}"].cubes[0].color
                assert (c.r, c.g, c.b) == pytest.approx(_rgba(object_bgr(o.zone, o.danger)))
        line = entities["corridor"].lines[0]
        assert line.type == 0  # LINE_STRIP
        assert [(p.x, p.y, p.z) for p in line.points] == [
            (0.0, 1.3, 0.0), (25.0, 1.3, 0.0), (25.0, -1.3, 0.0), (0.0, -1.3, 0.0),
        ]  # fmt: skip
        assert (line.color.r, line.color.g, line.color.b) == pytest.approx(_rgba(CORRIDOR_BGR))
    assert n_cubes > 40  # the lead car and the van in most frames; the pedestrian has no range


def test_lead_car_cube_convention_exactly(tmp_path: Path) -> None:
    """Frame 2: the lead car 30 m ahead (nearest face), 0.1 m left: centre 30 + 3.88 / 2."""
    r = make_drive(3)[2]
    with McapSink(tmp_path, images=False) as sink:
        sink.write(r)
    ((_, scene),) = read_messages(sink.path)[TOPIC_SCENE]
    cube = next(e for e in scene.entities if e.id == "track_7").cubes[0]
    p = cube.pose.position
    assert (p.x, p.y, p.z) == pytest.approx((30.0 + 3.88 / 2, 0.1, 1.53 / 2), abs=1e-12)
    q = cube.pose.orientation
    assert (q.x, q.y, q.z, q.w) == (0.0, 0.0, 0.0, 1.0)


def _rotate(q: Any, v: np.ndarray) -> np.ndarray:
    """Rotate v by the unit quaternion q (x, y, z, w)."""
    u, w = np.array([q.x, q.y, q.z]), q.w
    return np.asarray(v + 2 * w * np.cross(u, v) + 2 * np.cross(u, np.cross(u, v)))


def test_tf_places_the_optical_camera_frame_from_the_mount(tmp_path: Path) -> None:
    mount = Mount.from_degrees(height_m=1.3, pitch_deg=3.0, yaw_deg=-1.0, roll_deg=0.5,
                               behind_bumper_m=1.8, lateral_m=0.2)  # fmt: skip
    drive = make_drive(3)
    with McapSink(tmp_path, images=False, mount=mount) as sink:
        for r in drive:
            sink.write(r)
    tfs = read_messages(sink.path)[TOPIC_TF]
    assert len(tfs) == 3
    (tf,) = tfs[0][1].transforms
    assert (tf.header.frame_id, tf.child_frame_id) == ("vehicle", "camera_front")
    tr = tf.transform.translation
    assert (tr.x, tr.y, tr.z) == (-1.8, 0.2, 1.3)
    q = tf.transform.rotation
    r = rotation_vehicle_camera(mount.pitch_rad, mount.roll_rad, mount.yaw_rad)
    for axis in np.eye(3):  # each optical axis lands where the camera model puts it
        assert _rotate(q, axis) == pytest.approx(r @ axis, abs=1e-12)


def test_level_camera_optical_axes() -> None:
    """z (optical axis) forward = vehicle x, x (right) = -y, y (down) = -z."""
    q = quaternion_xyzw(rotation_vehicle_camera(0.0, 0.0, 0.0))
    assert q == pytest.approx((-0.5, 0.5, -0.5, 0.5))


def test_no_mount_no_tf(tmp_path: Path) -> None:
    with McapSink(tmp_path, images=False) as sink:
        sink.write(make_drive(1)[0])
    assert TOPIC_TF not in read_messages(sink.path)


def _no_encoding(*args: object, **kwargs: object) -> None:
    raise AssertionError("cv2.imencode called although the frame came encoded")


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_recorded_image_bytes_are_stored_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    drive = make_drive(4)
    frames = []
    for k, r in enumerate(drive):
        img = make_image(r)
        img[k, k] = 255  # a different image per frame
        ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", img)
        assert ok
        frames.append((r, img, EncodedImage(fmt, buf.tobytes())))
    monkeypatch.setattr(cv2, "imencode", _no_encoding)
    with McapSink(tmp_path) as sink:
        for r, img, enc in frames:
            sink.write(r, img, enc)
    msgs = read_messages(sink.path)
    assert TOPIC_VIDEO not in msgs
    stored = [m for _, m in msgs[TOPIC_IMAGE]]
    assert [m.format for m in stored] == [fmt] * 4
    assert [m.data.tobytes() for m in stored] == [enc.data for _, _, enc in frames]


def test_h264_access_units_are_stored_as_compressed_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = make_drive(3)
    # Annex B units (start code, NAL header, payload): an IDR with SPS/PPS, then two P frames.
    units = [
        EncodedImage("h264", b"\x00\x00\x00\x01\x67\x42\x00\x1e\x00\x00\x00\x01\x68\xce"
                     b"\x00\x00\x01\x65\x88\x84\x00\x10", keyframe=True),
        EncodedImage("h264", b"\x00\x00\x00\x01\x41\x9a\x02\x00", keyframe=False),
        EncodedImage("h264", b"\x00\x00\x00\x01\x41\x9a\x04\x01\x00", keyframe=False),
    ]  # fmt: skip
    monkeypatch.setattr(cv2, "imencode", _no_encoding)
    with McapSink(tmp_path) as sink:
        for r, unit in zip(drive, units, strict=True):
            sink.write(r, make_image(r), unit)
    msgs = read_messages(sink.path)
    assert TOPIC_IMAGE not in msgs
    video = msgs[TOPIC_VIDEO]
    assert [t for t, _ in video] == [r.t_ns for r in drive]
    assert [m.data.tobytes() for _, m in video] == [u.data for u in units]
    assert {(m.format, m.frame_id) for _, m in video} == {("h264", "camera_front")}
    assert video[1][1].timestamp.nanosec == drive[1].t_ns % 10**9


def test_no_images_wanted_no_image_topics(tmp_path: Path) -> None:
    r = make_drive(1)[0]
    with McapSink(tmp_path, images=False) as sink:
        sink.write(r, make_image(r), EncodedImage("jpeg", b"\xff\xd8\xff\xd9"))
    assert not {TOPIC_IMAGE, TOPIC_VIDEO} & set(read_messages(sink.path))
