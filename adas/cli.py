"""The ``adas`` command. Arguments are parsed before heavy imports so ``--help`` is instant.

SYNOPSIS

    $ adas eval kitti-tracking --root ../shared/data/kitti/tracking --json eval.json
    distance  5-20 m: n=3471 median 3.9 %  p90 9.9 %
    ...
    $ adas bench chain --json
    {"benchmark": "chain", "objects": 32, "chain_us": {"median": ...}, ...}
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
            "  adas bench chain --json"
        ),
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = p.add_subparsers(dest="command", required=True)

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

    be = sub.add_parser("bench", help="speed benchmarks (JSON)")
    bes = be.add_subparsers(dest="what", required=True)
    ch = bes.add_parser("chain", help="tracker + distance + motion per frame")
    ch.add_argument("--objects", type=int, default=32)
    ch.add_argument("--frames", type=int, default=2000)
    ch.add_argument(
        "--json", nargs="?", const="-", default=None, help="write JSON (default stdout)"
    )
    return p


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
    if args.command == "eval":
        return _eval_kitti(args)
    if args.command == "bench":
        return _bench_chain(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
