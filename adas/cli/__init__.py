"""The ``adas`` command. Arguments are parsed before heavy imports so ``--help`` is instant.

One module per command group: :mod:`adas.cli.cmd_drive` (``replay``, ``run``),
:mod:`adas.cli.cmd_eval` (``eval``), :mod:`adas.cli.cmd_scenarios` (``scenarios``),
:mod:`adas.cli.cmd_bench` (``bench``), :mod:`adas.cli.cmd_can` (``can decode``),
:mod:`adas.cli.cmd_models` (``models``); what they
share is in :mod:`adas.cli.common`.

SYNOPSIS

    $ adas eval kitti-tracking --root ../shared/data/kitti/tracking --json eval.json
    distance  5-20 m: n=3471 median 3.9 %  p90 9.9 %
    ...
    $ adas bench chain --json -
    {"benchmark": "chain", "objects": 32, "chain_us": {"median": ...}, ...}
    $ adas eval kitti-object --root ../shared/data/kitti/object --json det.json
    cars: 26 to find, ... recall ... precision ...

Exit status: 0 done, 1 the work ran and something failed (a scenario, a drive of several),
2 a wrong command line or an input that cannot be used (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from adas.cli import cmd_bench, cmd_can, cmd_drive, cmd_eval, cmd_models, cmd_scenarios
from adas.cli.common import EXIT_USAGE, HelpFormatter, VersionAction, describe
from adas.errors import AdasError

EXAMPLES = """\
examples:
  adas replay build/demo_drive --out build/demo_replay
  adas run --input clip.mp4 --ego fixed --ego-speed-mps 20 --duration 10
  adas eval kitti-tracking --root $ADAS_DATA_DIR/kitti/tracking --json eval.json
  adas eval kitti-object --root $ADAS_DATA_DIR/kitti/object --json det.json
  adas scenarios --fast --json -
  adas bench chain --json bench_chain.json
  adas can decode run.asc
  adas models inspect my_detector.onnx

Run `adas COMMAND --help` for each command's options and an example. --json PATH writes a
command's JSON report to PATH, or to stdout for '-'."""


def build_parser() -> argparse.ArgumentParser:
    """The whole ``adas`` argument parser (no heavy imports)."""
    p = argparse.ArgumentParser(
        prog="adas",
        description="Forward-camera collision-avoidance perception stack.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--version", action=VersionAction)
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging: -v info, -vv debug"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd_drive.add_parsers(sub)
    cmd_eval.add_parser(sub)
    cmd_scenarios.add_parser(sub)
    cmd_bench.add_parser(sub)
    cmd_can.add_parser(sub)
    cmd_models.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``adas`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = args.handler(args)
    except (AdasError, OSError, UnicodeDecodeError) as exc:
        # The package's own errors say what was wrong and what to do; OS errors name the file.
        print(f"error: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    return status


if __name__ == "__main__":
    sys.exit(main())
