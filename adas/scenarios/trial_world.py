"""Per-trial variation of the simulated world under the measured sensor: its figures and parts.

Each trial draws (:func:`adas.scenarios.sensing.draw_world`), from its own random stream,
independent of the camera noise:

* every target's true size (height, width, length) from the measured size distribution of its
  class (the sensor file's KITTI label statistics), unless the target is ``fixed_size``;
  the drawn size is what the physics and the image both use;
* a road vertical profile, unless the scenario prescribes one: grade changing at random
  curvature, constant over ``GRADE_SEGMENT_M`` pieces, between the minimum crest and sag
  radii and within the maximum grade of a road designed for the ego's speed (AASHTO);
* a static camera pitch error within the calibration tolerance (``PITCH_ERROR_DEG``);
* the ego-speed sensor: a scale error (``SPEED_SCALE_ERROR``) and white noise
  (``SPEED_NOISE_MPS``) per frame, quantised like the CAN signal (``SPEED_RESOLUTION_MPS``).

Sources and reasoning for each figure: docs/sensor-simulation.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adas.scenarios.road import RoadProfile

__all__ = [
    "CREST_K", "GRADE_SEGMENT_M", "MAX_GRADE", "PITCH_ERROR_DEG", "SAG_K", "SPEED_NOISE_MPS",
    "SPEED_RESOLUTION_MPS", "SPEED_SCALE_ERROR", "SpeedSensor", "TrialWorld", "design_bounds",
    "random_profile",
]  # fmt: skip

# AASHTO, "A Policy on Geometric Design of Highways and Streets" (Green Book, 2011, metric),
# Tables 3-34 and 3-36: rate of vertical curvature K (m of curve per % of grade change) for
# stopping sight distance on crest and sag curves, by design speed (km/h). Radius = 100 K m.
CREST_K = {50: 7, 60: 11, 70: 17, 80: 26, 90: 39, 100: 52, 110: 74, 120: 95, 130: 124}
SAG_K = {50: 13, 60: 18, 70: 23, 80: 30, 90: 38, 100: 45, 110: 55, 120: 63, 130: 73}
MAX_GRADE = 0.05  # AASHTO 2011 Table 8-1: freeway maximum grades 4-5 % in rolling terrain
GRADE_SEGMENT_M = 100.0  # about one vertical curve's length (K 26 x 4 % = 104 m at 80 km/h)
# Static pitch error after calibration: the `mount` calibration from a board whose position
# is tape-measured to +-1 cm at 2.3 m gives atan(0.01 / 2.3) = 0.25 deg; uniform in +-this.
PITCH_ERROR_DEG = 0.25
# Wheel-speed-based vehicle speed: tyre rolling radius from new (8 mm tread) to worn (1.6 mm,
# the EU legal minimum, Directive 89/459/EEC) on a ~0.31 m radius: 2 %; uniform in +-this.
SPEED_SCALE_ERROR = 0.02
SPEED_NOISE_MPS = 0.05  # our assumption for wheel-tick jitter (0.18 km/h, 1 sigma)
SPEED_RESOLUTION_MPS = 0.01  # VehicleSpeed in data/can/adas.dbc
PROFILE_MARGIN_M = 100.0


def design_bounds(speed_mps: float) -> tuple[float, float, float]:
    """Minimum crest radius, minimum sag radius (m) and maximum grade for a road whose design
    speed is the ego speed rounded up to 10 km/h (at least 50, at most 130 km/h)."""
    v = min(max(10 * math.ceil(speed_mps * 3.6 / 10.0 - 1e-9), 50), 130)
    return 100.0 * CREST_K[v], 100.0 * SAG_K[v], MAX_GRADE


def random_profile(
    rng: np.random.Generator, length_m: float, speed_mps: float
) -> tuple[tuple[float, float], ...]:
    """Breakpoints (s, grade) from ``-PROFILE_MARGIN_M`` to ``length_m``: a start grade uniform
    in +-max grade, then per segment a vertical curvature uniform between the sharpest crest
    (-1 / R_crest) and the sharpest sag (+1 / R_sag), the grade kept within +-max grade."""
    r_crest, r_sag, g_max = design_bounds(speed_mps)
    n = max(2, math.ceil((length_m + 2 * PROFILE_MARGIN_M) / GRADE_SEGMENT_M) + 1)
    s = -PROFILE_MARGIN_M + GRADE_SEGMENT_M * np.arange(n)
    curv = rng.uniform(-1.0 / r_crest, 1.0 / r_sag, n - 1)
    g = [float(rng.uniform(-g_max, g_max))]
    for c in curv:
        g.append(min(max(g[-1] + c * GRADE_SEGMENT_M, -g_max), g_max))
    return tuple((float(a), float(b)) for a, b in zip(s, g, strict=True))


class SpeedSensor:
    """The ego speed the chain is told: true speed x scale + white noise, quantised."""

    def __init__(self, scale: float, noise_mps: float, rng: np.random.Generator) -> None:
        self.scale, self.noise_mps, self.rng = scale, noise_mps, rng

    def measure(self, speed_mps: float) -> float:
        """The reported speed (m/s) for a true ``speed_mps``; 0 at standstill."""
        if speed_mps <= 0.0:
            return 0.0
        v = speed_mps * self.scale + self.noise_mps * float(self.rng.standard_normal())
        return max(round(v / SPEED_RESOLUTION_MPS) * SPEED_RESOLUTION_MPS, 0.0)


@dataclass
class TrialWorld:
    """What one trial drew: the road, the camera's pitch error, the ego-speed sensor, sizes."""

    road: RoadProfile
    pitch_error_rad: float
    speed: SpeedSensor
    hwl_m: tuple[tuple[float, float, float], ...]

    def summary(self) -> dict[str, object]:
        """Rounded figures for a result record."""
        g = self.road.grade(np.array([b[0] for b in self.road.breakpoints] or [0.0]))
        return {
            "hwl_m": [[round(x, 3) for x in t] for t in self.hwl_m],
            "pitch_error_deg": round(math.degrees(self.pitch_error_rad), 3),
            "speed_scale": round(self.speed.scale, 4),
            "max_abs_grade": round(float(np.abs(g).max()), 4),
        }
