"""A replay killed with SIGKILL leaves outputs that open: results.mcap up to its last complete
chunk (about 1 s), the fragmented annotated.mp4 up to its last fragment, frames.csv up to the
last frame. Issue 21: a hard kill used to lose the MCAP index and the MP4's moov atom."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.adas.sinks._mcap_read import stream_messages

av = pytest.importorskip("av", reason="PyAV writes the input clip and reads the output")

pytestmark = [pytest.mark.data, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FPS = 25
FRAMES = 400  # 16 s: long enough to kill mid-drive on a slow machine


def write_clip(path: Path) -> None:
    """A moving gradient, H.264 in MP4 (no objects: no alert, every frame written)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        base = (np.add.outer(np.arange(240), np.arange(320)) % 256).astype(np.int64)
        for k in range(FRAMES):
            img = np.dstack([(base + k) % 256, base, 255 - base]).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_a_killed_replay_leaves_readable_outputs(tmp_path: Path, data_dir: Path) -> None:
    clip, out = tmp_path / "clip.mp4", tmp_path / "out"
    write_clip(clip)
    env = {**os.environ, "ADAS_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    cli = "import sys; from adas.cli import main; sys.exit(main())"
    argv = [sys.executable, "-c", cli, "replay", str(clip), "--out", str(out),
            "--ego-speed-mps", "20", "--full-video", "--sequential"]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    csv = out / "frames.csv"
    try:
        deadline = time.monotonic() + 240
        while not (csv.exists() and csv.read_text().count("\n") > 4 * FPS):
            assert proc.poll() is None, "the replay ended before it could be killed"
            assert time.monotonic() < deadline, "the replay did not get 4 s in"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = csv.read_text().count("\n") - 1
    assert 4 * FPS <= rows < FRAMES  # killed mid-drive
    # MCAP: every complete chunk reads back, CRCs checked; a chunk closes at 1 s of frames.
    times, _ = stream_messages(out / "results" / "results.mcap")
    decisions = times["/adas/decision"]
    assert len(decisions) >= 3 * FPS and decisions == sorted(decisions)
    assert len(times["/adas/scene"]) == len(decisions)
    # MP4: fragmented, so the frames of the flushed fragments decode.
    with av.open(str(out / "annotated.mp4")) as video:
        assert video.streams.video[0].codec_context.name == "h264"
        decoded = sum(1 for _ in video.decode(video=0))
    assert decoded >= 3 * FPS
