"""adas.sources.video: video and image-folder sources, the ego CSV, and open_source."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from adas.errors import DataFormatError
from adas.sources import video, video_decode
from adas.sources.bag import BagSource
from adas.sources.source import CameraInfo, Degraded, Skip
from adas.sources.video import (
    ImageFolderSource,
    SourceError,
    VideoSource,
    load_ego_csv,
    open_source,
)
from adas.sources.video_decode import DecodedFrame, VideoInfo
from adas.types import PixelFormat
from tests.adas.sources.test_bag import Msgs, drive, images, write_bag

MS = 1_000_000  # ns


def write_video(path: Path, n: int, fps: float = 25.0) -> Path:
    """A small MJPG .avi of moving gradients (codec available in every OpenCV build)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (48, 32))
    assert writer.isOpened()
    x = np.arange(48, dtype=np.uint8)
    for i in range(n):
        frame = np.zeros((32, 48, 3), np.uint8)
        frame[:, :, 0] = x * 5 + i * 10
        frame[:, :, 2] = 255 - i * 20
        writer.write(frame)
    writer.release()
    return path


def opencv_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_video_frames_are_opencvs_and_times_are_the_containers(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", 8)
    info = CameraInfo(48, 32, np.eye(3), np.zeros(5), "plumb_bob", np.eye(3), np.zeros((3, 4)))
    with VideoSource(path, camera_info=info) as src:
        items = list(src)
    expected = opencv_frames(path)
    assert len(items) == len(expected) == 8
    for i, (item, frame) in enumerate(zip(items, expected, strict=True)):
        assert (item.frame.t_ns, item.frame.seq) == (i * 40 * MS, i)
        assert item.frame.pixel_format is PixelFormat.BGR8
        np.testing.assert_array_equal(item.frame.image, frame)
        assert item.camera_info is info and not item.ego.valid
    assert not src.skipped and src.degraded == {Degraded.EGO_INVALID: 8}


def test_forced_fps_sets_the_clock(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", 4)
    items = list(VideoSource(path, fps=30.0))
    assert [it.frame.t_ns for it in items] == [round(i * 1e9 / 30) for i in range(4)]
    with pytest.raises(SourceError, match="fps=0"):
        VideoSource(path, fps=0)


def fake_decode(
    path: Path, *, keep_encoded: bool, on_unreadable: Callable[[str], None], container: Any
) -> Iterator[DecodedFrame]:
    """decode_frames stand-in: a packet rejected before slot 2, the pts stuck at 0."""
    for i, ok in enumerate((True, True, False, True, True)):
        if not ok:
            on_unreadable("bad packet")
            continue
        yield DecodedFrame(np.full((4, 6, 3), i, np.uint8), Fraction(0), None)


def test_failed_reads_are_counted_and_bad_container_times_extrapolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"not read")
    info = VideoInfo(fps=10.0, frame_count=5, codec="x")
    monkeypatch.setattr(video, "open_video", lambda p: (None, info))
    monkeypatch.setattr(video, "decode_frames", fake_decode)
    src = VideoSource(path)
    items = list(src)
    assert [it.frame.seq for it in items] == [0, 1, 3, 4]
    assert [it.frame.image[0, 0, 0] for it in items] == [0, 1, 3, 4]
    # the pts is 0 throughout: frame 0 at 0, then the previous time plus 100 ms per slot
    assert [it.frame.t_ns for it in items] == [0, 100 * MS, 300 * MS, 400 * MS]
    assert src.skipped == {Skip.UNREADABLE_FRAME: 1}


def test_a_file_opencv_cannot_open_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceError, match="cannot open"):
        VideoSource(bad)


def test_ego_csv_header_comments_and_exact_times(tmp_path: Path) -> None:
    csv = tmp_path / "ego.csv"
    csv.write_text("# drive 7\ntime_s,speed_mps,yaw_rate_rps\n0.0,10,0.1\n\n0.04,10.5,-0.2\n")
    track = load_ego_csv(csv, max_age_ns=100 * MS)
    assert track.t_ns == [0, 40_000_000]
    assert track.speed_mps == [10.0, 10.5] and track.yaw_rate_rps == [0.1, -0.2]
    plain = tmp_path / "plain.csv"
    plain.write_text("0.1,3\n0.2,4\n")  # no header: time_s, speed_mps; yaw rate 0
    track = load_ego_csv(plain, max_age_ns=0)
    assert (track.t_ns, track.speed_mps, track.yaw_rate_rps) == (
        [10**8, 2 * 10**8],
        [3.0, 4.0],
        [0.0, 0.0],
    )
    path = write_video(tmp_path / "clip.avi", 4)
    items = list(VideoSource(path, ego_csv=csv, max_ego_age_s=0.05))
    got = [(it.ego.t_ns, it.ego.speed_mps, it.ego.valid) for it in items]
    assert got == [
        (0, 10.0, True),
        (40 * MS, 10.5, True),
        (40 * MS, 10.5, True),
        (40 * MS, 10.5, False),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("time_s,speed_mps\n0.0,1\n0.1,fast\n", r"ego.csv:3: .*'fast'"),
        ("t,v\n0,1\n", "must name time_s and speed_mps"),
        ("time_s,speed_mps\n0,nan\n", "finite"),
        ("# nothing\n", "no samples"),
    ],
)
def test_bad_ego_csv_names_the_line(tmp_path: Path, text: str, words: str) -> None:
    csv = tmp_path / "ego.csv"
    csv.write_text(text)
    with pytest.raises(DataFormatError, match=words):
        load_ego_csv(csv, max_age_ns=0)


def test_image_folder_natural_order_period_and_unreadable_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pictures = {
        name: rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
        for name in ("1.png", "2.PNG", "10.png")
    }
    for name, pixels in pictures.items():
        assert cv2.imwrite(str(tmp_path / name), pixels)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG but cut")
    (tmp_path / "notes.txt").write_text("ignored")
    src = ImageFolderSource(tmp_path, period_ns=50 * MS)
    assert [f.name for f in src.files] == ["1.png", "2.PNG", "10.png", "grey.png", "junk.png"]
    items = list(src)
    assert [(it.frame.seq, it.frame.t_ns) for it in items] == [
        (0, 0),
        (1, 50 * MS),
        (2, 100 * MS),
        (3, 150 * MS),
    ]
    for item, pixels in zip(items, pictures.values(), strict=False):
        np.testing.assert_array_equal(item.frame.image, pixels)
    assert items[3].frame.pixel_format is PixelFormat.GRAY8
    np.testing.assert_array_equal(items[3].frame.image, grey)
    assert src.skipped == {Skip.UNREADABLE_FRAME: 1}


def test_image_folder_refuses_empty_folders_and_bad_periods(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no \.png"):
        ImageFolderSource(tmp_path)
    cv2.imwrite(str(tmp_path / "0.png"), np.zeros((2, 2), np.uint8))
    with pytest.raises(SourceError, match="period_ns=0"):
        ImageFolderSource(tmp_path, period_ns=0)


def test_open_source_picks_by_kind(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 2)
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((2, 2, 3), np.uint8))
    ros1 = write_bag(tmp_path / "r1", "ros1", drive(Msgs("ros1"), images(1)))
    ros2 = write_bag(tmp_path / "r2", "mcap", drive(Msgs("mcap"), images(1)))
    mcap = next(ros2.glob("*.mcap"))
    assert isinstance(open_source(video), VideoSource)
    assert isinstance(open_source(folder), ImageFolderSource)
    for bag in (ros1, ros2, mcap):
        with open_source(bag) as src:
            assert isinstance(src, BagSource)
            assert len(list(src)) == 1
    with pytest.raises(SourceError, match="ego_csv"):
        open_source(ros1, ego_csv=tmp_path / "ego.csv")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match=r"not a recording.*\.mp4"):
        open_source(tmp_path / "notes.txt")
    with pytest.raises(SourceError, match="no such"):
        open_source(tmp_path / "nothing.mp4")


@pytest.mark.data
def test_real_clip_matches_opencv_at_25_fps(data_dir: Path) -> None:
    path = data_dir / "video" / "udacity" / "test_video.mp4"
    src = VideoSource(path)
    assert src.container_fps == 25.0
    expected = opencv_frames(path)
    items = list(src)
    assert len(items) == len(expected) == 38
    assert [it.frame.t_ns for it in items] == [i * 40 * MS for i in range(38)]
    for item, frame in zip(items, expected, strict=True):
        np.testing.assert_array_equal(item.frame.image, frame)
    assert not src.skipped


def test_a_source_opens_the_file_once_and_closes_it_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's container is the first pass's: one av.open for a drive; a source closed
    before any pass closes it; a second pass opens the file again."""
    path = write_video(tmp_path / "clip.avi", 3)
    opened: list[Any] = []
    real = video_decode._open

    def counting(p: Path) -> Any:
        opened.append(real(p))
        return opened[-1]

    monkeypatch.setattr(video_decode, "_open", counting)
    src = VideoSource(path)
    assert len(list(src)) == 3
    assert len(opened) == 1
    assert len(list(src)) == 3
    assert len(opened) == 2
    unread = VideoSource(path)
    assert _fds_on(path) == 1
    unread.close()
    assert _fds_on(path) == 0


def _fds_on(path: Path) -> int:
    """This process's open file descriptors on ``path`` (Linux's /proc)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd on this system: open files cannot be counted")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))
