"""Image bytes of recorded messages -> pixel arrays in a :class:`adas.types.PixelFormat`.

``sensor_msgs/Image`` raw encodings are kept raw where ``Frame`` has the format (``bgr8``,
``rgb8``, ``mono8``, ``bayer_rggb8``, YUYV), so replay feeds preprocessing the same bytes a
camera would; the rest is converted losslessly (UYVY -> YUYV byte swap, alpha dropped) or
demosaiced to BGR by OpenCV (the other Bayer patterns). ROS's names are a trap: ``yuv422`` is
UYVY (U Y0 V Y1), ``yuv422_yuy2`` and ``yuyv`` are YUYV (Y0 U Y1 V). ``step`` (bytes per row,
with padding) is honoured; ``is_bigendian`` only matters for ``mono16``, reduced to 8 bits by
keeping the high byte. ``sensor_msgs/CompressedImage`` JPEG/PNG and image files go through
``cv2.imdecode``/``imread`` (BGR or grey). Anything else raises an :class:`ImageDecodeError`
subclass whose ``reason`` the sources count as a skip. :func:`encoded_image` keeps JPEG and
PNG bytes as recorded (known by their signature, not by a name or a format string).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from adas.errors import DataFormatError
from adas.sources.source import Skip
from adas.types import EncodedImage, PixelFormat

U8Array = npt.NDArray[np.uint8]


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


_JPEG_SIGNATURE = b"\xff\xd8\xff"  # SOI and the first marker
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encoded_image(data: bytes | memoryview | U8Array) -> EncodedImage | None:
    """``data`` as an :class:`EncodedImage` when it starts like a JPEG or PNG file, else None
    (a format outputs could not store as it is)."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw.startswith(_JPEG_SIGNATURE):
        return EncodedImage("jpeg", raw)
    if raw.startswith(_PNG_SIGNATURE):
        return EncodedImage("png", raw)
    return None
