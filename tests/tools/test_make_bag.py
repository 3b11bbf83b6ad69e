"""tools/make_bag.py: bags from the real clip and from image folders, read back by BagSource."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from adas.camera import CameraModel
from adas.sources.bag import BagSource, TopicMap
from adas.sources.image_codec import decode_raw
from adas.sources.source import Skip
from adas.types import PixelFormat
from tests.tools._scripts import load_script

mb = load_script("make_bag")
START = mb.DEFAULT_START_NS
MS = 1_000_000  # ns


def clip(data_dir: Path) -> Path:
    return data_dir / "video" / "udacity" / "test_video.mp4"


def opencv_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def mosaic_rggb(bgr: np.ndarray) -> np.ndarray:
    out = bgr[:, :, 1].copy()
    out[0::2, 0::2] = bgr[0::2, 0::2, 2]
    out[1::2, 1::2] = bgr[1::2, 1::2, 0]
    return out


def expected_image(bgr: np.ndarray, encoding: str) -> tuple[np.ndarray, PixelFormat]:
    """What BagSource must return for a frame written in ``encoding``, computed independently."""
    h, w = bgr.shape[:2]
    if encoding == "rgb8":
        return bgr[:, :, ::-1], PixelFormat.RGB8
    if encoding == "mono8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), PixelFormat.GRAY8
    if encoding in ("yuv422", "yuv422_yuy2"):  # both arrive as YUYV
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUY2).reshape(h, 2 * w), PixelFormat.YUYV
    if encoding == "bayer_rggb8":
        return mosaic_rggb(bgr), PixelFormat.BAYER_RGGB8
    if encoding == "jpeg":
        jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
        return cv2.imdecode(jpeg, cv2.IMREAD_COLOR), PixelFormat.BGR8
    return bgr, PixelFormat.BGR8  # bgr8, png


def test_help_starts_with_a_real_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        mb.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "SYNOPSIS\n  python tools/make_bag.py ../shared/data/video/udacity/test_video.mp4"
    )
    for encoding in (*mb.RAW_ENCODINGS, *mb.COMPRESSED_ENCODINGS):
        assert encoding in out


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "yuv422", "yuv422_yuy2", "bayer_rggb8"])
def test_encode_image_matches_independent_conversions(encoding: str) -> None:
    bgr = np.random.default_rng(5).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    fields = mb.encode_image(bgr, encoding)
    image, fmt = decode_raw(
        fields["data"].tobytes(),
        encoding=fields["encoding"],
        width=fields["width"],
        height=fields["height"],
        step=fields["step"],
    )
    want, want_fmt = expected_image(bgr, encoding)
    assert fmt is want_fmt
    np.testing.assert_array_equal(image, want)


@pytest.mark.data
def test_real_clip_round_trip_bgr8_with_camera_info_and_odometry(
    tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "drive"
    code = mb.main(
        [
            str(clip(data_dir)),
            str(out),
            "--hfov-deg",
            "60",
            "--speed-mps",
            "27.8",
            "--odom-topic",
            "/odom",
        ]
    )
    assert code == 0 and (out / "metadata.yaml").exists() and list(out.glob("*.mcap"))
    expected = opencv_frames(clip(data_dir), 38)
    fx = 640 / math.tan(math.radians(30))
    with BagSource(out) as src:
        assert src.topics == TopicMap("/camera/image_raw", "/camera/camera_info", "/odom")
        items = list(src)
    assert len(items) == 38
    for i, (item, bgr) in enumerate(zip(items, expected, strict=True)):
        assert item.frame.t_ns == START + i * 40 * MS
        assert item.frame.pixel_format is PixelFormat.BGR8
        np.testing.assert_array_equal(item.frame.image, bgr)
        info = item.camera_info
        assert info is not None and (info.width, info.height) == (1280, 720)
        np.testing.assert_array_equal(info.K, [[fx, 0, 639.5], [0, fx, 359.5], [0, 0, 1]])
        np.testing.assert_array_equal(info.D, np.zeros(5))
        assert info.distortion_model == "plumb_bob" and info.frame_id == "camera"
        assert (item.ego.t_ns, item.ego.speed_mps, item.ego.yaw_rate_rps) == (
            item.frame.t_ns,
            27.8,
            0.0,
        )
        assert item.ego.valid
    assert not src.skipped and not src.degraded


@pytest.mark.data
@pytest.mark.parametrize(
    ("encoding", "suffix", "storage"),
    [
        ("rgb8", ".bag", "mcap"),
        ("mono8", "", "sqlite3"),
        ("yuv422", "", "mcap"),
        ("yuv422_yuy2", ".bag", "mcap"),
        ("bayer_rggb8", "", "mcap"),
        ("png", ".bag", "mcap"),
        ("jpeg", "", "mcap"),
    ],
)
def test_every_encoding_reads_back_bit_exact(
    tmp_path: Path, data_dir: Path, encoding: str, suffix: str, storage: str
) -> None:
    out = tmp_path / f"drive{suffix}"
    opts = mb.Options(
        input=clip(data_dir),
        output=out,
        encoding=encoding,
        storage=storage,
        max_frames=3,
        fx_px=1000.0,
    )
    summary = mb.make_bag(opts)
    assert (summary.frames, summary.ros_version) == (3, 1 if suffix else 2)
    assert summary.ego_topics == () and summary.ego_messages == 0
    with BagSource(out) as src:
        items = list(src)
    assert [it.frame.t_ns for it in items] == [START + i * 40 * MS for i in range(3)]
    for item, bgr in zip(items, opencv_frames(clip(data_dir), 3), strict=True):
        want, fmt = expected_image(bgr, encoding)
        assert item.frame.pixel_format is fmt
        np.testing.assert_array_equal(item.frame.image, want)
        assert item.camera_info is not None and item.camera_info.K[0, 0] == 1000.0
        assert not item.ego.valid
    assert not src.skipped


@pytest.mark.data
def test_cut_real_bag_yields_the_frames_before_the_cut(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "drive.bag"
    mb.make_bag(mb.Options(input=clip(data_dir), output=out, max_frames=10, speed_mps=20.0))
    out.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    with BagSource(out) as src:
        items = list(src)
    assert 2 <= len(items) < 10
    for item, bgr in zip(items, opencv_frames(clip(data_dir), len(items)), strict=True):
        np.testing.assert_array_equal(item.frame.image, bgr)
        assert item.ego.speed_mps == 20.0
    assert src.skipped == {Skip.TRUNCATED: 1}


def test_image_folder_with_calibration_yaml_and_ego_csv(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(11)
    pictures = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(4)]
    for i, pixels in enumerate(pictures):
        cv2.imwrite(str(folder / f"{i:06d}.png"), pixels)
    K = np.array([[301.25, 0.0, 15.75], [0.0, 299.5, 11.25], [0.0, 0.0, 1.0]])
    dist = np.array([-0.25, 0.0625, 0.001, -0.002, 0.01])
    calib = tmp_path / "cam.yaml"
    CameraModel(K=K, dist=dist, width=32, height=24).to_ros_camera_info_yaml(calib)
    ego = tmp_path / "ego.csv"
    ego.write_text("time_s,speed_mps,yaw_rate_rps\n0.0,5,0.1\n0.15,6,0.2\n0.35,7,0.3\n")
    out = tmp_path / "kitti.bag"
    summary = mb.make_bag(
        mb.Options(
            input=folder,
            output=out,
            calibration=calib,
            ego_csv=ego,
            odom_topic="/odom",
            speed_topic="",
            encoding="png",
            period_s=0.1,
            start_ns=5 * 10**9,
        )
    )
    assert (summary.frames, summary.ego_messages, summary.ego_topics) == (4, 3, ("/odom",))
    assert summary.image_topic == "/camera/image_raw/compressed"
    with BagSource(out) as src:
        items = list(src)
    assert [it.frame.t_ns for it in items] == [5 * 10**9 + i * 100 * MS for i in range(4)]
    for item, pixels in zip(items, pictures, strict=True):
        np.testing.assert_array_equal(item.frame.image, pixels)
        assert item.camera_info is not None
        np.testing.assert_array_equal(item.camera_info.K, K)
        np.testing.assert_array_equal(item.camera_info.D, dist)
    ego_rows = [(it.ego.t_ns - 5 * 10**9, it.ego.speed_mps, it.ego.yaw_rate_rps) for it in items]
    assert ego_rows == [(0, 5.0, 0.1), (0, 5.0, 0.1), (150 * MS, 6.0, 0.2), (150 * MS, 6.0, 0.2)]


def test_bad_options_fail_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((4, 6, 3), np.uint8))
    (tmp_path / "taken").mkdir()
    assert mb.main([str(folder), str(tmp_path / "taken")]) == 1
    assert "exists" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        mb.main([str(folder), str(tmp_path / "x"), "--fx", "500", "--hfov-deg", "60"])
    assert exit_.value.code == 2
    calib = tmp_path / "cam.yaml"
    CameraModel(
        K=np.eye(3) * [[500], [500], [1]], dist=np.zeros(5), width=64, height=48
    ).to_ros_camera_info_yaml(calib)
    assert mb.main([str(folder), str(tmp_path / "y"), "--calibration", str(calib)]) == 1
    assert "is for 64x48, the input is 6x4" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()  # refused before anything was written
    with pytest.raises(mb.MakeBagError, match="--hfov-deg 180"):
        mb.make_bag(mb.Options(input=folder, output=tmp_path / "z", hfov_deg=180.0))
