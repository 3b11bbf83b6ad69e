"""``annotated/clip_NNN_<t>s_<level>.mp4``: annotated video around each alert episode.

An episode is what :class:`adas.sinks.events.EventDetector` calls one: from its ``start``
(WARNING, BRAKE_PARTIAL, BRAKE_FULL or UNAVAILABLE after a quiet level) to its ``end`` (the
first quiet frame). Its clip holds every frame captured from ``before_s`` before the start to
``after_s`` after the end, both ends included; an episode that starts before the previous
clip's interval is over (its pre-roll overlaps that clip) continues the same file, so clips
never overlap and never repeat a frame. ``NNN`` counts clips from 001, ``<t>`` is the start
event's time in seconds since the drive's first frame (``t_s`` of ``events.jsonl``, one
decimal) and ``<level>`` the start event's level in lower case (``clip_002_41.3s_warning.mp4``).
With ``full_video`` the sink also writes the whole drive into ``annotated.mp4``, drawing each
frame once for both.

Only written frames are drawn and encoded. The pre-roll (:mod:`adas.sinks.preroll`) holds the
frames from ``before_s`` before the newest, at most ``ceil(before_s * fps) + 1``. As images
(references, no copies: replay hands each frame a fresh array) that is, with the default 3 s at
30 frames/s, 91 frames of W x H x 3 bytes: 252 MB at 1280 x 720, 566 MB at 1920 x 1080. A frame
recorded as JPEG (a bag's CompressedImage) is held as its bytes, about a tenth of that. A frame
of an H.264 video (``adas replay video.mp4``; ``decode_units`` given) is held as its access
unit, back to the keyframe the oldest needs, and the units a clip takes are decoded again when
it opens, to the same pixels. Measured on test_video.mp4 (1280 x 720, 25 frames/s, an IDR every
30 frames, 21 kB a unit on average, 110 kB the first IDR): the 37 frames before an alert at
frame 37 take 0.78 MB as units against 102 MB as images (0.8 %); a 3 s pre-roll at 30 frames/s
with one keyframe interval more would be about 2.5 MB. The price is one decode of the pre-roll
per clip, from its keyframe (about 4-5 ms CPU a 720p frame: those 37 frames, 0.1 s).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adas.sinks.base import SinkBase, SinkError, output_path
from adas.sinks.encode import H264_ENCODERS, FrameWriter, open_writer
from adas.sinks.events import EventDetector
from adas.sinks.preroll import MAX_RUN_BYTES, DecodeUnits, Held, PreRoll
from adas.sinks.video import VIDEO_FILE, annotate
from adas.types import DecisionLevel, EncodedImage, FrameResult

log = logging.getLogger(__name__)

CLIP_DIR = "annotated"
CLIP_GLOB = "clip_*.mp4"


@dataclass
class Clip:
    """One clip file: where it is, what opened it, and the capture times it holds (ns)."""

    index: int
    path: Path
    level: DecisionLevel  # the level of the episode's start event
    event_t_ns: int  # the start event's capture time
    first_t_ns: int | None = None
    last_t_ns: int | None = None
    frames: int = 0
    episodes: int = 1  # alert episodes merged into this clip


class ClipSink(SinkBase):
    """Event clips into ``out_dir/annotated/`` and, with ``full_video``, ``annotated.mp4``.

    ``fps`` is the nominal frame rate (frames/s: the ring's size, the keyframe interval).
    ``draw`` is the drawing function (:func:`annotate`; a test may count its calls).
    ``decode_units`` decodes runs of H.264 units (``adas.sources.decode_h264_units``): given,
    the pre-roll holds a frame's unit instead of its image (:mod:`adas.sinks.preroll`).
    :attr:`clips` lists the clips written, :attr:`drawn` counts the frames drawn and
    :attr:`preroll_lost` the pre-roll frames lost to units that did not decode.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        fps: float,
        before_s: float = 3.0,
        after_s: float = 2.0,
        full_video: bool = False,
        overwrite: bool = False,
        encoders: tuple[str, ...] = H264_ENCODERS,
        draw: Callable[[np.ndarray, FrameResult], np.ndarray] = annotate,
        decode_units: DecodeUnits | None = None,
        max_run_bytes: int = MAX_RUN_BYTES,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            msg = f"ClipSink: fps = {fps}, must be a positive frame rate (frames/s)"
            raise ValueError(msg)
        if not (0.0 <= before_s <= 60.0 and 0.0 <= after_s <= 60.0):
            msg = f"ClipSink: before_s = {before_s}, after_s = {after_s}: allowed [0, 60] s"
            raise ValueError(msg)
        self.fps, self.encoders, self._draw = float(fps), encoders, draw
        self.before_ns, self.after_ns = round(before_s * 1e9), round(after_s * 1e9)
        self.dir = Path(out_dir) / CLIP_DIR
        old = sorted(self.dir.glob(CLIP_GLOB)) if self.dir.is_dir() else []
        if old and not overwrite:
            msg = f"{self.dir} holds clips; choose a new output directory or pass overwrite=True"
            raise SinkError(msg)
        for path in old:  # a replaced run leaves no stale clips behind
            path.unlink()
        self.full_path = (
            output_path(out_dir, VIDEO_FILE, overwrite=overwrite) if full_video else None
        )
        self.ring_frames = math.ceil(before_s * fps) + 1
        self.clips: list[Clip] = []
        self.drawn = self.skipped = 0
        self.detector = EventDetector()
        self._pre_roll = PreRoll(
            before_ns=self.before_ns,
            max_frames=self.ring_frames,
            decode_units=None if full_video else decode_units,  # drawn frames are held
            max_run_bytes=max_run_bytes,
        )
        self._clip: Clip | None = None
        self._writer: FrameWriter | None = None  # the open clip's, from its first frame
        self._until_ns: int | None = None  # the open clip's last time; None while alert
        self._full: FrameWriter | None = None

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        t = result.t_ns
        event = self.detector.update(result)
        if (
            self._clip is not None
            and self._until_ns is not None
            and t > self._until_ns + self.before_ns
        ):
            self._close_clip()  # no episode came within its pre-roll: the clip is done
        if event is not None and event.kind == "start":
            if self._clip is None:
                self._open_clip(result, event.t_s)
            else:
                self._clip.episodes += 1
            self._until_ns = None
            for held in self._pre_roll.take(t):
                self._emit(held)
        elif event is not None and event.kind == "end" and self._clip is not None:
            self._until_ns = t + self.after_ns
        if image is None:
            self.skipped += 1
            self._pre_roll.gap()
            return
        # An alert frame is always inside its clip (its episode's start opened it).
        in_clip = self._clip is not None and (self._until_ns is None or t <= self._until_ns)
        picture, drawn = image, False
        if self.full_path is not None:
            picture, drawn = self._paint(image, result), True
            self._full = self._full or self._open(self.full_path, picture)
            self._full.write(picture, t)
        if in_clip:
            self._emit(Held(result, picture, drawn=drawn))
        self._pre_roll.hold(result, picture, encoded, drawn=drawn, written=in_clip)

    @property
    def pre_roll_bytes(self) -> int:
        """Bytes the pre-roll holds now: images, or the JPEGs or H.264 units in their place."""
        return self._pre_roll.nbytes

    @property
    def preroll_lost(self) -> int:
        """Pre-roll frames no clip got: their H.264 units did not decode (logged)."""
        return self._pre_roll.lost

    def _paint(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        self.drawn += 1
        return self._draw(image, result)

    def _open(self, path: Path, frame: np.ndarray) -> FrameWriter:
        size = (frame.shape[1], frame.shape[0])
        return open_writer(path, fps=self.fps, size=size, encoders=self.encoders)

    def _open_clip(self, result: FrameResult, t_s: float) -> None:
        level = DecisionLevel(result.decision.level)
        index = len(self.clips) + 1
        name = f"clip_{index:03d}_{t_s:.1f}s_{level.name.lower()}.mp4"
        # overwrite: the clips of a replaced run are gone (__init__), so a clash is impossible
        self._clip = Clip(index, output_path(self.dir, name, overwrite=True), level, result.t_ns)
        self.clips.append(self._clip)
        log.info("video: clip %s", name)

    def _emit(self, held: Held) -> None:
        """Draw (unless drawn) and encode one frame into the open clip."""
        clip = self._clip
        assert clip is not None
        frame = held.picture() if held.drawn else self._paint(held.picture(), held.result)
        if self._writer is None:
            self._writer = self._open(clip.path, frame)
            clip.path = self._writer.path  # the fallback may write .avi
        self._writer.write(frame, held.result.t_ns)
        clip.first_t_ns = clip.first_t_ns if clip.first_t_ns is not None else held.result.t_ns
        clip.last_t_ns, clip.frames = held.result.t_ns, clip.frames + 1

    def _close_clip(self) -> None:
        clip, writer = self._clip, self._writer
        self._clip = self._writer = self._until_ns = None
        if writer is not None:
            writer.close()
        if clip is not None and clip.frames == 0:
            log.warning("video: clip %s had no image; not written", clip.path.name)
            self.clips.remove(clip)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._pre_roll.clear()
        try:
            self._close_clip()
        finally:
            if self._full is not None:
                self._full.close()
