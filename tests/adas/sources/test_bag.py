"""adas.sources.bag: synthetic bags of every storage written in tmp_path, read back exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.sources.bag import AmbiguousTopicError, BagError, BagSource, TopicMap, resolve_topics
from adas.sources.source import Degraded, Skip
from adas.types import PixelFormat
from tests.adas.sources._bags import (
    EGO_PERIOD,
    KINDS,
    PERIOD,
    T0,
    D,
    K,
    Msgs,
    drive,
    images,
    read_all,
    write_bag,
)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_frames_stamps_camera_info_and_ego(tmp_path: Path, kind: str) -> None:
    frames = images(5)
    bag = write_bag(tmp_path / "drive", kind, drive(Msgs(kind), frames))
    items, src = read_all(bag)
    assert src.topics == TopicMap("/cam/image_raw", "/cam/camera_info", "/odom")
    assert len(items) == len(frames)
    for i, (item, pixels) in enumerate(zip(items, frames, strict=True)):
        f = item.frame
        assert (f.t_ns, f.seq, f.pixel_format, f.camera_id) == (
            T0 + i * PERIOD,
            i,
            PixelFormat.BGR8,
            "front",
        )
        np.testing.assert_array_equal(f.image, pixels)
        assert item.camera_info is not None
        np.testing.assert_array_equal(item.camera_info.K, K)
        np.testing.assert_array_equal(item.camera_info.D, D)
        assert (item.camera_info.width, item.camera_info.height) == (16, 12)
        # odometry sample 2i has exactly the frame's stamp but was logged after the frame
        assert (item.ego.t_ns, item.ego.speed_mps, item.ego.valid) == (f.t_ns, 10.0 + 2 * i, True)
        assert item.ego.yaw_rate_rps == pytest.approx(0.02 * i)
    assert not src.skipped and not src.degraded


def test_zero_stamp_falls_back_to_log_time(tmp_path: Path) -> None:
    m = Msgs("mcap")
    px = images(2)
    records = [("/cam/image_raw", T0 + i * PERIOD, *m.image(0, p)) for i, p in enumerate(px)]
    items, _ = read_all(write_bag(tmp_path / "b", "mcap", records))
    assert [it.frame.t_ns for it in items] == [T0, T0 + PERIOD]


def test_frames_whose_stamp_does_not_advance_are_skipped_and_counted(tmp_path: Path) -> None:
    m = Msgs("mcap")
    px = images(6)
    stamps = [0, 1, 3, 2, 3, 4]  # in periods; logged in this order
    records = [
        ("/cam/image_raw", T0 + i, *m.image(T0 + s * PERIOD, p))
        for i, (s, p) in enumerate(zip(stamps, px, strict=True))
    ]
    items, src = read_all(write_bag(tmp_path / "b", "mcap", records))
    assert [it.frame.t_ns for it in items] == [T0 + s * PERIOD for s in (0, 1, 3, 4)]
    assert [it.frame.seq for it in items] == [0, 1, 2, 5]
    np.testing.assert_array_equal(items[3].frame.image, px[5])
    assert src.skipped == {Skip.TIME_NOT_INCREASING: 2}


def test_corrupt_and_unsupported_images_are_counted_and_iteration_goes_on(tmp_path: Path) -> None:
    m = Msgs("mcap")
    px = images(3)
    good = [cv2.imencode(".png", p)[1].tobytes() for p in px]
    payloads = [
        (good[0], "png"),
        (b"\xff\xd8\xff\xe0 garbage, not a jpeg" * 10, "jpeg"),
        (good[1], "png"),
        (b"\x00\x00\x00\x01\x67", "h264"),
        (good[2], "png"),
    ]
    records = [
        ("/cam/image_raw/compressed", T0 + i * PERIOD, *m.compressed(T0 + i * PERIOD, d, f))
        for i, (d, f) in enumerate(payloads)
    ]
    items, src = read_all(write_bag(tmp_path / "b", "mcap", records))
    assert [it.frame.seq for it in items] == [0, 2, 4]
    for item, pixels in zip(items, px, strict=True):
        np.testing.assert_array_equal(item.frame.image, pixels)
    assert src.skipped == {Skip.BAD_IMAGE: 1, Skip.UNSUPPORTED_ENCODING: 1}


def test_bad_raw_images_and_undeserializable_bytes_are_counted(tmp_path: Path) -> None:
    m = Msgs("ros1")
    px = images(2)
    bad_length = m.image(T0 + 2 * PERIOD, px[0])[1]
    bad_length.data = bad_length.data[:-1]
    records = [
        ("/cam/image_raw", T0, *m.image(T0, px[0])),
        ("/cam/image_raw", T0 + PERIOD, *m.image(T0 + PERIOD, px[0][:, :, 0], "32FC1")),
        ("/cam/image_raw", T0 + 2 * PERIOD, "sensor_msgs/msg/Image", bad_length),
        ("/cam/image_raw", T0 + 3 * PERIOD, "sensor_msgs/msg/Image", b"\x07\x00"),
        ("/cam/image_raw", T0 + 4 * PERIOD, *m.image(T0 + 4 * PERIOD, px[1])),
    ]
    items, src = read_all(write_bag(tmp_path / "b", "ros1", records))
    assert [it.frame.t_ns for it in items] == [T0, T0 + 4 * PERIOD]
    np.testing.assert_array_equal(items[1].frame.image, px[1])
    assert src.skipped == {Skip.UNSUPPORTED_ENCODING: 1, Skip.BAD_IMAGE: 1, Skip.BAD_MESSAGE: 1}


def test_missing_camera_info_and_ego_are_counted_not_fatal(tmp_path: Path) -> None:
    frames = images(3)
    bag = write_bag(tmp_path / "b", "mcap", drive(Msgs("mcap"), frames, info=False, ego=False))
    items, src = read_all(bag)
    assert src.topics == TopicMap("/cam/image_raw", "", "")
    assert all(it.camera_info is None and not it.ego.valid for it in items)
    assert [it.ego.t_ns for it in items] == [it.frame.t_ns for it in items]
    assert src.degraded == {Degraded.NO_CAMERA_INFO: 3, Degraded.EGO_INVALID: 3}
    assert not src.skipped


def test_ego_older_than_max_age_is_invalid(tmp_path: Path) -> None:
    m = Msgs("mcap")
    frames = images(5)
    records = [
        ("/cam/image_raw", T0 + i * PERIOD, *m.image(T0 + i * PERIOD, p))
        for i, p in enumerate(frames)
    ]
    # speed samples (no header: log time is their time) only for the first 150 ms
    f32 = "std_msgs/msg/Float32"
    records += [
        ("/vehicle/speed", T0 + k * EGO_PERIOD, f32, m.make(f32, data=np.float32(k)))
        for k in range(4)
    ]
    bag = write_bag(tmp_path / "b", "mcap", sorted(records, key=lambda r: r[1]))
    items, src = read_all(bag, max_ego_age_s=0.1)
    assert src.topics.ego == "/vehicle/speed"
    got = [(it.ego.t_ns - T0, it.ego.speed_mps, it.ego.valid) for it in items]
    last = 3 * EGO_PERIOD
    assert got == [
        (0, 0.0, True),
        (2 * EGO_PERIOD, 2.0, True),
        (last, 3.0, True),  # 50 ms old
        (last, 3.0, False),  # 150 ms old > 100 ms
        (last, 3.0, False),
    ]
    assert src.degraded == {Degraded.EGO_INVALID: 2, Degraded.NO_CAMERA_INFO: 5}


def test_topic_detection_ambiguity_and_explicit_choice(tmp_path: Path) -> None:
    m = Msgs("mcap")
    px = images(2)
    f64 = "std_msgs/msg/Float64"
    records = [
        ("/left/image_raw", T0, *m.image(T0, px[0])),
        ("/right/image_raw", T0 + 1, *m.image(T0, px[1])),
        ("/left/camera_info", T0 + 2, *m.camera_info(T0)),
        ("/right/camera_info", T0 + 3, *m.camera_info(T0)),
        ("/steering_angle", T0 + 4, f64, m.make(f64, data=0.1)),
        (
            "/twist",
            T0 + 5,
            "geometry_msgs/msg/TwistStamped",
            m.make("geometry_msgs/msg/TwistStamped", header=m.header(T0), twist=m.twist(4.0, 0.5)),
        ),
    ]
    bag = write_bag(tmp_path / "b", "mcap", records)
    with pytest.raises(
        AmbiguousTopicError, match=r"/left/image_raw.*/right/image_raw.*TopicMap\(image="
    ):
        BagSource(bag)
    items, src = read_all(bag, topics=TopicMap(image="/right/image_raw"))
    assert src.topics == TopicMap("/right/image_raw", "/right/camera_info", "/twist")
    np.testing.assert_array_equal(items[0].frame.image, px[1])
    assert (items[0].ego.speed_mps, items[0].ego.yaw_rate_rps) == (4.0, 0.5)
    with pytest.raises(BagError, match=r"'/nope'.*/left/image_raw \(sensor_msgs/Image\)"):
        BagSource(bag, topics=TopicMap(image="/nope"))
    with pytest.raises(BagError, match="ego topic '/steering_angle/x' is not in the bag"):
        BagSource(bag, topics=TopicMap(image="/left/image_raw", ego="/steering_angle/x"))
    _, src = read_all(bag, topics=TopicMap(image="/left/image_raw", camera_info="", ego=""))
    assert src.topics == TopicMap("/left/image_raw", "", "")


def test_speed_only_topics_are_detected_by_name() -> None:
    img, f32, f64 = "sensor_msgs/msg/Image", "std_msgs/msg/Float32", "std_msgs/msg/Float64"
    wanted = TopicMap()
    assert resolve_topics({"/cam": img, "/steering_angle": f64}, wanted).ego == ""
    assert resolve_topics({"/cam": img, "/speed": f32, "/steer": f64}, wanted).ego == "/speed"
    with pytest.raises(AmbiguousTopicError, match=r"/a/speed.*/b/speed"):
        resolve_topics({"/cam": img, "/a/speed": f32, "/b/speed": f64}, wanted)
    explicit = resolve_topics({"/cam": img, "/steer": f64}, TopicMap(ego="/steer"))
    assert explicit == TopicMap("/cam", "", "/steer")


def test_a_bag_without_images_is_refused(tmp_path: Path) -> None:
    m = Msgs("ros1")
    bag = write_bag(tmp_path / "b", "ros1", [("/odom", T0, *m.odom(T0, 1.0, 0.0))])
    with pytest.raises(BagError, match=r"no image topic.*/odom \(nav_msgs/Odometry\)"):
        BagSource(bag)
    with pytest.raises(BagError, match="no such bag"):
        BagSource(tmp_path / "missing.bag")
