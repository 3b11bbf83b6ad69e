"""Multi-camera rig: extrinsics of several cameras (any resolutions) seeing one board.

Frames (mrcal-style names): ``T_A_B`` maps points in frame B to frame A. ``R, T`` of a camera
follow ``cv2.stereoCalibrate`` with the reference as the first camera:
``x_cam = R x_ref + T`` (so ``T_cam_ref``); the 4 x 4 ``T_ref_cam`` is its inverse.

Procedure: each camera is calibrated alone at its native resolution (``intrinsics.calibrate``,
with its outlier-view rejection); a board pose per used view comes from PnP. Images of the
same name in different cameras are the same instant. Two cameras are linked by the views
where both see at least ``min_common`` common corner ids; every link is refined on its own
(least squares over the second camera's pose and the board poses, intrinsics fixed). The
initial rig chains the links along the maximum spanning tree (most shared views) from the
reference; then every camera pose and board pose is refined jointly (the least squares live
in :mod:`calibration.rig_fit`). Each link's pair is then rectified under the JOINT extrinsics
and its corners' row misalignment measured. Loop closure compares a link with the chain of
two others: it measures consistency, not truth. Result files: :mod:`calibration.rig_io`.

Cameras may be pinhole or fisheye, mixed in one rig (``model`` per camera): every projection
and pose goes through the camera's own lens model, and a pair with a fisheye camera is
rectified to a common pinhole frame of the cameras' own focal length (see
:mod:`calibration.rectification` for that choice of field of view).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.detect import Detection, DetectionSet
from calibration.errors import CalibrationError, NotEnoughViewsError
from calibration.intrinsics import FloatArray, IntrinsicsResult, Model, calibrate
from calibration.rectification import rectified_offsets, rectify_cameras
from calibration.rig_fit import (
    board_poses,
    invert_transform,
    joint_fit,
    mean_transform,
    residual_rms,
    shared_views,
)

log = logging.getLogger(__name__)

MIN_COMMON = 6  # common corner ids for a view to link two cameras (a pose has 6 DoF)
MIN_SHARED_VIEWS = 2  # views a link needs; one view gives R and T but no check at all

Views = dict[str, dict[str, Detection]]  # camera -> view name -> its corners (used views only)
PairFits = dict[tuple[str, str], tuple[list[str], FloatArray, float]]  # (a, b) -> views, T_b_a, RMS


@dataclass(frozen=True)
class Link:
    """Two cameras' relative pose refined on the views both see: ``x_b = R x_a + T``."""

    a: str
    b: str
    views: tuple[str, ...]
    R: FloatArray
    T: FloatArray
    rms_px: float  # reprojection RMS of both cameras in the link's own fit
    rect_size: tuple[int, int]  # rectified (common) resolution of the dy figures
    dy_rms_px: float  # in-sample rectified misalignment RMS under the JOINT rig extrinsics
    dy_p95_px: float

    @property
    def T_b_a(self) -> FloatArray:  # noqa: N802
        """4 x 4 transform from camera a's frame to camera b's."""
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = self.R, self.T
        return M


@dataclass(frozen=True, eq=False)
class RigCamera:
    """A camera of the rig: its intrinsics, pose relative to the reference and joint RMS."""

    name: str
    intrinsics: IntrinsicsResult
    R: FloatArray  # 3 x 3, reference frame -> this camera's frame
    T: FloatArray  # 3, board units
    rms_px: float  # reprojection RMS of this camera's views in the joint fit
    views: int  # views of this camera in the joint fit

    @property
    def T_ref_cam(self) -> FloatArray:  # noqa: N802
        """4 x 4 transform from this camera's frame to the reference camera's."""
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = self.R, self.T
        return invert_transform(M)


@dataclass(frozen=True, eq=False)
class RigResult:
    """The calibrated rig; ``cameras`` in input order, the reference first."""

    reference: str
    cameras: dict[str, RigCamera]
    rms_px: float  # every camera's corners in the joint fit
    links: tuple[Link, ...]
    tree: tuple[tuple[str, str], ...]  # (parent, child) edges of the initial chain
    unconnected: tuple[str, ...]  # cameras sharing no views with the rig: no extrinsics


def _chain(ref: str, links: PairFits) -> tuple[dict[str, FloatArray], list[tuple[str, str]]]:
    """T_cam_ref of every camera reachable from ``ref`` along the maximum spanning tree of the
    links (Prim), weighted by shared views, and the tree's (parent, child) edges."""
    T_cam_ref, tree = {ref: np.eye(4)}, []
    while True:
        edges = [
            (len(s), p, c, T if (p, c) == (a, b) else invert_transform(T))
            for (a, b), (s, T, _) in links.items()
            for p, c in ((a, b), (b, a))
            if p in T_cam_ref and c not in T_cam_ref
        ]
        if not edges:
            break
        _, p, c, T_c_p = max(edges, key=lambda e: e[0])
        T_cam_ref[c] = T_c_p @ T_cam_ref[p]
        tree.append((p, c))
    return T_cam_ref, tree


def _rectified_dy(
    cams: dict[str, IntrinsicsResult], views: Views, size: dict[str, tuple[int, int]],
    a: str, b: str, shared: list[str], J: FloatArray, rsize: tuple[int, int], alpha: float,
) -> tuple[float, float]:  # fmt: skip
    """RMS and 95th percentile of |dy| (rectified px, ``rsize``) of the corners both cameras
    see in the ``shared`` views, the pair rectified under ``J`` = T_b_a of the joint fit."""
    ka, kb = cams[a], cams[b]
    fisheye = Model.FISHEYE in (ka.model, kb.model)  # a fisheye pair is rectified at alpha -1
    rect = rectify_cameras(ka.K, ka.dist, size[a], kb.K, kb.dist, size[b], J[:3, :3],
                           J[:3, 3], alpha=-1.0 if fisheye else alpha, new_size=rsize,
                           models=(ka.model, kb.model))  # fmt: skip
    dy = []
    for v in shared:
        _, ia, ib = np.intersect1d(views[a][v].ids, views[b][v].ids, return_indices=True)
        pa, pb = views[a][v].image_points[ia], views[b][v].image_points[ib]
        dy.append(rectified_offsets(rect, pa, pb))
    d = np.concatenate(dy)
    return float(np.sqrt(np.mean(d**2))), float(np.percentile(np.abs(d), 95))


def _models(model: Model | str | dict[str, Model | str], cameras: list[str]) -> dict[str, Model]:
    """Each camera's lens model from one model or a camera -> model map (others pinhole5)."""
    if not isinstance(model, dict):
        return {c: Model(model) for c in cameras}
    unknown = sorted(set(model) - set(cameras))
    if unknown:
        msg = f"models given for cameras {unknown} that are not in the rig {cameras}"
        raise CalibrationError(msg)
    return {c: Model(model.get(c, Model.PINHOLE5)) for c in cameras}


def calibrate_rig(
    sets: dict[str, DetectionSet],
    *,
    reference: str | None = None,
    model: Model | str | dict[str, Model | str] = Model.PINHOLE5,
    intrinsics: dict[str, IntrinsicsResult] | None = None,
    reject: bool = True,
    heldout: bool = False,
    min_common: int = MIN_COMMON,
    common_size: tuple[int, int] | None = None,
    alpha: float = -1.0,
) -> RigResult:
    """Calibrate the rig (see the module doc). ``model``: every camera's lens model, or one per
    camera name (a mixed rig; cameras it does not name are pinhole5). ``intrinsics`` replaces
    the mono calibration of the cameras it names; ``common_size`` is the rectified size of
    every pair's dy figure (default: the smaller camera's of each pair); ``alpha`` as in
    ``calibrate_stereo``: -1 keeps the rectified focal length close to the cameras' own (0 can
    zoom a strongly converging pair by 10x, and its dy with it); pairs with a fisheye camera
    always use -1."""
    if len(sets) < 2:
        msg = f"a rig needs at least 2 cameras, got {list(sets)}"
        raise NotEnoughViewsError(msg)
    models = _models(model, list(sets))
    ref = reference or next(iter(sets))
    if ref not in sets:
        msg = f"reference camera {ref!r} is not one of {list(sets)}"
        raise CalibrationError(msg)
    given = intrinsics or {}
    cams = {
        c: given.get(c)
        or calibrate(d.detected, d.image_size, models[c], reject=reject, heldout=heldout)
        for c, d in sets.items()
    }
    views = {
        c: {d.name: d for d in s.detected if d.name in set(cams[c].used)} for c, s in sets.items()
    }
    pose = board_poses(views, cams)
    links: PairFits = {}
    for a, b in itertools.combinations(sets, 2):
        shared = shared_views(views, a, b, min_common)
        if len(shared) < MIN_SHARED_VIEWS:
            log.warning("cameras %s and %s share %d views: not linked", a, b, len(shared))
            continue
        guess = mean_transform([pose[b, v] @ invert_transform(pose[a, v]) for v in shared])
        poses, res = joint_fit(cams, views, pose, a, {a: np.eye(4), b: guess}, shared)
        links[a, b] = (shared, poses[b], residual_rms(list(res.values())))
    T_cam_ref, tree = _chain(ref, links)
    if len(T_cam_ref) < 2:
        msg = (
            f"the reference camera {ref!r} shares no views with any other camera (views are "
            f"matched by image name; a link needs {MIN_SHARED_VIEWS} views with {min_common} "
            "common corners)"
        )
        raise NotEnoughViewsError(msg)
    unconnected = tuple(c for c in sets if c not in T_cam_ref)
    if unconnected:
        log.warning("cameras %s share no views with the rig: no extrinsics", list(unconnected))
    used_views = sorted({v for (a, b), (s, _, _) in links.items() if a in T_cam_ref for v in s})
    poses, res = joint_fit(cams, views, pose, ref, T_cam_ref, used_views)
    size = {c: sets[c].image_size for c in sets}
    out_links = []
    for (a, b), (shared, T_ba, rms) in links.items():
        if a not in poses:
            out_links.append(Link(a, b, tuple(shared), T_ba[:3, :3], T_ba[:3, 3], rms, size[a],
                                  math.nan, math.nan))  # fmt: skip
            continue
        J = poses[b] @ invert_transform(poses[a])  # joint estimate of T_b_a
        rsize = common_size or min(size[a], size[b], key=lambda s: s[0] * s[1])
        dy_rms, dy_p95 = _rectified_dy(cams, views, size, a, b, shared, J, rsize, alpha)
        out_links.append(Link(
            a, b, tuple(shared), T_ba[:3, :3], T_ba[:3, 3], rms, rsize, dy_rms, dy_p95,
        ))  # fmt: skip
    cameras = {}
    for c in sets:
        mine = [r for (cc, _), r in res.items() if cc == c]
        M = poses.get(c, np.full((4, 4), np.nan))
        cameras[c] = RigCamera(c, cams[c], M[:3, :3], M[:3, 3], residual_rms(mine), len(mine))
    order = {ref: cameras.pop(ref)} | cameras
    return RigResult(ref, order, residual_rms(list(res.values())), tuple(out_links),
                     tuple(tree), unconnected)  # fmt: skip


@dataclass(frozen=True)
class LoopClosure:
    """T_c_a from the link (a, c) against T_c_b T_b_a from the links (a, b), (b, c)."""

    cameras: tuple[str, str, str]
    rotation_deg: float
    translation: float  # board units
    relative: float  # translation / |T_c_a|


def loop_closures(result: RigResult) -> list[LoopClosure]:
    """Loop closure of every camera triple whose three links exist (pairwise fits only)."""
    T = {(lk.a, lk.b): lk.T_b_a for lk in result.links}
    T |= {(b, a): invert_transform(M) for (a, b), M in list(T.items())}
    out = []
    for a, b, c in itertools.combinations(result.cameras, 3):
        if (a, b) in T and (b, c) in T and (a, c) in T:
            D = T[b, c] @ T[a, b] @ invert_transform(T[a, c])
            angle = math.degrees(np.linalg.norm(cv2.Rodrigues(D[:3, :3])[0]))
            dt = float(np.linalg.norm(T[b, c] @ T[a, b] - T[a, c], axis=0)[3])
            out.append(
                LoopClosure((a, b, c), angle, dt, dt / float(np.linalg.norm(T[a, c][:3, 3])))
            )
    return out
