"""Arguments several ``adas-calibrate`` commands share: the board, and the result outputs."""

from __future__ import annotations

import argparse
import json
from typing import Any


def board_args(
    p: argparse.ArgumentParser, *, spec_file: bool, required: bool = True, array: bool = False
) -> None:
    g = p.add_argument_group("board")
    kind = g.add_mutually_exclusive_group(required=required)
    if spec_file:
        kind.add_argument("--board", metavar="SPEC.json", help="board spec written by `board`")
    if array:
        kind.add_argument(
            "--array-spec",
            metavar="ARRAY.json",
            help="board array spec (`board --array`): one image is enough; no view rejection",
        )
    kind.add_argument("--charuco", metavar="SXxSY", help="ChArUco board: squares across x down")
    kind.add_argument("--chessboard", metavar="COLSxROWS", help="chessboard inner corners, 9x6")
    g.add_argument("--square", type=float, metavar="M", help="square side, metres")
    g.add_argument("--marker", type=float, metavar="M", help="ChArUco marker side, metres")
    g.add_argument("--dict", default="DICT_4X4_1000", help="ArUco dictionary (%(default)s)")
    choices = ("auto", "modern", "legacy") if spec_file else ("modern", "legacy")
    g.add_argument(
        "--layout",
        choices=choices,
        default=choices[0],
        help="ChArUco layout: legacy = boards made before OpenCV 4.6 (%(default)s)",
    )


def output_args(p: argparse.ArgumentParser) -> None:
    """``--json``, ``--report`` and ``--workers``, the same on every calibrating command."""
    p.add_argument(
        "--json",
        metavar="PATH",
        help="write the full JSON summary to PATH ('-': print it instead of the short one)",
    )
    p.add_argument("--report", metavar="OUT.html", help="HTML report with plots")
    p.add_argument("--workers", type=int, default=2, help="detection threads (%(default)s)")


def save_json(summary: dict[str, Any], dest: str | None) -> None:
    """``--json PATH``: the full summary to PATH. ``-`` is printed by :func:`print_summary`,
    after everything else is written, so stdout stays one JSON document."""
    if dest and dest != "-":
        from calibration import io

        io.write_json(summary, dest)


def print_summary(short: dict[str, Any], summary: dict[str, Any], dest: str | None) -> None:
    """The short summary as one JSON line on stdout; the full one, indented, for ``--json -``."""
    print(json.dumps(summary, indent=2) if dest == "-" else json.dumps(short))
