"""ROS messages (deserialized by rosbags) -> the contracts: image messages -> ``Frame``
(pixels through :mod:`adas.sources.image_codec`) and, for CompressedImage, the recorded bytes
(``EncodedImage``), ego messages -> (speed, yaw rate), header
stamps -> ns. The message type names the bag source looks for are here too.
"""

from __future__ import annotations

import math
from typing import Any

from adas.errors import DataFormatError
from adas.sources.image_codec import (
    UnsupportedEncodingError,
    decode_compressed,
    decode_raw,
    encoded_image,
)
from adas.sources.source import NS_PER_S
from adas.types import EncodedImage, Frame


def msgtype_name(msgtype: str) -> str:
    """``sensor_msgs/msg/Image`` and ``sensor_msgs/Image`` -> ``sensor_msgs/Image``."""
    return msgtype.replace("/msg/", "/")


IMAGE_TYPES = ("sensor_msgs/Image", "sensor_msgs/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/CameraInfo"
EGO_TYPES = (
    "nav_msgs/Odometry",
    "geometry_msgs/TwistStamped",
    "std_msgs/Float32",
    "std_msgs/Float64",
)


def frame_from_msg(
    msg: Any, msgtype: str, *, t_ns: int, seq: int = 0, camera_id: str = "front"
) -> Frame:
    """A deserialized Image or CompressedImage message (rosbags object) -> Frame."""
    name = msgtype_name(msgtype)
    if name == "sensor_msgs/Image":
        image, fmt = decode_raw(
            msg.data,
            encoding=msg.encoding,
            width=int(msg.width),
            height=int(msg.height),
            step=int(msg.step),
            is_bigendian=bool(msg.is_bigendian),
        )
    elif name == "sensor_msgs/CompressedImage":
        image, fmt = decode_compressed(msg.data, msg.format)
    else:
        msg_ = f"message type {msgtype} is not an image; expected one of {IMAGE_TYPES}"
        raise UnsupportedEncodingError(msg_)
    return Frame(image=image, pixel_format=fmt, t_ns=t_ns, seq=seq, camera_id=camera_id)


def encoded_from_msg(msg: Any, msgtype: str) -> EncodedImage | None:
    """A CompressedImage's JPEG or PNG bytes as recorded; None for raw Image messages and
    other formats."""
    if msgtype_name(msgtype) != "sensor_msgs/CompressedImage":
        return None
    return encoded_image(msg.data)


def header_stamp_ns(msg: Any) -> int | None:
    """``header.stamp`` in ns, or None when the message has no header or the stamp is zero
    (ROS's "not set"); callers then fall back to the log time."""
    header = getattr(msg, "header", None)
    if header is None:
        return None
    stamp = header.stamp
    t = int(stamp.sec) * NS_PER_S + int(stamp.nanosec)
    return t if t != 0 else None


def ego_from_msg(msg: Any, msgtype: str) -> tuple[float, float]:
    """(speed m/s, yaw rate rad/s) from Odometry (twist.twist, body frame), TwistStamped, or a
    speed-only Float32/Float64 (yaw rate 0). Non-finite values raise DataFormatError."""
    name = msgtype_name(msgtype)
    if name == "nav_msgs/Odometry":
        speed, yaw = msg.twist.twist.linear.x, msg.twist.twist.angular.z
    elif name == "geometry_msgs/TwistStamped":
        speed, yaw = msg.twist.linear.x, msg.twist.angular.z
    elif name in ("std_msgs/Float32", "std_msgs/Float64"):
        speed, yaw = msg.data, 0.0
    else:
        text = f"message type {msgtype} carries no ego motion; expected one of {EGO_TYPES}"
        raise DataFormatError(text)
    if not (math.isfinite(speed) and math.isfinite(yaw)):
        text = f"{msgtype} holds a non-finite speed {speed} or yaw rate {yaw}"
        raise DataFormatError(text)
    return float(speed), float(yaw)
