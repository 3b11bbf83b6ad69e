"""Distance from box geometry: which pixels of a box to range from depends on its shape and place.

Three cues per box, fused by their uncertainties (inverse-variance weighting):

* **ground contact**: the lowest image point of an object standing on the road is its nearest
  ground corner; the ray through it meets the road at the distance of the object's nearest face.
  Narrow boxes range from the bottom centre; wide boxes (objects seen from the side or at an
  angle) from the bottom corner nearest the ego path. Its error grows with range squared over
  camera height (pixel noise) and with local road relief that a per-frame pitch cannot explain.
* **height prior**: ``d = (f H + max(0, y_top) L) / (y_bottom - y_top)`` in a level camera.
  The second term is the roof's far edge: for an object lower than the camera the top of the
  box is the far top corner, ``L`` further away than the nearest face.
* **width prior** (rigid vehicles only): assuming the object drives parallel to the lane, the
  outer edge of the box is its near corner and the inner edge its far corner, so
  ``d = (f W + off L) / (x_right - x_left)`` with ``off`` the box's distance from the optical
  axis. It is dropped when it disagrees with the height cue (crossing traffic) or the box is
  cut by a side border.

Boxes cut by the bottom border have no trustworthy contact point or height; boxes cut by the
top border have no height. Everything runs in a *level* camera frame: pixels are undistorted
and rotated by the mount roll/yaw and the current pitch estimate, so the horizon is ``y = 0``.

The camera pitch is estimated every frame from all confident objects (each object's size cue
implies where its contact point should be; the offset is a pitch), combined by a weighted
median, bounded around the mount pitch and smoothed by a scalar Kalman filter that reverts to
the mount pitch when no object is seen. This follows the idea of Hoiem, Efros, Hebert,
"Putting Objects in Perspective" (CVPR 2006).
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt

from adas.camera import _R_LEVEL, CameraModel, rotation_vehicle_camera
from adas.config import param, validate
from adas.errors import ConfigError
from adas.types import FloatArray, ObjectClass, RangeEstimates, RangeMethod, RangeStatus, Tracks

log = logging.getLogger(__name__)

DEFAULT_PRIORS_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "priors" / "object_sizes.toml"
)


@dataclass(frozen=True)
class DistanceConfig:
    """Parameters of the distance stage. Defaults and their sources: data/config/default.toml."""

    min_box_px: float = param(4.0, lo=1.0, hi=100.0, unit="px")
    border_margin_px: float = param(2.0, lo=0.0, hi=50.0, unit="px")
    edge_sigma_px: float = param(1.0, lo=0.05, hi=20.0, unit="px")
    road_height_sigma_m: float = param(0.1, lo=0.0, hi=3.0, unit="m")
    road_grade_sigma_deg: float = param(1.0, lo=0.0, hi=10.0, unit="deg")
    scale_meas_inflation: float = param(10.0, lo=1.0, hi=1000.0)
    scale_drift_per_s: float = param(0.005, lo=0.0, hi=1.0, unit="1/sqrt(s)")
    scale_max_rel: float = param(0.3, lo=0.0, hi=1.0)
    track_timeout_s: float = param(5.0, lo=0.0, hi=600.0, unit="s")
    width_gate_sigma: float = param(1.5, lo=0.5, hi=10.0)
    wide_box_ratio: float = param(1.3, lo=1.0, hi=10.0)
    min_distance_m: float = param(0.5, lo=0.0, hi=50.0, unit="m")
    max_distance_m: float = param(250.0, lo=10.0, hi=2000.0, unit="m")
    pitch_max_dev_deg: float = param(3.0, lo=0.0, hi=15.0, unit="deg")
    pitch_rate_sigma_dps: float = param(0.5, lo=0.0, hi=30.0, unit="deg/sqrt(s)")
    pitch_revert_s: float = param(2.0, lo=0.1, hi=1000.0, unit="s")
    pitch_min_score: float = param(0.5, lo=0.0, hi=1.0)
    pitch_min_sigma_deg: float = param(0.05, lo=0.0, hi=5.0, unit="deg")

    def __post_init__(self) -> None:
        validate(self, "distance")
        if self.min_distance_m >= self.max_distance_m:
            msg = (
                f"config distance.min_distance_m = {self.min_distance_m} must be below "
                f"distance.max_distance_m = {self.max_distance_m}"
            )
            raise ConfigError(msg)


@dataclass(frozen=True)
class SizePriors:
    """Per-class size priors as arrays indexed by ``ObjectClass`` (NaN where a class has none)."""

    height: FloatArray
    height_sigma: FloatArray
    width: FloatArray
    width_sigma: FloatArray
    length: FloatArray
    length_sigma: FloatArray
    width_cue: npt.NDArray[np.bool_]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PRIORS_PATH) -> SizePriors:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
        n = len(ObjectClass)
        arrays = {k: np.full(n, np.nan) for k in ("h", "sh", "w", "sw", "l", "sl")}
        cue = np.zeros(n, bool)
        for name, entry in table.items():
            try:
                cid = ObjectClass[name.upper()]
            except KeyError:
                known = [c.name.lower() for c in ObjectClass]
                msg = f"{path}: unknown class [{name}]; known: {known}"
                raise ConfigError(msg) from None
            for key, short in (("height_m", "h"), ("width_m", "w"), ("length_m", "l")):
                mean, sigma = (float(v) for v in entry[key])
                if not (0.0 < mean < 50.0 and 0.0 < sigma < mean):
                    msg = (
                        f"{path}: [{name}].{key} = {entry[key]} must be [mean, sigma] "
                        "with 0 < sigma < mean < 50"
                    )
                    raise ConfigError(msg)
                arrays[short][cid], arrays["s" + short][cid] = mean, sigma
            cue[cid] = bool(entry.get("width_cue", False))
        return cls(
            arrays["h"], arrays["sh"], arrays["w"], arrays["sw"], arrays["l"], arrays["sl"], cue
        )


def rotation_level_camera(pitch_rad: float, roll_rad: float, yaw_rad: float) -> FloatArray:
    """Rotation from the camera frame to a level frame with camera axis names (x right, y down,
    z forward) aligned with the vehicle axes. Angles as in ``adas.camera.Mount`` (ISO 8855)."""
    return np.asarray(_R_LEVEL.T @ rotation_vehicle_camera(pitch_rad, roll_rad, yaw_rad))


@numba.njit(cache=True)
def _range_kernel(
    box: FloatArray,  # N x 4 level-normalised x1, y1, x2, y2
    ground: FloatArray,  # N x 2 level-normalised ranging point (x, y)
    prior: FloatArray,  # N x 7: H, sH, W, sW, L, sL, width_cue
    cut: npt.NDArray[np.bool_],  # N x 3: bottom, top, side cut by the image border
    cam_height: float,
    edge_sigma: float,  # normalised units (px / f)
    road_sigma: float,
    grade_sigma: float,
    pitch_sigma: float,
    width_gate: float,
    out: FloatArray,  # N x 6: size depth, sigma, ground depth, sigma, lateral a, b
) -> None:
    for i in range(box.shape[0]):
        x1, y1, x2, y2 = box[i, 0], box[i, 1], box[i, 2], box[i, 3]
        hgt, s_h, wid, s_w, lng, s_l = (
            prior[i, 0],
            prior[i, 1],
            prior[i, 2],
            prior[i, 3],
            prior[i, 4],
            prior[i, 5],
        )
        bh, bw = y2 - y1, x2 - x1
        # Height cue: valid when neither top nor bottom is cut and a prior exists.
        w_h = 0.0
        d_h = 0.0
        if not (cut[i, 0] or cut[i, 1]) and hgt == hgt and bh > 0.0:
            off = max(0.0, y1)
            d_h = (hgt + off * lng) / bh
            var = (s_h**2 + (off * s_l) ** 2) / bh**2 + 2.0 * (d_h * edge_sigma / bh) ** 2
            w_h = 1.0 / var
        # Width cue: rigid vehicles, not cut at a side, consistent with the height cue.
        w_w = 0.0
        d_w = 0.0
        if not cut[i, 2] and prior[i, 6] > 0.5 and wid == wid and bw > 0.0:
            off = max(0.0, max(x1, -x2))
            d_w = (wid + off * lng) / bw
            var = (s_w**2 + (off * s_l) ** 2) / bw**2 + 2.0 * (d_w * edge_sigma / bw) ** 2
            if w_h > 0.0 and abs(d_w - d_h) > width_gate * math.sqrt(var + 1.0 / w_h):
                w_w = 0.0
            else:
                w_w = 1.0 / var
        # Ground cue: the ray through the ranging point meets the road.
        w_g = 0.0
        d_g = 0.0
        yg = ground[i, 1]
        if not cut[i, 0] and yg > 0.0:
            d_g = cam_height / yg
            # Road relief: a height offset plus a grade difference that grows with range.
            rel2 = (road_sigma / cam_height) ** 2 + (d_g / cam_height) ** 2 * (
                edge_sigma**2 + pitch_sigma**2 + grade_sigma**2
            )
            w_g = 1.0 / (d_g * d_g * rel2)
        w_s = w_h + w_w
        out[i, :] = math.nan
        if w_s > 0.0:
            out[i, 0] = (w_h * d_h + w_w * d_w) / w_s
            out[i, 1] = 1.0 / math.sqrt(w_s)
        if w_g > 0.0:
            out[i, 2] = d_g
            out[i, 3] = 1.0 / math.sqrt(w_g)
        # Lateral centre = a * depth + b under the parallel-heading model: the outer edge of
        # the box is the object's near corner.
        if x1 > 0.0 and wid == wid:
            out[i, 4], out[i, 5] = x2, -0.5 * wid
        elif x2 < 0.0 and wid == wid:
            out[i, 4], out[i, 5] = x1, 0.5 * wid
        else:
            out[i, 4], out[i, 5] = 0.5 * (x1 + x2), 0.0


class DistanceEstimator:
    """Per-frame ranging of tracked boxes, with a per-frame camera pitch estimate.

    ``update(tracks, t_ns)`` returns one :class:`RangeEstimates` row per track row.
    """

    def __init__(
        self,
        camera: CameraModel,
        config: DistanceConfig | None = None,
        priors: SizePriors | None = None,
    ) -> None:
        self.camera = camera
        self.config = config or DistanceConfig()
        self.priors = priors or SizePriors.load()
        self._prior_table = np.column_stack(
            [
                self.priors.height,
                self.priors.height_sigma,
                self.priors.width,
                self.priors.width_sigma,
                self.priors.length,
                self.priors.length_sigma,
                self.priors.width_cue.astype(float),
            ]
        )
        self.rejected: dict[RangeStatus, int] = {s: 0 for s in RangeStatus if s != RangeStatus.OK}
        self.reset()

    def reset(self) -> None:
        self._pitch = self.camera.mount.pitch_rad
        # Start from the stationary spread of the pitch process around the mount pitch.
        stationary = 0.5 * self.config.pitch_rate_sigma_dps**2 * self.config.pitch_revert_s
        self._pitch_var = math.radians(max(stationary, 1e-6) ** 0.5) ** 2
        self._t_ns: int | None = None
        self._slot: dict[int, int] = {}
        self._slot_ids: list[int] = []
        self._scale = np.zeros(0)  # per-track log size correction
        self._scale_var = np.zeros(0)
        self._last_ns = np.zeros(0, np.int64)

    @property
    def pitch_rad(self) -> float:
        return self._pitch

    def _level(self, uv: FloatArray, pitch: float) -> FloatArray:
        m = self.camera.mount
        rot = rotation_level_camera(pitch, m.roll_rad, m.yaw_rad)
        xy = self.camera.normalized(uv)
        ray = xy @ rot[:, :2].T + rot[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = ray[:, 2:3]
            out = np.where(z > 1e-9, ray[:, :2] / z, np.nan)
        return np.asarray(out)

    def _geometry(
        self, xyxy: FloatArray, cls: npt.NDArray[np.int64], pitch: float
    ) -> tuple[FloatArray, FloatArray]:
        """Level-normalised boxes (N x 4) and ranging points (N x 2) for a given pitch."""
        n = xyxy.shape[0]
        x1, y1, x2, y2 = xyxy.T
        cx = self.camera.cx
        # Ranging column: bottom centre for narrow boxes, the bottom corner nearest the ego
        # path (the image column of straight ahead, clamped into the box) for wide ones.
        aspect = (x2 - x1) / np.maximum(y2 - y1, 1e-6)
        ratio = np.nan_to_num(self._prior_table[:, 2] / self._prior_table[:, 0], nan=1.0)
        wide = aspect > self.config.wide_box_ratio * np.maximum(ratio[cls], 1.0)
        u_r = np.where(wide, np.clip(cx, x1, x2), 0.5 * (x1 + x2))
        pts = np.empty((n, 5, 2))
        pts[:, 0] = np.column_stack([x1, y1])
        pts[:, 1] = np.column_stack([x2, y1])
        pts[:, 2] = np.column_stack([x1, y2])
        pts[:, 3] = np.column_stack([x2, y2])
        pts[:, 4] = np.column_stack([u_r, y2])
        lv = self._level(pts.reshape(-1, 2), pitch).reshape(n, 5, 2)
        box = np.column_stack(
            [lv[:, :4, 0].min(1), lv[:, :4, 1].min(1), lv[:, :4, 0].max(1), lv[:, :4, 1].max(1)]
        )
        return box, lv[:, 4]

    def update(self, tracks: Tracks, t_ns: int, score: FloatArray | None = None) -> RangeEstimates:
        """Range every track row. ``score`` (default ``tracks.score``) selects pitch anchors."""
        cfg, cam = self.config, self.camera
        n = len(tracks)
        xyxy = tracks.xyxy.astype(np.float64)
        cls = np.clip(tracks.class_id, 0, len(ObjectClass) - 1)
        status = self._validate(xyxy)
        self._predict_pitch(t_ns)
        ok = status == RangeStatus.OK
        f = 0.5 * (cam.fx + cam.fy)
        edge = cfg.edge_sigma_px / f
        m = cam.mount
        margin = cfg.border_margin_px
        cut = np.column_stack(
            [
                xyxy[:, 3] >= cam.height - 1 - margin,
                xyxy[:, 1] <= margin,
                (xyxy[:, 0] <= margin) | (xyxy[:, 2] >= cam.width - 1 - margin),
            ]
        )
        prior = self._prior_table[cls]
        out = np.full((n, 6), np.nan)
        idx = np.flatnonzero(ok)
        if idx.size:
            # Pass 1 at the predicted pitch: each confident object's size cue says where its
            # contact point should be; the offset is a pitch measurement.
            box, ground = self._geometry(xyxy[idx], cls[idx], self._pitch)
            self._kernel(box, ground, prior[idx], cut[idx], edge, out, idx)
            scores = tracks.score if score is None else score
            self._update_pitch(out[idx], ground, cut[idx], scores[idx], edge)
            box, ground = self._geometry(xyxy[idx], cls[idx], self._pitch)
            self._kernel(box, ground, prior[idx], cut[idx], edge, out, idx)
            above = ~np.isfinite(out[idx, 0]) & ~np.isfinite(out[idx, 2]) & ~(ground[:, 1] > 0.0)
            status[idx[above]] = RangeStatus.ABOVE_HORIZON
            level_h = np.full(n, np.nan)
            level_h[idx] = box[:, 3] - box[:, 1]
            d, sig, method = self._fuse(tracks, out, level_h, edge, t_ns, scores)
            dist = d - m.behind_bumper_m
            bad = np.isfinite(d) & ((dist < cfg.min_distance_m) | (dist > cfg.max_distance_m))
            status[bad & (status == RangeStatus.OK)] = RangeStatus.OUT_OF_RANGE
            status[~np.isfinite(d) & (status == RangeStatus.OK)] = RangeStatus.ABOVE_HORIZON
        else:
            d = sig = np.full(n, np.nan)
            method = np.zeros(n, np.int64)
        self._forget(t_ns)
        for s in np.unique(status):
            if s != RangeStatus.OK:
                k = int(np.count_nonzero(status == s))
                self.rejected[RangeStatus(s)] += k
                log.debug("distance: %d box(es) rejected: %s", k, RangeStatus(s).name)
        good = status == RangeStatus.OK
        nan = np.full(n, np.nan)
        x_cam = out[:, 4] * d + out[:, 5]
        dist = np.where(good, d - m.behind_bumper_m, nan)
        lat = np.where(good, m.lateral_m - x_cam, nan)  # camera x right -> vehicle y left
        sig = np.where(good, sig, nan)
        # Lateral error: the range error seen through the box's bearing, plus pixel noise.
        sig_lat = np.where(good, np.abs(out[:, 4]) * sig + edge * d, nan)
        method = np.where(good, method, RangeMethod.NONE).astype(np.int64)
        return RangeEstimates(dist, lat, sig, sig_lat, status.astype(np.int64), method, self._pitch)

    def _fuse(
        self,
        tracks: Tracks,
        out: FloatArray,
        level_h: FloatArray,
        edge: float,
        t_ns: int,
        scores: npt.ArrayLike,
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
        """Fuse the size and ground cues, the size cue scaled by the track's learned size.

        A real object's size does not change along its track, so the ratio of its ground
        range to its size-prior range is averaged per track (in log space, a scalar Kalman
        filter) and corrects the size prior. The ground cue is most informative while the
        object is near, and what it taught stays with the track when it moves away. The
        measurement variance is inflated because road relief is correlated over time.
        """
        cfg = self.config
        d_s, s_s, d_g, s_g = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
        n = d_s.shape[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            pix2 = np.nan_to_num(2.0 * (edge / level_h) ** 2, nan=0.0)
            prior2 = np.maximum((s_s / d_s) ** 2 - pix2, 1e-6)
        slots = np.empty(n, np.int64)
        for i, tid in enumerate(tracks.track_id.tolist()):
            slot = self._slot.get(tid)
            if slot is None:
                slot = self._new_slot(
                    tid, float(prior2[i]) if np.isfinite(prior2[i]) else 0.01, t_ns
                )
            slots[i] = slot
        dt = np.maximum(0.0, (t_ns - self._last_ns[slots]) * 1e-9)
        p = self._scale_var[slots] + cfg.scale_drift_per_s**2 * dt
        sc = self._scale[slots]
        self._last_ns[slots] = t_ns
        ds_c = d_s * np.exp(sc)
        ss_c = ds_c * np.sqrt(p + pix2)
        have_s, have_g = np.isfinite(ds_c), np.isfinite(d_g)
        w_s = np.where(have_s, 1.0 / np.where(have_s, ss_c, 1.0) ** 2, 0.0)
        w_g = np.where(have_g, 1.0 / np.where(have_g, s_g, 1.0) ** 2, 0.0)
        w = w_s + w_g
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (w_s * np.nan_to_num(ds_c) + w_g * np.nan_to_num(d_g)) / w
            sig = 1.0 / np.sqrt(w)
        method = np.where(have_s & have_g, RangeMethod.FUSED, RangeMethod.SIZE)
        method = np.where(have_s, method, np.where(have_g, RangeMethod.GROUND, RangeMethod.NONE))
        # Learn the size from this frame's ground cue (after using it, so no double counting).
        learn = (
            have_s
            & have_g
            & (tracks.time_since_update == 0)
            & (np.asarray(scores) >= cfg.pitch_min_score)
        )
        z = np.log(np.where(learn, d_g / np.where(have_s, d_s, 1.0), 1.0))
        r = np.where(learn, ((s_g / np.where(have_g, d_g, 1.0)) ** 2 + pix2), 1.0)
        r = r * cfg.scale_meas_inflation
        k = np.where(learn, p / (p + r), 0.0)
        lim = math.log1p(cfg.scale_max_rel)
        self._scale[slots] = np.clip(sc + k * (z - sc), -lim, lim)
        self._scale_var[slots] = (1.0 - k) * p
        return d, sig, method.astype(np.int64)

    def _new_slot(self, track_id: int, prior_var: float, t_ns: int) -> int:
        slot = len(self._slot_ids)
        self._slot[track_id] = slot
        self._slot_ids.append(track_id)
        if slot >= self._scale.size:
            grow = max(64, self._scale.size)
            self._scale = np.concatenate([self._scale, np.zeros(grow)])
            self._scale_var = np.concatenate([self._scale_var, np.zeros(grow)])
            self._last_ns = np.concatenate([self._last_ns, np.zeros(grow, np.int64)])
        self._scale[slot] = 0.0
        self._scale_var[slot] = prior_var
        self._last_ns[slot] = t_ns
        return slot

    def _forget(self, t_ns: int) -> None:
        """Drop per-track size estimates of tracks not seen for ``track_timeout_s``."""
        if len(self._slot_ids) < 256:
            return
        timeout = int(self.config.track_timeout_s * 1e9)
        keep = [i for i, _ in enumerate(self._slot_ids) if t_ns - self._last_ns[i] <= timeout]
        ids = [self._slot_ids[i] for i in keep]
        self._scale, self._scale_var = self._scale[keep], self._scale_var[keep]
        self._last_ns = self._last_ns[keep]
        self._slot_ids = ids
        self._slot = {tid: i for i, tid in enumerate(ids)}

    def _kernel(
        self,
        box: FloatArray,
        ground: FloatArray,
        prior: FloatArray,
        cut: npt.NDArray[np.bool_],
        edge: float,
        out: FloatArray,
        idx: npt.NDArray[np.intp],
    ) -> None:
        res = np.empty((idx.size, 6))
        _range_kernel(
            np.ascontiguousarray(box),
            np.ascontiguousarray(ground),
            np.ascontiguousarray(prior),
            np.ascontiguousarray(cut),
            self.camera.mount.height_m,
            edge,
            self.config.road_height_sigma_m,
            math.radians(self.config.road_grade_sigma_deg),
            math.sqrt(self._pitch_var),
            self.config.width_gate_sigma,
            res,
        )
        out[idx] = res

    def _validate(self, xyxy: FloatArray) -> npt.NDArray[np.int64]:
        cfg, cam = self.config, self.camera
        status = np.full(xyxy.shape[0], RangeStatus.OK, np.int64)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(xyxy).all(axis=1)
            w = xyxy[:, 2] - xyxy[:, 0]
            h = xyxy[:, 3] - xyxy[:, 1]
            off = (
                (xyxy[:, 2] < 0)
                | (xyxy[:, 3] < 0)
                | (xyxy[:, 0] > cam.width - 1)
                | (xyxy[:, 1] > cam.height - 1)
            )
            status[(w < cfg.min_box_px) | (h < cfg.min_box_px)] = RangeStatus.TOO_SMALL
            status[off] = RangeStatus.OFF_IMAGE
            status[(w <= 0) | (h <= 0)] = RangeStatus.DEGENERATE
        status[~finite] = RangeStatus.NON_FINITE
        return status

    def _predict_pitch(self, t_ns: int) -> None:
        """Ornstein-Uhlenbeck prediction: random walk that reverts to the mount pitch."""
        cfg = self.config
        dt = 0.0 if self._t_ns is None else max(0.0, (t_ns - self._t_ns) * 1e-9)
        self._t_ns = t_ns
        if dt <= 0.0 or dt > 10.0:
            if dt > 10.0:
                self.reset()
                self._t_ns = t_ns
            return
        mount = self.camera.mount.pitch_rad
        a = math.exp(-dt / cfg.pitch_revert_s)
        self._pitch = mount + a * (self._pitch - mount)
        q = math.radians(cfg.pitch_rate_sigma_dps) ** 2 * dt
        self._pitch_var = a * a * self._pitch_var + q
        self._pitch_var = min(self._pitch_var, math.radians(cfg.pitch_max_dev_deg) ** 2)

    def _update_pitch(
        self,
        out: FloatArray,
        ground: FloatArray,
        cut: npt.NDArray[np.bool_],
        score: npt.ArrayLike,
        edge: float,
    ) -> None:
        cfg = self.config
        h = self.camera.mount.height_m
        d_s, s_s = out[:, 0], out[:, 1]
        use = (
            np.isfinite(d_s)
            & np.isfinite(s_s)
            & (ground[:, 1] > 0)
            & ~cut[:, 0]
            & (np.asarray(score) >= cfg.pitch_min_score)
        )
        if not use.any():
            return
        d_s, s_s, yb = d_s[use], s_s[use], ground[use, 1]
        theta = self._pitch + np.arctan(h / d_s) - np.arctan(yb)
        # Angle error of each anchor: size-range error seen from the camera height, plus pixels.
        sig = np.hypot(h * s_s / (d_s**2 + h**2), edge)
        wts = 1.0 / sig**2
        order = np.argsort(theta)
        cw = np.cumsum(wts[order])
        z = float(theta[order][np.searchsorted(cw, 0.5 * cw[-1])])  # weighted median
        # Median of n anchors: variance ~ (pi/2) / sum(w); floored, because anchors share
        # road relief that a single pitch cannot absorb.
        r = max(0.5 * math.pi / float(cw[-1]), math.radians(cfg.pitch_min_sigma_deg) ** 2)
        k = self._pitch_var / (self._pitch_var + r)
        lim = math.radians(cfg.pitch_max_dev_deg)
        mount = self.camera.mount.pitch_rad
        self._pitch = float(np.clip(self._pitch + k * (z - self._pitch), mount - lim, mount + lim))
        self._pitch_var = (1.0 - k) * self._pitch_var
