"""The ROS 2 message types of ``results.mcap`` and the typestore that serialises them.

vision_msgs (ROS 2 Humble, 4.x) and foxglove_msgs are not in rosbags' stores, so their .msg
definitions are written out here and registered with a Humble typestore (:func:`adas_typestore`);
the writer stores each type's full definition (``ros2msg``) in the file, so no reader needs
this module. Field lists follow vision_msgs 4.x and the ROS 2 definitions that
github.com/foxglove/schemas publishes in ``ros_foxglove_msgs/ros2/*.msg`` (SceneUpdate,
SceneEntity, SceneEntityDeletion, the primitives, CompressedVideo; the primitives in their
released form, without the later per-primitive metadata). Comments of the originals are left out:
only names, types and constants change a message's wire format and its type hash.
"""

from __future__ import annotations

import functools
from typing import Any

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

__all__ = [
    "COMPRESSED_IMAGE", "COMPRESSED_VIDEO", "DECISION", "DETECTION_ARRAY", "IMAGE_ANNOTATIONS",
    "MSG_DEFINITIONS", "SCENE_UPDATE", "TF_MESSAGE", "TWIST_STAMPED", "adas_typestore",
    "writer_typestore",
]  # fmt: skip

DETECTION_ARRAY = "vision_msgs/msg/Detection2DArray"
IMAGE_ANNOTATIONS = "foxglove_msgs/msg/ImageAnnotations"
SCENE_UPDATE = "foxglove_msgs/msg/SceneUpdate"
COMPRESSED_VIDEO = "foxglove_msgs/msg/CompressedVideo"
DECISION = "adas_msgs/msg/Decision"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"

_POSE = "geometry_msgs/Pose pose\n"
_COLOR = "foxglove_msgs/Color color\n"

_VISION_MSGS: dict[str, str] = {
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
    DETECTION_ARRAY: "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}

_FOXGLOVE_2D: dict[str, str] = {
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
    IMAGE_ANNOTATIONS: (
        "foxglove_msgs/CircleAnnotation[] circles\nfoxglove_msgs/PointsAnnotation[] points\n"
        "foxglove_msgs/TextAnnotation[] texts\n"
    ),
}

# The 3D scene (Foxglove's 3D panel) and the compressed video frame.
_FOXGLOVE_3D: dict[str, str] = {
    "foxglove_msgs/msg/KeyValuePair": "string key\nstring value\n",
    "foxglove_msgs/msg/ArrowPrimitive": (
        f"{_POSE}float64 shaft_length\nfloat64 shaft_diameter\nfloat64 head_length\n"
        f"float64 head_diameter\n{_COLOR}"
    ),
    "foxglove_msgs/msg/CubePrimitive": f"{_POSE}geometry_msgs/Vector3 size\n{_COLOR}",
    "foxglove_msgs/msg/SpherePrimitive": f"{_POSE}geometry_msgs/Vector3 size\n{_COLOR}",
    "foxglove_msgs/msg/CylinderPrimitive": (
        f"{_POSE}geometry_msgs/Vector3 size\nfloat64 bottom_scale\nfloat64 top_scale\n{_COLOR}"
    ),
    "foxglove_msgs/msg/LinePrimitive": (
        "uint8 LINE_STRIP=0\nuint8 LINE_LOOP=1\nuint8 LINE_LIST=2\nuint8 type\n"
        f"{_POSE}float64 thickness\nbool scale_invariant\ngeometry_msgs/Point[] points\n"
        f"{_COLOR}foxglove_msgs/Color[] colors\nuint32[] indices\n"
    ),
    "foxglove_msgs/msg/TriangleListPrimitive": (
        f"{_POSE}geometry_msgs/Point[] points\n{_COLOR}foxglove_msgs/Color[] colors\n"
        "uint32[] indices\n"
    ),
    "foxglove_msgs/msg/TextPrimitive": (
        f"{_POSE}bool billboard\nfloat64 font_size\nbool scale_invariant\n{_COLOR}string text\n"
    ),
    "foxglove_msgs/msg/ModelPrimitive": (
        f"{_POSE}geometry_msgs/Vector3 scale\n{_COLOR}bool use_embedded_materials\nstring url\n"
        "string mime_type\nuint8[] data\n"
    ),
    "foxglove_msgs/msg/SceneEntityDeletion": (
        "builtin_interfaces/Time timestamp\nuint8 MATCHING_ID=0\nuint8 ALL=1\nuint8 type\n"
        "string id\n"
    ),
    "foxglove_msgs/msg/SceneEntity": (
        "builtin_interfaces/Time timestamp\nstring frame_id\nstring id\n"
        "builtin_interfaces/Duration lifetime\nbool frame_locked\n"
        "foxglove_msgs/KeyValuePair[] metadata\nfoxglove_msgs/ArrowPrimitive[] arrows\n"
        "foxglove_msgs/CubePrimitive[] cubes\nfoxglove_msgs/SpherePrimitive[] spheres\n"
        "foxglove_msgs/CylinderPrimitive[] cylinders\nfoxglove_msgs/LinePrimitive[] lines\n"
        "foxglove_msgs/TriangleListPrimitive[] triangles\nfoxglove_msgs/TextPrimitive[] texts\n"
        "foxglove_msgs/ModelPrimitive[] models\n"
    ),
    SCENE_UPDATE: (
        "foxglove_msgs/SceneEntityDeletion[] deletions\nfoxglove_msgs/SceneEntity[] entities\n"
    ),
    COMPRESSED_VIDEO: (
        "builtin_interfaces/Time timestamp\nstring frame_id\nuint8[] data\nstring format\n"
    ),
}

_ADAS_MSGS: dict[str, str] = {
    DECISION: (
        "# Decision of the control stage for one frame (adas.types.Decision).\n"
        "uint8 NONE=0\nuint8 CAUTION=1\nuint8 WARNING=2\nuint8 BRAKE_PARTIAL=3\n"
        "uint8 BRAKE_FULL=4\nuint8 UNAVAILABLE=5\n"
        "std_msgs/Header header\nuint8 level\nstring level_name\n"
        "float64 decel_request_mps2\nint64 target_track_id\nstring reason\n"
    ),
}

MSG_DEFINITIONS: dict[str, str] = {**_VISION_MSGS, **_FOXGLOVE_2D, **_FOXGLOVE_3D, **_ADAS_MSGS}


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
def writer_typestore() -> Typestore:
    """The sinks' own store, made once per process: rosbags compiles a type's CDR serializer
    on first use (~90 ms for these types, 2.4 ms a frame over a 38-frame drive) and keeps it in
    the store, so every drive after the first reuses it. Only serialised from, never added to.

    rosbags' generated serializers look up every nested message's definition by name through
    ``get_msgdef`` (about 180 calls a frame); as the store never changes, those look-ups are
    memoised in a C-level cache of the store's own method. So are a channel's schema text and
    type hash (``generate_msgdef``, ``hash_rihs01``: 0.7 ms a channel, 5 ms a drive)."""
    store = adas_typestore()
    store.get_msgdef = functools.cache(store.get_msgdef)  # type: ignore[method-assign]
    store.generate_msgdef = functools.cache(store.generate_msgdef)  # type: ignore[method-assign]
    store.hash_rihs01 = functools.cache(store.hash_rihs01)  # type: ignore[method-assign]
    return store
