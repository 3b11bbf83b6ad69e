"""Uncertainty of an intrinsics calibration: the fit's full covariance and the projection
uncertainty over the image.

**Covariance** (:mod:`calibration.covariance`): ``sigma^2 (J^T J)^-1`` over (fx, fy, cx, cy,
distortion..., each used view's rvec and tvec, any further parameters of the fit), with J
OpenCV's analytic Jacobian of the reprojection residuals and sigma the corner noise estimated
from them.

**Projection uncertainty** of pixel q at depth z (metres along the optical axis): the point
p = z (x, y, 1) on q's ray is fixed in the frames of the calibration boards, b_i = T_board_i
p with the estimated pose of each used view i (as mrcal defines it: the boards are the
world the calibration knows the camera in). A calibration with other noise moves the
intrinsics and the poses; the point then sits at p' = mean_i T_cam_board_i' b_i in the
camera and is seen at q' = project(p'; intrinsics'). To first order q' - q = G dtheta with
G = d q' / d theta, so its 2 x 2 covariance is ``G C G^T`` (C the covariance above). The
number reported is the worst-direction standard deviation, ``sqrt(max eigenvalue)``, pixels.

A board array (:mod:`calibration.array_fit`) is one rigid, non-planar target: its frame is
the boards' frame, the point is fixed in the array frame and the views' poses are the
images' array poses. When the fit estimated the boards' poses in the array, they are extra
parameters of the covariance; G does not depend on them (the point is fixed in the array
frame, defined by the reference board), but their uncertainty is in the figure through the
correlations: C is the block of intrinsics and views' poses with the board poses
marginalised out.

What it means: how far (1 sigma, pixels) the calibrated camera may put a point at that
depth in a scene it was calibrated against. It grows with the distance from the depths the
boards were at, because an uncertain camera rotation moves far points and an uncertain
translation near ones; a point fixed in the camera frame instead would depend on the
intrinsics alone and not on depth. Depth must be in the board's unit (metres when the board
square was given in metres).

It is first order: checked against refits it holds for pinhole5 and, inside the boards'
coverage, for fisheye; pinhole8's rational terms make refits heavy-tailed where the image
had no corners, so there the real spread can be far larger than the figure. To act on it:
where the map is high, add views with the board in that part of the image; if it is high
everywhere at far depths, add views with the board farther away and tilted more (they pin
down the rotation).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from adas.camera import DEFAULT_MOUNT, CameraModel, Mount
from adas.camera_band import horizon_band
from adas.camera_lens import Lens
from adas.detect.config import DetectConfig
from calibration.covariance import Covariance, fit_covariance, project_with_jacobian
from calibration.errors import CalibrationError
from calibration.intrinsics import IntrinsicsResult
from calibration.models import FloatArray, Model

log = logging.getLogger(__name__)

# Image grid of the projection map: this many columns; rows follow the aspect ratio.
GRID_COLS = 24
DEFAULT_DEPTHS_M = (20.0,)  # a car 20 m ahead: mid-way in the stack's 5-60 m ranging bins


def result_covariance(result: IntrinsicsResult) -> Covariance:
    """:func:`fit_covariance` of a calibration result (its used views and their fitted poses)."""
    return fit_covariance(
        result.model, result.fit_views, result.K, result.dist, result.fit_rvecs, result.fit_tvecs
    )


def unproject(model: Model, pixels: FloatArray, K: FloatArray, dist: FloatArray) -> FloatArray:
    """Undistorted normalised coordinates (x/z, y/z), M x 2, of pixels (M x 2)."""
    px = np.asarray(pixels, np.float64).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    if model is Model.FISHEYE:
        xy = cv2.fisheye.undistortPoints(px, K, dist, criteria=crit)
    else:
        xy = cv2.undistortPoints(px, K, dist, criteria=crit)
    return np.asarray(xy, np.float64).reshape(-1, 2)


def board_points(cov: Covariance, pixels: FloatArray, depth_m: float) -> list[FloatArray]:
    """The points on the pixels' rays at ``depth_m`` in each used view's board frame (M x 3)."""
    xy = unproject(cov.model, pixels, cov.K, cov.dist)
    p = np.column_stack([xy, np.ones(len(xy))]) * depth_m
    out = []
    for r, t in zip(cov.rvecs, cov.tvecs, strict=True):
        R = cv2.Rodrigues(r)[0]
        out.append((p - t) @ R)  # rows of R^T (p - t)
    return out


def projection_covariance(cov: Covariance, pixels: FloatArray, depth_m: float) -> FloatArray:
    """2 x 2 covariance (pixels^2), M x 2 x 2, of the projection of each pixel's point at
    ``depth_m``, as the module doc defines it."""
    if not (np.isfinite(depth_m) and depth_m > 0):
        msg = f"depth {depth_m!r}: expected a positive number of metres"
        raise CalibrationError(msg)
    nk, nv = len(cov.names), len(cov.rvecs)
    m = len(np.asarray(pixels).reshape(-1, 2))
    G = np.zeros((2 * m, nk + 6 * nv))
    for i, b in enumerate(board_points(cov, pixels, depth_m)):
        _, jk, jp = project_with_jacobian(cov.model, b, cov.rvecs[i], cov.tvecs[i], cov.K, cov.dist)
        G[:, :nk] = jk  # the same for every view: the point is the same in the camera
        G[:, nk + 6 * i : nk + 6 * i + 6] = jp / nv  # p' is the mean over the views
    Gm = G.reshape(m, 2, -1)
    return np.einsum("mip,pq,mjq->mij", Gm, cov.views, Gm)


def worst_sigma(cov2: FloatArray) -> FloatArray:
    """sqrt of the larger eigenvalue of each 2 x 2 covariance: the worst-direction 1 sigma."""
    return np.sqrt(np.maximum(np.linalg.eigvalsh(cov2)[..., -1], 0.0))


def image_grid(size: tuple[int, int], cols: int = GRID_COLS) -> tuple[FloatArray, FloatArray]:
    """Cell-centre columns and rows (pixels) of a grid over the image, square-ish cells."""
    w, h = size
    rows = max(2, round(cols * h / w))
    return (np.arange(cols) + 0.5) * w / cols - 0.5, (np.arange(rows) + 0.5) * h / rows - 0.5


def sigma_map(
    cov: Covariance, size: tuple[int, int], depth_m: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(u, v, sigma): grid columns, rows and the worst-direction 1 sigma (rows x cols, px)."""
    u, v = image_grid(size)
    uu, vv = np.meshgrid(u, v)
    px = np.column_stack([uu.ravel(), vv.ravel()])
    return u, v, worst_sigma(projection_covariance(cov, px, depth_m)).reshape(len(v), len(u))


def camera_model(
    K: FloatArray, dist: FloatArray, size: tuple[int, int], model: Model,
    mount: Mount = DEFAULT_MOUNT,
) -> CameraModel:  # fmt: skip
    """The calibrated camera as adas uses it (its lens from ``model``), on ``mount``."""
    lens = Lens.FISHEYE if model is Model.FISHEYE else Lens.PINHOLE
    return CameraModel(K, dist, size[0], size[1], mount=mount, lens=lens)


def detection_band(camera: CameraModel) -> tuple[int, int]:
    """Rows [y0, y1) where adas looks for vehicles: from ``DetectConfig.band_up_deg`` above
    the horizon to ``band_down_deg`` below it (90: the image bottom), through adas's own
    :func:`adas.camera_band.horizon_band` (a fisheye bends the band's edges)."""
    cfg = DetectConfig()
    size = (camera.width, camera.height)
    return horizon_band(camera, size, cfg.band_up_deg, cfg.band_down_deg)


LEVEL_BAND = (
    "no mount given: a level camera (pitch and roll 0, adas's default mount), so the horizon "
    "is the row cy at the centre column"
)


def band_stats(
    u: FloatArray, v: FloatArray, sigma: FloatArray, rows: tuple[int, int]
) -> dict[str, float | None]:
    """Median and max of a sigma map over the image and over the grid rows inside ``rows``."""
    inside = (v >= rows[0]) & (v < rows[1])
    band = sigma[inside]
    return {
        "median_px": float(np.median(sigma)),
        "max_px": float(np.max(sigma)),
        "band_median_px": float(np.median(band)) if band.size else None,
        "band_max_px": float(np.max(band)) if band.size else None,
    }


def projection_summary(
    cov: Covariance, size: tuple[int, int], depths_m: Sequence[float] = DEFAULT_DEPTHS_M,
    *, camera: CameraModel | None = None, band_note: str = LEVEL_BAND,
) -> dict[str, Any]:  # fmt: skip
    """JSON-ready projection uncertainty: per depth the median and max over the image and
    over the detection band, and the map at the first depth (for the report and ``mount``)."""
    if not depths_m:
        msg = "no depth given for the projection uncertainty"
        raise CalibrationError(msg)
    if camera is None:  # level, on adas's default mount: the horizon is the row cy
        camera = camera_model(cov.K, cov.dist, size, cov.model)
    horizon = camera.horizon_v()
    rows = detection_band(camera)
    cfg = DetectConfig()
    maps = [sigma_map(cov, size, float(d)) for d in depths_m]
    per_depth = [
        {"depth_m": float(d), **band_stats(u, v, sigma, rows)}
        for d, (u, v, sigma) in zip(depths_m, maps, strict=True)
    ]
    u, v, sigma = maps[0]
    return {
        "definition": (
            "worst-direction 1 sigma (px, sqrt of the larger eigenvalue of the 2x2 covariance) "
            "of the projection of the point at depth_m (along the optical axis) on each "
            "pixel's ray, the point fixed in the calibration boards' frames (mean over the "
            "views); from the fit's covariance with the corner noise estimated from the "
            "residuals (calibration/uncertainty.py)"
        ),
        "corner_noise_px": cov.sigma_px,
        "dof": cov.dof,
        "band": {
            "rows": list(rows), "horizon_v": float(horizon), "up_deg": cfg.band_up_deg,
            "down_deg": cfg.band_down_deg, "assumption": band_note,
        },
        "depths": per_depth,
        "map": {
            "depth_m": float(depths_m[0]), "u": u.tolist(), "v": v.tolist(),
            "sigma_px": sigma.tolist(),
        },
    }  # fmt: skip


def covariance_summary(cov: Covariance) -> dict[str, Any]:
    """The intrinsic parameters' covariance block as JSON (what ``mount`` reads)."""
    return {"names": list(cov.names), "matrix": cov.intrinsics.tolist()}


def summary_fields(
    result: IntrinsicsResult, depths_m: Sequence[float],
    covariance: Callable[[], Covariance] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The intrinsics summary's uncertainty keys: ``projection_uncertainty`` and
    ``intrinsics_covariance``; when the covariance cannot be formed, the reason instead.
    ``covariance`` forms the fit's covariance (default: :func:`result_covariance`; a fit with
    parameters beyond the views' poses, a board array with estimated board poses, passes its
    own). A depth that is not a positive number raises CalibrationError (a usage error)."""
    bad = [d for d in depths_m if not (math.isfinite(d) and d > 0)]
    if bad or not depths_m:
        msg = f"uncertainty depths {list(depths_m)}: expected positive numbers of metres"
        raise CalibrationError(msg)
    try:
        cov = covariance() if covariance is not None else result_covariance(result)
        return {
            "projection_uncertainty": projection_summary(cov, result.image_size, depths_m),
            "intrinsics_covariance": covariance_summary(cov),
        }
    except CalibrationError as exc:
        log.warning("no projection uncertainty: %s", exc)
        return {"projection_uncertainty": {"error": str(exc)}}
