"""``adas replay``: recorded drives through the vehicle's pipeline, outputs for engineers.

One drive: a source (bag, MCAP, video, image folder; :mod:`adas.sources`) -> the same
:class:`adas.pipeline.Pipeline` as the vehicle, fed the recorded capture times -> the sinks
(:mod:`adas.sinks`: events.jsonl, frames.csv, results.mcap, annotated.mp4, report.html,
summary.json) in one output folder. Decoding, preprocessing, inference and the chain run in
four threads joined by bounded queues (ONNX Runtime and OpenCV release the GIL); every stage
takes frames in order, so the output equals a sequential run (``pipelined=False``) exactly.

Bad input never stops a drive: the source counts what it drops (corrupt or unknown images,
time going back, a truncated bag), a frame the detector refuses is counted under
``pipeline_error``, and ``summary.json`` lists them by reason. Ctrl-C stops at the current
frame and closes every output, each valid up to that frame.

Many drives (:func:`replay_many`) run in a process pool or as Ray tasks, one drive per task;
each worker process loads the model once (:func:`_pipeline`) and reuses it for its drives.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adas.camera import CameraModel
from adas.config import AdasConfig, load_config
from adas.errors import AdasError
from adas.pipeline import Pipeline
from adas.sinks import (
    EventsSink,
    FramesCsvSink,
    McapSink,
    MultiSink,
    ReportSink,
    Sink,
    SummaryBuilder,
    VideoSink,
)
from adas.sinks.summary import DriveSummary, merge_summaries
from adas.sources import SourceItem, TopicMap, open_source
from adas.types import EgoState, Frame, FrameResult, PixelFormat

log = logging.getLogger(__name__)

DEFAULT_FOV_DEG = 60.0  # horizontal field of view assumed without calibration (dashcam-like)
QUEUE_DEPTH = 4  # frames in flight between two stages: bounded memory, enough to overlap
DEFAULT_VIDEO_FPS = 30.0  # annotated video rate when the drive has fewer than two frames


class ReplayError(AdasError, ValueError):
    """A replay cannot start: its output exists, its inputs or options are unusable."""


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay: model, camera, outputs. ``None`` means the configured default."""

    config_file: Path | None = None
    model: str | None = None  # registry name or .onnx path (overrides detect.model)
    camera_file: Path | None = None  # OpenCV or ROS camera_info YAML (adas-calibrate output)
    fov_deg: float = DEFAULT_FOV_DEG  # without a calibration or a calibrated camera_info
    topics: TopicMap | None = None
    ego_csv: Path | None = None  # video only: time_s,speed_mps,yaw_rate_rps
    # Constant ego speed where the drive has no valid ego state (a video without a CSV);
    # None leaves such frames UNAVAILABLE, as the vehicle would be without its bus.
    ego_speed_mps: float | None = None
    force: bool = False  # replace existing outputs
    video: bool = True
    mcap_images: bool = True
    pipelined: bool = True
    max_frames: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fov_deg) and 1.0 <= self.fov_deg <= 179.0):
            msg = f"fov_deg = {self.fov_deg}: allowed range is [1, 179] degrees"
            raise ReplayError(msg)
        if self.ego_speed_mps is not None and not 0.0 <= self.ego_speed_mps <= 100.0:
            msg = f"ego_speed_mps = {self.ego_speed_mps}: allowed range is [0, 100] m/s"
            raise ReplayError(msg)
        if self.max_frames is not None and self.max_frames < 1:
            msg = f"max_frames = {self.max_frames}: must be at least 1"
            raise ReplayError(msg)


def fov_camera(width: int, height: int, fov_deg: float, config: AdasConfig) -> CameraModel:
    """A distortion-free camera with the given horizontal field of view, centred."""
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
    k = np.array([[f, 0.0, 0.5 * (width - 1)], [0.0, f, 0.5 * (height - 1)], [0.0, 0.0, 1.0]])
    return CameraModel(K=k, dist=np.zeros(5), width=width, height=height, mount=config.mount)


def load_camera_file(path: Path, config: AdasConfig) -> CameraModel:
    """An ``adas-calibrate`` output: ROS camera_info YAML or OpenCV YAML, by its keys."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if "camera_matrix" in text and "distortion_model" in text:
        return CameraModel.from_ros_camera_info_yaml(path, mount=config.mount)
    return CameraModel.from_opencv_yaml(path, mount=config.mount)


def to_bgr(frame: Frame) -> np.ndarray:
    """The frame as BGR uint8 for the image outputs (video, MCAP)."""
    img, fmt = frame.image, frame.pixel_format
    if fmt is PixelFormat.BGR8:
        return img
    if fmt is PixelFormat.RGB8:
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if fmt is PixelFormat.GRAY8:
        return cv2.cvtColor(img if img.ndim == 2 else img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if fmt is PixelFormat.YUYV:
        return cv2.cvtColor(img.reshape(img.shape[0], -1, 2), cv2.COLOR_YUV2BGR_YUYV)
    return cv2.cvtColor(img, cv2.COLOR_BayerRGGB2BGR)


_PIPELINES: dict[tuple[Any, ...], Pipeline] = {}


def _pipeline(config: AdasConfig, camera: CameraModel) -> Pipeline:
    """A pipeline with this process's detector for the configured model: the ONNX session is
    loaded once per process and model, the chain is new for every drive."""
    key = (config.detect,)
    cached = _PIPELINES.get(key)
    if cached is None:
        cached = _PIPELINES[key] = Pipeline.build(config, camera)
        return cached
    cached.detector.use_camera(camera)
    return Pipeline(config, camera, cached.detector)


class _LazyVideo:
    """The annotated video, opened at the second frame, whose spacing gives the frame rate."""

    def __init__(self, out_dir: Path, overwrite: bool) -> None:
        self.out_dir, self.overwrite = out_dir, overwrite
        self._first: tuple[FrameResult, np.ndarray | None] | None = None
        self._sink: VideoSink | None = None

    def write(self, result: FrameResult, image: np.ndarray | None = None) -> None:
        if self._sink is None and self._first is None:
            self._first = (result, image)
            return
        if self._sink is None and self._first is not None:
            dt = (result.t_ns - self._first[0].t_ns) * 1e-9
            self._open(1.0 / dt if 0.0 < dt < 10.0 else DEFAULT_VIDEO_FPS)
        assert self._sink is not None
        self._sink.write(result, image)

    def _open(self, fps: float) -> None:
        self._sink = VideoSink(self.out_dir, fps=fps, overwrite=self.overwrite)
        if self._first is not None:
            self._sink.write(*self._first)
            self._first = None

    def close(self) -> None:
        if self._sink is None and self._first is not None:
            self._open(DEFAULT_VIDEO_FPS)
        if self._sink is not None:
            self._sink.close()

    def __enter__(self) -> _LazyVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_END = object()


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put unless the run stops first (a full queue never blocks a thread for good)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    while not stop.is_set():
        try:
            return q.get(timeout=0.05)
        except queue.Empty:
            continue
    return _END


def _stage(
    fn: Callable[[Any], Any], src: queue.Queue[Any], dst: queue.Queue[Any], stop: threading.Event
) -> None:
    """Apply ``fn`` to each item of ``src`` in order; exceptions travel on as values."""
    while (item := _get(src, stop)) is not _END:
        try:
            out = fn(item)
        except Exception as err:  # handed to the consumer, which counts it
            out = (item, err)
        if not _put(dst, out, stop):
            return
    _put(dst, _END, stop)


def _threaded(
    items: Iterator[SourceItem], pipe: Pipeline, stop: threading.Event
) -> Iterator[tuple[SourceItem, Any]]:
    """(item, (detections, latency)) in order, or (item, exception), with decode, preprocess
    and inference each in a thread of its own."""
    q0: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
    q1: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
    q2: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)

    def read() -> None:
        try:
            for it in items:
                if not _put(q0, it, stop):
                    return
        except Exception as err:  # a source failure ends the drive, reported by the consumer
            _put(q0, err, stop)
        _put(q0, _END, stop)

    def prep(it: Any) -> Any:
        if isinstance(it, Exception):
            raise it
        return it, pipe.prepare(it.frame)

    def infer(x: Any) -> Any:
        it, prepared = x
        if isinstance(prepared, Exception):
            return x
        try:
            return it, pipe.infer(prepared)
        except Exception as err:  # counted by the consumer, like a preprocessing failure
            return it, err

    workers = [
        threading.Thread(target=read, daemon=True, name="replay-decode"),
        threading.Thread(target=_stage, args=(prep, q0, q1, stop), daemon=True),
        threading.Thread(target=_stage, args=(infer, q1, q2, stop), daemon=True),
    ]
    for w in workers:
        w.start()
    try:
        while (out := q2.get()) is not _END:
            yield out
    finally:
        stop.set()  # every thread sees it within one queue timeout
        for w in workers:
            w.join(timeout=5.0)


def _sequential(items: Iterator[SourceItem], pipe: Pipeline) -> Iterator[tuple[SourceItem, Any]]:
    for it in items:
        try:
            yield it, pipe.infer(pipe.prepare(it.frame))
        except Exception as err:
            yield it, err


def _sinks(out_dir: Path, options: ReplayOptions, title: str) -> tuple[list[Any], Any]:
    force = options.force
    report = ReportSink(out_dir, title=title, overwrite=force)
    summary = SummaryBuilder(out_dir, name=title, overwrite=force)
    sinks: list[Any] = [
        EventsSink(out_dir, overwrite=force),
        FramesCsvSink(out_dir, overwrite=force),
        McapSink(out_dir, images=options.mcap_images, overwrite=force),
        report,
        summary,
    ]
    if options.video:
        sinks.append(_LazyVideo(out_dir, force))
    return sinks, (report, summary)


# Up to this many CPUs, a replay that encodes images (annotated.mp4, JPEGs in the MCAP) leaves
# one of them to decoding, the chain and the encoders when the ONNX Runtime thread count is
# automatic (detect.intra_op_threads = 0). Measured on 2 cores (adas bench replay, YOLOX-nano,
# Udacity clip, 3 x 5 runs): with every output 36.8-38.8 frames/s with the model on both cores,
# 47.5-50.2 on one; without the encoders (--no-video --no-images) the model is better on both
# (55-59 against 47-51), so it keeps them. Larger machines keep ONNX Runtime's own default.
SMALL_MACHINE_CPUS = 4


def replay_config(options: ReplayOptions) -> AdasConfig:
    """The configuration a replay runs with: the config file, --model, and on small machines
    one core kept free of the model for the image encoders (:data:`SMALL_MACHINE_CPUS`). The
    thread count is the same with and without --sequential, so both give the same detections."""
    import os

    config = load_config(options.config_file)
    detect = config.detect
    if options.model:
        detect = replace(detect, model=options.model)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    encodes = options.video or options.mcap_images
    small = cpus is not None and 1 < cpus <= SMALL_MACHINE_CPUS
    if detect.intra_op_threads == 0 and encodes and small and cpus is not None:
        detect = replace(detect, intra_op_threads=cpus - 1)
    return replace(config, detect=detect)


def replay_drive(
    path: str | Path, out_dir: str | Path, options: ReplayOptions = ReplayOptions()
) -> DriveSummary:
    """Replay one drive into ``out_dir``; returns its summary (also in summary.json)."""
    path, out_dir = Path(path), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not options.force:
        msg = f"{out_dir} exists and is not empty; pass --force to replace its outputs"
        raise ReplayError(msg)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = replay_config(options)
    source = open_source(path, topics=options.topics, ego_csv=options.ego_csv)
    with source:
        items = iter(source)
        first = next(items, None)
        if first is None:
            msg = f"{path}: no readable frame (skipped: {dict(source.skipped) or 'none'})"
            raise ReplayError(msg)
        camera, note = _camera(first, options, config)
        title = f"{path.name}{note}"
        log.info("replay %s -> %s: %s", path, out_dir, title)
        pipe = _pipeline(config, camera)
        errors: Counter[str] = Counter()
        sinks, (report, summary) = _sinks(out_dir, options, title)
        with MultiSink(sinks) as out:
            try:
                _run(_chain(first, items), pipe, out, options, errors)
            except KeyboardInterrupt:
                log.warning("replay of %s interrupted; outputs end at the last frame", path)
                errors["interrupted"] += 1
            finally:
                skipped = {**{str(k): v for k, v in source.skipped.items()}, **errors}
                summary.add_skipped(skipped)
                report.summary.add_skipped(skipped)
        return summary.summary()


def _chain(first: SourceItem, rest: Iterator[SourceItem]) -> Iterator[SourceItem]:
    yield first
    yield from rest


def _camera(
    item: SourceItem, options: ReplayOptions, config: AdasConfig
) -> tuple[CameraModel, str]:
    """The camera from --camera, else a calibrated camera_info, else the field of view."""
    if options.camera_file is not None:
        return load_camera_file(options.camera_file, config), ""
    info = item.camera_info
    if info is not None and info.is_calibrated:
        return info.camera_model(config.mount), ""
    frame = item.frame
    h = frame.image.shape[0]
    w = frame.image.shape[1] // (2 if frame.pixel_format is PixelFormat.YUYV else 1)
    note = f" (UNCALIBRATED: distances from an assumed {options.fov_deg:g} deg field of view)"
    return fov_camera(w, h, options.fov_deg, config), note


def _run(
    items: Iterator[SourceItem],
    pipe: Pipeline,
    out: Sink,
    options: ReplayOptions,
    errors: Counter[str],
) -> None:
    stop = threading.Event()
    stream = _threaded(items, pipe, stop) if options.pipelined else _sequential(items, pipe)
    bar = _progress(options.progress)
    try:
        n = 0
        for it, res in stream:
            if isinstance(it, Exception):  # the source itself failed: end of the drive
                log.error("source failed: %s", it)
                errors["source_error"] += 1
                break
            if isinstance(res, Exception):
                if not isinstance(res, AdasError | ValueError | cv2.error):
                    raise res
                log.warning("frame %d skipped: %s", it.frame.seq, res)
                errors["pipeline_error"] += 1
                continue
            dets, latency = res
            ego = it.ego
            if not ego.valid and options.ego_speed_mps is not None:
                ego = EgoState(t_ns=it.frame.t_ns, speed_mps=options.ego_speed_mps)
            result = pipe.post(it.frame, dets, ego, latency)
            need_image = options.video or options.mcap_images
            out.write(result, to_bgr(it.frame) if need_image else None)
            n += 1
            bar.update(1)
            if options.max_frames is not None and n >= options.max_frames:
                break
    finally:
        stop.set()
        bar.close()
        if hasattr(stream, "close"):
            stream.close()


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(unit="frame", desc="replay")


def _replay_task(path: str, out_dir: str, options: ReplayOptions) -> dict[str, Any]:
    """One drive in a worker (process pool or Ray): the summary as JSON, or the error."""
    try:
        return {"ok": True, "summary": replay_drive(path, out_dir, options).to_json()}
    except Exception as err:  # one drive's failure must not cost the others their results
        log.exception("replay of %s failed", path)
        return {"ok": False, "drive": path, "error": f"{type(err).__name__}: {err}"}


def drive_dirs(paths: Sequence[str | Path], out_dir: Path) -> list[Path]:
    """One output folder per drive, named after it (``name``, ``name-2`` on clashes)."""
    seen: Counter[str] = Counter()
    dirs = []
    for p in paths:
        stem = Path(p).name.split(".")[0] or "drive"
        seen[stem] += 1
        dirs.append(out_dir / (stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"))
    return dirs


def replay_many(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    options: ReplayOptions = ReplayOptions(),
    *,
    workers: int = 1,
    engine: str = "process",
    address: str | None = None,
) -> tuple[DriveSummary, list[dict[str, Any]]]:
    """Replay several drives, each into ``out_dir/<drive name>``, and write the merged
    ``out_dir/summary.json``. Returns it and the failures ({"drive", "error"})."""
    out = Path(out_dir)
    dirs = drive_dirs(paths, out)
    merged_path = out / "summary.json"
    if merged_path.exists() and not options.force:
        msg = f"{merged_path} exists; pass --force to replace it"
        raise ReplayError(msg)
    out.mkdir(parents=True, exist_ok=True)
    opts = replace(options, progress=False)
    jobs = [(str(p), str(d), opts) for p, d in zip(paths, dirs, strict=True)]
    if engine == "ray":
        results = _run_ray(jobs, address)
    elif engine == "process" and workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_replay_task, *zip(*jobs, strict=True)))
    elif engine == "process":
        results = [_replay_task(*job) for job in jobs]
    else:
        msg = f"engine {engine!r}: use 'process' or 'ray'"
        raise ReplayError(msg)
    good = [DriveSummary.from_json(r["summary"]) for r in results if r["ok"]]
    failures = [{"drive": r["drive"], "error": r["error"]} for r in results if not r["ok"]]
    merged = merge_summaries(good, name=f"{len(good)} drives")
    merged.write(merged_path)
    return merged, failures


def _run_ray(jobs: list[tuple[str, str, ReplayOptions]], address: str | None) -> list[Any]:
    """One Ray task per drive (extra ``cluster``); Ray reuses worker processes, so each loads
    the model once. ``address`` None starts a local Ray."""
    try:
        import ray
    except ImportError as err:
        msg = "--engine ray needs Ray: pip install 'adas-perception[cluster]'"
        raise ReplayError(msg) from err
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        task = ray.remote(_replay_task)
        return list(ray.get([task.remote(*job) for job in jobs]))
    finally:
        if started:
            ray.shutdown()
