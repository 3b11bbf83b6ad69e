"""annotated/ clips from a pre-roll of H.264 units: the frames a clip takes are the source's
pixels bit for bit and the clips are those written from decoded images, at a small fraction of
the memory; a unit that does not decode costs the pre-roll, never the drive."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adas.sinks import ClipSink, annotate
from adas.sources import decode_h264_units
from adas.sources.video_decode import DecodedFrame, decode_frames
from adas.types import DecisionLevel, EncodedImage, FrameResult
from tests.adas.sinks._av import read_av
from tests.adas.sinks.test_clips import alert_drive
from tests.adas.sources.test_encoded import write_h264

N, W, U = DecisionLevel.NONE, DecisionLevel.WARNING, DecisionLevel.UNAVAILABLE
GOP = 12  # the synthetic clip's keyframe interval: IDRs at 0, 12, 24, 36, 48
FRAMES = 60


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> list[DecodedFrame]:
    """640 x 360 libx264, no B-frames, an IDR every 12 frames: decoded with its units."""
    path = tmp_path_factory.mktemp("h264") / "clip.mp4"
    frames = list(decode_frames(write_h264(path, FRAMES, size=(640, 360), gop=GOP),
                                keep_encoded=True))  # fmt: skip
    keys = [k for k, f in enumerate(frames) if f.encoded is not None and f.encoded.keyframe]
    assert len(frames) == FRAMES and keys == list(range(0, FRAMES, GOP))
    return frames


class _Capture:
    """annotate, keeping a copy of every image it is handed (what the clip encodes), by seq."""

    def __init__(self) -> None:
        self.images: dict[int, np.ndarray] = {}

    def __call__(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        assert result.seq not in self.images  # each frame drawn once
        self.images[result.seq] = image.copy()
        return annotate(image, result)


def _feed(
    out: Path,
    frames: list[DecodedFrame],
    drive: list[FrameResult],
    *,
    units: bool,
    **kw: Any,
) -> tuple[ClipSink, _Capture]:
    """``frames`` at 10 frames/s through a clip sink (1 s before, 0.5 s after) holding units
    (``units``) or, as without a unit decoder, the images."""
    capture = _Capture()
    decode = decode_h264_units if units else None
    with ClipSink(out, fps=10.0, before_s=1.0, after_s=0.5, draw=capture, decode_units=decode,
                  **kw) as sink:  # fmt: skip
        for frame, r in zip(frames, drive, strict=True):
            sink.write(r, frame.image, frame.encoded)
    return sink, capture


def _same_pixels(capture: _Capture, frames: list[DecodedFrame]) -> None:
    for k, image in capture.images.items():
        np.testing.assert_array_equal(image, frames[k].image)


# (keyframe, written) -> the letter of a held unit
_UNIT_KIND = {(True, False): "K", (False, False): "u", (True, True): "W", (False, True): "w"}


def _kinds(sink: ClipSink) -> str:
    """The held frames, oldest first: ``i`` an image, ``K``/``u`` a keyframe/other unit,
    ``W``/``w`` the same written already (held only to decode the units after it)."""
    return "".join(
        "i" if h.unit is None else _UNIT_KIND[h.unit.keyframe, h.written]
        for h in sink._pre_roll.held
    )


def test_the_pre_roll_holds_units_back_to_their_keyframe_and_gives_the_sources_pixels(
    synthetic: list[DecodedFrame], tmp_path: Path
) -> None:
    # Alert 30-34, its end at 35: the clip takes 20-40, and 20 decodes from the IDR at 12.
    drive = alert_drive({range(30, 35): W}, FRAMES)
    capture = _Capture()
    with ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5, draw=capture,
                  decode_units=decode_h264_units) as sink:  # fmt: skip
        for frame, r in zip(synthetic, drive, strict=True):
            if r.seq == 30:  # 20-29 are the pre-roll, 12-19 only the way to decode them
                assert [h.result.seq for h in sink._pre_roll.held] == list(range(12, 30))
                assert _kinds(sink) == "K" + "u" * 11 + "K" + "u" * 5
                units = sum(len(f.encoded.data) for f in synthetic[12:30] if f.encoded)
                assert sink.pre_roll_bytes == units
            sink.write(r, frame.image, frame.encoded)
    assert sorted(capture.images) == list(range(20, 41))
    _same_pixels(capture, synthetic)
    assert sink.preroll_lost == 0 and len(read_av(sink.clips[0].path).frames) == 21


@pytest.mark.parametrize(
    "alerts",
    [
        {range(30, 35): W},
        {range(20, 25): W, range(41, 43): U},  # two clips: 10-30, then 31-48 (decoded from 24,
        # written in the first clip and held since only to decode 31-35)
        {range(20, 25): W, range(32, 34): U},  # one clip, its pre-roll inside the first's
        {range(3, 5): W, range(57, 60): W},  # a short pre-roll at the start, one to the end
        {range(0, 60): U},  # an alert from the first frame: no pre-roll at all
    ],
)
def test_a_clip_from_units_is_the_clip_from_images(
    synthetic: list[DecodedFrame], tmp_path: Path, alerts: dict[range, DecisionLevel]
) -> None:
    drive = alert_drive(alerts, FRAMES)
    by_images, drawn_images = _feed(tmp_path / "images", synthetic, drive, units=False)
    by_units, drawn_units = _feed(tmp_path / "units", synthetic, drive, units=True)
    assert sorted(drawn_units.images) == sorted(drawn_images.images)
    _same_pixels(drawn_units, synthetic)
    fields = [(c.path.name, c.first_t_ns, c.last_t_ns, c.frames, c.episodes)
              for c in by_images.clips]  # fmt: skip
    assert [(c.path.name, c.first_t_ns, c.last_t_ns, c.frames, c.episodes)
            for c in by_units.clips] == fields  # fmt: skip
    for a, b in zip(by_images.clips, by_units.clips, strict=True):
        video_a, video_b = read_av(a.path), read_av(b.path)
        assert len(video_b.frames) == len(video_a.frames) == a.frames
        assert video_b.times_s == video_a.times_s
    assert by_units.preroll_lost == 0


def test_the_units_pre_roll_is_bounded_by_the_window_and_one_keyframe_interval(
    synthetic: list[DecodedFrame], tmp_path: Path
) -> None:
    # A quiet drive, 1 s (11 frames) before: from the IDR at or before 10 frames back on.
    with ClipSink(tmp_path, fps=10.0, before_s=1.0, decode_units=decode_h264_units) as sink:
        for frame, r in zip(synthetic, alert_drive({}, FRAMES), strict=True):
            sink.write(r, frame.image, frame.encoded)
            held = [h.result.seq for h in sink._pre_roll.held]
            first = max(r.seq - 10, 0) // GOP * GOP
            assert held == list(range(first, r.seq + 1))
            assert len(held) <= sink.ring_frames + GOP - 1


@pytest.mark.data
def test_the_shared_clip_pre_roll_is_its_units_a_fraction_of_the_images(
    data_dir: Path, tmp_path: Path
) -> None:
    """test_video.mp4: 1280 x 720, 38 frames at 25 frames/s, IDRs at 0 and 30. The default 3 s
    pre-roll holds the whole drive before an alert at frame 35: two runs of units, decoded to
    the source's pixels, under 1 % of the images' bytes (0.8 MB against 97 MB)."""
    frames = list(decode_frames(data_dir / "video/udacity/test_video.mp4", keep_encoded=True))
    assert len(frames) == 38
    assert [k for k, f in enumerate(frames) if f.encoded and f.encoded.keyframe] == [0, 30]
    drive = alert_drive({range(35, 38): W}, 38, period_ns=40_000_000)
    sizes: dict[bool, int] = {}
    for units in (False, True):
        capture = _Capture()
        with ClipSink(tmp_path / str(units), fps=25.0, draw=capture,
                      decode_units=decode_h264_units if units else None) as sink:  # fmt: skip
            for frame, r in zip(frames, drive, strict=True):
                if r.seq == 35:
                    sizes[units] = sink.pre_roll_bytes
                sink.write(r, frame.image, frame.encoded)
        assert sorted(capture.images) == list(range(38)) and sink.preroll_lost == 0
        _same_pixels(capture, frames)
        assert [(c.first_t_ns, c.last_t_ns, c.frames) for c in sink.clips] == [
            (drive[0].t_ns, drive[37].t_ns, 38)
        ]
    assert sizes[False] == 35 * 1280 * 720 * 3
    assert sizes[True] == sum(len(f.encoded.data) for f in frames[:35] if f.encoded)
    assert sizes[True] < 0.01 * sizes[False]


def _zeroed(unit: EncodedImage) -> EncodedImage:
    return dataclasses.replace(unit, data=unit.data[:5] + bytes(len(unit.data) - 5))


def _cut(unit: EncodedImage) -> EncodedImage:
    return dataclasses.replace(unit, data=unit.data[: len(unit.data) // 3])


@pytest.mark.parametrize("damage", [_zeroed, _cut, None], ids=["rejected", "concealed", "short"])
def test_a_unit_that_does_not_decode_loses_the_pre_roll_not_the_drive(
    synthetic: list[DecodedFrame],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Any,
) -> None:
    # Unit 25 is damaged (or, "short", the decoder drops a picture of its run): the first
    # clip's pre-roll (20-29: 20-23 from the IDR at 12, 24-29 from 24) is lost, not just 24-29,
    # so the clip has no gap; it starts at its alert. The second clip's pre-roll (45-54, from
    # the IDR at 36, written in the first clip and held for this) decodes again.
    frames, bad = list(synthetic), synthetic[25].encoded
    assert bad is not None
    if damage is not None:
        bad = damage(bad)
        frames[25] = dataclasses.replace(frames[25], encoded=bad)

    def decode(units: Sequence[EncodedImage]) -> list[np.ndarray]:
        images = decode_h264_units(units)
        return images[:-1] if damage is None and bad in units else images

    drive = alert_drive({range(30, 35): W, range(55, 58): U}, FRAMES)
    capture = _Capture()
    with (
        caplog.at_level(logging.WARNING, logger="adas.sinks.preroll"),
        ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5, draw=capture,
                 decode_units=decode) as sink,
    ):  # fmt: skip
        for frame, r in zip(frames, drive, strict=True):
            sink.write(r, frame.image, frame.encoded)
    assert sink.preroll_lost == 10
    assert [(c.first_t_ns, c.last_t_ns) for c in sink.clips] == [
        (drive[30].t_ns, drive[40].t_ns), (drive[45].t_ns, drive[59].t_ns)]  # fmt: skip
    assert sorted(capture.images) == [*range(30, 41), *range(45, 60)]
    _same_pixels(capture, synthetic)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "do not decode" in warning and "the clip starts after them" in warning


def _without_unit(frame: DecodedFrame) -> DecodedFrame:
    return dataclasses.replace(frame, encoded=None)


@pytest.mark.parametrize(
    ("first", "plain", "alert", "held", "drawn"),
    [  # fed from frame 5: no IDR before 12, so 5-11 are held as images; clip 5-22
        (5, range(0), range(14, 17), {14: "i" * 7 + "Ku"}, range(5, 23)),
        # 20-24 without a unit (a raw camera, say): 25-29 cannot decode, images until 36
        # (19, held, needs its run from 12). After the clip (20-40), the IDR at 36 and 37-40,
        # written, are held to decode 41-44.
        (0, range(20, 25), range(30, 35),
         {30: "K" + "u" * 7 + "i" * 10, 45: "W" + "w" * 4 + "u" * 4},
         range(20, 41)),
    ],
    ids=["start-mid-gop", "gap"],
)  # fmt: skip
def test_frames_without_a_decodable_unit_are_held_as_images(
    synthetic: list[DecodedFrame],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    first: int,
    plain: range,
    alert: range,
    held: dict[int, str],
    drawn: range,
) -> None:
    frames = [_without_unit(f) if k in plain else f for k, f in enumerate(synthetic)]
    drive = alert_drive({alert: W}, FRAMES)
    capture = _Capture()
    with (
        caplog.at_level(logging.INFO, logger="adas.sinks.preroll"),
        ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5, draw=capture,
                 decode_units=decode_h264_units) as sink,
    ):  # fmt: skip
        for frame, r in zip(frames[first:], drive[first:], strict=True):
            if r.seq in held:
                assert _kinds(sink) == held[r.seq]
            sink.write(r, frame.image, frame.encoded)
    assert sorted(capture.images) == list(drawn) and sink.preroll_lost == 0
    _same_pixels(capture, synthetic)
    told = [r.getMessage() for r in caplog.records if "without its keyframe" in r.getMessage()]
    assert len(told) == 1  # logged once


def test_a_run_past_max_run_bytes_is_held_as_images_until_the_next_keyframe(
    synthetic: list[DecodedFrame], tmp_path: Path
) -> None:
    sizes = [len(f.encoded.data) for f in synthetic if f.encoded]
    cap = sum(sizes[24:27])  # a run holds at most 3 units of the IDR at 24 and those after
    drive = alert_drive({range(30, 35): W}, FRAMES)
    capture = _Capture()
    with ClipSink(tmp_path, fps=10.0, before_s=1.0, after_s=0.5, draw=capture,
                  decode_units=decode_h264_units, max_run_bytes=cap) as sink:  # fmt: skip
        for frame, r in zip(synthetic, drive, strict=True):
            if r.seq == 30:  # 19-23 and 27-29 past their run's bytes: images
                assert _kinds(sink) == "iiiii" + "Kuu" + "iii"
            sink.write(r, frame.image, frame.encoded)
    assert sorted(capture.images) == list(range(20, 41))
    _same_pixels(capture, synthetic)


def test_the_full_video_holds_its_drawn_frames_not_units(
    synthetic: list[DecodedFrame], tmp_path: Path
) -> None:
    drive = alert_drive({range(30, 35): W}, 40)
    sink, capture = _feed(tmp_path, synthetic[:40], drive, units=True, full_video=True)
    assert sorted(capture.images) == list(range(40))  # every frame drawn once, for both
    assert all(h.drawn and h.unit is None for h in sink._pre_roll.held)
    assert len(read_av(tmp_path / "annotated.mp4").frames) == 40
    assert sink.clips[0].frames == 20  # 20-39
