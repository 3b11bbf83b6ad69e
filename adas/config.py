"""The whole runtime configuration: one validated section per stage, read from TOML.

:func:`load_config` reads a file on top of the shipped defaults in ``data/config/default.toml``
and builds each stage's own config dataclass through :func:`adas.params.from_mapping`. This
module sits above the stages (it imports their config classes); the stages import only the leaf
:mod:`adas.params`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from adas.camera import Mount
from adas.can.config import CanConfig
from adas.control import ControlConfig
from adas.danger import DangerConfig
from adas.detect.config import DetectConfig
from adas.distance import DistanceConfig
from adas.errors import ConfigError
from adas.kinematics import VehicleConfig
from adas.motion import MotionConfig
from adas.params import from_mapping, merge, param, read_toml, validate
from adas.runtime.config import RuntimeConfig
from adas.track import TrackerConfig

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "data" / "config" / "default.toml"


@dataclass(frozen=True)
class ReplayConfig:
    """``[replay]``: recordings played through the pipeline. Sources in default.toml."""

    small_machine_cpus: int = param(4, lo=1, hi=1024, unit="CPUs")
    max_ego_age_s: float = param(0.5, lo=0.001, hi=60.0, unit="s")
    fov_deg: float = param(60.0, lo=1.0, hi=179.0, unit="deg")
    clip_before_s: float = param(3.0, lo=0.0, hi=60.0, unit="s")
    clip_after_s: float = param(2.0, lo=0.0, hi=60.0, unit="s")
    full_video: bool = False

    def __post_init__(self) -> None:
        validate(self, "replay")


@dataclass(frozen=True)
class AdasConfig:
    """The whole runtime configuration: one validated section per stage."""

    mount: Mount
    tracker: TrackerConfig
    distance: DistanceConfig
    motion: MotionConfig
    detect: DetectConfig
    danger: DangerConfig
    vehicle: VehicleConfig
    control: ControlConfig
    can: CanConfig
    runtime: RuntimeConfig
    replay: ReplayConfig = ReplayConfig()


SECTIONS = (
    "mount", "tracker", "distance", "motion", "detect", "danger", "vehicle", "control", "can",
    "runtime", "replay",
)  # fmt: skip


def load_config(path: str | Path | None = None) -> AdasConfig:
    """Shipped defaults (``data/config/default.toml``) overridden by ``path`` when given.

    Mount angles are written in degrees in the file (``pitch_deg`` ...) and converted here.
    The result is frozen, so it is kept per (file, modification time): a process replaying
    many drives parses and validates the files once, and an edited file is read again.
    """
    files = (DEFAULT_CONFIG_PATH, *(() if path is None else (Path(path),)))
    return _load_config(tuple((str(f), _mtime_ns(f)) for f in files))


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1  # read_toml says what is wrong with it


@lru_cache(maxsize=8)
def _load_config(files: tuple[tuple[str, int], ...]) -> AdasConfig:
    table = read_toml(files[0][0])
    if len(files) > 1:
        table = merge(table, read_toml(files[1][0]))
    unknown = sorted(set(table) - set(SECTIONS))
    if unknown:
        msg = f"config has unknown sections {unknown}; allowed: {list(SECTIONS)}"
        raise ConfigError(msg)
    cfg = AdasConfig(
        mount=mount_from_table(table.get("mount", {})),
        tracker=from_mapping(TrackerConfig, table.get("tracker", {}), "tracker"),
        distance=from_mapping(DistanceConfig, table.get("distance", {}), "distance"),
        motion=from_mapping(MotionConfig, table.get("motion", {}), "motion"),
        detect=from_mapping(DetectConfig, table.get("detect", {}), "detect"),
        danger=from_mapping(DangerConfig, table.get("danger", {}), "danger"),
        vehicle=from_mapping(VehicleConfig, table.get("vehicle", {}), "vehicle"),
        control=from_mapping(ControlConfig, table.get("control", {}), "control"),
        can=from_mapping(CanConfig, table.get("can", {}), "can"),
        runtime=from_mapping(RuntimeConfig, table.get("runtime", {}), "runtime"),
        replay=from_mapping(ReplayConfig, table.get("replay", {}), "replay"),
    )
    if cfg.motion.camera_behind_bumper_m != cfg.mount.behind_bumper_m:
        msg = (
            f"config motion.camera_behind_bumper_m = {cfg.motion.camera_behind_bumper_m} must "
            f"equal mount.behind_bumper_m = {cfg.mount.behind_bumper_m}"
        )
        raise ConfigError(msg)
    return cfg


ANGLES = ("pitch", "roll", "yaw")


def mount_from_table(table: Mapping[str, Any]) -> Mount:
    """A :class:`Mount` from its ``[mount]`` table, angles in degrees (``pitch_deg`` ...).

    Errors speak the file's language: an unknown key lists the keys a user writes, and an
    angle out of range names its ``_deg`` key and the range in degrees.
    """
    fields = {f.name: f for f in dataclasses.fields(Mount)}
    written = [k for k in fields if not k.endswith("_rad")] + [f"{a}_deg" for a in ANGLES]
    unknown = sorted(set(table) - set(written))
    if unknown:
        msg = f"config [mount] has unknown keys {unknown}; allowed: {sorted(written)}"
        raise ConfigError(msg)
    mount = {k: v for k, v in table.items() if not k.endswith("_deg")}
    for angle in ANGLES:
        key = f"{angle}_deg"
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"config mount.{key} = {value!r}: expected a number"
            raise ConfigError(msg)
        f = fields[f"{angle}_rad"]
        lo, hi = (math.degrees(f.metadata[k]) for k in ("lo", "hi"))
        if not (math.isfinite(value) and lo <= value <= hi):
            msg = (
                f"config mount.{key} = {value!r} is outside the allowed range "
                f"[{lo:.2f}, {hi:.2f}] deg"
            )
            raise ConfigError(msg)
        mount[f"{angle}_rad"] = math.radians(value)
    return from_mapping(Mount, mount, "mount")
