"""The distance stage's compiled steps (adas.distance_batch, the ground plane's and the track
slots' kernels, box_edge_sigma's) against the numpy code they replace, kept here as the
reference: every output bit and the stage's state over random frame sequences."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from adas import distance_kernels as k
from adas.camera import CameraModel, Mount
from adas.distance import _OK, DistanceConfig, DistanceEstimator, log
from adas.distance_ground import GroundPlane, _update, _weighted_median
from adas.slots import TrackSlots
from adas.types import EgoState, FloatArray, ObjectClass, RangeEstimates, RangeStatus, Tracks


def numpy_box_edge_sigma(xyxy: FloatArray, floor_px: float, var_per_px: float) -> FloatArray:
    """Per-row edge noise [px] of a detector box of height h: ``sqrt(floor_px^2 + var_per_px
    h)``.

    A detector's edge error grows with the object's size in the image (yolox_nano on KITTI:
    1.5 px at 12 px tall, 4 px at 50 px, 5.6 px at 150 px; docs/sensor-model.md), so a fixed
    pixel figure trusts near boxes far too much. Rows without a finite positive height get the
    floor.
    """
    b = np.asarray(xyxy, np.float64)
    with np.errstate(invalid="ignore"):
        h = b[:, 3] - b[:, 1]
        h = np.where(np.isfinite(h) & (h > 0.0), h, 0.0)
    return np.sqrt(floor_px * floor_px + var_per_px * h)


class NumpySlots(TrackSlots):
    def drop_stale(self, t_ns: int, timeout_ns: int) -> None:
        """Free the rows of ids not seen for more than ``timeout_ns``."""
        stale = (self.slot_id >= 0) & (t_ns - self.seen_ns > timeout_ns)
        for s in np.flatnonzero(stale).tolist():
            del self.ids[int(self.slot_id[s])]
            self.slot_id[s] = -1
            self._free.append(s)


class NumpyGround(GroundPlane):
    def predict(self, dt: float) -> None:
        """Revert towards the mount over ``dt`` seconds while the spread grows (never beyond
        the bound)."""
        if dt <= 0.0:
            return
        a = np.exp(-dt / self.revert_s)
        self.mean = self.mount + a * (self.mean - self.mount)
        self.cov = self.cov * np.outer(a, a) + np.diag(self.rate2 * dt)
        var = np.diag(self.cov)
        scale = np.sqrt(np.minimum(1.0, self.limit**2 / np.maximum(var, 1e-300)))
        self.cov = self.cov * np.outer(scale, scale)

    def update(self, theta: FloatArray, x: FloatArray, var: FloatArray, m: int) -> None:
        """Update from ``m`` anchors (see :func:`ground_anchors`), then bound the estimate.
        A plane held level across (slope spread 0) updates the pitch alone from the anchors'
        weighted median, as this stage always did."""
        if m <= 0:
            return
        if self.rate2[1] > 0.0:
            _update(self.mean, self.cov, theta, x, var, m, self.min_var)
        else:
            z, total = _weighted_median(theta[:m], 1.0 / var[:m])
            # Median of n anchors: variance ~ (pi/2) / sum(w); floored (shared road relief).
            r = max(0.5 * math.pi / total, self.min_var)
            gain = self.cov[0, 0] / (self.cov[0, 0] + r)
            self.mean[0] += gain * (z - self.mean[0])
            self.cov[0, 0] *= 1.0 - gain
        self.mean = np.clip(self.mean, self.mount - self.limit, self.mount + self.limit)


class NumpyDistance(DistanceEstimator):
    """The stage as numpy code (adas/distance.py before adas.distance_batch)."""

    def reset(self) -> None:
        super().reset()
        g = self._ground
        self._ground = NumpyGround.__new__(NumpyGround)
        self._ground.__dict__.update(g.__dict__)
        self._track = NumpySlots(64)

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
        f = 0.5 * (cam.fx + cam.fy)
        edge = numpy_box_edge_sigma(xyxy, cfg.edge_sigma_px, cfg.edge_var_per_px) / f  # per row
        m = cam.mount
        cues = np.full((n, k.N_CUES), np.nan)
        res = np.full((n, 3), np.nan)
        idx = np.flatnonzero(status == _OK)
        if idx.size:
            sub = xyxy[idx]
            margin = cfg.border_margin_px
            cut = np.empty((idx.size, 5), np.bool_)
            cut[:, 0] = sub[:, 3] >= cam.height - 1 - margin
            cut[:, 1] = sub[:, 1] <= margin
            cut[:, 3] = sub[:, 0] <= margin
            cut[:, 4] = sub[:, 2] >= cam.width - 1 - margin
            cut[:, 2] = cut[:, 3] | cut[:, 4] | self._turned_on_curve(sub, cls[idx], ego)
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
        d = res[:, 0]
        with np.errstate(invalid="ignore"):
            no_range = (status == _OK) & ~np.isfinite(d)
            status[no_range] = _ABOVE_HORIZON
            dist = d - m.behind_bumper_m
            bad = (status == _OK) & ((dist < cfg.min_distance_m) | (dist > cfg.max_distance_m))
        status[bad] = _OUT_OF_RANGE
        good = status == _OK
        if not good.all():
            for s in np.unique(status[~good]):
                c = int(np.count_nonzero(status == s))
                self.rejected[RangeStatus(s)] += c
                log.debug("distance: %d box(es) rejected: %s", c, RangeStatus(s).name)
        nan = np.full(n, np.nan)
        sig = np.where(good, res[:, 1], nan)
        x_cam = cues[:, k.LAT_A] * d + cues[:, k.LAT_B]
        return RangeEstimates(
            distance_m=np.where(good, dist, nan),
            lateral_m=np.where(good, m.lateral_m - x_cam, nan),  # camera x right -> y left
            sigma_distance_m=sig,
            # Lateral error: the range error seen through the box's bearing, plus pixels.
            sigma_lateral_m=np.where(good, np.abs(cues[:, k.LAT_A]) * sig + edge * d, nan),
            status=status,
            method=np.where(good, res[:, 2], 0.0).astype(np.int64),
            pitch_rad=self._ground.pitch,
            side_cut=(xyxy[:, 0] <= cfg.border_margin_px)
            | (xyxy[:, 2] >= cam.width - 1 - cfg.border_margin_px),
            bottom_cut=xyxy[:, 3] >= cam.height - 1 - cfg.border_margin_px,
        )

    def _turned_on_curve(
        self, xyxy: FloatArray, cls: npt.NDArray[np.int64], ego: EgoState | None
    ) -> npt.NDArray[np.bool_]:
        """Rows whose width cue the road's curvature spoils.

        The width cue assumes the object heads the way we do. On a road of curvature
        ``kappa`` an object ``d`` ahead is turned by ``kappa d``, which widens its box by about
        ``(L / W) kappa d`` of its width: a car 60 m ahead on a 250 m curve looks 8 % nearer
        by its width (parked cars on a curve's verge ranged 8 % short, offset into our path).
        The cue is dropped where that exceeds the prior's relative width spread. ``d`` is the
        flat-road range of the box's bottom row, the curvature ego yaw rate over speed.
        """
        cfg, cam = self.config, self.camera
        out = np.zeros(xyxy.shape[0], np.bool_)
        if ego is None or not ego.valid:
            return out
        v, w = float(ego.speed_mps), float(ego.yaw_rate_rps)
        if not (math.isfinite(v) and math.isfinite(w)) or v < cfg.min_curvature_speed_mps:
            return out
        kappa = abs(w / v)
        below = xyxy[:, 3] - cam.horizon_v(self._ground.pitch)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(below > 0.0, cam.fy * cam.mount.height_m / below, np.inf)
            p = self._prior_table[cls]  # H, sH, W, sW, L, sL, width_cue, ground offset, sigma
            return np.asarray((p[:, 4] / p[:, 2]) * kappa * d > p[:, 3] / p[:, 2])

    def _cues(
        self, norm: FloatArray, prior: FloatArray, cut: npt.NDArray[np.bool_], edge: FloatArray
    ) -> FloatArray:
        cfg, m = self.config, self.camera.mount
        out = np.empty((prior.shape[0], k.N_CUES))
        g = self._ground
        cp, sp = math.cos(g.pitch), math.sin(g.pitch)
        rot = self._rot_a @ np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]]) @ self._rot_c
        plane = np.array([g.slope, g.cov[0, 0], g.cov[0, 1], g.cov[1, 1]])
        k.range_cues(
            norm, rot, abs(math.sin(m.roll_rad)), prior, cut,
            m.height_m, edge, cfg.road_height_sigma_m, math.radians(cfg.road_grade_sigma_deg),
            plane, cfg.width_gate_sigma, out,
        )  # fmt: skip
        return out

    def _hyp_cues(
        self,
        norm: FloatArray,
        hyp: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int64],
        cut: npt.NDArray[np.bool_],
        edge: FloatArray,
    ) -> FloatArray:
        """G x N x N_CUES: the cue table of every box under each class it may be (columns
        that no box uses are left NaN)."""
        out = np.full((hyp.shape[1], hyp.shape[0], k.N_CUES), np.nan)
        for j in cols:
            prior = np.ascontiguousarray(self._prior_table[hyp[:, j]])
            out[j] = self._cues(norm, prior, cut, edge)
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
        self._scale_var[changed] = -1.0
        fresh = np.concatenate([np.asarray(new, np.int64), changed])
        self._bounds[fresh] = (np.inf, -np.inf)
        self._ref[slots] = ref
        return slots


_ABOVE_HORIZON = int(RangeStatus.ABOVE_HORIZON)
_OUT_OF_RANGE = int(RangeStatus.OUT_OF_RANGE)


def camera(seed: int) -> CameraModel:
    w, h = (1280, 720) if seed % 2 else (1242, 375)
    f = 0.5 * w / math.tan(math.radians(70.0) / 2)
    dist = np.zeros(5) if seed % 3 else np.array([-0.25, 0.07, 0.001, -0.001, 0.0])
    mount = Mount.from_degrees(
        height_m=1.5, pitch_deg=1.5, roll_deg=0.5 * (seed % 3), yaw_deg=-1.0 * (seed % 2),
        behind_bumper_m=1.2,
    )  # fmt: skip
    k_ = np.array([[f, 0.0, 0.5 * (w - 1)], [0.0, f, 0.5 * (h - 1)], [0.0, 0.0, 1.0]])
    return CameraModel(K=k_, dist=dist, width=w, height=h, mount=mount)


def frame(rng: np.random.Generator, cam: CameraModel, ids: np.ndarray) -> Tracks:
    n = ids.size
    w, h = cam.width, cam.height
    cx, bottom = rng.uniform(-50, w + 50, n), rng.uniform(0.4 * h, 1.1 * h, n)
    bw, bh = rng.uniform(2, 300, n), rng.uniform(2, 250, n)
    xyxy = np.column_stack([cx - bw / 2, bottom - bh, cx + bw / 2, bottom])
    hit = rng.random(xyxy.shape) < 0.04
    xyxy[hit] = rng.choice([np.nan, np.inf, -0.0, 0.0, w - 1.0, h - 1.0], int(hit.sum()))
    return Tracks(
        xyxy=xyxy.astype(np.float32), score=rng.choice([0.3, 0.5, 0.9], n).astype(np.float32),
        class_id=rng.choice([0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8], n), track_id=ids.copy(),
        age=np.ones(n, np.int64), hits=np.ones(n, np.int64),
        time_since_update=rng.choice([0, 0, 0, 1], n), det_index=np.zeros(n, np.int64),
    )  # fmt: skip


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


CONFIGS = [{}, {"cross_slope_sigma_deg": 1.0}, {"pitch_min_anchors": 2, "scale_max_rel": 0.0}]


@pytest.mark.parametrize("seed", range(24))
def test_kernels_give_the_numpy_stage_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cam = camera(seed)
    cfg = DistanceConfig(**CONFIGS[seed % len(CONFIGS)])  # type: ignore[arg-type]
    fast, ref = DistanceEstimator(cam, cfg), NumpyDistance(cam, cfg)
    ids, t_ns = np.arange(int(rng.integers(0, 12))), 0
    for _ in range(50):
        t_ns += int(
            rng.choice([33_333_333, 10**8, 6 * 10**9, 11 * 10**9], p=[0.5, 0.4, 0.05, 0.05])
        )
        if rng.random() < 0.2:
            ids = np.concatenate([ids[rng.random(ids.size) < 0.8], [ids.max(initial=0) + 1]])
        tracks = frame(rng, cam, ids)
        ego = EgoState(
            t_ns=t_ns, speed_mps=float(rng.choice([0.0, 1.0, 20.0, np.nan])),
            yaw_rate_rps=float(rng.choice([0.0, -0.0, 0.05, -0.2])), valid=rng.random() > 0.1,
        )  # fmt: skip
        a, b = fast.update(tracks, t_ns, ego=ego), ref.update(tracks, t_ns, ego=ego)
        for name in RangeEstimates.__dataclass_fields__:
            x, y = getattr(a, name), getattr(b, name)
            assert same(np.asarray(x), np.asarray(y)), name
        for name in ("_scale", "_scale_var", "_last_ns", "_ref", "_bounds"):
            assert same(getattr(fast, name), getattr(ref, name)), name
        assert same(fast._ground.mean, ref._ground.mean) and same(fast._ground.cov, ref._ground.cov)
        assert fast.rejected == ref.rejected and fast._track.ids == ref._track.ids


@pytest.mark.parametrize("seed", range(20))
def test_level_update_is_the_numpy_median_update(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for m in (1, 2, 3, 7, 8, 9, 17, 64, 128, 129):
        theta = rng.choice([-0.02, 0.0, 0.01, 0.01], m) + rng.normal(0, 0.01, m)
        var = rng.uniform(1e-6, 1e-3, m) if seed % 2 else rng.choice([1e-5, 2e-5], m)
        planes = [GroundPlane(0.01, pitch_rate_rad=0.01, pitch_revert_s=2.0, pitch_max_dev_rad=lim,
                              slope_sigma=0.0, slope_revert_s=2.0, slope_max=0.1,
                              min_sigma_rad=1e-4) for lim in (0.05, 1e-4)]  # fmt: skip
        for g in planes:
            ref = NumpyGround.__new__(NumpyGround)
            ref.__dict__.update({key: np.copy(v) for key, v in g.__dict__.items()})
            g.update(theta, np.zeros(m), var, m)
            ref.update(theta, np.zeros(m), var, m)
            assert same(g.mean, ref.mean) and same(g.cov, ref.cov)
            g.predict(0.1)
            ref.predict(0.1)
            assert same(g.mean, ref.mean) and same(g.cov, ref.cov)


def test_box_edge_sigma_is_the_numpy_one() -> None:
    rng = np.random.default_rng(0)
    from adas.priors import box_edge_sigma

    xyxy = rng.uniform(-10, 500, (300, 4))
    xyxy[rng.random(xyxy.shape) < 0.1] = rng.choice([np.nan, np.inf, -np.inf, -0.0], 1)
    for floor, var in ((1.93, 0.201), (0.0, 0.0), (5.0, 3.0)):
        assert same(box_edge_sigma(xyxy, floor, var), numpy_box_edge_sigma(xyxy, floor, var))
    assert same(box_edge_sigma(np.zeros((0, 4)), 1.93, 0.2), np.zeros(0))
