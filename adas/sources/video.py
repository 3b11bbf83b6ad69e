"""Video files and image folders as replay sources, an ego CSV, and :func:`open_source`.

Video (PyAV, :mod:`adas.sources.video_decode`: the decoder chosen by CPU per frame, its pixels
OpenCV's bit for bit): a frame's ``t_ns`` is its container timestamp from the stream start
(``pts x time_base``, right for variable frame rates) while that is sane (>= 0, after the
previous frame); otherwise the previous time plus the nominal frame period. Passing ``fps``
forces ``t_ns = index / fps``. Packets the decoder rejects before a frame it decodes are
counted as unreadable frames (after the last one, they are the file's cut end); a demuxer error
is the end of the file. A file that ends before the frame count its container
announces (a cut or damaged file) counts ``skipped["truncated"] = 1`` and says so in
``truncation`` ("input ended early after N of M frames"). With ``keep_encoded`` an H.264
file's frames carry their access units (``SourceItem.encoded``, Annex B); other codecs none.

Image folder (KITTI ``image_02/0000/000000.png`` style): the PNG/JPG files in natural sort
order, one every ``period_ns`` (10 Hz by default, KITTI's rate), ``t_ns = index * period``.
An unreadable file is counted and its time slot left empty. With ``keep_encoded`` a frame
carries its file's bytes (``SourceItem.encoded``) where they are JPEG or PNG.

Ego for both comes from an optional CSV ``time_s,speed_mps,yaw_rate_rps`` on the frames' clock
(seconds from the first frame), or from a KITTI odometry ``poses.txt`` (pose ``i`` at ``i x
0.1`` s, :mod:`adas.sources.kitti_odometry`); there is no camera info unless the caller passes
one.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adas.closing import Closing
from adas.errors import DataFormatError
from adas.sources.bag import BAG_SUFFIXES, DEFAULT_MAX_EGO_AGE_S, BagSource, TopicMap
from adas.sources.image_codec import ImageDecodeError, U8Array, encoded_image, from_cv_image
from adas.sources.kitti_odometry import kitti_poses_ego_track
from adas.sources.source import (
    NS_PER_S,
    CameraInfo,
    Degraded,
    EgoTrack,
    Skip,
    Source,
    SourceItem,
    record_skip,
)
from adas.sources.video_decode import VideoOpenError, decode_frames, open_video
from adas.types import EgoState, EncodedImage, Frame, PixelFormat

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_FOLDER_PERIOD_NS = 100_000_000  # 10 Hz: KITTI raw and tracking sequences
FALLBACK_FPS = 30.0  # when neither the container rate nor its timestamps can be used
# Frames a video may end short of its container's count without being called truncated: where
# the container has no frame index (MKV, some AVI) OpenCV estimates the count from duration x
# rate, which can round one frame up. MP4/MOV counts come from the index and are exact.
FRAME_COUNT_SLACK = 1


class SourceError(DataFormatError):
    """A path is not a readable recording of a kind this package replays."""


def load_ego_csv(path: str | Path, *, max_age_ns: int) -> EgoTrack:
    """Ego samples from ``time_s,speed_mps[,yaw_rate_rps]`` (s, m/s, rad/s).

    A header row naming the columns is optional (without one the order is as above); blank
    lines and ``#`` comments are ignored. Times are parsed as decimals, so ``0.04`` is exactly
    40_000_000 ns. A bad value raises DataFormatError naming the file, line and value.
    """
    path = Path(path)
    columns = ["time_s", "speed_mps", "yaw_rate_rps"]
    samples: list[tuple[int, float, float]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read the ego CSV: {err}"
        raise DataFormatError(msg) from err
    rows = csv.reader(lines)
    for lineno, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not samples and not _is_number(cells[0]):
            columns = cells
            if "time_s" not in columns or "speed_mps" not in columns:
                msg = f"{path}:{lineno}: header {cells} must name time_s and speed_mps"
                raise DataFormatError(msg)
            continue
        values = dict(zip(columns, cells, strict=False))
        try:
            t_ns = int(Decimal(values["time_s"]) * NS_PER_S)
            speed = float(values["speed_mps"])
            yaw = float(values.get("yaw_rate_rps") or 0.0)
        except (KeyError, InvalidOperation, ValueError) as err:
            msg = f"{path}:{lineno}: expected {columns[:3]} numbers, got {cells} ({err!r})"
            raise DataFormatError(msg) from err
        if not (math.isfinite(speed) and math.isfinite(yaw)):
            msg = f"{path}:{lineno}: speed {speed} and yaw rate {yaw} must be finite"
            raise DataFormatError(msg)
        samples.append((t_ns, speed, yaw))
    if not samples:
        msg = f"{path}: the ego CSV holds no samples"
        raise DataFormatError(msg)
    return EgoTrack(samples, max_age_ns=max_age_ns)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _FileSource(Closing):
    """What video and folder sources share: counters, ego track, camera info, lifetime."""

    def __init__(
        self,
        path: Path,
        *,
        ego_csv: str | Path | None,
        camera_info: CameraInfo | None,
        camera_id: str,
        max_ego_age_s: float,
        ego_kitti_poses: str | Path | None = None,
    ) -> None:
        self.path = path
        self.camera_info = camera_info
        self.camera_id = camera_id
        max_age_ns = round(max_ego_age_s * NS_PER_S)
        self.ego: EgoTrack | None = None
        if ego_csv is not None and ego_kitti_poses is not None:
            msg = "give the ego as a CSV or as KITTI poses, not both"
            raise SourceError(msg)
        if ego_csv is not None:
            self.ego = load_ego_csv(ego_csv, max_age_ns=max_age_ns)
        elif ego_kitti_poses is not None:
            self.ego = kitti_poses_ego_track(ego_kitti_poses, max_age_ns=max_age_ns)
        self.skipped: Counter[str] = Counter()
        self.degraded: Counter[str] = Counter()
        self.truncation: str | None = None  # why the recording ended early, if it did

    def _item(
        self,
        image: U8Array,
        fmt: PixelFormat,
        t_ns: int,
        seq: int,
        encoded: EncodedImage | None = None,
    ) -> SourceItem:
        frame = Frame(image=image, pixel_format=fmt, t_ns=t_ns, seq=seq, camera_id=self.camera_id)
        ego = self.ego.at(t_ns) if self.ego is not None else EgoState(t_ns=t_ns, valid=False)
        if not ego.valid:
            self.degraded[Degraded.EGO_INVALID] += 1
        if self.camera_info is None:
            self.degraded[Degraded.NO_CAMERA_INFO] += 1
        return SourceItem(frame=frame, ego=ego, camera_info=self.camera_info, encoded=encoded)

    def _skip(self, reason: Skip, detail: str) -> None:
        record_skip(self.skipped, reason, self.path, detail)

    def close(self) -> None:
        """Nothing stays open between passes; kept for the Source protocol."""


class VideoSource(_FileSource):
    """Frames of a video file as BGR8; see the module docstring for the timestamps."""

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | None = None,
        ego_csv: str | Path | None = None,
        camera_info: CameraInfo | None = None,
        camera_id: str = "front",
        max_ego_age_s: float = DEFAULT_MAX_EGO_AGE_S,
        ego_kitti_poses: str | Path | None = None,
        keep_encoded: bool = False,
    ) -> None:
        super().__init__(
            Path(path),
            ego_csv=ego_csv,
            camera_info=camera_info,
            camera_id=camera_id,
            max_ego_age_s=max_ego_age_s,
            ego_kitti_poses=ego_kitti_poses,
        )
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            msg = f"fps={fps!r} must be a positive frame rate (frames per second)"
            raise SourceError(msg)
        self.forced_fps = fps
        self.keep_encoded = keep_encoded
        if not self.path.is_file():
            msg = f"{self.path}: no such video file"
            raise SourceError(msg)
        try:  # kept open for the first pass: the file is opened and probed once
            opened, info = open_video(self.path)
        except VideoOpenError as err:
            raise SourceError(str(err)) from err
        self._opened: Any = opened
        self.codec = info.codec
        self.container_fps = info.fps
        self.frame_count = info.frame_count  # an estimate for some files
        self.nominal_fps = fps or self.container_fps
        if not (math.isfinite(self.nominal_fps) and 0 < self.nominal_fps <= 1000):
            log.warning("%s: no usable frame rate; assuming %s fps", self.path, FALLBACK_FPS)
            self.nominal_fps = FALLBACK_FPS

    def close(self) -> None:
        """Closes the file if no pass has read it (a pass closes it at its end)."""
        opened, self._opened = self._opened, None
        if opened is not None:
            opened.close()

    def _time_ns(self, time_s: Fraction | None, index: int, last: tuple[int, int] | None) -> int:
        """Capture time of frame ``index``; ``last`` is the previous (index, t_ns)."""
        if self.forced_fps is not None:
            return round(index * NS_PER_S / self.forced_fps)
        if time_s is not None and time_s >= 0:
            t_ns = round(time_s * NS_PER_S)
            if last is None or t_ns > last[1]:
                return t_ns
        if last is None:
            return 0
        return last[1] + round((index - last[0]) * NS_PER_S / self.nominal_fps)

    def __iter__(self) -> Iterator[SourceItem]:
        self.skipped.clear()
        self.degraded.clear()
        self.truncation = None
        index, last = -1, None
        failed: list[str] = []  # rejected packets since the last frame: counted before the next
        opened, self._opened = self._opened, None
        for decoded in decode_frames(
            self.path, keep_encoded=self.keep_encoded, on_unreadable=failed.append, container=opened
        ):
            for detail in failed:
                index += 1
                self._skip(Skip.UNREADABLE_FRAME, f"frame {index}: {detail}")
            failed.clear()
            index += 1
            t_ns = self._time_ns(decoded.time_s, index, last)
            last = (index, t_ns)
            yield self._item(decoded.image, PixelFormat.BGR8, t_ns, index, decoded.encoded)
        # Frames the file held up to its end: decoded, or counted as unreadable before one that
        # decoded. Rejected packets at the very end are the cut's, not frames of their own.
        present = index + 1
        if present + FRAME_COUNT_SLACK < self.frame_count:
            self.skipped[Skip.TRUNCATED] = 1
            self.truncation = f"input ended early after {present} of {self.frame_count} frames"
            log.warning("%s: %s (the file is cut or damaged)", self.path, self.truncation)
        elif present < self.frame_count:  # the container's count can be an overestimate
            log.info("%s: read %d of ~%d frames", self.path, present, self.frame_count)


def _natural_key(path: Path) -> list[int | str]:
    """``2.png`` before ``10.png``: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


class ImageFolderSource(_FileSource):
    """PNG/JPG files of one folder at a fixed period; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        period_ns: int = DEFAULT_FOLDER_PERIOD_NS,
        ego_csv: str | Path | None = None,
        camera_info: CameraInfo | None = None,
        camera_id: str = "front",
        max_ego_age_s: float = DEFAULT_MAX_EGO_AGE_S,
        ego_kitti_poses: str | Path | None = None,
        keep_encoded: bool = False,
    ) -> None:
        super().__init__(
            Path(path),
            ego_csv=ego_csv,
            camera_info=camera_info,
            camera_id=camera_id,
            max_ego_age_s=max_ego_age_s,
            ego_kitti_poses=ego_kitti_poses,
        )
        if period_ns <= 0:
            msg = f"period_ns={period_ns} must be a positive frame period in nanoseconds"
            raise SourceError(msg)
        self.period_ns = int(period_ns)
        self.keep_encoded = keep_encoded
        self.files = image_files(self.path)
        if not self.files:
            msg = f"{self.path}: no {'/'.join(IMAGE_SUFFIXES)} files in this folder"
            raise SourceError(msg)

    def __iter__(self) -> Iterator[SourceItem]:
        self.skipped.clear()
        self.degraded.clear()
        for index, file in enumerate(self.files):
            try:
                data = file.read_bytes()
                buf = np.frombuffer(data, dtype=np.uint8)
                decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
                pixels, fmt = from_cv_image(decoded, file.name)
            except (OSError, cv2.error, ImageDecodeError) as err:
                self._skip(Skip.UNREADABLE_FRAME, f"{file.name}: {err}")
                continue
            encoded = encoded_image(data) if self.keep_encoded else None
            yield self._item(pixels, fmt, index * self.period_ns, index, encoded)


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` in natural order (not recursive)."""
    found = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(found, key=_natural_key)


def open_source(
    path: str | Path,
    *,
    topics: TopicMap | None = None,
    fps: float | None = None,
    period_ns: int = DEFAULT_FOLDER_PERIOD_NS,
    ego_csv: str | Path | None = None,
    camera_info: CameraInfo | None = None,
    camera_id: str = "front",
    max_ego_age_s: float = DEFAULT_MAX_EGO_AGE_S,
    ego_kitti_poses: str | Path | None = None,
    keep_encoded: bool = False,
) -> Source:
    """The source for ``path``, chosen by its kind.

    ``.bag`` / ``.mcap`` / ``.db3`` files and ROS 2 bag folders (``metadata.yaml``, or one
    storage file) -> BagSource (``topics``); ``.mp4 .avi .mkv .mov`` -> VideoSource (``fps``);
    a folder of images -> ImageFolderSource (``period_ns``). ``ego_csv`` (or
    ``ego_kitti_poses``, a KITTI odometry poses.txt) and ``camera_info`` apply to video and
    folders only: a bag carries its own. ``keep_encoded`` asks every kind for the frames as
    recorded (``SourceItem.encoded``: JPEG/PNG bytes, H.264 access units; off by default, as
    it costs a copy of every frame's bytes).
    """
    p = Path(path)
    if not p.exists():
        msg = f"{p}: no such file or folder"
        raise SourceError(msg)
    bag = p.suffix.lower() in BAG_SUFFIXES if p.is_file() else _is_bag_dir(p)
    if bag:
        if ego_csv is not None or ego_kitti_poses is not None or camera_info is not None:
            msg = (
                f"{p}: ego_csv, ego_kitti_poses and camera_info are for video and image folders;"
                " a bag has topics"
            )
            raise SourceError(msg)
        return BagSource(
            p,
            topics=topics,
            camera_id=camera_id,
            max_ego_age_s=max_ego_age_s,
            keep_encoded=keep_encoded,
        )
    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSource(
            p,
            fps=fps,
            ego_csv=ego_csv,
            camera_info=camera_info,
            camera_id=camera_id,
            max_ego_age_s=max_ego_age_s,
            ego_kitti_poses=ego_kitti_poses,
            keep_encoded=keep_encoded,
        )
    if p.is_dir() and image_files(p):
        return ImageFolderSource(
            p,
            period_ns=period_ns,
            ego_csv=ego_csv,
            camera_info=camera_info,
            camera_id=camera_id,
            max_ego_age_s=max_ego_age_s,
            ego_kitti_poses=ego_kitti_poses,
            keep_encoded=keep_encoded,
        )
    kinds = f"bags ({', '.join(BAG_SUFFIXES)}, ROS 2 folders), videos ({', '.join(VIDEO_SUFFIXES)})"
    msg = f"{p}: not a recording this reads; expected {kinds} or a folder of images"
    raise SourceError(msg)


def _is_bag_dir(p: Path) -> bool:
    return (p / "metadata.yaml").exists() or any(c.suffix in (".mcap", ".db3") for c in p.iterdir())
