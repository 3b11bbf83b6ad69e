"""``adas replay`` of many drives: a process pool or Ray tasks, one drive per task.

Each worker process loads the model once (:func:`adas.app.pipeline`) and reuses it; one
drive's failure costs the others nothing (it is reported with its error). The merged
``summary.json`` of all drives is written at the end (:func:`adas.sinks.summary.merge_summaries`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from adas.replay import ReplayError, ReplayOptions, replay_drive
from adas.sinks.summary import DriveSummary, merge_summaries

log = logging.getLogger(__name__)


def _replay_task(path: str, out_dir: str, options: ReplayOptions) -> dict[str, Any]:
    """One drive in a worker (process pool or Ray): the summary as JSON, or the error."""
    try:
        return {"ok": True, "summary": replay_drive(path, out_dir, options).to_json()}
    except Exception as err:  # one drive's failure must not cost the others their results
        log.exception("replay of %s failed", path)
        return {"ok": False, "drive": path, "error": f"{type(err).__name__}: {err}"}


def drive_dirs(paths: Sequence[str | Path], out_dir: Path) -> list[Path]:
    """One output folder per drive, named after it (``name``, ``name-2`` on clashes)."""
    seen: Counter[str] = Counter()
    dirs = []
    for p in paths:
        stem = Path(p).name.split(".")[0] or "drive"
        seen[stem] += 1
        dirs.append(out_dir / (stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"))
    return dirs


def replay_many(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    options: ReplayOptions | None = None,
    *,
    workers: int = 1,
    engine: str = "process",
    address: str | None = None,
) -> tuple[DriveSummary, list[dict[str, Any]]]:
    """Replay several drives, each into ``out_dir/<drive name>``, and write the merged
    ``out_dir/summary.json``. Returns it and the failures ({"drive", "error"})."""
    options = options or ReplayOptions()
    out = Path(out_dir)
    dirs = drive_dirs(paths, out)
    merged_path = out / "summary.json"
    if merged_path.exists() and not options.force:
        msg = f"{merged_path} exists; pass --force to replace it"
        raise ReplayError(msg)
    out.mkdir(parents=True, exist_ok=True)
    opts = replace(options, progress=False)
    jobs = [(str(p), str(d), opts) for p, d in zip(paths, dirs, strict=True)]
    if engine == "ray":
        results = _run_ray(jobs, address)
    elif engine == "process" and workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_replay_task, *zip(*jobs, strict=True)))
    elif engine == "process":
        results = [_replay_task(*job) for job in jobs]
    else:
        msg = f"engine {engine!r}: use 'process' or 'ray'"
        raise ReplayError(msg)
    good = [DriveSummary.from_json(r["summary"]) for r in results if r["ok"]]
    failures = [{"drive": r["drive"], "error": r["error"]} for r in results if not r["ok"]]
    merged = merge_summaries(good, name=f"{len(good)} drives")
    merged.write(merged_path)
    return merged, failures


def _run_ray(jobs: list[tuple[str, str, ReplayOptions]], address: str | None) -> list[Any]:
    """One Ray task per drive (extra ``cluster``); Ray reuses worker processes, so each loads
    the model once. ``address`` None starts a local Ray."""
    try:
        import ray
    except ImportError as err:
        msg = "--engine ray needs Ray: pip install 'adas-perception[cluster]'"
        raise ReplayError(msg) from err
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        task = ray.remote(_replay_task)
        return list(ray.get([task.remote(*job) for job in jobs]))
    finally:
        if started:
            ray.shutdown()
