"""The ``adas`` command. Arguments are parsed before heavy imports so ``--help`` is instant.

SYNOPSIS

    $ adas eval kitti-tracking --root ../shared/data/kitti/tracking --json eval.json
    distance  5-20 m: n=3471 median 3.9 %  p90 9.9 %
    ...
    $ adas bench chain --json
    {"benchmark": "chain", "objects": 32, "chain_us": {"median": ...}, ...}
    $ adas eval kitti-object --root ../shared/data/kitti/object --json det.json
    cars: 26 to find, ... recall ... precision ...
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adas",
        description="Forward-camera collision-avoidance perception stack.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  adas eval kitti-tracking --root $ADAS_DATA_DIR/kitti/tracking --json eval.json\n"
            "  adas eval kitti-object --root $ADAS_DATA_DIR/kitti/object --json det.json\n"
            "  adas bench chain --json\n"
            "  adas bench preprocess --json\n"
            "  adas bench detect --json\n"
            "  adas bench replay --input CLIP --json"
        ),
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = p.add_subparsers(dest="command", required=True)

    _replay_parser(sub)
    _run_parser(sub)
    ev = sub.add_parser("eval", help="accuracy evaluations on real ground truth")
    evs = ev.add_subparsers(dest="dataset", required=True)
    kt = evs.add_parser(
        "kitti-tracking",
        help="distance, TTC and tracking on KITTI tracking labels",
        description=(
            "Feed KITTI tracking ground-truth 2D boxes through tracker -> distance -> motion "
            "and score distance, TTC and track identity against the 3D labels."
        ),
    )
    kt.add_argument("--root", required=True, type=Path, help="folder with label_02/ and calib/")
    kt.add_argument("--sequences", default="", help="comma-separated, e.g. 0001,0002 (default all)")
    kt.add_argument("--box-noise-px", type=float, default=0.0, help="Gaussian noise on box edges")
    kt.add_argument("--seed", type=int, default=0, help="seed of the box noise")
    kt.add_argument("--json", type=Path, default=None, help="write the report here ('-': stdout)")

    ko = evs.add_parser(
        "kitti-object",
        help="detector recall/precision and distance on KITTI frames",
        description=(
            "Run the detector on DIR/image_2/*.png (or a KITTI tracking folder's labelled "
            "images) and score vehicles against the labels at IoU 0.5; a plain single pass "
            "of the model is measured alongside as the baseline."
        ),
    )
    ko.add_argument("--root", required=True, type=Path, help="KITTI object or tracking folder")
    ko.add_argument("--model", default="", help="registry name or .onnx path (default: registry)")
    ko.add_argument("--tiles", type=int, default=None, help="tiles in the band (0 = automatic)")
    ko.add_argument("--config", type=Path, default=None, help="TOML overriding the defaults")
    ko.add_argument("--repeats", type=int, default=3, help="timed runs per image")
    ko.add_argument("--json", type=Path, default=None, help="write the report here ('-': stdout)")

    sc = sub.add_parser(
        "scenarios",
        help="closed-loop regulatory test scenarios (NHTSA, Euro NCAP, UN R152, false reactions)",
        description=(
            "Simulate each scenario in closed loop (ego and target kinematics, brake actuator, "
            "a camera with pixel noise and missed detections) through the real chain "
            "tracker -> distance -> TTC -> danger -> control, and judge it against its protocol."
        ),
    )
    sc.add_argument(
        "--suite", default="all", choices=["nhtsa", "ncap", "r152", "false-reaction", "all"]
    )
    sc.add_argument("--trials", type=int, default=1, help="noise seeds per scenario")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--config", type=Path, default=None, help="TOML overriding the defaults")
    sc.add_argument("--fast", action="store_true", help="only the fast subset CI runs")
    sc.add_argument("--json", type=Path, default=None, help="write the results here ('-': stdout)")
    sc.add_argument("--report", type=Path, default=None, help="write an HTML report here")

    be = sub.add_parser("bench", help="speed benchmarks (JSON)")
    bes = be.add_subparsers(dest="what", required=True)
    ch = bes.add_parser("chain", help="tracker + distance + motion per frame")
    ch.add_argument("--objects", type=int, default=32)
    ch.add_argument("--frames", type=int, default=2000)
    ch.add_argument(
        "--json", nargs="?", const="-", default=None, help="write JSON (default stdout)"
    )
    pp = bes.add_parser("preprocess", help="1920x1080 -> 416x416: reference vs OpenCV")
    pp.add_argument("--repeats", type=int, default=200)
    pp.add_argument(
        "--json", nargs="?", const="-", default=None, help="write JSON (default stdout)"
    )
    de = bes.add_parser("detect", help="detector latency per model and provider")
    de.add_argument("--models", default="", help="comma-separated registry names or paths")
    de.add_argument("--providers", default="cpu", help="comma-separated: tensorrt,cuda,cpu")
    de.add_argument("--image", type=Path, default=None, help="a real frame (default: random)")
    de.add_argument("--runs", type=int, default=50)
    de.add_argument("--tiles", type=int, default=1, help="1 = plain single pass")
    de.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads")
    de.add_argument(
        "--json", nargs="?", const="-", default=None, help="write JSON (default stdout)"
    )
    bt = bes.add_parser("runtime", help="capture-to-CAN latency of adas run, stand-in camera")
    bt.add_argument("--input", required=True, type=Path, help="clip played as the camera")
    bt.add_argument("--model", default=None, help="registry name or .onnx path")
    bt.add_argument("--config", type=Path, default=None, help="TOML overriding the defaults")
    bt.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    bt.add_argument(
        "--json", nargs="?", const="-", default=None, help="write JSON (default stdout)"
    )
    br = bes.add_parser(
        "replay",
        help="end-to-end replay frames/s vs the bare model's on the same clip",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "example:\n"
            "  $ adas bench replay --model yolox_nano "
            "--input ../shared/data/video/udacity/test_video.mp4 --json -\n"
            '  {"benchmark": "replay", ..., "inference_fps": ..., "replay_fps": ..., '
            '"ratio": ...}'
        ),
    )
    br.add_argument("--input", required=True, type=Path, help="clip: video, bag, MCAP, images")
    br.add_argument("--model", default=None, help="registry name or .onnx path")
    br.add_argument("--config", type=Path, default=None, help="TOML overriding the defaults")
    br.add_argument("--runs", type=int, default=5, help="passes of each measurement (median)")
    br.add_argument("--ego-speed-mps", type=float, default=25.0, help="video without ego data")
    br.add_argument("--no-video", action="store_true", help="replay without annotated.mp4")
    br.add_argument("--no-images", action="store_true", help="replay without MCAP images")
    br.add_argument(
        "--json", nargs="?", const="-", default=None, help="write JSON (default stdout)"
    )
    return p


def _replay_parser(sub: Any) -> None:
    rp = sub.add_parser(
        "replay",
        help="replay recorded drives (bags, MCAP, video, image folders) through the pipeline",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "example:\n"
            "  $ adas replay build/demo_drive --out build/demo_replay     (make demo's bag)\n"
            "  demo_drive: 38 frames, 49.8 frames/s\n"
            "  decisions (frames): NONE 38; skipped: none\n"
            "  outputs in build/demo_replay\n"
            "  report: build/demo_replay/report.html\n\n"
            "Outputs: events.jsonl frames.csv results/results.mcap annotated.mp4 report.html "
            "summary.json.\n"
            "Several drives go to --out/<drive name>/ each, in parallel with --workers N (a "
            "process pool) or --engine ray, plus one summary.json across them."
        ),
    )
    rp.add_argument(
        "drives", nargs="+", type=Path, help="bag, .mcap, ROS 2 bag folder, video, images"
    )
    rp.add_argument("--out", required=True, type=Path, help="output folder (refused if not empty)")
    rp.add_argument("--force", action="store_true", help="replace existing outputs")
    rp.add_argument("--model", default=None, help="registry name or .onnx path")
    rp.add_argument("--camera", type=Path, default=None, help="calibration YAML (OpenCV or ROS)")
    rp.add_argument("--config", type=Path, default=None, help="TOML overriding the defaults")
    rp.add_argument(
        "--fov-deg", type=float, default=None, help="field of view if uncalibrated [deg]"
    )
    rp.add_argument("--image-topic", default=None)
    rp.add_argument("--camera-info-topic", default=None)
    rp.add_argument("--ego-topic", default=None, help="Odometry, TwistStamped or speed topic")
    rp.add_argument(
        "--ego-csv", type=Path, default=None, help="video: time_s,speed_mps,yaw_rate_rps"
    )
    rp.add_argument("--ego-speed-mps", type=float, default=None, help="speed where ego is missing")
    rp.add_argument("--max-frames", type=int, default=None)
    rp.add_argument("--no-video", action="store_true", help="skip annotated.mp4")
    rp.add_argument("--no-images", action="store_true", help="no input images in results.mcap")
    rp.add_argument("--sequential", action="store_true", help="one thread (same output)")
    rp.add_argument("--workers", type=int, default=1, help="drives in parallel (processes)")
    rp.add_argument("--engine", choices=("process", "ray"), default="process")
    rp.add_argument("--address", default=None, help="Ray cluster address (default: local)")


def _run_parser(sub: Any) -> None:
    rn = sub.add_parser(
        "run",
        help="the in-vehicle process: camera in, warnings and brake requests out on CAN",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "examples:\n"
            "  adas run --device 0 --camera cam.yaml --ego can --can-interface socketcan "
            "--can-channel can0\n"
            "  adas run --input drive.mcap --ego bag --can-interface virtual --can-log run.asc\n"
            "  adas run --input clip.mp4 --ego fixed --ego-speed-mps 20 --duration 10\n\n"
            "A JSON status line is printed every runtime.status_period_s; SIGTERM or Ctrl-C "
            "stops it cleanly (CAN log closed, last status printed)."
        ),
    )
    src = rn.add_mutually_exclusive_group(required=True)
    src.add_argument("--device", help="live camera: V4L2 index (0) or a GStreamer pipeline")
    src.add_argument("--input", type=Path, help="stand-in camera: a recording at its own rate")
    rn.add_argument("--rate", type=float, default=1.0, help="stand-in playback speed")
    rn.add_argument("--loops", type=int, default=1, help="stand-in: play the recording N times")
    rn.add_argument("--camera", type=Path, default=None, help="calibration YAML")
    rn.add_argument(
        "--fov-deg", type=float, default=None, help="stand-in without calibration [deg]"
    )
    rn.add_argument("--model", default=None, help="registry name or .onnx path")
    rn.add_argument("--preprocess", choices=("reference", "opencv", "fpga"), default=None)
    rn.add_argument("--config", type=Path, default=None, help="TOML overriding the defaults")
    rn.add_argument("--ego", choices=("can", "bag", "fixed"), default="bag")
    rn.add_argument("--ego-speed-mps", type=float, default=0.0, help="with --ego fixed")
    rn.add_argument("--ego-yaw-rate-rps", type=float, default=0.0, help="with --ego fixed")
    rn.add_argument("--can-interface", default=None, help="python-can interface (config [can])")
    rn.add_argument("--can-channel", default=None)
    rn.add_argument("--can-log", default=None, help="also log every frame to .asc/.blf/.log")
    rn.add_argument("--max-frames", type=int, default=None)
    rn.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    rn.add_argument(
        "--record", type=Path, default=None, help="record inputs and decisions (MCAP, replayable)"
    )


def _run(args: argparse.Namespace) -> int:
    from adas.run import RunOptions, main

    if not (0.01 <= args.rate <= 1000.0 and 1 <= args.loops <= 1_000_000):
        print("--rate must be in [0.01, 1000] and --loops in [1, 1000000]", file=sys.stderr)
        return 2
    if not (0.0 <= args.ego_speed_mps <= 100.0):
        print("--ego-speed-mps must be in [0, 100]", file=sys.stderr)
        return 2
    return main(
        RunOptions(
            config_file=args.config, model=args.model, preprocess=args.preprocess,
            device=args.device, input=args.input, rate=args.rate, loops=args.loops,
            camera_file=args.camera, fov_deg=args.fov_deg, ego=args.ego,
            ego_speed_mps=args.ego_speed_mps, ego_yaw_rate_rps=args.ego_yaw_rate_rps,
            can_interface=args.can_interface, can_channel=args.can_channel,
            can_log=args.can_log, max_frames=args.max_frames, duration_s=args.duration,
            record=args.record,
        )
    )  # fmt: skip


def _replay(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.replay import ReplayOptions, replay_drive, replay_many
    from adas.sources import TopicMap

    try:
        topics = None
        if args.image_topic or args.camera_info_topic or args.ego_topic:
            topics = TopicMap(args.image_topic, args.camera_info_topic, args.ego_topic)
        opts = ReplayOptions(
            config_file=args.config, model=args.model, camera_file=args.camera,
            fov_deg=args.fov_deg, topics=topics, ego_csv=args.ego_csv,
            ego_speed_mps=args.ego_speed_mps, force=args.force, video=not args.no_video,
            mcap_images=not args.no_images, pipelined=not args.sequential,
            max_frames=args.max_frames, progress=True,
        )  # fmt: skip
        if len(args.drives) == 1 and args.engine == "process":
            summary, failures = replay_drive(args.drives[0], args.out, opts), list[Any]()
        else:
            summary, failures = replay_many(
                args.drives, args.out, opts, workers=args.workers, engine=args.engine,
                address=args.address,
            )  # fmt: skip
    except (AdasError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    levels = ", ".join(f"{k} {v}" for k, v in summary.decision_frames.items() if v) or "none"
    skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
    fps = f"{summary.frames_per_s:.1f}" if summary.frames_per_s else "-"
    print(f"{summary.name}: {summary.frames} frames, {fps} frames/s")
    print(f"decisions (frames): {levels}; skipped: {skipped}")
    for warning in summary.warnings:
        print(f"warning: {warning}")
    for f in failures:
        print(f"failed: {f['drive']}: {f['error']}", file=sys.stderr)
    print(f"outputs in {args.out}")
    if len(args.drives) == 1:
        for name in ("report.html", "annotated.mp4"):
            if (args.out / name).exists():
                print(f"{name.split('.')[0]}: {args.out / name}")
    return 1 if failures else 0


def _emit(report: dict[str, Any], dest: str | Path | None) -> None:
    text = json.dumps(report, indent=2)
    if dest is None or str(dest) == "-":
        print(text)
    else:
        Path(dest).write_text(text + "\n")


def _fmt(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "n=0"
    return (
        f"n={stats['n']:5d}  median {100 * stats['median_abs_rel']:5.1f} %  "
        f"p90 {100 * stats['p90_abs_rel']:5.1f} %"
    )


def _pct(stats: dict[str, Any]) -> str:
    value = stats.get("median_abs_rel")
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _eval_kitti(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.evaluate.kitti_tracking import evaluate

    seqs = [s.strip() for s in args.sequences.split(",") if s.strip()] or None
    if args.box_noise_px < 0 or args.box_noise_px > 50:
        print(f"--box-noise-px {args.box_noise_px}: allowed range is [0, 50]", file=sys.stderr)
        return 2
    try:
        report = evaluate(
            args.root, seqs, box_noise_px=args.box_noise_px, seed=args.seed, progress=True
        )
    except AdasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    flat = report["baseline_flat_ground"]["bins"]
    prior = report["baseline_height_prior_1_5m"]["bins"]
    for b, bf, bp in zip(report["distance"]["bins"], flat, prior, strict=True):
        print(
            f"distance {b['lo_m']:2.0f}-{b['hi_m']:.0f} m: {_fmt(b)}   "
            f"(baselines: flat ground {_pct(bf)}, 1.5 m height {_pct(bp)})"
        )
    print(f"ttc 0.5-4 s:         {_fmt(report['ttc'])}")
    t = report["tracking"]
    print(
        f"tracking: {t['gt_tracks']} gt tracks, {t['id_switches']} id switches, "
        f"{t['fragmentations']} fragmentations, MOTA {t['mota']:.3f}"
    )
    print(f"chain: {report['chain_us_per_frame']} us per frame")
    if args.json is not None:
        _emit(report, args.json)
    return 0


def _eval_kitti_object(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.evaluate.kitti_object import evaluate

    if args.tiles is not None and not 0 <= args.tiles <= 8:
        print(f"--tiles {args.tiles}: allowed range is [0, 8]", file=sys.stderr)
        return 2
    if not 1 <= args.repeats <= 100:
        print(f"--repeats {args.repeats}: allowed range is [1, 100]", file=sys.stderr)
        return 2
    try:
        detect_cfg = None
        if args.config is not None:
            from adas.config import load_config

            detect_cfg = load_config(args.config).detect
        report = evaluate(
            args.root, model=args.model, tiles=args.tiles, config=detect_cfg, repeats=args.repeats
        )
    except AdasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    c, b = report["cars"], report["baseline_single_pass"]
    print(f"{report['model']} on {report['images']} images ({', '.join(report['providers_used'])})")
    print(
        f"cars: {c['gt']} to find, {c['tp']} found, {c['fp']} false, {c['ignored']} ignored: "
        f"recall {c['recall']:.3f}  precision {c['precision'] or 0:.3f}"
    )
    if b is not None:
        print(
            f"baseline single pass: {b['tp']} found, {b['fp']} false: recall "
            f"{b['recall']:.3f}  precision {b['precision'] or 0:.3f}"
        )
    d = report["distance"]
    if d["n"]:
        print(f"distance of found cars: n={d['n']} median {100 * d['median_abs_rel']:.1f} %")
    lat = report["latency_ms"]
    print(
        f"latency ms: preprocess {lat['preprocess']}  infer {lat['infer']}  postprocess "
        f"{lat['postprocess']};  single pass infer {report['single_pass_infer_ms']} "
        f"(infer ratio {report['infer_ratio']}, whole detector {report['detector_total_ratio']})"
    )
    if args.json is not None:
        _emit(report, args.json)
    return 0


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}"


def _scenarios(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.scenarios import FAST_SUBSET, run_suite, write_json, write_report

    if not 1 <= args.trials <= 1000:
        print(f"--trials {args.trials}: allowed range is [1, 1000]", file=sys.stderr)
        return 2
    try:
        cfg = None
        if args.config is not None:
            from adas.config import load_config

            cfg = load_config(args.config)
        from tqdm import tqdm

        with tqdm(desc=f"scenarios {args.suite}", unit="trial") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            results = run_suite(
                args.suite,
                trials=args.trials,
                seed=args.seed,
                config=cfg,
                scenario_ids=list(FAST_SUBSET) if args.fast else None,
                keep_series=args.report is not None,
                progress=progress,
            )
    except (AdasError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{'scenario':34s} {'pass':>6s} {'warn TTC':>9s} {'margin':>7s} "
        f"{'impact':>7s} {'limit':>6s}"
    )
    for row in results["summary"]["scenarios"]:
        allowed = [
            r.get("max_impact_speed_kmh")
            for r in results["results"]
            if r["scenario"] == row["scenario"]
        ]
        print(
            f"{row['scenario']:34s} {row['passed']:>2d}/{row['trials']:<3d} "
            f"{_num(row['min_warning_ttc_s']):>9s} {_num(row['min_warning_ttc_margin_s']):>7s} "
            f"{_num(row['max_impact_speed_kmh']):>7s} {_num(allowed[0] if allowed else None):>6s}"
            + (f"  {'; '.join(row['failures'])}" if row["failures"] else "")
        )
    print(f"passed {results['passed']}, failed {results['failed']}")
    if args.json is not None:
        if str(args.json) == "-":
            from adas.scenarios.report import strip_series

            _emit(strip_series(results), "-")
        else:
            write_json(results, args.json)
    if args.report is not None:
        write_report(results, args.report)
        print(f"report: {args.report}")
    return 0 if results["failed"] == 0 else 1


def _bench_preprocess(args: argparse.Namespace) -> int:
    from adas.evaluate.bench_preprocess import bench_preprocess

    if not 5 <= args.repeats <= 100_000:
        print("--repeats must be in [5, 100000]", file=sys.stderr)
        return 2
    _emit(bench_preprocess(repeats=args.repeats), args.json)
    return 0


def _bench_detect(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.evaluate.bench_detect import bench_detect

    if not 1 <= args.runs <= 100_000 or not 0 <= args.tiles <= 8:
        print("--runs must be in [1, 100000] and --tiles in [0, 8]", file=sys.stderr)
        return 2
    image = None
    if args.image is not None:
        import cv2

        image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if image is None:
            print(f"error: cannot read image {args.image}", file=sys.stderr)
            return 2
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    try:
        report = bench_detect(
            models, providers, image=image, runs=args.runs, tiles=args.tiles, threads=args.threads
        )
    except AdasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _emit(report, args.json)
    return 0


def _bench_replay(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.evaluate.bench_replay import bench_replay

    if not 1 <= args.runs <= 1000:
        print("--runs must be in [1, 1000]", file=sys.stderr)
        return 2
    try:
        report = bench_replay(
            args.input, args.model, runs=args.runs, ego_speed_mps=args.ego_speed_mps,
            config_file=args.config, video=not args.no_video, mcap_images=not args.no_images,
        )  # fmt: skip
    except (AdasError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _emit(report, args.json)
    return 0


def _bench_runtime(args: argparse.Namespace) -> int:
    from adas.errors import AdasError
    from adas.evaluate.bench_runtime import bench_runtime

    try:
        report = bench_runtime(
            args.input, args.model, seconds=args.seconds, config_file=args.config
        )
    except (AdasError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _emit(report, args.json)
    return 0


def _bench_chain(args: argparse.Namespace) -> int:
    from adas.evaluate.bench import bench_chain

    if not 1 <= args.objects <= 512 or not 10 <= args.frames <= 1_000_000:
        print("--objects must be in [1, 512] and --frames in [10, 1000000]", file=sys.stderr)
        return 2
    _emit(bench_chain(n_objects=args.objects, n_frames=args.frames), args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    handlers = {
        ("eval", "kitti-tracking"): _eval_kitti,
        ("eval", "kitti-object"): _eval_kitti_object,
        ("scenarios", None): _scenarios,
        ("replay", None): _replay,
        ("bench", "chain"): _bench_chain,
        ("bench", "preprocess"): _bench_preprocess,
        ("bench", "detect"): _bench_detect,
        ("bench", "replay"): _bench_replay,
        ("bench", "runtime"): _bench_runtime,
        ("run", None): _run,
    }
    key = (args.command, getattr(args, "dataset", None) or getattr(args, "what", None))
    handler = handlers.get(key)
    return handler(args) if handler is not None else 2


if __name__ == "__main__":
    sys.exit(main())
