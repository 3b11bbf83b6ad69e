"""``frames.csv``: one row per frame and tracked object, flushed every frame.

A frame without tracks still gets one row with the object columns empty, so the number of
frames is ``len({seq})`` and the decision timeline is complete. Units are in the column names
(m, m/s, m/s^2, s, pixels for the box). Numbers are written in full precision (Python's
shortest round-trip repr), so ``float(cell)`` gives back the exact value; NaN (unknown) is an
empty cell and an infinite TTC (opening) is ``inf``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from adas.sinks.base import SinkBase, object_rows, output_path
from adas.types import DecisionLevel, EncodedImage, FrameResult

FRAMES_FILE = "frames.csv"
COLUMNS = (
    "t_ns", "seq", "track_id", "class", "score", "x1", "y1", "x2", "y2", "distance_m",
    "sigma_distance_m", "lateral_m", "range_rate_mps", "accel_mps2", "ttc_s", "zone", "danger",
    "decision", "decel_request_mps2", "target_track_id",
)  # fmt: skip

Cell = str | int | float


def _num(x: float) -> Cell:
    """A float cell: empty for NaN, else the float (csv writes its round-trip repr)."""
    v = float(x)
    return "" if math.isnan(v) else v


def frame_rows(result: FrameResult) -> list[list[Cell]]:
    """The CSV rows (in ``COLUMNS`` order) of one frame."""
    d = result.decision
    tail: list[Cell] = [
        DecisionLevel(d.level).name, _num(d.decel_request_mps2), int(d.target_track_id),
    ]  # fmt: skip
    head: list[Cell] = [int(result.t_ns), int(result.seq)]
    objects = object_rows(result)
    if not objects:
        return [head + [""] * (len(COLUMNS) - len(head) - len(tail)) + tail]
    rows: list[list[Cell]] = []
    for r in objects:
        box = [_num(v) for v in r.xyxy]
        kin = [
            r.distance_m,
            r.sigma_distance_m,
            r.lateral_m,
            r.range_rate_mps,
            r.accel_mps2,
            r.ttc_s,
        ]
        obj = [r.track_id, r.class_name, _num(r.score), *box, *(_num(v) for v in kin)]
        rows.append([*head, *obj, r.zone.name, r.danger.name, *tail])
    return rows


class FramesCsvSink(SinkBase):
    """Writes ``frames.csv`` into ``out_dir`` (header first, then each frame's rows, flushed)."""

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False) -> None:
        self.path = output_path(out_dir, FRAMES_FILE, overwrite=overwrite)
        self.frames = 0
        self._file = self.path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        self._file.flush()

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        self._csv.writerows(frame_rows(result))
        self._file.flush()
        self.frames += 1

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def parse_float(cell: str) -> float:
    """Inverse of the writer's float cells: empty -> NaN, else ``float`` (``inf`` included)."""
    return float(cell) if cell else math.nan
