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

The road plane under the camera (pitch and, if configured, cross slope) is estimated every
frame from the confident objects, whose size cues say where their contact points should be
(:mod:`adas.distance_ground`, after Hoiem, Efros, Hebert, "Putting Objects in Perspective",
CVPR 2006). One object cannot tell pitch from its own size: a lone truck called "car" pulls the
pitch until its contact agrees with the car size, and the ground cue confirms the wrong range.
``pitch_min_anchors = 2`` waits for two anchors; the default (1) keeps a lone car as a pitch
sensor, which KITTI's real roads need (docs/ranging_on_detector_boxes.md gives both sides).
A class whose contact may sit above the road (a pedestrian on a kerb: ``ground_offset_m`` in
the priors) is ranged from that height and anchors the plane with that spread added.

A real object's size does not change along its track, so each track learns a log-scale
correction of its class prior from the ratio of ground range to size range (a scalar Kalman
filter, measurement variance inflated because road relief is correlated in time). The ground
cue is most informative while the object is near; what it taught stays with the track when
the object moves away.

Class-robust sizes (issue 18): a detector's label is not always the object's class (yolox_nano
calls a car "truck" now and then, and a COCO "truck" is as often a van or a car). The track's
learned size is kept against one reference class per group (vehicles: the car prior), so it
stays the same in metres when the label changes, and a class flip does not move the range.
A label whose most probable true class is more likely right than wrong
(``trusted_class_prob``, data/priors/class_confusion.toml) is ranged with that class's prior
and may anchor the pitch. Any other label is ranged under every class it may be, each weighted
by its probability given the label and by how well its size range agrees with the
class-independent ground contact; such a box never anchors the pitch (its size would drag the
pitch towards its own wrong range).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adas import distance_batch as kb
from adas import distance_kernels as k
from adas.camera import R_VEHICLE_LEVEL, CameraModel, Lens, rotation_vehicle_camera
from adas.camera_boxes import focal_px_at
from adas.distance_ground import GroundPlane
from adas.errors import ConfigError
from adas.params import param, validate
from adas.priors import ClassHypotheses, SizePriors, box_edge_sigma
from adas.slots import TrackSlots
from adas.types import EgoState, FloatArray, ObjectClass, RangeEstimates, RangeStatus, Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistanceConfig:
    """Parameters of the distance stage. Defaults and their sources: data/config/default.toml."""

    min_box_px: float = param(4.0, lo=1.0, hi=100.0, unit="px")
    border_margin_px: float = param(2.0, lo=0.0, hi=50.0, unit="px")
    edge_sigma_px: float = param(1.93, lo=0.05, hi=20.0, unit="px")
    edge_var_per_px: float = param(0.201, lo=0.0, hi=10.0, unit="px")
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
    pitch_min_anchors: int = param(1, lo=1, hi=100)
    pitch_min_sigma_deg: float = param(0.05, lo=0.0, hi=5.0, unit="deg")
    cross_slope_sigma_deg: float = param(0.0, lo=0.0, hi=10.0, unit="deg")
    cross_slope_revert_s: float = param(2.0, lo=0.1, hi=1000.0, unit="s")
    cross_slope_max_deg: float = param(5.0, lo=0.0, hi=15.0, unit="deg")
    reset_gap_s: float = param(10.0, lo=0.1, hi=3600.0, unit="s")
    min_curvature_speed_mps: float = param(2.0, lo=0.1, hi=20.0, unit="m/s")
    trusted_class_prob: float = param(0.5, lo=0.0, hi=1.0)

    def __post_init__(self) -> None:
        validate(self, "distance")
        if self.min_distance_m >= self.max_distance_m:
            msg = (
                f"config distance.min_distance_m = {self.min_distance_m} must be below "
                f"distance.max_distance_m = {self.max_distance_m}"
            )
            raise ConfigError(msg)


def rotation_level_camera(pitch_rad: float, roll_rad: float, yaw_rad: float) -> FloatArray:
    """Rotation from the camera frame to a level frame with camera axis names (x right, y down,
    z forward) aligned with the vehicle axes. Angles as in ``adas.camera.Mount`` (ISO 8855)."""
    return np.asarray(R_VEHICLE_LEVEL.T @ rotation_vehicle_camera(pitch_rad, roll_rad, yaw_rad))


_OK = int(RangeStatus.OK)  # plain ints: IntEnum comparisons on arrays are slow


class DistanceEstimator:
    """Per-frame ranging of tracked boxes, with a per-frame camera pitch estimate.

    ``update(tracks, t_ns)`` returns one :class:`RangeEstimates` row per track row.
    """

    def __init__(
        self,
        camera: CameraModel,
        config: DistanceConfig | None = None,
        priors: SizePriors | None = None,
        hypotheses: ClassHypotheses | None = None,
    ) -> None:
        self.camera = camera
        self.config = config or DistanceConfig()
        self.priors = priors or SizePriors.load()
        self.hypotheses = hypotheses or ClassHypotheses.load()
        hyp = self.hypotheses
        # A label whose most probable class is more likely right than wrong is trusted: it is
        # ranged with that class's prior alone and may anchor the pitch. Other labels (a COCO
        # "truck" is as often a car or a van) are ranged under every class they may be.
        best = np.argmax(hyp.log_prob, axis=1)
        self._trusted = np.exp(hyp.log_prob.max(axis=1)) >= self.config.trusted_class_prob
        self._anchor_col = best
        logp = hyp.log_prob.copy()
        logp[self._trusted] = -np.inf
        logp[self._trusted, best[self._trusted]] = 0.0
        self._log_prob = logp
        self._prior_table = np.column_stack(
            [
                self.priors.height,
                self.priors.height_sigma,
                self.priors.width,
                self.priors.width_sigma,
                self.priors.length,
                self.priors.length_sigma,
                self.priors.width_cue.astype(float),
                self.priors.ground_offset,
                self.priors.ground_offset_sigma,
            ]
        )
        ratio = np.nan_to_num(self.priors.width / self.priors.height, nan=1.0)
        # The ranging point must not depend on the label: it uses the reference class's shape.
        self._wide_aspect = (self.config.wide_box_ratio * np.maximum(ratio, 1.0))[hyp.reference]
        # camera -> level = L^T Rz(yaw) Ry(pitch) Rx(roll) L with L = R_VEHICLE_LEVEL; only
        # the pitch changes from frame to frame, so the outer factors are computed once.
        m = camera.mount
        lvl = R_VEHICLE_LEVEL
        self._rot_a = lvl.T @ rotation_vehicle_camera(0.0, 0.0, m.yaw_rad) @ lvl.T
        self._rot_c = rotation_vehicle_camera(0.0, m.roll_rad, 0.0)
        self.rejected: dict[RangeStatus, int] = {s: 0 for s in RangeStatus if s != RangeStatus.OK}
        margin = self.config.border_margin_px
        self._geo = np.array([  # what range_outputs reads
            m.behind_bumper_m, m.lateral_m, self.config.min_distance_m, self.config.max_distance_m,
            margin, camera.width - 1 - margin, camera.height - 1 - margin,
        ])  # fmt: skip
        # With no curvature, the width cue is spoiled nowhere (kappa d is 0 or NaN) unless a
        # class's width spread is negative: _turned_on_curve skips its geometry then.
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = self._prior_table[:, 3] / self._prior_table[:, 2]
        self._straight_turns = bool((spread < 0.0).any())
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self._ground = GroundPlane(
            self.camera.mount.pitch_rad,
            pitch_rate_rad=math.radians(cfg.pitch_rate_sigma_dps),
            pitch_revert_s=cfg.pitch_revert_s,
            pitch_max_dev_rad=math.radians(cfg.pitch_max_dev_deg),
            slope_sigma=math.tan(math.radians(cfg.cross_slope_sigma_deg)),
            slope_revert_s=cfg.cross_slope_revert_s,
            slope_max=math.tan(math.radians(cfg.cross_slope_max_deg)),
            min_sigma_rad=math.radians(cfg.pitch_min_sigma_deg),
        )
        self._t_ns: int | None = None
        self._track = TrackSlots(64)
        self._scale = np.zeros(64)  # per-track log size correction
        self._scale_var = np.zeros(64)  # its variance; < 0 = not yet set
        self._last_ns = np.zeros(64, np.int64)  # time the track's size estimate refers to
        self._ref = np.zeros(64, np.int64)  # reference class the track's size is relative to
        # Smallest and largest size offset (log, from the reference class) that the labels the
        # track has had allow; the learned size is bounded by them.
        self._bounds = np.tile([np.inf, -np.inf], (64, 1))

    @property
    def pitch_rad(self) -> float:
        return self._ground.pitch

    @property
    def cross_slope(self) -> float:
        """The road's cross slope relative to the level camera frame, dY/dX (y down)."""
        return self._ground.slope

    def update(
        self,
        tracks: Tracks,
        t_ns: int,
        score: FloatArray | None = None,
        ego: EgoState | None = None,
    ) -> RangeEstimates:
        """Range every track row. ``score`` (default ``tracks.score``) selects pitch anchors;
        ``ego`` (speed and yaw rate) gives the road's curvature for the width cue's check."""
        cfg, cam = self.config, self.camera
        n = len(tracks)
        xyxy = np.ascontiguousarray(tracks.xyxy, dtype=np.float64)
        cls = np.minimum(np.maximum(tracks.class_id, 0), len(ObjectClass) - 1)
        scores = np.asarray(tracks.score if score is None else score, np.float64)
        status = np.empty(n, np.int64)
        k.box_status(xyxy, cam.width, cam.height, cfg.min_box_px, status)
        self._predict_pitch(t_ns)
        f: FloatArray | float = 0.5 * (cam.fx + cam.fy)
        if cam.lens is Lens.FISHEYE:  # pixels per normalized unit fall off the axis
            f = focal_px_at(cam, 0.5 * (xyxy[:, :2] + xyxy[:, 2:]))
        edge = box_edge_sigma(xyxy, cfg.edge_sigma_px, cfg.edge_var_per_px) / f  # per row
        cues = np.full((n, k.N_CUES), np.nan)
        res = np.full((n, 3), np.nan)
        idx = np.flatnonzero(status == _OK)
        if idx.size:
            sub = xyxy[idx]
            cut = np.empty((idx.size, 5), np.bool_)
            turned = self._turned_on_curve(sub, cls[idx], ego)
            kb.border_cuts(sub, cam.width, cam.height, cfg.border_margin_px, turned, cut)
            c_idx = cls[idx]
            hyp = self.hypotheses.classes[c_idx]  # n x G classes each box may really be
            logp = np.ascontiguousarray(self._log_prob[c_idx])
            cols = np.flatnonzero(np.isfinite(logp).any(axis=0))
            pts = np.empty((idx.size * 5, 2))
            k.pixel_points(sub, self._wide_aspect[c_idx], cam.cx, pts)
            norm = np.ascontiguousarray(cam.normalized(pts))
            rows = np.arange(idx.size)
            # Pass 1 at the predicted pitch: each confident object's size cue says where its
            # contact point should be; the offset is a pitch measurement. Pass 2 ranges.
            e_sub = np.ascontiguousarray(edge[idx])
            hyp_cues = self._hyp_cues(norm, hyp, cols, cut, e_sub)
            anchor = hyp_cues[self._anchor_col[c_idx], rows]
            ok = self._trusted[c_idx]
            self._update_pitch(anchor, cut, np.where(ok, scores[idx], -1.0), e_sub)
            hyp_cues = self._hyp_cues(norm, hyp, cols, cut, e_sub)
            mix = np.empty((idx.size, k.N_MIX))
            k.mix_hypotheses(hyp_cues, logp, True, mix)
            sub_cues = hyp_cues[0].copy()
            # Lateral position from the box's most probable class (its width).
            best = mix[:, k.MIX_MAP].astype(np.int64)
            sub_cues[:, k.LAT_A : k.LAT_B + 1] = hyp_cues[best, rows, k.LAT_A : k.LAT_B + 1]
            cues[idx] = sub_cues
            slots = self._slots(tracks.track_id[idx], hyp[:, 0], t_ns)
            learn = (tracks.time_since_update[idx] == 0) & (scores[idx] >= cfg.pitch_min_score)
            sub_res = np.empty((idx.size, 3))
            k.fuse_with_track_size(
                sub_cues, mix, slots, learn, self._scale, self._scale_var, self._last_ns,
                self._bounds, t_ns,
                e_sub, cfg.scale_drift_per_s**2, cfg.scale_meas_inflation,
                math.log1p(cfg.scale_max_rel), sub_res,
            )  # fmt: skip
            res[idx] = sub_res
        out, method = np.empty((4, n)), np.empty(n, np.int64)
        side_cut, bottom_cut = np.empty(n, np.bool_), np.empty(n, np.bool_)
        # No range (ABOVE_HORIZON) or out of range: NaN in every float; one compiled pass.
        kb.range_outputs(
            res, cues, edge, xyxy, status, self._geo, out, method, side_cut, bottom_cut
        )
        if not (status == _OK).all():
            for s in np.unique(status[status != _OK]):
                c = int(np.count_nonzero(status == s))
                self.rejected[RangeStatus(s)] += c
                log.debug("distance: %d box(es) rejected: %s", c, RangeStatus(s).name)
        return RangeEstimates(
            distance_m=out[0], lateral_m=out[1], sigma_distance_m=out[2], sigma_lateral_m=out[3],
            status=status, method=method, pitch_rad=self._ground.pitch, side_cut=side_cut,
            bottom_cut=bottom_cut,
        )  # fmt: skip

    def _turned_on_curve(
        self, xyxy: FloatArray, cls: npt.NDArray[np.int64], ego: EgoState | None
    ) -> npt.NDArray[np.bool_]:
        """Rows whose width cue the road's curvature spoils.

        The width cue assumes the object heads the way we do. On a road of curvature
        ``kappa`` an object ``d`` ahead is turned by ``kappa d``, which widens its box by about
        ``(L / W) kappa d`` of its width: a car 60 m ahead on a 250 m curve looks 8 % nearer
        by its width (parked cars on a curve's verge ranged 8 % short, offset into our path).
        The cue is dropped where that exceeds the prior's relative width spread. ``d`` is the
        flat-road range of the box's bottom row (through the lens on a fisheye), the curvature
        ego yaw rate over speed.
        """
        cfg, cam = self.config, self.camera
        out = np.zeros(xyxy.shape[0], np.bool_)
        if ego is None or not ego.valid:
            return out
        v, w = float(ego.speed_mps), float(ego.yaw_rate_rps)
        if not (math.isfinite(v) and math.isfinite(w)) or v < cfg.min_curvature_speed_mps:
            return out
        kappa = abs(w / v)
        if kappa == 0.0 and not self._straight_turns:
            return out
        with np.errstate(divide="ignore", invalid="ignore"):
            if cam.lens is Lens.FISHEYE:  # the bottom centre's road point, through the lens
                uv = np.column_stack([0.5 * (xyxy[:, 0] + xyxy[:, 2]), xyxy[:, 3]])
                d = cam.pixel_to_road(uv, self._ground.pitch)[:, 0] - cam.position_m[0]
                d[~np.isfinite(d)] = np.inf
            else:
                below = xyxy[:, 3] - cam.horizon_v(self._ground.pitch)
                d = np.where(below > 0.0, cam.fy * cam.mount.height_m / below, np.inf)
            p = self._prior_table[cls]  # H, sH, W, sW, L, sL, width_cue, ground offset, sigma
            return np.asarray((p[:, 4] / p[:, 2]) * kappa * d > p[:, 3] / p[:, 2])

    def _hyp_cues(
        self,
        norm: FloatArray,
        hyp: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int64],
        cut: npt.NDArray[np.bool_],
        edge: FloatArray,
    ) -> FloatArray:
        """G x N x N_CUES: the cue table of every box under each class it may be (columns
        that no box uses are left NaN), at the current road plane."""
        cfg, m, g = self.config, self.camera.mount, self._ground
        cp, sp = math.cos(g.pitch), math.sin(g.pitch)
        rot = self._rot_a @ np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]]) @ self._rot_c
        plane = np.array([g.slope, g.cov[0, 0], g.cov[0, 1], g.cov[1, 1]])
        out = np.empty((hyp.shape[1], hyp.shape[0], k.N_CUES))
        kb.hyp_cues(
            norm, rot, abs(math.sin(m.roll_rad)), self._prior_table, hyp, cols, cut,
            m.height_m, edge, cfg.road_height_sigma_m, math.radians(cfg.road_grade_sigma_deg),
            plane, cfg.width_gate_sigma, out,
        )  # fmt: skip
        return out

    def _slots(
        self, track_ids: npt.NDArray[np.int64], ref: npt.NDArray[np.int64], t_ns: int
    ) -> npt.NDArray[np.int64]:
        """Per-track rows; new tracks (and tracks whose reference class changes, e.g. car to
        pedestrian: another kind of object) start afresh, set by the kernel from the first
        box. Sizes of tracks unseen for ``track_timeout_s`` are forgotten."""
        self._track.drop_stale(t_ns, int(self.config.track_timeout_s * 1e9))
        slots, new = self._track.lookup(track_ids, t_ns)
        self._scale = self._track.fit(self._scale, 0.0)
        self._scale_var = self._track.fit(self._scale_var, 0.0)
        self._last_ns = self._track.fit(self._last_ns, 0)
        self._ref = self._track.fit(self._ref, 0)
        self._bounds = self._track.fit(self._bounds, np.inf)
        if new:
            self._scale[new], self._scale_var[new], self._last_ns[new] = 0.0, -1.0, t_ns
        changed = slots[self._ref[slots] != ref]
        if new or changed.size:
            self._scale_var[changed] = -1.0
            fresh = np.concatenate([np.asarray(new, np.int64), changed])
            self._bounds[fresh] = (np.inf, -np.inf)
        self._ref[slots] = ref
        return slots

    def _predict_pitch(self, t_ns: int) -> None:
        """Predict the road plane to this frame (a long gap starts everything over)."""
        cfg = self.config
        dt = 0.0 if self._t_ns is None else max(0.0, (t_ns - self._t_ns) * 1e-9)
        self._t_ns = t_ns
        if dt <= 0.0 or dt > cfg.reset_gap_s:
            if dt > cfg.reset_gap_s:
                self.reset()
                self._t_ns = t_ns
            return
        self._ground.predict(dt)

    def _update_pitch(
        self, cues: FloatArray, cut: npt.NDArray[np.bool_], score: FloatArray, edge: FloatArray
    ) -> None:
        use = ~cut[:, 0] & (score >= self.config.pitch_min_score)
        self._ground.update_from_cues(cues, use, edge, self.config.pitch_min_anchors)
