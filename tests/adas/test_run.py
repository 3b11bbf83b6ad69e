"""``adas run`` end to end on the real clip: the stand-in camera, a virtual CAN bus with its
log, the recording, and replay of that recording with the ego state it was driven with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adas.can import decode_log
from adas.cli import main
from adas.replay import ReplayOptions, replay_drive
from adas.run import RunError, RunOptions, build

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def clip(data_dir: Path) -> Path:
    return data_dir / "video/udacity/test_video.mp4"


def test_run_logs_can_records_and_the_recording_replays(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, rec = tmp_path / "run.asc", tmp_path / "rec"
    args = ["run", "--input", str(clip), "--ego", "fixed", "--ego-speed-mps", "20",
            "--rate", "0.5", "--can-interface", "virtual", "--can-channel", f"t{id(tmp_path)}",
            "--can-log", str(log), "--record", str(rec)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr()
    status = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    final = status[-1]
    # At half speed the 2-core machine keeps up: (almost) every frame processed, one command
    # each, none unavailable; the 38 frames are all accounted for.
    assert final["frames"] + final["dropped_busy"] == 38
    assert final["commands"] >= final["processed"] >= 30
    assert final.get("unavailable_commands", 0) == 0 and final["state"] == "OK"
    rows = decode_log(log)
    commands = [r for r in rows if r["name"] == "ADAS_Command"]
    assert len(commands) == final["commands"] and all(r["e2e"] == "OK" for r in commands)
    assert {r["signals"]["BrakeRequest"] for r in commands} == {0}  # cars in the next lane
    assert any(r["name"] == "ADAS_Status" for r in rows)
    assert f"recorded {final['processed']} frames" in out.err
    # The recording replays: same frames, and the recorded ego speed (no UNAVAILABLE).
    s = replay_drive(rec / "results", tmp_path / "replayed", ReplayOptions(video=False))
    assert s.frames == final["processed"] and s.decision_frames["UNAVAILABLE"] == 0


def test_run_refuses_bad_combinations(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="--ego bag needs --input"):
        build(RunOptions(device="0", ego="bag", camera_file=tmp_path / "c.yaml"))
    with pytest.raises(RunError, match="needs its calibration"):
        build(RunOptions(device="0", ego="fixed"))
    with pytest.raises(RunError, match="does not exist"):
        build(RunOptions(input=tmp_path / "none.mp4", ego="fixed"))
    assert main(["run", "--input", str(clip), "--rate", "0"]) == 2
    # A refused run leaves no recording folder behind.
    rec = tmp_path / "rec"
    missing = ["--input", str(tmp_path / "none.mp4"), "--ego", "fixed"]
    assert main(["run", *missing, "--record", str(rec)]) == 2
    bad_camera = ["--camera", str(tmp_path / "no.yaml"), "--record", str(rec)]
    assert main(["run", "--input", str(clip), "--ego", "fixed", *bad_camera]) == 2
    assert not rec.exists()
    with pytest.raises(SystemExit):  # argparse: --device and --input are exclusive
        main(["run", "--input", str(clip), "--device", "0"])
