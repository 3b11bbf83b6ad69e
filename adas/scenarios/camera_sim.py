"""The scenario simulator's camera: 3D boxes projected as a detector would report them.

A KITTI-like camera (focal length 721.5 px) on a 1280 x 720 sensor, or a fisheye of the same
central focal length on 1920 x 1080 (about 150 deg diagonal); each frame the objects' 3D boxes
are cut at a near plane, clipped to the image as a detector sees a partly visible car, and
given edge noise, a slow box jitter and dropouts (:class:`SensorModel`). Through a fisheye a
box's straight edges bend, so its image box is the extent of points sampled along its edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adas.camera import CameraModel, Lens, Mount
from adas.synthetic import BOX_EDGES, edge_points
from adas.types import Detections, FloatArray

__all__ = [
    "EDGE_SAMPLES", "FRAME_NS", "NEAR_PLANE_M", "SIM_FISHEYE_D", "SIM_FISHEYE_SIZE", "SIM_K",
    "SIM_SIZE", "CameraSim", "SensorModel", "ar1_step", "clip_hidden", "occluded_fractions",
    "sim_camera", "visible_boxes",
]  # fmt: skip

FRAME_NS = 33_333_333  # 30 fps camera
# KITTI colour camera focal length (adas/evaluate/bench.py) on a 1280 x 720 sensor: the taller
# image keeps a car's bottom edge in view down to ~3.3 m with the camera 1.65 m high.
SIM_K = ((721.5377, 0.0, 639.5), (0.0, 721.5377, 359.5), (0.0, 0.0, 1.0))
SIM_SIZE = (1280, 720)
# The fisheye: SIM_K's focal length at the centre (a far car is as large as through the
# pinhole), equidistant k1..k4 chosen so that the 1920 x 1080 sensor's diagonal sees about
# 150 deg (the image corner, 1101 px from the centre, is a ray 74.9 deg off the axis).
SIM_FISHEYE_D = (0.08, 0.01, 0.0, 0.0)
SIM_FISHEYE_SIZE = (1920, 1080)
# Points per box edge through a fisheye: the bent edge's extreme row or column lies within
# 1/64 of the edge of a sample, where the curve is flat to ~(edge/64)^2 times its curvature,
# < 0.05 px for vehicle edges (tests/adas/scenarios/test_fisheye_sim.py checks against 2001).
EDGE_SAMPLES = 33
NEAR_PLANE_M = 0.2  # box parts nearer to the camera than this are not visible


def sim_camera(mount: Mount, lens: Lens = Lens.PINHOLE, *, wide: bool = True) -> CameraModel:
    """The simulated camera on ``mount``: KITTI focal length, 1280 x 720, no distortion; or
    (``lens`` FISHEYE) the same focal length at the centre of a 1920 x 1080 fisheye (``wide``),
    else of the sensor that sees the pinhole's field of view (1094 x 680 px: each half-side
    at the pinhole's half-side angle, through SIM_FISHEYE_D)."""
    if lens is Lens.PINHOLE:
        w, h = SIM_SIZE
        return CameraModel(K=np.array(SIM_K), dist=np.zeros(5), width=w, height=h, mount=mount)
    w, h = SIM_FISHEYE_SIZE if wide else _matched_fisheye_size()
    K = np.array(SIM_K)
    K[:2, 2] = 0.5 * (w - 1), 0.5 * (h - 1)
    return CameraModel(
        K=K, dist=np.array(SIM_FISHEYE_D), width=w, height=h, mount=mount, lens=Lens.FISHEYE
    )


def _matched_fisheye_size() -> tuple[int, int]:
    """Sensor size at which the fisheye sees the pinhole's horizontal and vertical field."""
    f, k = SIM_K[0][0], SIM_FISHEYE_D
    out = []
    for half_px in (0.5 * (SIM_SIZE[0] - 1), 0.5 * (SIM_SIZE[1] - 1)):
        t = math.atan(half_px / f)
        t_d = t * (1 + k[0] * t**2 + k[1] * t**4 + k[2] * t**6 + k[3] * t**8)
        out.append(round(2.0 * f * t_d) + 1)
    return out[0], out[1]


@dataclass(frozen=True)
class SensorModel:
    """Simulated detector output quality and camera motion."""

    edge_sigma_px: float = 1.0  # white noise per box edge per frame
    jitter_rel: float = 0.01  # slow jitter of box centre and size, fraction of the box size
    jitter_tau_s: float = 0.5  # its correlation time
    miss_prob: float = 0.03  # missed detections, independent per frame
    score: float = 0.9
    score_sigma: float = 0.03
    min_visible_px: float = 6.0  # a visible part narrower or lower than this is not detected
    min_visible_fraction: float = 0.2  # ... or smaller than this part of the whole box
    pitch_per_decel_deg: float = 0.15  # nose-down pitch per m/s^2 of braking


def visible_boxes(
    camera: CameraModel, corners: FloatArray, pitch_rad: float, sensor: SensorModel
) -> FloatArray:
    """N x 4 image extents of the visible parts of N x 8 x 3 vehicle-frame box corners.

    Parts nearer than ``NEAR_PLANE_M`` in front of the camera are cut off (the box edges that
    cross the plane add their crossing points), so a car beside the camera keeps the extent of
    its visible part; the box is then clipped to the image. Through a fisheye the extent is that
    of points along the edges (a bent edge bulges past its corners); points outside the lens's
    field are dropped. NaN rows are not detected.
    """
    fisheye = camera.lens is Lens.FISHEYE
    n = corners.shape[0]
    out = np.full((n, 4), np.nan)
    axis = camera.rotation(pitch_rad)[:, 2]
    for i in range(n):
        c = corners[i]
        depth = (c - camera.position_m) @ axis - NEAR_PLANE_M
        pts = [c[depth >= 0.0]]
        for a, b in BOX_EDGES:
            if depth[a] * depth[b] < 0.0:
                f = depth[a] / (depth[a] - depth[b])
                pts.append((c[a] + f * (c[b] - c[a]))[None])
        p = np.concatenate(pts)
        if p.shape[0] < 2:
            continue
        uv = camera.project_vehicle(
            edge_points(c, depth, EDGE_SAMPLES) if fisheye else p, pitch_rad=pitch_rad
        )
        uv = uv[np.isfinite(uv).all(1)]
        if uv.shape[0] < 2:
            continue
        full = np.concatenate([uv.min(0), uv.max(0)])
        box = np.clip(full, 0.0, [camera.width - 1.0, camera.height - 1.0] * 2)
        w, h = box[2] - box[0], box[3] - box[1]
        # Truncation by the image border: a sliver of a car is not detected. (A car cut by
        # the near plane, beside us, is judged by its visible size alone.)
        area = (full[2] - full[0]) * (full[3] - full[1]) if len(pts) == 1 else w * h
        if min(w, h) >= sensor.min_visible_px and w * h >= sensor.min_visible_fraction * area:
            out[i] = box
    return out


def clip_hidden(
    boxes: FloatArray, rows: FloatArray, sensor: SensorModel
) -> tuple[FloatArray, FloatArray]:
    """Boxes cut at the image row below which the road (a crest) hides them, and the hidden
    fraction of each box. A box left lower or smaller than :func:`visible_boxes` accepts
    becomes NaN (not detected)."""
    out = boxes.copy()
    hidden = np.zeros(boxes.shape[0])
    for i in np.flatnonzero(np.isfinite(boxes).all(1) & (boxes[:, 3] > rows)):
        x1, y1, x2, y2 = boxes[i]
        top = min(max(rows[i], y1), y2)
        hidden[i] = (y2 - top) / max(y2 - y1, 1e-9)
        if min(x2 - x1, top - y1) < sensor.min_visible_px or (
            1.0 - hidden[i] < sensor.min_visible_fraction
        ):
            out[i] = np.nan
        else:
            out[i, 3] = top
    return out, hidden


def _union_area(rects: list[FloatArray]) -> float:
    """Area covered by the union of axis-aligned rectangles (x1, y1, x2, y2), exactly."""
    if not rects:
        return 0.0
    r = np.array(rects)
    xs, ys = np.unique(r[:, [0, 2]]), np.unique(r[:, [1, 3]])
    cx, cy = 0.5 * (xs[1:] + xs[:-1]), 0.5 * (ys[1:] + ys[:-1])
    inside = np.zeros((cx.size, cy.size), bool)
    for x1, y1, x2, y2 in r:
        inside |= ((cx > x1) & (cx < x2))[:, None] & ((cy > y1) & (cy < y2))[None]
    return float((np.diff(xs)[:, None] * np.diff(ys)[None] * inside).sum())


def occluded_fractions(
    boxes: FloatArray, depth_m: FloatArray, hidden: FloatArray | None = None
) -> FloatArray:
    """Per box, the fraction of its area covered by nearer boxes (smaller ``depth_m``) and by
    a band hidden at its bottom (``hidden`` fraction of its height, a crest); NaN boxes
    neither cover nor are covered (fraction 0)."""
    n = boxes.shape[0]
    out = np.zeros(n)
    ok = np.isfinite(boxes).all(1)
    for i in np.flatnonzero(ok):
        b = boxes[i]
        area = (b[2] - b[0]) * (b[3] - b[1])
        if area <= 0.0:
            continue
        rects = []
        for j in np.flatnonzero(ok & (depth_m < depth_m[i])):
            r = np.concatenate([np.maximum(b[:2], boxes[j, :2]), np.minimum(b[2:], boxes[j, 2:])])
            if r[2] > r[0] and r[3] > r[1]:
                rects.append(r)
        if hidden is not None and hidden[i] > 0.0:
            rects.append(np.array([b[0], b[3] - hidden[i] * (b[3] - b[1]), b[2], b[3]]))
        out[i] = _union_area(rects) / area
    return out


def ar1_step(prev: FloatArray | None, fresh: FloatArray, tau_s: float) -> FloatArray:
    """One camera frame of a unit-variance first-order process with correlation time ``tau_s``
    (``fresh``: this frame's standard normal draws; the first frame is ``fresh`` itself)."""
    if prev is None:
        return fresh
    a = math.exp(-FRAME_NS * 1e-9 / tau_s)
    return a * prev + math.sqrt(1.0 - a * a) * fresh


class CameraSim:
    """Detector-like boxes of 3D objects: clipped, noisy, jittering, sometimes missed."""

    def __init__(
        self, camera: CameraModel, sensor: SensorModel, rng: np.random.Generator,
        occlusion: bool = False,
    ) -> None:  # fmt: skip
        self.camera, self.sensor, self.rng = camera, sensor, rng
        self.occlusion = occlusion  # hide boxes covered by nearer ones (the scenario says)
        self._jitter: FloatArray | None = None
        self.visible: np.ndarray = np.zeros(0, bool)  # per object, last frame: a box, not hidden

    def detect(
        self, corners: FloatArray, classes: list[int], pitch_rad: float,
        hidden_below: FloatArray | None = None,
    ) -> tuple[Detections, list[int]]:  # fmt: skip
        """This frame's detections and, per detection row, the index of its object.

        ``hidden_below``: per object, the image row below which the road hides it (a crest).
        """
        s, rng, cam = self.sensor, self.rng, self.camera
        boxes = visible_boxes(cam, corners, pitch_rad, s)
        if hidden_below is not None:
            boxes = clip_hidden(boxes, hidden_below, s)[0]
        if self.occlusion:  # too little left beside nearer boxes: as too little in the image
            covered = occluded_fractions(boxes, corners[:, :, 0].min(1))
            boxes[covered > 1.0 - s.min_visible_fraction] = np.nan
        self.visible = np.asarray(np.isfinite(boxes).all(1), bool)
        n = boxes.shape[0]
        self._jitter = ar1_step(self._jitter, rng.standard_normal((n, 3)), s.jitter_tau_s)
        edge = rng.standard_normal((n, 4)) * s.edge_sigma_px
        missed = rng.random(n) < s.miss_prob
        limit = np.array([cam.width - 1.0, cam.height - 1.0] * 2)
        rows, obj = [], []
        for i in np.flatnonzero(np.isfinite(boxes).all(1) & ~missed):
            box = boxes[i]
            size = box[2:] - box[:2]
            centre = 0.5 * (box[:2] + box[2:]) + self._jitter[i, :2] * s.jitter_rel * size
            half = 0.5 * size * (1.0 + s.jitter_rel * self._jitter[i, 2])
            noisy = np.concatenate([centre - half, centre + half]) + edge[i]
            # Edges cut by the image border stay on it, as a detector reports them.
            cut = (box <= 0.0) | (box >= limit)
            noisy[cut] = box[cut]
            noisy = np.clip(noisy, 0.0, limit)
            if (noisy[2:] - noisy[:2] >= 1.0).all():
                rows.append(noisy)
                obj.append(int(i))
        score = np.clip(s.score + s.score_sigma * rng.standard_normal(len(rows)), 0.3, 0.99)
        dets = Detections.from_arrays(
            np.array(rows).reshape(-1, 4), score, [classes[i] for i in obj]
        )
        return dets, obj
