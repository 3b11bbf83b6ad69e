"""annotated/ clips: exactly the frames around each alert episode, merged when they overlap,
drawn only when written; the pre-roll ring stays bounded."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from adas.sinks import ClipSink, SinkError, annotate
from adas.sinks.clips import CLIP_DIR
from adas.types import Decision, DecisionLevel, FrameResult
from tests.adas.sinks._av import mean_abs_diff, read_av
from tests.adas.sinks._results import N_FRAMES, PERIOD_NS, T0_NS, make_drive, make_image

N, W, U = DecisionLevel.NONE, DecisionLevel.WARNING, DecisionLevel.UNAVAILABLE
BASE = make_drive()


def alert_drive(
    alerts: dict[range, DecisionLevel], n: int, period_ns: int = PERIOD_NS
) -> list[FrameResult]:
    """``n`` frames ``period_ns`` apart (default 10 Hz), quiet (NONE) but for the frame ranges of
    ``alerts``."""
    levels = [N] * n
    for frames, level in alerts.items():
        for k in frames:
            levels[k] = level
    quiet = Decision(N, 0.0, -1, "scripted")
    return [
        dataclasses.replace(BASE[k % N_FRAMES], t_ns=T0_NS + k * period_ns, seq=k,
                            decision=dataclasses.replace(quiet, level=level))
        for k, level in enumerate(levels)
    ]  # fmt: skip


class _CountingDraw:
    """annotate, recording the seq of every frame it draws."""

    def __init__(self) -> None:
        self.seqs: list[int] = []

    def __call__(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        self.seqs.append(result.seq)
        return annotate(image, result)


def _replay(tmp_path: Path, drive: list[FrameResult], **kw: Any) -> tuple[ClipSink, _CountingDraw]:
    """The drive through a clip sink with 1.0 s (10 frames) before and 0.5 s (5) after."""
    draw = _CountingDraw()
    with ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5, draw=draw, **kw) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    return sink, draw


def _span(sink: ClipSink) -> list[tuple[int, int]]:
    """(first, last) frame index of every clip."""
    index = {T0_NS + k * PERIOD_NS: k for k in range(1000)}
    return [(index[c.first_t_ns or 0], index[c.last_t_ns or 0]) for c in sink.clips]


def test_clip_runs_from_before_the_start_to_after_the_end(tmp_path: Path) -> None:
    drive = alert_drive({range(50, 60): W}, 110)  # start event at frame 50, end event at 60
    sink, draw = _replay(tmp_path, drive)
    # 1.0 s (10 frames) before the start to 0.5 s (5 frames) after the end, both included.
    assert _span(sink) == [(40, 65)]
    clip = sink.clips[0]
    assert clip.path == tmp_path / CLIP_DIR / "clip_001_5.0s_warning.mp4"
    assert (clip.level, clip.event_t_ns, clip.frames) == (W, drive[50].t_ns, 26)
    video = read_av(clip.path)
    assert video.codec == "h264" and len(video.frames) == 26
    assert video.times_s == pytest.approx([k * 0.1 for k in range(26)], abs=1e-4)
    for frame, r in zip(video.frames, drive[40:66], strict=True):
        assert mean_abs_diff(frame, annotate(make_image(r), r)) < 4.0
    assert draw.seqs == list(range(40, 66))  # nothing outside the clip was drawn
    assert not (tmp_path / "annotated.mp4").exists()  # the full video is opt-in


@pytest.mark.parametrize(
    ("second", "spans", "names"),
    [  # pre-roll from 22, inside the first clip's 10-30: one clip
        (range(32, 34), [(10, 39)], ["clip_001_2.0s_warning.mp4"]),
        # pre-roll from 30: one shared frame is enough
        (range(40, 42), [(10, 47)], ["clip_001_2.0s_warning.mp4"]),
        # pre-roll from 31: back to back, no overlap
        (range(41, 43), [(10, 30), (31, 48)],
         ["clip_001_2.0s_warning.mp4", "clip_002_4.1s_unavailable.mp4"]),
    ],
)  # fmt: skip
def test_overlapping_clips_merge_and_others_do_not(
    tmp_path: Path, second: range, spans: list[tuple[int, int]], names: list[str]
) -> None:
    # The first episode: frames 20-24, its end event at 25, so its clip runs from 10 to 30.
    drive = alert_drive({range(20, 25): W, second: U}, 70)
    sink, draw = _replay(tmp_path, drive)
    assert _span(sink) == spans
    assert [c.episodes for c in sink.clips] == ([2] if len(spans) == 1 else [1, 1])
    assert sorted(p.name for p in (tmp_path / CLIP_DIR).iterdir()) == names
    assert [c.path.name for c in sink.clips] == names
    frames = [k for first, last in spans for k in range(first, last + 1)]
    assert draw.seqs == frames  # every written frame drawn once, no other
    assert sum(len(read_av(c.path).frames) for c in sink.clips) == len(frames)


def test_full_video_has_every_frame_and_draws_each_once(tmp_path: Path) -> None:
    drive = alert_drive({range(20, 25): W}, 60)
    sink, draw = _replay(tmp_path, drive, full_video=True)
    assert draw.seqs == list(range(60))  # clip frames reuse the full video's drawing
    assert _span(sink) == [(10, 30)]
    full = read_av(tmp_path / "annotated.mp4")
    assert full.codec == "h264" and len(full.frames) == 60
    assert len(read_av(sink.clips[0].path).frames) == 21


def test_quiet_drive_writes_and_draws_nothing(tmp_path: Path) -> None:
    sink, draw = _replay(tmp_path, alert_drive({}, 40))
    assert sink.clips == [] and draw.seqs == [] and sink.drawn == 0
    assert not (tmp_path / CLIP_DIR).exists() or not any((tmp_path / CLIP_DIR).iterdir())


def test_alert_at_the_end_of_the_drive_ends_its_clip_there(tmp_path: Path) -> None:
    sink, _ = _replay(tmp_path, alert_drive({range(30, 40): W}, 40))
    assert _span(sink) == [(20, 39)]
    assert len(read_av(sink.clips[0].path).frames) == 20


@pytest.mark.parametrize("period_ns", [PERIOD_NS, PERIOD_NS // 5])
def test_ring_holds_references_and_stays_bounded(tmp_path: Path, period_ns: int) -> None:
    # 1 s pre-roll at a nominal 10 frames/s: 11 frames at most, also when frames come 5x faster.
    with ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5) as sink:
        assert sink.ring_frames == 11
        for k, r in enumerate(alert_drive({}, 200)):
            r = dataclasses.replace(r, t_ns=T0_NS + k * period_ns)
            image = make_image(r)
            sink.write(r, image)
            assert len(sink._pre_roll.held) <= sink.ring_frames
            assert sink._pre_roll.held[-1].image is image  # no copy
        held = [(h.result.t_ns - T0_NS) // period_ns for h in sink._pre_roll.held]
        assert held == list(range(200 - len(held), 200))
        assert len(held) == 11  # at 10 Hz the 1 s bound, at 50 Hz the count bound


def test_the_sink_drive_with_replay_defaults(tmp_path: Path) -> None:
    # WARNING at frame 7, quiet again at 25: 3 s before and 2 s after cover the whole drive.
    with ClipSink(tmp_path, fps=10.0) as sink:
        for r in BASE:
            sink.write(r, make_image(r))
    assert [c.path.name for c in sink.clips] == ["clip_001_0.7s_warning.mp4"]
    assert (sink.clips[0].first_t_ns, sink.clips[0].last_t_ns) == (BASE[0].t_ns, BASE[-1].t_ns)


def test_frames_without_image_are_counted_not_written(tmp_path: Path) -> None:
    drive = alert_drive({range(10, 12): W}, 20)
    with ClipSink(tmp_path, fps=10.0, before_s=0.2, after_s=0.1) as sink:
        for r in drive:
            sink.write(r, None if r.seq in (9, 11) else make_image(r))
    assert sink.skipped == 2 and sink.clips[0].frames == 4  # 8, 10, 12, 13


def test_old_clips_are_replaced_only_with_overwrite(tmp_path: Path) -> None:
    stale = tmp_path / CLIP_DIR / "clip_001_9.9s_brake_full.mp4"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    with pytest.raises(SinkError, match="holds clips"):
        ClipSink(tmp_path, fps=10.0)
    ClipSink(tmp_path, fps=10.0, overwrite=True).close()
    assert not stale.exists()


def test_without_an_h264_encoder_clips_fall_back_to_opencv(tmp_path: Path) -> None:
    sink, _ = _replay(tmp_path, alert_drive({range(10, 12): W}, 20), encoders=("no_such",))
    clip = sink.clips[0]  # alert 10-11, end event at 12: frames 0-17
    assert clip.path.suffix in (".mp4", ".avi") and clip.frames == 18
    cap = cv2.VideoCapture(str(clip.path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 18
    cap.release()


def test_the_pre_roll_holds_recorded_jpegs_and_draws_the_same_pixels(tmp_path: Path) -> None:
    """A bag's JPEG frames: the ring keeps the bytes (no decoded image), and a clip that takes
    them draws exactly the image replay handed in (the same OpenCV decoder)."""
    from adas.types import EncodedImage

    drive = alert_drive({range(30, 35): W}, 45)
    jpegs = [cv2.imencode(".jpg", make_image(r))[1].tobytes() for r in drive]
    images = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_UNCHANGED) for j in jpegs]
    seen: dict[int, np.ndarray] = {}

    def draw(image: np.ndarray, result: FrameResult) -> np.ndarray:
        seen[result.seq] = image.copy()
        return annotate(image, result)

    with ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5, draw=draw) as sink:
        for r, img, jpg in zip(drive, images, jpegs, strict=True):
            sink.write(r, img, EncodedImage("jpeg", jpg))
            if r.seq == 19:  # 1 s of quiet frames held (9-19, both ends): their JPEGs
                assert sink.pre_roll_bytes == sum(len(j) for j in jpegs[9:20])
                assert sink.pre_roll_bytes < 11 * img.nbytes / 3
    assert _span(sink) == [(20, 40)] and sorted(seen) == list(range(20, 41))
    for k, image in seen.items():
        np.testing.assert_array_equal(image, images[k])  # bit for bit the replay's image
