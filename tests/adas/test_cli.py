"""The ``adas`` command: help, --version, --json, argument and input-file errors, eval on a
KITTI-format folder, bench JSON."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adas.cli import build_parser, main
from adas.evaluate.bench import bench_camera
from adas.synthetic import Objects3D, project_boxes

P2 = "P2: 721.5377 0 609.5593 0 0 721.5377 172.854 0 0 0 1 0\n"


def write_sequence(root: Path, frames: int = 40) -> None:
    """A car ahead closing from 30 m at 5 m/s, labelled like KITTI (ry = -pi/2, 10 Hz)."""
    (root / "label_02").mkdir(parents=True)
    (root / "calib").mkdir()
    (root / "calib" / "0000.txt").write_text(P2)
    cam = bench_camera()
    hwl = (1.53, 1.63, 3.88)
    lines = []
    for fr in range(frames):
        d = 30.0 - 0.5 * fr
        box = project_boxes(cam, Objects3D(np.array([d]), np.array([0.0]), np.array([hwl])))[0]
        z = d + hwl[2] / 2  # KITTI location: bottom centre of the 3D box
        lines.append(
            f"{fr} 1 Car 0 0 0 {box[0]:.2f} {box[1]:.2f} {box[2]:.2f} {box[3]:.2f} "
            f"{hwl[0]} {hwl[1]} {hwl[2]} 0 1.65 {z} {-math.pi / 2}\n"
        )
    (root / "label_02" / "0000.txt").write_text("".join(lines))


def test_eval_on_a_synthetic_sequence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sequence(tmp_path / "kt")
    out = tmp_path / "report.json"
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path / "kt"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    near = report["distance"]["bins"][0]
    assert near["n"] == 19 and near["median_abs_rel"] < 0.01  # frames 21-39 are under 20 m
    assert report["ttc"]["n"] > 10 and report["ttc"]["median_abs_rel"] < 0.1
    assert report["tracking"]["id_switches"] == 0
    assert "distance" in capsys.readouterr().out


def test_eval_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path)]) == 2
    assert "label_02" in capsys.readouterr().err
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path), "--box-noise-px", "-1"]) == 2


def test_bench_chain_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "chain", "--objects", "8", "--frames", "60"]) == 0  # default: stdout
    report = json.loads(capsys.readouterr().out)
    assert report["objects"] == 8
    assert report["tracked_in_last_frame"] == 8
    assert report["chain_us"]["median"] > 0
    assert set(report["stages_us"]) == {"track", "distance", "motion"}
    assert main(["bench", "chain", "--objects", "0"]) == 2


def test_help_is_instant_and_imports_nothing_heavy() -> None:
    code = (
        "import sys; from adas.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numba', 'cv2', 'scipy', 'adas.distance') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
    assert "kitti-tracking" in out.stdout


# ---- help, version, --json -----------------------------------------------------------------


def walk(parser: argparse.ArgumentParser, path: str = "adas") -> Iterator[tuple[str, Any]]:
    """Every (command path, parser) of the tree, the top level first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, f"{path} {name}")


def leaves() -> list[str]:
    parser = build_parser()
    return [
        path
        for path, p in walk(parser)
        if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    ]


def test_every_option_and_command_has_a_description() -> None:
    missing = []
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {c.dest}" for c in action._choices_actions if not c.help]
            elif not (action.help or "").strip():
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "chain", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 32)" in out and "(default: 2000)" in out and "(default: -)" in out
    text = " ".join(build_parser().format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize(
    ("group", "subcommands"),
    [
        ("bench", ("chain", "preprocess", "detect", "runtime", "replay")),
        ("eval", ("kitti-tracking", "kitti-object")),
        ("models", ("list", "fetch", "inspect", "check")),
    ],
)
def test_group_help_lists_subcommands_with_an_example_each(
    group: str, subcommands: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([group, "--help"])
    out = capsys.readouterr().out
    examples = out.split("examples:\n", 1)[1]
    for name in subcommands:
        assert f"    {name}" in out.split("options:")[0]  # listed with its help line
        assert f"  adas {group} {name} " in examples


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("adas ") and len(out.split()) >= 2


def test_every_json_option_takes_a_path_or_dash() -> None:
    parser = build_parser()
    with_json = []
    for path, p in walk(parser):
        for action in p._actions:
            if "--json" in action.option_strings:
                with_json.append(path)
                assert action.nargs is None and action.metavar == "PATH", path
    assert sorted(with_json) == sorted(
        [
            "adas eval kitti-tracking",
            "adas eval kitti-object",
            "adas eval sensor-model",
            "adas scenarios",
            "adas bench chain",
            "adas bench preprocess",
            "adas bench detect",
            "adas bench runtime",
            "adas bench replay",
            "adas models list",
            "adas models inspect",
            "adas models check",
        ]
    )
    required = {
        "adas eval kitti-tracking": ["--root", "r"],
        "adas eval kitti-object": ["--root", "r"],
    }
    required |= {"adas bench runtime": ["--input", "c"], "adas bench replay": ["--input", "c"]}
    required |= {"adas models inspect": ["m.onnx"], "adas models check": ["m.onnx"]}
    for path in with_json:
        argv = [*path.split()[1:], *required.get(path, [])]
        assert parser.parse_args([*argv, "--json", "-"]).json == "-"
        assert parser.parse_args([*argv, "--json", "out.json"]).json == "out.json"
        with pytest.raises(SystemExit):  # a bare --json is an error everywhere
            parser.parse_args([*argv, "--json"])
    assert parser.parse_args(["bench", "chain"]).json == "-"  # benchmarks print by default
    assert parser.parse_args(["scenarios"]).json is None


def test_json_dash_keeps_stdout_pure_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sequence(tmp_path / "kt")
    assert main(["eval", "kitti-tracking", "--root", str(tmp_path / "kt"), "--json", "-"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["tracking"]["id_switches"] == 0
    assert "distance" in out.err  # the human summary moved to stderr


def test_bench_json_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chain.json"
    args = ["bench", "chain", "--objects", "2", "--frames", "40", "--json", str(out)]
    assert main(args) == 0
    assert json.loads(out.read_text())["objects"] == 2
    assert capsys.readouterr().out == ""


# ---- errors: one line on stderr, exit 2 ------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A clip that is not a video, a folder, TOML that does not parse, a config with an unknown
    section, a file that is not UTF-8, and a missing path."""
    (tmp_path / "folder").mkdir()
    paths = {
        "garbage": tmp_path / "garbage.mp4",
        "folder": tmp_path / "folder",
        "bad_toml": tmp_path / "bad.toml",
        "unknown_section": tmp_path / "unknown.toml",
        "binary": tmp_path / "binary.toml",
        "missing": tmp_path / "missing.toml",
    }
    paths["garbage"].write_bytes(bytes(range(256)) * 20)
    paths["bad_toml"].write_text("bad = [\n")
    paths["unknown_section"].write_text("[nosuch]\nx = 1\n")
    paths["binary"].write_bytes(b"\xff\xfe[tracker]\n")
    return paths


CONFIG_CASES = [
    ("missing", "not found"),
    ("folder", "is a folder"),
    ("bad_toml", "not valid TOML"),
    ("unknown_section", "unknown sections"),
    ("binary", "not UTF-8"),
]


def command_with_config(name: str, tmp_path: Path, config: Path) -> list[str]:
    clip = tmp_path / "garbage.mp4"
    kt = tmp_path / "kt"
    return {
        "replay": ["replay", str(clip), "--out", str(tmp_path / "out"), "--config", str(config)],
        "run": ["run", "--input", str(clip), "--config", str(config)],
        "eval": ["eval", "kitti-object", "--root", str(kt), "--config", str(config)],
        "scenarios": ["scenarios", "--fast", "--config", str(config)],
    }[name]


@pytest.mark.parametrize("command", ["replay", "run", "eval", "scenarios"])
@pytest.mark.parametrize(("which", "message"), CONFIG_CASES)
def test_a_bad_config_is_one_line_and_exit_2(
    command: str,
    which: str,
    message: str,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(command_with_config(command, tmp_path, files[which])) == 2
    assert message in one_line_error(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "{missing}", "--out", "{tmp}/out"],
        ["run", "--input", "{missing}"],
        ["eval", "kitti-tracking", "--root", "{missing}"],
        ["eval", "kitti-object", "--root", "{missing}"],
    ],
)
def test_a_missing_input_is_one_line_and_exit_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = {"missing": str(tmp_path / "no_such_input"), "tmp": str(tmp_path)}
    assert main([a.format(**fill) for a in argv]) == 2
    assert "no_such_input" in one_line_error(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "{garbage}", "--out", "{tmp}/out"],
        ["run", "--input", "{garbage}"],
        ["replay", "{garbage}", "--out", "{tmp}/out2", "--camera", "{folder}"],
        ["run", "--input", "{garbage}", "--camera", "{binary}"],
        ["eval", "kitti-tracking", "--root", "{garbage}"],
        ["scenarios", "--fast", "--json", "{folder}"],
        ["scenarios", "--fast", "--report", "{tmp}/no_folder/r.html"],
    ],
)
def test_an_unreadable_input_or_unwritable_output_is_one_line_and_exit_2(
    argv: list[str], files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    assert main([a.format(**fill) for a in argv]) == 2
    one_line_error(capsys)


@pytest.mark.parametrize("command", ["replay", "run", "eval", "scenarios"])
def test_a_config_without_read_permission_is_one_line_and_exit_2(
    command: str,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Denied by the file system as for a user without permission (chmod 0 does not stop root,
    # who runs CI here): opening the file raises PermissionError.
    locked = tmp_path / "locked.toml"
    locked.write_text("[tracker]\n")
    real_open = Path.open

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    assert main(command_with_config(command, tmp_path, locked)) == 2
    assert "cannot be read" in one_line_error(capsys)
