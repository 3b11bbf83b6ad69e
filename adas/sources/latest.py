"""The one-frame mailbox between a camera thread and the runtime's loop (latest frame only).

Both sides import it: the frame sources (:mod:`adas.sources.camera`) put into it, the
real-time shell (:mod:`adas.runtime.shell`) takes from it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from adas.types import EgoState, Frame


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
