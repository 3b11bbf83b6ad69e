"""Recorded messages -> the contracts of ``adas.types``, and what every source hands the replay.

Images: ``sensor_msgs/Image`` raw encodings are kept raw where ``Frame`` has the format
(``bgr8``, ``rgb8``, ``mono8``, ``bayer_rggb8``, YUYV), so replay feeds preprocessing the same
bytes a camera would; the rest is converted losslessly (UYVY -> YUYV byte swap, alpha dropped)
or demosaiced to BGR by OpenCV (the other Bayer patterns). ROS's names are a trap: ``yuv422``
is UYVY (U Y0 V Y1), ``yuv422_yuy2`` and ``yuyv`` are YUYV (Y0 U Y1 V). ``step`` (bytes per
row, with padding) is honoured; ``is_bigendian`` only matters for ``mono16``, reduced to 8 bits
by keeping the high byte. ``sensor_msgs/CompressedImage`` JPEG/PNG go through
``cv2.imdecode`` (BGR or grey). Anything else raises an :class:`ImageDecodeError` subclass
whose ``reason`` the sources count as a skip.

Also here, because bag, video and folder sources all use them: :class:`CameraInfo`, ego
messages -> (speed, yaw rate), :class:`EgoTrack` (ego state at a frame's time),
:class:`SourceItem` and the :class:`Source` protocol.
"""

from __future__ import annotations

import bisect
import enum
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import cv2
import numpy as np
import numpy.typing as npt

from adas.camera import DEFAULT_MOUNT, CameraModel, Mount
from adas.errors import CalibrationFileError, DataFormatError
from adas.types import EgoState, FloatArray, Frame, PixelFormat

log = logging.getLogger(__name__)
U8Array = npt.NDArray[np.uint8]
NS_PER_S = 1_000_000_000


class Skip(enum.StrEnum):
    """Why a message (or the rest of a recording) was dropped: the keys of ``Source.skipped``."""

    UNSUPPORTED_ENCODING = "unsupported_encoding"  # image encoding/format we cannot decode
    BAD_IMAGE = "bad_image"  # wrong data length, bad step/size, undecodable JPEG/PNG bytes
    BAD_MESSAGE = "bad_message"  # message bytes not deserializable, or non-finite values
    TIME_NOT_INCREASING = "time_not_increasing"  # frame stamp <= the previous frame's
    UNREADABLE_FRAME = "unreadable_frame"  # video frame or image file OpenCV cannot read
    TRUNCATED = "truncated"  # the recording ends early (cut or damaged file); counted once


class Degraded(enum.StrEnum):
    """Frames that were yielded with an input missing: the keys of ``Source.degraded``."""

    NO_CAMERA_INFO = "no_camera_info"  # the recording (or the caller) gives no CameraInfo
    EGO_INVALID = "ego_invalid"  # no ego sample at or before the frame, or too old


def record_skip(skipped: Counter[str], reason: Skip, where: object, detail: str) -> None:
    """Count a skip and log it: the first of each reason as a warning, the rest at debug level,
    so a badly damaged recording does not flood the log."""
    skipped[reason] += 1
    level = logging.WARNING if skipped[reason] == 1 else logging.DEBUG
    log.log(level, "%s: skipped (%s): %s", where, reason.value, detail)


class ImageDecodeError(DataFormatError):
    """An image message could not be turned into a Frame; ``reason`` is the skip counter key."""

    reason: Skip = Skip.BAD_IMAGE


class UnsupportedEncodingError(ImageDecodeError):
    """The encoding (Image) or format (CompressedImage) is not one this module decodes."""

    reason = Skip.UNSUPPORTED_ENCODING


# Raw encodings: bytes per pixel. Every one is 8 bits per sample except mono16.
_BYTES_PER_PIXEL = {
    "bgr8": 3,
    "rgb8": 3,
    "bgra8": 4,
    "rgba8": 4,
    "mono8": 1,
    "8uc1": 1,
    "mono16": 2,
    "yuv422": 2,  # UYVY
    "uyvy": 2,
    "yuv422_yuy2": 2,  # YUYV
    "yuyv": 2,
    "bayer_rggb8": 1,
    "bayer_bggr8": 1,
    "bayer_gbrg8": 1,
    "bayer_grbg8": 1,
}
_UYVY = ("yuv422", "uyvy")
_YUYV = ("yuv422_yuy2", "yuyv")
# Patterns Frame cannot hold raw: demosaiced with OpenCV's bilinear demosaic (as preprocess).
_BAYER_TO_BGR = {
    "bayer_bggr8": cv2.COLOR_BayerBGGR2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGBRG2BGR,
    "bayer_grbg8": cv2.COLOR_BayerGRBG2BGR,
}
SUPPORTED_ENCODINGS = tuple(_BYTES_PER_PIXEL)
_COMPRESSED_CODECS = ("jpeg", "jpg", "png")


def decode_raw(
    data: bytes | memoryview | U8Array,
    *,
    encoding: str,
    width: int,
    height: int,
    step: int,
    is_bigendian: bool = False,
) -> tuple[U8Array, PixelFormat]:
    """The pixel array and its format from the fields of a ``sensor_msgs/Image``.

    ``data`` must hold exactly ``step * height`` bytes (ROS's definition); row padding beyond
    ``width * bytes_per_pixel`` is dropped. Raises UnsupportedEncodingError or
    ImageDecodeError with the values that were wrong.
    """
    enc = encoding.strip().lower()
    bpp = _BYTES_PER_PIXEL.get(enc)
    if bpp is None:
        msg = f"image encoding {encoding!r} is not supported; use one of {SUPPORTED_ENCODINGS}"
        raise UnsupportedEncodingError(msg)
    if width <= 0 or height <= 0:
        msg = f"image size {width} x {height} is empty; width and height must be positive"
        raise ImageDecodeError(msg)
    if (enc in _UYVY or enc in _YUYV) and width % 2:
        msg = f"{enc} image width {width} is odd; YUV 4:2:2 shares chroma between pixel pairs"
        raise ImageDecodeError(msg)
    row_bytes = width * bpp
    if step < row_bytes:
        msg = f"step {step} is less than width * bytes per pixel = {row_bytes} for {enc}"
        raise ImageDecodeError(msg)
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        msg = f"image data has {buf.size} bytes, expected step * height = {step} * {height}"
        raise ImageDecodeError(msg)
    rows = buf.reshape(height, step)[:, :row_bytes]
    image: U8Array
    if enc in ("bgr8", "rgb8", "bgra8", "rgba8"):
        image = rows.reshape(height, width, bpp)[:, :, :3]
        fmt = PixelFormat.RGB8 if enc.startswith("rgb") else PixelFormat.BGR8
    elif enc in ("mono8", "8uc1"):
        image, fmt = rows, PixelFormat.GRAY8
    elif enc == "mono16":
        order = ">u2" if is_bigendian else "<u2"
        wide = np.ascontiguousarray(rows).view(order)
        image, fmt = (wide >> 8).astype(np.uint8), PixelFormat.GRAY8
    elif enc in _UYVY:  # U Y0 V Y1 -> Y0 U Y1 V: swap the bytes of every pair
        image = rows.reshape(height, width, 2)[:, :, ::-1].reshape(height, row_bytes)
        fmt = PixelFormat.YUYV
    elif enc in _YUYV:
        image, fmt = rows, PixelFormat.YUYV
    elif enc == "bayer_rggb8":
        image, fmt = rows, PixelFormat.BAYER_RGGB8
    else:
        image = np.asarray(cv2.cvtColor(np.ascontiguousarray(rows), _BAYER_TO_BGR[enc]), np.uint8)
        fmt = PixelFormat.BGR8
    return np.ascontiguousarray(image), fmt


def from_cv_image(image: npt.NDArray[Any] | None, what: str) -> tuple[U8Array, PixelFormat]:
    """An ``imread``/``imdecode(IMREAD_UNCHANGED)`` result as (uint8 array, format).

    Grey -> GRAY8 (H x W); 3 channels -> BGR8; 4 -> BGR8 without alpha; 16-bit -> high byte.
    ``None`` (OpenCV could not decode) raises ImageDecodeError naming ``what``.
    """
    if image is None or image.size == 0:
        msg = f"{what}: OpenCV could not decode the image bytes"
        raise ImageDecodeError(msg)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        msg = f"{what}: decoded to {image.dtype} pixels; only 8 and 16 bit images are supported"
        raise ImageDecodeError(msg)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(image), PixelFormat.GRAY8
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[:, :, :3]), PixelFormat.BGR8
    msg = f"{what}: decoded to shape {image.shape}; expected grey, BGR or BGRA"
    raise ImageDecodeError(msg)


def decode_compressed(data: bytes | memoryview | U8Array, fmt: str) -> tuple[U8Array, PixelFormat]:
    """Pixels of a ``sensor_msgs/CompressedImage`` (``format`` as image_transport writes it,
    e.g. ``"jpeg"`` or ``"rgb8; jpeg compressed bgr8"``; empty means "let OpenCV detect")."""
    low = fmt.lower()
    if "compresseddepth" in low or (low.strip() and not any(c in low for c in _COMPRESSED_CODECS)):
        msg = f"compressed image format {fmt!r} is not supported; use jpeg or png"
        raise UnsupportedEncodingError(msg)
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        msg = f"compressed image ({fmt!r}) has no data"
        raise ImageDecodeError(msg)
    try:
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        msg = f"compressed image ({fmt!r}): OpenCV failed: {err}"
        raise ImageDecodeError(msg) from err
    return from_cv_image(decoded, f"compressed image ({fmt!r}, {buf.size} bytes)")


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


@dataclass(frozen=True, eq=False)
class CameraInfo:
    """Intrinsics as recorded (``sensor_msgs/CameraInfo``): pixels, OpenCV/ROS conventions.

    ``K`` 3 x 3, ``D`` distortion coefficients in ROS order (plumb_bob: k1 k2 p1 p2 k3, the
    OpenCV order), ``R`` 3 x 3 rectification, ``P`` 3 x 4 projection. An uncalibrated camera
    publishes K = 0 (``is_calibrated`` is False). Compare fields explicitly (arrays).
    """

    width: int
    height: int
    K: FloatArray
    D: FloatArray
    distortion_model: str
    R: FloatArray
    P: FloatArray
    frame_id: str = ""

    @property
    def is_calibrated(self) -> bool:
        return bool(self.K[0, 0] > 0 and self.K[1, 1] > 0)

    @classmethod
    def from_msg(cls, msg: Any) -> CameraInfo:
        """From a deserialized CameraInfo (ROS 1 names K/D/R/P, ROS 2 names k/d/r/p)."""

        def field(name: str, shape: tuple[int, ...]) -> FloatArray:
            raw = getattr(msg, name.lower(), None)
            raw = getattr(msg, name) if raw is None else raw
            a = np.array(raw, dtype=np.float64).reshape(shape)
            if not np.isfinite(a).all():
                text = f"CameraInfo.{name} holds non-finite values: {a.ravel().tolist()}"
                raise DataFormatError(text)
            return a

        return cls(
            width=int(msg.width),
            height=int(msg.height),
            K=field("K", (3, 3)),
            D=field("D", (-1,)),
            distortion_model=str(msg.distortion_model),
            R=field("R", (3, 3)),
            P=field("P", (3, 4)),
            frame_id=str(msg.header.frame_id),
        )

    @classmethod
    def from_camera_model(cls, cam: CameraModel, *, frame_id: str = "camera") -> CameraInfo:
        """An unrectified monocular camera: R = I, P = [K | 0]; plumb_bob for up to 5 terms."""
        dist = np.pad(cam.dist, (0, max(0, 5 - cam.dist.size)))
        model = "plumb_bob" if dist.size == 5 else "rational_polynomial"
        K = np.array(cam.K, dtype=np.float64)
        P = np.hstack([K, np.zeros((3, 1))])
        return cls(cam.width, cam.height, K, dist, model, np.eye(3), P, frame_id)

    def camera_model(self, mount: Mount = DEFAULT_MOUNT) -> CameraModel:
        """The distance stage's camera: K and D of a plumb_bob / rational_polynomial camera."""
        if self.distortion_model not in ("plumb_bob", "rational_polynomial", ""):
            msg = f"distortion_model {self.distortion_model!r} has no OpenCV pinhole equivalent"
            raise CalibrationFileError(msg)
        return CameraModel(K=self.K, dist=self.D, width=self.width, height=self.height, mount=mount)


class EgoTrack:
    """Ego samples sorted by time; :meth:`at` is the most recent one at or before a frame.

    A sample older than ``max_age_ns`` (or none at all) gives ``valid=False``, so the control
    stage treats the frame as having no ego input (DESIGN: never brake on stale input).
    """

    def __init__(self, samples: Iterable[tuple[int, float, float]], *, max_age_ns: int) -> None:
        # Stable sort: among equal stamps the one recorded last wins (searchsorted right).
        rows = sorted(samples, key=lambda s: s[0])
        self.t_ns = [int(s[0]) for s in rows]
        self.speed_mps = [float(s[1]) for s in rows]
        self.yaw_rate_rps = [float(s[2]) for s in rows]
        self.max_age_ns = int(max_age_ns)

    def __len__(self) -> int:
        return len(self.t_ns)

    def at(self, t_ns: int) -> EgoState:
        i = bisect.bisect_right(self.t_ns, t_ns) - 1
        if i < 0:
            return EgoState(t_ns=t_ns, valid=False)
        fresh = t_ns - self.t_ns[i] <= self.max_age_ns
        return EgoState(
            t_ns=self.t_ns[i],
            speed_mps=self.speed_mps[i],
            yaw_rate_rps=self.yaw_rate_rps[i],
            valid=fresh,
        )


@dataclass(frozen=True, eq=False)
class SourceItem:
    """One frame of a recording with its ego state (always present; ``valid`` says whether it
    may be used) and the latest camera info (None where the source has none)."""

    frame: Frame
    ego: EgoState
    camera_info: CameraInfo | None = None


class Source(Protocol):
    """What ``adas replay`` iterates: frames in recorded time order, bad input counted.

    ``skipped`` counts dropped messages by :class:`Skip` reason (reset at each pass),
    ``degraded`` counts yielded frames with a missing input by :class:`Degraded` reason.
    """

    skipped: Counter[str]
    degraded: Counter[str]

    def __iter__(self) -> Iterator[SourceItem]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
