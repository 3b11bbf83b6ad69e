"""Model registry, model files and the ONNX Runtime session (adas.detect.registry/.session)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from adas.detect.registry import REGISTRY_PATH, Registry, load_registry, resolve_model
from adas.detect.session import OnnxSession, provider_names
from adas.errors import ConfigError, ModelFormatError


def test_registry_entries_are_complete() -> None:
    reg = load_registry()
    assert reg.default in reg.models
    assert {"yolox_nano", "nanodet_m_320", "fastestdet"} <= set(reg.models)
    for spec in reg.models.values():
        assert spec.url.startswith("https://raw.githubusercontent.com/")
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.source and spec.licence and spec.family


def test_registry_rejects_bad_entries(tmp_path: Path) -> None:
    text = REGISTRY_PATH.read_text()
    bad = tmp_path / "models.toml"
    bad.write_text(text.replace('channel_order = "bgr"', 'channel_order = "bgra"', 1))
    with pytest.raises(ConfigError, match="channel_order"):
        load_registry(bad)
    bad.write_text(text.replace('default = "yolox_nano"', 'default = "nope"'))
    with pytest.raises(ConfigError, match="default"):
        load_registry(bad)
    bad.write_text(text + '\n[models.x]\nfile = "x.onnx"\nfamily = "yolox"\nbogus = 1\n')
    with pytest.raises(ConfigError, match="bogus"):
        load_registry(bad)


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder and home, no model environment variables: nothing to find."""
    cwd = tmp_path / "work" / "project"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ADAS_DATA_DIR", raising=False)
    monkeypatch.delenv("ADAS_MODEL_DIR", raising=False)
    return cwd


def test_missing_registry_file_names_the_fetch_command(
    tmp_path: Path, no_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAS_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("ADAS_MODEL_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelFormatError, match=r"fetch_models\.py yolox_nano"):
        resolve_model("yolox_nano")
    with pytest.raises(ModelFormatError, match="not found"):
        resolve_model(str(tmp_path / "missing.onnx"))
    with pytest.raises(ConfigError, match="unknown model"):
        Registry(default="a", models={}).get("b")


def test_missing_model_error_names_every_folder_searched(
    tmp_path: Path, no_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAS_MODEL_DIR", str(tmp_path / "models_env"))
    monkeypatch.setenv("ADAS_DATA_DIR", str(tmp_path / "data_env"))
    with pytest.raises(ModelFormatError) as err:
        resolve_model("yolox_nano")
    text = str(err.value)
    searched = [
        tmp_path / "models_env",
        tmp_path / "data_env" / "models",
        no_models / "build" / "data" / "models",
        tmp_path / "work" / "shared" / "data" / "models",
        tmp_path / "home" / ".cache" / "adas" / "models",
    ]
    where = [text.index(os.path.abspath(d)) for d in searched]  # every one, in search order
    assert where == sorted(where)
    assert "ADAS_DATA_DIR" in text
    assert "python tools/fetch_data.py --only models" in text


def test_model_fetched_by_make_demo_is_found_without_adas_data_dir(no_models: Path) -> None:
    spec = load_registry().get("yolox_nano")
    folder = no_models / "build" / "data" / "models"
    folder.mkdir(parents=True)
    (folder / spec.file).write_bytes(b"not a real model: only its place matters here")
    path, found = resolve_model("yolox_nano")
    assert found == spec
    assert path.absolute() == folder / spec.file


def test_shared_data_next_to_the_project_is_found(no_models: Path) -> None:
    spec = load_registry().get("yolox_nano")
    folder = no_models.parent / "shared" / "data" / "models"
    folder.mkdir(parents=True)
    (folder / spec.file).write_bytes(b"placeholder")
    path, _ = resolve_model("yolox_nano")
    assert path.resolve() == (folder / spec.file).resolve()


def test_provider_names() -> None:
    assert provider_names(["TensorRT", "cuda", "cpu"]) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(ConfigError, match="unknown provider 'tpu'"):
        provider_names(["tpu"])
    with pytest.raises(ConfigError, match="empty"):
        provider_names([])


@pytest.fixture(scope="module")
def fastestdet(data_dir: Path) -> Path:
    return data_dir / "models" / "FastestDet.onnx"


@pytest.mark.data
def test_registry_finds_shared_models_by_name_and_checksum(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAS_DATA_DIR", str(data_dir))
    path, spec = resolve_model("fastestdet")
    assert path == data_dir / "models" / "FastestDet.onnx" and spec is not None
    renamed = tmp_path / "whatever.onnx"
    shutil.copy(path, renamed)
    _, by_sha = resolve_model(str(renamed))
    assert by_sha is not None and by_sha.name == "fastestdet"
    path, spec = resolve_model(None)
    assert spec is not None and spec.name == load_registry().default


@pytest.mark.data
@pytest.mark.parametrize("damage", ["truncated", "text", "empty"])
def test_broken_model_files_get_a_clear_error(
    fastestdet: Path, tmp_path: Path, damage: str
) -> None:
    bad = tmp_path / f"{damage}.onnx"
    if damage == "truncated":
        bad.write_bytes(fastestdet.read_bytes()[:50_000])
    elif damage == "text":
        bad.write_text("this is not a model\n")
    else:
        bad.write_bytes(b"")
    with pytest.raises(ModelFormatError, match=str(bad.name)):
        OnnxSession(bad, providers=("cpu",))


@pytest.mark.data
def test_session_reports_providers_and_io_binding_matches_plain_run(fastestdet: Path) -> None:
    bound = OnnxSession(fastestdet, providers=("cpu",), io_binding=True)
    plain = OnnxSession(fastestdet, providers=("cpu",), io_binding=False, warmup_runs=0)
    assert bound.providers_used == ["CPUExecutionProvider"]
    assert bound.input_wh == (352, 352) and bound.channels == 3
    x = np.random.default_rng(1).random((1, 3, 352, 352), dtype=np.float32)
    a = [o.copy() for o in bound.run(x)]
    b = plain.run(x)
    assert len(a) == len(b) == 1
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ModelFormatError, match="needs"):
        bound.run(np.zeros((1, 3, 320, 320), np.float32))


def test_unbound_runs_beside_a_bound_run_and_the_model_cpu_is_counted(fastestdet: Path) -> None:
    """bound=False gives new arrays equal to the bound run's while a bound run goes on in
    another thread (a pipelined replay's second look); run_cpu_ns is the calling threads' CPU
    in the session: with one intra-op thread, nearly all of a caller's CPU over its runs."""
    sess = OnnxSession(fastestdet, providers=("cpu",), io_binding=True, intra_op_threads=1)
    rng = np.random.default_rng(2)
    xs = [rng.random((1, 3, 352, 352), dtype=np.float32) for _ in range(6)]
    want = [[o.copy() for o in sess.run(x)] for x in xs]
    got: list[list[np.ndarray]] = []

    def unbound() -> None:
        got.extend(sess.run(x, bound=False) for x in xs)

    side = threading.Thread(target=unbound)
    side.start()
    for x in xs * 3:  # bound runs meanwhile
        sess.run(x)
    side.join()
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    before, c0 = sess.run_cpu_ns, time.thread_time_ns()
    for x in xs:
        sess.run(x)
    spent, counted = time.thread_time_ns() - c0, sess.run_cpu_ns - before
    assert 0.8 * spent <= counted <= spent


@pytest.mark.data
def test_unavailable_first_provider(fastestdet: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the fallback case cannot be shown here")
    s = OnnxSession(fastestdet, providers=("cuda", "cpu"), warmup_runs=0)
    assert s.providers_used == ["CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="require_first_provider"):
        OnnxSession(fastestdet, providers=("cuda", "cpu"), require_first_provider=True)


def test_detect_config_rejects_absurd_values() -> None:
    from adas.detect.config import DetectConfig
    from adas.params import from_mapping

    cfg = from_mapping(DetectConfig, {"tiles": 2, "scores": {"car": 0.5}}, "detect")
    assert cfg.tiles == 2 and cfg.scores.car == 0.5 and cfg.scores.truck == 0.4
    with pytest.raises(ConfigError, match=r"detect\.tiles = 20"):
        from_mapping(DetectConfig, {"tiles": 20}, "detect")
    with pytest.raises(ConfigError, match=r"detect\.scores\.car = 1\.5"):
        from_mapping(DetectConfig, {"scores": {"car": 1.5}}, "detect")
    with pytest.raises(ConfigError, match="preprocess_backend"):
        from_mapping(DetectConfig, {"preprocess_backend": "gpu"}, "detect")
    with pytest.raises(ConfigError, match="nms_iou"):
        from_mapping(DetectConfig, {"nms_iou": float("nan")}, "detect")
