"""``adas bench replay``: end-to-end replay throughput against the bare model's, in one run.

Two figures on the same clip, the same model, the same ONNX Runtime session and settings:

* ``inference_fps``: the bare session replay uses (``InferenceSession.run`` through
  :class:`adas.detect.session.OnnxSession`, the same thread count) on the clip's frames
  already preprocessed into model tensors; no decoding, no preprocessing, no box decoding, no
  chain, no outputs. The ceiling replay could reach if everything else were free or perfectly
  overlapped. On a small machine replay keeps one core from the model
  (``[replay] small_machine_cpus``), so the model alone at ONNX Runtime's default
  thread count is measured too (``inference_fps_ort_default_threads``, and
  ``replay_over_ort_default``).
* ``replay_fps``: ``adas replay`` of the clip with every output (events, frames.csv,
  results.mcap with images, annotated.mp4, report.html, summary.json): frames over the wall
  time of the whole :func:`adas.replay.replay_drive` call, from opening the clip to the last
  file closed. The session is loaded (and warmed up) before both measurements, so neither
  pays for it.

``ratio``: replay over inference frames/s, how much of the model's throughput replay keeps
(issue 5's target: >= 0.9 with YOLOX-nano on the Udacity clip). The passes alternate, one
inference pass then one replay, ``runs`` times; each fps figure is the median of its passes and
the ratio the median of the pairs' ratios, so drift in a shared machine's speed cancels. A last
sequential replay (``--sequential``: no stage overlaps another) gives the mean time of each
pipeline stage, to show where the time goes.

``cpu_ms_per_frame_outside_model`` (issue 21): the replay's process CPU time per frame minus
the model's CPU time in that replay (its thread's while in the session: ONNX Runtime computes in
the calling thread with one intra-op thread; with more, the bare pass's figure stands in) and
minus ``decode_cpu_ms_per_frame``, the input's decoder run alone (a GPU host decodes in
hardware). ``cpu_ms_per_frame_outside_bare_model`` subtracts the bare pass's model CPU instead,
so it also charges replay with the model's slowdown beside replay's other threads (shared
caches and memory: on a 2-CPU machine the model took 0-10 % more CPU in the replay).
``cpu_ms_per_frame_outside_model_sequential``: the same figure for ``--sequential`` replays
(the model's CPU in them subtracted), the work itself without two busy cores slowing each
other: on the 2-CPU machine of the figures in the README a pure-Python loop ran 10-24 % slower
beside a second one, and in a pipelined replay the decoding took 25-40 %, the preprocessing
40-55 % and the model 0-10 % more CPU than in a sequential one.

What bounds the ratio: replay also decodes the video, preprocesses, decodes boxes, runs the chain
and writes the outputs. Overlapping those with inference (replay's four threads) hides them only
on cores the model leaves idle; where ONNX Runtime already uses every core (its default: one
thread per physical core) they add their CPU time to every frame's.
"""

from __future__ import annotations

import logging
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from adas import app
from adas.allocator import keep_freed_memory
from adas.detect.detector import Detector
from adas.errors import AdasError
from adas.replay import ReplayOptions, replay_config, replay_drive

log = logging.getLogger(__name__)


def decode_cpu_s_per_frame(clip: Path, runs: int = 3) -> float:
    """Process CPU s per frame of decoding ``clip`` alone with the decoder replay's video
    source uses (the median of ``runs`` passes): the part a GPU host would do in hardware."""
    from adas.sources import decode_cpu_ms_per_frame

    return statistics.median(decode_cpu_ms_per_frame(clip) for _ in range(max(runs, 1))) / 1e3


def bench_replay(
    clip: str | Path,
    model: str | None = None,
    *,
    runs: int = 5,
    ego_speed_mps: float = 25.0,
    config_file: Path | None = None,
    video: bool = True,
    mcap_images: bool = True,
) -> dict[str, Any]:
    """Measure inference-only and end-to-end replay frames/s on ``clip`` (see module doc)."""
    if runs < 1:
        msg = f"runs = {runs}: must be at least 1"
        raise AdasError(msg)
    clip = Path(clip)
    keep_freed_memory()  # as replay_drive does, before the bare model's passes too
    options = ReplayOptions(
        config_file=config_file, model=model, ego_speed_mps=ego_speed_mps, force=True,
        video=video, mcap_images=mcap_images, progress=False,
    )  # fmt: skip
    config = replay_config(options)
    with app.open_input(clip, config) as source:
        items = list(source)
        skipped = dict(source.skipped)
    if not items:
        msg = f"{clip}: no readable frame (skipped: {skipped or 'none'})"
        raise AdasError(msg)
    camera, _ = app.select_camera(items[0], config)
    # The same cached detector (and ONNX session) replay_drive will use in this process.
    pipe = app.pipeline(config, camera)
    det = pipe.detector
    tensors = [pipe.prepare(it.frame).tensor for it in items]
    det.session.run(tensors[0])  # first-run allocations

    model_cpu: list[float] = []  # process CPU s per frame of each bare-model pass

    def inference_pass(session: Any = det.session) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        for x in tensors:
            session.run(x)
        model_cpu.append((time.process_time() - c0) / len(tensors))
        return len(tensors) / (time.perf_counter() - t0)

    # The model alone at ONNX Runtime's own default (every physical core), for reference when
    # replay keeps a core for itself ([replay] small_machine_cpus).
    default_threads = config.detect.intra_op_threads == 0
    own = det if default_threads else Detector(replace(config.detect, intra_op_threads=0))
    own.session.run(tensors[0])
    all_cores_fps = statistics.median(inference_pass(own.session) for _ in range(runs))

    model_cpu.clear()  # the ORT-default pass above ran other threads
    infer_fps, replay_fps, summary_fps, outside, with_decode = [], [], [], [], []
    in_replay, outside_bare = [], []  # the model's CPU in the replay; outside the bare model's
    # The model's own CPU in the replay is its thread's while in the session (ONNX Runtime
    # computes in the calling thread with one intra-op thread); with more, the pool threads
    # are not in that figure, and the bare pass's stands in for it.
    in_situ = config.detect.intra_op_threads == 1
    frames = 0
    decode_cpu = decode_cpu_s_per_frame(clip, runs)
    with tempfile.TemporaryDirectory(prefix="adas-bench-replay-") as tmp:
        out = Path(tmp) / "out"
        replay_drive(clip, out, options)  # warm-up: codecs, caches, lazy imports
        for _ in range(runs):
            infer_fps.append(inference_pass())
            s0 = det.session.run_cpu_ns
            t0, c0 = time.perf_counter(), time.process_time()
            summary = replay_drive(clip, out, options)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            frames = summary.frames
            replay_fps.append(frames / wall)
            in_replay.append((det.session.run_cpu_ns - s0) * 1e-9 / frames)
            # Replay's CPU per frame beyond the model's, with and without the input's decoding:
            # the model's CPU in this replay, and (outside_bare) this pair's bare pass's, which
            # also charges the model's slowdown beside replay's other threads to replay.
            beyond = cpu / frames - (in_replay[-1] if in_situ else model_cpu[-1])
            with_decode.append(beyond * 1e3)
            outside.append((beyond - decode_cpu) * 1e3)
            outside_bare.append((cpu / frames - model_cpu[-1] - decode_cpu) * 1e3)
            if summary.frames_per_s is not None:
                summary_fps.append(summary.frames_per_s)
        # The same work with no stage beside another (--sequential): on a small machine two
        # busy cores slow each other (shared caches, memory, maybe one physical core), which
        # the pipelined replay's CPU figure includes and this one does not.
        # The last one also says where the time goes: mean per pipeline stage and per output.
        seq_outside = []
        timing: dict[str, int] = {}
        for k in range(runs):
            last = replace(options, pipelined=False, sink_timing=timing if k == runs - 1 else None)
            s0, c0 = det.session.run_cpu_ns, time.process_time()
            seq = replay_drive(clip, out, last)
            cpu, in_model = time.process_time() - c0, (det.session.run_cpu_ns - s0) * 1e-9
            seq_outside.append(((cpu - in_model) / seq.frames - decode_cpu) * 1e3)
    stages = {k: round(v.to_json()["mean_ms"], 3) for k, v in seq.latency.items()}
    n_seq = max(seq.frames, 1)
    outputs_ms = {k: round(v / n_seq * 1e-6, 3) for k, v in sorted(timing.items())}
    inference = statistics.median(infer_fps)
    end_to_end = statistics.median(replay_fps)
    # Pair by pair (each replay with the inference pass just before it), so drift in the
    # machine's speed cancels; the quoted ratio is the median of these.
    ratios = [r / i for r, i in zip(replay_fps, infer_fps, strict=True)]
    return {
        "benchmark": "replay",
        "clip": str(clip),
        "frames": frames,
        "model": det.spec.name,
        "input_wh": list(det.session.input_wh),
        "providers_used": det.providers_used,
        "outputs": {"video": video, "mcap_images": mcap_images},
        "runs": runs,
        "inference_fps": round(inference, 2),
        "replay_fps": round(end_to_end, 2),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_runs": [round(x, 3) for x in ratios],
        "intra_op_threads": config.detect.intra_op_threads,
        "inference_fps_ort_default_threads": round(all_cores_fps, 2),
        "replay_over_ort_default": round(end_to_end / all_cores_fps, 3),
        "inference_fps_runs": [round(x, 2) for x in infer_fps],
        "replay_fps_runs": [round(x, 2) for x in replay_fps],
        # The drive's own summary.json figure: wall time from the first frame to the last
        # output closed (excludes opening the clip).
        "replay_summary_fps_median": round(statistics.median(summary_fps), 2)
        if summary_fps
        else None,
        "cpu_ms_per_frame_outside_model": round(statistics.median(outside), 3),
        "cpu_ms_per_frame_outside_model_with_decode": round(statistics.median(with_decode), 3),
        "decode_cpu_ms_per_frame": round(decode_cpu * 1e3, 3),
        "model_cpu_ms_per_frame": round(statistics.median(model_cpu) * 1e3, 3),
        "model_cpu_ms_per_frame_in_replay": round(statistics.median(in_replay) * 1e3, 3),
        "model_cpu_subtracted": "in_replay" if in_situ else "bare",
        "cpu_ms_per_frame_outside_bare_model": round(statistics.median(outside_bare), 3),
        "cpu_ms_per_frame_outside_model_sequential": round(statistics.median(seq_outside), 3),
        "cpu_outside_model_runs": [round(x, 3) for x in outside],
        "sequential_replay_fps": round(seq.frames_per_s or 0.0, 2),
        "sequential_stage_mean_ms": stages,
        # Wall ms per frame of each output in the sequential replay (writes; ".close" once,
        # spread over the frames): the outputs' share of the CPU outside the model.
        "sequential_output_ms_per_frame": outputs_ms,
        "machine": {"cpu_count": app.usable_cpus(), "platform": platform.platform()},
    }
