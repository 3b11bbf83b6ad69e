"""The in-vehicle runtime (``adas run``): camera in, pipeline, CAN commands out, in real time.

Two layers, as everywhere in this project (DESIGN.md: stages are pure, I/O loops feed them):

* :class:`RuntimeCore` decides. It is fed frames and clock ticks and sends one command per
  cycle through an output (:class:`adas.sinks.can.CanOutput` in the car). It reads time only
  from the clock it is given, so tests and the soak test run it on a simulated clock, minutes
  of driving in seconds.
* :class:`Runtime` is the real-time shell: a camera thread puts frames into a
  :class:`LatestSlot`, the main loop takes the newest one, ego state comes from CAN, a bag or
  fixed values, a status line goes to the log, SIGTERM/SIGINT end it cleanly.

Safety behaviour (DESIGN.md, issue 7):

* **Latest frame only**: a frame that arrives while the pipeline is busy replaces the waiting
  one (``dropped_busy``); a frame older than ``max_frame_age_s`` when its turn comes is
  dropped (``dropped_stale``). Nothing is ever queued behind a slow stage.
* **Watchdog**: no processed frame for ``watchdog_period_s``, a frame whose decision comes
  later than ``frame_deadline_s`` after its capture, a corrupt frame, an inference error or
  an invalid ego state each make the cycle's command ``UNAVAILABLE`` with zero brake request.
  The main loop ticks at least twice per watchdog period, so a stall is reported within one
  period. The control state machine stands down at the same time (persistence starts again),
  and the system recovers by itself with the next healthy frames.
* **A command every cycle**: each processed frame and, while stalled, each tick sends a
  command, also when there is nothing to report (level NONE).
* Faults never end the process: CAN send errors are counted (state DEGRADED), camera
  read failures reconnect with back-off.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from adas.errors import ContractError
from adas.params import param, validate
from adas.sinks.can import Fault, RuntimeState
from adas.types import (
    Decision,
    DecisionLevel,
    EgoState,
    Frame,
    FrameResult,
    PixelFormat,
)

log = logging.getLogger(__name__)

NS = 1_000_000_000


@dataclass(frozen=True)
class RuntimeConfig:
    """``[runtime]``: timing of the real-time loop. Sources in data/config/default.toml."""

    watchdog_period_s: float = param(0.2, lo=0.02, hi=5.0, unit="s")
    max_frame_age_s: float = param(0.1, lo=0.005, hi=5.0, unit="s")
    frame_deadline_s: float = param(0.15, lo=0.005, hi=5.0, unit="s")
    status_period_s: float = param(1.0, lo=0.05, hi=60.0, unit="s")
    reconnect_backoff_s: float = param(0.5, lo=0.01, hi=60.0, unit="s")

    def __post_init__(self) -> None:
        validate(self, "runtime")

    @property
    def tick_s(self) -> float:
        """The main loop's longest wait: half a watchdog period, so a stall is seen in time."""
        return 0.5 * self.watchdog_period_s


class CommandOutput(Protocol):
    """Where commands go (``adas.sinks.can.CanOutput``); False = the send failed (counted)."""

    def send_command(self, decision: Decision, ttc_s: float | None) -> bool: ...

    def send_status(self, state: int, faults: int, fps: float, dropped: int) -> bool: ...


class PipelineLike(Protocol):
    """What the core needs of :class:`adas.pipeline.Pipeline` (tests pass their own)."""

    def prepare(self, frame: Frame) -> Any: ...

    def infer(self, prepared: Any) -> tuple[Any, dict[str, int]]: ...

    def post(
        self,
        frame: Frame,
        detections: Any,
        ego: EgoState,
        latency_ns: dict[str, int] | None = None,
        *,
        input_ok: bool = True,
    ) -> FrameResult: ...

    def stand_down(self, ego: EgoState, t_ns: int) -> Decision: ...


@dataclass(frozen=True)
class Cycle:
    """One command the core sent: why, and (for frames) capture-to-send latency."""

    t_ns: int  # clock time the command was sent
    decision: Decision
    faults: Fault
    state: RuntimeState
    frame_t_ns: int | None = None  # capture time of the frame it answers (None: a tick)
    latency_ns: int | None = None  # capture -> command sent
    sent: bool = True
    result: FrameResult | None = field(default=None, repr=False)
    frame: Frame | None = field(default=None, repr=False)  # for recording (--record)
    ego: EgoState | None = field(default=None, repr=False)


class RuntimeCore:
    """Frames and ticks in, one command per cycle out; time only from ``clock`` [ns].

    ``on_frame(frame, ego)`` runs the pipeline on a frame (or drops it as stale) and sends its
    command; ``on_tick()`` is the watchdog: while no frame was processed for a watchdog period
    it sends ``UNAVAILABLE`` every tick. Both return the :class:`Cycle` sent (or None).
    """

    def __init__(
        self,
        pipeline: PipelineLike,
        config: RuntimeConfig,
        output: CommandOutput,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.pipeline, self.config, self.output, self.clock = pipeline, config, output, clock
        self.counts: Counter[str] = Counter()
        self.state = RuntimeState.INIT
        self.faults = Fault(0)
        self._start_ns = clock()
        self._last_frame_ns: int | None = None  # clock time of the last processed frame
        self._ctrl_t: int | None = None  # the last time handed to the control stage
        self._stalled = False
        self._last_ego = EgoState(t_ns=0, valid=False)
        self._window: deque[int] = deque()  # clock times of processed frames, last second

    @property
    def last_frame_ns(self) -> int | None:
        """Clock time the last frame was processed (None before the first)."""
        return self._last_frame_ns

    # --- cycles -----------------------------------------------------------------------------

    def on_frame(self, frame: Frame, ego: EgoState) -> Cycle | None:
        cfg = self.config
        now = self.clock()
        self.counts["frames"] += 1
        self._last_ego = ego
        if now - frame.t_ns > cfg.max_frame_age_s * NS:
            self.counts["dropped_stale"] += 1
            return None
        faults = Fault(0)
        try:
            _check_geometry(frame, getattr(self.pipeline, "camera", None))
            prepared = self.pipeline.prepare(frame)
        except Exception as exc:  # a frame the preprocessing refuses: shape, dtype, format
            self.counts["corrupt_frames"] += 1
            log.warning("frame %d refused: %s", frame.seq, exc)
            return self._unavailable(now, Fault.CORRUPT_FRAME, f"corrupt frame: {exc}", frame)
        try:
            detections, latency = self.pipeline.infer(prepared)
        except Exception as exc:  # inference engines raise their own types; all are faults here
            self.counts["inference_errors"] += 1
            log.error("inference failed on frame %d: %s", frame.seq, exc)
            return self._unavailable(now, Fault.INFERENCE_ERROR, f"inference error: {exc}", frame)
        done = self.clock()
        on_time = done - frame.t_ns <= cfg.frame_deadline_s * NS
        if not on_time:
            self.counts["deadline_misses"] += 1
            faults |= Fault.DEADLINE
        if not (ego.valid and math.isfinite(ego.speed_mps)):
            faults |= Fault.EGO_INVALID
        t = frame.t_ns if self._ctrl_t is None else max(frame.t_ns, self._ctrl_t)
        frame_at = frame if t == frame.t_ns else Frame(
            frame.image, frame.pixel_format, t, frame.seq, frame.camera_id
        )  # fmt: skip
        result = self.pipeline.post(frame_at, detections, ego, latency, input_ok=on_time)
        self._ctrl_t = t
        self._last_frame_ns = done
        self._stalled = False
        self.counts["processed"] += 1
        self._window.append(done)
        while self._window and done - self._window[0] > NS:  # bounded: one second of frames
            self._window.popleft()
        return self._send(result.decision, faults, frame, result)

    def on_tick(self) -> Cycle | None:
        """The watchdog: UNAVAILABLE every tick while no frame came for a watchdog period."""
        now = self.clock()
        since = self._last_frame_ns if self._last_frame_ns is not None else self._start_ns
        if now - since <= self.config.watchdog_period_s * NS:
            return None
        if not self._stalled:
            self._stalled = True
            self.counts["stalls"] += 1
            log.warning("no frame for %.0f ms: UNAVAILABLE", (now - since) / 1e6)
        return self._unavailable(now, Fault.CAMERA_STALL, "no frame (camera stalled)", None)

    def _unavailable(self, now: int, fault: Fault, why: str, frame: Frame | None) -> Cycle:
        """Stand the control stage down (persistence restarts) and send UNAVAILABLE."""
        t = now if self._ctrl_t is None else max(self._ctrl_t, frame.t_ns if frame else 0)
        self._ctrl_t = t
        # The control stage stands down (its persistence counts restart from zero) ...
        self.pipeline.stand_down(self._last_ego, t)
        # ... and the command says why in the runtime's words.
        decision = Decision(DecisionLevel.UNAVAILABLE, 0.0, -1, why)
        return self._send(decision, fault, frame, None)

    def _send(
        self, decision: Decision, faults: Fault, frame: Frame | None, result: FrameResult | None
    ) -> Cycle:
        input_fault = decision.level == DecisionLevel.UNAVAILABLE or faults & ~Fault.CAN_ERROR
        if input_fault and (
            decision.decel_request_mps2 != 0.0 or decision.level != DecisionLevel.UNAVAILABLE
        ):
            # Never a brake request on a cycle with an input fault (belt and braces: the
            # control stage already says UNAVAILABLE for every such case).
            decision = Decision(DecisionLevel.UNAVAILABLE, 0.0, -1, decision.reason or str(faults))
        ttc = _target_ttc(result, decision)
        sent = self.output.send_command(decision, ttc)
        now = self.clock()
        if not sent:
            self.counts["can_errors"] += 1
            faults |= Fault.CAN_ERROR
        self.counts["commands"] += 1
        if decision.level == DecisionLevel.UNAVAILABLE:
            self.counts["unavailable_commands"] += 1
        self.faults = faults
        self.state = _state(decision, faults)
        latency = None if frame is None else now - frame.t_ns
        return Cycle(
            now, decision, faults, self.state, None if frame is None else frame.t_ns, latency,
            sent, result, frame, None if frame is None else self._last_ego,
        )  # fmt: skip

    # --- status -----------------------------------------------------------------------------

    def fps(self) -> float:
        """Processed frames per second over the last second of the clock."""
        now = self.clock()
        while self._window and now - self._window[0] > NS:
            self._window.popleft()
        return float(len(self._window))

    def send_status(self, dropped_busy: int = 0) -> bool:
        dropped = dropped_busy + self.counts["dropped_stale"]
        ok = self.output.send_status(int(self.state), int(self.faults), self.fps(), dropped)
        if not ok:
            self.counts["can_errors"] += 1
        return ok

    def status(self, dropped_busy: int = 0) -> dict[str, Any]:
        """The monitoring record (one JSON line per status period)."""
        return {
            "state": self.state.name,
            "faults": [f.name for f in Fault if f & self.faults],
            "fps": self.fps(),
            **{k: self.counts[k] for k in sorted(self.counts)},
            "dropped_busy": dropped_busy,
        }


def _check_geometry(frame: Frame, camera: Any) -> None:
    """A frame must have the calibrated camera's size: anything else is a corrupt or foreign
    frame (a truncated buffer, another sensor), whose distances would be wrong."""
    if camera is None:
        return
    h = frame.image.shape[0]
    packed = frame.pixel_format is PixelFormat.YUYV and frame.image.ndim == 2  # H x 2W bytes
    w = frame.image.shape[1] // (2 if packed else 1)
    if (w, h) != (camera.width, camera.height):
        msg = f"frame is {w}x{h}, the camera {camera.width}x{camera.height}"
        raise ContractError(msg)


def _target_ttc(result: FrameResult | None, decision: Decision) -> float | None:
    if result is None or decision.target_track_id < 0:
        return None
    rows = np.flatnonzero(result.objects.track_id == decision.target_track_id)
    if rows.size == 0:
        return None
    ttc = float(result.objects.ttc_s[rows[0]])
    return ttc if math.isfinite(ttc) else None


def _state(decision: Decision, faults: Fault) -> RuntimeState:
    if decision.level == DecisionLevel.UNAVAILABLE:
        return RuntimeState.UNAVAILABLE
    if faults:
        return RuntimeState.DEGRADED
    return RuntimeState.OK


# --- the real-time shell ---------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    """A frame as the camera thread hands it over, with the ego state recorded beside it
    (bags) or None (live cameras: ego comes from CAN or fixed values)."""

    frame: Frame
    ego: EgoState | None = None


class LatestSlot:
    """A one-frame mailbox between the camera thread and the pipeline.

    ``put`` replaces a frame still waiting (``replaced`` counts them: the latest-frame policy);
    ``take`` waits up to ``timeout_s`` for one. Nothing queues behind a slow pipeline.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._item: Captured | None = None
        self.replaced = 0
        self.closed = False

    def put(self, item: Captured) -> None:
        with self._cv:
            if self._item is not None:
                self.replaced += 1
            self._item = item
            self._cv.notify()

    def take(self, timeout_s: float) -> Captured | None:
        with self._cv:
            if self._item is None and not self.closed:
                self._cv.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()


class Runtime:
    """The loop of ``adas run``: a camera thread feeding a :class:`LatestSlot`, the core, the
    ego provider, status lines; ``stop()`` (or SIGTERM/SIGINT via the CLI) ends it cleanly."""

    def __init__(
        self,
        core: RuntimeCore,
        frames: Callable[[LatestSlot, threading.Event], None],
        ego: Callable[[int], EgoState] | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        on_cycle: Callable[[Cycle], None] | None = None,
    ) -> None:
        self.core, self.frames, self.ego = core, frames, ego
        self.on_status = on_status or (lambda s: log.info("status %s", json.dumps(s)))
        self.on_cycle = on_cycle
        self.slot = LatestSlot()
        self.stop_event = threading.Event()
        self._camera: threading.Thread | None = None

    def stop(self) -> None:
        self.stop_event.set()
        self.slot.close()

    def run(self, max_frames: int | None = None) -> dict[str, Any]:
        """Until stop() or the source ends (a stand-in clip); returns the last status."""
        cfg, core = self.core.config, self.core
        camera = threading.Thread(
            target=self._camera_main, name="adas-camera", daemon=True
        )  # fmt: skip
        self._camera = camera
        camera.start()
        next_status = core.clock() + int(cfg.status_period_s * NS)
        next_can_status = core.clock()
        can_period = int(NS / 10)
        try:
            while not self.stop_event.is_set():
                item = self.slot.take(cfg.tick_s)
                if item is not None:
                    ego = self._ego(item)
                    cycle = core.on_frame(item.frame, ego)
                    if cycle is not None and self.on_cycle is not None:
                        self.on_cycle(cycle)
                    if max_frames is not None and core.counts["frames"] >= max_frames:
                        break
                elif self.slot.closed and not camera.is_alive():
                    break  # the stand-in clip ended
                tick = core.on_tick()
                if tick is not None and self.on_cycle is not None:
                    self.on_cycle(tick)
                now = core.clock()
                if now >= next_can_status:
                    core.send_status(self.slot.replaced)
                    next_can_status = now + can_period
                if now >= next_status:
                    self.on_status(core.status(self.slot.replaced))
                    next_status = now + int(cfg.status_period_s * NS)
        finally:
            self.stop()
            camera.join(timeout=2.0)
        final = core.status(self.slot.replaced)
        self.on_status(final)
        return final

    def _camera_main(self) -> None:
        try:
            self.frames(self.slot, self.stop_event)
        except Exception:  # the camera thread must never take the process down
            log.exception("camera thread failed")
        finally:
            self.slot.close()

    def _ego(self, item: Captured) -> EgoState:
        now = self.core.clock()
        if self.ego is not None:
            return self.ego(now)
        if item.ego is not None:
            return item.ego
        return EgoState(t_ns=now, valid=False)


# --- frame sources for the shell -------------------------------------------------------------


def camera_frames(
    device: str, backoff_s: float, clock: Callable[[], int] = time.monotonic_ns
) -> Callable[[LatestSlot, threading.Event], None]:
    """A live camera through OpenCV: a V4L2 index ("0") or a GStreamer pipeline (contains
    "!"). Frames are stamped with ``clock`` when ``read`` returns. A failed open or read
    releases the device and reopens it after ``backoff_s`` (counted in the log), forever."""
    import cv2

    def run(slot: LatestSlot, stop: threading.Event) -> None:
        seq = 0
        while not stop.is_set():
            cap = (
                cv2.VideoCapture(device, cv2.CAP_GSTREAMER)
                if "!" in device
                else cv2.VideoCapture(int(device))
            )
            if not cap.isOpened():
                log.warning("camera %s did not open; retrying in %.1f s", device, backoff_s)
                stop.wait(backoff_s)
                continue
            while not stop.is_set():
                ok, image = cap.read()
                t = clock()
                if not ok or image is None:
                    log.warning("camera %s read failed; reconnecting", device)
                    break
                if image.dtype != np.uint8 or image.ndim != 3:  # a broken driver buffer
                    log.warning("camera %s gave a %s %s frame; skipped", device, image.dtype,
                                image.shape)  # fmt: skip
                    continue
                slot.put(
                    Captured(Frame(image.astype(np.uint8, copy=False), PixelFormat.BGR8, t, seq))
                )
                seq += 1
            cap.release()
            stop.wait(backoff_s)

    return run


def player_frames(
    items: Callable[[], Iterator[Any]],
    rate: float = 1.0,
    clock: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
    loops: int = 1,
) -> Callable[[LatestSlot, threading.Event], None]:
    """A recording played as a camera at ``rate`` times its recorded speed (the stand-in
    camera of benches and tests), ``loops`` times back to back at the same pace. Each frame is
    stamped with ``clock`` when it is handed over, as a camera driver would; its recorded ego
    state travels with it."""

    def run(slot: LatestSlot, stop: threading.Event) -> None:
        seq = 0
        start = clock()
        offset = 0  # recorded time of the loops already played [ns]
        for _ in range(loops):
            first_rec: int | None = None
            last_rec = 0
            gap = 0
            for it in items():
                if stop.is_set():
                    return
                rec = it.frame.t_ns
                gap = rec - last_rec if first_rec is not None else gap
                first_rec = rec if first_rec is None else first_rec
                last_rec = rec
                due = start + int((offset + rec - first_rec) / rate)
                wait = (due - clock()) / NS
                if wait > 0:
                    sleep(wait)
                t = clock()
                f = it.frame
                ego = it.ego if it.ego.valid else None
                if ego is not None:
                    ego = EgoState(t, ego.speed_mps, ego.yaw_rate_rps, ego.accel_mps2,
                                   ego.brake_pedal, ego.turn_signal, ego.valid)  # fmt: skip
                slot.put(Captured(Frame(f.image, f.pixel_format, t, seq, f.camera_id), ego))
                seq += 1
            if first_rec is not None:
                # The next loop starts one frame interval after this one ended, as a camera
                # would go on, never two frames at once.
                offset += last_rec - first_rec + max(gap, 1)

    return run
