"""``annotated.mp4``: the input frames with boxes, labels and the decision banner drawn on.

Drawing is the pure function :func:`annotate` (testable without a video file); the sink only
feeds ``cv2.VideoWriter``. Box colour: in path red when the object is a warning-or-worse threat,
else orange; adjacent yellow; outside grey; not yet zoned blue (``adas.sinks.base``). Each box
has ``#id class distance TTC``; the banner on top shows the decision level (coloured), the
deceleration request in m/s^2, the target and the reason.

Codec: ``mp4v`` in an .mp4 (in every OpenCV wheel with FFmpeg); if the writer does not open,
the sink logs a warning and falls back to Motion-JPEG in ``annotated.avi``, and raises
:class:`SinkError` if that fails too. The container is finalised in ``close`` (``with`` runs
it on any exit), without which an MP4 has no index and does not play.
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
from adas.types import DecisionLevel, EncodedImage, FrameResult, Zone

log = logging.getLogger(__name__)

VIDEO_FILE = "annotated.mp4"
FALLBACK_FILE = "annotated.avi"
FALLBACK_FOURCC = "MJPG"
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


def _video_writer(
    path: Path, fourcc: str, fps: float, size: tuple[int, int]
) -> cv2.VideoWriter | None:
    """An opened writer, or ``None`` where the codec is not available."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if writer.isOpened():
        return writer
    writer.release()
    return None


class VideoSink(SinkBase):
    """Writes ``annotated.mp4`` into ``out_dir`` at ``fps`` frames/s of video time.

    The size is the first image's; later images of another size are resized to it (logged
    once). A frame without an image is not written (counted in :attr:`skipped`).
    """

    def __init__(
        self, out_dir: str | Path, *, fps: float, fourcc: str = "mp4v", overwrite: bool = False
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            msg = f"VideoSink: fps = {fps}, must be a positive frame rate (frames/s)"
            raise ValueError(msg)
        self.path = output_path(out_dir, VIDEO_FILE, overwrite=overwrite)
        self._fallback = output_path(out_dir, FALLBACK_FILE, overwrite=overwrite)
        self.fps, self.fourcc = float(fps), fourcc
        self.frames = self.skipped = 0
        self.size: tuple[int, int] | None = None  # width, height
        self._writer: cv2.VideoWriter | None = None
        self._resized = False

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        writer = _video_writer(self.path, self.fourcc, self.fps, size)
        if writer is None:
            log.warning(
                "video codec %s unavailable in this OpenCV build; writing %s (%s) instead",
                self.fourcc, self._fallback.name, FALLBACK_FOURCC,
            )  # fmt: skip
            writer = _video_writer(self._fallback, FALLBACK_FOURCC, self.fps, size)
            if writer is None:
                msg = (
                    f"no video codec available ({self.fourcc}, {FALLBACK_FOURCC}); "
                    "install an OpenCV build with FFmpeg (opencv-python-headless)"
                )
                raise SinkError(msg)
            self.path, self.fourcc = self._fallback, FALLBACK_FOURCC
        return writer

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
        frame = annotate(image, result)
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self.size, self._writer = size, self._open(size)
        elif size != self.size:
            if not self._resized:
                log.warning("video: frame size %s differs from %s; resizing", size, self.size)
                self._resized = True
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self._writer is None:
            log.warning("video: no frame had an image; %s not written", self.path)
            return
        self._writer.release()
