"""``adas scenarios``: the closed-loop regulatory test scenarios (NHTSA, Euro NCAP, UN R152,
pedestrians, cyclists, motorcycles, crossing and head-on cars, false reactions) run through the
real chain and judged against their protocols; a table on the terminal, the results as JSON
(``--json``) and an HTML page with plots (``--report``)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TextIO

from adas.cli.common import (
    HelpFormatter,
    UsageError,
    add_config_arg,
    add_json_arg,
    check_output,
    check_range,
    check_text_input,
    emit_json,
    json_to_stdout,
    summary_stream,
)

SUITE_CHOICES = (
    "nhtsa", "ncap", "r152", "false-reaction", "vru", "motorcycle", "headon", "crossing", "all",
)  # fmt: skip

MAX_SEEDS = 10_000  # a guard against a typo such as 0-1000000 (hours x 10^6)
# --box-error-time bounds: about a camera frame (shorter is white noise) to an hour (a constant).
MIN_BOX_ERROR_S, MAX_BOX_ERROR_S = 0.01, 3600.0

SCENARIOS_DESCRIPTION = """\
Simulate each scenario in closed loop (ego and target kinematics, brake actuator, a camera
with pixel noise and missed detections) through the real chain tracker -> distance -> TTC ->
danger -> control, and judge it against its protocol. With --seeds every scenario runs
--trials times per seed, in --workers processes; the summary then gives per scenario and per
suite the passes, collisions, false warnings and false brakes (per hour of simulated driving)
and 95 % upper bounds on each failure rate (Clopper-Pearson per trial, exact Poisson per hour).

examples:
  adas scenarios --suite all --trials 7 --json scenarios.json --report scenarios.html
  adas scenarios --suite all --trials 7 --seeds 0-29 --workers 8 --json seeds.json"""


def add_parser(sub: Any) -> None:
    """``scenarios`` under the top-level subparsers ``sub``."""
    sc = sub.add_parser(
        "scenarios",
        help="closed-loop regulatory test scenarios (NHTSA, Euro NCAP, UN R152, VRUs, false "
        "reactions)",
        description=SCENARIOS_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    sc.set_defaults(handler=scenarios)
    sc.add_argument("--suite", default="all", choices=SUITE_CHOICES, help="which protocols to run")
    sc.add_argument("--trials", type=int, default=1, help="noise trials per scenario and seed")
    seeds = sc.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="the noise seed")
    seeds.add_argument(
        "--seeds", default=None, metavar="A-B", help="run every seed from A to B (inclusive)"
    )
    sc.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: the usable CPUs)"
    )
    sc.add_argument(
        "--sensor",
        default="measured",
        metavar="ideal|measured|FILE",
        help="the simulated detector: 'measured' (data/sensor/yolox_nano.json, measured on "
        "KITTI), 'ideal' (exact-size cars, 1 px edge noise, 3 %% misses) or a sensor-model "
        "file written by 'adas eval sensor-model'",
    )
    sc.add_argument(
        "--box-error-time",
        type=float,
        default=None,
        metavar="S",
        help="correlation time in seconds of the measured sensor's slow box error (default: the "
        "simulator's assumption, 2 s, which no shared recording can measure; "
        "docs/sensor-simulation.md). Not with --sensor ideal",
    )
    sc.add_argument(
        "--camera",
        default="pinhole",
        metavar="pinhole|fisheye|fisheye-narrow|FILE",
        help="the simulated camera: 'pinhole' (KITTI focal length, 1280 x 720), 'fisheye' (the "
        "same focal length at the centre of a 1920 x 1080 equidistant lens, ~150 deg diagonal), "
        "'fisheye-narrow' (that lens on 1094 x 680 px: the pinhole's field of view) or a "
        "calibration YAML (OpenCV or ROS, fisheye too) on the config's mount",
    )
    add_config_arg(sc)
    sc.add_argument("--fast", action="store_true", help="only the fast subset CI runs")
    add_json_arg(sc, "the results (without time series)")
    sc.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write an HTML report here (time series of failed trials and one passing trial "
        "per scenario)",
    )


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}"


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}%"


def _seeds(args: argparse.Namespace) -> list[int]:
    """The seeds to run: --seeds A-B, else the single --seed."""
    if args.seeds is None:
        check_range("--seed", args.seed, 0, 2**32 - 1)
        return [args.seed]
    from adas.scenarios.batch import parse_seeds

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise UsageError(f"--seeds: {exc}") from exc
    check_range("--seeds count", len(seeds), 1, MAX_SEEDS)
    return seeds


def print_summary(results: dict[str, Any], out: TextIO) -> None:
    """One line per scenario (passes, the worst warning TTC and impact against the limit),
    then one per suite with the failure statistics and their 95 % upper bounds (<=)."""
    print(
        f"{'scenario':34s} {'pass':>9s} {'warn TTC':>9s} {'margin':>7s} "
        f"{'impact':>7s} {'limit':>6s} {'coll':>5s} {'FW':>4s} {'FB':>4s} {'fail<=':>7s}",
        file=out,
    )
    limits: dict[str, Any] = {}
    for r in results["results"]:
        limits.setdefault(r["scenario"], r.get("allowed_impact_speed_kmh"))
    for row in results["summary"]["scenarios"]:
        print(
            f"{row['scenario']:34s} {row['passed']:>4d}/{row['trials']:<4d} "
            f"{_num(row['min_warning_ttc_s']):>9s} {_num(row['min_warning_ttc_margin_s']):>7s} "
            f"{_num(row['max_impact_speed_kmh']):>7s} {_num(limits.get(row['scenario'])):>6s} "
            f"{row['collisions']:>5d} {row['false_warnings']:>4d} {row['false_brakes']:>4d} "
            f"{_pct(row['failure_rate_upper95']):>7s}"
            + (f"  {'; '.join(row['failures'])}" if row["failures"] else ""),
            file=out,
        )
    print(
        f"\n{'suite':15s} {'trials':>7s} {'passed':>7s} {'coll':>5s} {'FW (trials)':>12s} "
        f"{'FB (trials)':>12s} {'hours':>8s} {'FW/h<=':>7s} {'FB/h<=':>7s} {'fail<=':>7s} "
        f"{'coll<=':>7s}",
        file=out,
    )
    for name, row in results["summary"]["suites"].items():
        fw = f"{row['false_warnings']} ({row['trials_with_false_warning']})"
        fb = f"{row['false_brakes']} ({row['trials_with_false_brake']})"
        print(
            f"{name:15s} {row['trials']:>7d} {row['passed']:>7d} {row['collisions']:>5d} "
            f"{fw:>12s} {fb:>12s} {row['hours']:>8.3f} "
            f"{_num(row['false_warnings_per_hour_upper95']):>7s} "
            f"{_num(row['false_brakes_per_hour_upper95']):>7s} "
            f"{_pct(row['failure_rate_upper95']):>7s} {_pct(row['collision_rate_upper95']):>7s}",
            file=out,
        )
    print(
        f"passed {results['passed']}, failed {results['failed']} "
        "(<=: upper end of the 95 % interval; FW/FB: false warnings/brakes)",
        file=out,
    )


def _camera(choice: str, cfg: Any) -> Any:
    """--camera: None for the default pinhole, the simulator's fisheye, or a file's camera
    (CalibrationFileError naming the file if it cannot be used)."""
    if choice == "pinhole":
        return None
    from adas.config import load_config

    cfg = cfg if cfg is not None else load_config()
    if choice in ("fisheye", "fisheye-narrow"):
        from adas.camera import Lens
        from adas.scenarios.camera_sim import sim_camera

        return sim_camera(cfg.mount, Lens.FISHEYE, wide=choice == "fisheye")
    check_text_input(Path(choice), "--camera file")
    from adas.app import load_camera_file

    return load_camera_file(Path(choice), cfg)


def scenarios(args: argparse.Namespace) -> int:
    """``adas scenarios``: one table row per scenario and per suite; exit 1 if any trial
    failed."""
    check_range("--trials", args.trials, 1, 1000)
    seeds = _seeds(args)
    from adas.app import usable_cpus

    workers = usable_cpus() if args.workers is None else args.workers
    check_range("--workers", workers, 1, 1024)
    check_text_input(args.config, "config file")
    check_output(args.json, "--json")
    check_output(args.report, "--report")
    from tqdm import tqdm

    from adas.scenarios import FAST_SUBSET, run_batch, write_json, write_report

    cfg = None
    if args.config is not None:
        from adas.config import load_config

        cfg = load_config(args.config)
    from adas.scenarios.sensing import SensorChoice, resolve_sensor, sensor_name

    sensor: SensorChoice = args.sensor
    if sensor not in ("ideal", "measured"):
        check_text_input(Path(args.sensor), "--sensor file")
        sensor = Path(args.sensor)
    model = resolve_sensor(sensor)  # a missing or malformed file fails here, before any trial
    if args.box_error_time is not None:
        if model is None:
            raise UsageError("--box-error-time: the ideal sensor has no slow box error")
        check_range("--box-error-time", args.box_error_time, MIN_BOX_ERROR_S, MAX_BOX_ERROR_S)
        sensor = model = dataclasses.replace(model, slow_tau_s=args.box_error_time)
    camera = _camera(args.camera, cfg)
    name = sensor_name(args.sensor)
    with tqdm(desc=f"scenarios {args.suite} ({name} sensor)", unit="trial") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        results = run_batch(
            args.suite,
            seeds=seeds,
            trials=args.trials,
            config=cfg,
            scenario_ids=list(FAST_SUBSET) if args.fast else None,
            workers=workers,
            keep_series=args.report is not None,
            progress=progress,
            scenario_kwargs={"sensor": sensor} | ({} if camera is None else {"camera": camera}),
        )
    results["sensor"] = name
    results["camera"] = args.camera
    results["box_error_time_s"] = None if model is None else model.slow_tau_s
    out = summary_stream(args.json)
    print_summary(results, out)
    if json_to_stdout(args.json):
        from adas.scenarios.report import strip_series

        emit_json(strip_series(results), "-")
    elif args.json is not None:
        write_json(results, args.json)
    if args.report is not None:
        write_report(results, args.report)
        print(f"report: {args.report}", file=out)
    return 0 if results["failed"] == 0 else 1
