"""Input sources: recorded drives (ROS 1/2 bags, MCAP), video files, image folders, KITTI labels
and KITTI odometry poses (ego speed and yaw rate); :func:`decode_cpu_ms_per_frame`, the video
decoder's CPU cost alone; :func:`decode_h264_units`, recorded H.264 units decoded again.

Every drive source yields :class:`SourceItem` (frame, matched ego state, camera info) in
recorded time order and counts what it had to drop in ``skipped`` (see :class:`Skip`).
"""

from adas.sources.bag import AmbiguousTopicError, BagError, BagSource, TopicMap
from adas.sources.kitti import KittiObject, load_tracking_labels
from adas.sources.kitti_odometry import (
    PoseEgo,
    ego_from_poses,
    kitti_poses_ego,
    load_kitti_poses,
    write_ego_csv,
)
from adas.sources.source import CameraInfo, Degraded, Skip, Source, SourceItem
from adas.sources.video import (
    ImageFolderSource,
    SourceError,
    VideoSource,
    load_ego_csv,
    open_source,
)
from adas.sources.video_decode import decode_cpu_ms_per_frame, decode_h264_units

__all__ = [
    "AmbiguousTopicError",
    "BagError",
    "BagSource",
    "CameraInfo",
    "Degraded",
    "ImageFolderSource",
    "KittiObject",
    "PoseEgo",
    "Skip",
    "Source",
    "SourceError",
    "SourceItem",
    "TopicMap",
    "VideoSource",
    "decode_cpu_ms_per_frame",
    "decode_h264_units",
    "ego_from_poses",
    "kitti_poses_ego",
    "load_ego_csv",
    "load_kitti_poses",
    "load_tracking_labels",
    "open_source",
    "write_ego_csv",
]
