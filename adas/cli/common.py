"""What every ``adas`` command shares: the help layout, ``--version``, ``--json PATH`` and
``--config``, the checks of input and output paths made before the work starts, and the
one-line error that exits with status 2.

Nothing heavy is imported here: the parser is built before any of the stack is loaded, so
``--help`` and ``--version`` are instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from adas.errors import AdasError

DIST_NAME = "adas-perception"  # the distribution both console scripts come from

EXIT_USAGE = 2  # a wrong command line or unusable input file (argparse uses 2 as well)


class UsageError(AdasError):
    """A command-line value or a named file cannot be used; found before the work starts."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs kept as written (they hold examples), and each option's default
    appended to its help. Defaults of None, False and "" are left out: they mean "absent", and
    the help says what absent does."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or (isinstance(default, str) and not default):
            return action.help
        return super()._get_help_string(action)


def installed_version() -> str:
    """The installed distribution's version; a plain note when running from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DIST_NAME)
    except PackageNotFoundError:
        return "(version unknown: not installed; pip install -e . in the checkout)"


class VersionAction(argparse.Action):
    """``--version``: prints ``PROG VERSION`` and exits 0. The version is looked up only when
    asked for (``importlib.metadata`` scans the installed distributions)."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: Any = argparse.SUPPRESS,
        help: str = "print the program's version and exit",
    ) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def add_json_arg(p: argparse.ArgumentParser, what: str, *, default: str | None = None) -> None:
    """``--json PATH`` the same on every command: a file, or ``-`` for stdout (the human
    summary then goes to stderr, so stdout is pure JSON)."""
    p.add_argument(
        "--json",
        metavar="PATH",
        default=default,
        help=f"write {what} as JSON to PATH ('-': stdout)",
    )


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="TOML",
        help="TOML overriding data/config/default.toml",
    )


def add_model_arg(p: argparse.ArgumentParser, *, card: bool = False) -> None:
    p.add_argument(
        "--model", default=None, help="registry name or .onnx path (default: config [detect])"
    )
    if not card:
        return
    p.add_argument(
        "--model-card",
        type=Path,
        default=None,
        help="model card TOML (default: the card beside the model, MODEL.toml, if any)",
    )


def json_to_stdout(dest: str | Path | None) -> bool:
    return dest is not None and str(dest) == "-"


def summary_stream(json_dest: str | Path | None) -> TextIO:
    """Where a command's human summary goes: stderr when ``--json -`` takes stdout."""
    return sys.stderr if json_to_stdout(json_dest) else sys.stdout


def emit_json(report: dict[str, Any], dest: str | Path) -> None:
    """Write ``report`` as indented JSON to the file ``dest``, or to stdout for ``-``."""
    text = json.dumps(report, indent=2)
    if json_to_stdout(dest):
        print(text)
    else:
        Path(dest).write_text(text + "\n")


def check_range(option: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        msg = f"{option} {value:g}: allowed range is [{lo:g}, {hi:g}]"
        raise UsageError(msg)


def check_input(path: Path | None, what: str, *, folder_ok: bool = False) -> None:
    """Refuse, before any work, an input that is missing, a folder where a file is expected,
    or a file that cannot be opened."""
    if path is None:
        return
    if not path.exists():
        msg = f"{what} {path} not found"
        raise UsageError(msg)
    if path.is_dir():
        if folder_ok:
            return
        msg = f"{what} {path} is a folder; expected a file"
        raise UsageError(msg)
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        msg = f"{what} {path} cannot be read: {exc.strerror or exc}"
        raise UsageError(msg) from exc


def check_text_input(path: Path | None, what: str) -> None:
    """:func:`check_input` for a small text file (TOML, YAML, CSV), which must be UTF-8."""
    check_input(path, what)
    if path is None:
        return
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{what} {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise UsageError(msg) from exc


def check_output(path: str | Path | None, what: str) -> None:
    """Refuse, before hours of work, an output file that could not be written: a folder, or
    in a folder that does not exist. ``-`` (stdout) and None (no output) pass."""
    if path is None or json_to_stdout(path):
        return
    p = Path(path)
    if p.is_dir():
        msg = f"{what} {p} is a folder; expected a file path"
        raise UsageError(msg)
    if not p.parent.is_dir():
        msg = f"{what} {p}: folder {p.parent} does not exist"
        raise UsageError(msg)


def describe(exc: BaseException) -> str:
    """One line for the user: OS errors as ``PATH: reason`` rather than ``[Errno N] ...``."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({exc.reason})"
    return " ".join(str(exc).split()) or type(exc).__name__
