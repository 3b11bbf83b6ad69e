"""``adas replay``: recorded drives through the vehicle's pipeline, outputs for engineers.

One drive: a source (bag, MCAP, video, image folder; :mod:`adas.sources`) -> the same
:class:`adas.pipeline.Pipeline` as the vehicle (assembled by :mod:`adas.app`), fed the recorded
capture times -> the sinks (:mod:`adas.sinks`: events.jsonl, frames.csv, results.mcap,
annotated.mp4, report.html, summary.json) in one output folder, created only once the drive
can start (a refused replay leaves nothing behind). Decoding, preprocessing, inference and the
chain run in four threads joined by bounded queues (:mod:`adas.pipelined`); every stage takes
frames in order, so the output equals a sequential run (``pipelined=False``) exactly.

Bad input never stops a drive: the source counts what it drops (corrupt or unknown images,
time going back, a truncated bag or video), a frame the detector refuses is counted under
``pipeline_error``, and ``summary.json`` lists them by reason. What the reader must know to
trust the numbers (the input ended early, frames without ego speed and hence UNAVAILABLE,
with the options that fix it) is in the summary's ``warnings``. Ctrl-C stops at the current
frame and closes every output, each valid up to that frame.

Many drives (:func:`adas.replay_fleet.replay_many`) run in a process pool or as Ray tasks, one
drive per task; each worker process loads the model once and reuses it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adas import app
from adas.allocator import keep_freed_memory
from adas.closing import Closing
from adas.config import AdasConfig, load_config
from adas.errors import AdasError
from adas.pipeline import Pipeline
from adas.pipelined import pipelined, sequential
from adas.sinks import (
    Clip,
    ClipSink,
    EventsSink,
    FramesCsvSink,
    MultiSink,
    ReportSink,
    Sink,
    SummaryBuilder,
)
from adas.sinks.summary import DriveSummary
from adas.sources import BagSource, Skip, Source, TopicMap, decode_h264_units
from adas.types import EgoState, EncodedImage, FrameResult

log = logging.getLogger(__name__)

DEFAULT_VIDEO_FPS = 30.0  # annotated video rate when the drive has fewer than two frames


class ReplayError(AdasError, ValueError):
    """A replay cannot start: its output exists, its inputs or options are unusable."""


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay: model, camera, outputs. ``None`` means the configured default."""

    config_file: Path | None = None
    model: str | None = None  # registry name or .onnx path (overrides detect.model)
    model_card: Path | None = None  # card TOML (overrides detect.model_card)
    camera_file: Path | None = None  # OpenCV or ROS camera_info YAML (adas-calibrate output)
    # Horizontal field of view [deg] without a calibration or a calibrated camera_info
    # (None: the config's [replay] fov_deg).
    fov_deg: float | None = None
    topics: TopicMap | None = None
    ego_csv: Path | None = None  # video and image folders: time_s,speed_mps,yaw_rate_rps
    # Video and image folders: a KITTI odometry poses.txt, whose motion gives speed and yaw
    # rate (adas.sources.kitti_odometry); instead of ego_csv.
    ego_kitti_poses: Path | None = None
    # Constant ego speed where the drive has no valid ego state (a video without a CSV);
    # None leaves such frames UNAVAILABLE, as the vehicle would be without its bus.
    ego_speed_mps: float | None = None
    force: bool = False  # replace existing outputs
    video: bool = True  # annotated clips around the alerts (annotated/)
    full_video: bool | None = None  # also annotated.mp4, the whole drive ([replay] full_video)
    mcap_images: bool = True
    pipelined: bool = True
    max_frames: int | None = None
    progress: bool = False
    # Where given, each output's wall time in ns by sink class (adas.sinks.MultiSink): what
    # `adas bench replay` reports per step. Filled in place.
    sink_timing: dict[str, int] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        fov = self.fov_deg
        if fov is not None and not (math.isfinite(fov) and 1.0 <= fov <= 179.0):
            msg = f"fov_deg = {fov}: allowed range is [1, 179] degrees"
            raise ReplayError(msg)
        if self.ego_speed_mps is not None and not 0.0 <= self.ego_speed_mps <= 100.0:
            msg = f"ego_speed_mps = {self.ego_speed_mps}: allowed range is [0, 100] m/s"
            raise ReplayError(msg)
        if self.max_frames is not None and self.max_frames < 1:
            msg = f"max_frames = {self.max_frames}: must be at least 1"
            raise ReplayError(msg)


class _LazyVideo(Closing):
    """The annotated video, ``make(fps)``, opened at the second frame: its spacing is the rate."""

    def __init__(self, make: Callable[[float], Sink]) -> None:
        self.make = make
        self._first: tuple[FrameResult, np.ndarray | None, EncodedImage | None] | None = None
        self._sink: Sink | None = None

    def clips(self) -> list[Clip]:
        """The clips written so far (none before the sink opens)."""
        return list(getattr(self._sink, "clips", []))

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        if self._sink is None and self._first is None:
            self._first = (result, image, encoded)
            return
        if self._sink is None and self._first is not None:
            dt = (result.t_ns - self._first[0].t_ns) * 1e-9
            self._open(1.0 / dt if 0.0 < dt < 10.0 else DEFAULT_VIDEO_FPS)
        assert self._sink is not None
        self._sink.write(result, image, encoded)  # the pre-roll holds recorded frames

    def _open(self, fps: float) -> None:
        self._sink = self.make(fps)
        if self._first is not None:
            self._sink.write(*self._first)
            self._first = None

    def close(self) -> None:
        if self._sink is None and self._first is not None:
            self._open(DEFAULT_VIDEO_FPS)
        if self._sink is not None:
            self._sink.close()


def _sinks(
    out_dir: Path, options: ReplayOptions, title: str, config: AdasConfig
) -> tuple[list[Any], SummaryBuilder]:
    """Every output of a drive, and the summary. One SummaryBuilder and one EventDetector
    (``events.jsonl``'s) serve summary.json, events.jsonl and the report alike."""
    force = options.force
    events = EventsSink(out_dir, overwrite=force)
    summary = SummaryBuilder(out_dir, name=title, overwrite=force)
    video: _LazyVideo | None = None
    if options.video:
        rp = config.replay
        full = rp.full_video if options.full_video is None else options.full_video
        video = _LazyVideo(lambda fps: ClipSink(
            out_dir, fps=fps, overwrite=force, full_video=full, decode_units=decode_h264_units,
            before_s=rp.clip_before_s, after_s=rp.clip_after_s))  # fmt: skip
    report = ReportSink(
        out_dir, title=title, overwrite=force, summary=summary, detector=events.detector,
        clips=None if video is None else video.clips,
    )  # fmt: skip
    sinks: list[Any] = [
        events,
        FramesCsvSink(out_dir, overwrite=force),
        app.results_mcap(out_dir, config, images=options.mcap_images, overwrite=force),
        report,
        summary,
    ]
    if video is not None:
        sinks.append(video)
    return sinks, summary


def replay_config(options: ReplayOptions) -> AdasConfig:
    """The configuration a replay runs with: the config file, --model, and on small machines
    (up to ``[replay] small_machine_cpus``, source in default.toml) one core kept free of the
    model for the image encoders when the thread count is automatic. The thread count is the
    same with and without --sequential, so both give the same detections."""
    config = load_config(options.config_file)
    detect = config.detect
    if options.model:
        detect = replace(detect, model=options.model)
    if options.model_card:
        detect = replace(detect, model_card=str(options.model_card))
    cpus = app.usable_cpus()
    encodes = options.video or options.mcap_images
    small = 1 < cpus <= config.replay.small_machine_cpus
    if detect.intra_op_threads == 0 and encodes and small:
        detect = replace(detect, intra_op_threads=cpus - 1)
    return replace(config, detect=detect)


@dataclass
class _Counts:
    """What one drive's loop counts besides the source: skipped frames by reason, frames
    written, and those of them that had no valid ego state."""

    errors: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    no_ego: int = 0


def replay_drive(
    path: str | Path, out_dir: str | Path, options: ReplayOptions = ReplayOptions()
) -> DriveSummary:
    """Replay one drive into ``out_dir``; returns its summary (also in summary.json)."""
    path, out_dir = Path(path), Path(out_dir)
    keep_freed_memory()  # frame buffers stay in the process (adas.allocator), once
    if out_dir.exists() and any(out_dir.iterdir()) and not options.force:
        msg = f"{out_dir} exists and is not empty; pass --force to replace its outputs"
        raise ReplayError(msg)
    config = replay_config(options)
    source = app.open_input(
        path,
        config,
        topics=options.topics,
        ego_csv=options.ego_csv,
        ego_kitti_poses=options.ego_kitti_poses,
        # The MCAP stores frames as recorded; the clips' pre-roll holds JPEGs and H.264 units,
        # not images.
        keep_encoded=options.mcap_images or options.video,
    )
    with source:
        items = iter(source)
        first = next(items, None)
        if first is None:
            msg = f"{path}: no readable frame (skipped: {dict(source.skipped) or 'none'})"
            raise ReplayError(msg)
        camera, note = app.select_camera(
            first, config, camera_file=options.camera_file, fov_deg=options.fov_deg
        )
        title = f"{path.name}{note}"
        log.info("replay %s -> %s: %s", path, out_dir, title)
        pipe = app.pipeline(config, camera)
        app.warm_up(pipe)
        counts = _Counts()
        stop = threading.Event()
        frames = itertools.chain((first,), items)
        # A pipelined stream starts at once: the model takes the first frame while the
        # outputs are created.
        stream = pipelined(frames, pipe, stop) if options.pipelined else sequential(frames, pipe)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)  # the drive can start: outputs from here
            sinks, summary = _sinks(out_dir, options, title, config)
            with MultiSink(sinks, timing=options.sink_timing) as out:
                try:
                    _run(stream, pipe, out, options, counts)
                except KeyboardInterrupt:
                    log.warning("replay of %s interrupted; outputs end at the last frame", path)
                    counts.errors["interrupted"] += 1
                finally:
                    summary.add_skipped({**{str(k): v for k, v in source.skipped.items()},
                                         **counts.errors})  # fmt: skip
                    for warning in _warnings(source, counts):
                        summary.add_warning(warning)
        finally:
            stop.set()  # every thread ends within one queue timeout
            if hasattr(stream, "close"):
                stream.close()
        return summary.summary()


def _warnings(source: Source, counts: _Counts) -> list[str]:
    """What the reader of the summary must know: the input ended early, frames without ego
    speed (UNAVAILABLE), each with what it means and the options that fix it."""
    out = []
    if source.skipped.get(Skip.TRUNCATED):
        why = source.truncation or "the recording is cut or damaged"
        out.append(why if why.startswith("input ended early") else f"input ended early: {why}")
    if counts.no_ego:
        fix = (
            "--ego-topic TOPIC (the recording's ego topic) or --ego-speed-mps V (constant)"
            if isinstance(source, BagSource)
            else "--ego-speed-mps V (constant), --ego-csv FILE (time_s,speed_mps,yaw_rate_rps) "
            "or --ego-kitti-poses poses.txt (KITTI odometry)"
        )
        out.append(
            f"{counts.no_ego} of {counts.frames} frames had no ego speed, so their decision is "
            f"UNAVAILABLE (as in a vehicle without its speed signal); give one with {fix}"
        )
    return out


def _run(
    stream: Iterator[tuple[Any, Any]],
    pipe: Pipeline,
    out: Sink,
    options: ReplayOptions,
    counts: _Counts,
) -> None:
    bar = _progress(options.progress)
    need_image = options.video or options.mcap_images
    try:
        for it, res in stream:
            if isinstance(it, Exception):  # the source itself failed: end of the drive
                log.error("source failed: %s", it)
                counts.errors["source_error"] += 1
                break
            if isinstance(res, Exception):
                if not isinstance(res, AdasError | ValueError | cv2.error):
                    raise res
                log.warning("frame %d skipped: %s", it.frame.seq, res)
                counts.errors["pipeline_error"] += 1
                continue
            dets, latency = res
            ego = it.ego
            if not ego.valid and options.ego_speed_mps is not None:
                ego = EgoState(t_ns=it.frame.t_ns, speed_mps=options.ego_speed_mps)
            if not ego.valid and not counts.no_ego:
                log.warning(
                    "frame %d has no ego speed, so its decision is UNAVAILABLE; "
                    "--ego-speed-mps V gives a constant one", it.frame.seq
                )  # fmt: skip
            counts.no_ego += not ego.valid
            result = pipe.post(it.frame, dets, ego, latency)
            out.write(result, app.to_bgr(it.frame) if need_image else None, it.encoded)
            counts.frames += 1
            bar.update(1)
            if options.max_frames is not None and counts.frames >= options.max_frames:
                break
    finally:
        bar.close()


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(unit="frame", desc="replay")
