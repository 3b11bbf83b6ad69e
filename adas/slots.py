"""Rows of per-track state arrays, keyed by track id, for stages that keep state per track.

A free list of rows, doubling growth, and dropping ids not seen for a timeout: the stage keeps
its own arrays (any dtype, any trailing shape) and pads them with :meth:`TrackSlots.fit`
whenever :attr:`capacity` has grown.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class TrackSlots:
    """Track id -> row; rows are reused after their id is dropped (ids are never reused)."""

    def __init__(self, capacity: int = 64) -> None:
        self.reset(capacity)

    def reset(self, capacity: int = 64) -> None:
        self.ids: dict[int, int] = {}
        self._free = list(range(capacity - 1, -1, -1))
        self.slot_id = np.full(capacity, -1, np.int64)  # track id of each row, -1 = free
        self.seen_ns = np.zeros(capacity, np.int64)  # last time the id was in the input

    @property
    def capacity(self) -> int:
        return int(self.slot_id.shape[0])

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, track_ids: npt.ArrayLike, t_ns: int) -> tuple[IntArray, list[int]]:
        """Rows of ``track_ids`` (new ids get free rows), all marked seen at ``t_ns``.

        Returns the rows and the list of rows just created, whose state the caller must set.
        """
        get, ids = self.ids.get, np.asarray(track_ids).tolist()
        rows = [get(i, -1) for i in ids]
        new: list[int] = []
        if -1 in rows:
            for r, i in enumerate(ids):
                if rows[r] < 0:
                    rows[r] = self.ids[i] = self._take(i)
                    new.append(rows[r])
        out = np.array(rows, np.int64)
        self.seen_ns[out] = t_ns
        return out, new

    def drop_stale(self, t_ns: int, timeout_ns: int) -> None:
        """Free the rows of ids not seen for more than ``timeout_ns``."""
        for s in _stale(self.slot_id, self.seen_ns, t_ns, timeout_ns).tolist():
            del self.ids[int(self.slot_id[s])]
            self.slot_id[s] = -1
            self._free.append(s)

    def fit(self, arr: npt.NDArray[Any], fill: Any = 0) -> npt.NDArray[Any]:
        """``arr`` padded along its first axis with ``fill`` to the current capacity."""
        return arr if arr.shape[0] >= self.capacity else self.fit_to(arr, self.capacity, fill)

    def _take(self, track_id: int) -> int:
        if not self._free:
            old = self.capacity
            self._free = list(range(2 * old - 1, old - 1, -1))
            self.slot_id = self.fit_to(self.slot_id, 2 * old, -1)
            self.seen_ns = self.fit_to(self.seen_ns, 2 * old, 0)
        s = self._free.pop()
        self.slot_id[s] = track_id
        return s

    @staticmethod
    def fit_to(arr: npt.NDArray[Any], size: int, fill: Any) -> npt.NDArray[Any]:
        """``arr`` padded along its first axis with ``fill`` to ``size`` rows."""
        extra = size - arr.shape[0]
        return np.concatenate([arr, np.full((extra, *arr.shape[1:]), fill, arr.dtype)])


@numba.njit("i8[::1](i8[:], i8[:], i8, i8)", cache=True, nogil=True)
def _stale(slot_id: IntArray, seen_ns: IntArray, t_ns: int, timeout_ns: int) -> IntArray:
    """Rows holding an id (``slot_id >= 0``) last seen more than ``timeout_ns`` before
    ``t_ns``, in order: ``np.flatnonzero((slot_id >= 0) & (t_ns - seen_ns > timeout_ns))``
    in one call (int64 arithmetic, wrapping as numpy's)."""
    rows = np.empty(slot_id.size, np.int64)
    m = 0
    for s in range(slot_id.size):
        if slot_id[s] >= 0 and t_ns - seen_ns[s] > timeout_ns:
            rows[m] = s
            m += 1
    return rows[:m].copy()
