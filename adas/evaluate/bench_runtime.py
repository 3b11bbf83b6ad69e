"""``adas bench runtime``: capture-to-CAN latency of ``adas run`` with the stand-in camera.

The clip is played as a camera (frames stamped when handed over, like a camera driver) into the
real runtime loop, whose commands go to a python-can virtual bus through the real CAN output
(DBC encoding, E2E counter and CRC). Two runs:

* ``30fps``: the clip played at 30 frames/s, a camera's rate;
* ``10x``: played at ten times the rate the pipeline sustains here (measured first, in the
  same run), so the latest-frame policy must drop most frames and latency must stay bounded.

Per run: capture-to-send latency p50/p95/p99/max of every command that answers a frame,
frames offered, processed, replaced while the pipeline was busy, dropped as stale, and the
process's resident memory after the first tenth of the run and at the end ("memory flat").
Per run also the time of each pipeline stage and of the rest of the cycle (``other``: waking
for the frame, the CAN command), p50/p95/p99.

The target (issue 7): p99 <= inference median + 10 ms, the inference median being the bare
ONNX session on the clip's tensors run back to back, timed in the same process before and
after the runs. ``model_paced_30fps_ms`` is the same bare session run once every 1/30 s: the
model's own tail when it idles between frames, which no runtime can go below. On shared
virtual machines (2 cores here) its p99 alone can exceed the median by more than 10 ms.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import AdasError

log = logging.getLogger(__name__)

TARGET_MARGIN_MS = 10.0


def _rss_mb() -> float:
    """Resident set size of this process [MiB] (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pct(ns: list[int]) -> dict[str, float]:
    a = np.asarray(ns, np.float64) / 1e6
    if a.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
    }


def _time_model(session: Any, tensors: list[np.ndarray], n: int, fps: float = 0.0) -> list[int]:
    """``n`` runs of the bare session [ns each], back to back or one every 1/``fps`` s."""
    out = []
    due = time.perf_counter()
    for k in range(n):
        if fps:
            due += 1.0 / fps
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        t0 = time.perf_counter_ns()
        session.run(tensors[k % len(tensors)])
        out.append(time.perf_counter_ns() - t0)
    return out


def bench_runtime(
    clip: str | Path,
    model: str | None = None,
    *,
    seconds: float = 10.0,
    config_file: Path | None = None,
    ego_speed_mps: float = 20.0,
) -> dict[str, Any]:
    """Run the stand-in camera at 30 fps and at 10x the sustainable rate; see module doc."""
    import can

    from adas import app
    from adas.config import load_config
    from adas.pipeline import STAGES
    from adas.runtime.core import Cycle
    from adas.sources.camera import player_frames
    from adas.types import EgoState

    if not 1.0 <= seconds <= 3600.0:
        msg = f"seconds = {seconds}: allowed range is [1, 3600]"
        raise AdasError(msg)
    clip = Path(clip)
    config = load_config(config_file)
    if model:
        config = replace(config, detect=replace(config.detect, model=model))
    with app.open_input(clip, config) as source:
        items = list(source)
    if len(items) < 2:
        msg = f"{clip}: needs at least 2 readable frames, found {len(items)}"
        raise AdasError(msg)
    recorded_fps = (len(items) - 1) * 1e9 / (items[-1].frame.t_ns - items[0].frame.t_ns)
    camera, _ = app.select_camera(items[0], config)
    base = app.pipeline(config, camera)  # each run's pipeline shares its detector
    det = base.detector

    # The model alone, back to back (the target's "inference median"), and the whole pipeline
    # per frame, sequentially: what it sustains. A few tensors spread over the clip suffice
    # (all of them would hold 2 MB a frame through the runs).
    tensors = [base.prepare(it.frame).tensor for it in items[:: max(1, len(items) // 30)]]
    n_model = max(90, len(tensors))
    infer_ns = _time_model(det.session, tensors, n_model)
    per_frame = []
    ego0 = EgoState(0, ego_speed_mps)
    for it in items:
        t0 = time.perf_counter_ns()
        base.process(it.frame, replace(ego0, t_ns=it.frame.t_ns))
        per_frame.append(time.perf_counter_ns() - t0)
    sustainable_fps = 1e9 / statistics.median(per_frame)
    # The model alone at the camera's pace: its own tail when it waits between frames, the
    # floor under the runtime's latency (see model_paced_30fps_ms in the report).
    paced_ns = _time_model(det.session, tensors, round(seconds * 30.0), fps=30.0)

    def run(name: str, offered_fps: float) -> dict[str, Any]:
        rate = offered_fps / recorded_fps
        loops = max(1, round(seconds * offered_fps / len(items)))
        bus_a = can.Bus(interface="virtual", channel=f"adas-bench-{os.getpid()}-{name}")
        latencies: list[int] = []
        rss: list[float] = []
        total = loops * len(items)

        started = time.perf_counter()

        stages: dict[str, list[int]] = {k: [] for k in (*STAGES, "other")}

        def on_cycle(cycle: Cycle) -> None:
            if cycle.latency_ns is not None and cycle.frame_t_ns is not None:
                latencies.append(cycle.latency_ns)
            if cycle.result is not None and cycle.latency_ns is not None:
                spent = cycle.result.latency_ns
                for k in STAGES:
                    stages[k].append(spent.get(k, 0))
                # Waking up for the frame, the CAN command, the loop's own work.
                stages["other"].append(cycle.latency_ns - sum(spent.get(k, 0) for k in STAGES))
            if not rss and time.perf_counter() - started >= seconds / 10:
                rss.append(_rss_mb())

        runtime, output = app.build_runtime(
            config, camera, player_frames(lambda: iter(items), rate=rate, loops=loops),
            ego=app.fixed_ego(ego_speed_mps), bus=bus_a, on_status=lambda s: None,
            on_cycle=on_cycle,
        )  # fmt: skip
        core = runtime.core
        t0 = time.perf_counter()
        final = runtime.run()
        wall = time.perf_counter() - t0
        output.close()
        bus_a.shutdown()
        lat = _pct(latencies)
        return {
            "name": name,
            "offered_fps": round(offered_fps, 2),
            "wall_s": round(wall, 2),
            "frames_offered": total,
            "frames_taken": core.counts["frames"],
            "processed": core.counts["processed"],
            "processed_fps": round(core.counts["processed"] / wall, 2),
            "dropped_busy": runtime.slot.replaced,
            "dropped_stale": core.counts["dropped_stale"],
            "commands": core.counts["commands"],
            "unavailable_commands": core.counts["unavailable_commands"],
            "can_errors": core.counts["can_errors"],
            "latency_ms": lat,
            # The model's own share, inside the loop: its tail is most of the latency's.
            "infer_in_loop_ms": _pct(stages["infer"]),
            "stages_ms": {k: _pct(v) for k, v in stages.items()},
            "rss_mb_after_first_tenth": round(rss[0], 1) if rss else None,
            "rss_mb_end": round(_rss_mb(), 1),
            "state": final["state"],
        }

    runs = [run("30fps", 30.0), run("10x", 10.0 * sustainable_fps)]
    # Once more after the runs: a machine that was busy at the start shows here.
    infer_ns += _time_model(det.session, tensors, n_model)
    inference_ms = statistics.median(infer_ns) / 1e6
    target_ms = inference_ms + TARGET_MARGIN_MS
    for r in runs:
        r["within_target"] = bool(r["latency_ms"]["p99"] <= target_ms)
    return {
        "benchmark": "runtime",
        "clip": str(clip),
        "model": det.spec.name,
        "providers_used": det.providers_used,
        "recorded_fps": round(recorded_fps, 2),
        "inference_median_ms": round(inference_ms, 3),
        "inference_ms": _pct(infer_ns),
        "model_paced_30fps_ms": _pct(paced_ns),
        "pipeline_median_ms": round(statistics.median(per_frame) / 1e6, 3),
        "sustainable_fps": round(sustainable_fps, 2),
        "target_p99_ms": round(target_ms, 3),
        "runs": runs,
        "within_target": all(r["within_target"] for r in runs),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
