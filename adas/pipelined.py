"""A recording's frames through a pipeline's detector half, overlapped or one after another.

:func:`pipelined`: decoding, preprocessing and the model each run in a thread of their own,
joined by bounded queues (ONNX Runtime and OpenCV release the GIL), and the model's outputs are
decoded into boxes in the consumer's thread: the model's thread does nothing but run the model,
the stage that bounds the throughput (on the shared clip box decoding took 1.1 ms of each
frame's 15.5 there). Every stage takes frames in order, so the results equal
:func:`sequential`'s exactly. Both yield ``(item, (detections,
latency))`` in frame order, or ``(item, exception)`` for a frame a stage refused; the caller
runs the chain (:meth:`adas.pipeline.Pipeline.post`) and counts the refusals. In
:func:`pipelined` a failure of the source itself arrives with the exception in the item's
place and ends the stream; :func:`sequential` raises it. Used by ``adas replay``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from adas.pipeline import Pipeline
from adas.sources import SourceItem

QUEUE_DEPTH = 4  # frames in flight between two stages: bounded memory, enough to overlap

_END = object()


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put unless the run stops first (a full queue never blocks a thread for good)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    while not stop.is_set():
        try:
            return q.get(timeout=0.05)
        except queue.Empty:
            continue
    return _END


def _stage(
    fn: Callable[[Any], Any], src: queue.Queue[Any], dst: queue.Queue[Any], stop: threading.Event
) -> None:
    """Apply ``fn`` to each item of ``src`` in order; exceptions travel on as values."""
    while (item := _get(src, stop)) is not _END:
        try:
            out = fn(item)
        except Exception as err:  # handed to the consumer, which counts it
            out = (item, err)
        if not _put(dst, out, stop):
            return
    _put(dst, _END, stop)


def pipelined(
    items: Iterator[SourceItem], pipe: Pipeline, stop: threading.Event
) -> Iterator[tuple[Any, Any]]:
    """(item, (detections, latency)) in order, or (item, exception), with decode, preprocess
    and the model each in a thread of their own, the boxes decoded in the caller's. The
    threads start at once: the first frame is on its way while the caller prepares its
    outputs. Setting ``stop`` (or closing the iterator once it has started) ends every
    thread within one queue timeout."""
    q0: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
    q1: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
    q2: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)

    def read() -> None:
        try:
            for it in items:
                if not _put(q0, it, stop):
                    return
        except Exception as err:  # a source failure ends the drive, reported by the consumer
            _put(q0, err, stop)
        _put(q0, _END, stop)

    def prep(it: Any) -> Any:
        if isinstance(it, Exception):
            raise it
        return it, pipe.prepare(it.frame)

    def run_model(x: Any) -> Any:
        it, prepared = x
        if isinstance(prepared, Exception):
            return x
        try:
            return it, pipe.run_model(prepared)
        except Exception as err:  # counted by the consumer, like a preprocessing failure
            return it, err

    workers = [
        threading.Thread(target=read, daemon=True, name="replay-decode"),
        threading.Thread(target=_stage, args=(prep, q0, q1, stop), daemon=True),
        threading.Thread(target=_stage, args=(run_model, q1, q2, stop), daemon=True),
    ]
    for w in workers:
        w.start()
    return _Stream(_results(q2, pipe), workers, stop)


class _Stream(Iterator[tuple[Any, Any]]):
    """The results, and ``close``: stop every thread and wait for it, whether or not the
    results were read (a generator never started would not run its ``finally``)."""

    def __init__(
        self, results: Iterator[Any], workers: list[threading.Thread], stop: threading.Event
    ) -> None:
        self._results, self._workers, self._stop = results, workers, stop

    def __next__(self) -> tuple[Any, Any]:
        return next(self._results)

    def close(self) -> None:
        self._stop.set()  # every thread sees it within one queue timeout
        for w in self._workers:
            w.join(timeout=5.0)


def _results(q2: queue.Queue[Any], pipe: Pipeline) -> Iterator[tuple[Any, Any]]:
    """The model's outputs from ``q2`` decoded into boxes, in the consumer's thread."""
    while (out := q2.get()) is not _END:
        it, run = out if isinstance(out, tuple) else (out, None)
        if isinstance(it, Exception) or isinstance(run, Exception):
            yield out
            continue
        try:
            found = pipe.finish(run)
        except Exception as err:  # counted by the consumer
            yield it, err
            continue
        yield it, found


def sequential(items: Iterator[SourceItem], pipe: Pipeline) -> Iterator[tuple[Any, Any]]:
    """The same stream as :func:`pipelined`, in the calling thread (``--sequential``)."""
    for it in items:
        try:
            yield it, pipe.infer(pipe.prepare(it.frame))
        except Exception as err:
            yield it, err
