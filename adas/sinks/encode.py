"""Video files from BGR frames: H.264 in fragmented MP4 through PyAV, or OpenCV's old writer.

:func:`open_writer` gives an :class:`H264Writer` where PyAV (FFmpeg's libraries) has an H.264
encoder, else (logged as a warning) an :class:`OpenCvWriter` (MPEG-4 part 2 ``mp4v``, then
Motion-JPEG ``.avi``), the writer of earlier releases, which browsers do not play and which a
hard kill leaves unreadable.

H.264 settings, each for a reason:

- libx264, ``preset = ultrafast``, ``tune = zerolatency``, CRF 23 (x264's default quality).
  Measured on 190 annotated 1280 x 720 frames of the Udacity clip (2-core AMD EPYC VM, CPU time
  of all threads per frame, BGR -> YUV included, 3 runs): ultrafast 4.7-5.2 ms, 42 kB;
  superfast 8.5-10.0 ms, 28 kB; veryfast 14.4-14.6 ms, 22 kB; OpenCV mp4v 5.6-5.8 ms, 65 kB.
  Replay shares the CPU with the model, so the cheapest preset wins; its files are a third
  smaller than mp4v's and alert clips keep them short. ``zerolatency`` (no B-frames, no
  lookahead) hands every frame to the muxer at once, so a kill loses only the open fragment.
- ``yuv420p`` (every browser decodes it), converted by OpenCV (``COLOR_BGR2YUV_I420``: BT.601,
  limited range; 0.7 ms a frame against 4.4 ms for FFmpeg's swscale here) and tagged so in
  the stream (matrix SMPTE 170M, range tv), so players convert it back with the same matrix.
  Odd widths or heights lose their last column or row (4:2:0 needs even sizes).
- Fragmented MP4 (``movflags = frag_keyframe+empty_moov+default_base_moof``, with
  ``flush_packets``): the index is written up front and each fragment reaches the file when
  the next keyframe starts, so after SIGKILL the file reads up to its last fragment. A keyframe
  every second (GOP = fps frames) keeps the loss under about one second.
- Time stamps are the frames' capture times (90 kHz clock, from the writer's first frame):
  dropped frames keep the playback at recorded speed.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import cv2
import numpy as np

from adas.sinks.base import SinkError

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.stream import VideoStream

log = logging.getLogger(__name__)

H264_ENCODERS = ("libx264", "libopenh264")  # tried in this order; software encoders only
X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "crf": "23"}
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
TIME_BASE = Fraction(1, 90_000)  # s per tick: the MPEG clock
SMPTE170M, BT709, RANGE_TV = 6, 1, 1  # FFmpeg's AVColorSpace / AVColorPrimaries / AVColorRange
FALLBACK_FOURCC = ("mp4v", "MJPG")  # OpenCV: MPEG-4 part 2 in .mp4, then Motion-JPEG in .avi


class FrameWriter(Protocol):
    """A video file being written: ``write`` BGR frames of one size in time order."""

    path: Path
    codec: str  # "h264", "mp4v" or "MJPG"
    frames: int

    def write(self, bgr: np.ndarray, t_ns: int) -> None: ...

    def close(self) -> None: ...


class _Resizer:
    """Fits frames to the writer's size (the first frame's), logging the first mismatch."""

    def __init__(self, size: tuple[int, int], name: str) -> None:
        self.size, self.name, self._warned = size, name, False

    def fit(self, bgr: np.ndarray) -> np.ndarray:
        w, h = self.size
        if bgr.shape[1] < w or bgr.shape[0] < h or bgr.shape[1] > w + 1 or bgr.shape[0] > h + 1:
            if not self._warned:
                log.warning("%s: frame size %s differs from %s; resizing",
                            self.name, bgr.shape[1::-1], self.size)  # fmt: skip
                self._warned = True
            return np.asarray(cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA))
        return bgr[:h, :w]


class H264Writer:
    """H.264 in fragmented MP4 through PyAV (settings and reasons: the module docstring)."""

    codec = "h264"

    def __init__(
        self, path: Path, *, fps: float, size: tuple[int, int], encoder: str = "libx264"
    ) -> None:
        import av

        w, h = size[0] - size[0] % 2, size[1] - size[1] % 2
        if w < 2 or h < 2:
            msg = f"video: frame size {size} is too small for H.264"
            raise SinkError(msg)
        self.path, self.frames, self.encoder = path, 0, encoder
        self._resize = _Resizer((w, h), path.name)
        self._t0_ns: int | None = None
        self._last_pts = -1
        options = {"movflags": MOVFLAGS, "flush_packets": "1"}
        container = av.open(str(path), "w", format="mp4", container_options=options)
        self._container: OutputContainer | None = container
        try:
            rate = Fraction(fps).limit_denominator(1001)
            stream = cast("VideoStream", container.add_stream(encoder, rate=rate))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            cc = stream.codec_context
            cc.time_base, cc.gop_size = TIME_BASE, max(1, round(fps))
            cc.colorspace, cc.color_range = SMPTE170M, RANGE_TV
            cc.color_primaries = cc.color_trc = BT709  # camera images are sRGB (BT.709 primaries)
            if encoder == "libx264":
                cc.options = dict(X264_OPTIONS)
            cc.open()
        except BaseException:
            container.close()
            path.unlink(missing_ok=True)
            raise
        self._stream = stream

    def write(self, bgr: np.ndarray, t_ns: int) -> None:
        import av

        if self._t0_ns is None:
            self._t0_ns = t_ns
        frame = self._resize.fit(bgr)
        yuv = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420), np.uint8)
        vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        ticks = round((t_ns - self._t0_ns) * 1e-9 / TIME_BASE)
        self._last_pts = vf.pts = max(ticks, self._last_pts + 1)  # strictly increasing
        vf.time_base = TIME_BASE
        assert self._container is not None, "write after close"
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):  # drain the encoder
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


class OpenCvWriter:
    """The old writer: ``cv2.VideoWriter`` with ``mp4v`` into ``path``, else Motion-JPEG into
    ``path`` with ``.avi``; :class:`SinkError` if neither opens. Finalised only in ``close``."""

    def __init__(
        self,
        path: Path,
        *,
        fps: float,
        size: tuple[int, int],
        fourccs: tuple[str, ...] = FALLBACK_FOURCC,
    ) -> None:
        self.frames = 0
        self._resize = _Resizer(size, path.name)
        for fourcc in fourccs:
            target = path if fourcc == "mp4v" else path.with_suffix(".avi")
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*fourcc), fps, size)
            if writer.isOpened():
                self.path, self.codec, self._writer = target, fourcc, writer
                return
            writer.release()
            log.warning("video codec %s unavailable in this OpenCV build", fourcc)
        msg = f"no video codec available ({', '.join(fourccs)}); install PyAV or opencv-python"
        raise SinkError(msg)

    def write(self, bgr: np.ndarray, t_ns: int) -> None:
        self._writer.write(self._resize.fit(bgr))
        self.frames += 1

    def close(self) -> None:
        self._writer.release()


def open_writer(
    path: Path,
    *,
    fps: float,
    size: tuple[int, int],
    encoders: tuple[str, ...] = H264_ENCODERS,
) -> FrameWriter:
    """An H.264 writer with the first of ``encoders`` that opens, else (a logged warning) the
    old OpenCV writer. ``size`` is (width, height) in pixels, ``fps`` the nominal frame rate."""
    if not (math.isfinite(fps) and fps > 0):
        msg = f"video: fps = {fps}, must be a positive frame rate (frames/s)"
        raise ValueError(msg)
    why = "PyAV is not installed"
    try:
        import av
    except ImportError:
        encoders = ()
    for encoder in encoders:
        try:
            return H264Writer(path, fps=fps, size=size, encoder=encoder)
        except (av.FFmpegError, ValueError) as err:  # UnknownCodecError is a ValueError
            why = f"{encoder}: {err}"
    log.warning("no H.264 encoder in PyAV (%s); writing %s with OpenCV instead, which browsers "
                "do not play and a hard kill leaves unreadable", why, path.name)  # fmt: skip
    return OpenCvWriter(path, fps=fps, size=size)
