"""Input sources: recorded drives (ROS 1/2 bags, MCAP), video files, image folders, KITTI labels.

Every drive source yields :class:`SourceItem` (frame, matched ego state, camera info) in
recorded time order and counts what it had to drop in ``skipped`` (see :class:`Skip`).
"""

from adas.sources.bag import AmbiguousTopicError, BagError, BagSource, TopicMap
from adas.sources.kitti import KittiObject, load_tracking_labels
from adas.sources.source import CameraInfo, Degraded, Skip, Source, SourceItem
from adas.sources.video import (
    ImageFolderSource,
    SourceError,
    VideoSource,
    load_ego_csv,
    open_source,
)

__all__ = [
    "AmbiguousTopicError",
    "BagError",
    "BagSource",
    "CameraInfo",
    "Degraded",
    "ImageFolderSource",
    "KittiObject",
    "Skip",
    "Source",
    "SourceError",
    "SourceItem",
    "TopicMap",
    "VideoSource",
    "load_ego_csv",
    "load_tracking_labels",
    "open_source",
]
