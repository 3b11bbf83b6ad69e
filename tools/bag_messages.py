"""ROS messages for ``tools/make_bag.py``: the rosbags writer, image encoding, camera info
and ego motion (speed, odometry), in ROS 1 or ROS 2 flavour.

A helper module of the script (``tools/`` is not a package): ``make_bag.py`` puts its own
folder on ``sys.path`` and imports it. Heavy modules (OpenCV, numpy, rosbags) are imported
inside the functions, so the script's ``--help`` stays instant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

RAW_ENCODINGS = ("bgr8", "rgb8", "mono8", "yuv422", "yuv422_yuy2", "bayer_rggb8")
COMPRESSED_ENCODINGS = ("jpeg", "png")
NS_PER_S = 1_000_000_000


class MakeBagError(ValueError):
    """The inputs cannot make a bag (bad option combination, unreadable calibration, ...)."""


class BagWriter:
    """One rosbags writer and its typestore; builds, serializes and writes messages."""

    def __init__(self, output: Path, storage: str) -> None:
        from rosbags.typesys import Stores, get_typestore

        self.ros1 = output.suffix == ".bag"
        self.writer: Any
        if self.ros1:
            from rosbags.rosbag1 import Writer as Writer1

            self.typestore = get_typestore(Stores.ROS1_NOETIC)
            self.writer = Writer1(output)
        else:
            from rosbags.rosbag2 import StoragePlugin
            from rosbags.rosbag2 import Writer as Writer2

            plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
            self.typestore = get_typestore(Stores.ROS2_HUMBLE)
            self.writer = Writer2(output, version=9, storage_plugin=plugin)
        self.connections: dict[str, Any] = {}

    def msg(self, msgtype: str, **fields: Any) -> Any:
        """A message of ``msgtype``; field names match case-insensitively (ROS 1 CameraInfo
        spells K, D, R, P in capitals, ROS 2 in lower case)."""
        names = {n.lower(): n for n, _ in self.typestore.fielddefs[msgtype][1]}
        return self.typestore.types[msgtype](**{names[k.lower()]: v for k, v in fields.items()})

    def header(self, t_ns: int, frame_id: str, seq: int) -> Any:
        stamp = self.msg(
            "builtin_interfaces/msg/Time", sec=t_ns // NS_PER_S, nanosec=t_ns % NS_PER_S
        )
        extra = {"seq": seq} if self.ros1 else {}
        return self.msg("std_msgs/msg/Header", stamp=stamp, frame_id=frame_id, **extra)

    def write(self, topic: str, t_ns: int, message: Any) -> None:
        msgtype, ts = message.__msgtype__, self.typestore
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=ts)
        raw = (
            ts.serialize_ros1(message, msgtype) if self.ros1 else ts.serialize_cdr(message, msgtype)
        )
        self.writer.write(self.connections[topic], t_ns, raw)


def encode_image(bgr: Any, encoding: str, *, jpeg_quality: int = 95) -> dict[str, Any]:
    """Fields of an Image (raw encodings) or CompressedImage (jpeg, png) from a BGR array."""
    import cv2
    import numpy as np

    h, w = bgr.shape[:2]
    if encoding in COMPRESSED_ENCODINGS:
        ext, params = (
            (".jpg", [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if encoding == "jpeg"
            else (".png", [])
        )
        ok, buf = cv2.imencode(ext, bgr, params)
        if not ok:
            msg = f"OpenCV could not encode a {w}x{h} frame as {encoding}"
            raise MakeBagError(msg)
        # image_transport's convention: "<original encoding>; <codec> compressed <encoding>"
        return {"format": f"bgr8; {encoding} compressed bgr8", "data": buf.reshape(-1)}
    if encoding in ("yuv422", "yuv422_yuy2") and w % 2:
        msg = f"{encoding} needs an even width (pixel pairs share chroma); the input is {w} wide"
        raise MakeBagError(msg)
    if encoding == "bgr8":
        pixels = bgr
    elif encoding == "rgb8":
        pixels = bgr[:, :, ::-1]
    elif encoding == "mono8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif encoding == "yuv422":  # ROS yuv422 is UYVY
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_UYVY)
    elif encoding == "yuv422_yuy2":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUY2)
    elif encoding == "bayer_rggb8":
        pixels = np.empty((h, w), np.uint8)
        pixels[0::2, 0::2] = bgr[0::2, 0::2, 2]  # R
        pixels[0::2, 1::2] = bgr[0::2, 1::2, 1]  # G
        pixels[1::2, 0::2] = bgr[1::2, 0::2, 1]  # G
        pixels[1::2, 1::2] = bgr[1::2, 1::2, 0]  # B
    else:
        msg = f"encoding {encoding!r} is not one of {RAW_ENCODINGS + COMPRESSED_ENCODINGS}"
        raise MakeBagError(msg)
    data = np.ascontiguousarray(pixels).reshape(-1)
    return {
        "height": h,
        "width": w,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": data.size // h,
        "data": data,
    }


class EgoWriter:
    """Speed (Float64) and optional Odometry messages; the pose is dead-reckoned."""

    def __init__(self, bag: BagWriter, *, start_ns: int, speed_topic: str, odom_topic: str) -> None:
        """``start_ns``: stamp of t = 0 (ns); an empty topic name writes no such message."""
        self.bag = bag
        self.start_ns, self.speed_topic, self.odom_topic = start_ns, speed_topic, odom_topic
        self.topics = tuple(t for t in (speed_topic, odom_topic) if t)
        self.count = 0
        self.x_m = self.y_m = self.heading_rad = 0.0
        self.last_t_ns: int | None = None

    def write(self, t_ns: int, speed_mps: float, yaw_rate_rps: float) -> None:
        bag = self.bag
        stamp_ns = self.start_ns + t_ns
        if self.speed_topic:
            bag.write(self.speed_topic, stamp_ns, bag.msg("std_msgs/msg/Float64", data=speed_mps))
        if self.odom_topic:
            dt = 0.0 if self.last_t_ns is None else (t_ns - self.last_t_ns) / NS_PER_S
            self.heading_rad += yaw_rate_rps * dt
            self.x_m += speed_mps * math.cos(self.heading_rad) * dt
            self.y_m += speed_mps * math.sin(self.heading_rad) * dt
            bag.write(self.odom_topic, stamp_ns, self._odometry(stamp_ns, speed_mps, yaw_rate_rps))
        self.last_t_ns = t_ns
        self.count += 1

    def _odometry(self, stamp_ns: int, speed_mps: float, yaw_rate_rps: float) -> Any:
        import numpy as np

        bag = self.bag

        def vec(typ: str, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Any:
            return bag.msg(typ, x=x, y=y, z=z)

        half = self.heading_rad / 2
        pose = bag.msg(
            "geometry_msgs/msg/Pose",
            position=vec("geometry_msgs/msg/Point", self.x_m, self.y_m),
            orientation=bag.msg(
                "geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=math.sin(half), w=math.cos(half)
            ),
        )
        twist = bag.msg(
            "geometry_msgs/msg/Twist",
            linear=vec("geometry_msgs/msg/Vector3", speed_mps),
            angular=vec("geometry_msgs/msg/Vector3", z=yaw_rate_rps),
        )
        return bag.msg(
            "nav_msgs/msg/Odometry",
            header=bag.header(stamp_ns, "odom", self.count),
            child_frame_id="base_link",
            pose=bag.msg(
                "geometry_msgs/msg/PoseWithCovariance", pose=pose, covariance=np.zeros(36)
            ),
            twist=bag.msg(
                "geometry_msgs/msg/TwistWithCovariance", twist=twist, covariance=np.zeros(36)
            ),
        )


def camera_info_msg(bag: BagWriter, header: Any, info: Any) -> Any:
    roi = bag.msg(
        "sensor_msgs/msg/RegionOfInterest",
        x_offset=0,
        y_offset=0,
        height=0,
        width=0,
        do_rectify=False,
    )
    return bag.msg(
        "sensor_msgs/msg/CameraInfo",
        header=header,
        height=info.height,
        width=info.width,
        distortion_model=info.distortion_model,
        d=info.D.copy(),
        k=info.K.reshape(-1).copy(),
        r=info.R.reshape(-1).copy(),
        p=info.P.reshape(-1).copy(),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )
