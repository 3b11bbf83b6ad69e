"""Which sensor a scenario run simulates, and the per-trial world the measured one comes with.

``sensor`` is ``"measured"`` (the default: the detector as measured in
``data/sensor/yolox_nano.json``), ``"ideal"`` (the idealised sensor of issue 4: exact class-mean
sizes, 1 px edge noise, 1 % jitter, 3 % misses, no class flips, no false boxes, level road,
exact pitch and speed) or a path to another sensor-model file. ``"ideal"`` draws exactly the
random numbers it always drew, so its results for a seed never change.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adas.camera import CameraModel
from adas.config import AdasConfig
from adas.scenarios.camera_sim import SensorModel
from adas.scenarios.measured_camera import MeasuredSensor
from adas.scenarios.road import RoadProfile
from adas.scenarios.sensor_file import (
    DEFAULT_SENSOR_FILE,
    SensorFile,
    edge_noise_law,
    load_sensor_file,
)
from adas.scenarios.sim import ChainUnderTest, ScenarioSpec, Trial, simulate
from adas.scenarios.trial_world import (
    PITCH_ERROR_DEG,
    SPEED_NOISE_MPS,
    SPEED_SCALE_ERROR,
    SpeedSensor,
    TrialWorld,
    random_profile,
)

__all__ = [
    "SENSORS", "SensorChoice", "chain_box_noise", "chain_config", "draw_world", "resolve_sensor",
    "sensor_name", "simulate_trial",
]  # fmt: skip

SENSORS = ("measured", "ideal")
SensorChoice = str | Path | MeasuredSensor | None  # None: ideal
WORLD_STREAM = 1  # extra seed word: the world's draws never share the camera's stream


def resolve_sensor(sensor: SensorChoice) -> MeasuredSensor | None:
    """The sensor to simulate: None for the idealised one, else the measured detector read from
    its file (``"measured"``: ``data/sensor/yolox_nano.json``). Raises DataFormatError for a
    missing or malformed file."""
    if sensor is None or isinstance(sensor, MeasuredSensor):
        return sensor
    if sensor == "ideal":
        return None
    path = Path(DEFAULT_SENSOR_FILE if sensor == "measured" else sensor).resolve()
    try:
        st = path.stat()
    except OSError:
        return MeasuredSensor(load_sensor_file(path))  # raises its clear error
    return _measured(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _measured(path: str, mtime_ns: int, size: int) -> MeasuredSensor:
    """The file read and checked once per process and version (the batch runner resolves
    the sensor for every trial); ``mtime_ns`` and ``size`` make an edited file read again."""
    del mtime_ns, size  # cache key only
    return MeasuredSensor(load_sensor_file(path))


def chain_box_noise(sensor: MeasuredSensor | None) -> tuple[float, float]:
    """(floor_px, var_per_px) of the box noise the detector behind the chain has: the measured
    file's law (:func:`edge_noise_law`), or the idealised sensor's white edge noise."""
    if sensor is None:
        return SensorModel().edge_sigma_px, 0.0
    return edge_noise_law(sensor.file)


def chain_config(cfg: AdasConfig, sensor: MeasuredSensor | None) -> AdasConfig:
    """``cfg`` with the distance and motion stages told the box noise of the simulated
    detector, as a car's chain is configured for the detector it runs behind (the shipped
    figures are yolox_nano's law, which the default measured sensor reproduces exactly)."""
    floor, per_px = chain_box_noise(sensor)
    return dataclasses.replace(
        cfg,
        distance=dataclasses.replace(cfg.distance, edge_sigma_px=floor, edge_var_per_px=per_px),
        motion=dataclasses.replace(cfg.motion, box_edge_sigma_px=floor, box_edge_var_per_px=per_px),
    )


def sensor_name(sensor: SensorChoice) -> str:
    """``"ideal"``, ``"measured"`` or the sensor file's path, for a run's record."""
    if sensor is None:
        return "ideal"
    if isinstance(sensor, MeasuredSensor):
        return sensor.file.path
    return str(sensor)


def draw_world(
    spec: ScenarioSpec, sensor: SensorFile, rng: np.random.Generator
) -> tuple[ScenarioSpec, TrialWorld]:
    """``spec`` with each target's size drawn from its class's measured sizes (unless
    ``fixed_size``) and, when it prescribes none, a random road profile; and the trial's
    world (road, camera pitch error, ego-speed sensor). Draw order: sizes, profile, pitch,
    speed scale, then the speed noise per frame."""
    targets = []
    for t in spec.targets:
        size = sensor.sizes.get(t.class_id)
        targets.append(
            dataclasses.replace(t, hwl_m=size.draw(rng))
            if size is not None and not t.fixed_size
            else t
        )
    profile = spec.road_profile
    if not profile:
        far = max(
            (t.gap_m + t.hwl_m[2] + t.speed_mps * spec.duration_s for t in targets), default=0.0
        )
        length = max(far, spec.ego_speed_mps * spec.duration_s)
        profile = random_profile(rng, length, spec.ego_speed_mps)
    pitch = math.radians(rng.uniform(-PITCH_ERROR_DEG, PITCH_ERROR_DEG))
    scale = 1.0 + rng.uniform(-SPEED_SCALE_ERROR, SPEED_SCALE_ERROR)
    new = dataclasses.replace(spec, targets=tuple(targets), road_profile=profile)
    speed = SpeedSensor(scale, SPEED_NOISE_MPS, rng)
    world = TrialWorld(RoadProfile(profile), pitch, speed, tuple(t.hwl_m for t in targets))
    return new, world


def simulate_trial(
    spec: ScenarioSpec, chain: ChainUnderTest, camera: CameraModel, seed_key: Sequence[int],
    sensor: MeasuredSensor | None,
) -> tuple[Trial, dict[str, object] | None]:  # fmt: skip
    """One trial with the camera noise seeded by ``seed_key``; under the measured sensor the
    world is drawn from ``seed_key + [WORLD_STREAM]``. Returns the trial and, for the measured
    sensor, a summary of the drawn world."""
    rng = np.random.default_rng(list(seed_key))
    if sensor is None:
        return simulate(spec, chain, camera, rng), None
    world_rng = np.random.default_rng([*seed_key, WORLD_STREAM])
    drawn, world = draw_world(spec, sensor.file, world_rng)
    return simulate(drawn, chain, camera, rng, sensor, world=world), world.summary()
