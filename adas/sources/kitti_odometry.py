"""KITTI odometry ground-truth poses as the ego state of a replay: speed and yaw rate.

``poses.txt`` (KITTI odometry devkit, ``readme.txt``): one row per frame, the 12 numbers of
the 3 x 4 matrix ``[R | t]`` row by row, which takes a point from that frame's left camera
coordinates to the first frame's (camera-to-world; world = the camera at frame 0), metres.
Camera axes: x right, y down, z forward. Frames are 10 Hz (``KITTI_FRAME_PERIOD_NS``), frame
``i`` at ``i x period`` on the replay's clock, as :class:`adas.sources.ImageFolderSource`
stamps the images. A sequence can have fewer poses than images (``kitti/odometry/seq_1``: 50
poses, 51 images); a frame past the last pose reuses it while it is younger than the replay's
``max_ego_age_s`` and is UNAVAILABLE after that.

Ego at frame ``i`` from frames ``a = i - 1`` and ``b = i + 1`` (central differences; at the
first and last pose the one-sided ``a = i`` or ``b = i``), with ``dt = (b - a) x period``:

* yaw rate [rad/s] = heading change / dt, the heading change being the angle about the
  camera's vertical axis from frame ``a``'s optical axis to frame ``b``'s (``b``'s z axis in
  ``a``'s camera axes, ``atan2(-x, z)``), positive turning left (ISO 8855, z up, as
  :class:`adas.types.EgoState` wants it);
* speed [m/s] = arc length / dt. The straight chord ``|t_b - t_a|`` is shorter than the arc the
  car drove on a curve; at constant curvature ``arc = chord x (h/2) / sin(h/2)`` for the
  heading change ``h``, so a circle gives its speed exactly and a straight drive is unchanged.

:func:`write_ego_csv` writes the ``time_s,speed_mps,yaw_rate_rps`` CSV that ``adas replay
--ego-csv`` reads (times exact decimals, values in shortest round-trip form);
``adas replay --ego-kitti-poses poses.txt`` does the same conversion in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from adas.errors import DataFormatError
from adas.sources.kitti import KITTI_FRAME_PERIOD_NS
from adas.sources.source import NS_PER_S, EgoTrack
from adas.types import FloatArray

POSE_ROTATION_TOLERANCE = 1e-3  # |R^T R - I| entries; KITTI's rotations are orthonormal to ~1e-6
EGO_CSV_HEADER = "time_s,speed_mps,yaw_rate_rps"


@dataclass(frozen=True)
class PoseEgo:
    """Ego samples derived from poses: ``t_ns`` (frame times, ns), ``speed_mps`` (m/s) and
    ``yaw_rate_rps`` (rad/s, positive left), one per pose."""

    t_ns: tuple[int, ...]
    speed_mps: tuple[float, ...]
    yaw_rate_rps: tuple[float, ...]

    def samples(self) -> list[tuple[int, float, float]]:
        """(t_ns, speed, yaw rate) rows, as :class:`EgoTrack` takes them."""
        return list(zip(self.t_ns, self.speed_mps, self.yaw_rate_rps, strict=True))

    def csv_text(self) -> str:
        """The ego CSV (``time_s,speed_mps,yaw_rate_rps`` with a header row)."""
        rows = [EGO_CSV_HEADER]
        for t_ns, v, w in self.samples():
            time_s = Decimal(t_ns) / Decimal(NS_PER_S)
            rows.append(f"{time_s.normalize():f},{v!r},{w!r}")
        return "\n".join(rows) + "\n"


def load_kitti_poses(path: str | Path) -> FloatArray:
    """The N x 3 x 4 camera-to-world poses of a KITTI odometry ``poses.txt`` (metres).

    Raises DataFormatError naming the file and line for a row that is not 12 finite numbers
    or whose 3 x 3 part is not a rotation (a calib file's projection rows are 12 numbers too),
    and for a file with fewer than two poses (no motion can be measured from one).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read the KITTI poses: {err}"
        raise DataFormatError(msg) from err
    poses = []
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError as err:
            msg = f"{path}:{lineno}: a pose row is 12 numbers: {err}"
            raise DataFormatError(msg) from err
        if len(values) != 12 or not all(math.isfinite(v) for v in values):
            msg = f"{path}:{lineno}: a pose row is 12 finite numbers (3 x 4 [R|t]), got {tokens}"
            raise DataFormatError(msg)
        pose = np.reshape(values, (3, 4))
        rot = pose[:, :3]
        if np.max(np.abs(rot.T @ rot - np.eye(3))) > POSE_ROTATION_TOLERANCE:
            msg = (
                f"{path}:{lineno}: the 3 x 3 part is not a rotation, so this is not a KITTI "
                "poses file (a calib file's P rows are 12 numbers too)"
            )
            raise DataFormatError(msg)
        poses.append(pose)
    if len(poses) < 2:
        msg = f"{path}: {len(poses)} pose(s); speed and yaw rate need at least two"
        raise DataFormatError(msg)
    return np.asarray(poses, dtype=np.float64)


def heading_change_rad(pose_a: FloatArray, pose_b: FloatArray) -> float:
    """Angle [rad] about camera ``a``'s vertical axis from ``a``'s optical axis to ``b``'s,
    positive to the left (camera x right, y down: left is -x)."""
    axis_b = pose_a[:, :3].T @ pose_b[:, 2]  # b's z axis (world) in a's camera axes
    return math.atan2(-float(axis_b[0]), float(axis_b[2]))


def ego_from_poses(poses: FloatArray, period_ns: int = KITTI_FRAME_PERIOD_NS) -> PoseEgo:
    """Speed and yaw rate at each pose of N x 3 x 4 camera-to-world ``poses`` taken every
    ``period_ns``; see the module docstring for the differences and the arc correction."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (3, 4) or len(poses) < 2:
        msg = f"poses must be N x 3 x 4 with N >= 2, got shape {poses.shape}"
        raise DataFormatError(msg)
    if period_ns <= 0:
        msg = f"period_ns = {period_ns}: must be a positive frame period"
        raise DataFormatError(msg)
    n = len(poses)
    speeds, yaw_rates = [], []
    for i in range(n):
        a, b = max(i - 1, 0), min(i + 1, n - 1)
        dt_s = (b - a) * period_ns / NS_PER_S
        heading = heading_change_rad(poses[a], poses[b])
        chord = float(np.linalg.norm(poses[b][:, 3] - poses[a][:, 3]))
        half = 0.5 * heading
        arc = chord * (half / math.sin(half) if abs(half) > 1e-9 else 1.0)
        speeds.append(arc / dt_s)
        yaw_rates.append(heading / dt_s)
    return PoseEgo(
        t_ns=tuple(i * period_ns for i in range(n)),
        speed_mps=tuple(speeds),
        yaw_rate_rps=tuple(yaw_rates),
    )


def kitti_poses_ego(path: str | Path, period_ns: int = KITTI_FRAME_PERIOD_NS) -> PoseEgo:
    """:func:`ego_from_poses` of a ``poses.txt`` file."""
    return ego_from_poses(load_kitti_poses(path), period_ns)


def kitti_poses_ego_track(
    path: str | Path, *, max_age_ns: int, period_ns: int = KITTI_FRAME_PERIOD_NS
) -> EgoTrack:
    """The ego track of a ``poses.txt`` file, as a source matches it to frames."""
    return EgoTrack(kitti_poses_ego(path, period_ns).samples(), max_age_ns=max_age_ns)


def write_ego_csv(path: str | Path, ego: PoseEgo) -> None:
    """Write ``ego`` as the CSV ``adas replay --ego-csv`` reads."""
    Path(path).write_text(ego.csv_text(), encoding="utf-8")
