"""One forward camera's chain: frame and ego state in, :class:`adas.types.FrameResult` out.

preprocess -> detect (:class:`adas.detect.Detector`) -> track -> distance -> motion (TTC) ->
danger -> control. The vehicle (``adas run``), replay (``adas replay``) and the closed-loop
scenarios run this same code; they differ only in what feeds it. Time is the frame's capture
time ``t_ns`` throughout, never the wall clock, so a recorded drive gives the same decisions on
any machine at any speed.

The detector half is split into :meth:`Pipeline.prepare` and :meth:`Pipeline.infer` and the rest
is :meth:`Pipeline.post`, so a pipelined loop (``adas.replay``) can run them in different
threads; :meth:`Pipeline.process` is exactly ``post(infer(prepare(frame)))``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adas.camera_boxes import undistorted_boxes
from adas.camera_lens import Lens
from adas.config import AdasConfig
from adas.control import Controller
from adas.danger import DangerAssessor
from adas.distance import DistanceEstimator
from adas.motion import MotionEstimator
from adas.priors import SizePriors
from adas.track import Tracker
from adas.types import (
    Decision,
    Detections,
    EgoState,
    Frame,
    FrameResult,
    ObjectStates,
    RangeEstimates,
    Tracks,
)

if TYPE_CHECKING:
    from adas.camera import CameraModel
    from adas.detect.detector import DetectLatency, Detector, ModelRun, PreparedInput

# Per-stage latency keys of FrameResult.latency_ns, in pipeline order.
STAGES = ("preprocess", "infer", "decode", "track", "distance", "motion", "danger", "control")


@dataclass(frozen=True)
class ChainResult:
    """What the post-detection chain made of one frame's detections."""

    tracks: Tracks
    ranges: RangeEstimates
    objects: ObjectStates
    decision: Decision
    latency_ns: dict[str, int]


class Chain:
    """Tracker -> distance -> motion -> danger -> control, configured from an AdasConfig.

    Stateful (tracks, filters, the control state machine): one instance per camera stream,
    fed frames in capture-time order.
    """

    def __init__(self, camera: CameraModel, config: AdasConfig) -> None:
        self.camera, self.config = camera, config
        priors = SizePriors.load()  # one loaded prior for every stage that needs object sizes
        self.tracker = Tracker(config.tracker)
        self.distance = DistanceEstimator(camera, config.distance, priors)
        self.motion = MotionEstimator(config.motion)
        self.danger = DangerAssessor(config.danger, camera, priors, config.vehicle)
        self.control = Controller(config.control, config.vehicle)

    def __call__(
        self, detections: Detections, ego: EgoState, t_ns: int, *, input_ok: bool = True
    ) -> ChainResult:
        """Advance every stage to capture time ``t_ns`` [ns] with this frame's detections.

        ``input_ok`` False (a stalled or stale input) makes the decision UNAVAILABLE with a zero
        brake request, while tracking still runs so recovery needs no warm-up.
        """
        t = [time.perf_counter_ns()]
        tracks = self.tracker.update(detections, t_ns)
        t.append(time.perf_counter_ns())
        ranges = self.distance.update(tracks, t_ns, ego=ego)
        t.append(time.perf_counter_ns())
        objects = self.motion.update(self._motion_tracks(tracks), ranges, t_ns, ego)
        t.append(time.perf_counter_ns())
        objects = self.danger.update(tracks, objects, ego)
        t.append(time.perf_counter_ns())
        decision = self.control.update(objects, ego, t_ns, input_ok=input_ok)
        t.append(time.perf_counter_ns())
        names = ("track", "distance", "motion", "danger", "control")
        latency = {k: b - a for k, a, b in zip(names, t[:-1], t[1:], strict=True)}
        return ChainResult(tracks, ranges, objects, decision, latency)

    def _motion_tracks(self, tracks: Tracks) -> Tracks:
        """The tracks whose box scale the motion stage reads: a fisheye's boxes undistorted
        (edge centres through the lens), as the scale's rate is the range's only in a pinhole
        image. A box with a point outside the lens's field (none inside the image of a lens
        whose field covers it) keeps its captured size."""
        if self.camera.lens is not Lens.FISHEYE or len(tracks) == 0:
            return tracks
        und = undistorted_boxes(self.camera, tracks.xyxy)
        und = np.where(np.isfinite(und).all(1, keepdims=True), und, tracks.xyxy)
        return dataclasses.replace(tracks, xyxy=und.astype(tracks.xyxy.dtype))

    def stand_down(self, ego: EgoState, t_ns: int) -> Decision:
        """The input failed at capture time ``t_ns`` [ns] (a stalled camera, a corrupt frame):
        control stands down (UNAVAILABLE, zero brake request, persistence restarts from zero);
        tracks and filters are left as they are, so recovery needs no warm-up."""
        return self.control.update(ObjectStates.empty(), ego, t_ns, input_ok=False)


class Pipeline:
    """A detector and a :class:`Chain` for one camera."""

    def __init__(self, config: AdasConfig, camera: CameraModel, detector: Detector) -> None:
        self.config, self.camera, self.detector = config, camera, detector
        self.chain = Chain(camera, config)

    @classmethod
    def build(cls, config: AdasConfig, camera: CameraModel) -> Pipeline:
        """Load the configured model (``config.detect``) and build the chain."""
        from adas.detect.detector import Detector

        return cls(config, camera, Detector(config.detect, camera))

    def prepare(self, frame: Frame) -> PreparedInput:
        """Stage 1: preprocess the frame into a model input of its own (thread-safe)."""
        return self.detector.prepare(frame.image, frame.pixel_format)

    def infer(self, prepared: PreparedInput) -> tuple[Detections, dict[str, int]]:
        """Stage 2: run the model and decode; detections and their stage latencies [ns].
        The same as ``finish(run_model(prepared))``."""
        return _stage_latencies(*self.detector.infer(prepared))

    def run_model(self, prepared: PreparedInput) -> ModelRun:
        """Stage 2a, the model alone, its outputs kept for :meth:`finish` (thread-safe
        beside ``finish`` of an earlier frame, not beside another ``run_model``)."""
        return self.detector.run_model(prepared, keep=True)

    def finish(self, run: ModelRun) -> tuple[Detections, dict[str, int]]:
        """Stage 2b: the model's outputs decoded into detections; their stage latencies."""
        return _stage_latencies(*self.detector.finish(run))

    def post(
        self,
        frame: Frame,
        detections: Detections,
        ego: EgoState,
        latency_ns: dict[str, int] | None = None,
        *,
        input_ok: bool = True,
    ) -> FrameResult:
        """Stage 3: the chain at the frame's capture time; latencies merged into the result."""
        res = self.chain(detections, ego, frame.t_ns, input_ok=input_ok)
        return FrameResult(
            t_ns=frame.t_ns,
            seq=frame.seq,
            detections=detections,
            tracks=res.tracks,
            ranges=res.ranges,
            objects=res.objects,
            decision=res.decision,
            latency_ns={**(latency_ns or {}), **res.latency_ns},
        )

    def stand_down(self, ego: EgoState, t_ns: int) -> Decision:
        """Control stands down at ``t_ns`` [ns] for a failed input (:meth:`Chain.stand_down`)."""
        return self.chain.stand_down(ego, t_ns)

    def process(self, frame: Frame, ego: EgoState) -> FrameResult:
        """The whole pipeline on one frame, sequentially."""
        dets, lat = self.infer(self.prepare(frame))
        return self.post(frame, dets, ego, lat)


def _stage_latencies(dets: Detections, lat: DetectLatency) -> tuple[Detections, dict[str, int]]:
    return dets, {
        "preprocess": lat.preprocess_ns,
        "infer": lat.infer_ns,
        "decode": lat.postprocess_ns,
    }
