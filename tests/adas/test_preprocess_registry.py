"""The preprocess backend registry: the FPGA backend is a plug-in that adas never imports.

``adas.preprocess.plugin_factory`` finds it through the entry point group
``adas.preprocess_backends`` and, when no entry point is registered (a source checkout, or an
install older than the entry point), by importing its module by name. Both paths are tested
here with ``entry_points`` replaced; the real metadata is whatever this venv was installed with.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adas.preprocess as preprocess
from adas.errors import ConfigError
from adas.preprocess import BACKEND_ENTRY_POINTS, SHIPPED_PLUGINS, PreprocessBackend
from adas.preprocess_cpu import OpenCVBackend

REPO = Path(__file__).resolve().parents[2]
FPGA = PreprocessBackend.FPGA
CFG: dict[str, Any] = {"input_format": "bgr8", "in_size": (64, 48), "out_size": (32, 32)}


@pytest.fixture(autouse=True)
def fresh_lookup() -> Iterator[None]:
    """Each test looks the plug-in up again (the lookup is cached per process)."""
    preprocess.plugin_factory.cache_clear()
    yield
    preprocess.plugin_factory.cache_clear()


def registered(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> list[dict[str, Any]]:
    """Make ``eps`` the installed entry points; returns the lookups made."""
    calls: list[dict[str, Any]] = []

    def entry_points(**selection: Any) -> list[EntryPoint]:
        calls.append(selection)
        return [ep for ep in eps if all(getattr(ep, k) == v for k, v in selection.items())]

    monkeypatch.setattr(preprocess, "entry_points", entry_points)
    return calls


def declared_entry_point() -> str:
    """The ``fpga`` entry point pyproject.toml declares."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return str(project["entry-points"][BACKEND_ENTRY_POINTS]["fpga"])


def test_entry_point_is_used_when_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered entry point wins over the shipped module name."""
    ep = EntryPoint("fpga", "adas.preprocess_cpu:OpenCVBackend", BACKEND_ENTRY_POINTS)
    calls = registered(monkeypatch, ep)
    pre = preprocess.Preprocessor("fpga", **CFG)
    assert isinstance(pre.backend, OpenCVBackend)
    assert calls == [{"group": BACKEND_ENTRY_POINTS, "name": "fpga"}]
    preprocess.Preprocessor("fpga", **CFG)
    assert len(calls) == 1  # looked up once per process


def test_declared_entry_point_loads_the_fpga_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyproject's entry point, as an installed distribution would list it, is FpgaBackend."""
    from fpga.backend import FpgaBackend

    target = declared_entry_point()
    assert target == SHIPPED_PLUGINS[FPGA]  # the by-name fallback names the same object
    registered(monkeypatch, EntryPoint("fpga", target, BACKEND_ENTRY_POINTS))
    assert preprocess.plugin_factory(FPGA) is FpgaBackend


def test_without_entry_point_the_module_is_imported_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fpga.backend import FpgaBackend

    calls = registered(monkeypatch)
    monkeypatch.delenv("ADAS_FPGA_BITFILE", raising=False)
    pre = preprocess.Preprocessor("fpga", **CFG)
    assert calls and isinstance(pre.backend, FpgaBackend)
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    want, _ = preprocess.Preprocessor("reference", **CFG)(image)
    assert pre(image)[0].tobytes() == want.tobytes()  # the fallback to the golden model


def test_unloadable_plugin_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    registered(monkeypatch)
    monkeypatch.setitem(SHIPPED_PLUGINS, FPGA, "no_such_package.backend:Backend")
    with pytest.raises(ConfigError, match=r"cannot load 'no_such_package\.backend:Backend'"):
        preprocess.Preprocessor("fpga", **CFG)
    registered(monkeypatch, EntryPoint("fpga", "adas.preprocess:Nothing", BACKEND_ENTRY_POINTS))
    with pytest.raises(ConfigError, match=r"cannot load 'adas\.preprocess:Nothing'"):
        preprocess.Preprocessor("fpga", **CFG)
    registered(monkeypatch, EntryPoint("fpga", "adas.preprocess:log", BACKEND_ENTRY_POINTS))
    with pytest.raises(ConfigError, match="is not a backend factory"):
        preprocess.Preprocessor("fpga", **CFG)
    registered(monkeypatch)
    monkeypatch.delitem(SHIPPED_PLUGINS, FPGA)
    with pytest.raises(ConfigError, match="'fpga' is not installed: no entry point"):
        preprocess.Preprocessor("fpga", **CFG)


def test_adas_never_imports_fpga() -> None:
    """No import statement in adas names fpga; importing adas's modules loads none of it."""
    offenders = []
    for path in sorted((REPO / "adas").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno}"
                for n in names
                if n == "fpga" or n.startswith("fpga.")
            ]
    assert offenders == []
    code = (
        "import sys, adas.preprocess, adas.evaluate.bench_preprocess, adas.detect.detector\n"
        "sys.exit(any(m == 'fpga' or m.startswith('fpga.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
