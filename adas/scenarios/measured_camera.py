"""The simulated camera with the detector as measured (a sensor-model file).

Per frame, each object's visible box (:func:`adas.scenarios.camera_sim.visible_boxes`, cut
by a crest with :func:`~adas.scenarios.camera_sim.clip_hidden`) is

* hidden behind nearer boxes by the fraction of its area they cover (and the crest's share):
  KITTI occlusion level 0 below ``occlusion_bounds[0]``, 1 below ``occlusion_bounds[1]``,
  else 2; more than ``max_occluded`` covered: not seen at all;
* missed at the measured rate for its occlusion level and box height;
* moved edge by edge by the measured bias and spread for its box height (fractions of the box
  height, interpolated between bins). The spread is split in time: a share ``fast_share`` of
  each edge's variance is a fast first-order process (correlation time ``fast_tau_s``), the
  rest a slow one (``slow_tau_s``): a detector's error on a car persists while the car looks
  the same (both shares and the fast time measured on real video: tools/box_jitter.py);
* called another class as the confusion matrix says: sticky runs of geometric length (mean
  ``class_persistence.mean_run_frames`` of the file, else ``flip_run_frames``) carry a share
  of the flipped frames, independent per-frame flips the rest (``flip_independent_share`` when
  the file has no persistence, none when it has: its run lengths include the one-frame runs);
  the fraction of detected frames with another class equals the measured one;
* scored from the measured quantiles of true detections.

Plus false boxes: a Poisson number per frame at the measured rate, each one of the measured
false detections (box size, class, score) placed at its offset from the KITTI principal point.
Every draw is made for every object every frame, so one object's noise never depends on
whether another was visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adas.camera import CameraModel
from adas.scenarios.camera_sim import (
    SensorModel,
    ar1_step,
    clip_hidden,
    occluded_fractions,
    visible_boxes,
)
from adas.scenarios.sensor_file import ClassFlips, SensorFile, interp_bins
from adas.types import Detections, FloatArray

__all__ = ["KITTI_PRINCIPAL_PX", "KITTI_SIZE_PX", "MeasuredCameraSim", "MeasuredSensor",
           "occluded_fractions"]  # fmt: skip

# KITTI colour camera (P2) principal point of 42 of the 51 kitti/object(_val) frames and the
# class image size the sensor file's x_rel / y_rel refer to.
KITTI_PRINCIPAL_PX = (609.5593, 172.854)
KITTI_SIZE_PX = (1242.0, 375.0)
SCORE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)  # the file's score quantiles


@dataclass(frozen=True)
class MeasuredSensor:
    """The measured detector (``file``) and the simulator's own assumptions around it."""

    file: SensorFile
    geometry: SensorModel = field(default_factory=SensorModel)  # visibility, braking pitch
    # yolox_nano on video/udacity (tools/box_jitter.py): edge residuals about a quadratic per
    # track over 1.4 s: 1.9 % of the box height, lag-1 correlation 0.6 at 25 fps (tau 0.08 s);
    # the file's spread at that height (93 px) is 5.4 % (RMS over edges): (1.9 / 5.4)^2 = 0.12.
    fast_share: float = 0.12
    fast_tau_s: float = 0.08
    slow_tau_s: float = 2.0  # our assumption: longer than the 1.4 s the fast part was split on
    occlusion_bounds: tuple[float, float] = (0.1, 0.5)  # covered fraction -> level 0 / 1 / 2
    max_occluded: float = 0.9  # more than this covered: nothing left to detect
    flip_run_frames: float = 10.0  # sticky class runs (1/3 s) when the file has no persistence
    flip_independent_share: float = 0.5  # of the flipped frames, without persistence data

    @property
    def pitch_per_decel_deg(self) -> float:
        return self.geometry.pitch_per_decel_deg

    def flip_params(self, flips: ClassFlips | None) -> tuple[float, float, float, float]:
        """(stationary share of frames in sticky runs, run start probability per frame,
        run end probability per frame, independent flip probability outside runs)."""
        if flips is None or flips.flip_prob <= 0.0:
            return 0.0, 0.0, 1.0, 0.0
        p = min(flips.flip_prob, 0.999)
        run = self.file.mean_run_frames
        share = 0.0 if run is not None else self.flip_independent_share
        length = run if run is not None else self.flip_run_frames
        sticky = p * (1.0 - share)
        start = sticky / (length * (1.0 - sticky))
        return sticky, start, 1.0 / length, p * share / (1.0 - sticky)


def score_from_quantiles(u: FloatArray, q: FloatArray) -> FloatArray:
    """Scores at probabilities ``u`` from the q05..q95 quantiles: linear between them, the end
    segments extended to 0 and 1, clipped to (0, 1]."""
    lo = q[0] - (q[1] - q[0]) * SCORE_LEVELS[0] / (SCORE_LEVELS[1] - SCORE_LEVELS[0])
    hi = q[-1] + (q[-1] - q[-2]) * (1 - SCORE_LEVELS[-1]) / (SCORE_LEVELS[-1] - SCORE_LEVELS[-2])
    s = np.interp(u, (0.0, *SCORE_LEVELS, 1.0), (lo, *q, hi))
    return np.clip(s, 1e-3, 1.0)


class MeasuredCameraSim:
    """Detector-like boxes of 3D objects with the measured errors, misses, flips, false boxes."""

    def __init__(
        self, camera: CameraModel, sensor: MeasuredSensor, rng: np.random.Generator
    ) -> None:
        self.camera, self.sensor, self.rng = camera, sensor, rng
        self._slow: FloatArray | None = None
        self._fast: FloatArray | None = None
        self._run_on: np.ndarray | None = None
        self._run_cls: np.ndarray | None = None
        self.visible: np.ndarray = np.zeros(0, bool)  # per object, last frame: a box, not hidden

    def _classes(self, classes: list[int], u: FloatArray) -> list[int]:
        """This frame's reported class per object (advances the sticky flip runs)."""
        s, f = self.sensor, self.sensor.file
        n = len(classes)
        first = self._run_on is None
        if self._run_on is None or self._run_cls is None:
            self._run_on, self._run_cls = np.zeros(n, bool), np.array(classes, np.int64)
        out = []
        for i, c in enumerate(classes):
            flips = f.flips.get(c)
            sticky, start, end, indep = s.flip_params(flips)
            was = bool(self._run_on[i])
            on = u[i, 0] < sticky if first else (u[i, 0] >= end if was else u[i, 0] < start)
            pick = c
            if flips is not None and flips.to_class:
                k = int(np.searchsorted(np.cumsum(flips.to_prob), u[i, 2] * flips.to_prob.sum()))
                pick = flips.to_class[min(k, len(flips.to_class) - 1)]
            if on and not (was and not first):
                self._run_cls[i] = pick
            self._run_on[i] = on
            out.append(int(self._run_cls[i]) if on else (pick if u[i, 1] < indep else c))
        return out

    def _false_boxes(self) -> tuple[FloatArray, FloatArray, list[int]]:
        f, rng, cam = self.sensor.file, self.rng, self.camera
        k = int(rng.poisson(f.false_per_frame)) if f.false_per_frame > 0 else 0
        idx = rng.integers(0, max(f.false_boxes.shape[0], 1), k)
        smp = f.false_boxes[idx]
        cx = cam.cx + smp[:, 0] * KITTI_SIZE_PX[0] - KITTI_PRINCIPAL_PX[0]
        cy = float(cam.K[1, 2]) + smp[:, 1] * KITTI_SIZE_PX[1] - KITTI_PRINCIPAL_PX[1]
        box = np.stack([cx - 0.5 * smp[:, 2], cy - 0.5 * smp[:, 3],
                        cx + 0.5 * smp[:, 2], cy + 0.5 * smp[:, 3]], 1)  # fmt: skip
        box = np.clip(box, 0.0, [cam.width - 1.0, cam.height - 1.0] * 2)
        keep = (box[:, 2:] - box[:, :2] >= 1.0).all(1)
        return box[keep], f.false_score[idx][keep], [f.false_class[i] for i in idx[keep]]

    def detect(
        self, corners: FloatArray, classes: list[int], pitch_rad: float,
        hidden_below: FloatArray | None = None,
    ) -> tuple[Detections, list[int]]:  # fmt: skip
        """This frame's detections and, per detection row, the index of its object (-1 for a
        false box). ``hidden_below``: per object, the image row below which the road hides it.
        """
        s, f, rng, cam = self.sensor, self.sensor.file, self.rng, self.camera
        boxes = visible_boxes(cam, corners, pitch_rad, s.geometry)
        n = boxes.shape[0]
        hidden = None
        full = boxes
        if hidden_below is not None:
            boxes, hidden = clip_hidden(boxes, hidden_below, s.geometry)
            full = np.where(np.isfinite(boxes), full, np.nan)
        # Draws for every object, every frame, in a fixed order.
        self._slow = ar1_step(self._slow, rng.standard_normal((n, 4)), s.slow_tau_s)
        self._fast = ar1_step(self._fast, rng.standard_normal((n, 4)), s.fast_tau_s)
        u_cls = rng.random((n, 3))
        u_miss = rng.random((n,))
        u_score = rng.random((n,))
        reported = self._classes(classes, u_cls)

        depth = corners[:, :, 0].min(1)
        occ = occluded_fractions(full, depth, hidden)
        level = np.searchsorted(np.asarray(s.occlusion_bounds), occ, side="right")
        level = np.minimum(level, len(f.occlusion_levels) - 1)
        h = boxes[:, 3] - boxes[:, 1]
        noise = math.sqrt(1.0 - s.fast_share) * self._slow + math.sqrt(s.fast_share) * self._fast
        limit = np.array([cam.width - 1.0, cam.height - 1.0] * 2)
        rows, obj = [], []
        self.visible = np.isfinite(boxes).all(1) & (occ <= s.max_occluded)
        for i in np.flatnonzero(self.visible):
            hi = float(h[i])
            miss = float(interp_bins(hi, f.bin_heights_px, f.miss_rate[level[i]]))
            if u_miss[i] < miss:
                continue
            bias = interp_bins(hi, f.bin_heights_px, f.edge_bias_rel)
            sigma = interp_bins(hi, f.bin_heights_px, f.edge_sigma_rel)
            box = boxes[i]
            noisy = box + (bias + sigma * noise[i]) * hi
            cut = (box <= 0.0) | (box >= limit)  # edges on the image border stay there
            noisy[cut] = box[cut]
            noisy = np.clip(noisy, 0.0, limit)
            if (noisy[2:] - noisy[:2] >= 1.0).all():
                rows.append(noisy)
                obj.append(int(i))
        score = score_from_quantiles(u_score[obj], f.score_quantiles)
        fbox, fscore, fcls = self._false_boxes()
        dets = Detections.from_arrays(
            np.concatenate([np.array(rows).reshape(-1, 4), fbox]),
            np.concatenate([score, fscore]),
            [reported[i] for i in obj] + fcls,
        )
        return dets, obj + [-1] * len(fcls)
