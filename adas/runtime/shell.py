"""The real-time shell of ``adas run``: a camera thread, the core, ego state, status lines.

:class:`Runtime` feeds a :class:`~adas.runtime.core.RuntimeCore` from a frame source
(:mod:`adas.sources.camera`) through a :class:`~adas.sources.latest.LatestSlot`, sends the
``ADAS_Status`` heartbeat at ``status_rate_hz`` (``[can] status_rate_hz``) and a JSON status
line every ``[runtime] status_period_s``; ``stop()`` ends it cleanly.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from adas.runtime.core import NS, Cycle, RuntimeCore
from adas.sources.latest import Captured, LatestSlot
from adas.types import EgoState

log = logging.getLogger(__name__)


class Runtime:
    """The loop of ``adas run``: a camera thread feeding a :class:`LatestSlot`, the core, the
    ego provider, status lines; ``stop()`` (or SIGTERM/SIGINT via the CLI) ends it cleanly.

    ``status_rate_hz`` is the rate of the ``ADAS_Status`` heartbeat on CAN (``[can]
    status_rate_hz``; 10 Hz by default), on the core's clock.
    """

    def __init__(
        self,
        core: RuntimeCore,
        frames: Callable[[LatestSlot, threading.Event], None],
        ego: Callable[[int], EgoState] | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        on_cycle: Callable[[Cycle], None] | None = None,
        status_rate_hz: float = 10.0,
    ) -> None:
        if not (math.isfinite(status_rate_hz) and status_rate_hz > 0.0):
            msg = f"status_rate_hz = {status_rate_hz}: the status heartbeat needs a rate > 0 Hz"
            raise ValueError(msg)
        self.core, self.frames, self.ego = core, frames, ego
        self.on_status = on_status or (lambda s: log.info("status %s", json.dumps(s)))
        self.on_cycle = on_cycle
        self.status_period_ns = int(NS / status_rate_hz)  # of the CAN heartbeat
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
                    next_can_status = now + self.status_period_ns
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
