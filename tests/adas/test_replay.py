"""``adas replay`` end to end on the real highway clip, through bags made by tools/make_bag.py."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adas import app
from adas import replay as rp
from adas.cli import main
from adas.config import load_config
from adas.pipeline import STAGES
from adas.replay import ReplayError, ReplayOptions, replay_drive
from adas.replay_fleet import replay_many
from adas.sinks import adas_typestore
from adas.types import EncodedImage, Frame, PixelFormat
from tests.tools._scripts import load_script

pytestmark = pytest.mark.data

mb = load_script("make_bag")
FRAMES = 38  # test_video.mp4
SPEED = 25.0  # m/s written to the bag's speed topic


@pytest.fixture(scope="module")
def clip() -> Path:
    import os

    path = Path(os.environ.get("ADAS_DATA_DIR", "")) / "video/udacity/test_video.mp4"
    if not path.is_file():
        pytest.skip(f"{path} missing: ADAS_DATA_DIR must name the shared data folder")
    return path


@pytest.fixture(scope="module")
def drive(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ROS 2 MCAP bag of the clip: jpeg images, camera info (60 deg), a speed topic."""
    out = tmp_path_factory.mktemp("bags") / "drive"
    assert mb.main([str(clip), str(out), "--encoding", "jpeg", "--hfov-deg", "60",
                    "--speed-mps", str(SPEED)]) == 0  # fmt: skip
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_bag_replay_writes_every_output_with_the_bags_camera_and_speed(
    drive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    s = replay_drive(drive, out, ReplayOptions(video=True, full_video=True))
    assert s.frames == FRAMES and s.skipped == {}
    assert "UNCALIBRATED" not in s.name  # camera_info came from the bag
    names = {p.name for p in out.iterdir()}
    assert {"events.jsonl", "frames.csv", "report.html", "summary.json", "annotated.mp4"} <= names
    rows = _rows(out / "frames.csv")
    assert len({r["seq"] for r in rows}) == FRAMES
    # Every frame had a valid ego state: no UNAVAILABLE decision anywhere.
    assert s.decision_frames["UNAVAILABLE"] == 0
    assert sum(s.decision_frames.values()) == FRAMES
    # The two cars ahead-right are tracked, to the right (lateral < 0) at 10-40 m.
    cars = [r for r in rows if r["class"] == "car" and r["distance_m"]]
    assert len(cars) > FRAMES
    assert all(float(r["lateral_m"]) < 0 for r in cars)
    assert all(5.0 < float(r["distance_m"]) < 60.0 for r in cars)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == FRAMES
    for stage in ("preprocess", "infer", "track", "motion", "control"):
        lat = summary["latency_ms"][stage]
        assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
    # results.mcap: one decision and one detection array per frame, images included.
    from rosbags.highlevel import AnyReader

    with AnyReader([out / "results"], default_typestore=adas_typestore()) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/adas/decision"] == FRAMES
    assert counts["/adas/detections"] == FRAMES
    assert counts["/camera/image/compressed"] == FRAMES
    assert counts["/adas/scene"] == counts["/tf"] == FRAMES  # 3D panel: boxes, camera pose


def test_pipelined_output_equals_sequential(drive: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "threads", tmp_path / "seq"
    replay_drive(drive, a, ReplayOptions(video=False, mcap_images=False))
    replay_drive(drive, b, ReplayOptions(video=False, mcap_images=False, pipelined=False))
    assert (a / "frames.csv").read_bytes() == (b / "frames.csv").read_bytes()
    assert (a / "events.jsonl").read_bytes() == (b / "events.jsonl").read_bytes()


def test_pipeline_process_is_the_three_stages(clip: Path) -> None:
    import cv2

    cap = cv2.VideoCapture(str(clip))
    ok, img = cap.read()
    assert ok
    cfg = load_config()
    cam = app.fov_camera(img.shape[1], img.shape[0], 60.0, cfg)
    from adas.pipeline import Pipeline
    from adas.types import EgoState

    p1, p2 = Pipeline.build(cfg, cam), Pipeline.build(cfg, cam)
    for k in range(3):
        frame = Frame(img, PixelFormat.BGR8, t_ns=k * 40_000_000, seq=k)
        ego = EgoState(t_ns=frame.t_ns, speed_mps=20.0)
        r1 = p1.process(frame, ego)
        dets, lat = p2.infer(p2.prepare(frame))
        r2 = p2.post(frame, dets, ego, lat)
        np.testing.assert_array_equal(r1.detections.xyxy, r2.detections.xyxy)
        np.testing.assert_array_equal(r1.tracks.track_id, r2.tracks.track_id)
        np.testing.assert_array_equal(r1.objects.distance_m, r2.objects.distance_m)
        assert r1.decision == r2.decision
        assert set(r1.latency_ns) == set(STAGES)
        ok, img = cap.read()


def test_refuses_to_overwrite_without_force(drive: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    opts = ReplayOptions(video=False, max_frames=3)
    replay_drive(drive, out, opts)
    before = (out / "frames.csv").read_bytes()
    with pytest.raises(ReplayError, match="--force"):
        replay_drive(drive, out, opts)
    assert (out / "frames.csv").read_bytes() == before  # nothing already written is lost
    s = replay_drive(drive, out, ReplayOptions(video=False, max_frames=5, force=True))
    assert s.frames == 5


def test_truncated_bag_replays_up_to_the_cut_and_counts_it(drive: Path, tmp_path: Path) -> None:
    mcap = next(drive.glob("*.mcap"))
    cut = tmp_path / "cut.mcap"
    data = mcap.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    s = replay_drive(cut, tmp_path / "run", ReplayOptions(video=False))
    assert 5 < s.frames < FRAMES
    assert s.skipped.get("truncated") == 1
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["skipped_frames"]["truncated"] == 1 and summary["frames"] == s.frames


def test_a_frame_the_pipeline_refuses_is_counted_and_the_drive_goes_on(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adas.errors import ContractError
    from adas.pipeline import Pipeline

    real = Pipeline.prepare

    def flaky(self: Pipeline, frame: Frame) -> object:
        if frame.seq in (3, 7):
            msg = "corrupt frame"
            raise ContractError(msg)
        return real(self, frame)

    monkeypatch.setattr(Pipeline, "prepare", flaky)
    s = replay_drive(drive, tmp_path / "run", ReplayOptions(video=False))
    assert s.frames == FRAMES - 2
    assert s.skipped == {"pipeline_error": 2}


def test_ctrl_c_leaves_every_output_valid_up_to_that_frame(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adas.pipeline import Pipeline

    real = Pipeline.post

    def interrupt(self: Pipeline, frame: Frame, *a: object, **k: object) -> object:
        if frame.seq == 10:
            raise KeyboardInterrupt
        return real(self, frame, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Pipeline, "post", interrupt)
    out = tmp_path / "run"
    s = replay_drive(drive, out, ReplayOptions(video=True, full_video=True))
    assert s.frames == 10 and s.skipped == {"interrupted": 1}
    assert len({r["seq"] for r in _rows(out / "frames.csv")}) == 10
    assert json.loads((out / "summary.json").read_text())["frames"] == 10
    import av

    with av.open(str(out / "annotated.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 10
    from rosbags.highlevel import AnyReader

    with AnyReader([out / "results"], default_typestore=adas_typestore()) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/adas/decision"] == 10


def test_video_without_ego_is_unavailable_unless_a_speed_is_given(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = replay_drive(clip, tmp_path / "a", ReplayOptions(video=False, max_frames=5))
    assert s.decision_frames["UNAVAILABLE"] == 5  # no ego state: never a decision
    assert "UNCALIBRATED" in s.name
    # Why, and the options that fix it, in the summary, its file and on the console.
    (warning,) = s.warnings
    assert warning.startswith("5 of 5 frames had no ego speed, so their decision is UNAVAILABLE")
    assert "--ego-speed-mps" in warning and "--ego-csv" in warning
    assert json.loads((tmp_path / "a/summary.json").read_text())["warnings"] == [warning]
    assert main(["replay", str(clip), "--out", str(tmp_path / "cli"), "--no-video",
                 "--max-frames", "3"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "warning: 3 of 3 frames had no ego speed" in out and "--ego-csv" in out
    s = replay_drive(clip, tmp_path / "b", ReplayOptions(video=False, max_frames=5,
                                                         ego_speed_mps=20.0))  # fmt: skip
    assert s.decision_frames["UNAVAILABLE"] == 0 and s.warnings == ()


def _faststart(mp4: bytes) -> bytes:
    """The MP4 with its index (moov) before the media (as cameras and web videos write it),
    so a cut copy still opens; OpenCV's writer puts the index last."""
    import struct

    boxes, i = [], 0
    while i < len(mp4):
        size, kind = struct.unpack(">I4s", mp4[i : i + 8])
        boxes.append((kind, mp4[i : i + size]))
        i += size
    moov = bytearray(next(b for k, b in boxes if k == b"moov"))
    j = moov.find(b"stco")  # chunk offsets: the media moves back by the index's length
    for k in range(struct.unpack(">I", moov[j + 8 : j + 12])[0]):
        o = j + 12 + 4 * k
        moov[o : o + 4] = struct.pack(">I", struct.unpack(">I", moov[o : o + 4])[0] + len(moov))
    rest = [b for k, b in boxes[1:] if k != b"moov"]
    return b"".join([boxes[0][1], bytes(moov), *rest])


def test_a_truncated_video_says_it_ended_early(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    from adas.sources import open_source

    full = tmp_path / "full.mp4"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (160, 96))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 256, (96, 160, 3), np.uint8))
    writer.release()
    data = _faststart(full.read_bytes())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with open_source(tmp_path / "cut.mp4") as source:
        n = len(list(source))
        assert 5 < n < 40 and source.skipped == {"truncated": 1}
        assert source.truncation == f"input ended early after {n} of 40 frames"
    (tmp_path / "whole.mp4").write_bytes(data)
    with open_source(tmp_path / "whole.mp4") as source:  # the complete file is not truncated
        assert len(list(source)) == 40 and source.skipped == {} and source.truncation is None
    opts = ReplayOptions(video=False, mcap_images=False, ego_speed_mps=20.0)
    s = replay_drive(cut, tmp_path / "run", opts)
    assert s.frames == n and s.skipped == {"truncated": 1}
    assert s.warnings == (f"input ended early after {n} of 40 frames",)
    assert main(["replay", str(cut), "--out", str(tmp_path / "cli"), "--no-video",
                 "--ego-speed-mps", "20"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"warning: input ended early after {n} of 40 frames" in out
    assert "skipped: truncated 1" in out


def test_a_refused_replay_leaves_no_output_folder(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    from adas.errors import AdasError

    with pytest.raises(AdasError, match="no such file"):
        replay_drive(tmp_path / "missing.mp4", out, ReplayOptions())
    assert not out.exists()
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[detect]\nno_such_key = 1\n")
    assert main(["replay", str(clip), "--out", str(out), "--config", str(bad_config)]) == 2
    no_camera = ["--camera", str(tmp_path / "no.yaml")]
    assert main(["replay", str(clip), "--out", str(out), *no_camera]) == 2
    unreadable = tmp_path / "bad.mp4"
    unreadable.write_bytes(b"not a video")
    assert main(["replay", str(unreadable), "--out", str(out)]) == 2
    assert main(["replay", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert not out.exists()


def test_many_drives_in_a_process_pool_merge_into_one_summary(
    drive: Path, clip: Path, tmp_path: Path
) -> None:
    second = tmp_path / "copy"
    shutil.copytree(drive, second)
    merged, failures = replay_many(
        [drive, second, tmp_path / "missing.mcap"], tmp_path / "out",
        ReplayOptions(video=False, mcap_images=False), workers=2,
    )  # fmt: skip
    assert merged.drives == 2 and merged.frames == 2 * FRAMES
    assert [Path(f["drive"]).name for f in failures] == ["missing.mcap"]
    a = (tmp_path / "out/drive/frames.csv").read_bytes()
    assert a == (tmp_path / "out/copy/frames.csv").read_bytes()
    assert json.loads((tmp_path / "out/summary.json").read_text())["frames"] == 2 * FRAMES


@pytest.mark.slow
def test_ray_engine_with_a_local_cluster(drive: Path, tmp_path: Path) -> None:
    merged, failures = replay_many(
        [drive], tmp_path / "out", ReplayOptions(video=False, mcap_images=False), engine="ray"
    )
    assert failures == [] and merged.frames == FRAMES
    assert len(_rows(tmp_path / "out/drive/frames.csv")) >= FRAMES


def test_cli_replays_and_refuses_bad_options(drive: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert main(["replay", str(drive), "--out", str(out), "--no-video", "--max-frames", "4"]) == 0
    assert json.loads((out / "summary.json").read_text())["frames"] == 4
    assert main(["replay", str(drive), "--out", str(out)]) == 2  # not empty, no --force
    assert main(["replay", str(drive), "--out", str(tmp_path / "x"), "--fov-deg", "0"]) == 2


def test_a_drive_with_nothing_readable_exits_non_zero(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(3):
        (folder / f"{k:06d}.png").write_bytes(b"not a png")
    with pytest.raises(ReplayError, match="no readable frame"):
        replay_drive(folder, tmp_path / "run", ReplayOptions(video=False))
    assert main(["replay", str(folder), "--out", str(tmp_path / "cli")]) == 2


def test_bench_replay_measures_both_throughputs_on_the_same_clip(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "replay", "--input", str(clip), "--runs", "2", "--no-video", "--json"]
    assert main([*args, str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["frames"] == FRAMES and rep["runs"] == 2
    assert rep["outputs"] == {"video": False, "mcap_images": True}
    assert rep["providers_used"] == ["CPUExecutionProvider"]
    assert len(rep["inference_fps_runs"]) == len(rep["replay_fps_runs"]) == 2
    # The ratio is the median of the paired ratios, each replay over its inference pass.
    pairs = [r / i for r, i in zip(rep["replay_fps_runs"], rep["inference_fps_runs"], strict=True)]
    assert rep["ratio"] == pytest.approx(float(np.median(pairs)), abs=2e-3)
    assert rep["inference_fps"] == pytest.approx(
        float(np.median(rep["inference_fps_runs"])), abs=0.01
    )
    # Replay does everything inference does and more: it cannot be faster than the model
    # itself by more than timing noise, and it does make progress.
    assert 0.0 < rep["ratio"] < 1.25
    assert set(rep["sequential_stage_mean_ms"]) == set(STAGES)
    # The session replay used, and the model alone at ONNX Runtime's default thread count.
    opts = ReplayOptions(video=False, mcap_images=True)
    assert rep["intra_op_threads"] == rp.replay_config(opts).detect.intra_op_threads
    assert rep["inference_fps_ort_default_threads"] > 0
    assert rep["replay_over_ort_default"] == pytest.approx(
        rep["replay_fps"] / rep["inference_fps_ort_default_threads"], abs=2e-3
    )
    assert all(v >= 0 for v in rep["sequential_stage_mean_ms"].values())
    # The model's CPU subtracted is its own in the replay where ONNX Runtime computes in the
    # calling thread: the same model on the same frames as the bare pass.
    in_situ = rep["intra_op_threads"] == 1
    assert rep["model_cpu_subtracted"] == ("in_replay" if in_situ else "bare")
    # The sequential replays' CPU beyond the model and the decoder: positive, at most the
    # pipelined one's (the same work) plus timing noise.
    seq = rep["cpu_ms_per_frame_outside_model_sequential"]
    assert 0 < seq < rep["cpu_ms_per_frame_outside_model"] + 5
    if in_situ:
        assert 0.5 < rep["model_cpu_ms_per_frame_in_replay"] / rep["model_cpu_ms_per_frame"] < 2
    else:  # the calling thread's share only
        assert 0 < rep["model_cpu_ms_per_frame_in_replay"] < 2 * rep["model_cpu_ms_per_frame"]
    # Nothing of the bench is left behind in the working folder.
    assert not (tmp_path / "out").exists()
    assert main(["bench", "replay", "--input", str(clip), "--runs", "0"]) == 2
    assert main(["bench", "replay", "--input", str(tmp_path / "missing.mp4")]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(("cpus", "configured", "expected"), [
    (1, 0, 0), (2, 0, 1), (4, 0, 3), (8, 0, 0), (2, 2, 2),
])  # fmt: skip
def test_replay_keeps_a_core_for_the_outputs_on_small_machines(
    cpus: int, configured: int, expected: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[detect]\nintra_op_threads = {configured}\n")
    got = rp.replay_config(ReplayOptions(config_file=cfg, model="fastestdet"))
    assert got.detect.intra_op_threads == expected  # a value the user set always stands
    assert got.detect.model == "fastestdet"
    # Without image encoders the model keeps every core.
    bare = rp.replay_config(ReplayOptions(config_file=cfg, video=False, mcap_images=False))
    assert bare.detect.intra_op_threads == configured


def test_video_is_alert_clips_by_default_and_the_whole_drive_with_full_video(
    clip: Path, tmp_path: Path
) -> None:
    import av

    # No ego speed: UNAVAILABLE from the first frame, one alert episode over the whole run.
    replay_drive(clip, tmp_path / "clips", ReplayOptions(max_frames=6, mcap_images=False))
    assert not (tmp_path / "clips/annotated.mp4").exists()
    (only,) = (tmp_path / "clips/annotated").iterdir()
    assert only.name == "clip_001_0.0s_unavailable.mp4"
    with av.open(str(only)) as video:
        assert video.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in video.decode(video=0)) == 6
    # The report links it, with its level, capture times, frames and episodes.
    page = (tmp_path / "clips/report.html").read_text()
    row = '<tr><td><a href="annotated/clip_001_0.0s_unavailable.mp4">'
    assert row in page and "<td>UNAVAILABLE</td><td>0.00 - 0.20</td><td>6</td><td>1</td>" in page
    # Standing still, nothing to warn of: the report says there is no clip; no video, no section.
    opts = ReplayOptions(max_frames=3, mcap_images=False, ego_speed_mps=0.0)
    replay_drive(clip, tmp_path / "still", opts)
    assert "No clips: no alert." in (tmp_path / "still/report.html").read_text()
    replay_drive(clip, tmp_path / "none", replace(opts, video=False))
    assert 'id="clips"' not in (tmp_path / "none/report.html").read_text()
    out = tmp_path / "full"
    assert main(["replay", str(clip), "--out", str(out), "--full-video", "--no-images",
                 "--max-frames", "4"]) == 0  # fmt: skip
    with av.open(str(out / "annotated.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 4
    assert [p.name for p in (out / "annotated").iterdir()] == ["clip_001_0.0s_unavailable.mp4"]


def test_an_h264_clip_goes_to_the_mcap_as_recorded(clip: Path, tmp_path: Path) -> None:
    """No JPEG re-encoding: every frame of the H.264 clip is stored as its own access unit
    (CompressedVideo, Annex B, the first an IDR), byte-equal to the source's units."""
    from mcap.reader import make_reader

    from adas.sources import VideoSource

    units = [it.encoded for it in VideoSource(clip, keep_encoded=True)]
    replay_drive(clip, tmp_path / "o", ReplayOptions(ego_speed_mps=20.0, video=False))
    topics: dict[str, list[bytes]] = {}
    with (tmp_path / "o" / "results" / "results.mcap").open("rb") as f:
        for _, channel, message in make_reader(f, validate_crcs=True).iter_messages():
            topics.setdefault(channel.topic, []).append(message.data)
    assert "/camera/image/compressed" not in topics
    stored = topics["/camera/video"]
    assert len(stored) == len(units) == 38 and all(u is not None for u in units)
    typestore = adas_typestore()
    msgs = [typestore.deserialize_cdr(d, "foxglove_msgs/msg/CompressedVideo") for d in stored]
    assert [bytes(m.data) for m in msgs] == [u.data for u in units if u is not None]
    assert all(m.format == "h264" for m in msgs) and units[0] is not None and units[0].keyframe


def _plain_h264(path: Path, n: int, *, gop: int) -> Path:
    """640 x 360 at 10 frames/s: a grey road under a lighter sky with a bright band sliding
    across, no object to detect; libx264, an IDR every ``gop`` frames, no B-frames."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"g": str(gop), "bf": "0", "sc_threshold": "0"}
        for k in range(n):
            image = np.full((360, 640, 3), 90, np.uint8)
            image[:160] = 150
            image[:, 12 * k : 12 * k + 40] += 60
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_an_alert_clip_of_an_h264_video_has_its_pre_roll_from_the_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ego speed for the first 2 s only: UNAVAILABLE from the frame whose last sample is over
    max_ego_age_s old, one episode to the end. Its clip holds the 1 s (clip_before_s) before
    it, decoded again from the units (IDRs every 12 frames), then every frame to the end."""
    from adas.sinks import read_events
    from adas.sources import decode_h264_units
    from tests.adas.sinks._av import read_av

    video = _plain_h264(tmp_path / "drive.mp4", 32, gop=12)
    ego = tmp_path / "ego.csv"
    ego.write_text("time_s,speed_mps\n" + "".join(f"{k / 10},10\n" for k in range(20)))
    config = tmp_path / "c.toml"
    config.write_text("[replay]\nclip_before_s = 1.0\n")
    runs: list[int] = []  # units per decoded run

    def decode(units: Sequence[EncodedImage]) -> list[np.ndarray]:
        assert units[0].keyframe
        runs.append(len(units))
        return decode_h264_units(units)

    monkeypatch.setattr(rp, "decode_h264_units", decode)
    out = tmp_path / "out"
    options = ReplayOptions(config_file=config, ego_csv=ego, mcap_images=False)
    replay_drive(video, out, options)
    # The last sample (1.9 s) is 0.5 s old at frame 24, too old at 25: the alert's frame.
    (start,) = [e for e in read_events(out / "events.jsonl") if e["event"] == "start"]
    assert start["t_s"] == pytest.approx(2.5) and start["level"] == "UNAVAILABLE"
    (path,) = (out / "annotated").iterdir()
    clip = read_av(path)
    assert len(clip.frames) == 17  # 15-31
    assert clip.times_s == pytest.approx([k / 10 for k in range(17)], abs=1e-4)
    # The pre-roll 15-24 decoded once: 15-23 from the IDR at 12 (12-23), 24 an IDR itself.
    assert runs == [12, 1]


def test_outputs_that_fail_to_open_stop_the_started_pipeline(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline starts before the outputs are created; when creating them fails, its
    threads are stopped and joined before the source closes."""
    import threading

    from adas.sinks import SinkError

    def refuse(*args: object, **kwargs: object) -> None:
        raise SinkError("injected: the outputs cannot be created")

    monkeypatch.setattr(rp, "_sinks", refuse)
    with pytest.raises(SinkError, match="injected"):
        replay_drive(clip, tmp_path / "out", ReplayOptions(video=False))
    assert not [t for t in threading.enumerate() if t.name == "replay-decode" and t.is_alive()]
