"""``annotated.mp4``: the input frames with boxes, labels and the decision banner drawn on.

Drawing is the pure function :func:`annotate` (testable without a video file); the sink only
feeds a writer of :mod:`adas.sinks.encode` (H.264 in fragmented MP4, readable after a kill).
Box colour: in path red when the object is a warning-or-worse threat, else orange; adjacent
yellow; outside grey; not yet zoned blue (``adas.sinks.base``). Each box has ``#id class
distance TTC``; the banner on top shows the decision level (coloured), the deceleration request
in m/s^2, the target and the reason.

The full-length video is opt-in in replay (``[replay] full_video``); by default replay writes
event clips (:mod:`adas.sinks.clips`), which draw only the frames they keep.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from adas.sinks.base import (
    LEVEL_BGR,
    ObjectRow,
    SinkBase,
    SinkError,
    object_bgr,
    object_rows,
    output_path,
)
from adas.sinks.encode import H264_ENCODERS, FrameWriter, open_writer
from adas.types import DecisionLevel, EncodedImage, FrameResult, Zone

log = logging.getLogger(__name__)

VIDEO_FILE = "annotated.mp4"
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_text(row: ObjectRow) -> str:
    """``#7 car 23.4 m TTC 2.1 s``; ``-- m`` without a range, no TTC while opening."""
    d = f"{row.distance_m:.1f} m" if math.isfinite(row.distance_m) else "-- m"
    ttc = f" TTC {row.ttc_s:.1f} s" if math.isfinite(row.ttc_s) else ""
    return f"#{row.track_id} {row.class_name} {d}{ttc}"


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """A BGR uint8 copy of a BGR, BGRA or grey image."""
    if image.dtype != np.uint8:
        msg = f"annotate: image must be uint8, got {image.dtype}; convert before the sink"
        raise SinkError(msg)
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))
    if image.ndim == 3 and image.shape[2] == 3:
        return image.copy()
    msg = f"annotate: image of shape {image.shape} is not grey, BGR or BGRA"
    raise SinkError(msg)


def _label(
    img: np.ndarray, text: str, x: int, y: int, bgr: tuple[int, int, int], fs: float
) -> None:
    """Text on a filled box whose bottom-left corner is (x, y), kept inside the image."""
    th = max(1, round(fs * 2))
    (w, h), base = cv2.getTextSize(text, _FONT, fs, th)
    x = min(max(x, 0), max(img.shape[1] - w - 2, 0))
    y = min(max(y, h + base + 2), img.shape[0] - 1)
    cv2.rectangle(img, (x, y - h - base - 2), (x + w + 2, y), bgr, cv2.FILLED)
    ink = (0, 0, 0) if sum(bgr) > 380 else (255, 255, 255)
    cv2.putText(img, text, (x + 1, y - base - 1), _FONT, fs, ink, th, cv2.LINE_AA)


def annotate(image: np.ndarray, result: FrameResult) -> np.ndarray:
    """A copy of ``image`` (grey, BGR or BGRA uint8) with ``result`` drawn on it, as BGR."""
    out = _to_bgr(image)
    h = out.shape[0]
    fs = max(0.35, 0.6 * h / 720)  # font scale: readable from 240 to 2160 lines
    thick = max(2, round(h / 160))
    target_id = result.decision.target_track_id
    # Most relevant last, so its box and label are on top: the target, then in-path threats.
    rows = sorted(
        object_rows(result),
        key=lambda r: (r.track_id == target_id, r.zone == Zone.IN_PATH, int(r.danger)),
    )
    for row in rows:
        if not all(math.isfinite(v) for v in row.xyxy):
            continue  # nothing to draw where the box is unknown
        bgr = object_bgr(row.zone, row.danger)
        lim = 4 * max(out.shape[:2])  # keep far-off boxes inside OpenCV's int range
        x1, y1, x2, y2 = (min(max(round(v), -lim), lim) for v in row.xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), bgr, thick)
        _label(out, label_text(row), x1, y1 - thick, bgr, fs)
    d = result.decision
    level = DecisionLevel(d.level)
    banner_h = max(18, round(h * 0.07))
    strip = out[:banner_h]
    colour = np.full_like(strip, LEVEL_BGR[level])
    strip[:] = cv2.addWeighted(strip, 0.25, colour, 0.75, 0.0)
    target = f"  target #{d.target_track_id}" if d.target_track_id >= 0 else ""
    text = f"{level.name}  {d.decel_request_mps2:.1f} m/s2{target}  {d.reason}".rstrip()
    ink = (0, 0, 0) if sum(LEVEL_BGR[level]) > 380 else (255, 255, 255)
    th = max(1, round(fs * 2))
    cv2.putText(out, text, (6, banner_h - 6), _FONT, fs * 1.2, ink, th, cv2.LINE_AA)
    cv2.putText(out, f"seq {result.seq}", (6, h - 6), _FONT, fs, (255, 255, 255), th, cv2.LINE_AA)
    return out


class VideoSink(SinkBase):
    """Writes the full-length ``annotated.mp4`` into ``out_dir``: every frame drawn and encoded
    (H.264 where PyAV has an encoder, else OpenCV's writer: :mod:`adas.sinks.encode`).

    The size is the first image's; later images of another size are resized to it (logged
    once). A frame without an image is not written (counted in :attr:`skipped`). ``fps`` is
    the nominal rate (frames/s); the time stamps are the frames' capture times.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        fps: float,
        overwrite: bool = False,
        encoders: tuple[str, ...] = H264_ENCODERS,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            msg = f"VideoSink: fps = {fps}, must be a positive frame rate (frames/s)"
            raise ValueError(msg)
        self.path = output_path(out_dir, VIDEO_FILE, overwrite=overwrite)
        self.fps, self.encoders = float(fps), encoders
        self.frames = self.skipped = 0
        self.writer: FrameWriter | None = None

    @property
    def codec(self) -> str | None:
        """``h264``, or the fallback's ``mp4v`` / ``MJPG``; ``None`` before the first frame."""
        return self.writer.codec if self.writer else None

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        if image is None:
            self.skipped += 1
            return
        self.write_drawn(annotate(image, result), result.t_ns)

    def write_drawn(self, frame: np.ndarray, t_ns: int) -> None:
        """Encode a frame already drawn by :func:`annotate` (BGR), captured at ``t_ns``."""
        if self.writer is None:
            size = (frame.shape[1], frame.shape[0])
            self.writer = open_writer(self.path, fps=self.fps, size=size, encoders=self.encoders)
            self.path = self.writer.path
        self.writer.write(frame, t_ns)
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self.writer is None:
            log.warning("video: no frame had an image; %s not written", self.path)
            return
        self.writer.close()
