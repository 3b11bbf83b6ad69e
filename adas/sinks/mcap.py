"""``results/results.mcap``: the replay's results as a ROS 2 bag (MCAP storage) for Foxglove.

``rosbags.rosbag2.Writer`` writes a rosbag2 *directory* (``results/`` with ``results.mcap``
and ``metadata.yaml``, format version 9 as rosbag2 in Jazzy writes it); the ``.mcap`` file
alone opens in Foxglove, and ``rosbags.highlevel.AnyReader`` reads either (older rosbag2
releases that reject version 9 metadata can be pointed at the ``.mcap`` file). Topics (log
time = frame ``t_ns``):

- ``/camera/image/compressed`` ``sensor_msgs/msg/CompressedImage`` (JPEG), when images come.
- ``/adas/detections`` ``vision_msgs/msg/Detection2DArray``: the detector's boxes (no id).
- ``/adas/tracks`` ``vision_msgs/msg/Detection2DArray``: tracks, ``id`` = track id, hypothesis
  class = ADAS class name; ``results[0].pose`` carries the object's position in the vehicle
  frame (x = ``distance_m``, y = ``lateral_m``; NaN = unknown; ``covariance[0]`` = sigma^2).
- ``/adas/annotations`` ``foxglove_msgs/msg/ImageAnnotations``: box outlines coloured by zone
  and danger, labels, and the decision banner, drawn over the image in Foxglove's Image panel.
- ``/adas/decision`` ``adas_msgs/msg/Decision`` (defined here). A typed message instead of
  ``std_msgs/String`` with JSON: Foxglove plots ``level`` and ``decel_request_mps2`` directly,
  and the definition travels inside the MCAP, so every reader decodes it without our code.

vision_msgs (ROS 2 Humble, 4.x) and foxglove_msgs are not in rosbags' stores: their .msg
definitions below are registered with a Humble typestore (:func:`adas_typestore`). Box centres
keep OpenCV's pixel convention (centre of the top-left pixel is 0, 0); Foxglove annotations use
the top-left *corner* as origin, so their points are shifted by half a pixel.
"""

from __future__ import annotations

import functools
import math
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from adas.sinks.base import (
    BGR,
    LEVEL_BGR,
    ObjectRow,
    SinkBase,
    SinkError,
    class_name,
    object_bgr,
    object_rows,
    output_path,
)
from adas.sinks.video import label_text
from adas.types import Decision, DecisionLevel, Detections, EncodedImage, FrameResult

BAG_DIR = "results"
TOPIC_IMAGE = "/camera/image/compressed"
TOPIC_DETECTIONS = "/adas/detections"
TOPIC_TRACKS = "/adas/tracks"
TOPIC_ANNOTATIONS = "/adas/annotations"
TOPIC_DECISION = "/adas/decision"
DETECTION_ARRAY = "vision_msgs/msg/Detection2DArray"
IMAGE_ANNOTATIONS = "foxglove_msgs/msg/ImageAnnotations"
DECISION = "adas_msgs/msg/Decision"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
TOPIC_EGO = "/vehicle/twist"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
_LINE_LOOP = 2  # foxglove_msgs PointsAnnotation.LINE_LOOP

# Field lists after the vision_msgs 4.x (Humble) and foxglove_msgs ROS 2 message specs.
MSG_DEFINITIONS: dict[str, str] = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": (
        "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n"
    ),
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection2DArray": (
        "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n"
    ),
    "foxglove_msgs/msg/Point2": "float64 x\nfloat64 y\n",
    "foxglove_msgs/msg/Color": "float64 r\nfloat64 g\nfloat64 b\nfloat64 a\n",
    "foxglove_msgs/msg/CircleAnnotation": (
        "builtin_interfaces/Time timestamp\nfoxglove_msgs/Point2 position\nfloat64 diameter\n"
        "float64 thickness\nfoxglove_msgs/Color fill_color\nfoxglove_msgs/Color outline_color\n"
    ),
    "foxglove_msgs/msg/PointsAnnotation": (
        "builtin_interfaces/Time timestamp\nuint8 UNKNOWN=0\nuint8 POINTS=1\nuint8 LINE_LOOP=2\n"
        "uint8 LINE_STRIP=3\nuint8 LINE_LIST=4\nuint8 type\nfoxglove_msgs/Point2[] points\n"
        "foxglove_msgs/Color outline_color\nfoxglove_msgs/Color[] outline_colors\n"
        "foxglove_msgs/Color fill_color\nfloat64 thickness\n"
    ),
    "foxglove_msgs/msg/TextAnnotation": (
        "builtin_interfaces/Time timestamp\nfoxglove_msgs/Point2 position\nstring text\n"
        "float64 font_size\nfoxglove_msgs/Color text_color\nfoxglove_msgs/Color background_color\n"
    ),
    "foxglove_msgs/msg/ImageAnnotations": (
        "foxglove_msgs/CircleAnnotation[] circles\nfoxglove_msgs/PointsAnnotation[] points\n"
        "foxglove_msgs/TextAnnotation[] texts\n"
    ),
    DECISION: (
        "# Decision of the control stage for one frame (adas.types.Decision).\n"
        "uint8 NONE=0\nuint8 CAUTION=1\nuint8 WARNING=2\nuint8 BRAKE_PARTIAL=3\n"
        "uint8 BRAKE_FULL=4\nuint8 UNAVAILABLE=5\n"
        "std_msgs/Header header\nuint8 level\nstring level_name\n"
        "float64 decel_request_mps2\nint64 target_track_id\nstring reason\n"
    ),
}


def adas_typestore() -> Typestore:
    """A ROS 2 Humble typestore with the vision_msgs, foxglove_msgs and adas_msgs types (a new
    one per call: readers may register more types in theirs)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict[str, Any] = {}
    for name, text in MSG_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


@functools.cache
def _writer_typestore() -> Typestore:
    """The sinks' own store, made once per process: rosbags compiles a type's CDR serializer
    on first use (~90 ms for these types, 2.4 ms a frame over a 38-frame drive) and keeps it in
    the store, so every drive after the first reuses it. Only serialised from, never added to."""
    return adas_typestore()


class _Messages:
    """Builds the messages of one frame from a typestore's classes."""

    def __init__(self, store: Typestore, frame_id: str) -> None:
        self.t = store.types
        self.frame_id = frame_id

    def header(self, t_ns: int) -> Any:
        stamp = self.stamp(t_ns)
        return self.t["std_msgs/msg/Header"](stamp=stamp, frame_id=self.frame_id)

    def stamp(self, t_ns: int) -> Any:
        sec, nanosec = divmod(int(t_ns), 1_000_000_000)
        return self.t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)

    def detection(
        self, header: Any, xyxy: Any, cls: int, score: float, *, track_id: str = "",
        distance_m: float = np.nan, lateral_m: float = np.nan, sigma_m: float = np.nan,
    ) -> Any:  # fmt: skip
        """One Detection2D; the pose is the vehicle-frame position (NaN = unknown)."""
        t = self.t
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        cov = np.zeros(36)
        cov[0] = sigma_m**2
        pose = t["geometry_msgs/msg/Pose"](
            position=t["geometry_msgs/msg/Point"](x=distance_m, y=lateral_m, z=0.0),
            orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        )
        hyp = t["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=t["vision_msgs/msg/ObjectHypothesis"](
                class_id=class_name(cls), score=float(score)
            ),
            pose=t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=cov),
        )
        centre = t["vision_msgs/msg/Pose2D"](
            position=t["vision_msgs/msg/Point2D"](x=(x1 + x2) / 2, y=(y1 + y2) / 2), theta=0.0
        )
        return t["vision_msgs/msg/Detection2D"](
            header=header,
            results=[hyp],
            bbox=t["vision_msgs/msg/BoundingBox2D"](center=centre, size_x=x2 - x1, size_y=y2 - y1),
            id=track_id,
        )

    def detections(self, t_ns: int, dets: Detections) -> Any:
        h = self.header(t_ns)
        items = [
            self.detection(h, dets.xyxy[i], int(dets.class_id[i]), float(dets.score[i]))
            for i in range(len(dets))
        ]
        return self.t[DETECTION_ARRAY](header=h, detections=items)

    def tracks(self, t_ns: int, rows: list[ObjectRow]) -> Any:
        h = self.header(t_ns)
        items = [
            self.detection(
                h,
                r.xyxy,
                r.class_id,
                r.score,
                track_id=str(r.track_id),
                distance_m=r.distance_m,
                lateral_m=r.lateral_m,
                sigma_m=r.sigma_distance_m,
            )
            for r in rows
        ]
        return self.t[DETECTION_ARRAY](header=h, detections=items)

    def colour(self, bgr: BGR, alpha: float = 1.0) -> Any:
        b, g, r = bgr
        return self.t["foxglove_msgs/msg/Color"](r=r / 255, g=g / 255, b=b / 255, a=alpha)

    def text(self, stamp: Any, x: float, y: float, text: str, bgr: BGR, size: float) -> Any:
        return self.t["foxglove_msgs/msg/TextAnnotation"](
            timestamp=stamp, position=self.t["foxglove_msgs/msg/Point2"](x=x, y=y), text=text,
            font_size=size, text_color=self.colour((255, 255, 255)),
            background_color=self.colour(bgr, 0.8),
        )  # fmt: skip

    def annotations(self, t_ns: int, rows: list[ObjectRow], decision: Decision) -> Any:
        t, stamp = self.t, self.stamp(t_ns)
        point2 = t["foxglove_msgs/msg/Point2"]
        points, texts = [], []
        for r in rows:
            if not all(math.isfinite(v) for v in r.xyxy):
                continue
            # Foxglove's origin is the top-left pixel's corner, OpenCV's its centre: +0.5 px.
            x1, y1, x2, y2 = (v + 0.5 for v in r.xyxy)
            bgr = object_bgr(r.zone, r.danger)
            corners = [point2(x=x1, y=y1), point2(x=x2, y=y1), point2(x=x2, y=y2)]
            corners.append(point2(x=x1, y=y2))
            points.append(
                t["foxglove_msgs/msg/PointsAnnotation"](
                    timestamp=stamp,
                    type=_LINE_LOOP,
                    points=corners,
                    outline_color=self.colour(bgr),
                    outline_colors=[],
                    fill_color=self.colour(bgr, 0.0),
                    thickness=2.0,
                )
            )
            texts.append(self.text(stamp, x1, y1 - 2.0, label_text(r), bgr, 12.0))
        level = DecisionLevel(decision.level)
        banner = f"{level.name} {decision.decel_request_mps2:.1f} m/s2 {decision.reason}"
        texts.append(self.text(stamp, 4.0, 20.0, banner.strip(), LEVEL_BGR[level], 18.0))
        return t[IMAGE_ANNOTATIONS](circles=[], points=points, texts=texts)

    def decision(self, t_ns: int, d: Decision) -> Any:
        level = DecisionLevel(d.level)
        return self.t[DECISION](
            header=self.header(t_ns), level=int(level), level_name=level.name,
            decel_request_mps2=float(d.decel_request_mps2),
            target_track_id=int(d.target_track_id), reason=d.reason,
        )  # fmt: skip

    def twist(self, t_ns: int, speed_mps: float, yaw_rate_rps: float) -> Any:
        """Ego motion as replay reads it back (forward speed, yaw rate; ISO 8855)."""
        t = self.t
        zero = t["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
        return t[TWIST_STAMPED](
            header=self.header(t_ns),
            twist=t["geometry_msgs/msg/Twist"](
                linear=t["geometry_msgs/msg/Vector3"](x=float(speed_mps), y=0.0, z=0.0),
                angular=t["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=float(yaw_rate_rps)),
            )
            if math.isfinite(speed_mps)
            else t["geometry_msgs/msg/Twist"](linear=zero, angular=zero),
        )

    def image(self, t_ns: int, image: np.ndarray, quality: int) -> Any:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            msg = f"JPEG encoding of a {image.shape} {image.dtype} image failed; pass BGR uint8"
            raise SinkError(msg)
        return self.t[COMPRESSED_IMAGE](
            header=self.header(t_ns), format="jpeg", data=np.asarray(buf, np.uint8).reshape(-1)
        )


class McapSink(SinkBase):
    """Writes the ``results/`` rosbag2 (MCAP) into ``out_dir``; :attr:`path` is the .mcap file.

    ``images``: also store the input frames as JPEG (``jpeg_quality`` 0-100) so the drive
    plays in Foxglove with the annotations drawn over it. The writer is closed (summary,
    index, metadata.yaml written) in ``close``, which ``with`` runs on any exit, so the bag
    holds every frame written before an exception or Ctrl-C.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        images: bool = True,
        jpeg_quality: int = 85,
        frame_id: str = "camera_front",
        overwrite: bool = False,
        ego: bool = False,
    ) -> None:
        self.bag_dir = output_path(out_dir, BAG_DIR, overwrite=overwrite)
        if self.bag_dir.exists():
            _remove_bag(self.bag_dir)
        self.path = self.bag_dir / f"{BAG_DIR}.mcap"
        self.typestore = _writer_typestore()
        self.images, self.jpeg_quality = images, jpeg_quality
        self.frames = 0
        self._msgs = _Messages(self.typestore, frame_id)
        self._writer = Writer(self.bag_dir, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        topics = {
            TOPIC_DETECTIONS: DETECTION_ARRAY,
            TOPIC_TRACKS: DETECTION_ARRAY,
            TOPIC_ANNOTATIONS: IMAGE_ANNOTATIONS,
            TOPIC_DECISION: DECISION,
        }
        if images:
            topics = {TOPIC_IMAGE: COMPRESSED_IMAGE, **topics}
        if ego:
            topics[TOPIC_EGO] = TWIST_STAMPED
        try:
            self._conns = {
                topic: self._writer.add_connection(topic, msgtype, typestore=self.typestore)
                for topic, msgtype in topics.items()
            }
        except BaseException:
            self._writer.close()
            raise

    def _put(self, topic: str, t_ns: int, msg: Any) -> None:
        data = self.typestore.serialize_cdr(msg, msg.__msgtype__)
        self._writer.write(self._conns[topic], int(t_ns), data)

    def write_ego(self, t_ns: int, speed_mps: float, yaw_rate_rps: float) -> None:
        """The ego state the frame was processed with (``ego=True``; ``adas run --record``),
        so that replay of the recording sees the same speed. Invalid ego is not written."""
        if TOPIC_EGO not in self._conns:
            msg = "McapSink was made without ego=True; no ego topic to write"
            raise SinkError(msg)
        if math.isfinite(speed_mps):
            self._put(TOPIC_EGO, t_ns, self._msgs.twist(t_ns, speed_mps, yaw_rate_rps))

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        t_ns, m = result.t_ns, self._msgs
        rows = object_rows(result)
        if self.images and image is not None:
            self._put(TOPIC_IMAGE, t_ns, m.image(t_ns, image, self.jpeg_quality))
        self._put(TOPIC_DETECTIONS, t_ns, m.detections(t_ns, result.detections))
        self._put(TOPIC_TRACKS, t_ns, m.tracks(t_ns, rows))
        self._put(TOPIC_ANNOTATIONS, t_ns, m.annotations(t_ns, rows, result.decision))
        self._put(TOPIC_DECISION, t_ns, m.decision(t_ns, result.decision))
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        try:
            self._writer.close()
        except Exception as err:
            msg = f"finalising {self.path} failed: {err}"
            raise SinkError(msg) from err


def _remove_bag(bag_dir: Path) -> None:
    """Remove an earlier run's bag (overwrite), but only a directory holding a bag's files."""
    allowed = {f"{BAG_DIR}.mcap", "metadata.yaml"}
    names = {p.name for p in bag_dir.iterdir()} if bag_dir.is_dir() else {"?"}
    if not names <= allowed:
        msg = f"{bag_dir} is not a results bag ({sorted(names)}); remove it or pick another dir"
        raise SinkError(msg)
    shutil.rmtree(bag_dir)
