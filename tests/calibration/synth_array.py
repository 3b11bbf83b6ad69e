"""Synthetic board arrays: the corners projected with noise (statistics) and a truly rendered
image of the whole array (the detection path), through a known camera (test helper).

Rendering traces each pixel to its ray (``undistortPoints``), intersects it with every
board's plane, keeps the nearest board whose printed page the ray hits and looks the pixel up
in that board's PNG (as :func:`tests.calibration.synth.render_view` does for one board).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from calibration.board_array import ArraySpec
from calibration.boards import board_ppm, render_png
from calibration.detect import Detection
from tests.calibration.synth import Camera, compose, projected_detection

FloatArray = npt.NDArray[np.float64]
_UNDISTORT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
# The test camera: 1920 x 1080, about 67 x 41 degrees, moderate barrel distortion.
CAMERA = Camera(
    np.array([[1450.0, 0.0, 968.0], [0.0, 1446.0, 532.0], [0.0, 0.0, 1.0]]),
    np.array([-0.12, 0.09, 0.0006, -0.0004, -0.03]),
    (1920, 1080),
)


def array_pose(
    array: ArraySpec,
    cam: Camera,
    rng: np.random.Generator,
    *,
    fill: float = 0.8,
    turn_deg: float = 25.0,
) -> tuple[FloatArray, FloatArray]:
    """A pose T_cam_array (rvec, tvec) that shows the whole array over about ``fill`` of the
    image width, turned up to 15 degrees about each axis and shifted a little off centre."""
    pts = array.array_points(np.arange(array.n_boards * array.corners_per_board))
    centre = pts.mean(axis=0)
    extent = np.ptp(pts[:, :2], axis=0) + 2 * array.board.square_m  # width, height, metres
    z = max(cam.K[i, i] * extent[i] / (fill * cam.size[i]) for i in (0, 1))
    R = cv2.Rodrigues(np.radians(rng.uniform(-turn_deg, turn_deg, 3) * np.array([1, 1, 0.5])))[0]
    shift = rng.uniform(-0.04, 0.04, 2) * np.array(cam.size)
    aim = np.linalg.solve(cam.K, [cam.size[0] / 2 + shift[0], cam.size[1] / 2 + shift[1], 1.0])
    tvec = aim * z - R @ centre
    return cv2.Rodrigues(R)[0].ravel(), tvec


def projected_array_detection(
    name: str,
    array: ArraySpec,
    cam: Camera,
    rvec: FloatArray,
    tvec: FloatArray,
    rng: np.random.Generator,
    *,
    noise_px: float,
    true_rvecs: FloatArray | None = None,
    true_tvecs: FloatArray | None = None,
) -> Detection:
    """Every board's corners projected through ``cam`` with the array at (rvec, tvec) and the
    boards at their true poses (default: the designed ones) plus Gaussian noise; ids global,
    object points from the *designed* spec, as detection reports them."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = cv2.Rodrigues(np.asarray(rvec, np.float64))[0], tvec
    rvs = array.rvecs if true_rvecs is None else true_rvecs
    tvs = array.tvecs if true_tvecs is None else true_tvecs
    ids, px = [], []
    for b in range(array.n_boards):
        rb, tb = compose(T, rvs[b], tvs[b])
        det = projected_detection(name, array.board_spec(b), cam, rb, tb, rng, noise_px=noise_px)
        if det is not None:
            ids.append(det.ids.astype(np.int64) + b * array.corners_per_board)
            px.append(det.image_points)
    all_ids = np.concatenate(ids)
    obj = array.array_points(all_ids).astype(np.float32)
    return Detection(name, "", np.concatenate(px), obj, all_ids.astype(np.int32), "synthetic")


def render_array(
    array: ArraySpec,
    cam: Camera,
    rvec: FloatArray,
    tvec: FloatArray,
    rng: np.random.Generator,
    *,
    dpi: float = 200.0,
    margin_m: float = 0.01,
) -> npt.NDArray[np.uint8]:
    """Grey image of the whole array at pose T_cam_array = (rvec, tvec); see the module doc."""
    w, h = cam.size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    px = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    xy = cv2.undistortPoints(px, cam.K, cam.dist, criteria=_UNDISTORT).reshape(-1, 2)
    rays = np.column_stack([xy, np.ones(len(xy))]).T
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = cv2.Rodrigues(np.asarray(rvec, np.float64))[0], tvec
    margin = margin_m  # the printed sheet's white margin around each board (board's default)
    bw, bh = array.board.size_m
    ppm = board_ppm(dpi)
    best = np.full(w * h, np.inf)
    out = np.full(w * h, 90.0, np.float32)  # background grey
    for b in range(array.n_boards):
        rb, tb = compose(T, array.rvecs[b], array.tvecs[b])
        R = cv2.Rodrigues(rb)[0]
        H = np.column_stack([R[:, 0], R[:, 1], tb])
        q = np.linalg.solve(H, rays)
        with np.errstate(divide="ignore", invalid="ignore"):
            X, Y, depth = q[0] / q[2], q[1] / q[2], 1.0 / q[2]
        hit = (depth > 0) & (-margin < X) & (bw + margin > X) & (-margin < Y) & (bh + margin > Y)
        hit &= depth < best
        if not hit.any():
            continue
        texture = render_png(array.board_spec(b), dpi=dpi, margin_m=margin).astype(np.float32)
        texture = cv2.GaussianBlur(texture, (0, 0), 1.5)
        mx = np.where(hit, (X + margin) * ppm - 0.5, -1.0).astype(np.float32).reshape(h, w)
        my = np.where(hit, (Y + margin) * ppm - 0.5, -1.0).astype(np.float32).reshape(h, w)
        val = cv2.remap(texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[hit] = val.ravel()[hit]
        best[hit] = depth[hit]
    img = 40.0 + out.reshape(h, w) * (190.0 / 255.0)  # print contrast as in synth.render_view
    img = cv2.GaussianBlur(img, (0, 0), 0.6) + rng.normal(0.0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
