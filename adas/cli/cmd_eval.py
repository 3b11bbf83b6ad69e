"""``adas eval``: accuracy on real ground truth. ``kitti-tracking`` scores distance, TTC and
track identity on KITTI tracking labels; ``kitti-object`` scores the detector on KITTI frames;
``sensor-model`` measures the detector as a sensor and writes its sensor-model file.
Each prints a short summary and writes the full report with ``--json PATH``."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from adas.cli.common import (
    HelpFormatter,
    add_config_arg,
    add_json_arg,
    check_output,
    check_range,
    check_text_input,
    emit_json,
    summary_stream,
)

EVAL_EXAMPLES = """\
examples:
  adas eval kitti-tracking --root $ADAS_DATA_DIR/kitti/tracking --json eval.json
  adas eval kitti-object --root $ADAS_DATA_DIR/kitti/object --json det.json
  adas eval sensor-model --model yolox_nano --out data/sensor/yolox_nano.json"""


def add_parser(sub: Any) -> None:
    """``eval`` and its datasets under the top-level subparsers ``sub``."""
    ev = sub.add_parser(
        "eval",
        help="accuracy evaluations on real ground truth",
        description="Accuracy evaluations on real ground truth. "
        "Run `adas eval DATASET --help` for the options of each.",
        epilog=EVAL_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    evs = ev.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    kt = evs.add_parser(
        "kitti-tracking",
        help="distance, TTC and tracking on KITTI tracking labels",
        description=(
            "Feed KITTI tracking ground-truth 2D boxes through tracker -> distance -> motion "
            "and score distance, TTC and track identity against the 3D labels."
        ),
        formatter_class=HelpFormatter,
    )
    kt.set_defaults(handler=kitti_tracking)
    kt.add_argument("--root", required=True, type=Path, help="folder with label_02/ and calib/")
    kt.add_argument("--sequences", default="", help="comma-separated, e.g. 0001,0002 (default all)")
    kt.add_argument(
        "--classes",
        default="car",
        help="comma-separated classes to score, each a JSON block: car (cars), pedestrian "
        "(pedestrians), cyclist (cyclists)",
    )
    kt.add_argument("--box-noise-px", type=float, default=0.0, help="Gaussian noise on box edges")
    kt.add_argument("--seed", type=int, default=0, help="seed of the box noise")
    add_json_arg(kt, "the report")

    ko = evs.add_parser(
        "kitti-object",
        help="detector recall/precision and distance on KITTI frames",
        description=(
            "Run the detector on DIR/image_2/*.png (or a KITTI tracking folder's labelled "
            "images; --root may be repeated to pool folders) and score each class against "
            "the labels by KITTI's rules at IoU 0.5; a plain single pass of the model is "
            "measured alongside as the baseline."
        ),
        formatter_class=HelpFormatter,
    )
    ko.set_defaults(handler=kitti_object)
    ko.add_argument(
        "--root",
        required=True,
        type=Path,
        action="append",
        help="KITTI object or tracking folder (repeat to pool several)",
    )
    ko.add_argument(
        "--classes",
        default="car,pedestrian,cyclist",
        help="classes to score, comma-separated: car, pedestrian, cyclist",
    )
    ko.add_argument("--model", default="", help="registry name or .onnx path (default: registry)")
    ko.add_argument("--tiles", type=int, default=None, help="tiles in the band (0 = automatic)")
    add_config_arg(ko)
    ko.add_argument("--repeats", type=int, default=3, help="timed runs per image")
    add_json_arg(ko, "the report")

    sm = evs.add_parser(
        "sensor-model",
        help="measure the detector as a sensor; write its sensor-model file",
        description=(
            "Run the detector (the product path, as kitti-object) on every labelled KITTI "
            "frame under the roots and measure against the labels: box edge errors by box "
            "height, misses by height and occlusion, false boxes, class confusion, scores, "
            "and the spread of object sizes from every label file. Writes the sensor-model "
            "file the scenario simulator reads (format: docs/sensor-model.md)."
        ),
        epilog="example:\n  adas eval sensor-model --model yolox_nano "
        "--out data/sensor/yolox_nano.json",
        formatter_class=HelpFormatter,
    )
    sm.set_defaults(handler=sensor_model)
    sm.add_argument("--model", default="", help="registry name or .onnx path (default: config)")
    sm.add_argument(
        "--root",
        action="append",
        type=Path,
        default=None,
        metavar="DIR",
        help="KITTI object or tracking folder, repeatable (default: kitti/object, "
        "kitti/object_val and kitti/tracking under $ADAS_DATA_DIR)",
    )
    sm.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="sensor-model file to write (default: data/sensor/<model>.json of this project)",
    )
    sm.add_argument(
        "--persistence",
        action="append",
        type=Path,
        default=None,
        metavar="RECORDING",
        help="unlabelled video or image folder for class persistence along tracks, "
        "repeatable (default: the udacity clip and kitti/odometry/seq_1 under $ADAS_DATA_DIR)",
    )
    sm.add_argument(
        "--no-persistence", action="store_true", help="skip the class-persistence measurement"
    )
    add_config_arg(sm)
    add_json_arg(sm, "the key figures")


def _fmt(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "n=0"
    return (
        f"n={stats['n']:5d}  median {100 * stats['median_abs_rel']:5.1f} %  "
        f"p90 {100 * stats['p90_abs_rel']:5.1f} %"
    )


def _fmt_max(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "n=0"
    return f"{_fmt(stats)}  max {100 * stats['max_abs_rel']:5.1f} %"


def _pct(stats: dict[str, Any]) -> str:
    value = stats.get("median_abs_rel")
    return "n/a" if value is None else f"{100 * value:.1f} %"


def kitti_tracking(args: argparse.Namespace) -> int:
    """``adas eval kitti-tracking``: distance and TTC error per range bin, tracking counts,
    per scored class."""
    from adas.cli.common import UsageError

    check_range("--box-noise-px", args.box_noise_px, 0.0, 50.0)
    check_output(args.json, "--json")
    from adas.evaluate.kitti_tracking import evaluate
    from adas.evaluate.tracking_classes import parse_classes

    try:
        classes = parse_classes(args.classes)
    except ValueError as exc:
        raise UsageError(f"--classes: {exc}") from None
    seqs = [s.strip() for s in args.sequences.split(",") if s.strip()] or None
    report = evaluate(
        args.root,
        seqs,
        classes=[c.name for c in classes],
        box_noise_px=args.box_noise_px,
        seed=args.seed,
        progress=True,
    )
    out = summary_stream(args.json)
    for c in classes:
        block = report[c.key]
        if len(classes) > 1 or c.key != "cars":
            print(f"{c.key}:", file=out)
        flat = block["baseline_flat_ground"]["bins"]
        prior = block["baseline_height_prior_1_5m"]["bins"]
        single = block["distance_single_frame"]["bins"]
        for b, bs, bf, bp in zip(block["distance"]["bins"], single, flat, prior, strict=True):
            print(
                f"distance {b['lo_m']:2.0f}-{b['hi_m']:.0f} m: {_fmt(b)}   "
                f"(single frame {_pct(bs)}; baselines: flat ground {_pct(bf)}, "
                f"1.5 m height {_pct(bp)})",
                file=out,
            )
        print(f"ttc 0.5-4 s:         {_fmt(block['ttc'])}", file=out)
        t = block["tracking"]
        mota = "n/a" if t["mota"] is None or t["mota"] != t["mota"] else f"{t['mota']:.3f}"
        print(
            f"tracking: {t['gt_tracks']} gt tracks, {t['id_switches']} id switches, "
            f"{t['fragmentations']} fragmentations, MOTA {mota}",
            file=out,
        )
    print(f"chain: {report['chain_us_per_frame']} us per frame", file=out)
    if args.json is not None:
        emit_json(report, args.json)
    return 0


def kitti_object(args: argparse.Namespace) -> int:
    """``adas eval kitti-object``: detector recall and precision, distance, latency."""
    if args.tiles is not None:
        check_range("--tiles", args.tiles, 0, 8)
    check_range("--repeats", args.repeats, 1, 100)
    check_text_input(args.config, "config file")
    check_output(args.json, "--json")
    from adas.evaluate.kitti_classes import parse_classes
    from adas.evaluate.kitti_object import evaluate

    classes = parse_classes(args.classes)
    detect_cfg, distance_cfg = None, None
    if args.config is not None:
        from adas.config import load_config

        loaded = load_config(args.config)
        detect_cfg, distance_cfg = loaded.detect, loaded.distance
    report = evaluate(
        args.root,
        model=args.model,
        tiles=args.tiles,
        config=detect_cfg,
        repeats=args.repeats,
        distance=distance_cfg,
        classes=classes,
    )
    out = summary_stream(args.json)
    print(
        f"{report['model']} on {report['images']} images ({', '.join(report['providers_used'])})",
        file=out,
    )
    base = report["baseline_single_pass"] or {}
    for key in report["classes"]:
        c, b = report[key], base.get(key)
        print(
            f"{key}: {c['gt']} to find, {c['tp']} found, {c['fp']} false, {c['ignored']} "
            f"ignored: recall {_num(c['recall'])}  precision {_num(c['precision'])}",
            file=out,
        )
        if b is not None:
            print(
                f"  baseline single pass: {b['tp']} found, {b['fp']} false: recall "
                f"{_num(b['recall'])}  precision {_num(b['precision'])}",
                file=out,
            )
        if key != "cars":
            print(f"  distance of found {key}: {_fmt_max(c['distance'])}", file=out)
    if "cars" in report["classes"]:
        d = report["distance"]
        print(f"distance of found cars:            {_fmt_max(d)}", file=out)
        print(
            f"  cars called truck/van/bus:       {_fmt_max(d['car_called_truck_van_bus'])}",
            file=out,
        )
        for name, stats in d["car_relabelled"].items():
            print(f"  each found car ranged as {name + ':':6s}  {_fmt_max(stats)}", file=out)
    lat = report["latency_ms"]
    print(
        f"latency ms: preprocess {lat['preprocess']}  infer {lat['infer']}  postprocess "
        f"{lat['postprocess']} (second look median {lat['second_look']}, p90 "
        f"{report['latency_p90_ms']['second_look']});  single pass infer "
        f"{report['single_pass_infer_ms']} "
        f"(infer ratio {report['infer_ratio']}, whole detector {report['detector_total_ratio']})",
        file=out,
    )
    if args.json is not None:
        emit_json(report, args.json)
    return 0


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def sensor_model(args: argparse.Namespace) -> int:
    """``adas eval sensor-model``: measure the detector as a sensor, write the model file."""
    from adas.cli.common import UsageError

    check_text_input(args.config, "config file")
    check_output(args.out, "--out")
    check_output(args.json, "--json")
    data_dir = os.environ.get("ADAS_DATA_DIR")
    roots = args.root
    if not roots:
        if not data_dir:
            msg = "no --root given and ADAS_DATA_DIR is not set: name the KITTI folders"
            raise UsageError(msg)
        from adas.evaluate.sensor_model import default_roots

        roots = default_roots(data_dir)
        if not roots:
            msg = f"no kitti/object, kitti/object_val or kitti/tracking under {data_dir}"
            raise UsageError(msg)
    for r in roots:
        if not r.is_dir():
            msg = f"--root {r} is not a folder"
            raise UsageError(msg)
    import dataclasses

    from adas.config import load_config
    from adas.evaluate.kitti_object import detect_config
    from adas.evaluate.sensor_model import (
        key_figures,
        measure,
        sensor_model_path,
        source_name,
        write_sensor_model,
    )

    config = load_config(args.config)
    cfg = detect_config(config.detect, model=args.model)
    persistence = None
    if not args.no_persistence:
        from adas.evaluate.sensor_persistence import DEFAULT_RECORDINGS, class_persistence

        recs = args.persistence or [
            Path(data_dir) / r
            for r in DEFAULT_RECORDINGS
            if data_dir and (Path(data_dir) / r).exists()
        ]
        if recs:
            persistence = class_persistence(
                recs,
                dataclasses.replace(config, detect=cfg),
                source_names=[source_name(r, data_dir) for r in recs],
            )
    doc = measure(roots, config=cfg, data_dir=data_dir, persistence=persistence)
    out_path = args.out or sensor_model_path(doc["model"]["name"])
    words = ["adas", "eval", "sensor-model", "--model", args.model or doc["model"]["name"]]
    for r in args.root or []:
        words += ["--root", source_name(r, data_dir)]
    for r in args.persistence or []:
        words += ["--persistence", source_name(r, data_dir)]
    if args.no_persistence:
        words.append("--no-persistence")
    if args.config is not None:
        words += ["--config", str(args.config)]
    doc["command"] = shlex.join([*words, "--out", str(args.out or out_path.name)])
    write_sensor_model(doc, out_path)
    figures = key_figures(doc)
    stream = summary_stream(args.json)
    for line in figures["lines"]:
        print(line, file=stream)
    print(f"sensor model: {out_path}", file=stream)
    if args.json is not None:
        emit_json({k: v for k, v in figures.items() if k != "lines"}, args.json)
    return 0
