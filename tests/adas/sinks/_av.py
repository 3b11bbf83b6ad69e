"""Reading the sinks' videos back with PyAV: the codec, the frames (BGR) and their times."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Video:
    codec: str
    times_s: list[float]  # presentation times from the file's start
    frames: list[np.ndarray]  # BGR uint8


def read_av(path: Path) -> Video:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        decoded = [
            (float(f.time or 0.0), f.to_ndarray(format="bgr24")) for f in container.decode(stream)
        ]
    return Video(codec, [t for t, _ in decoded], [f for _, f in decoded])


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))
