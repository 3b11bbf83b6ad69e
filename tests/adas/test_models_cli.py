"""``adas models`` and the self-check that refuses a model fed the wrong way: on the shared
models, re-saved as files the registry does not know (a user's own export of a known family)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adas.cli import main
from adas.detect.config import DetectConfig
from adas.errors import ModelFormatError
from adas.evaluate import model_check

pytestmark = pytest.mark.data


@pytest.fixture(autouse=True)
def _env(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ADAS_CACHE_DIR", str(tmp_path / "cache"))


def user_copy(data_dir: Path, file: str, dest: Path) -> Path:
    """The shared model re-saved with one more metadata entry: same graph, another sha256."""
    onnx = pytest.importorskip("onnx", reason="the onnx package (dev extra) builds the copy")
    model = onnx.load(str(data_dir / "models" / file))
    entry = model.metadata_props.add()
    entry.key, entry.value = "exported_by", "a user"
    out = dest / f"user_{Path(file).stem}.onnx"
    onnx.save(model, str(out))
    return out


def test_list_names_every_registry_model_and_its_file(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["default"] == "yolox_nano"
    names = {m["name"]: m for m in report["models"]}
    assert set(names) >= {"yolox_nano", "nanodet_m_320", "fastestdet"}
    assert all(m["found"] and Path(m["file"]).parent == data_dir / "models" for m in names.values())


def test_inspect_says_where_each_value_comes_from(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = user_copy(data_dir, "nanodet_m_320.onnx", tmp_path)
    assert main(["models", "inspect", str(path), "--json", "-"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["registry"] is None and r["card"] is None
    assert r["metadata"] == {"exported_by": "a user"}
    assert r["family_from_shapes"] == "nanodet" == r["spec"]["family"]
    assert r["origin"]["family"] == "output shapes (identify_family)"
    assert r["spec"]["mean"] == [103.53, 116.28, 123.675]
    assert r["origin"]["mean"].startswith("family default")
    assert r["input"] == {"name": "input.1", "shape": [1, 3, 320, 320]}
    assert len(r["outputs"]) == 6 and r["adas_classes"]["car"] == [2]


def test_check_fails_a_model_fed_without_its_normalisation(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 20's case: NanoDet fed BGR 0-255 with no normalisation found 0 of 26 cars."""
    path = user_copy(data_dir, "nanodet_m_320.onnx", tmp_path)
    frames = str(data_dir / "kitti" / "object")
    card = tmp_path / "wrong.toml"
    card.write_text('mean = [0, 0, 0]\nstd = [1, 1, 1]\nresize = "letterbox"\n')
    argv = ["models", "check", str(path), "--images", frames, "--json", "-"]
    assert main([*argv, "--model-card", str(card)]) == 1
    out = capsys.readouterr()
    bad = json.loads(out.out)
    assert not bad["passed"] and bad["cars"]["gt"] == 26
    assert bad["cars"]["recall"] < model_check.MIN_CAR_RECALL
    assert "model check failed" in out.err and "--fit-card" in out.err
    assert main(argv) == 0  # its family's preprocessing: passes
    good = json.loads(capsys.readouterr().out)
    assert good["passed"] and good["cars"]["recall"] >= 0.5


def test_replay_and_run_refuse_a_failing_model_unless_forced(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = user_copy(data_dir, "nanodet_m_320.onnx", tmp_path)
    (tmp_path / "user_nanodet_m_320.toml").write_text("std = [1, 1, 1]\nmean = [0, 0, 0]\n")
    cfg = DetectConfig(model=str(path))
    with pytest.raises(ModelFormatError, match="self-check failed"):
        model_check.guard(cfg)
    cached = list(model_check.check_cache_dir().glob("*.json"))
    assert len(cached) == 1 and not json.loads(cached[0].read_text())["passed"]
    assert "run anyway" in model_check.guard(cfg, force=True)
    clip = data_dir / "video" / "udacity" / "test_video.mp4"
    argv = ["replay", str(clip), "--out", str(tmp_path / "out"), "--model", str(path)]
    assert main(argv) == 2
    assert "self-check failed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any output
    assert main(["run", "--input", str(clip), "--model", str(path), "--ego", "fixed"]) == 2
    # The registry's own file is trusted without a check; without its card the copy passes.
    assert "registry model" in model_check.guard(DetectConfig())
    (tmp_path / "user_nanodet_m_320.toml").unlink()
    assert "passed" in model_check.guard(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("file", ["yolox_nano.onnx", "nanodet_m_320.onnx", "FastestDet.onnx"])
def test_fit_card_recovers_each_shared_models_input_convention(
    data_dir: Path, tmp_path: Path, file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from adas.detect.registry import load_registry

    path = user_copy(data_dir, file, tmp_path)
    known = next(s for s in load_registry().models.values() if s.file == file)
    card = tmp_path / "fitted.toml"
    frames = str(data_dir / "kitti" / "object")
    argv = ["models", "check", str(path), "--images", frames, "--fit-card", str(card)]
    assert main([*argv, "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    chosen = report["fit"]["chosen"]
    assert report["fit"]["families"][0]["family"] == known.family  # the decoder too
    # Channel order and normalisation are what turn detections into garbage: recovered exactly.
    assert chosen["channel_order"] == known.channel_order
    assert tuple(chosen["mean"]) == known.mean and tuple(chosen["std"]) == known.std
    assert report["passed"] and card.is_file()
