"""results.mcap as a file: the mcap reader reads it with CRCs checked, chunks hold whole frames
of at most 1 s, metadata.yaml describes it, and a SIGKILL leaves every complete chunk readable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from mcap.reader import make_reader

from adas.sinks import McapSink
from adas.sinks.mcap import TOPIC_DECISION, TOPIC_IMAGE, TOPIC_SCENE
from adas.sinks.mcap_file import CHUNK_SPAN_NS, BagFile
from adas.sinks.mcap_schemas import COMPRESSED_IMAGE, writer_typestore
from tests.adas.sinks._mcap_read import read_messages, stream_messages
from tests.adas.sinks._results import PERIOD_NS, T0_NS, make_drive, make_image

REPO = Path(__file__).resolve().parents[3]


def test_mcap_reader_reads_every_message_with_crcs(tmp_path: Path) -> None:
    drive = make_drive()
    with McapSink(tmp_path) as sink:
        for r in drive:
            sink.write(r, make_image(r))
    msgs = read_messages(sink.path)
    assert [t for t, _ in msgs[TOPIC_DECISION]] == [r.t_ns for r in drive]
    assert all(len(v) == len(drive) for v in msgs.values())
    with sink.path.open("rb") as f:
        reader = make_reader(f, validate_crcs=True)
        header, summary = reader.get_header(), reader.get_summary()
    assert header.profile == "ros2"
    assert summary is not None and summary.statistics is not None
    assert summary.statistics.message_count == sum(len(v) for v in msgs.values())
    # 29 frames at 10 Hz: chunks cut before frames 10 and 20, each whole frames of <= 1 s.
    chunks = sorted(summary.chunk_indexes, key=lambda c: c.message_start_time)
    spans = [(c.message_start_time, c.message_end_time) for c in chunks]
    first_last = [(0, 9), (10, 19), (20, 28)]
    assert spans == [(T0_NS + a * PERIOD_NS, T0_NS + b * PERIOD_NS) for a, b in first_last]
    assert all(c.compression == "zstd" for c in chunks)
    assert all(end - start < CHUNK_SPAN_NS for start, end in spans)


def test_metadata_yaml_describes_the_bag(tmp_path: Path) -> None:
    drive = make_drive(5)
    with McapSink(tmp_path, images=False) as sink:
        for r in drive:
            sink.write(r)
    info = json.loads((sink.bag_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert (info["version"], info["storage_identifier"]) == (9, "mcap")
    assert info["relative_file_paths"] == ["results.mcap"]
    assert info["starting_time"]["nanoseconds_since_epoch"] == drive[0].t_ns
    assert info["duration"]["nanoseconds"] == drive[-1].t_ns - drive[0].t_ns
    counts = {
        t["topic_metadata"]["name"]: t["message_count"] for t in info["topics_with_message_count"]
    }
    assert counts[TOPIC_SCENE] == 5 and TOPIC_IMAGE not in counts
    assert info["message_count"] == sum(counts.values())


_WRITER = """
import sys, pathlib, time
from adas.sinks import McapSink
from tests.adas.sinks._results import make_drive, make_image
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
sink = McapSink(out)
for r in make_drive(n):
    sink.write(r, make_image(r))
(out / "written").write_text("ok")
time.sleep(60)
"""


def test_sigkill_keeps_every_complete_chunk(tmp_path: Path) -> None:
    """25 frames at 10 Hz: chunks of frames 0-9 and 10-19 are complete, 20-24 in memory."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), "25"], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "written").exists():
            assert proc.poll() is None, "the writer died before writing"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    path = tmp_path / "results" / "results.mcap"
    assert not (tmp_path / "results" / "metadata.yaml").exists()
    times, _ = stream_messages(path)
    expected = [T0_NS + k * PERIOD_NS for k in range(20)]
    assert set(times) == {TOPIC_IMAGE, TOPIC_SCENE, TOPIC_DECISION, "/adas/detections",
                          "/adas/tracks", "/adas/annotations"}  # fmt: skip
    assert all(sorted(v) == expected for v in times.values())


def test_a_chunk_is_cut_between_frames_once_it_holds_chunk_bytes(tmp_path: Path) -> None:
    """600-byte frames, 1000-byte bound: a chunk closes before the frame after the second."""
    bag = BagFile(tmp_path / "bag", writer_typestore(), chunk_bytes=1000)
    channel = bag.add_channel("/camera/image/compressed", COMPRESSED_IMAGE)
    types = writer_typestore().types
    image, header = types[COMPRESSED_IMAGE], types["std_msgs/msg/Header"]
    stamp = types["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    for k in range(5):
        bag.begin_frame(T0_NS + k)  # 1 ns apart: only the byte bound cuts
        bag.write(
            channel,
            T0_NS + k,
            image(
                header=header(stamp=stamp, frame_id="c"),
                format="jpeg",
                data=np.zeros(600, np.uint8),
            ),
        )
    bag.close()
    assert bag.chunks == 2
    with bag.path.open("rb") as f:
        summary = make_reader(f, validate_crcs=True).get_summary()
    assert summary is not None
    starts = sorted(c.message_start_time - T0_NS for c in summary.chunk_indexes)
    assert starts == [0, 2, 4]
