"""Synthetic bags for the bag source tests: ROS 1 / ROS 2 messages built with rosbags'
typestores and written to ``.bag``, MCAP or sqlite3 storage in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_typestore

from adas.sources.bag import BagSource
from adas.sources.source import SourceItem

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
