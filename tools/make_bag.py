#!/usr/bin/env python3
"""Write a ROS 1 or ROS 2 bag from a video or an image folder, to test ``adas replay``.

The output's name picks the format: ``NAME.bag`` is a ROS 1 bag (rosbags.rosbag1.Writer);
anything else is a ROS 2 bag folder (rosbags.rosbag2.Writer, MCAP storage unless
``--storage sqlite3``). Per frame it writes

* the image on ``--image-topic``: ``sensor_msgs/Image`` in ``--encoding`` (bgr8, rgb8, mono8,
  yuv422 = UYVY as ROS names it, yuv422_yuy2 = YUYV, bayer_rggb8) or
  ``sensor_msgs/CompressedImage`` (jpeg, png), stamped ``--start-ns`` + the frame's time
  (video: container timestamps; folder: index * ``--period-s``);
* ``sensor_msgs/CameraInfo`` with the same stamp, when intrinsics are given (``--fx`` or
  ``--hfov-deg`` for an ideal pinhole centred on the image, or ``--calibration`` YAML as
  ``adas-calibrate`` writes it);

and ego motion at ``--ego-rate-hz`` (constant ``--speed-mps``) or at the rows of ``--ego-csv``
(``time_s,speed_mps,yaw_rate_rps``, seconds from the first frame): ``std_msgs/Float64`` speed
in m/s on ``--speed-topic`` and, with ``--odom-topic``, ``nav_msgs/Odometry`` (twist in the
body frame, pose by dead reckoning). Log time equals header stamp for every message.

Heavy modules (OpenCV, rosbags, adas) are imported after the arguments are parsed, so
``--help`` is instant.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The message helpers sit next to this script (tools/ is not a package). `python
# tools/make_bag.py` puts this folder on sys.path by itself; loading the script by file path
# (as the tests do) does not, so add it here.
_TOOLS = str(Path(__file__).resolve().parent)
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from bag_messages import (  # noqa: E402 (after the sys.path entry it needs)
    COMPRESSED_ENCODINGS,
    NS_PER_S,
    RAW_ENCODINGS,
    BagWriter,
    EgoWriter,
    MakeBagError,
    camera_info_msg,
    encode_image,
)

SYNOPSIS = """\
SYNOPSIS
  python tools/make_bag.py ../shared/data/video/udacity/test_video.mp4 /tmp/drive \\
      --encoding yuv422 --hfov-deg 60 --speed-mps 27.8 --odom-topic /odom
  wrote /tmp/drive (ROS 2, mcap): 38 frames on /camera/image_raw (sensor_msgs/msg/Image yuv422),
  camera info on /camera/camera_info, 75 ego messages on /vehicle/speed, /odom

  python tools/make_bag.py ../shared/data/kitti/tracking/image_02/0001 /tmp/kitti.bag \\
      --encoding jpeg --period-s 0.1 --ego-csv speed.csv

"""

DEFAULT_START_NS = 1_700_000_000 * 10**9  # 2023-11-14 22:13:20 UTC: ROS treats 0 as "unset"


@dataclass(frozen=True)
class Options:
    """Everything ``make_bag`` needs; the CLI flags map one to one (units in the names)."""

    input: Path
    output: Path
    encoding: str = "bgr8"
    storage: str = "mcap"  # ROS 2 only: mcap or sqlite3
    image_topic: str | None = None  # default /camera/image_raw[/compressed]
    camera_info_topic: str = "/camera/camera_info"
    fx_px: float | None = None
    hfov_deg: float | None = None
    calibration: Path | None = None
    speed_mps: float | None = None
    ego_csv: Path | None = None
    speed_topic: str = "/vehicle/speed"
    odom_topic: str = ""
    ego_rate_hz: float = 50.0
    fps: float | None = None
    period_s: float = 0.1
    start_ns: int = DEFAULT_START_NS
    max_frames: int | None = None
    jpeg_quality: int = 95
    frame_id: str = "camera"
    progress: bool = False


@dataclass
class Summary:
    """What was written, for the CLI's closing line and for tests."""

    output: Path
    ros_version: int
    storage: str
    image_topic: str
    image_type: str
    camera_info_topic: str = ""
    ego_topics: tuple[str, ...] = ()
    frames: int = 0
    ego_messages: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        ego = ", ".join(self.ego_topics) or "no topic"
        info = f"camera info on {self.camera_info_topic}" if self.camera_info_topic else "no info"
        return (
            f"wrote {self.output} (ROS {self.ros_version}, {self.storage}): {self.frames} frames "
            f"on {self.image_topic} ({self.image_type}), {info}, "
            f"{self.ego_messages} ego messages on {ego}"
        )


def camera_info_for(opts: Options, width: int, height: int) -> Any:
    """``adas.sources.source.CameraInfo`` from the options, or None when none was given."""
    import numpy as np

    from adas.camera import CameraModel
    from adas.sources.source import CameraInfo

    if opts.calibration is not None:
        cam = CameraModel.from_opencv_yaml(opts.calibration)  # reads ROS camera_info YAML too
        if (cam.width, cam.height) != (width, height):
            msg = (
                f"{opts.calibration} is for {cam.width}x{cam.height}, the input is {width}x{height}"
            )
            raise MakeBagError(msg)
    elif opts.fx_px is not None or opts.hfov_deg is not None:
        fx = opts.fx_px or (width / 2) / math.tan(math.radians(opts.hfov_deg or 0.0) / 2)
        # Pixel (0, 0) is the centre of the top-left pixel, so the image centre is (w-1)/2.
        K = np.array([[fx, 0.0, (width - 1) / 2], [0.0, fx, (height - 1) / 2], [0.0, 0.0, 1.0]])
        cam = CameraModel(K=K, dist=np.zeros(5), width=width, height=height)
    else:
        return None
    return CameraInfo.from_camera_model(cam, frame_id=opts.frame_id)


def _ego_samples(opts: Options) -> Iterator[tuple[int, float, float]]:
    """(t_ns from the first frame, speed m/s, yaw rate rad/s) in time order, possibly endless."""
    if opts.ego_csv is not None:
        from adas.sources.video import load_ego_csv

        track = load_ego_csv(opts.ego_csv, max_age_ns=0)
        yield from zip(track.t_ns, track.speed_mps, track.yaw_rate_rps, strict=True)
    elif opts.speed_mps is not None:
        period_ns = NS_PER_S / opts.ego_rate_hz
        for k in itertools.count():
            yield round(k * period_ns), opts.speed_mps, 0.0


def make_bag(opts: Options) -> Summary:
    """Write the bag ``opts`` describes; see the module docstring.

    Everything that can be checked before writing (options, the first frame, the calibration's
    image size) is, so a refused run leaves no half-written output behind.
    """
    _check(opts)
    import cv2
    from tqdm import tqdm

    from adas.sources.video import ImageFolderSource, VideoSource

    source: VideoSource | ImageFolderSource
    if opts.input.is_dir():
        source = ImageFolderSource(opts.input, period_ns=round(opts.period_s * NS_PER_S))
        total = len(source.files)
    else:
        source = VideoSource(opts.input, fps=opts.fps)
        total = source.frame_count
    frames = itertools.islice((item.frame for item in source), opts.max_frames)
    first = next(frames, None)
    if first is None:
        msg = f"{opts.input}: no readable frame"
        raise MakeBagError(msg)
    info = camera_info_for(opts, first.image.shape[1], first.image.shape[0])
    compressed = opts.encoding in COMPRESSED_ENCODINGS
    image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    image_topic = opts.image_topic or (
        "/camera/image_raw/compressed" if compressed else "/camera/image_raw"
    )
    info_topic = opts.camera_info_topic if info is not None else ""
    bag = BagWriter(opts.output, opts.storage)
    ego = EgoWriter(
        bag, start_ns=opts.start_ns, speed_topic=opts.speed_topic, odom_topic=opts.odom_topic
    )
    summary = Summary(
        output=opts.output,
        ros_version=1 if bag.ros1 else 2,
        storage="bag" if bag.ros1 else opts.storage,
        image_topic=image_topic,
        image_type=f"{image_type} {opts.encoding}",
        camera_info_topic=info_topic,
    )
    samples = _ego_samples(opts)
    pending = next(samples, None)
    bar = tqdm(total=opts.max_frames or total, disable=not opts.progress, unit="frame")
    with bag.writer, bar:
        for frame in itertools.chain([first], frames):
            while pending is not None and pending[0] <= frame.t_ns:
                ego.write(*pending)
                pending = next(samples, None)
            image = frame.image
            bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            stamp_ns = opts.start_ns + frame.t_ns
            header = bag.header(stamp_ns, opts.frame_id, summary.frames)
            fields = encode_image(bgr, opts.encoding, jpeg_quality=opts.jpeg_quality)
            bag.write(image_topic, stamp_ns, bag.msg(image_type, header=header, **fields))
            if info is not None and info_topic:  # after the image, as camera drivers publish
                bag.write(info_topic, stamp_ns, camera_info_msg(bag, header, info))
            summary.frames += 1
            bar.update()
        if opts.ego_csv is not None:  # the CSV's rows after the last frame belong to the drive too
            while pending is not None:
                ego.write(*pending)
                pending = next(samples, None)
    summary.ego_topics = ego.topics if ego.count else ()
    summary.ego_messages = ego.count
    summary.skipped = dict(source.skipped)
    return summary


def _check(opts: Options) -> None:
    """Reject option combinations before anything is written; messages name the flags."""
    if opts.encoding not in RAW_ENCODINGS + COMPRESSED_ENCODINGS:
        msg = f"--encoding {opts.encoding!r}: use one of {RAW_ENCODINGS + COMPRESSED_ENCODINGS}"
        raise MakeBagError(msg)
    if opts.storage not in ("mcap", "sqlite3"):
        msg = f"--storage {opts.storage!r}: use mcap or sqlite3"
        raise MakeBagError(msg)
    if not opts.input.exists():
        msg = f"{opts.input}: no such video file or image folder"
        raise MakeBagError(msg)
    if opts.output.exists():
        msg = f"{opts.output} exists; rosbags never overwrites, so remove it or pick another name"
        raise MakeBagError(msg)
    if sum(x is not None for x in (opts.fx_px, opts.hfov_deg, opts.calibration)) > 1:
        msg = "give at most one of --fx, --hfov-deg and --calibration"
        raise MakeBagError(msg)
    if opts.fx_px is not None and not opts.fx_px > 0:
        msg = f"--fx {opts.fx_px}: the focal length must be positive (pixels)"
        raise MakeBagError(msg)
    if opts.hfov_deg is not None and not 0 < opts.hfov_deg < 180:
        msg = f"--hfov-deg {opts.hfov_deg}: a pinhole field of view lies in (0, 180) degrees"
        raise MakeBagError(msg)
    if opts.speed_mps is not None and opts.ego_csv is not None:
        msg = "give --speed-mps or --ego-csv, not both"
        raise MakeBagError(msg)
    if not (math.isfinite(opts.ego_rate_hz) and opts.ego_rate_hz > 0):
        msg = f"--ego-rate-hz {opts.ego_rate_hz}: must be a positive rate"
        raise MakeBagError(msg)
    if opts.max_frames is not None and opts.max_frames < 1:
        msg = f"--max-frames {opts.max_frames}: must be at least 1"
        raise MakeBagError(msg)


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every default."""


class _HelpWithSynopsis(argparse.ArgumentParser):
    def format_help(self) -> str:
        return SYNOPSIS + super().format_help()


def build_parser() -> argparse.ArgumentParser:
    p = _HelpWithSynopsis(
        prog="python tools/make_bag.py",
        description=(
            "Write a ROS 1 bag (OUTPUT ends in .bag) or a ROS 2 bag folder (MCAP or sqlite3)\n"
            "from a video or an image folder: images, camera info and ego speed/odometry."
        ),
        formatter_class=_Help,
    )
    add = p.add_argument
    add("input", type=Path, help="video file (.mp4 .avi .mkv .mov) or image folder")
    add("output", type=Path, help="NAME.bag (ROS 1) or a new folder (ROS 2)")
    add("--encoding", default="bgr8", choices=RAW_ENCODINGS + COMPRESSED_ENCODINGS,
        help="image encoding; jpeg/png write sensor_msgs/CompressedImage")  # fmt: skip
    add("--storage", default="mcap", choices=("mcap", "sqlite3"), help="ROS 2 storage")
    add("--image-topic", help="default /camera/image_raw (+ /compressed for jpeg/png)")
    add("--camera-info-topic", default="/camera/camera_info", help="sensor_msgs/CameraInfo")
    intr = p.add_mutually_exclusive_group()
    intr.add_argument("--fx", dest="fx_px", type=float, help="focal length, pixels (fx = fy)")
    intr.add_argument("--hfov-deg", type=float, help="horizontal field of view, degrees")
    intr.add_argument("--calibration", type=Path, help="OpenCV or ROS camera_info YAML")
    ego = p.add_mutually_exclusive_group()
    ego.add_argument("--speed-mps", type=float, help="constant ego speed, m/s")
    ego.add_argument("--ego-csv", type=Path, help="CSV time_s,speed_mps,yaw_rate_rps")
    add("--speed-topic", default="/vehicle/speed", help="std_msgs/Float64 m/s; '' for none")
    add("--odom-topic", default="", help="also write nav_msgs/Odometry here")
    add("--ego-rate-hz", type=float, default=50.0, help="message rate for --speed-mps")
    add("--fps", type=float, help="video: force t = index / fps over container times")
    add("--period-s", type=float, default=0.1, help="image folder: frame period, s")
    add("--start-ns", type=int, default=DEFAULT_START_NS, help="stamp of t = 0, ns (epoch)")
    add("--max-frames", type=int, help="stop after this many frames")
    add("--jpeg-quality", type=int, default=95, help="0-100")
    add("--frame-id", default="camera", help="header.frame_id of images and camera info")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opts = Options(progress=sys.stderr.isatty(), **vars(args))
    try:
        summary = make_bag(opts)
    except (MakeBagError, ValueError, OSError) as err:  # adas errors are ValueErrors
        print(f"make_bag: {err}", file=sys.stderr)
        return 1
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
