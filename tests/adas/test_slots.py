"""TrackSlots: stable rows per id, growth, reuse of dropped rows, padding of state arrays."""

from __future__ import annotations

import numpy as np

from adas.slots import TrackSlots


def test_rows_are_stable_grow_and_are_reused() -> None:
    ts = TrackSlots(2)
    rows, new = ts.lookup(np.array([10, 11]), 0)
    assert sorted(new) == sorted(rows.tolist()) and len(ts) == 2
    again, new = ts.lookup(np.array([11, 10]), 5)
    assert again.tolist() == rows[::-1].tolist() and new == []
    grown, new = ts.lookup(np.array([12]), 5)  # full: capacity doubles
    assert ts.capacity == 4 and new == grown.tolist()
    state = ts.fit(np.ones((2, 3)), fill=-1.0)
    assert state.shape == (4, 3) and (state[2:] == -1.0).all()
    ts.drop_stale(t_ns=100, timeout_ns=50)  # every id was last seen at 0 or 5
    assert len(ts) == 0
    reused, _ = ts.lookup(np.array([13, 14, 15, 16]), 200)
    assert ts.capacity == 4 and sorted(reused.tolist()) == [0, 1, 2, 3]
