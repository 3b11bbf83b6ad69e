"""``adas bench``: speed benchmarks, each a JSON report (stdout by default, ``--json PATH``
for a file): the tracking chain, preprocessing, the detector, end-to-end replay and the
capture-to-CAN latency of ``adas run``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from adas.cli.common import (
    HelpFormatter,
    UsageError,
    add_config_arg,
    add_json_arg,
    add_model_arg,
    check_input,
    check_output,
    check_range,
    check_text_input,
    emit_json,
)

CLIP = "$ADAS_DATA_DIR/video/udacity/test_video.mp4"

BENCH_EXAMPLES = f"""\
examples:
  adas bench chain --objects 32 --frames 2000
  adas bench preprocess --repeats 200 --json preprocess.json
  adas bench detect --models yolox_nano,fastestdet --providers cuda,cpu
  adas bench replay --model yolox_nano --input {CLIP} --json -
  adas bench runtime --model yolox_nano --input {CLIP} --seconds 10

Every benchmark writes one JSON report: to stdout unless --json PATH names a file."""

REPLAY_EXAMPLE = f"""\
example:
  $ adas bench replay --model yolox_nano --input {CLIP} --json -
  {{"benchmark": "replay", ..., "inference_fps": ..., "replay_fps": ..., "ratio": ...}}"""

CHAIN_WARMUP_FRAMES = 30  # frames adas.evaluate.bench.bench_chain leaves out of the timing


def add_parser(sub: Any) -> None:
    """``bench`` and its benchmarks under the top-level subparsers ``sub``."""
    be = sub.add_parser(
        "bench",
        help="speed benchmarks (JSON)",
        description="Speed benchmarks. Run `adas bench BENCHMARK --help` for the options.",
        epilog=BENCH_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    bes = be.add_subparsers(dest="what", required=True, metavar="BENCHMARK")

    def bench(name: str, help_: str, description: str | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = bes.add_parser(
            name, help=help_, description=description or help_, formatter_class=HelpFormatter
        )
        return p

    ch = bench("chain", "tracker + distance + motion per frame")
    ch.set_defaults(handler=chain)
    ch.add_argument("--objects", type=int, default=32, help="cars in the synthetic scene")
    ch.add_argument("--frames", type=int, default=2000, help="frames timed (30 Hz scene)")
    add_json_arg(ch, "the report", default="-")

    pp = bench("preprocess", "1920x1080 -> 416x416: reference vs OpenCV")
    pp.set_defaults(handler=preprocess)
    pp.add_argument("--repeats", type=int, default=200, help="timed runs of each variant")
    add_json_arg(pp, "the report", default="-")

    de = bench("detect", "detector latency per model and provider")
    de.set_defaults(handler=detect)
    de.add_argument(
        "--models", default="", help="comma-separated registry names or paths (default: all)"
    )
    de.add_argument("--providers", default="cpu", help="comma-separated: tensorrt,cuda,cpu")
    de.add_argument("--image", type=Path, default=None, help="a real frame (default: random)")
    de.add_argument("--runs", type=int, default=50, help="timed inferences per model")
    de.add_argument("--tiles", type=int, default=1, help="1 = plain single pass, 0 = automatic")
    de.add_argument(
        "--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its own)"
    )
    add_json_arg(de, "the report", default="-")

    bt = bench("runtime", "capture-to-CAN latency of adas run, stand-in camera")
    bt.set_defaults(handler=runtime)
    bt.add_argument("--input", required=True, type=Path, help="clip played as the camera")
    add_model_arg(bt)
    add_config_arg(bt)
    bt.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    add_json_arg(bt, "the report", default="-")

    br = bench(
        "replay", "end-to-end replay frames/s vs the bare model's on the same clip", REPLAY_EXAMPLE
    )
    br.set_defaults(handler=replay)
    br.add_argument("--input", required=True, type=Path, help="clip: video, bag, MCAP, images")
    add_model_arg(br)
    add_config_arg(br)
    br.add_argument("--runs", type=int, default=5, help="passes of each measurement (median)")
    br.add_argument("--ego-speed-mps", type=float, default=25.0, help="video without ego data")
    br.add_argument("--no-video", action="store_true", help="replay without annotated video")
    br.add_argument("--no-images", action="store_true", help="replay without MCAP images")
    add_json_arg(br, "the report", default="-")


def chain(args: argparse.Namespace) -> int:
    """``adas bench chain``: tracker, distance and motion on a synthetic 30 Hz scene."""
    check_range("--objects", args.objects, 1, 512)
    check_range("--frames", args.frames, CHAIN_WARMUP_FRAMES + 1, 1_000_000)
    check_output(args.json, "--json")
    from adas.evaluate.bench import bench_chain

    emit_json(bench_chain(n_objects=args.objects, n_frames=args.frames), args.json)
    return 0


def preprocess(args: argparse.Namespace) -> int:
    """``adas bench preprocess``: the reference letterbox against OpenCV's."""
    check_range("--repeats", args.repeats, 5, 100_000)
    check_output(args.json, "--json")
    from adas.evaluate.bench_preprocess import bench_preprocess

    emit_json(bench_preprocess(repeats=args.repeats), args.json)
    return 0


def detect(args: argparse.Namespace) -> int:
    """``adas bench detect``: detector latency per model and onnxruntime provider."""
    check_range("--runs", args.runs, 1, 100_000)
    check_range("--tiles", args.tiles, 0, 8)
    check_input(args.image, "image")
    check_output(args.json, "--json")
    from adas.evaluate.bench_detect import bench_detect

    image = None
    if args.image is not None:
        import cv2

        image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if image is None:
            msg = f"cannot read image {args.image}"
            raise UsageError(msg)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    report = bench_detect(
        models, providers, image=image, runs=args.runs, tiles=args.tiles, threads=args.threads
    )
    emit_json(report, args.json)
    return 0


def replay(args: argparse.Namespace) -> int:
    """``adas bench replay``: end-to-end replay frames/s against the bare model's."""
    check_range("--runs", args.runs, 1, 1000)
    check_input(args.input, "input", folder_ok=True)
    check_text_input(args.config, "config file")
    check_output(args.json, "--json")
    from adas.evaluate.bench_replay import bench_replay

    report = bench_replay(
        args.input, args.model, runs=args.runs, ego_speed_mps=args.ego_speed_mps,
        config_file=args.config, video=not args.no_video, mcap_images=not args.no_images,
    )  # fmt: skip
    emit_json(report, args.json)
    return 0


def runtime(args: argparse.Namespace) -> int:
    """``adas bench runtime``: capture-to-CAN latency of ``adas run`` on a stand-in camera."""
    check_input(args.input, "input", folder_ok=True)
    check_text_input(args.config, "config file")
    check_output(args.json, "--json")
    from adas.evaluate.bench_runtime import bench_runtime

    report = bench_runtime(args.input, args.model, seconds=args.seconds, config_file=args.config)
    emit_json(report, args.json)
    return 0
