"""Frame sources of the real-time runtime: a live camera, or a recording played as one.

Each returns a function ``run(slot, stop)`` that the runtime's camera thread calls: it puts
every frame into the :class:`~adas.sources.latest.LatestSlot` (stamped with the runtime's clock
when it is handed over, as a camera driver would) until ``stop`` is set or the source ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from adas.sources.latest import Captured, LatestSlot
from adas.types import EgoState, Frame, PixelFormat

log = logging.getLogger(__name__)

NS = 1_000_000_000


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
