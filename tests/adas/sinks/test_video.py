"""annotated.mp4 (H.264, fragmented MP4, readable after a kill) and the drawing behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.sinks import VideoSink, annotate, object_rows
from adas.sinks.base import ADJACENT_BGR, LEVEL_BGR, THREAT_BGR
from adas.sinks.encode import FALLBACK_FOURCC, OpenCvWriter
from adas.types import DecisionLevel, FrameResult, Zone
from tests.adas.sinks._av import mean_abs_diff, read_av
from tests.adas.sinks._results import ADJACENT, HEIGHT, LEAD, WIDTH, make_drive, make_image

BRAKE_FULL_FRAME = 20


def _left_edge(result: FrameResult, track_id: int) -> tuple[int, int]:
    """(row, column) of the middle of a track's left box edge."""
    row = next(o for o in object_rows(result) if o.track_id == track_id)
    x1, y1, _, y2 = row.xyxy
    return round((y1 + y2) / 2), round(x1)


def _read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _near(pixel: np.ndarray, bgr: tuple[int, int, int], tol: int) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(bgr)) <= tol))


def test_annotate_draws_zone_colours_and_banner_without_touching_input() -> None:
    r = make_drive()[BRAKE_FULL_FRAME]
    assert r.decision.level == DecisionLevel.BRAKE_FULL
    image = make_image(r)
    before = image.copy()
    out = annotate(image, r)
    assert np.array_equal(image, before) and out.shape == image.shape and out.dtype == np.uint8
    lead = next(o for o in object_rows(r) if o.track_id == LEAD)
    assert lead.zone == Zone.IN_PATH
    assert tuple(out[_left_edge(r, LEAD)]) == THREAT_BGR  # in path, braking: red
    assert tuple(out[_left_edge(r, ADJACENT)]) == ADJACENT_BGR  # adjacent lane: yellow
    # Banner: three quarters the level's colour over the image (top-right is free of text).
    expected = 0.25 * image[2, WIDTH - 3] + 0.75 * np.array(LEVEL_BGR[DecisionLevel.BRAKE_FULL])
    assert np.abs(out[2, WIDTH - 3] - expected).max() <= 1


def test_annotate_accepts_grey_images() -> None:
    r = make_drive()[BRAKE_FULL_FRAME]
    grey = make_image(r)[:, :, 0].copy()
    assert annotate(grey, r).shape == (HEIGHT, WIDTH, 3)


def test_video_is_h264_with_every_frame_drawn_at_its_capture_time(tmp_path: Path) -> None:
    drive = make_drive()
    with VideoSink(tmp_path, fps=10.0) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    assert sink.path == tmp_path / "annotated.mp4" and sink.codec == "h264"
    video = read_av(sink.path)
    assert video.codec == "h264" and len(video.frames) == len(drive) == sink.frames
    assert video.frames[0].shape == (HEIGHT, WIDTH, 3)
    assert video.times_s == pytest.approx([k * 0.1 for k in range(len(drive))], abs=1e-4)
    for frame, r in zip(video.frames, drive, strict=True):  # lossy, 4:2:0: close, not equal
        assert mean_abs_diff(frame, annotate(make_image(r), r)) < 4.0
    # The red box edge is still clearly red.
    pixel = video.frames[BRAKE_FULL_FRAME][_left_edge(drive[BRAKE_FULL_FRAME], LEAD)]
    assert _near(pixel, THREAT_BGR, 60), pixel


def test_interrupted_run_leaves_a_playable_video(tmp_path: Path) -> None:
    drive = make_drive()
    with pytest.raises(KeyboardInterrupt), VideoSink(tmp_path, fps=10.0) as sink:
        for r in drive[:7]:
            sink.write(r, make_image(r))
        sink.write(drive[7], None)  # no image: not written, counted
        raise KeyboardInterrupt
    assert len(read_av(sink.path).frames) == 7 and sink.skipped == 1


def test_odd_sizes_lose_their_last_row_and_column(tmp_path: Path) -> None:
    r = make_drive(1)[0]
    image = np.full((HEIGHT + 1, WIDTH + 1, 3), 90, np.uint8)
    with VideoSink(tmp_path, fps=10.0) as sink:
        sink.write(r, image)
    assert read_av(sink.path).frames[0].shape == (HEIGHT, WIDTH, 3)


def test_without_an_h264_encoder_falls_back_to_opencv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drive = make_drive(3)
    with VideoSink(tmp_path, fps=10.0, encoders=("no_such_encoder",)) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    assert "no H.264 encoder" in caplog.text
    assert sink.codec in FALLBACK_FOURCC and sink.path.stem == "annotated"
    assert len(_read_video(sink.path)) == 3


def test_opencv_writer_falls_back_to_mjpeg_avi(tmp_path: Path) -> None:
    writer = OpenCvWriter(tmp_path / "v.mp4", fps=10.0, size=(WIDTH, HEIGHT),
                          fourccs=("ZZZZ", "MJPG"))  # fmt: skip
    writer.write(make_image(make_drive(1)[0]), 0)
    writer.close()
    assert writer.path == tmp_path / "v.avi" and writer.codec == "MJPG"
    assert len(_read_video(writer.path)) == 1


def test_rejects_a_non_positive_frame_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        VideoSink(tmp_path, fps=0.0)


_KILLED_WRITER = """
import sys, time
from adas.sinks import VideoSink
from tests.adas.sinks._results import make_drive, make_image
sink = VideoSink(sys.argv[1], fps=10.0)  # a keyframe, so a fragment, every 10 frames
for r in make_drive(25):
    sink.write(r, make_image(r))
print("written", flush=True)
time.sleep(60)  # killed here, before close
"""


def test_a_killed_writer_leaves_every_flushed_fragment_readable(tmp_path: Path) -> None:
    root = Path(__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-c", _KILLED_WRITER, str(tmp_path)]
    with subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stdout.readline() == "written\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    video = read_av(tmp_path / "annotated.mp4")
    # Frames 0-19 are two whole fragments (a keyframe each 10 frames); 20-24 may be lost.
    assert video.codec == "h264" and 20 <= len(video.frames) <= 25
    drive = make_drive(20)
    for frame, r in zip(video.frames, drive, strict=False):
        assert mean_abs_diff(frame, annotate(make_image(r), r)) < 4.0
