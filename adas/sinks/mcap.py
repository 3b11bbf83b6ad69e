"""``results/results.mcap``: the replay's results as a ROS 2 bag (MCAP storage) for Foxglove.

A rosbag2 *directory* (``results/`` with ``results.mcap`` and ``metadata.yaml``, version 9 as
rosbag2 in Jazzy writes it) written with the ``mcap`` library (:mod:`adas.sinks.mcap_file`:
chunked, CRC-checked, readable up to the last ~1 s after a kill). The ``.mcap`` file alone
opens in Foxglove, and ``rosbags.highlevel.AnyReader`` reads either. Topics (log time = frame
``t_ns``; message types in :mod:`adas.sinks.mcap_schemas`):

- ``/camera/image/compressed`` ``sensor_msgs/msg/CompressedImage`` (``jpeg``/``png``): the
  source's own bytes when it recorded JPEG or PNG (no decoding, no re-encoding), else the BGR
  frame encoded once to JPEG. Only with ``images=True``.
- ``/camera/video`` ``foxglove_msgs/msg/CompressedVideo`` (``h264``, Annex B): the source's H.264
  access units as they are, when it recorded H.264. Only with ``images=True``.
- ``/adas/detections`` ``vision_msgs/msg/Detection2DArray``: the detector's boxes (no id).
- ``/adas/tracks`` ``vision_msgs/msg/Detection2DArray``: tracks, ``id`` = track id, hypothesis
  class = ADAS class name; ``results[0].pose`` carries the object's position in the vehicle
  frame (x = ``distance_m``, y = ``lateral_m``; NaN = unknown; ``covariance[0]`` = sigma^2).
- ``/adas/annotations`` ``foxglove_msgs/msg/ImageAnnotations``: box outlines coloured by zone
  and danger, labels, and the decision banner, drawn over the image in Foxglove's Image panel.
- ``/adas/scene`` ``foxglove_msgs/msg/SceneUpdate``: the objects as boxes and the ego corridor
  in the ``vehicle`` frame, for the 3D panel (:mod:`adas.sinks.mcap_scene`).
- ``/tf`` ``tf2_msgs/msg/TFMessage``: ``vehicle`` -> camera frame from the mount, every frame
  (so a seek anywhere finds it; ROS tools and Foxglove's 3D panel read ``/tf``). Only when the
  sink is given the mount.
- ``/adas/decision`` ``adas_msgs/msg/Decision``. A typed message instead of
  ``std_msgs/String`` with JSON: Foxglove plots ``level`` and ``decel_request_mps2`` directly,
  and the definition travels inside the MCAP, so every reader decodes it without our code.

Box centres keep OpenCV's pixel convention (centre of the top-left pixel is 0, 0); Foxglove
annotations use the top-left *corner* as origin, so their points are shifted by half a pixel.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.typesys.store import Typestore

from adas.camera import Mount
from adas.priors import SizePriors
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
from adas.sinks.mcap_file import METADATA_FILE, BagFile
from adas.sinks.mcap_scene import Corridor, SceneMessages
from adas.sinks.mcap_schemas import (
    COMPRESSED_IMAGE,
    COMPRESSED_VIDEO,
    DECISION,
    DETECTION_ARRAY,
    IMAGE_ANNOTATIONS,
    SCENE_UPDATE,
    TF_MESSAGE,
    TWIST_STAMPED,
    adas_typestore,
    writer_typestore,
)
from adas.sinks.video import label_text
from adas.types import Decision, DecisionLevel, Detections, EncodedImage, FrameResult

__all__ = [
    "BAG_DIR", "COMPRESSED_IMAGE", "COMPRESSED_VIDEO", "DECISION", "DETECTION_ARRAY",
    "IMAGE_ANNOTATIONS", "SCENE_UPDATE", "TF_MESSAGE", "TOPIC_ANNOTATIONS", "TOPIC_DECISION",
    "TOPIC_DETECTIONS", "TOPIC_EGO", "TOPIC_IMAGE", "TOPIC_SCENE", "TOPIC_TF", "TOPIC_TRACKS",
    "TOPIC_VIDEO", "TWIST_STAMPED", "McapSink", "adas_typestore",
]  # fmt: skip

log = logging.getLogger(__name__)

BAG_DIR = "results"
TOPIC_IMAGE = "/camera/image/compressed"
TOPIC_VIDEO = "/camera/video"
TOPIC_DETECTIONS = "/adas/detections"
TOPIC_TRACKS = "/adas/tracks"
TOPIC_ANNOTATIONS = "/adas/annotations"
TOPIC_SCENE = "/adas/scene"
TOPIC_DECISION = "/adas/decision"
TOPIC_TF = "/tf"
TOPIC_EGO = "/vehicle/twist"
_LINE_LOOP = 2  # foxglove_msgs PointsAnnotation.LINE_LOOP


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

    def tracks(self, t_ns: int, rows: Sequence[ObjectRow]) -> Any:
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

    def annotations(self, t_ns: int, rows: Sequence[ObjectRow], decision: Decision) -> Any:
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
        """The BGR frame encoded once to JPEG (``quality`` 0-100)."""
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            msg = f"JPEG encoding of a {image.shape} {image.dtype} image failed; pass BGR uint8"
            raise SinkError(msg)
        return self.compressed(t_ns, "jpeg", np.asarray(buf, np.uint8).reshape(-1))

    def compressed(self, t_ns: int, fmt: str, data: np.ndarray) -> Any:
        return self.t[COMPRESSED_IMAGE](header=self.header(t_ns), format=fmt, data=data)

    def video(self, t_ns: int, encoded: EncodedImage) -> Any:
        """One H.264 access unit as it was recorded (Annex B)."""
        return self.t[COMPRESSED_VIDEO](
            timestamp=self.stamp(t_ns), frame_id=self.frame_id, format=encoded.format,
            data=np.frombuffer(encoded.data, np.uint8),
        )  # fmt: skip


class McapSink(SinkBase):
    """Writes the ``results/`` rosbag2 (MCAP) into ``out_dir``; :attr:`path` is the .mcap file.

    ``images``: also store the input frames (``encoded`` as recorded, else the BGR image as
    JPEG of ``jpeg_quality`` 0-100) so the drive plays in Foxglove with the annotations drawn
    over it. ``mount``: the camera's mount, for ``/tf`` (``None``: no transform, and the 3D
    panel cannot place the camera). ``corridor``: the ego corridor drawn in the 3D scene
    (default ``[danger]``'s defaults). ``priors``: class sizes of the boxes (default the shipped
    ``data/priors/object_sizes.toml``). ``frame_id`` names the camera frame. The file is
    finalised (summary, index, metadata.yaml) in ``close``, which ``with`` runs on any exit;
    after a kill it is readable up to its last complete chunk (:mod:`adas.sinks.mcap_file`).
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
        mount: Mount | None = None,
        corridor: Corridor | None = None,
        priors: SizePriors | None = None,
    ) -> None:
        self.bag_dir = output_path(out_dir, BAG_DIR, overwrite=overwrite)
        if self.bag_dir.exists():
            _remove_bag(self.bag_dir)
        self.path = self.bag_dir / f"{BAG_DIR}.mcap"
        self.typestore: Typestore = writer_typestore()
        self.images, self.jpeg_quality = images, jpeg_quality
        self.mount, self.frame_id = mount, frame_id
        self.frames = 0
        self._msgs = _Messages(self.typestore, frame_id)
        self._scene = SceneMessages(
            self.typestore.types, priors or SizePriors.load(), corridor or Corridor()
        )
        if mount is None:
            log.info("results.mcap: no camera mount given, so no /tf (vehicle -> %s)", frame_id)
        self._bag = BagFile(self.bag_dir, self.typestore)
        topics = {
            TOPIC_DETECTIONS: DETECTION_ARRAY,
            TOPIC_TRACKS: DETECTION_ARRAY,
            TOPIC_ANNOTATIONS: IMAGE_ANNOTATIONS,
            TOPIC_SCENE: SCENE_UPDATE,
            TOPIC_DECISION: DECISION,
        }
        if mount is not None:
            topics[TOPIC_TF] = TF_MESSAGE
        if ego:
            topics[TOPIC_EGO] = TWIST_STAMPED
        # The image topics come with the first frame of their kind (a drive has one of them).
        self._lazy = {TOPIC_IMAGE: COMPRESSED_IMAGE, TOPIC_VIDEO: COMPRESSED_VIDEO}
        try:
            self._conns = {topic: self._bag.add_channel(topic, t) for topic, t in topics.items()}
        except BaseException:
            self._bag.close()
            raise

    def _put(self, topic: str, t_ns: int, msg: Any) -> None:
        if topic not in self._conns:
            self._conns[topic] = self._bag.add_channel(topic, self._lazy[topic])
        self._bag.write(self._conns[topic], int(t_ns), msg)

    def write_ego(self, t_ns: int, speed_mps: float, yaw_rate_rps: float) -> None:
        """The ego state the frame was processed with (``ego=True``; ``adas run --record``),
        so that replay of the recording sees the same speed. Invalid ego is not written."""
        if TOPIC_EGO not in self._conns:
            msg = "McapSink was made without ego=True; no ego topic to write"
            raise SinkError(msg)
        if math.isfinite(speed_mps):
            self._put(TOPIC_EGO, t_ns, self._msgs.twist(t_ns, speed_mps, yaw_rate_rps))

    def _image(self, t_ns: int, image: np.ndarray | None, encoded: EncodedImage | None) -> None:
        """The frame as recorded (no decoding, no re-encoding), else the BGR image as JPEG."""
        m = self._msgs
        if encoded is not None and encoded.format in ("jpeg", "png"):
            data = np.frombuffer(encoded.data, np.uint8)
            self._put(TOPIC_IMAGE, t_ns, m.compressed(t_ns, encoded.format, data))
        elif encoded is not None and encoded.format == "h264":
            self._put(TOPIC_VIDEO, t_ns, m.video(t_ns, encoded))
        elif image is not None:
            self._put(TOPIC_IMAGE, t_ns, m.image(t_ns, image, self.jpeg_quality))

    def write(
        self,
        result: FrameResult,
        image: np.ndarray | None = None,
        encoded: EncodedImage | None = None,
    ) -> None:
        self._check_open()
        t_ns, m = result.t_ns, self._msgs
        self._bag.begin_frame(t_ns)
        rows = object_rows(result)
        if self.images:
            self._image(t_ns, image, encoded)
        stamp = m.stamp(t_ns)
        if self.mount is not None:
            self._put(TOPIC_TF, t_ns, self._scene.transform(stamp, self.mount, self.frame_id))
        self._put(TOPIC_DETECTIONS, t_ns, m.detections(t_ns, result.detections))
        self._put(TOPIC_TRACKS, t_ns, m.tracks(t_ns, rows))
        self._put(TOPIC_ANNOTATIONS, t_ns, m.annotations(t_ns, rows, result.decision))
        self._put(TOPIC_SCENE, t_ns, self._scene.scene(stamp, rows))
        self._put(TOPIC_DECISION, t_ns, m.decision(t_ns, result.decision))
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._bag.close()


def _remove_bag(bag_dir: Path) -> None:
    """Remove an earlier run's bag (overwrite), but only a directory holding a bag's files."""
    allowed = {f"{BAG_DIR}.mcap", METADATA_FILE}
    names = {p.name for p in bag_dir.iterdir()} if bag_dir.is_dir() else {"?"}
    if not names <= allowed:
        msg = f"{bag_dir} is not a results bag ({sorted(names)}); remove it or pick another dir"
        raise SinkError(msg)
    shutil.rmtree(bag_dir)
