"""The architecture rules a linter cannot state: module size and private names.

The import layering itself is checked by import-linter (``[tool.importlinter]`` in
pyproject.toml, run by ``make lint``); these tests cover the rest of docs/architecture.md:

* no module imports another module's ``_private`` name, neither ``from m import _x`` nor
  ``m._x`` on an imported module (tests may; shared helpers get a public name instead);
* no Python module of the shipped packages or tools is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adas", "calibration", "fpga")
CHECKED = (*PACKAGES, "tools")
MAX_LINES = 400


def _sources() -> list[Path]:
    paths = (p for d in CHECKED for p in (ROOT / d).rglob("*.py"))
    return sorted(p for p in paths if "__pycache__" not in p.parts)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` of a chain of attribute lookups on a name (None for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``module: line: what`` for every use of another module's private name in ``path``."""
    me = _module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> project module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not _ours(node.module) or node.module == me:
                continue
            for a in node.names:
                if _private(a.name):
                    found.append(f"{me}:{node.lineno}: from {node.module} import {a.name}")
                else:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if _ours(a.name):
                    if any(_private(p) for p in a.name.split(".")):
                        found.append(f"{me}:{node.lineno}: import {a.name}")
                    aliases[a.asname or a.name.split(".")[0]] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain = _dotted(node.value)
            if chain is not None and chain.split(".")[0] in aliases:
                found.append(f"{me}:{node.lineno}: {chain}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = [hit for p in _sources() for hit in private_imports(p)]
    assert found == [], "private names used across modules:\n" + "\n".join(found)


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in _sources()
    }
    over = {k: n for k, n in sizes.items() if n > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines (split along meaning): {over}"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from adas.replay import _camera\n", "from adas.replay import _camera"),
        ("import adas.replay as r\nr._pipeline()\n", "r._pipeline"),
        ("from adas import replay\nreplay.to_bgr\nreplay._x\n", "replay._x"),
        ("import adas.replay\nadas.replay._camera\n", "adas.replay._camera"),
        ("import adas.replay\nself._private = 1\n", None),  # own attributes are fine
        ("from numpy import _core\n", None),  # not ours
        ("from adas.replay import camera, __all__\n", None),
    ],
)
def test_the_private_import_check_sees_what_it_must(
    tmp_path: Path, code: str, expected: str | None
) -> None:
    """The checker itself: every form of reaching into a private name is found."""
    (tmp_path / "adas").mkdir()
    probe = tmp_path / "adas" / "probe.py"
    probe.write_text(code)
    hits = private_imports(probe, tmp_path)
    if expected is None:
        assert hits == []
    else:
        assert len(hits) == 1 and hits[0].endswith(expected), hits
