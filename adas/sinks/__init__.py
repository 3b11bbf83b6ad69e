"""Outputs of ``adas replay``: each sink turns the stream of ``FrameResult`` into one file.

``events.jsonl`` (decision events), ``frames.csv`` (per frame and object), ``results/`` (a
ROS 2 MCAP bag for Foxglove), ``annotated/`` (video clips around the alerts) and, opt-in,
``annotated.mp4`` (the whole drive), ``report.html`` and ``summary.json``. Use them
as context managers (or through :class:`MultiSink`) so every file is finalised on any exit.
"""

from adas.sinks.base import (
    MultiSink,
    ObjectRow,
    Sink,
    SinkError,
    class_name,
    object_bgr,
    object_rows,
)
from adas.sinks.clips import Clip, ClipSink
from adas.sinks.events import DecisionEvent, EventDetector, EventsSink, read_events
from adas.sinks.mcap import McapSink
from adas.sinks.mcap_scene import Corridor
from adas.sinks.mcap_schemas import adas_typestore
from adas.sinks.report import ReportSink
from adas.sinks.summary import (
    DriveSummary,
    LatencyStats,
    SummaryBuilder,
    merge_summaries,
    read_summary,
)
from adas.sinks.table import FramesCsvSink, parse_float
from adas.sinks.video import VideoSink, annotate

__all__ = [
    "Clip",
    "ClipSink",
    "Corridor",
    "DecisionEvent",
    "DriveSummary",
    "EventDetector",
    "EventsSink",
    "FramesCsvSink",
    "LatencyStats",
    "McapSink",
    "MultiSink",
    "ObjectRow",
    "ReportSink",
    "Sink",
    "SinkError",
    "SummaryBuilder",
    "VideoSink",
    "adas_typestore",
    "annotate",
    "class_name",
    "merge_summaries",
    "object_bgr",
    "object_rows",
    "parse_float",
    "read_events",
    "read_summary",
]
