"""Contracts between stages reject malformed hand-overs at the boundary."""

from __future__ import annotations

import numpy as np
import pytest

from adas.errors import ContractError
from adas.types import Detections, Frame, ObjectStates, PixelFormat, Tracks, Zone


def test_detections_shapes() -> None:
    d = Detections.from_arrays([[1, 2, 3, 4], [5, 6, 7, 8]], [0.9, 0.8], [2, 2])
    assert len(d) == 2 and d.xyxy.dtype == np.float32
    assert len(Detections.empty()) == 0
    with pytest.raises(ContractError, match="score"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros(2, np.int64))
    with pytest.raises(ContractError, match="N x 4"):
        Detections(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int64))


def test_tracks_and_states_rows_must_agree() -> None:
    z = np.zeros(2, np.int64)
    with pytest.raises(ContractError, match="det_index"):
        Tracks(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), z, z, z, z, z, z[:1])
    f = np.zeros(2)
    s = ObjectStates(z, f, f, f, f, f, f, f, f)
    assert (s.zone == Zone.UNKNOWN).all() and len(s) == 2
    with pytest.raises(ContractError, match="ttc_s"):
        ObjectStates(z, f, f, f, f, f, f, f[:1], f)


def test_frame_requires_uint8() -> None:
    Frame(np.zeros((4, 6, 3), np.uint8), PixelFormat.BGR8, t_ns=0)
    with pytest.raises(ContractError, match="uint8"):
        Frame(np.zeros((4, 6, 3), np.float32), PixelFormat.BGR8, t_ns=0)
