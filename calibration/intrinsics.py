"""Single-camera intrinsics: calibration, outlier-view rejection, held-out error, uncertainty.

Models: ``pinhole5`` (k1 k2 p1 p2 k3), ``pinhole8`` (rational, + k4 k5 k6) and ``fisheye``
(equidistant, k1..k4). Errors are reprojection errors in pixels; a view's RMS is over its
corners' 2-D residual lengths, the overall RMS over every corner of the used views (what
``cv2.calibrateCamera`` returns).

Outlier views are rejected one at a time, worst first: a view whose RMS exceeds
``factor`` x the median view RMS (and the absolute floor ``floor_px``, so a set that is
uniformly excellent keeps its views) is dropped and the camera recalibrated, until no view
exceeds the threshold. Every rejection is returned with its reason. The held-out error
calibrates without each used view in turn, finds that view's pose with ``solvePnP`` under the
held-out intrinsics and reprojects it: an honest estimate of the error on new images.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from calibration.covariance import fit_covariance, intrinsic_names
from calibration.coverage import coverage_map
from calibration.detect import Detection
from calibration.errors import CalibrationError, NotEnoughViewsError
from calibration.models import DIST_NAMES, FloatArray, Model

log = logging.getLogger(__name__)

REJECT_FACTOR = 3.0  # x median view RMS; a view 3x worse than typical has a real defect
REJECT_FLOOR_PX = 0.5  # never reject a view whose RMS is below this, however good the rest
MAX_REJECT_FRACTION = 0.25  # rejecting more than this means the model, not the views, is wrong
MIN_VIEWS = 3
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


@dataclass(frozen=True)
class Rejection:
    """A view dropped from the calibration and why."""

    name: str
    rms_px: float
    threshold_px: float
    reason: str


@dataclass(frozen=True)
class ViewError:
    """Reprojection error of one view: in the fit (``rms_px``) and held out of it."""

    name: str
    count: int
    rms_px: float
    heldout_rms_px: float | None
    used: bool


@dataclass(frozen=True, eq=False)
class IntrinsicsResult:
    """A calibrated camera with its quality figures (pixels; ``std`` in the parameters' units)."""

    model: Model
    K: FloatArray
    dist: FloatArray
    image_size: tuple[int, int]  # width, height
    rms_px: float
    heldout_rms_px: float | None
    std: dict[str, float]
    views: tuple[ViewError, ...]  # the used views, then the rejected ones
    rejected: tuple[Rejection, ...]
    coverage: npt.NDArray[np.int64]  # rows x cols corner counts of the used views
    # The final fit's views and their board poses (for calibration.uncertainty's covariance)
    fit_views: tuple[Detection, ...] = ()
    fit_rvecs: tuple[FloatArray, ...] = ()
    fit_tvecs: tuple[FloatArray, ...] = ()

    @property
    def fx(self) -> float:
        """Horizontal focal length, pixels."""
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        """Vertical focal length, pixels."""
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        """Principal point column, pixels."""
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        """Principal point row, pixels."""
        return float(self.K[1, 2])

    @property
    def used(self) -> tuple[str, ...]:
        """Names of the views the final calibration used."""
        return tuple(v.name for v in self.views if v.used)


@dataclass(frozen=True)
class _Fit:
    rms_px: float
    K: FloatArray
    dist: FloatArray
    rvecs: tuple[FloatArray, ...]
    tvecs: tuple[FloatArray, ...]


def _as_obj(d: Detection) -> FloatArray:
    return np.asarray(d.object_points, np.float64).reshape(-1, 1, 3)


def _as_img(d: Detection) -> FloatArray:
    return np.asarray(d.image_points, np.float64).reshape(-1, 1, 2)


def _fisheye_flag(name: str) -> int:
    """A fisheye calibration flag: ``cv2.fisheye.NAME`` in OpenCV 4, ``cv2.NAME`` in OpenCV 5
    (the two have different values, so the 4.x one must win where it exists)."""
    value = getattr(cv2.fisheye, name, None)
    return int(getattr(cv2, name) if value is None else value)


def _fit(
    model: Model,
    views: Sequence[Detection],
    size: tuple[int, int],
    guess: _Fit | None = None,
) -> _Fit:
    """One calibration of ``model`` on ``views`` (starting from ``guess`` when given)."""
    obj = [_as_obj(v) for v in views]
    img = [_as_img(v) for v in views]
    K0 = None if guess is None else guess.K.copy()
    try:
        if model is Model.FISHEYE:
            flags = _fisheye_flag("CALIB_RECOMPUTE_EXTRINSIC") | _fisheye_flag("CALIB_FIX_SKEW")
            D0 = np.zeros((4, 1)) if guess is None else guess.dist.reshape(4, 1).copy()
            # fisheye.calibrate needs a start; without a guess take the pinhole solution's K
            K_start = (guess or _fit(Model.PINHOLE5, views, size)).K.copy()
            flags |= _fisheye_flag("CALIB_USE_INTRINSIC_GUESS")
            rms, K, D, rvecs, tvecs = cv2.fisheye.calibrate(
                [o.reshape(1, -1, 3) for o in obj],  # fisheye wants 1 x N x 3 per view
                [i.reshape(1, -1, 2) for i in img],
                size, K_start, D0, flags=flags, criteria=_CRITERIA,
            )  # fmt: skip
        else:
            flags = cv2.CALIB_RATIONAL_MODEL if model is Model.PINHOLE8 else 0
            n = len(DIST_NAMES[model])
            D0 = None
            if guess is not None:
                flags |= cv2.CALIB_USE_INTRINSIC_GUESS
                D0 = guess.dist.reshape(-1, 1)[:n].copy()
            obj32 = [o.astype(np.float32) for o in obj]
            img32 = [i.astype(np.float32) for i in img]
            rms, K, D, rvecs, tvecs = cv2.calibrateCamera(obj32, img32, size, K0, D0, flags=flags)
            D = np.asarray(D).ravel()[:n]
    except cv2.error as exc:
        msg = f"OpenCV could not calibrate the {model} model on {len(views)} views: {exc}"
        raise CalibrationError(msg) from exc
    return _Fit(
        float(rms),
        np.asarray(K, np.float64),
        np.asarray(D, np.float64).ravel(),
        tuple(np.asarray(r, np.float64).reshape(3) for r in rvecs),
        tuple(np.asarray(t, np.float64).reshape(3) for t in tvecs),
    )


def project(
    model: Model, obj: npt.ArrayLike, rvec: FloatArray, tvec: FloatArray, K: FloatArray,
    dist: FloatArray,
) -> FloatArray:  # fmt: skip
    """Pixels (N x 2) of board points (N x 3) seen from pose (rvec, tvec) through the camera."""
    o = np.asarray(obj, np.float64).reshape(-1, 1, 3)
    if model is Model.FISHEYE:
        px, _ = cv2.fisheye.projectPoints(o, rvec.reshape(3, 1), tvec.reshape(3, 1), K, dist)
    else:
        px, _ = cv2.projectPoints(o, rvec, tvec, K, dist)
    return np.asarray(px, np.float64).reshape(-1, 2)


def _residuals(model: Model, view: Detection, fit: _Fit, i: int) -> FloatArray:
    pred = project(model, view.object_points, fit.rvecs[i], fit.tvecs[i], fit.K, fit.dist)
    return pred - np.asarray(view.image_points, np.float64)


def _rms(res: FloatArray) -> float:
    return float(math.sqrt(np.mean(np.sum(res**2, axis=1)))) if res.size else float("nan")


def solve_pose(
    model: Model, view: Detection, K: FloatArray, dist: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Board pose (rvec, tvec) of ``view`` for known intrinsics (iterative PnP)."""
    obj, img = _as_obj(view), _as_img(view)
    if model is Model.FISHEYE:
        ok, rvec, tvec = cv2.fisheye.solvePnP(obj, img, K, dist)
    else:
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, dist, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        msg = f"{view.name}: no board pose found for the given intrinsics"
        raise CalibrationError(msg)
    return np.asarray(rvec, np.float64).reshape(3), np.asarray(tvec, np.float64).reshape(3)


def _heldout(
    model: Model, views: Sequence[Detection], size: tuple[int, int], full: _Fit
) -> list[FloatArray]:
    """Residuals of each view under intrinsics calibrated without it (pose by PnP)."""
    out = []
    for i, view in enumerate(views):
        rest = [v for j, v in enumerate(views) if j != i]
        fit = _fit(model, rest, size, guess=full)
        rvec, tvec = solve_pose(model, view, fit.K, fit.dist)
        pred = project(model, view.object_points, rvec, tvec, fit.K, fit.dist)
        out.append(pred - np.asarray(view.image_points, np.float64))
    return out


def _std(
    model: Model, views: Sequence[Detection], size: tuple[int, int], fit: _Fit
) -> dict[str, float]:
    """Standard deviations of fx, fy, cx, cy and the distortion coefficients.

    Pinhole: OpenCV's ``calibrateCameraExtended`` (run once more from the solution). Fisheye
    has no such output: the diagonal of the fit's covariance (:mod:`calibration.covariance`,
    the same sigma^2 (J^T J)^-1 over intrinsics and every view's pose); NaN, with a warning,
    when the views do not determine every parameter.
    """
    names = intrinsic_names(model)
    if model is Model.FISHEYE:
        try:
            return fit_covariance(model, views, fit.K, fit.dist, fit.rvecs, fit.tvecs).std
        except CalibrationError as exc:
            log.warning("no standard deviations: %s", exc)
            return dict.fromkeys(names, math.nan)
    flags = cv2.CALIB_USE_INTRINSIC_GUESS
    flags |= cv2.CALIB_RATIONAL_MODEL if model is Model.PINHOLE8 else 0
    obj = [np.asarray(v.object_points, np.float32) for v in views]
    img = [np.asarray(v.image_points, np.float32) for v in views]
    d0 = fit.dist.reshape(-1, 1).copy()
    out = cv2.calibrateCameraExtended(obj, img, size, fit.K.copy(), d0, flags=flags)
    std = np.asarray(out[5], np.float64).ravel()
    return {n: float(s) for n, s in zip(names, std, strict=False)}


T = TypeVar("T")
F = TypeVar("F")


def reject_outliers(
    items: list[T],
    fit: F,
    *,
    errors: Callable[[F, list[T]], FloatArray],
    refit: Callable[[list[T], F], F],
    name: Callable[[T], str],
    what: str,
    label: str,
    reject: bool,
    factor: float,
    floor_px: float,
    need: int,
) -> tuple[list[T], F, FloatArray, list[tuple[T, Rejection]]]:
    """The rejection loop of the module doc, for views (here) and stereo pairs: drop the worst
    item while its RMS exceeds ``factor`` x the median and ``floor_px``, refitting each time,
    never more than :data:`MAX_REJECT_FRACTION` of them nor below ``need``. Returns the kept
    items, the last fit, their errors and the rejections in order."""
    rejected: list[tuple[T, Rejection]] = []
    max_reject = int(len(items) * MAX_REJECT_FRACTION)
    while True:
        errs = errors(fit, items)
        if not reject:
            break
        median = float(np.median(errs))
        threshold = max(factor * median, floor_px)
        worst = int(np.argmax(errs))
        if errs[worst] <= threshold:
            break
        if len(rejected) >= max_reject or len(items) <= need:
            log.warning(
                "%s %s has %s %.2f px > %.2f px but is kept: rejecting more than %d of them "
                "would leave too little to trust; check the board and the model",
                what, name(items[worst]), label, errs[worst], threshold, max_reject,
            )  # fmt: skip
            break
        reason = f"{label} {errs[worst]:.2f} px > {factor:g} x median {median:.2f} px"
        log.info("rejecting %s %s: %s", what, name(items[worst]), reason)
        bad = items.pop(worst)
        rejected.append((bad, Rejection(name(bad), float(errs[worst]), threshold, reason)))
        fit = refit(items, fit)
    return items, fit, errs, rejected


def calibrate(
    views: Sequence[Detection],
    image_size: tuple[int, int],
    model: Model | str = Model.PINHOLE5,
    *,
    reject: bool = True,
    factor: float = REJECT_FACTOR,
    floor_px: float = REJECT_FLOOR_PX,
    heldout: bool = True,
) -> IntrinsicsResult:
    """Calibrate ``model`` on the detected ``views``; see the module doc for the procedure."""
    model = Model(model)
    views = list(views)
    need = MIN_VIEWS + (1 if heldout else 0)
    if len(views) < need:
        names = [v.name for v in views]
        msg = f"{len(views)} usable views {names}; the {model} model needs at least {need}"
        raise NotEnoughViewsError(msg)
    views, fit, errs, rejected = reject_outliers(
        views, _fit(model, views, image_size),
        errors=lambda f, vs: np.array([_rms(_residuals(model, v, f, i)) for i, v in enumerate(vs)]),
        refit=lambda vs, f: _fit(model, vs, image_size, guess=f),
        name=lambda v: v.name, what="view", label="RMS", reject=reject, factor=factor,
        floor_px=floor_px, need=need,
    )  # fmt: skip
    held = _heldout(model, views, image_size, fit) if heldout else None
    used = tuple(
        ViewError(v.name, v.count, float(e), None if held is None else _rms(held[i]), used=True)
        for i, (v, e) in enumerate(zip(views, errs, strict=True))
    )
    dropped = tuple(ViewError(d.name, d.count, r.rms_px, None, used=False) for d, r in rejected)
    heldout_rms = None if held is None else _rms(np.concatenate(held))
    return IntrinsicsResult(
        model=model,
        K=fit.K,
        dist=fit.dist,
        image_size=image_size,
        rms_px=_rms(np.concatenate([_residuals(model, v, fit, i) for i, v in enumerate(views)])),
        heldout_rms_px=heldout_rms,
        std=_std(model, views, image_size, fit),
        views=used + dropped,
        rejected=tuple(r for _, r in rejected),
        coverage=coverage_map(views, image_size),
        fit_views=tuple(views),
        fit_rvecs=fit.rvecs,
        fit_tvecs=fit.tvecs,
    )
