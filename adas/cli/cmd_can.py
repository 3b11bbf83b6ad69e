"""``adas can decode``: a CAN log of ``adas run`` (``[can] log_file``: .asc, .blf, .log) printed
one line a frame, decoded with the DBC and its E2E protection checked in log order."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from adas.cli.common import HelpFormatter, add_config_arg, check_input, check_text_input

CAN_DESCRIPTION = """\
Decode every frame of a CAN log with the DBC (the shipped data/can/adas.dbc, or [can] dbc of
--config) and check each protected message's CRC and counter in log order.

example:
  adas can decode run.asc
  1712.000123 Tx 0x1A0 ADAS_Command e2e=OK Level=WARNING DecelRequest=0 TTC=2.4 ..."""


def add_parser(sub: Any) -> None:
    """``can decode`` under the top-level subparsers ``sub``."""
    c = sub.add_parser(
        "can",
        help="CAN logs of the in-vehicle runtime, decoded",
        description=CAN_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    csub = c.add_subparsers(dest="can_command", required=True, metavar="COMMAND")
    dec = csub.add_parser(
        "decode",
        help="print a CAN log decoded with the DBC (example: adas can decode run.asc)",
        description=CAN_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    dec.set_defaults(handler=decode)
    dec.add_argument("logfile", type=Path, help=".asc, .blf or .log file")
    dec.add_argument("--dbc", type=Path, default=None, help="DBC file (default: [can] dbc)")
    add_config_arg(dec)


def decode(args: argparse.Namespace) -> int:
    """``adas can decode LOGFILE``: one line a frame on stdout."""
    check_input(args.logfile, "CAN log")
    check_input(args.dbc, "DBC file")
    check_text_input(args.config, "config file")
    from adas.can.log import decode_log, format_row
    from adas.config import load_config

    rows = decode_log(args.logfile, args.dbc, load_config(args.config).can)
    for row in rows:
        print(format_row(row))
    return 0
