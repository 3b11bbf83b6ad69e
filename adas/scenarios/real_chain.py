"""The product's post-detection chain as the scenario simulator's chain under test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adas.camera import CameraModel
from adas.scenarios.sim import ChainOutput
from adas.types import Detections, EgoState

if TYPE_CHECKING:
    from adas.config import AdasConfig

__all__ = ["RealChain"]


class RealChain:
    """The product's post-detection chain (:class:`adas.pipeline.Chain`) as the simulator's
    chain: detections and ego state in, decision, tracks and objects out."""

    def __init__(self, camera: CameraModel, config: AdasConfig) -> None:
        from adas.pipeline import Chain

        self.chain = Chain(camera, config)

    def __call__(self, detections: Detections, ego: EgoState) -> ChainOutput:
        res = self.chain(detections, ego, ego.t_ns)
        return ChainOutput(res.decision, res.tracks, res.objects)
