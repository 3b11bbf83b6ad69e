"""annotated.mp4 and the pure drawing function behind it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.sinks import VideoSink, annotate, object_rows
from adas.sinks.base import ADJACENT_BGR, LEVEL_BGR, THREAT_BGR
from adas.types import DecisionLevel, FrameResult, Zone
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


def test_video_has_every_frame_at_the_right_size_with_boxes(tmp_path: Path) -> None:
    drive = make_drive()
    with VideoSink(tmp_path, fps=10.0) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    assert sink.path == tmp_path / "annotated.mp4" and sink.fourcc == "mp4v"
    frames = _read_video(sink.path)
    assert len(frames) == len(drive) == sink.frames
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    # Lossy codec: the red box edge is still clearly red.
    pixel = frames[BRAKE_FULL_FRAME][_left_edge(drive[BRAKE_FULL_FRAME], LEAD)]
    assert _near(pixel, THREAT_BGR, 60), pixel


def test_interrupted_run_leaves_a_playable_video(tmp_path: Path) -> None:
    drive = make_drive()
    with pytest.raises(KeyboardInterrupt), VideoSink(tmp_path, fps=10.0) as sink:
        for r in drive[:7]:
            sink.write(r, make_image(r))
        sink.write(drive[7], None)  # no image: not written, counted
        raise KeyboardInterrupt
    assert len(_read_video(sink.path)) == 7 and sink.skipped == 1


def test_unavailable_codec_falls_back_to_mjpeg_avi(tmp_path: Path) -> None:
    drive = make_drive(3)
    with VideoSink(tmp_path, fps=10.0, fourcc="ZZZZ") as sink:
        for r in drive:
            sink.write(r, make_image(r))
    assert sink.path == tmp_path / "annotated.avi" and sink.fourcc == "MJPG"
    assert len(_read_video(sink.path)) == 3


def test_rejects_a_non_positive_frame_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        VideoSink(tmp_path, fps=0.0)
