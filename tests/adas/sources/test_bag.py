"""adas.sources.bag: synthetic bags of every storage written in tmp_path, read back exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import ReaderError, StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_typestore

from adas.sources.bag import AmbiguousTopicError, BagError, BagSource, TopicMap, resolve_topics
from adas.sources.source import Degraded, Skip, SourceItem
from adas.types import PixelFormat

T0 = 1_700_000_000 * 10**9  # ns
PERIOD = 100_000_000  # ns, 10 Hz camera
EGO_PERIOD = 50_000_000  # ns, 20 Hz odometry
KINDS = ("ros1", "mcap", "sqlite3")
K = np.array([[500.0, 0.0, 7.5], [0.0, 505.0, 5.5], [0.0, 0.0, 1.0]])
D = np.array([-0.1, 0.01, 0.0, 0.0, 0.0])

Record = tuple[str, int, str, Any]  # topic, log time ns, message type, message (or raw bytes)


class Msgs:
    """Messages of one ROS version, built with rosbags' typestore."""

    def __init__(self, kind: str) -> None:
        self.ros1 = kind == "ros1"
        self.ts = get_typestore(Stores.ROS1_NOETIC if self.ros1 else Stores.ROS2_HUMBLE)

    def make(self, msgtype: str, **fields: Any) -> Any:
        names = {n.lower(): n for n, _ in self.ts.fielddefs[msgtype][1]}
        return self.ts.types[msgtype](**{names[k.lower()]: v for k, v in fields.items()})

    def header(self, t_ns: int, frame_id: str = "cam") -> Any:
        stamp = self.make("builtin_interfaces/msg/Time", sec=t_ns // 10**9, nanosec=t_ns % 10**9)
        extra = {"seq": 0} if self.ros1 else {}
        return self.make("std_msgs/msg/Header", stamp=stamp, frame_id=frame_id, **extra)

    def image(self, t_ns: int, pixels: np.ndarray, encoding: str = "bgr8") -> tuple[str, Any]:
        h, w = pixels.shape[:2]
        data = np.ascontiguousarray(pixels).reshape(-1)
        msg = self.make(
            "sensor_msgs/msg/Image",
            header=self.header(t_ns),
            height=h,
            width=w,
            encoding=encoding,
            is_bigendian=0,
            step=data.size // h,
            data=data,
        )
        return "sensor_msgs/msg/Image", msg

    def compressed(self, t_ns: int, data: bytes, fmt: str) -> tuple[str, Any]:
        buf = np.frombuffer(data, np.uint8).copy()
        msg = self.make(
            "sensor_msgs/msg/CompressedImage", header=self.header(t_ns), format=fmt, data=buf
        )
        return "sensor_msgs/msg/CompressedImage", msg

    def camera_info(self, t_ns: int) -> tuple[str, Any]:
        roi = self.make(
            "sensor_msgs/msg/RegionOfInterest",
            x_offset=0,
            y_offset=0,
            height=0,
            width=0,
            do_rectify=False,
        )
        msg = self.make(
            "sensor_msgs/msg/CameraInfo",
            header=self.header(t_ns),
            height=12,
            width=16,
            distortion_model="plumb_bob",
            d=D.copy(),
            k=K.ravel().copy(),
            r=np.eye(3).ravel(),
            p=np.hstack([K, np.zeros((3, 1))]).ravel(),
            binning_x=0,
            binning_y=0,
            roi=roi,
        )
        return "sensor_msgs/msg/CameraInfo", msg

    def twist(self, speed: float, yaw: float) -> Any:
        vec = "geometry_msgs/msg/Vector3"
        return self.make(
            "geometry_msgs/msg/Twist",
            linear=self.make(vec, x=speed, y=0.0, z=0.0),
            angular=self.make(vec, x=0.0, y=0.0, z=yaw),
        )

    def odom(self, t_ns: int, speed: float, yaw: float) -> tuple[str, Any]:
        pose = self.make(
            "geometry_msgs/msg/Pose",
            position=self.make("geometry_msgs/msg/Point", x=0.0, y=0.0, z=0.0),
            orientation=self.make("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
        )
        msg = self.make(
            "nav_msgs/msg/Odometry",
            header=self.header(t_ns, "odom"),
            child_frame_id="base_link",
            pose=self.make(
                "geometry_msgs/msg/PoseWithCovariance", pose=pose, covariance=np.zeros(36)
            ),
            twist=self.make(
                "geometry_msgs/msg/TwistWithCovariance",
                twist=self.twist(speed, yaw),
                covariance=np.zeros(36),
            ),
        )
        return "nav_msgs/msg/Odometry", msg


def write_bag(path: Path, kind: str, records: list[Record], *, finish: bool = True) -> Path:
    """Write ``records`` as a ``kind`` bag (ROS 1 file ``path.bag`` or ROS 2 folder ``path``);
    ``finish=False`` aborts the writer like a recorder that died (no index, no footer)."""
    writer: Any
    if kind == "ros1":
        out = path.with_suffix(".bag")
        writer, ts = Writer1(out), get_typestore(Stores.ROS1_NOETIC)
    else:
        out = path
        plugin = StoragePlugin.MCAP if kind == "mcap" else StoragePlugin.SQLITE3
        writer, ts = (
            Writer2(out, version=9, storage_plugin=plugin),
            get_typestore(Stores.ROS2_HUMBLE),
        )
    writer.open()
    conns: dict[str, Any] = {}
    for topic, log_ns, msgtype, msg in records:
        if topic not in conns:
            conns[topic] = writer.add_connection(topic, msgtype, typestore=ts)
        if isinstance(msg, bytes):
            raw = msg
        elif kind == "ros1":
            raw = ts.serialize_ros1(msg, msgtype)
        else:
            raw = ts.serialize_cdr(msg, msgtype)
        writer.write(conns[topic], log_ns, raw)
    if finish:
        writer.close()
    else:
        writer.abort()
    return out


def images(n: int, shape: tuple[int, ...] = (12, 16, 3), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def drive(
    m: Msgs, frames: list[np.ndarray], *, info: bool = True, ego: bool = True
) -> list[Record]:
    """Camera at 10 Hz (logged 5 ms after capture), camera info right after each image,
    odometry at 20 Hz logged 30 ms after its stamp, so later than the frame it belongs to."""
    records: list[Record] = []
    for i, pixels in enumerate(frames):
        stamp = T0 + i * PERIOD
        records.append(("/cam/image_raw", stamp + 5_000_000, *m.image(stamp, pixels)))
        if info:
            records.append(("/cam/camera_info", stamp + 6_000_000, *m.camera_info(stamp)))
    for k in range(2 * len(frames) if ego else 0):
        stamp = T0 + k * EGO_PERIOD
        records.append(("/odom", stamp + 30_000_000, *m.odom(stamp, 10.0 + k, 0.01 * k)))
    return sorted(records, key=lambda r: r[1])


def read_all(path: Path, **kwargs: Any) -> tuple[list[SourceItem], BagSource]:
    with BagSource(path, **kwargs) as src:
        return list(src), src


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


BIG = (300, 400, 3)  # 360 kB frames: writers close a chunk every ~3 frames (1 MiB threshold)


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_a_cut_bag_yields_the_frames_before_the_cut(tmp_path: Path, kind: str) -> None:
    frames = images(12, BIG)
    bag = write_bag(tmp_path / "b", kind, drive(Msgs(kind), frames))
    file = bag if kind == "ros1" else next(bag.glob("*.mcap"))
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * 0.6)])
    items, src = read_all(bag)
    assert 3 <= len(items) < 12
    for i, item in enumerate(items):
        assert item.frame.t_ns == T0 + i * PERIOD
        np.testing.assert_array_equal(item.frame.image, frames[i])
        assert item.camera_info is not None and item.ego.valid
    assert src.skipped == {Skip.TRUNCATED: 1}
    assert src.truncation is not None and "damaged or unfinished" in src.truncation


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_an_unfinished_recording_is_salvaged(tmp_path: Path, kind: str) -> None:
    frames = images(9, BIG)
    bag = write_bag(tmp_path / "b", kind, drive(Msgs(kind), frames), finish=False)
    if kind == "mcap":
        assert not (bag / "metadata.yaml").exists()  # the recorder never wrote it
    items, src = read_all(bag)
    assert 3 <= len(items) <= 9
    for i, item in enumerate(items):
        np.testing.assert_array_equal(item.frame.image, frames[i])
    assert src.skipped[Skip.TRUNCATED] == 1


def test_a_cut_sqlite3_bag_is_refused_clearly(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "b", "sqlite3", drive(Msgs("sqlite3"), images(6, BIG)))
    db = next(bag.glob("*.db3"))
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    with pytest.raises(BagError, match="cannot open bag"):
        BagSource(bag)


def test_a_storage_error_mid_iteration_ends_the_pass_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = images(6)
    bag = write_bag(tmp_path / "b", "mcap", drive(Msgs("mcap"), frames, info=False, ego=False))
    real = AnyReader.messages

    def failing(self: AnyReader, *args: Any, **kwargs: Any) -> Any:
        for n, message in enumerate(real(self, *args, **kwargs)):
            if n == 4:
                raise ReaderError("simulated damaged chunk")
            yield message

    monkeypatch.setattr(AnyReader, "messages", failing)
    items, src = read_all(bag)
    assert [it.frame.seq for it in items] == [0, 1, 2, 3]
    assert src.skipped == {Skip.TRUNCATED: 1}
    assert src.truncation is not None and "simulated damaged chunk" in src.truncation


def test_passes_repeat_and_a_closed_bag_refuses(tmp_path: Path) -> None:
    frames = images(3)
    bag = write_bag(tmp_path / "b", "ros1", drive(Msgs("ros1"), frames))
    src = BagSource(bag, camera_id="left")
    first = [it.frame.t_ns for it in src]
    second = list(src)
    assert first == [it.frame.t_ns for it in second]
    assert {it.frame.camera_id for it in second} == {"left"}
    src.close()
    src.close()
    with pytest.raises(BagError, match="closed"):
        list(src)
