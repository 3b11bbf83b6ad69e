"""adas.sources.ros_messages (image, ego and header of ROS messages) and the message side of
adas.sources.source: CameraInfo from ROS 1 and ROS 2 messages, EgoTrack's ego at a frame's time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from adas.errors import CalibrationFileError, DataFormatError
from adas.sources.ros_messages import ego_from_msg, frame_from_msg, header_stamp_ns
from adas.sources.source import CameraInfo, EgoTrack
from adas.types import PixelFormat

H, W = 6, 10
BGR = np.random.default_rng(7).integers(0, 256, (H, W, 3), dtype=np.uint8)

TS2 = get_typestore(Stores.ROS2_HUMBLE)
TS1 = get_typestore(Stores.ROS1_NOETIC)


def _header(ts: Any, t_ns: int, frame_id: str = "cam") -> Any:
    stamp = ts.types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
    extra = {"seq": 0} if ts is TS1 else {}
    return ts.types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id, **extra)


def test_frame_from_an_image_message_and_its_stamp() -> None:
    t_ns = 1_700_000_000_123_456_789
    msg = TS2.types["sensor_msgs/msg/Image"](
        header=_header(TS2, t_ns),
        height=H,
        width=W,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * W,
        data=BGR[:, :, ::-1].reshape(-1).copy(),
    )
    assert header_stamp_ns(msg) == t_ns
    frame = frame_from_msg(msg, "sensor_msgs/msg/Image", t_ns=t_ns, seq=4, camera_id="left")
    assert (frame.t_ns, frame.seq, frame.camera_id) == (t_ns, 4, "left")
    assert frame.pixel_format is PixelFormat.RGB8
    np.testing.assert_array_equal(frame.image, BGR[:, :, ::-1])
    msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0
    assert header_stamp_ns(msg) is None  # ROS: a zero stamp is "not set"
    assert header_stamp_ns(TS2.types["std_msgs/msg/Float64"](data=1.0)) is None


@pytest.mark.parametrize("ts", [TS1, TS2], ids=["ros1", "ros2"])
def test_camera_info_from_ros1_and_ros2_messages(ts: Any) -> None:
    K = [700.0, 0.0, 319.5, 0.0, 710.0, 239.5, 0.0, 0.0, 1.0]
    D = [-0.3, 0.1, 0.001, -0.002, 0.0]
    P = [700.0, 0.0, 319.5, 0.0, 0.0, 710.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    caps = ts is TS1
    names = {n.lower(): n for n, _ in ts.fielddefs["sensor_msgs/msg/CameraInfo"][1]}
    fields = {
        "header": _header(ts, 5),
        "height": 480,
        "width": 640,
        "distortion_model": "plumb_bob",
        "d": np.array(D),
        "k": np.array(K),
        "r": np.eye(3).ravel(),
        "p": np.array(P),
        "binning_x": 0,
        "binning_y": 0,
        "roi": ts.types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    }
    assert ("K" in names.values()) is caps
    msg = ts.types["sensor_msgs/msg/CameraInfo"](**{names[k]: v for k, v in fields.items()})
    info = CameraInfo.from_msg(msg)
    assert (info.width, info.height, info.distortion_model, info.frame_id) == (
        640,
        480,
        "plumb_bob",
        "cam",
    )
    np.testing.assert_array_equal(info.K, np.reshape(K, (3, 3)))
    np.testing.assert_array_equal(info.D, D)
    np.testing.assert_array_equal(info.P, np.reshape(P, (3, 4)))
    cam = info.camera_model()
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (700.0, 710.0, 319.5, 239.5)
    np.testing.assert_array_equal(cam.dist, D)


def test_camera_info_without_pinhole_equivalent_is_refused() -> None:
    info = CameraInfo(640, 480, np.eye(3), np.zeros(4), "kannala", np.eye(3), np.zeros((3, 4)))
    with pytest.raises(CalibrationFileError, match="kannala"):
        info.camera_model()
    assert info.is_calibrated


def test_ego_messages_of_each_type() -> None:
    T = TS2.types
    vec = T["geometry_msgs/msg/Vector3"]
    twist = T["geometry_msgs/msg/Twist"](
        linear=vec(x=12.5, y=0.0, z=0.0), angular=vec(x=0.0, y=0.0, z=-0.25)
    )
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
    )
    odom = T["nav_msgs/msg/Odometry"](
        header=_header(TS2, 1),
        child_frame_id="base_link",
        pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)),
    )
    stamped = T["geometry_msgs/msg/TwistStamped"](header=_header(TS2, 1), twist=twist)
    assert ego_from_msg(odom, "nav_msgs/msg/Odometry") == (12.5, -0.25)
    assert ego_from_msg(stamped, "geometry_msgs/msg/TwistStamped") == (12.5, -0.25)
    assert ego_from_msg(
        T["std_msgs/msg/Float32"](data=np.float32(3.5)), "std_msgs/msg/Float32"
    ) == (3.5, 0.0)
    assert ego_from_msg(T["std_msgs/msg/Float64"](data=7.25), "std_msgs/Float64") == (7.25, 0.0)
    with pytest.raises(DataFormatError, match="non-finite"):
        ego_from_msg(T["std_msgs/msg/Float64"](data=math.nan), "std_msgs/msg/Float64")
    with pytest.raises(DataFormatError, match="no ego motion"):
        ego_from_msg(T["std_msgs/msg/Float64"](data=1.0), "std_msgs/msg/Int32")


def test_ego_track_takes_the_latest_sample_at_or_before_and_ages_it() -> None:
    samples = [(300, 3.0, 0.3), (100, 1.0, 0.1), (200, 2.0, 0.2), (200, 2.5, 0.25)]
    track = EgoTrack(samples, max_age_ns=50)
    assert len(track) == 4
    before = track.at(99)
    assert not before.valid and before.t_ns == 99
    assert track.at(100) == track.at(100) and track.at(100).speed_mps == 1.0
    same = track.at(200)  # two samples at 200: the one recorded last wins
    assert (same.t_ns, same.speed_mps, same.yaw_rate_rps, same.valid) == (200, 2.5, 0.25, True)
    edge = track.at(250)  # exactly max_age old: still valid
    assert (edge.t_ns, edge.valid) == (200, True)
    stale = track.at(251)
    assert (stale.t_ns, stale.speed_mps, stale.valid) == (200, 2.5, False)
    assert track.at(10**12).speed_mps == 3.0 and not track.at(10**12).valid
