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
reference; then every camera pose and board pose is refined jointly
(``scipy.optimize.least_squares``, sparse finite-difference Jacobian, intrinsics fixed).
Loop closure compares a link with the chain of two others: it measures consistency, not truth.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from calibration.detect import Detection, DetectionSet
from calibration.errors import CalibrationError, NotEnoughViewsError
from calibration.intrinsics import (
    FloatArray,
    IntrinsicsResult,
    Model,
    calibrate,
    project,
    solve_pose,
)
from calibration.io import open_yaml_writer
from calibration.rectification import rectified_offsets, rectify_cameras
from calibration.stereo_io import camera_summary

log = logging.getLogger(__name__)

MIN_COMMON = 6  # common corner ids for a view to link two cameras (a pose has 6 DoF)
MIN_SHARED_VIEWS = 2  # views a link needs; one view gives R and T but no check at all

Obs = tuple[str, str, Detection]  # camera, view name, its corners


def to_matrix(rvec: FloatArray, t: FloatArray) -> FloatArray:
    """4 x 4 homogeneous transform of a rotation vector and a translation."""
    M = np.eye(4)
    M[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3))[0]
    M[:3, 3] = np.asarray(t, np.float64).reshape(3)
    return M


def to_rt(M: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(rotation vector, translation) of a 4 x 4 transform."""
    return np.asarray(cv2.Rodrigues(M[:3, :3])[0], np.float64).reshape(3), M[:3, 3].copy()


def _invert(M: FloatArray) -> FloatArray:
    out = np.eye(4)
    out[:3, :3] = M[:3, :3].T
    out[:3, 3] = -M[:3, :3].T @ M[:3, 3]
    return out


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
        return _invert(M)


@dataclass(frozen=True, eq=False)
class RigResult:
    """The calibrated rig; ``cameras`` in input order, the reference first."""

    reference: str
    cameras: dict[str, RigCamera]
    rms_px: float  # every camera's corners in the joint fit
    links: tuple[Link, ...]
    tree: tuple[tuple[str, str], ...]  # (parent, child) edges of the initial chain
    unconnected: tuple[str, ...]  # cameras sharing no views with the rig: no extrinsics


def _pose_of(views: dict[str, dict[str, Detection]], cams: dict[str, IntrinsicsResult]) -> dict[
    tuple[str, str], FloatArray
]:  # fmt: skip
    """T_cam_board (4 x 4) of every used view of every camera, by PnP under its intrinsics."""
    out = {}
    for c, by_name in views.items():
        r = cams[c]
        for v, d in by_name.items():
            out[c, v] = to_matrix(*solve_pose(r.model, d, r.K, r.dist))
    return out


def _shared(views: dict[str, dict[str, Detection]], a: str, b: str, min_common: int) -> list[str]:
    common = sorted(set(views[a]) & set(views[b]))
    return [
        v for v in common if np.intersect1d(views[a][v].ids, views[b][v].ids).size >= min_common
    ]


def _mean_transform(Ms: Sequence[FloatArray]) -> FloatArray:
    """Chordal mean of rotations (SVD projection) and median of translations."""
    U, _, Vt = np.linalg.svd(sum(M[:3, :3] for M in Ms))
    R = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = R, np.median([M[:3, 3] for M in Ms], axis=0)
    return out


def _refine(
    cams: dict[str, IntrinsicsResult],
    ref: str,
    T_cam_ref: dict[str, FloatArray],
    T_ref_board: dict[str, FloatArray],
    obs: Sequence[Obs],
) -> tuple[dict[str, FloatArray], dict[str, FloatArray], dict[tuple[str, str], FloatArray]]:
    """Least squares over every non-reference camera pose and every board pose (intrinsics
    fixed); returns the poses and each observation's residuals (N x 2 pixels)."""
    movers = [c for c in T_cam_ref if c != ref]
    boards = list(T_ref_board)
    ci = {c: 6 * i for i, c in enumerate(movers)}
    bi = {v: 6 * (len(movers) + i) for i, v in enumerate(boards)}
    x0 = np.concatenate([np.concatenate(to_rt(T_cam_ref[c])) for c in movers] +
                        [np.concatenate(to_rt(T_ref_board[v])) for v in boards])  # fmt: skip
    n_res = sum(2 * o[2].count for o in obs)
    sparsity = lil_matrix((n_res, x0.size), dtype=np.int8)
    row = 0
    for c, v, d in obs:
        rows = slice(row, row + 2 * d.count)
        sparsity[rows, bi[v] : bi[v] + 6] = 1
        if c in ci:
            sparsity[rows, ci[c] : ci[c] + 6] = 1
        row += 2 * d.count

    def residuals(x: FloatArray) -> FloatArray:
        out = []
        for c, v, d in obs:
            Tcr = (
                to_matrix(x[ci[c] : ci[c] + 3], x[ci[c] + 3 : ci[c] + 6]) if c in ci else np.eye(4)
            )
            M = Tcr @ to_matrix(x[bi[v] : bi[v] + 3], x[bi[v] + 3 : bi[v] + 6])
            rvec, tvec = to_rt(M)
            k = cams[c]
            px = project(k.model, d.object_points, rvec, tvec, k.K, k.dist)
            out.append((px - d.image_points).ravel())
        return np.concatenate(out)

    sol = least_squares(residuals, x0, jac_sparsity=sparsity, x_scale="jac", method="trf")
    if not sol.success:
        msg = f"the rig's joint refinement did not converge: {sol.message}"
        raise CalibrationError(msg)
    x = sol.x
    poses = {c: to_matrix(x[ci[c] : ci[c] + 3], x[ci[c] + 3 : ci[c] + 6]) for c in movers}
    poses[ref] = np.eye(4)
    bposes = {v: to_matrix(x[bi[v] : bi[v] + 3], x[bi[v] + 3 : bi[v] + 6]) for v in boards}
    res, row, flat = {}, 0, residuals(x)
    for c, v, d in obs:
        res[c, v] = flat[row : row + 2 * d.count].reshape(-1, 2)
        row += 2 * d.count
    return poses, bposes, res


def _rms(res: Sequence[FloatArray]) -> float:
    a = np.concatenate(list(res)) if res else np.zeros((0, 2))
    return float(math.sqrt(np.mean(np.sum(a**2, axis=1)))) if a.size else float("nan")


def _fit(
    cams: dict[str, IntrinsicsResult], views: dict[str, dict[str, Detection]],
    pose: dict[tuple[str, str], FloatArray], ref: str, init: dict[str, FloatArray],
    names: Sequence[str],
) -> tuple[dict[str, FloatArray], dict[tuple[str, str], FloatArray]]:  # fmt: skip
    """Joint fit of the cameras in ``init`` (T_cam_ref guesses) on the views ``names``."""
    obs = [(c, v, views[c][v]) for v in names for c in init if v in views[c]]
    boards = {}
    for v in names:
        c = max((c for c in init if v in views[c]), key=lambda c: views[c][v].count)
        boards[v] = _invert(init[c]) @ pose[c, v]
    poses, _, res = _refine(cams, ref, init, boards, obs)
    return poses, res


def calibrate_rig(
    sets: dict[str, DetectionSet],
    *,
    reference: str | None = None,
    model: Model | str = Model.PINHOLE5,
    intrinsics: dict[str, IntrinsicsResult] | None = None,
    reject: bool = True,
    heldout: bool = False,
    min_common: int = MIN_COMMON,
    common_size: tuple[int, int] | None = None,
    alpha: float = -1.0,
) -> RigResult:
    """Calibrate the rig (see the module doc). ``intrinsics`` replaces the mono calibration of
    the cameras it names; ``common_size`` is the rectified size of every pair's dy figure
    (default: the smaller camera's of each pair); ``alpha`` as in ``calibrate_stereo``: -1
    keeps the rectified focal length close to the cameras' own (0 can zoom a strongly
    converging pair by 10x, and its dy with it)."""
    if len(sets) < 2:
        msg = f"a rig needs at least 2 cameras, got {list(sets)}"
        raise NotEnoughViewsError(msg)
    if Model(model) is Model.FISHEYE:
        msg = "rig calibration supports pinhole5 and pinhole8; fisheye rigs are not done yet"
        raise CalibrationError(msg)
    ref = reference or next(iter(sets))
    if ref not in sets:
        msg = f"reference camera {ref!r} is not one of {list(sets)}"
        raise CalibrationError(msg)
    given = intrinsics or {}
    cams = {
        c: given.get(c)
        or calibrate(d.detected, d.image_size, model, reject=reject, heldout=heldout)
        for c, d in sets.items()
    }
    views = {
        c: {d.name: d for d in s.detected if d.name in set(cams[c].used)} for c, s in sets.items()
    }
    pose = _pose_of(views, cams)
    links: dict[tuple[str, str], tuple[list[str], FloatArray, float]] = {}
    for a, b in itertools.combinations(sets, 2):
        shared = _shared(views, a, b, min_common)
        if len(shared) < MIN_SHARED_VIEWS:
            log.warning("cameras %s and %s share %d views: not linked", a, b, len(shared))
            continue
        guess = _mean_transform([pose[b, v] @ _invert(pose[a, v]) for v in shared])
        poses, res = _fit(cams, views, pose, a, {a: np.eye(4), b: guess}, shared)
        links[a, b] = (shared, poses[b], _rms(list(res.values())))
    # maximum spanning tree from the reference (Prim), weighted by shared views
    T_cam_ref, tree = {ref: np.eye(4)}, []
    while True:
        edges = [
            (len(s), p, c, T if (p, c) == (a, b) else _invert(T))
            for (a, b), (s, T, _) in links.items()
            for p, c in ((a, b), (b, a))
            if p in T_cam_ref and c not in T_cam_ref
        ]
        if not edges:
            break
        _, p, c, T_c_p = max(edges, key=lambda e: e[0])
        T_cam_ref[c] = T_c_p @ T_cam_ref[p]
        tree.append((p, c))
    unconnected = tuple(c for c in sets if c not in T_cam_ref)
    if unconnected:
        log.warning("cameras %s share no views with the rig: no extrinsics", list(unconnected))
    used_views = sorted({v for (a, b), (s, _, _) in links.items() if a in T_cam_ref for v in s})
    poses, res = _fit(cams, views, pose, ref, T_cam_ref, used_views)
    size = {c: sets[c].image_size for c in sets}
    out_links = []
    for (a, b), (shared, T_ba, rms) in links.items():
        if a not in poses:
            out_links.append(Link(a, b, tuple(shared), T_ba[:3, :3], T_ba[:3, 3], rms, size[a],
                                  math.nan, math.nan))  # fmt: skip
            continue
        J = poses[b] @ _invert(poses[a])  # joint estimate of T_b_a
        rsize = common_size or min(size[a], size[b], key=lambda s: s[0] * s[1])
        ka, kb = cams[a], cams[b]
        rect = rectify_cameras(ka.K, ka.dist, size[a], kb.K, kb.dist, size[b], J[:3, :3],
                               J[:3, 3], alpha=alpha, new_size=rsize)  # fmt: skip
        dy = []
        for v in shared:
            _, ia, ib = np.intersect1d(views[a][v].ids, views[b][v].ids, return_indices=True)
            pa, pb = views[a][v].image_points[ia], views[b][v].image_points[ib]
            dy.append(rectified_offsets(rect, pa, pb))
        d = np.concatenate(dy)
        out_links.append(Link(
            a, b, tuple(shared), T_ba[:3, :3], T_ba[:3, 3], rms, rsize,
            float(np.sqrt(np.mean(d**2))), float(np.percentile(np.abs(d), 95)),
        ))  # fmt: skip
    cameras = {}
    for c in sets:
        mine = [r for (cc, _), r in res.items() if cc == c]
        M = poses.get(c, np.full((4, 4), np.nan))
        cameras[c] = RigCamera(c, cams[c], M[:3, :3], M[:3, 3], _rms(mine), len(mine))
    order = {ref: cameras.pop(ref)} | cameras
    return RigResult(ref, order, _rms(list(res.values())), tuple(out_links), tuple(tree),
                     unconnected)  # fmt: skip


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
    T |= {(b, a): _invert(M) for (a, b), M in list(T.items())}
    out = []
    for a, b, c in itertools.combinations(result.cameras, 3):
        if (a, b) in T and (b, c) in T and (a, c) in T:
            D = T[b, c] @ T[a, b] @ _invert(T[a, c])
            angle = math.degrees(np.linalg.norm(cv2.Rodrigues(D[:3, :3])[0]))
            dt = float(np.linalg.norm(T[b, c] @ T[a, b] - T[a, c], axis=0)[3])
            out.append(
                LoopClosure((a, b, c), angle, dt, dt / float(np.linalg.norm(T[a, c][:3, 3])))
            )
    return out


def rig_summary(result: RigResult) -> dict[str, Any]:
    """JSON summary: cameras (intrinsics, joint RMS), extrinsics, pairs with rectified dy."""

    def num(v: float) -> float | None:
        return None if not math.isfinite(v) else float(v)

    return {
        "reference": result.reference,
        "rms_px": num(result.rms_px),
        "cameras": {
            c: camera_summary(k.intrinsics)
            | {"joint_rms_px": num(k.rms_px), "joint_views": k.views}
            for c, k in result.cameras.items()
        },
        "extrinsics": {
            c: {
                "R_rvec": cv2.Rodrigues(k.R)[0].ravel().tolist()
                if np.isfinite(k.R).all()
                else None,
                "T": k.T.tolist() if np.isfinite(k.T).all() else None,
                "T_ref_cam": k.T_ref_cam.tolist() if np.isfinite(k.T).all() else None,
            }
            for c, k in result.cameras.items()
        },
        "pairs": [
            {
                "cameras": [lk.a, lk.b],
                "views": len(lk.views),
                "pairwise_rms_px": num(lk.rms_px),
                "R_rvec": cv2.Rodrigues(lk.R)[0].ravel().tolist(),
                "T": lk.T.tolist(),
                "rectified_width": lk.rect_size[0],
                "rectified_height": lk.rect_size[1],
                "rectified_dy_insample_rms_px": num(lk.dy_rms_px),
                "rectified_dy_insample_p95_px": num(lk.dy_p95_px),
            }
            for lk in result.links
        ],
        "loop_closure": [
            {
                "cameras": list(x.cameras),
                "rotation_deg": x.rotation_deg,
                "translation": x.translation,
                "relative": x.relative,
            }
            for x in loop_closures(result)
        ],
        "tree": [list(e) for e in result.tree],
        "unconnected": list(result.unconnected),
    }


def write_rig_opencv_yaml(result: RigResult, path: str | Path) -> None:
    """OpenCV FileStorage YAML: ``reference``, ``cameras`` (names), then per camera a map
    ``camera_<i>`` with name, image size, K, D, R, T (``x_cam = R x_ref + T``) and RMS."""
    fs = open_yaml_writer(path)
    try:
        fs.write("reference", result.reference)
        fs.write("camera_count", len(result.cameras))
        for i, (name, cam) in enumerate(result.cameras.items()):
            fs.startWriteStruct(f"camera_{i}", cv2.FILE_NODE_MAP)
            k = cam.intrinsics
            fs.write("name", name)
            fs.write("image_width", int(k.image_size[0]))
            fs.write("image_height", int(k.image_size[1]))
            fs.write("K", np.asarray(k.K, np.float64))
            fs.write("D", np.asarray(k.dist, np.float64).reshape(1, -1))
            fs.write("R", np.asarray(cam.R, np.float64))
            fs.write("T", np.asarray(cam.T, np.float64).reshape(3, 1))
            fs.write("rms_px", float(cam.rms_px))
            fs.endWriteStruct()
    finally:
        fs.release()
