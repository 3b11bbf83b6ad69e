"""The one assembly of the application (adas.app): camera choice, the per-process detector
cache, the warm-up that keeps numba compilation out of the first frames, and the rules the
assembly relies on (kernels cached on disk, no private imports across modules)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adas import app
from adas.camera import CameraModel
from adas.config import ReplayConfig, load_config
from adas.sources import SourceItem
from adas.sources.bag import DEFAULT_MAX_EGO_AGE_S
from adas.types import EgoState, Frame, PixelFormat

ROOT = Path(__file__).resolve().parents[2]
ADAS = ROOT / "adas"


def _item(w: int = 640, h: int = 360) -> SourceItem:
    frame = Frame(np.zeros((h, w, 3), np.uint8), PixelFormat.BGR8, 0)
    return SourceItem(frame=frame, ego=EgoState(0, valid=False), camera_info=None)


def _python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter on this checkout; its stdout."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_uncalibrated_camera_uses_the_one_default_field_of_view() -> None:
    cfg = load_config()
    cam, note = app.select_camera(_item(), cfg)
    assert f"{cfg.replay.fov_deg:g} deg" in note and "UNCALIBRATED" in note
    expected = app.fov_camera(640, 360, cfg.replay.fov_deg, cfg)
    np.testing.assert_array_equal(cam.K, expected.K)
    narrow, _ = app.select_camera(_item(), cfg, fov_deg=30.0)
    assert narrow.fx > cam.fx


def test_pipelines_share_a_detector_per_camera_and_never_repoint_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import adas.detect.detector as detector_module

    class FakeDetector:
        def __init__(self, config: Any, camera: CameraModel) -> None:
            self.config, self.camera, self.frames = config, camera, 0

    monkeypatch.setattr(detector_module, "Detector", FakeDetector)
    monkeypatch.setattr(app, "_DETECTORS", type(app._DETECTORS)())
    cfg = load_config()
    a = app.fov_camera(640, 360, 60.0, cfg)
    same = app.fov_camera(640, 360, 60.0, cfg)  # equal values, another object
    other = app.fov_camera(1280, 720, 60.0, cfg)
    p1, p2, p3 = app.pipeline(cfg, a), app.pipeline(cfg, same), app.pipeline(cfg, other)
    assert p1.detector is p2.detector and p1.chain is not p2.chain
    assert p3.detector is not p1.detector
    assert p1.detector.camera is a and p3.detector.camera is other  # nothing re-pointed
    for k in range(app.DETECTORS_KEPT + 1):  # the cache keeps the most recent ones only
        app.pipeline(cfg, app.fov_camera(320 + 2 * k, 240, 60.0, cfg))
    assert len(app._DETECTORS) == app.DETECTORS_KEPT


def test_replay_section_holds_the_numbers_the_sources_default_to() -> None:
    cfg = load_config()
    assert cfg.replay == ReplayConfig()
    assert cfg.replay.max_ego_age_s == DEFAULT_MAX_EGO_AGE_S
    assert cfg.replay.small_machine_cpus == 4


def _njit_decorators(tree: ast.AST) -> list[ast.Call | ast.expr]:
    found: list[ast.Call | ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                attr = target.attr if isinstance(target, ast.Attribute) else None
                if (attr or getattr(target, "id", "")) in ("njit", "jit"):
                    found.append(dec)
    return found


def test_every_numba_kernel_is_cached_on_disk() -> None:
    """A fresh process loads compiled kernels instead of compiling them again (seconds)."""
    count = 0
    for path in sorted(ADAS.rglob("*.py")):
        for dec in _njit_decorators(ast.parse(path.read_text(encoding="utf-8"))):
            count += 1
            cached = isinstance(dec, ast.Call) and any(
                k.arg == "cache" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in dec.keywords
            )
            assert cached, f"{path.relative_to(ROOT)}:{dec.lineno}: add cache=True"
    assert count >= 10  # distance, motion, track and preprocess kernels


def test_a_second_process_loads_kernels_from_the_disk_cache(tmp_path: Path) -> None:
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    code = """
        import json
        from adas import motion_kernels as mk
        mk.ttc1(20.0, -5.0, 0.0, 10.0)
        s = mk.ttc1.stats
        print(json.dumps({"hits": sum(s.cache_hits.values()),
                          "misses": sum(s.cache_misses.values())}))
    """
    first = json.loads(_python(code, env))
    assert first == {"hits": 0, "misses": 1}  # compiled, then written to the cache
    assert list(tmp_path.rglob("*ttc1*.nbi"))  # numba's index of the cached kernel
    second = json.loads(_python(code, env))
    assert second == {"hits": 1, "misses": 0}  # loaded, not compiled


def test_warm_up_runs_every_chain_kernel_before_the_first_frame() -> None:
    """After the warm-up a busy drive (several cars, approaching and crossing, ego turning)
    compiles nothing: no frame's latency pays for compilation."""
    code = """
        import json
        import numpy as np
        from numba.core.registry import CPUDispatcher
        from adas import app, distance_kernels, motion_bank, motion_kernels, track
        from adas.config import load_config
        from adas.pipeline import Chain
        from adas.types import Detections, EgoState

        def signatures():
            mods = (distance_kernels, motion_bank, motion_kernels, track)
            return {f"{m.__name__}.{n}": [str(s) for s in getattr(m, n).signatures]
                    for m in mods for n in dir(m) if isinstance(getattr(m, n), CPUDispatcher)}

        cfg = load_config()
        cam = app.fov_camera(1280, 720, 60.0, cfg)
        app.warm_chain(cam, cfg)
        warm = signatures()
        chain = Chain(cam, cfg)
        for k in range(40):
            t = k * 33_333_333
            boxes = [[600 - 4 * k, 420 - k, 700 + 4 * k, 500 + 2 * k],   # closing fast
                     [200 + 10 * k, 400, 300 + 10 * k, 480],             # crossing
                     [900, 380, 960, 430]]                               # steady, right
            dets = Detections.from_arrays(np.array(boxes, np.float32),
                                          [0.9, 0.8, 0.7], [2, 0, 5])
            chain(dets, EgoState(t_ns=t, speed_mps=15.0, yaw_rate_rps=0.05), t)
        print(json.dumps({"warm": warm, "after": signatures()}))
    """
    out = json.loads(_python(code))
    assert out["after"] == out["warm"]
    # Every kernel the chain calls itself ran in the warm-up (helpers only called from
    # another kernel, and solve_ttc's kernel outside the chain, are compiled with their caller).
    inner = {
        "adas.distance_kernels.range_cues",  # from adas.distance_batch.hyp_cues
        "adas.motion_kernels.ttc1",
        "adas.motion_kernels.ettc1",
        "adas.motion_kernels.stop_limited_ttc",
        "adas.motion_kernels._follow_scale",
        "adas.motion_kernels._true_states",
    }
    outside = {"adas.motion_kernels.ttc_many"}
    assert all(out["warm"][k] for k in set(out["warm"]) - inner - outside)


def _imported_private_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("adas")
        for alias in node.names
        if alias.name.startswith("_")
    ]


def test_no_module_imports_another_modules_private_name() -> None:
    offenders = {
        str(p.relative_to(ROOT)): names
        for p in sorted(ADAS.rglob("*.py"))
        if (names := _imported_private_names(p))
    }
    assert offenders == {}
