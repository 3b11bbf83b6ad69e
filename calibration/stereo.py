"""Stereo pair calibration: pairing, joint refinement, outlier-pair rejection, rectification.

Convention (OpenCV's ``stereoCalibrate``): ``R, T`` map the left camera's frame to the right
one's, ``x_right = R x_left + T``, T in board units (metres for a board given in metres).
Both cameras are first calibrated alone (``intrinsics.calibrate``, which may reject views),
then the pair is refined jointly (intrinsics and extrinsics), or only the extrinsics when
``fix_intrinsics`` is given: ``cv2.stereoCalibrate`` for two pinhole cameras, least squares
with each camera's own lens model for a pair with a fisheye camera (two fisheyes, or a
fisheye and a pinhole; :mod:`calibration.pair_fit`). Fisheye pairs are rectified to a common
pinhole frame whose field of view is a choice (:mod:`calibration.rectification`).

Pairs are matched by image name with the first ``left``/``right`` removed (``left01.jpg`` and
``right01.jpg`` are pair ``01.jpg``; identical names, as in one folder per camera, pair
directly) or by position; corners by id, so partial ChArUco views use the ids seen in both.
A pair is rejected, with its reason, when either camera's own calibration rejected its view,
or (worst first, as views are in ``intrinsics``) when its stereo RMS (both cameras' corners)
exceeds ``factor`` x the median.

Quality of the rectification: the residual vertical disparity ``dy = y_left - y_right`` of
corresponding corners in rectified pixels (x for a vertical rig), measured in-sample and on
held-out pairs: the pair is left out of the whole calibration (both monos and the joint fit),
the rest is rectified and the left-out pair measured under it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calibration.detect import Detection, DetectionSet
from calibration.errors import CalibrationError, NotEnoughViewsError
from calibration.intrinsics import (
    MIN_VIEWS,
    REJECT_FACTOR,
    REJECT_FLOOR_PX,
    FloatArray,
    IntrinsicsResult,
    Model,
    Rejection,
    calibrate,
    project,
    reject_outliers,
)
from calibration.pair_fit import PairFit, fit_pair
from calibration.rectification import Rectification, rectified_offsets, rectify_cameras
from calibration.rig_fit import to_matrix, to_rt

log = logging.getLogger(__name__)

_SIDE = re.compile(r"left|right", re.IGNORECASE)


@dataclass(frozen=True)
class StereoPair:
    """One instant seen by both cameras, reduced to the corner ids both saw (row-aligned)."""

    name: str
    left: Detection
    right: Detection

    @property
    def count(self) -> int:
        """Corners seen in both images."""
        return self.left.count


@dataclass(frozen=True)
class PairError:
    """A pair's errors (pixels): stereo reprojection RMS in the fit, and rectified dy."""

    name: str
    count: int
    rms_px: float
    left_rms_px: float
    right_rms_px: float
    dy_rms_px: float | None  # in-sample rectified vertical disparity RMS
    heldout_dy_rms_px: float | None  # the same with the pair left out of the calibration
    used: bool


@dataclass(frozen=True, eq=False)
class StereoResult:
    """A calibrated pair. ``left``/``right`` carry the jointly refined K and dist, with
    ``rms_px`` the camera's RMS in the joint fit; their other figures are the mono fit's.
    Each camera's lens model is ``left.model`` / ``right.model`` (they differ in a mixed pair).
    """

    left: IntrinsicsResult
    right: IntrinsicsResult
    R: FloatArray  # 3 x 3, left frame -> right frame
    T: FloatArray  # 3, board units
    E: FloatArray
    F: FloatArray
    rms_px: float
    fixed_intrinsics: bool
    pairs: tuple[PairError, ...]  # used pairs, then rejected ones
    rejected: tuple[Rejection, ...]
    skipped: tuple[tuple[str, str], ...]  # (image or pair name, why it is not a pair)
    dy_px: FloatArray  # in-sample rectified dy of every corner of the used pairs
    heldout_dy_px: FloatArray | None  # held-out dy of every corner, None when not measured
    alpha: float  # the rectification the dy figures were measured with
    fov_deg: float | None = None  # a fisheye pair's rectified horizontal view (None: default)

    @property
    def models(self) -> tuple[Model, Model]:
        """The left and right cameras' lens models."""
        return self.left.model, self.right.model

    @property
    def model(self) -> Model | None:
        """The pair's lens model; None for a mixed pair (see ``models``)."""
        return self.left.model if self.left.model is self.right.model else None

    @property
    def baseline(self) -> float:
        """|T|: distance between the optical centres, board units."""
        return float(np.linalg.norm(self.T))

    @property
    def used(self) -> tuple[str, ...]:
        """Names of the pairs the final calibration used."""
        return tuple(p.name for p in self.pairs if p.used)


def _key(name: str) -> str:
    return _SIDE.sub("", name, count=1)


def _common(name: str, a: Detection, b: Detection) -> StereoPair:
    ids, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)

    def cut(d: Detection, idx: np.ndarray) -> Detection:
        return dataclasses.replace(
            d, image_points=d.image_points[idx], object_points=d.object_points[idx], ids=ids
        )

    return StereoPair(name, cut(a, ia), cut(b, ib))


def match_pairs(
    left: DetectionSet, right: DetectionSet, *, by_order: bool = False, min_corners: int = 6
) -> tuple[list[StereoPair], list[tuple[str, str]]]:
    """Pairs of detected views (by name, or by position with ``by_order``) with at least
    ``min_corners`` common corner ids, and the (name, reason) of every image left unpaired."""
    skipped: list[tuple[str, str]] = []
    if by_order:
        if len(left.detections) != len(right.detections):
            msg = (
                f"{len(left.detections)} left and {len(right.detections)} right images: "
                "pairing by order needs the same number of each"
            )
            raise NotEnoughViewsError(msg)
        cands = [
            (f"{a.name}|{b.name}", a, b)
            for a, b in zip(left.detections, right.detections, strict=True)
        ]
    else:
        rmap = {_key(d.name): d for d in right.detections}
        lkeys = {_key(d.name) for d in left.detections}
        cands = [
            (_key(a.name), a, rmap[_key(a.name)]) for a in left.detections if _key(a.name) in rmap
        ]
        skipped += [
            (d.name, "no right image of the same name")
            for d in left.detections
            if _key(d.name) not in rmap
        ]
        skipped += [
            (d.name, "no left image of the same name")
            for d in right.detections
            if _key(d.name) not in lkeys
        ]
    pairs = []
    for name, a, b in cands:
        pair = _common(name, a, b)
        if pair.count < min_corners:
            skipped.append((name, f"{pair.count} corners seen in both images (< {min_corners})"))
        else:
            pairs.append(pair)
    return pairs, skipped


def _stereo_fit(
    pairs: Sequence[StereoPair], left: IntrinsicsResult, right: IntrinsicsResult,
    size: tuple[int, int], *, fixed: bool,
) -> PairFit:  # fmt: skip
    """The joint fit of ``pairs`` from the mono intrinsics (kept with ``fixed``)."""
    return fit_pair([(p.left, p.right) for p in pairs], left, right, size, fixed=fixed)


def _rms(res: FloatArray) -> float:
    return float(math.sqrt(np.mean(np.sum(res**2, axis=-1)))) if res.size else float("nan")


def _pair_residuals(
    models: tuple[Model, Model], fit: PairFit, pair: StereoPair, i: int
) -> tuple[FloatArray, FloatArray]:
    """Left and right reprojection residuals (N x 2 pixels) of pair ``i`` in ``fit``."""
    rv, tv = fit.rvecs[i], fit.tvecs[i]
    T_rl = np.eye(4)
    T_rl[:3, :3], T_rl[:3, 3] = fit.R, fit.T
    rv2, tv2 = to_rt(T_rl @ to_matrix(rv, tv))
    obj = pair.left.object_points
    res_l = project(models[0], obj, rv, tv, fit.K1, fit.D1) - pair.left.image_points
    res_r = project(models[1], obj, rv2, tv2, fit.K2, fit.D2) - pair.right.image_points
    return res_l, res_r


def _mono(
    model: Model, dets: DetectionSet, drop: set[str], *, reject: bool, heldout: bool
) -> IntrinsicsResult:
    views = [d for d in dets.detected if d.name not in drop]
    return calibrate(views, dets.image_size, model, reject=reject, heldout=heldout)


def _dy(
    fit: PairFit, size: tuple[int, int], pairs: Sequence[StereoPair], alpha: float,
    models: tuple[Model, Model], fov_deg: float | None,
) -> list[FloatArray]:  # fmt: skip
    rect = rectify_cameras(
        fit.K1, fit.D1, size, fit.K2, fit.D2, size, fit.R, fit.T, alpha=alpha, models=models,
        fov_deg=fov_deg,
    )  # fmt: skip
    return [rectified_offsets(rect, p.left.image_points, p.right.image_points) for p in pairs]


def calibrate_stereo(
    left: DetectionSet,
    right: DetectionSet,
    *,
    model: Model | str = Model.PINHOLE5,
    right_model: Model | str | None = None,
    fix_intrinsics: tuple[IntrinsicsResult, IntrinsicsResult] | None = None,
    reject: bool = True,
    heldout: bool = True,
    by_order: bool = False,
    factor: float = REJECT_FACTOR,
    floor_px: float = REJECT_FLOOR_PX,
    alpha: float = -1.0,
    fov_deg: float | None = None,
) -> StereoResult:
    """Calibrate the pair (see the module doc). ``model`` is both cameras' lens model, or the
    left one's when ``right_model`` is given (a mixed pair). ``fix_intrinsics`` = (left, right)
    keeps those intrinsics and fits only R, T; ``alpha`` is the rectification the dy figures
    use (-1: OpenCV's default scaling, rectified focal length close to the cameras', so dy is
    in about the cameras' own pixels; 0 zooms to the valid area and scales dy with it); a pair
    with a fisheye camera needs alpha -1 and takes ``fov_deg`` instead (the rectified
    horizontal field of view; None: the cameras' own focal length, see
    :mod:`calibration.rectification`)."""
    models = (Model(model), Model(model if right_model is None else right_model))
    if Model.FISHEYE in models and alpha != -1.0:
        msg = (
            f"alpha {alpha:g}: a pair with a fisheye camera is rectified with alpha -1 (the "
            "cameras' own focal length); set its rectified view with fov_deg"
        )
        raise CalibrationError(msg)
    if Model.FISHEYE not in models and fov_deg is not None:
        msg = "fov_deg applies to a pair with a fisheye camera; a pinhole pair's view is alpha's"
        raise CalibrationError(msg)
    if left.image_size != right.image_size:
        msg = (
            f"left images are {left.image_size}, right {right.image_size}: calibrate_stereo needs "
            "one size; use calibration.rig.calibrate_rig for cameras of different resolutions"
        )
        raise CalibrationError(msg)
    size = left.image_size
    pairs, skipped = match_pairs(left, right, by_order=by_order, min_corners=left.min_corners)
    fixed = fix_intrinsics is not None
    if fix_intrinsics is None:
        mono_l = _mono(models[0], left, set(), reject=reject, heldout=heldout)
        mono_r = _mono(models[1], right, set(), reject=reject, heldout=heldout)
    else:
        mono_l, mono_r = fix_intrinsics
        if (mono_l.model, mono_r.model) != models:
            msg = (
                f"fix_intrinsics are {mono_l.model}/{mono_r.model}, the models asked are "
                f"{models[0]}/{models[1]}"
            )
            raise CalibrationError(msg)
    mono_rejected: list[tuple[StereoPair, Rejection]] = []  # a view rejected by a mono fit
    by_view = {("left", r.name): r for r in mono_l.rejected}
    by_view |= {("right", r.name): r for r in mono_r.rejected}
    keep = []
    for p in pairs:
        side, view = next(
            (k for k in (("left", p.left.name), ("right", p.right.name)) if k in by_view),
            ("", ""),
        )
        if side:
            r = by_view[side, view]
            why = f"{side} view {view} rejected by the {side} camera's calibration: {r.reason}"
            mono_rejected.append((p, Rejection(p.name, r.rms_px, r.threshold_px, why)))
        else:
            keep.append(p)
    pairs = keep
    drop_l = {r.name for r in mono_l.rejected}
    drop_r = {r.name for r in mono_r.rejected}
    need = MIN_VIEWS + (1 if heldout else 0)
    if len(pairs) < need:
        msg = f"{len(pairs)} usable pairs {[p.name for p in pairs]}; stereo needs at least {need}"
        raise NotEnoughViewsError(msg)
    pairs, fit, errs, stereo_rejected = reject_outliers(
        pairs, _stereo_fit(pairs, mono_l, mono_r, size, fixed=fixed),
        errors=lambda f, ps: np.array(
            [_rms(np.concatenate(_pair_residuals(models, f, p, i))) for i, p in enumerate(ps)]
        ),
        refit=lambda ps, f: _stereo_fit(ps, mono_l, mono_r, size, fixed=fixed),
        name=lambda p: p.name, what="pair", label="stereo RMS", reject=reject, factor=factor,
        floor_px=floor_px, need=need,
    )  # fmt: skip
    rejected = mono_rejected + stereo_rejected
    res = [_pair_residuals(models, fit, p, i) for i, p in enumerate(pairs)]
    dy = _dy(fit, size, pairs, alpha, models, fov_deg)
    held: list[FloatArray] | None = None
    if heldout:
        held = []
        drop_l |= {p.left.name for p, _ in stereo_rejected}
        drop_r |= {p.right.name for p, _ in stereo_rejected}
        for i, p in enumerate(pairs):
            rest = [q for j, q in enumerate(pairs) if j != i]
            if fixed:
                ml, mr = mono_l, mono_r
            else:
                ml = _mono(models[0], left, drop_l | {p.left.name}, reject=False, heldout=False)
                mr = _mono(models[1], right, drop_r | {p.right.name}, reject=False, heldout=False)
            refit = _stereo_fit(rest, ml, mr, size, fixed=fixed)
            held.append(_dy(refit, size, [p], alpha, models, fov_deg)[0])
    used = tuple(
        PairError(
            p.name, p.count, float(errs[i]), _rms(res[i][0]), _rms(res[i][1]),
            _rms(dy[i][:, None]), None if held is None else _rms(held[i][:, None]), used=True,
        )
        for i, p in enumerate(pairs)
    )  # fmt: skip
    dropped = tuple(
        PairError(p.name, p.count, r.rms_px, math.nan, math.nan, None, None, used=False)
        for p, r in rejected
    )
    res_l = np.concatenate([r[0] for r in res])
    res_r = np.concatenate([r[1] for r in res])
    return StereoResult(
        left=dataclasses.replace(mono_l, K=fit.K1, dist=fit.D1, rms_px=_rms(res_l)),
        right=dataclasses.replace(mono_r, K=fit.K2, dist=fit.D2, rms_px=_rms(res_r)),
        R=fit.R, T=fit.T, E=fit.E, F=fit.F,
        rms_px=_rms(np.concatenate([res_l, res_r])),
        fixed_intrinsics=fixed,
        pairs=used + dropped,
        rejected=tuple(r for _, r in rejected),
        skipped=tuple(skipped),
        dy_px=np.concatenate(dy),
        heldout_dy_px=None if held is None else np.concatenate(held),
        alpha=alpha,
        fov_deg=fov_deg,
    )  # fmt: skip


def rectify(
    result: StereoResult, *, alpha: float | None = None, new_size: tuple[int, int] | None = None,
    fov_deg: float | None = None,
) -> Rectification:  # fmt: skip
    """``cv2.stereoRectify`` of the pair (alpha: 0 = only valid pixels, 1 = every source pixel;
    default: the one the result's dy was measured with; a fisheye pair: ``fov_deg``, default
    the result's); maps via ``Rectification.maps``."""
    a = result.alpha if alpha is None else alpha
    fov = result.fov_deg if fov_deg is None else fov_deg
    size = result.left.image_size
    return rectify_cameras(
        result.left.K, result.left.dist, size, result.right.K, result.right.dist, size,
        result.R, result.T, alpha=a, new_size=new_size, models=result.models, fov_deg=fov,
    )  # fmt: skip
