"""The runtime's decisions: frames and clock ticks in, one command per cycle out.

:class:`RuntimeCore` runs the pipeline on each frame it is handed (or drops it as stale), is
the watchdog on each tick, and sends every cycle's command through a :class:`CommandOutput`.
It reads time only from the clock it is given, so tests run it on a simulated clock. The
safety behaviour it implements is described in :mod:`adas.runtime`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from adas.errors import ContractError
from adas.runtime.config import RuntimeConfig
from adas.types import (
    Decision,
    DecisionLevel,
    EgoState,
    Fault,
    Frame,
    FrameResult,
    PixelFormat,
    RuntimeState,
)

if TYPE_CHECKING:
    from adas.camera import CameraModel

log = logging.getLogger(__name__)

NS = 1_000_000_000


class CommandOutput(Protocol):
    """Where commands go (``adas.can.output.CanOutput``); False = the send failed (counted)."""

    def send_command(self, decision: Decision, ttc_s: float | None) -> bool: ...

    def send_status(self, state: int, faults: int, fps: float, dropped: int) -> bool: ...


class PipelineLike(Protocol):
    """What the core needs of :class:`adas.pipeline.Pipeline` (tests pass their own).

    ``camera`` is the calibrated camera whose size every frame must have; None skips that
    check (a pipeline without one).
    """

    @property
    def camera(self) -> CameraModel | None: ...

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
            _check_geometry(frame, self.pipeline.camera)
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


def _check_geometry(frame: Frame, camera: CameraModel | None) -> None:
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
