"""The clips' pre-roll: the recent frames an alert's clip may still take from before its start.

A frame is held in the cheapest form that gives back the replay's pixels bit for bit:

- an H.264 access unit (``EncodedImage`` ``h264``, where the sink has a unit decoder): about
  20 kB at 1280 x 720 instead of a 2.8 MB image. Units depend on the units before them back to
  their keyframe (an IDR with its SPS/PPS), so units are held in *runs*: a keyframe and the units
  after it, frame after frame, with no frame missing. A unit that cannot join a run (no
  keyframe since a gap: the drive's first frames before its first IDR, a frame without unit
  in between, a run past :data:`MAX_RUN_BYTES`) is held as its image instead, until the next
  keyframe starts a run. When a clip opens, each run it takes is decoded again in one go, from
  its keyframe, by the injected decoder (``adas.sources.decode_h264_units``): the same FFmpeg
  decoder and BGR conversion as the source, so the same pixels; the decoded frames live until
  the clip has them, for that moment as much memory as held images. A run that does not decode
  (a unit rejected, concealed or dropped) loses its frames and the clip's earlier pre-roll:
  the clip starts after it (counted in :attr:`PreRoll.lost`, logged), no wrong frame is written.
- a JPEG (a bag's CompressedImage): its bytes, decoded again with OpenCV as the sources do.
- otherwise the image itself (a reference, no copy: replay hands each frame a fresh array), or
  with the full video the frame as drawn for it.

Bound: the frames from ``before`` before the newest frame, at most ``max_frames`` of them,
plus, for units, the rest of their run back to its keyframe, and the open run (the newest
units, needed to decode the next ones; during a clip, units already written are held for
that alone). A run holds at most a keyframe interval, and never more than
:data:`MAX_RUN_BYTES`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from adas.errors import AdasError, SinkError
from adas.types import EncodedImage, FrameResult

__all__ = ["MAX_RUN_BYTES", "DecodeUnits", "Held", "PreRoll", "decode_jpeg_bgr"]

log = logging.getLogger(__name__)

# The decoder of a run of H.264 units (the first a keyframe): one BGR image per unit, in order,
# or an AdasError / ValueError (adas.sources.decode_h264_units).
DecodeUnits = Callable[[Sequence[EncodedImage]], list[np.ndarray]]

# Bytes one run of units may hold (32 MiB): at about 20 kB a unit (1280 x 720), 1,600 frames,
# 53 s at 30 frames/s; cameras put keyframes 1-10 s apart. A stream without keyframes
# (intra refresh) passes it and is then held as images, as without units.
MAX_RUN_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Held:
    """One held frame: its result and image (``drawn``: the full video's drawing of it), or in
    the image's place its JPEG or its H.264 unit. ``written``: the frame is in a clip already;
    its unit is held only for the units after it."""

    result: FrameResult
    image: np.ndarray | None
    drawn: bool = False
    jpeg: bytes | None = None
    unit: EncodedImage | None = None
    written: bool = False

    @property
    def nbytes(self) -> int:
        if self.image is not None:
            return int(self.image.nbytes)
        return len(self.unit.data if self.unit is not None else self.jpeg or b"")

    def picture(self) -> np.ndarray:
        """The image, the JPEG decoded, never a unit (a run decodes together)."""
        if self.image is not None:
            return self.image
        assert self.jpeg is not None, "a unit decodes with its run (PreRoll.take)"
        return decode_jpeg_bgr(self.jpeg)


def decode_jpeg_bgr(data: bytes) -> np.ndarray:
    """A recorded JPEG as the BGR image replay hands the sinks: OpenCV's decoder as the sources
    use it (``IMREAD_UNCHANGED``), grey made BGR as ``adas.app.to_bgr`` does."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        msg = "video: a held JPEG frame does not decode"
        raise SinkError(msg)
    if image.ndim == 2 or image.shape[2] == 1:
        return np.asarray(cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR))
    return np.ascontiguousarray(image[:, :, :3])


class PreRoll:
    """The held frames, oldest first (:attr:`held`); see the module docstring.

    ``before_ns`` and ``max_frames`` bound the frames a clip may take; ``decode_units`` decodes
    runs of H.264 units (None: no units held, images instead). :attr:`lost` counts the frames
    a clip could not take because their run did not decode.
    """

    def __init__(
        self,
        *,
        before_ns: int,
        max_frames: int,
        decode_units: DecodeUnits | None = None,
        max_run_bytes: int = MAX_RUN_BYTES,
    ) -> None:
        self.before_ns, self.max_frames = before_ns, max_frames
        self.decode_units, self.max_run_bytes = decode_units, max_run_bytes
        self.held: deque[Held] = deque()
        self.lost = 0
        self._unwritten = 0  # held frames not written yet: those a clip may take
        self._run_open = False  # the newest frame is held as a unit: the next unit may follow
        self._run_bytes = 0  # the open run's
        self._told: set[str] = set()  # the reasons logged for holding images

    @property
    def nbytes(self) -> int:
        """Bytes held: images, JPEGs and units."""
        return sum(h.nbytes for h in self.held)

    def hold(
        self,
        result: FrameResult,
        image: np.ndarray,
        encoded: EncodedImage | None,
        *,
        drawn: bool = False,
        written: bool = False,
    ) -> None:
        """Hold the newest frame (``written``: it is in a clip already) and let go of the frames
        no clip can take any more."""
        unit = self._unit(encoded) if not drawn else None
        if unit is not None:
            self._run_bytes = len(unit.data) + (0 if unit.keyframe else self._run_bytes)
            self.held.append(Held(result, None, unit=unit, written=written))
        elif not written:
            jpeg = encoded.data if encoded is not None and encoded.format == "jpeg" else None
            if jpeg is not None and not drawn:  # ~0.2 MB at 720p instead of 2.8 MB
                self.held.append(Held(result, None, jpeg=jpeg))
            else:
                self.held.append(Held(result, image, drawn=drawn))
        self._unwritten += not written  # a frame not written is always held
        self._run_open = unit is not None
        self._trim(result.t_ns)

    def gap(self) -> None:
        """A frame went by without being held: the open run of units ends there."""
        self._run_open = False

    def take(self, t_ns: int) -> list[Held]:
        """The frames a clip opening at ``t_ns`` takes, oldest first: those from ``before``
        before it not written yet, their units decoded (as ``Held`` images). Afterwards only
        the open run is held, as written, for the units to come."""
        entries = list(self.held)
        self.held.clear()
        self._unwritten = 0  # what stays is written
        cutoff = t_ns - self.before_ns
        i = next(
            (k for k, h in enumerate(entries) if not h.written and h.result.t_ns >= cutoff),
            len(entries),
        )
        out: list[Held] = []
        open_run_ok = self._run_open
        while i < len(entries):
            if entries[i].unit is None:
                out.append(entries[i])
                i += 1
                continue
            start, end = _run_start(entries, i), _run_end(entries, i)
            pictures = self._decode(entries[start:end])
            if pictures is None:  # no frame before the failed run either: no gap in the clip
                self.lost += len(out) + end - i
                out.clear()
                open_run_ok = open_run_ok and end < len(entries)
            else:
                done = zip(entries[i:end], pictures[i - start :], strict=True)
                out += [Held(h.result, picture) for h, picture in done]
            i = end
        if open_run_ok and entries:
            first = _run_start(entries, len(entries) - 1)
            self.held.extend(replace(h, written=True) for h in entries[first:])
        else:
            self._run_open, self._run_bytes = False, 0
        return out

    def clear(self) -> None:
        self.held.clear()
        self._run_open, self._run_bytes, self._unwritten = False, 0, 0

    def _unit(self, encoded: EncodedImage | None) -> EncodedImage | None:
        """``encoded`` where it is an H.264 unit that can join a run, else None (logged once)."""
        if encoded is None or encoded.format != "h264" or self.decode_units is None:
            return None
        if encoded.keyframe:
            return encoded
        if not self._run_open:
            why = "an H.264 unit without its keyframe before it (the drive's start, or a gap)"
        elif self._run_bytes + len(encoded.data) > self.max_run_bytes:
            why = f"keyframes more than {self.max_run_bytes} bytes of H.264 units apart"
        else:
            return encoded
        if why not in self._told:  # once per reason
            self._told.add(why)
            log.info("clips: %s: the pre-roll holds images until the next keyframe", why)
        return None

    def _trim(self, t_ns: int) -> None:
        """Drop the oldest frames but those a clip may take (the newest from ``before`` before
        ``t_ns``, at most ``max_frames``) and the units their runs and the open run need."""
        held, cutoff = self.held, t_ns - self.before_ns
        first, unwritten = 0, self._unwritten  # unwritten: those from ``first`` on
        for h in held:  # from the oldest to the first a clip may take
            if not h.written:
                if h.result.t_ns >= cutoff and unwritten <= self.max_frames:
                    break
                unwritten -= 1
            first += 1
        if self._run_open:
            first = min(first, len(held) - 1)
        if first < len(held) and held[first].unit is not None:
            first = _run_start(held, first)
        for _ in range(first):
            self._unwritten -= not held.popleft().written

    def _decode(self, run: list[Held]) -> list[np.ndarray] | None:
        assert self.decode_units is not None
        units = [h.unit for h in run if h.unit is not None]
        try:
            pictures = self.decode_units(units)
            if len(pictures) != len(units):
                msg = f"{len(units)} units gave {len(pictures)} images"
                raise SinkError(msg)
        except (AdasError, ValueError) as err:
            log.warning("clips: the pre-roll's H.264 units do not decode (%s); the clip "
                        "starts after them", err)  # fmt: skip
            return None
        return pictures


def _follows(h: Held) -> bool:
    """Whether ``h`` is a unit that depends on the units before it (not a keyframe)."""
    return h.unit is not None and not h.unit.keyframe


def _run_start(entries: Sequence[Held], i: int) -> int:
    """The index of the keyframe of the run that holds the unit at ``i``."""
    while i > 0 and _follows(entries[i]):
        i -= 1
    return i


def _run_end(entries: Sequence[Held], i: int) -> int:
    """One past the last unit of the run that holds the unit at ``i``."""
    i += 1
    while i < len(entries) and _follows(entries[i]):
        i += 1
    return i
