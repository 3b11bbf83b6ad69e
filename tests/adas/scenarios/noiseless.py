"""The idealised sensor without any noise, shared by the simulator tests."""

from __future__ import annotations

from adas.scenarios.camera_sim import SensorModel

# Exact boxes, no jitter, no misses, no score noise: what a test's geometry predicts.
NOISELESS = SensorModel(edge_sigma_px=0.0, jitter_rel=0.0, miss_prob=0.0, score_sigma=0.0)
