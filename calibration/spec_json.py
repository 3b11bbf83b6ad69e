"""Spec files (a board's, an array's) as JSON: written whole, read back with errors that name
the file and say which kind of spec it should have been."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calibration.errors import BoardSpecError, OutputError


def write_spec(path: str | Path, data: dict[str, Any], what: str) -> None:
    """Write ``data`` as indented JSON; OutputError naming ``what`` if the file cannot be."""
    try:
        Path(path).write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        msg = f"{path}: cannot write the {what}: {exc}"
        raise OutputError(msg) from exc


def read_spec(path: str | Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; BoardSpecError naming the file and ``what`` otherwise."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"{path}: cannot read the {what} (JSON): {exc}"
        raise BoardSpecError(msg) from exc
    if not isinstance(d, dict):
        article = "an" if what[0] in "aeiou" else "a"
        msg = f"{path}: {article} {what} is a JSON object"
        raise BoardSpecError(msg)
    return d
