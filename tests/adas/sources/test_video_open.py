"""adas.sources.video_decode: a video is opened reading its header only where that describes
the stream, and the pictures are those of FFmpeg's full probe."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from adas.sources import video_decode
from adas.sources.video_decode import decode_frames, frame_to_bgr, open_video
from tests.adas.sources.test_encoded import write_h264


def _probed_frames(path: Path) -> list[tuple[int | None, np.ndarray]]:
    """(pts, BGR) of every frame, the file opened with FFmpeg's full stream probe."""
    to_bgr = VideoReformatter()
    with av.open(str(path)) as container:
        return [(f.pts, frame_to_bgr(f, to_bgr)) for f in container.decode(video=0)]


def _remux(src: Path, dst: Path, fmt: str) -> Path:
    """``src``'s video packets, unchanged, in another container (raw H.264, MPEG-TS)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    return dst


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``options`` of every av.open the module makes."""
    seen: list[Any] = []
    real = av.open

    def recording(path: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("options"))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(video_decode.av, "open", recording)
    return seen


@pytest.mark.parametrize(
    ("fmt", "header_only"),
    [("mp4", True), ("h264", True), ("mpegts", False)],
)
def test_a_header_that_describes_the_stream_is_enough(
    tmp_path: Path, opens: list[Any], fmt: str, header_only: bool
) -> None:
    """MP4 and raw H.264 open on their header alone (one open); MPEG-TS gives no frame rate
    without the probe and is opened again with it. The frames, their times and the frame
    rate are the full probe's either way."""
    clip = write_h264(tmp_path / "clip.mp4", 12, size=(96, 64))
    path = clip if fmt == "mp4" else _remux(clip, tmp_path / f"clip.{fmt}", fmt)
    opens.clear()  # writing the clip opened files too
    container, info = open_video(path)
    container.close()
    assert opens == (
        [video_decode.HEADER_ONLY] if header_only else [video_decode.HEADER_ONLY, None]
    )
    with av.open(str(path)) as full:
        assert info.fps == float(full.streams.video[0].average_rate)
    got = [(d.time_s, d.image) for d in decode_frames(path)]
    want = _probed_frames(path)
    assert len(got) == len(want) == 12
    for (_, image), (_, expected) in zip(got, want, strict=True):
        np.testing.assert_array_equal(image, expected)


@pytest.mark.data
def test_the_shared_clip_opens_on_its_header_with_the_full_probes_pictures(
    data_dir: Path, opens: list[Any]
) -> None:
    path = data_dir / "video" / "udacity" / "test_video.mp4"
    container, info = open_video(path)
    container.close()
    assert opens == [video_decode.HEADER_ONLY]
    assert (info.fps, info.frame_count, info.codec) == (25.0, 38, "h264")
    want = _probed_frames(path)
    got = list(decode_frames(path))
    assert len(got) == len(want) == 38
    for d, (pts, expected) in zip(got, want, strict=True):
        assert d.time_s == Fraction(pts, 25)  # time base 1/25, start 0
        np.testing.assert_array_equal(d.image, expected)
