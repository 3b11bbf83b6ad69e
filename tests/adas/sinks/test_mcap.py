"""results.mcap: read back with rosbags' AnyReader, same boxes, ids and decisions per frame."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from adas.sinks import McapSink, SinkError, adas_typestore, object_rows
from adas.sinks.mcap import (
    COMPRESSED_IMAGE,
    DECISION,
    DETECTION_ARRAY,
    IMAGE_ANNOTATIONS,
    SCENE_UPDATE,
    TOPIC_ANNOTATIONS,
    TOPIC_DECISION,
    TOPIC_DETECTIONS,
    TOPIC_IMAGE,
    TOPIC_SCENE,
    TOPIC_TRACKS,
)
from adas.types import DecisionLevel, FrameResult
from tests.adas.sinks._results import HEIGHT, WIDTH, make_drive, make_image


def _read(path: Path) -> tuple[dict[str, str], dict[str, dict[int, Any]]]:
    """msgtype per topic, and per topic the messages by log time."""
    with AnyReader([path], default_typestore=adas_typestore()) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        msgs: dict[str, dict[int, Any]] = {topic: {} for topic in types}
        for conn, t_ns, raw in reader.messages():
            msgs[conn.topic][t_ns] = reader.deserialize(raw, conn.msgtype)
    return types, msgs


def _xyxy(det: Any) -> tuple[float, float, float, float]:
    c, w, h = det.bbox.center.position, det.bbox.size_x, det.bbox.size_y
    return c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2


def _check_frame(msgs: dict[str, dict[int, Any]], r: FrameResult) -> None:
    tracks = msgs[TOPIC_TRACKS][r.t_ns]
    assert tracks.header.stamp.sec * 10**9 + tracks.header.stamp.nanosec == r.t_ns
    rows = object_rows(r)
    assert [d.id for d in tracks.detections] == [str(o.track_id) for o in rows]
    for det, o in zip(tracks.detections, rows, strict=True):
        assert _xyxy(det) == pytest.approx(o.xyxy, abs=1e-9)
        hyp = det.results[0]
        assert (hyp.hypothesis.class_id, hyp.hypothesis.score) == (o.class_name, o.score)
        x = hyp.pose.pose.position.x
        assert x == o.distance_m or (math.isnan(x) and math.isnan(o.distance_m))
    dets = msgs[TOPIC_DETECTIONS][r.t_ns].detections
    assert [_xyxy(d) for d in dets] == [pytest.approx(b, abs=1e-9) for b in r.detections.xyxy]
    dec = msgs[TOPIC_DECISION][r.t_ns]
    level = DecisionLevel(r.decision.level)
    assert (dec.level, dec.level_name, dec.decel_request_mps2) == (
        int(level), level.name, r.decision.decel_request_mps2,
    )  # fmt: skip
    assert (dec.target_track_id, dec.reason) == (r.decision.target_track_id, r.decision.reason)
    ann = msgs[TOPIC_ANNOTATIONS][r.t_ns]
    assert len(ann.points) == len(rows) and len(ann.texts) == len(rows) + 1  # + the banner
    assert ann.texts[-1].text.startswith(level.name)
    for pa, o in zip(ann.points, rows, strict=True):  # Foxglove's origin: pixel corner
        assert (pa.points[0].x, pa.points[0].y) == pytest.approx((o.xyxy[0] + 0.5, o.xyxy[1] + 0.5))


def test_round_trip_through_anyreader(tmp_path: Path) -> None:
    drive = make_drive()
    with McapSink(tmp_path) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    assert sink.path == tmp_path / "results" / "results.mcap"
    types, msgs = _read(sink.bag_dir)
    assert types == {
        TOPIC_IMAGE: COMPRESSED_IMAGE, TOPIC_DETECTIONS: DETECTION_ARRAY,
        TOPIC_TRACKS: DETECTION_ARRAY, TOPIC_ANNOTATIONS: IMAGE_ANNOTATIONS,
        TOPIC_SCENE: SCENE_UPDATE, TOPIC_DECISION: DECISION,
    }  # fmt: skip
    assert types[TOPIC_TRACKS] == "vision_msgs/msg/Detection2DArray"
    assert types[TOPIC_ANNOTATIONS] == "foxglove_msgs/msg/ImageAnnotations"
    assert all(len(by_t) == len(drive) for by_t in msgs.values())
    for r in drive:
        _check_frame(msgs, r)
    jpeg = msgs[TOPIC_IMAGE][drive[0].t_ns]
    assert jpeg.format == "jpeg"
    img = cv2.imdecode(np.asarray(jpeg.data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (HEIGHT, WIDTH, 3)
    # The bare .mcap file (what Foxglove opens) reads the same.
    types_file, msgs_file = _read(sink.path)
    assert types_file == types and len(msgs_file[TOPIC_DECISION]) == len(drive)


def test_without_images_and_no_typestore_needed(tmp_path: Path) -> None:
    drive = make_drive(4)
    with McapSink(tmp_path, images=False) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    # The message definitions travel in the file: a reader needs no typestore of ours.
    with AnyReader([sink.bag_dir]) as reader:
        assert TOPIC_IMAGE not in {c.topic for c in reader.connections}
        decoded: list[Any] = [
            reader.deserialize(raw, c.msgtype)
            for c, _, raw in reader.messages()
            if c.topic == TOPIC_DECISION
        ]
    decisions = [m.level_name for m in decoded]
    assert decisions == ["NONE"] * 4


def test_interrupted_run_keeps_every_written_frame(tmp_path: Path) -> None:
    drive = make_drive()
    with pytest.raises(KeyboardInterrupt), McapSink(tmp_path) as sink:
        for r in drive[:12]:
            sink.write(r, make_image(r))
        raise KeyboardInterrupt
    _, msgs = _read(sink.bag_dir)
    assert all(len(by_t) == 12 for by_t in msgs.values())
    _check_frame(msgs, drive[11])


def test_overwrite_replaces_only_a_results_bag(tmp_path: Path) -> None:
    McapSink(tmp_path, images=False).close()
    with pytest.raises(SinkError, match="overwrite"):
        McapSink(tmp_path)
    McapSink(tmp_path, overwrite=True).close()
    (tmp_path / "results" / "notes.txt").write_text("mine")
    with pytest.raises(SinkError, match="not a results bag"):
        McapSink(tmp_path, overwrite=True)
