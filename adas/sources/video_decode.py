"""Video files decoded with PyAV (FFmpeg): BGR frames, their container times and, on request,
each frame's H.264 access unit as recorded.

Decoder choice (issue 21): process CPU time per decoded BGR frame (``time.process_time``, every
thread counted) and wall time, ms, of 1280 x 720 H.264 High: udacity test_video.mp4 (38
frames, 21 kB/frame, no B-frames, looped 8 times) and a synthetic libx264 clip (300 frames,
15 kB/frame, 3 B-frames, 2 slices per picture). Medians of 7 interleaved rounds on a shared
2-CPU machine (other work ran beside it: rounds spread by up to 10 %, so differences under
about 5 % are noise). R1: one :class:`~av.video.reformatter.VideoReformatter` reused, one
swscale thread; nd: ``frame.to_ndarray(format="bgr24")``, a new multi-threaded swscale context
for every frame.

==========================================  ==============  ==============
decoder (CPU / wall per frame, ms)          test_video      synthetic
==========================================  ==============  ==============
OpenCV ``VideoCapture``, its own threads    4.12 / 5.21     2.77 / 3.61
OpenCV, one thread                          4.00 / 4.21     2.57 / 3.74
PyAV AUTO, nd                               4.38 / 5.37     3.12 / 4.36
PyAV FRAME, nd                              4.45 / 6.57     3.17 / 4.16
PyAV SLICE, nd                              4.22 / 7.94     3.16 / 6.87
PyAV AUTO, R1                               4.05 / 4.15     2.65 / 3.15
PyAV FRAME, R1                              3.75 / 4.88     2.73 / 3.77
PyAV SLICE, R1 (chosen)                     3.80 / 6.97     2.52 / 3.75
PyAV one thread, R1                         3.70 / 5.16     2.53 / 2.87
PyAV AUTO, decoding alone (no BGR)          3.44 / 4.07     2.38 / 2.46
==========================================  ==============  ==============

Kept: PyAV, ``thread_type = "SLICE"`` (FFmpeg's default count), one reused single-threaded
reformatter: as cheap as the cheapest (one thread) and 5-9 % under OpenCV; it threads streams
cut in slices only, so a single-slice stream decodes on one core (about 270 frames/s here).
Frame threading (AUTO, FRAME) buys wall time on many cores for a few % more CPU: change
:data:`DECODER_THREAD_TYPE`. The pixels are OpenCV's bit for bit (both are FFmpeg's h264
decoder and swscale's yuv420p -> bgr24 with the stream's BT.709 coefficients): max abs
difference 0 on every frame of test_video.mp4 (tests/adas/sources/test_video.py) and of a
B-frame clip (tests/adas/sources/test_encoded.py), so detections on the clip cannot change.
Converting with ``cv2.cvtColor(..., COLOR_YUV2BGR_I420)`` instead would differ by up to 24.

Encoded units (``keep_encoded``): packets come out of the demuxer in decode order; each goes
to the decoder, then through FFmpeg's ``h264_mp4toannexb`` bitstream filter (MP4/MOV's AVCC
length prefixes -> Annex B start codes, the avcC record's SPS and PPS put before every IDR
unit; a stream already in Annex B passes unchanged). The decoder hands frames out in
presentation order (B-frames are reordered), so a unit waits under its ``pts`` until the
frame with that ``pts`` comes out: each frame carries its own coded picture. With B-frames
the units, taken in frame order, would not be in decode order, and foxglove_msgs/
CompressedVideo takes no B-frames: a stream whose first packets come out of presentation
order (:func:`reorders`) keeps no units, and its frames are stored re-encoded. ``keyframe``
is set where the unit holds an IDR slice (NAL type 5). Codecs other than H.264 give no units.

:func:`decode_h264_units` decodes such units again, from an IDR on, with the same decoder and
the same BGR conversion (:func:`frame_to_bgr`): an IDR resets the decoder, so each picture is
the one :func:`decode_frames` gave, bit for bit (the clips' pre-roll holds units, not images).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.bitstream import BitStreamFilterContext
from av.video.reformatter import VideoReformatter

from adas.errors import DataFormatError
from adas.sources.image_codec import U8Array
from adas.types import EncodedImage

log = logging.getLogger(__name__)

# FFmpeg's threading for the decoder: slice threads (FFmpeg picks the count from the CPUs),
# chosen by the CPU measurement in the module docstring; "AUTO" adds frame threads.
DECODER_THREAD_TYPE = "SLICE"
ANNEX_B_FILTER = "h264_mp4toannexb"
NAL_IDR, NAL_SPS, NAL_PPS = 5, 7, 8


class VideoOpenError(DataFormatError):
    """FFmpeg cannot open the file or it holds no video stream."""


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """One decoded picture: BGR8 pixels, its time from the stream start (None where the
    container gives no pts) and its H.264 access unit when asked for and available."""

    image: U8Array
    time_s: Fraction | None
    encoded: EncodedImage | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What the container says before decoding: frames per second (0 when unknown), frame
    count (from the index; estimated from duration x rate where there is none) and codec."""

    fps: float
    frame_count: int
    codec: str


# Packets scanned for B-frames before keeping units: a GOP or two of every common encoder.
REORDER_SCAN_PACKETS = 64


# FFmpeg's stream probing at open (avformat_find_stream_info) decodes the first frames to learn
# what a container's header already says: 11.8 of the shared clip's (MP4) 12.3 ms open, spent
# again when the decoder decodes them. A file is first opened reading its header only; where
# the header does not give the stream's size and frame rate (MPEG-TS: its rate comes from the
# probe), it is opened again with the full probe. The decoder learns the pixel format from the
# stream itself, so the pictures are the same either way (tested on the shared clip).
HEADER_ONLY = {"probesize": "32", "analyzeduration": "0"}


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), options=HEADER_ONLY)
        if not _described(container):
            container.close()
            container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        msg = f"{path}: FFmpeg cannot open this video (damaged, or not a video): {err}"
        raise VideoOpenError(msg) from err
    if not container.streams.video:
        container.close()
        msg = f"{path}: FFmpeg cannot open a video stream in this file"
        raise VideoOpenError(msg)
    return container


def _described(container: av.container.InputContainer) -> bool:
    """Whether the header gave the first video stream's size and frame rate."""
    if not container.streams.video:
        return False
    stream = container.streams.video[0]
    return bool(stream.codec_context.width and stream.codec_context.height and stream.average_rate)


def probe(path: Path) -> VideoInfo:
    """Frame rate, frame count and codec of the first video stream of ``path``."""
    with _open(path) as container:
        return _info(container)


def open_video(path: Path) -> tuple[av.container.InputContainer, VideoInfo]:
    """``path`` opened, and what :func:`probe` says of it: the container can go to
    :func:`decode_frames`, so a file is opened (and FFmpeg's stream probing paid, about 10 ms
    for the shared clip) once, not twice. The caller closes it if it never decodes."""
    container = _open(path)
    return container, _info(container)


def _info(container: av.container.InputContainer) -> VideoInfo:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    count = int(stream.frames or 0)
    if count <= 0 and container.duration and fps > 0:  # duration in AV_TIME_BASE (us)
        count = round(container.duration / av.time_base * fps)
    return VideoInfo(fps=fps, frame_count=count, codec=stream.codec_context.name)


def nal_unit_types(data: bytes) -> list[int]:
    """NAL unit types of an Annex B byte stream, in order (start codes of 3 or 4 bytes)."""
    types = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        types.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def _head(packets: Iterator[av.Packet], n: int) -> tuple[list[av.Packet], bool]:
    """The first ``n`` packets (fewer where the file ends or is cut), and whether they come out
    of presentation order: B-frames."""
    head: list[av.Packet] = []
    try:
        for packet in packets:
            head.append(packet)
            if len(head) >= n:
                break
    except av.error.FFmpegError:
        pass
    pts = [p.pts for p in head if p.size and p.pts is not None]
    return head, any(b < a for a, b in itertools.pairwise(pts))


def reorders(path: Path, packets: int = REORDER_SCAN_PACKETS) -> bool:
    """Whether ``path``'s first ``packets`` video packets come out of presentation order."""
    with _open(path) as container:
        return _head(container.demux(container.streams.video[0]), packets)[1]


def _annex_b_filter(stream: av.video.stream.VideoStream) -> BitStreamFilterContext | None:
    if stream.codec_context.name != "h264":
        return None
    try:
        return BitStreamFilterContext(ANNEX_B_FILTER, in_stream=stream)
    except (av.error.FFmpegError, ValueError) as err:
        log.warning("%s cannot take this H.264 stream (%s): no encoded frames", ANNEX_B_FILTER, err)
        return None


def decode_frames(
    path: Path,
    *,
    keep_encoded: bool = False,
    on_unreadable: Callable[[str], None] | None = None,
    container: av.container.InputContainer | None = None,
) -> Iterator[DecodedFrame]:
    """The frames of ``path``'s first video stream in presentation order.

    A packet the decoder rejects is reported to ``on_unreadable`` (one call per packet) and
    decoding goes on; a demuxer error (a cut file) ends the stream. See the module docstring
    for ``keep_encoded``. ``container``: ``path`` as :func:`open_video` opened it, not yet
    read; closed at the end, as the one opened here otherwise.
    """
    with container if container is not None else _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = DECODER_THREAD_TYPE
        start = stream.start_time or 0
        base = stream.time_base or Fraction(1, 1)
        bsf = _annex_b_filter(stream) if keep_encoded else None
        to_bgr = VideoReformatter()
        pending: dict[int, EncodedImage] = {}  # units waiting for their frame, by pts
        packets: Iterator[av.Packet] = container.demux(stream)
        if bsf is not None:
            head, reordered = _head(packets, REORDER_SCAN_PACKETS)
            packets = itertools.chain(head, packets)
            if reordered:
                # Units in presentation order would not be in decode order, and foxglove_msgs/
                # CompressedVideo takes no B-frames: such frames are stored re-encoded.
                log.info("%s has B-frames: its frames are not kept as recorded", path)
                bsf = None
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as err:  # damaged or cut container
                log.info("%s: demuxing stopped: %s", path, err)
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                if on_unreadable is not None:
                    on_unreadable(f"packet at pts {packet.pts}: {err}")
                frames = []
            if bsf is not None and packet.size and packet.pts is not None:
                _hold_units(bsf, packet, pending)
            for frame in frames:
                image = frame_to_bgr(frame, to_bgr)
                pts = frame.pts
                encoded = None
                if pts is not None and pending:
                    encoded = pending.pop(pts, None)
                    for old in [p for p in pending if p < pts]:  # their frames never came
                        del pending[old]
                time_s = None if pts is None else (pts - start) * base
                yield DecodedFrame(image=image, time_s=time_s, encoded=encoded)


def frame_to_bgr(frame: av.VideoFrame, reformatter: VideoReformatter) -> U8Array:
    """A decoded picture as BGR8, H x W x 3: swscale with the stream's coefficients on one
    thread, OpenCV's pixels bit for bit (module docstring). Every decoder of this package
    converts through here, so a picture decoded twice is the same array twice."""
    bgr = reformatter.reformat(frame, format="bgr24", threads=1)
    return np.asarray(bgr.to_ndarray(), np.uint8)  # no copy


def decode_h264_units(units: Sequence[EncodedImage]) -> list[U8Array]:
    """The BGR8 pictures of H.264 access units in decode order, one per unit, the first an IDR.

    A fresh decoder (as :func:`decode_frames` configures it) takes the units in order, each
    tagged with its index, and is flushed at the end; each picture must come out under its
    unit's index, in order, unflagged: a unit the decoder rejects, conceals or drops raises
    :class:`DataFormatError` instead of giving a picture that differs from the recording's.
    """
    if not units:
        return []
    if units[0].format != "h264" or not units[0].keyframe:
        msg = "decode_h264_units: the first unit must be an H.264 keyframe (IDR with SPS/PPS)"
        raise DataFormatError(msg)
    codec = av.CodecContext.create("h264", "r")
    codec.thread_type = DECODER_THREAD_TYPE
    frames: list[av.VideoFrame] = []
    for index, unit in enumerate([*units, None]):  # None: flush
        packet = None
        if unit is not None:
            if unit.format != "h264" or not unit.data:  # an empty packet would flush
                msg = f"decode_h264_units: unit {index} is {unit.format}, {len(unit.data)} bytes"
                raise DataFormatError(msg)
            packet = av.Packet(unit.data)
            packet.pts = index
        try:
            frames += codec.decode(packet)
        except av.error.FFmpegError as err:
            what = f"unit {index} of {len(units)}" if unit is not None else "the flush"
            msg = f"decode_h264_units: the decoder rejected {what}: {err}"
            raise DataFormatError(msg) from err
    got = [f.pts for f in frames]
    if got != list(range(len(units))) or any(f.is_corrupt for f in frames):
        bad = sum(f.is_corrupt for f in frames)
        msg = (
            f"decode_h264_units: {len(units)} units gave {len(frames)} pictures "
            f"({bad} flagged corrupt), not one each in order"
        )
        raise DataFormatError(msg)
    to_bgr = VideoReformatter()
    return [frame_to_bgr(frame, to_bgr) for frame in frames]


def _hold_units(
    bsf: BitStreamFilterContext, packet: av.Packet, pending: dict[int, EncodedImage]
) -> None:
    """Filter ``packet`` (which the filter takes over) into Annex B units kept by pts."""
    try:
        units = bsf.filter(packet)
    except av.error.FFmpegError as err:
        log.debug("%s rejected the packet at pts %s: %s", ANNEX_B_FILTER, packet.pts, err)
        return
    for unit in units:
        data = bytes(unit)
        if unit.pts is None or not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
            continue
        keyframe = NAL_IDR in nal_unit_types(data)
        pending[unit.pts] = EncodedImage("h264", data, keyframe=keyframe)


def decode_cpu_ms_per_frame(path: str | Path, frames: int | None = None) -> float:
    """Process CPU time per frame [ms] (``time.process_time``: every thread of the process)
    of decoding ``path`` to BGR8 with this module's decoder alone, over its first ``frames``
    frames (all when None). Nothing else may run in the process meanwhile."""
    p = Path(path)
    n = 0
    start = time.process_time()
    for _ in decode_frames(p):
        n += 1
        if frames is not None and n >= frames:
            break
    spent = time.process_time() - start
    if n == 0:
        msg = f"{p}: no frame decoded"
        raise DataFormatError(msg)
    return spent * 1e3 / n
