"""The tracker's compiled steps (adas.track_kernels) against the numpy code they replace,
kept here as the reference: every output bit and the filter state, over random detection
streams with NaN, infinities, absurd boxes, classes out of range and time going back."""

from __future__ import annotations

import numpy as np
import pytest

from adas.track import MAX_ABS_COORD_PX, MIN_SIZE_PX, Tracker, TrackerConfig, log
from adas.track_assoc import (
    AGE,
    CLASS_GROUP,
    CONFIRMED,
    HITS,
    ID,
    LAST_NS,
    N_CLASSES,
    POS,
    PPP,
    PPV,
    PVV,
    SCORE,
    TSU,
    VEL,
    VOTES,
    boxes,
)
from adas.types import Detections, Tracks


class NumpyTracker(Tracker):
    """The tracker's per-frame steps as numpy code (adas/track.py before its kernels)."""

    def update(self, detections: Detections, t_ns: int) -> Tracks:
        """Advance to capture time ``t_ns`` [ns] and associate this frame's ``detections``."""
        cfg = self.config
        t_ns = int(t_ns)
        if self._last_t_ns is not None and t_ns <= self._last_t_ns:
            log.warning(
                "tracker: timestamp %d ns does not increase (last %d ns); resetting tracks",
                t_ns,
                self._last_t_ns,
            )
            self.resets += 1
            self.reset()
        dt = 0.0 if self._last_t_ns is None else (t_ns - self._last_t_ns) * 1e-9
        self._last_t_ns = t_ns
        det_idx, box, z, grp, det_score = self._sanitize(detections)
        m = det_idx.size

        f, i = self._f, self._i
        # Tracks unseen for longer than the coast time die before they can be matched again.
        # Tentative tracks never get that old: they die at their first misses (below).
        alive = (t_ns - i[LAST_NS]) <= self._max_coast_ns
        if not alive.all():
            f, i = f.compress(alive, axis=1), i.compress(alive, axis=1)
        n = f.shape[1]
        track_det = np.full(n, -1, np.int64)
        mt = md = np.zeros(0, np.intp)
        if n:
            self._predict(f, dt)
            if m:
                mt, md = self._associate(f, i, box, z, grp, det_score)
                if mt.size:
                    self._correct(f, mt, z.take(md, axis=1))
            track_det[mt] = det_idx[md]
            i[AGE : TSU + 1] += 1
            i[TSU, mt] = 0
            i[HITS, mt] += 1
            i[LAST_NS, mt] = t_ns
            i[CONFIRMED] |= i[HITS] >= cfg.min_hits
            sc = det_score[md]
            f[SCORE, mt] = sc
            f[VOTES.start + detections.class_id[det_idx[md]], mt] += sc
            # Misses of a tentative track in total since its birth: age + 1 - hits.
            keep = (i[CONFIRMED] == 1) | (i[AGE] - i[HITS] < cfg.tentative_max_misses)
            # Defensive: a non-finite filter state (impossible with sanitised input) is dropped.
            keep &= np.isfinite(f[: PVV.stop]).all(axis=0)
            if not keep.all():
                f, i = f.compress(keep, axis=1), i.compress(keep, axis=1)
                track_det = track_det[keep]

        # Births: detections left over after both stages that are confident enough.
        if m:
            unmatched = det_score >= cfg.new_track_score
            unmatched[md] = False
            born = unmatched.nonzero()[0]
            if born.size:
                zb = z.take(born, axis=1)
                f_new, i_new = self._birth(detections, det_idx[born], zb, grp[born], t_ns)
                f = np.concatenate((f, f_new), axis=1)
                i = np.concatenate((i, i_new), axis=1)
                track_det = np.concatenate((track_det, det_idx[born]))
        self._f, self._i = f, i
        return self._output(detections, f, i, track_det)

    def _sanitize(
        self, detections: Detections
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Usable rows at or above ``low_score``.

        Returns (input rows, boxes x1 y1 x2 y2 as 4 x M, boxes cx cy w h as 4 x M, class
        groups, scores).
        """
        xyxy = np.array(detections.xyxy.T, np.float64, order="C")
        score = detections.score.astype(np.float64)
        cls = detections.class_id
        with np.errstate(invalid="ignore"):
            good = (
                (np.abs(xyxy) <= MAX_ABS_COORD_PX).all(axis=0)  # False for NaN too
                & (xyxy[2] > xyxy[0])
                & (xyxy[3] > xyxy[1])
                & (np.abs(score) < np.inf)  # False for NaN too
                & (cls >= 0)
                & (cls < N_CLASSES)
            )
        n_bad = good.size - int(np.count_nonzero(good))
        if n_bad:
            self.skipped_detections += n_bad
            log.debug(
                "tracker: skipped %d detection rows (non-finite, non-positive size, "
                "out-of-range coordinates or class, non-finite score)",
                n_bad,
            )
        idx = (good & (score >= self.config.low_score)).nonzero()[0]
        box = xyxy.take(idx, axis=1)
        z = np.empty_like(box)
        np.add(box[0:2], box[2:4], out=z[0:2])
        z[0:2] *= 0.5
        np.subtract(box[2:4], box[0:2], out=z[2:4])
        return idx, box, z, CLASS_GROUP[cls[idx]], score[idx]

    def _predict(self, f: np.ndarray, dt: float) -> None:
        """Constant-velocity prediction over ``dt`` seconds, in place on all tracks."""
        c = self.config
        h2 = f[3] ** 2  # h >= MIN_SIZE_PX always
        ppp, ppv, pvv = f[PPP], f[PPV], f[PVV]
        # P <- F P F' + Q with F = [[1, dt], [0, 1]] per coordinate and random-walk noise on
        # position and rate whose variance grows linearly with dt (frame-rate independent).
        ppp += dt * (2.0 * ppv + dt * pvv) + (c.process_pos_std**2 * dt) * h2
        ppv += dt * pvv
        pvv += (c.process_vel_std**2 * dt) * h2
        f[POS] += dt * f[VEL]
        np.maximum(f[2:4], MIN_SIZE_PX, out=f[2:4])

    def _correct(self, f: np.ndarray, t: np.ndarray, z: np.ndarray) -> None:
        """Kalman measurement update of tracks ``t`` with boxes ``z`` (cx, cy, w, h: 4 x K).

        Runs on all tracks with a zero gain for the unmatched ones (which leaves them as they
        are): cheaper than gathering and scattering the matched columns.
        """
        ppp, ppv, pvv = f[PPP], f[PPV], f[PVV]
        matched = np.zeros(f.shape[1])
        matched[t] = 1.0
        gain = matched / (ppp + (self.config.meas_std * f[3]) ** 2)  # 1 / S, 0 if unmatched
        innov = np.zeros((4, f.shape[1]))
        innov[:, t] = z
        innov -= f[POS]
        k_pos = ppp * gain
        k_vel = ppv * gain
        f[POS] += k_pos * innov
        f[VEL] += k_vel * innov
        # P <- (I - K H) P, written out for the 2 x 2 block.
        pvv -= k_vel * ppv
        k_pos -= 1.0
        ppv *= -k_pos
        ppp *= -k_pos
        np.maximum(f[2:4], MIN_SIZE_PX, out=f[2:4])

    @staticmethod
    def _output(detections: Detections, f: np.ndarray, i: np.ndarray, det: np.ndarray) -> Tracks:
        """Confirmed tracks as the ``Tracks`` contract (copies, safe from later updates)."""
        sel = i[CONFIRMED].nonzero()[0]
        if not sel.size:
            return Tracks.empty()
        f, i, det = f.take(sel, axis=1), i.take(sel, axis=1), det[sel]
        xyxy = boxes(f[POS]).T.astype(np.float32, order="C")
        score = f[SCORE].astype(np.float32)
        seen = (det >= 0).nonzero()[0]
        xyxy[seen] = detections.xyxy[det[seen]]
        score[seen] = detections.score[det[seen]]
        # Columns are kept in birth order, so track ids are already ascending.
        return Tracks(
            xyxy=xyxy,
            score=score,
            class_id=f[VOTES].argmax(axis=0),
            track_id=i[ID],
            age=i[AGE],
            hits=i[HITS],
            time_since_update=i[TSU],
            det_index=det,
        )


def stream(rng: np.random.Generator, frames: int) -> list[tuple[Detections, int]]:
    """Objects moving across the image with noise, dropouts, clutter and corrupt rows."""
    n = int(rng.integers(0, 9))
    pos = np.column_stack([rng.uniform(0, 1200, n), rng.uniform(100, 600, n)])
    size = rng.uniform(8, 200, (n, 2))
    vel = rng.normal(0, 6, (n, 2))
    cls = rng.integers(0, N_CLASSES, n)
    t, out = int(rng.integers(0, 10**9)), []
    for _ in range(frames):
        steps = [33_333_333, 10**8, 3 * 10**8, 2 * 10**9, -(10**8)]
        t += int(rng.choice(steps, p=[0.45, 0.35, 0.1, 0.05, 0.05]))
        pos = pos + vel
        keep = rng.random(n) > 0.15
        xy = pos[keep] + rng.normal(0, 2, (int(keep.sum()), 2))
        wh = size[keep] * rng.uniform(0.9, 1.1, (int(keep.sum()), 2))
        xyxy = np.column_stack([xy - wh / 2, xy + wh / 2])
        score = rng.choice([0.05, 0.3, 0.55, 0.7, 0.95], xyxy.shape[0])
        c = cls[keep].copy()
        k = int(rng.integers(0, 4))  # clutter and corrupt rows
        junk = rng.uniform(-50, 1300, (k, 4))
        junk[rng.random((k, 4)) < 0.3] = rng.choice([np.nan, np.inf, -np.inf, 2e5, 0.0, -0.0])
        xyxy = np.vstack([xyxy, junk])
        score = np.concatenate([score, rng.choice([np.nan, 0.9, 0.6, -np.inf], k)])
        c = np.concatenate([c, rng.integers(-1, N_CLASSES + 2, k)])
        order = rng.permutation(len(c))
        dets = Detections.from_arrays(xyxy[order], score[order], c[order])
        out.append((dets, t))
    return out


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", range(30))
def test_kernels_give_the_numpy_tracker_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = TrackerConfig(
        min_hits=int(rng.choice([1, 3])), tentative_max_misses=int(rng.choice([0, 1, 2]))
    )
    fast, ref = Tracker(cfg), NumpyTracker(cfg)
    for dets, t in stream(rng, 80):
        a, b = fast.update(dets, t), ref.update(dets, t)
        for name in Tracks.__dataclass_fields__:
            assert same(getattr(a, name), getattr(b, name)), name
        assert same(fast._f, ref._f) and same(fast._i, ref._i)
        assert fast.skipped_detections == ref.skipped_detections and fast.resets == ref.resets
