"""``adas replay`` (recorded drives through the pipeline, offline) and ``adas run`` (the
in-vehicle process: camera in, CAN out): their arguments and the calls into
:mod:`adas.replay` and :mod:`adas.run`, imported only once the arguments are valid."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from adas.cli.common import (
    HelpFormatter,
    UsageError,
    add_config_arg,
    add_model_arg,
    check_input,
    check_range,
    check_text_input,
)

REPLAY_DESCRIPTION = """\
example:
  $ adas replay build/demo_drive --out build/demo_replay     (make demo's bag)
  demo_drive: 38 frames, 49.8 frames/s
  decisions (frames): NONE 38; skipped: none
  outputs in build/demo_replay
  report: build/demo_replay/report.html

  A KITTI odometry sequence (images at 10 Hz, camera from calib.txt, ego from the poses):
  $ adas replay seq/image_0 --camera seq/calib.txt --ego-kitti-poses seq/poses.txt --out runs/k

Outputs: events.jsonl frames.csv results/results.mcap annotated/ (a video clip around each
alert: clip_NNN_<t>s_<level>.mp4) report.html summary.json; --full-video adds annotated.mp4.
Several drives go to --out/<drive name>/ each, in parallel with --workers N (a process pool)
or --engine ray, plus one summary.json across them."""

RUN_DESCRIPTION = """\
examples:
  adas run --device 0 --camera cam.yaml --ego can --can-interface socketcan --can-channel can0
  adas run --input drive.mcap --ego bag --can-interface virtual --can-log run.asc
  adas run --input clip.mp4 --ego fixed --ego-speed-mps 20 --duration 10

A JSON status line is printed every runtime.status_period_s; SIGTERM or Ctrl-C stops it
cleanly (CAN log closed, last status printed)."""


def add_parsers(sub: Any) -> None:
    """``replay`` and ``run`` under the top-level subparsers ``sub``."""
    _add_replay(sub)
    _add_run(sub)


def _add_replay(sub: Any) -> None:
    rp = sub.add_parser(
        "replay",
        help="replay recorded drives (bags, MCAP, video, image folders) through the pipeline",
        description=REPLAY_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    rp.set_defaults(handler=replay)
    rp.add_argument(
        "drives", nargs="+", type=Path, help="bag, .mcap, ROS 2 bag folder, video, images"
    )
    rp.add_argument("--out", required=True, type=Path, help="output folder (refused if not empty)")
    rp.add_argument(
        "--force",
        action="store_true",
        help="replace existing outputs, and run a model whose self-check failed",
    )
    add_model_arg(rp, card=True)
    rp.add_argument("--camera", type=Path, default=None, help="calibration YAML (OpenCV or ROS)")
    add_config_arg(rp)
    rp.add_argument(
        "--fov-deg", type=float, default=None,
        help="horizontal field of view without calibration [deg] (default: [replay] fov_deg, 60)",
    )  # fmt: skip
    rp.add_argument("--image-topic", default=None, help="bag: image topic (default: the one found)")
    rp.add_argument(
        "--camera-info-topic", default=None, help="bag: CameraInfo topic (default: the one found)"
    )
    rp.add_argument("--ego-topic", default=None, help="Odometry, TwistStamped or speed topic")
    rp.add_argument(
        "--ego-csv", type=Path, default=None, help="video, images: time_s,speed_mps,yaw_rate_rps"
    )
    rp.add_argument(
        "--ego-kitti-poses", type=Path, default=None, metavar="POSES",
        help="video, images: speed and yaw rate from a KITTI odometry poses.txt (10 Hz)",
    )  # fmt: skip
    rp.add_argument("--ego-speed-mps", type=float, default=None, help="speed where ego is missing")
    rp.add_argument("--max-frames", type=int, default=None, help="stop after N frames per drive")
    rp.add_argument("--no-video", action="store_true", help="no annotated video (clips, full)")
    rp.add_argument(
        "--full-video", action="store_true", default=None,
        help="also annotated.mp4, the whole drive (default: alert clips in annotated/ only)",
    )  # fmt: skip
    rp.add_argument("--no-images", action="store_true", help="no input images in results.mcap")
    rp.add_argument("--sequential", action="store_true", help="one thread (same output)")
    rp.add_argument("--workers", type=int, default=1, help="drives in parallel (processes)")
    rp.add_argument(
        "--engine", choices=("process", "ray"), default="process", help="how drives run in parallel"
    )
    rp.add_argument("--address", default=None, help="Ray cluster address (default: local)")


def _add_run(sub: Any) -> None:
    rn = sub.add_parser(
        "run",
        help="the in-vehicle process: camera in, warnings and brake requests out on CAN",
        description=RUN_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    rn.set_defaults(handler=run)
    src = rn.add_mutually_exclusive_group(required=True)
    src.add_argument("--device", help="live camera: V4L2 index (0) or a GStreamer pipeline")
    src.add_argument("--input", type=Path, help="stand-in camera: a recording at its own rate")
    rn.add_argument("--rate", type=float, default=1.0, help="stand-in playback speed")
    rn.add_argument("--loops", type=int, default=1, help="stand-in: play the recording N times")
    rn.add_argument("--camera", type=Path, default=None, help="calibration YAML")
    rn.add_argument(
        "--fov-deg", type=float, default=None,
        help="stand-in without calibration: field of view [deg] (default: [replay] fov_deg, 60)",
    )  # fmt: skip
    add_model_arg(rn, card=True)
    rn.add_argument(
        "--force", action="store_true", help="run a model whose self-check failed (not advised)"
    )
    rn.add_argument(
        "--preprocess",
        choices=("reference", "opencv", "fpga"),
        default=None,
        help="frame preprocessing backend (default: config detect.preprocess_backend)",
    )
    add_config_arg(rn)
    rn.add_argument(
        "--ego",
        choices=("can", "bag", "fixed"),
        default="bag",
        help="ego speed and yaw rate from CAN, from the recording, or fixed values",
    )
    rn.add_argument("--ego-speed-mps", type=float, default=0.0, help="with --ego fixed")
    rn.add_argument("--ego-yaw-rate-rps", type=float, default=0.0, help="with --ego fixed")
    rn.add_argument("--can-interface", default=None, help="python-can interface (config [can])")
    rn.add_argument("--can-channel", default=None, help="CAN channel (default: config [can])")
    rn.add_argument("--can-log", default=None, help="also log every frame to .asc/.blf/.log")
    rn.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    rn.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    rn.add_argument(
        "--record", type=Path, default=None, help="record inputs and decisions (MCAP, replayable)"
    )


def _guard_model(args: argparse.Namespace) -> None:
    """Refuse a model whose self-check fails (adas.evaluate.model_check.guard) before a drive,
    unless --force."""
    from dataclasses import replace

    from adas.config import load_config
    from adas.evaluate.model_check import guard

    detect = load_config(args.config).detect
    if args.model:
        detect = replace(detect, model=args.model)
    if args.model_card:
        detect = replace(detect, model_card=str(args.model_card))
    logging.getLogger(__name__).info("model: %s", guard(detect, force=args.force))


def run(args: argparse.Namespace) -> int:
    """``adas run``: the in-vehicle loop until the recording ends, a limit or a signal."""
    check_range("--rate", args.rate, 0.01, 1000.0)
    check_range("--loops", args.loops, 1, 1_000_000)
    check_range("--ego-speed-mps", args.ego_speed_mps, 0.0, 100.0)
    check_input(args.input, "input", folder_ok=True)
    check_text_input(args.camera, "camera file")
    check_text_input(args.config, "config file")
    check_text_input(args.model_card, "model card")
    _guard_model(args)
    from adas.run import RunOptions, main

    return main(
        RunOptions(
            config_file=args.config, model=args.model, model_card=args.model_card,
            preprocess=args.preprocess,
            device=args.device, input=args.input, rate=args.rate, loops=args.loops,
            camera_file=args.camera, fov_deg=args.fov_deg, ego=args.ego,
            ego_speed_mps=args.ego_speed_mps, ego_yaw_rate_rps=args.ego_yaw_rate_rps,
            can_interface=args.can_interface, can_channel=args.can_channel,
            can_log=args.can_log, max_frames=args.max_frames, duration_s=args.duration,
            record=args.record,
        )
    )  # fmt: skip


def replay(args: argparse.Namespace) -> int:
    """``adas replay``: each drive through the pipeline; prints what it decided and where the
    outputs are. Exit 1 if a drive of several failed."""
    for drive in args.drives:
        check_input(drive, "drive", folder_ok=True)
    check_text_input(args.camera, "camera file")
    check_text_input(args.config, "config file")
    check_text_input(args.ego_csv, "ego CSV")
    check_text_input(args.ego_kitti_poses, "KITTI poses")
    if args.ego_csv is not None and args.ego_kitti_poses is not None:
        raise UsageError("give --ego-csv or --ego-kitti-poses, not both")
    check_text_input(args.model_card, "model card")
    _guard_model(args)
    from adas.replay import ReplayOptions, replay_drive
    from adas.replay_fleet import replay_many
    from adas.sources import TopicMap

    topics = None
    if args.image_topic or args.camera_info_topic or args.ego_topic:
        topics = TopicMap(args.image_topic, args.camera_info_topic, args.ego_topic)
    opts = ReplayOptions(
        config_file=args.config, model=args.model, model_card=args.model_card,
        camera_file=args.camera,
        fov_deg=args.fov_deg, topics=topics, ego_csv=args.ego_csv,
        ego_kitti_poses=args.ego_kitti_poses,
        ego_speed_mps=args.ego_speed_mps, force=args.force, video=not args.no_video,
        full_video=args.full_video,
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
        clips = sorted((args.out / "annotated").glob("clip_*"))
        if clips:
            print(f"clips: {len(clips)} in {args.out / 'annotated'}")
    return 1 if failures else 0
