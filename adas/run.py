"""``adas run``: the in-vehicle process, wired from the command line.

Frames come from a live camera (``--device``: a V4L2 index or a GStreamer pipeline) or from a
recording played at its recorded rate as a stand-in camera (``--input``: video, bag, MCAP,
image folder; ``--rate`` speeds it up). Ego state comes from CAN (``--ego can``: the
``[can]`` ego messages of the DBC), from the recording (``--ego bag``) or fixed values
(``--ego fixed --ego-speed-mps V``). Commands and the heartbeat go to CAN through
python-can (``[can]`` in the config: interface, channel, log file). A JSON status line is
printed every ``runtime.status_period_s``. SIGTERM and SIGINT stop it cleanly: the loop ends,
the CAN log is closed, the last status is printed. The pieces are assembled by :mod:`adas.app`
(the same camera choice, model cache and warm-up as ``adas replay``); the ``--record`` folder
is created only once the run can start.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adas import app
from adas.allocator import keep_freed_memory
from adas.config import AdasConfig, load_config
from adas.errors import AdasError
from adas.runtime.core import Cycle
from adas.runtime.shell import Runtime
from adas.sources.camera import camera_frames

log = logging.getLogger(__name__)


class RunError(AdasError):
    """``adas run`` cannot start: a missing input, model, camera or CAN interface."""


@dataclass(frozen=True)
class RunOptions:
    config_file: Path | None = None
    model: str | None = None
    model_card: Path | None = None
    preprocess: str | None = None  # reference | opencv | fpga (overrides detect.preprocess_backend)
    device: str | None = None  # live camera: V4L2 index or GStreamer pipeline
    input: Path | None = None  # stand-in camera: a recording
    rate: float = 1.0  # stand-in playback speed (1 = recorded rate)
    loops: int = 1
    camera_file: Path | None = None
    fov_deg: float | None = None  # stand-in without calibration (None: [replay] fov_deg)
    ego: str = "bag"  # can | bag | fixed
    ego_speed_mps: float = 0.0
    ego_yaw_rate_rps: float = 0.0
    can_interface: str | None = None
    can_channel: str | None = None
    can_log: str | None = None
    max_frames: int | None = None
    duration_s: float | None = None
    record: Path | None = None  # MCAP of inputs and decisions, replayable with adas replay


def configure(options: RunOptions) -> AdasConfig:
    """The config file with the command line's overrides applied."""
    config = load_config(options.config_file)
    detect = config.detect
    if options.model:
        detect = replace(detect, model=options.model)
    if options.model_card:
        detect = replace(detect, model_card=str(options.model_card))
    if options.preprocess:
        detect = replace(detect, preprocess_backend=options.preprocess)
    can = config.can
    overrides: dict[str, Any] = {}
    if options.can_interface:
        overrides["interface"] = options.can_interface
    if options.can_channel:
        overrides["channel"] = options.can_channel
    if options.can_log is not None:
        overrides["log_file"] = options.can_log
    if overrides:
        can = replace(can, **overrides)
    return replace(config, detect=detect, can=can)


def build(
    options: RunOptions,
    on_cycle: Callable[[Cycle], None] | None = None,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    bus: Any = None,
) -> tuple[Runtime, Any]:
    """The runtime and its CAN output (the caller closes it), ready to ``run``."""
    if (options.device is None) == (options.input is None):
        msg = "give exactly one of --device (a live camera) and --input (a recording)"
        raise RunError(msg)
    if options.ego not in ("can", "bag", "fixed"):
        msg = f"--ego {options.ego!r}: one of can, bag, fixed"
        raise RunError(msg)
    if options.ego == "bag" and options.input is None:
        msg = "--ego bag needs --input (a recording with an ego topic); use can or fixed"
        raise RunError(msg)
    config = configure(options)
    if options.input is not None:
        path = options.input
        if not path.exists():
            msg = f"input {path} does not exist"
            raise RunError(msg)
        first = app.first_item(path, config)
        if first is None:
            msg = f"{path}: no readable frame"
            raise RunError(msg)
        camera, _note = app.select_camera(
            first, config, camera_file=options.camera_file, fov_deg=options.fov_deg
        )
        frames = app.recording_frames(path, config, rate=options.rate, loops=options.loops)
    else:
        assert options.device is not None
        if options.camera_file is None:
            msg = "a live camera needs its calibration: --camera FILE (adas-calibrate output)"
            raise RunError(msg)
        camera = app.load_camera_file(options.camera_file, config)
        frames = camera_frames(options.device, config.runtime.reconnect_backoff_s)
    ego: app.EgoChoice = "frames"  # --ego bag: the state the recording gives each frame
    if options.ego == "can":
        ego = "can"
    elif options.ego == "fixed":
        ego = app.fixed_ego(options.ego_speed_mps, options.ego_yaw_rate_rps)
    return app.build_runtime(
        config, camera, frames, ego=ego, bus=bus, on_status=on_status, on_cycle=on_cycle
    )


class Recorder:
    """Records each processed frame (image, detections, tracks, decision) and the ego state
    it was processed with into an MCAP that ``adas replay`` reads back.

    The JPEG encoding and writing run in a thread of their own behind a bounded queue: the
    loop only hands the cycle over. When the writer falls behind, cycles are dropped from the
    recording (counted in ``dropped``), never queued without bound and never slowing the loop.
    A write failure is logged and ends the recording, never the drive.
    """

    def __init__(self, sink: Any, depth: int = 8) -> None:
        import queue

        self.sink = sink
        self.dropped = 0
        self.failed: str | None = None
        self._queue: queue.Queue[Cycle | None] = queue.Queue(depth)
        self._thread = threading.Thread(target=self._main, name="adas-record", daemon=True)
        self._thread.start()

    def __call__(self, cycle: Cycle) -> None:
        import queue

        if self.failed or cycle.result is None or cycle.frame is None:
            return
        try:
            self._queue.put_nowait(cycle)
        except queue.Full:
            self.dropped += 1

    def _main(self) -> None:
        while (cycle := self._queue.get()) is not None:
            if self.failed or cycle.result is None or cycle.frame is None:
                continue
            try:
                self.sink.write(cycle.result, app.to_bgr(cycle.frame))
                if cycle.ego is not None and cycle.ego.valid:
                    self.sink.write_ego(
                        cycle.frame.t_ns, cycle.ego.speed_mps, cycle.ego.yaw_rate_rps
                    )
            except (AdasError, OSError, ValueError) as exc:
                self.failed = str(exc)
                log.error("recording stopped: %s", exc)

    def close(self) -> None:
        """Write what is queued, then close the MCAP (valid up to the last frame)."""
        self._queue.put(None)
        self._thread.join(timeout=30.0)
        self.sink.close()


def main(options: RunOptions) -> int:
    """Run until the recording ends, --max-frames/--duration, SIGTERM or SIGINT."""

    def print_status(status: dict[str, Any]) -> None:
        print(json.dumps(status), flush=True)

    keep_freed_memory()  # frame buffers stay in the process: no page faults per frame
    try:
        runtime, output = build(options, on_status=print_status)
    except (AdasError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    recorder: Recorder | None = None
    if options.record is not None:  # only now: a refused run leaves no recording folder
        try:
            sink = app.results_mcap(options.record, configure(options), images=True, ego=True)
            recorder = Recorder(sink)
        except (AdasError, OSError) as exc:
            output.close()
            print(f"error: {exc}", file=sys.stderr)
            return 2
        runtime.on_cycle = recorder
    previous = {
        sig: signal.signal(sig, lambda *_: runtime.stop())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    timer = None
    if options.duration_s is not None:
        timer = threading.Timer(options.duration_s, runtime.stop)
        timer.daemon = True
        timer.start()
    t0 = time.monotonic()
    try:
        final = runtime.run(max_frames=options.max_frames)
    finally:
        if timer is not None:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        output.close()
        if recorder is not None:
            recorder.close()
            sink = recorder.sink
            print(
                f"recorded {sink.frames} frames to {sink.bag_dir} ({recorder.dropped} dropped "
                "while the writer was behind)",
                file=sys.stderr,
            )
    log.info("adas run ended after %.1f s: %s", time.monotonic() - t0, final)
    return 0
