"""adas.sources.image_codec: every encoding against an independent numpy conversion; errors."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from adas.errors import DataFormatError
from adas.sources.image_codec import (
    ImageDecodeError,
    UnsupportedEncodingError,
    decode_compressed,
    decode_raw,
)
from adas.sources.source import Skip
from adas.types import PixelFormat

H, W = 6, 10  # small, even width (YUV pairs, Bayer 2x2)
RNG = np.random.default_rng(7)
BGR = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def padded(rows: np.ndarray, pad: int) -> tuple[bytes, int]:
    """``rows`` (H x row bytes) as message data with ``pad`` junk bytes per row, and the step."""
    h = rows.shape[0]
    flat = rows.reshape(h, -1)
    junk = np.full((h, pad), 0xAB, np.uint8)
    return np.hstack([flat, junk]).tobytes(), flat.shape[1] + pad


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "make", "fmt"),
    [
        ("bgr8", lambda b: b, PixelFormat.BGR8),
        ("rgb8", lambda b: b[:, :, ::-1], PixelFormat.RGB8),
        ("mono8", lambda b: b[:, :, 1], PixelFormat.GRAY8),
        ("8UC1", lambda b: b[:, :, 1], PixelFormat.GRAY8),
        ("bayer_rggb8", lambda b: b[:, :, 0], PixelFormat.BAYER_RGGB8),
    ],
)
def test_eight_bit_encodings_are_kept_exactly_and_step_padding_is_dropped(
    encoding: str, make: Any, fmt: PixelFormat, pad: int
) -> None:
    pixels = np.ascontiguousarray(make(BGR))
    data, step = padded(pixels, pad)
    image, got_fmt = decode_raw(data, encoding=encoding, width=W, height=H, step=step)
    assert got_fmt is fmt
    np.testing.assert_array_equal(image, pixels)
    assert image.flags.c_contiguous


@pytest.mark.parametrize(("encoding", "fmt"), [("bgra8", "bgr"), ("rgba8", "rgb")])
def test_alpha_is_dropped(encoding: str, fmt: str) -> None:
    colour = BGR if fmt == "bgr" else BGR[:, :, ::-1]
    alpha = np.full((H, W, 1), 77, np.uint8)
    data, step = padded(np.concatenate([colour, alpha], axis=2), 2)
    image, got = decode_raw(data, encoding=encoding, width=W, height=H, step=step)
    np.testing.assert_array_equal(image, colour)
    assert got is (PixelFormat.BGR8 if fmt == "bgr" else PixelFormat.RGB8)


@pytest.mark.parametrize("big", [False, True])
def test_mono16_keeps_the_high_byte_in_the_declared_byte_order(big: bool) -> None:
    values = RNG.integers(0, 65536, (H, W)).astype(np.uint16)
    data, step = padded(values.astype(">u2" if big else "<u2").view(np.uint8), 4)
    image, fmt = decode_raw(data, encoding="mono16", width=W, height=H, step=step, is_bigendian=big)
    assert fmt is PixelFormat.GRAY8
    np.testing.assert_array_equal(image, (values >> 8).astype(np.uint8))


def _bt601_limited_bgr(Y: np.ndarray, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """BGR from 4:2:2 planes by the BT.601 definition (Kr 0.299, Kb 0.114, limited range)."""
    kr, kb = 0.299, 0.114
    kg = 1 - kr - kb
    y = (Y.astype(float) - 16) * 255 / 219
    u = (np.repeat(U, 2, axis=1).astype(float) - 128) * 255 / 224
    v = (np.repeat(V, 2, axis=1).astype(float) - 128) * 255 / 224
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = y - 2 * (1 - kb) * kb / kg * u - 2 * (1 - kr) * kr / kg * v
    return np.clip(np.round(np.stack([b, g, r], axis=-1)), 0, 255)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_both_byte_orders_decode_to_yuyv(encoding: str) -> None:
    Y = RNG.integers(16, 236, (H, W), dtype=np.uint8)
    U = RNG.integers(16, 241, (H, W // 2), dtype=np.uint8)
    V = RNG.integers(16, 241, (H, W // 2), dtype=np.uint8)
    yuyv = np.empty((H, 2 * W), np.uint8)
    yuyv[:, 0::2], yuyv[:, 1::4], yuyv[:, 3::4] = Y, U, V
    uyvy = np.empty_like(yuyv)  # ROS "yuv422": U Y0 V Y1
    uyvy[:, 1::2], uyvy[:, 0::4], uyvy[:, 2::4] = Y, U, V
    wire = uyvy if encoding in ("yuv422", "uyvy") else yuyv
    data, step = padded(wire, 6)
    image, fmt = decode_raw(data, encoding=encoding, width=W, height=H, step=step)
    assert fmt is PixelFormat.YUYV and image.shape == (H, 2 * W)
    np.testing.assert_array_equal(image, yuyv)
    bgr = cv2.cvtColor(image.reshape(H, W, 2), cv2.COLOR_YUV2BGR_YUY2)
    assert np.abs(bgr.astype(int) - _bt601_limited_bgr(Y, U, V)).max() <= 1


@pytest.mark.parametrize(
    ("encoding", "sites"),  # (row parity, column parity) of R and of B in the 2x2 tile
    [
        ("bayer_bggr8", ((1, 1), (0, 0))),
        ("bayer_gbrg8", ((1, 0), (0, 1))),
        ("bayer_grbg8", ((0, 1), (1, 0))),
    ],
)
def test_other_bayer_patterns_are_demosaiced_to_bgr(encoding: str, sites: Any) -> None:
    b, g, r = 40, 120, 200
    mosaic = np.full((8, 8), g, np.uint8)
    (ry, rx), (by, bx) = sites
    mosaic[ry::2, rx::2], mosaic[by::2, bx::2] = r, b
    image, fmt = decode_raw(mosaic.tobytes(), encoding=encoding, width=8, height=8, step=8)
    assert fmt is PixelFormat.BGR8
    # A uniform colour is reproduced exactly away from the border by any demosaic.
    np.testing.assert_array_equal(image[2:-2, 2:-2], np.broadcast_to([b, g, r], (4, 4, 3)))


def test_png_is_exact_and_grey_png_gives_gray8() -> None:
    ok, png = cv2.imencode(".png", BGR)
    assert ok
    image, fmt = decode_compressed(png.tobytes(), "bgr8; png compressed bgr8")
    assert fmt is PixelFormat.BGR8
    np.testing.assert_array_equal(image, BGR)
    grey = BGR[:, :, 0].copy()
    image, fmt = decode_compressed(cv2.imencode(".png", grey)[1], "png")
    assert fmt is PixelFormat.GRAY8
    np.testing.assert_array_equal(image, grey)


def test_sixteen_bit_png_keeps_the_high_byte() -> None:
    values = RNG.integers(0, 65536, (H, W)).astype(np.uint16)
    image, fmt = decode_compressed(cv2.imencode(".png", values)[1], "mono16; png compressed")
    assert fmt is PixelFormat.GRAY8
    np.testing.assert_array_equal(image, (values >> 8).astype(np.uint8))


def test_jpeg_matches_opencv_decoding_and_empty_format_is_detected() -> None:
    smooth = np.broadcast_to(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (32, 64, 3))
    jpeg = cv2.imencode(".jpg", np.ascontiguousarray(smooth), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    image, fmt = decode_compressed(jpeg, "rgb8; jpeg compressed bgr8")
    assert fmt is PixelFormat.BGR8
    np.testing.assert_array_equal(image, cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    again, _ = decode_compressed(jpeg.tobytes(), "")
    np.testing.assert_array_equal(again, image)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"encoding": "32FC1"}, UnsupportedEncodingError, "32FC1"),
        ({"step": 3 * W - 1}, ImageDecodeError, "step"),
        ({"data": bytes(3 * W * H - 1)}, ImageDecodeError, r"expected step \* height"),
        ({"width": 0}, ImageDecodeError, "positive"),
        (
            {"encoding": "yuv422", "width": 3, "step": 6, "data": bytes(6 * H)},
            ImageDecodeError,
            "odd",
        ),
    ],
)
def test_bad_raw_images_raise_with_the_reason(
    kwargs: dict[str, Any], error: type, words: str
) -> None:
    args: dict[str, Any] = {
        "data": BGR.tobytes(),
        "encoding": "bgr8",
        "width": W,
        "height": H,
        "step": 3 * W,
    }
    args.update(kwargs)
    with pytest.raises(error, match=words) as info:
        decode_raw(args.pop("data"), **args)
    assert isinstance(info.value, DataFormatError)
    want = Skip.UNSUPPORTED_ENCODING if error is UnsupportedEncodingError else Skip.BAD_IMAGE
    assert info.value.reason is want


@pytest.mark.parametrize(
    ("data", "fmt", "error"),
    [
        (b"\xff\xd8 this is not a jpeg", "jpeg", ImageDecodeError),
        (b"", "png", ImageDecodeError),
        (b"\x00\x00\x01", "h264", UnsupportedEncodingError),
        (b"\x00\x00", "16UC1; compressedDepth png", UnsupportedEncodingError),
    ],
)
def test_bad_compressed_images_raise(data: bytes, fmt: str, error: type) -> None:
    with pytest.raises(error):
        decode_compressed(data, fmt)
