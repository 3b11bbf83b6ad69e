"""Synthetic calibration images: a rendered board seen through a known camera (test helper).

Each output pixel is traced back through the distortion (``undistortPoints``) to a ray,
intersected with the board plane (the homography [r1 r2 t] inverted) and looked up in the
board's printable PNG with ``cv2.remap``; so the corners' true pixels are exactly the
projections of the board's corners through the known K, distortion and pose. A camera of
``model`` fisheye is an equidistant fisheye (OpenCV's k1..k4): rays and projections go through
``cv2.fisheye`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from calibration.boards import BoardSpec, board_ppm, render_png
from calibration.detect import Detection, DetectionSet
from calibration.intrinsics import Model

_UNDISTORT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)


@dataclass(frozen=True)
class Camera:
    """Ground truth: intrinsics (pixels), distortion coefficients (5 OpenCV ones for a pinhole,
    k1..k4 for a fisheye), image size and lens model."""

    K: npt.NDArray[np.float64]
    dist: npt.NDArray[np.float64]
    size: tuple[int, int]
    model: Model = Model.PINHOLE5

    @property
    def fisheye(self) -> bool:
        """True for an equidistant fisheye."""
        return self.model is Model.FISHEYE

    def rays(self, pixels: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Normalised image coordinates (x/z, y/z; N x 2) of native pixels (N x 2)."""
        px = np.asarray(pixels, np.float64).reshape(-1, 1, 2)
        if self.fisheye:
            out = cv2.fisheye.undistortPoints(px, self.K, self.dist, criteria=_UNDISTORT)
        else:
            out = cv2.undistortPoints(px, self.K, self.dist, criteria=_UNDISTORT)
        return np.asarray(out, np.float64).reshape(-1, 2)

    def project(
        self, points: npt.ArrayLike, rvec: npt.ArrayLike, tvec: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Pixels (N x 2) of points (N x 3) at pose (rvec, tvec)."""
        obj = np.asarray(points, np.float64).reshape(-1, 1, 3)
        rv = np.asarray(rvec, np.float64).reshape(3, 1)
        tv = np.asarray(tvec, np.float64).reshape(3, 1)
        if self.fisheye:
            px, _ = cv2.fisheye.projectPoints(obj, rv, tv, self.K, self.dist)
        else:
            px, _ = cv2.projectPoints(obj, rv, tv, self.K, self.dist)
        return np.asarray(px, np.float64).reshape(-1, 2)


def random_poses(n: int, spec: BoardSpec, cam: Camera, rng: np.random.Generator) -> list[tuple]:
    """Board poses (rvec, tvec) spread over the image: tilted up to ~40 degrees, part of the
    board often outside the image (partial views)."""
    w_m, h_m = spec.size_m
    poses = []
    for _ in range(n):
        angles = np.radians(rng.uniform(-40, 40, 3) * np.array([1, 1, 0.4]))
        R = cv2.Rodrigues(angles)[0]
        z = rng.uniform(0.45, 0.8)
        # board centre aimed at a random image point, which may push part of it outside
        u = rng.uniform(0.1, 0.9) * cam.size[0]
        v = rng.uniform(0.1, 0.9) * cam.size[1]
        if cam.fisheye:  # the pixel's true ray (the pinhole one would aim far too central)
            ray = np.append(cam.rays([[u, v]])[0], 1.0)
        else:
            ray = np.linalg.solve(cam.K, [u, v, 1.0])
        centre = ray * z
        tvec = centre - R @ np.array([w_m / 2, h_m / 2, 0.0])
        poses.append((cv2.Rodrigues(R)[0].ravel(), tvec))
    return poses


def render_view(
    spec: BoardSpec,
    cam: Camera,
    rvec: npt.NDArray[np.float64],
    tvec: npt.NDArray[np.float64],
    rng: np.random.Generator,
    *,
    occlude: float = 0.0,
    dpi: float = 150.0,
) -> npt.NDArray[np.uint8]:
    """Grey image of the board at pose (rvec, tvec); ``occlude`` > 0 paints a dark band over
    that fraction of the image width at a random place (a hand, a cable...)."""
    margin = 2 * spec.square_m
    texture = render_png(spec, dpi=dpi, margin_m=margin).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.5)
    ppm = board_ppm(dpi)
    w, h = cam.size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    px = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    xy = cam.rays(px)
    R = cv2.Rodrigues(np.asarray(rvec, np.float64))[0]
    H = np.column_stack([R[:, 0], R[:, 1], np.asarray(tvec, np.float64)])
    b = np.linalg.solve(H, np.column_stack([xy, np.ones(len(xy))]).T)
    with np.errstate(divide="ignore", invalid="ignore"):
        X, Y = b[0] / b[2], b[1] / b[2]
    behind = ~(b[2] > 0)
    map_x = ((X + margin) * ppm - 0.5).astype(np.float32)
    map_y = ((Y + margin) * ppm - 0.5).astype(np.float32)
    map_x[behind] = -1e6
    img = cv2.remap(
        texture, map_x.reshape(h, w), map_y.reshape(h, w), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=90.0,
    )  # fmt: skip
    img = 40.0 + img * (190.0 / 255.0)  # print contrast: black ~40, white ~230
    if occlude > 0:
        band = int(occlude * w)
        x0 = int(rng.uniform(0, w - band))
        img[:, x0 : x0 + band] = 25.0
    img = cv2.GaussianBlur(img, (0, 0), 0.6) + rng.normal(0.0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def projected_detection(
    name: str,
    spec: BoardSpec,
    cam: Camera,
    rvec: npt.ArrayLike,
    tvec: npt.ArrayLike,
    rng: np.random.Generator,
    *,
    noise_px: float = 0.0,
    min_corners: int = 6,
) -> Detection | None:
    """The board's inner corners projected through ``cam`` at pose (rvec, tvec) with Gaussian
    pixel noise, keeping those in front of the camera and inside the image (a partial view,
    ids kept); None when fewer than ``min_corners`` remain."""
    obj = spec.chessboard_object_points().astype(np.float64)
    rv = np.asarray(rvec, np.float64).reshape(3)
    tv = np.asarray(tvec, np.float64).reshape(3)
    depth = (cv2.Rodrigues(rv)[0] @ obj.T).T[:, 2] + tv[2]
    px = cam.project(obj, rv, tv) + rng.normal(0.0, noise_px, (len(obj), 2))
    keep = (depth > 0) & (px[:, 0] > 0) & (px[:, 0] < cam.size[0] - 1)
    keep &= (px[:, 1] > 0) & (px[:, 1] < cam.size[1] - 1)
    if keep.sum() < min_corners:
        return None
    ids = np.flatnonzero(keep).astype(np.int32)
    return Detection(
        name, "", px[keep].astype(np.float32), obj[keep].astype(np.float32), ids, "synthetic"
    )


def detection_set(detections: list[Detection], cam: Camera) -> DetectionSet:
    """A DetectionSet of synthetic detections (no layout, 6 corners minimum)."""
    return DetectionSet(tuple(detections), cam.size, "n/a", 6)


def compose(
    T_cam_ref: npt.NDArray[np.float64], rvec: npt.ArrayLike, tvec: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Board pose (rvec, tvec) in the reference camera -> the pose in a camera ``T_cam_ref``
    (4 x 4) maps the reference frame to."""
    R = T_cam_ref[:3, :3] @ cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3))[0]
    t = T_cam_ref[:3, :3] @ np.asarray(tvec, np.float64).reshape(3) + T_cam_ref[:3, 3]
    return cv2.Rodrigues(R)[0].ravel(), t


def rig_views(
    spec: BoardSpec, cams: dict[str, Camera], T_cam_ref: dict[str, npt.NDArray[np.float64]],
    reference: str, n: int, noise_px: float, rng: np.random.Generator,
) -> dict[str, DetectionSet]:  # fmt: skip
    """The board at ``n`` random poses (spread over camera ``reference``'s image) seen by every
    camera of a rig (``T_cam_ref``: reference -> camera), with ``noise_px`` corner noise; the
    views are named ``calNN.png`` in every camera, as a rig's image folders would be."""
    dets: dict[str, list[Detection]] = {c: [] for c in cams}
    for i, (rvec, tvec) in enumerate(random_poses(n, spec, cams[reference], rng)):
        for c, cam in cams.items():
            rv, tv = compose(T_cam_ref[c], rvec, tvec)
            d = projected_detection(f"cal{i:02d}.png", spec, cam, rv, tv, rng, noise_px=noise_px)
            if d is not None:
                dets[c].append(d)
    return {c: detection_set(v, cams[c]) for c, v in dets.items()}
