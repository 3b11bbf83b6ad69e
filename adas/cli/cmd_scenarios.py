"""``adas scenarios``: the closed-loop regulatory test scenarios (NHTSA, Euro NCAP, UN R152,
false reactions) run through the real chain and judged against their protocols; a table on the
terminal, the results as JSON (``--json``) and an HTML page with plots (``--report``)."""

from __future__ import annotations

import argparse
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
    json_to_stdout,
    summary_stream,
)

SUITE_CHOICES = ("nhtsa", "ncap", "r152", "false-reaction", "all")

SCENARIOS_DESCRIPTION = """\
Simulate each scenario in closed loop (ego and target kinematics, brake actuator, a camera
with pixel noise and missed detections) through the real chain tracker -> distance -> TTC ->
danger -> control, and judge it against its protocol.

example:
  adas scenarios --suite all --trials 7 --json scenarios.json --report scenarios.html"""


def add_parser(sub: Any) -> None:
    """``scenarios`` under the top-level subparsers ``sub``."""
    sc = sub.add_parser(
        "scenarios",
        help="closed-loop regulatory test scenarios (NHTSA, Euro NCAP, UN R152, false reactions)",
        description=SCENARIOS_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    sc.set_defaults(handler=scenarios)
    sc.add_argument("--suite", default="all", choices=SUITE_CHOICES, help="which protocols to run")
    sc.add_argument("--trials", type=int, default=1, help="noise seeds per scenario")
    sc.add_argument("--seed", type=int, default=0, help="first noise seed")
    add_config_arg(sc)
    sc.add_argument("--fast", action="store_true", help="only the fast subset CI runs")
    add_json_arg(sc, "the results (without time series)")
    sc.add_argument("--report", type=Path, default=None, help="write an HTML report here")


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}"


def scenarios(args: argparse.Namespace) -> int:
    """``adas scenarios``: one table row per scenario; exit 1 if any trial failed."""
    check_range("--trials", args.trials, 1, 1000)
    check_text_input(args.config, "config file")
    check_output(args.json, "--json")
    check_output(args.report, "--report")
    from tqdm import tqdm

    from adas.scenarios import FAST_SUBSET, run_suite, write_json, write_report

    cfg = None
    if args.config is not None:
        from adas.config import load_config

        cfg = load_config(args.config)
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
    out = summary_stream(args.json)
    print(
        f"{'scenario':34s} {'pass':>6s} {'warn TTC':>9s} {'margin':>7s} "
        f"{'impact':>7s} {'limit':>6s}",
        file=out,
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
            + (f"  {'; '.join(row['failures'])}" if row["failures"] else ""),
            file=out,
        )
    print(f"passed {results['passed']}, failed {results['failed']}", file=out)
    if json_to_stdout(args.json):
        from adas.scenarios.report import strip_series

        emit_json(strip_series(results), "-")
    elif args.json is not None:
        write_json(results, args.json)
    if args.report is not None:
        write_report(results, args.report)
        print(f"report: {args.report}", file=out)
    return 0 if results["failed"] == 0 else 1
