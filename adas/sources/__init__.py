"""Input sources: recorded data sets, bags, video and cameras."""

from adas.sources.kitti import KittiObject, load_tracking_labels

__all__ = ["KittiObject", "load_tracking_labels"]
