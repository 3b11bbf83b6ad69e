"""Frames as recorded (``SourceItem.encoded``) and the PyAV video decoder: H.264 units that decode
back to the frames, JPEG/PNG bytes of bags and folders byte for byte, OpenCV's pixels."""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from adas.errors import DataFormatError
from adas.sources import decode_h264_units
from adas.sources.bag import BagSource
from adas.sources.source import Skip, SourceItem
from adas.sources.video import ImageFolderSource, VideoSource, open_source
from adas.sources.video_decode import decode_cpu_ms_per_frame, decode_frames, nal_unit_types
from adas.types import EncodedImage
from tests.adas.sources._bags import PERIOD, T0, Msgs, drive, images, write_bag
from tests.adas.sources.test_video import opencv_frames, write_video

GOP = 8  # frames from one IDR to the next


def write_h264(
    path: Path,
    n: int,
    *,
    b_frames: int = 0,
    size: tuple[int, int] = (64, 48),
    options: dict[str, str] | None = None,
    gop: int = GOP,
) -> Path:
    """An MP4 of moving noise, libx264 with an IDR every ``gop`` frames and ``b_frames``
    B-frames (``options``: the muxer's, e.g. ``movflags=faststart``, the index before the
    media)."""
    rng = np.random.default_rng(1)
    w, h = size
    texture = rng.integers(0, 256, (2 * h, 2 * w, 3), np.uint8)
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": str(gop), "bf": str(b_frames), "sc_threshold": "0"}
        for i in range(n):
            image = np.ascontiguousarray(texture[i : i + h, 2 * i : 2 * i + w])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_units(units: list[bytes]) -> list[np.ndarray]:
    """Annex B units fed in the given order to a fresh h264 decoder -> BGR frames."""
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for data in units:
        frames += codec.decode(av.Packet(data))
    frames += codec.decode(None)
    return [f.to_ndarray(format="bgr24") for f in frames]


def check_units(items: list[SourceItem]) -> None:
    """Every frame has a unit: Annex B, keyframes (IDR with SPS and PPS) where flagged."""
    for item in items:
        enc = item.encoded
        assert enc is not None and enc.format == "h264"
        assert enc.data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))
        types = nal_unit_types(enc.data)
        assert enc.keyframe == (5 in types)
        if enc.keyframe:
            assert {7, 8} <= set(types)  # SPS and PPS travel with the IDR


def test_h264_units_decode_back_to_the_frames(tmp_path: Path) -> None:
    path = write_h264(tmp_path / "clip.mp4", 3 * GOP + 3)
    with VideoSource(path, keep_encoded=True) as src:
        items = list(src)
    assert len(items) == 3 * GOP + 3 and not src.skipped
    check_units(items)
    assert [i for i, it in enumerate(items) if it.encoded and it.encoded.keyframe] == [
        0,
        GOP,
        2 * GOP,
        3 * GOP,
    ]
    back = decode_units([it.encoded.data for it in items if it.encoded])
    assert len(back) == len(items)
    for item, image in zip(items, back, strict=True):
        np.testing.assert_array_equal(item.frame.image, image)


def test_decode_h264_units_gives_the_sources_pixels_from_any_keyframe(tmp_path: Path) -> None:
    """Units decoded again from a keyframe on are the pictures the source decoded, bit for bit
    (the same decoder and BGR conversion): the clips' pre-roll relies on it."""
    frames = list(decode_frames(write_h264(tmp_path / "c.mp4", 3 * GOP + 3), keep_encoded=True))
    units = [f.encoded for f in frames if f.encoded is not None]
    assert len(units) == len(frames) == 3 * GOP + 3
    for first in (0, GOP, 3 * GOP):  # each a keyframe; the last run is 3 units long
        back = decode_h264_units(units[first:])
        assert len(back) == len(frames) - first
        for frame, image in zip(frames[first:], back, strict=True):
            np.testing.assert_array_equal(frame.image, image)
    assert decode_h264_units([]) == []


def _damaged(unit: EncodedImage, how: str) -> EncodedImage:
    """``unit`` zeroed after its start code (rejected), cut to a third (concealed, flagged
    corrupt), emptied (a flush to the decoder) or made a JPEG."""
    n = len(unit.data)
    data = {"zeroed": unit.data[:5] + bytes(n - 5), "cut": unit.data[: n // 3], "empty": b"",
            "jpeg": unit.data}[how]  # fmt: skip
    return EncodedImage("jpeg" if how == "jpeg" else "h264", data, keyframe=unit.keyframe)


@pytest.mark.parametrize("how", ["zeroed", "cut", "empty", "jpeg"])
@pytest.mark.parametrize("at", [0, 3, GOP + 1])
def test_decode_h264_units_raises_rather_than_give_a_wrong_picture(
    tmp_path: Path, how: str, at: int
) -> None:
    frames = list(decode_frames(write_h264(tmp_path / "c.mp4", GOP + 2, size=(160, 96)),
                                keep_encoded=True))  # fmt: skip
    units = [f.encoded for f in frames if f.encoded is not None]
    units[at] = _damaged(units[at], how)
    with pytest.raises(DataFormatError, match="decode_h264_units"):
        decode_h264_units(units)


def test_decode_h264_units_starts_at_a_keyframe(tmp_path: Path) -> None:
    frames = list(decode_frames(write_h264(tmp_path / "c.mp4", 4), keep_encoded=True))
    units = [f.encoded for f in frames if f.encoded is not None]
    with pytest.raises(DataFormatError, match=r"first unit must be an H\.264 keyframe"):
        decode_h264_units(units[1:])


def test_a_stream_with_b_frames_keeps_no_units(tmp_path: Path) -> None:
    """Units in presentation order would not decode in order, and Foxglove's CompressedVideo
    takes no B-frames: such a stream's frames carry no unit (the MCAP stores them re-encoded),
    and the frames themselves still come, in presentation order."""
    from adas.sources.video_decode import reorders

    path = write_h264(tmp_path / "b.mp4", 2 * GOP + 2, b_frames=2)
    with av.open(str(path)) as c:  # decode order of the pictures, by pts
        pts_in_decode_order = [p.pts for p in c.demux(c.streams.video[0]) if p.size]
    assert pts_in_decode_order != sorted(pts_in_decode_order)  # the clip has B-frames
    assert reorders(path) and not reorders(write_h264(tmp_path / "p.mp4", GOP + 2))
    items = list(VideoSource(path, keep_encoded=True))
    assert len(items) == len(pts_in_decode_order)
    assert all(it.encoded is None for it in items)
    t = [it.frame.t_ns for it in items]
    assert t == sorted(t)


def test_h264_frames_are_opencvs(tmp_path: Path) -> None:
    path = write_h264(tmp_path / "b.mp4", 12, b_frames=2, size=(96, 64))
    expected = opencv_frames(path)
    items = list(VideoSource(path))
    assert len(items) == len(expected) == 12
    for item, frame in zip(items, expected, strict=True):
        np.testing.assert_array_equal(item.frame.image, frame)
        assert item.encoded is None  # not asked for


def test_other_codecs_and_the_default_carry_no_units(tmp_path: Path) -> None:
    mjpg = write_video(tmp_path / "clip.avi", 3)
    assert all(it.encoded is None for it in VideoSource(mjpg, keep_encoded=True))
    h264 = write_h264(tmp_path / "clip.mp4", 3)
    assert all(it.encoded is None for it in open_source(h264))
    assert all(it.encoded is not None for it in open_source(h264, keep_encoded=True))


def test_a_cut_h264_file_counts_as_truncated_and_keeps_its_units(tmp_path: Path) -> None:
    path = write_h264(tmp_path / "whole.mp4", 40, size=(160, 96), options={"movflags": "faststart"})
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with VideoSource(cut, keep_encoded=True) as src:
        items = list(src)
    n = len(items)
    assert 5 < n < 40 and src.skipped == {Skip.TRUNCATED: 1}
    assert src.truncation == f"input ended early after {n} of 40 frames"
    check_units(items[: n - 1])  # the last picture may have lost the end of its unit
    whole = list(VideoSource(path))
    for item, full in zip(items, whole[:n], strict=True):
        np.testing.assert_array_equal(item.frame.image, full.frame.image)


def test_decode_cpu_ms_per_frame_is_a_positive_figure(tmp_path: Path) -> None:
    path = write_h264(tmp_path / "clip.mp4", 10)
    for frames in (None, 4):
        ms = decode_cpu_ms_per_frame(path, frames)
        assert math.isfinite(ms) and 0 <= ms < 1000


def test_image_folder_keeps_jpeg_and_png_bytes(tmp_path: Path) -> None:
    px = images(2, (10, 14, 3))
    files = {"0.jpg": cv2.imencode(".jpg", px[0])[1].tobytes()}
    files["1.png"] = cv2.imencode(".png", px[1])[1].tobytes()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    items = list(ImageFolderSource(tmp_path, keep_encoded=True))
    got = [(it.encoded.format, it.encoded.data) for it in items if it.encoded]
    assert got == [("jpeg", files["0.jpg"]), ("png", files["1.png"])]
    assert all(it.encoded is None for it in ImageFolderSource(tmp_path))


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_bag_keeps_compressed_bytes_and_not_raw_images(tmp_path: Path, kind: str) -> None:
    m = Msgs(kind)
    px = images(3)
    payloads = [(cv2.imencode(".jpg", px[0])[1].tobytes(), "jpeg")]
    payloads.append((cv2.imencode(".png", px[1])[1].tobytes(), "png"))
    payloads.append((cv2.imencode(".jpg", px[2])[1].tobytes(), "rgb8; jpeg compressed bgr8"))
    records = [
        ("/cam/image_raw/compressed", T0 + i * PERIOD, *m.compressed(T0 + i * PERIOD, d, f))
        for i, (d, f) in enumerate(payloads)
    ]
    bag = write_bag(tmp_path / "c", kind, records)
    with BagSource(bag, keep_encoded=True) as src:
        got = [(it.encoded.format, it.encoded.data) for it in src if it.encoded]
    assert got == [("jpeg", payloads[0][0]), ("png", payloads[1][0]), ("jpeg", payloads[2][0])]
    with BagSource(bag) as src:
        assert all(it.encoded is None for it in src)
    raw = write_bag(tmp_path / "r", kind, drive(m, images(2)))
    with BagSource(raw, keep_encoded=True) as src:
        items = list(src)
    assert len(items) == 2 and all(it.encoded is None for it in items)


@pytest.mark.data
def test_real_clip_units_decode_back(data_dir: Path) -> None:
    path = data_dir / "video" / "udacity" / "test_video.mp4"
    items = list(VideoSource(path, keep_encoded=True))
    assert len(items) == 38
    check_units(items)
    assert items[0].encoded is not None and items[0].encoded.keyframe
    back = decode_units([it.encoded.data for it in items if it.encoded])
    assert len(back) == 38
    for item, image in zip(items, back, strict=True):
        np.testing.assert_array_equal(item.frame.image, image)
    # Keyframes 30 frames (1.2 s) apart; decode_h264_units from either gives the same pixels.
    units = [it.encoded for it in items if it.encoded]
    assert [k for k, u in enumerate(units) if u.keyframe] == [0, 30]
    for first in (0, 30):
        again = decode_h264_units(units[first:])
        for item, image in zip(items[first:], again, strict=True):
            np.testing.assert_array_equal(item.frame.image, image)
