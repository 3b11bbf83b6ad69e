"""The rig's geometry and least squares: 4 x 4 transforms, board poses, joint refinement.

Frames (mrcal-style names): ``T_A_B`` maps points in frame B to frame A. Every function here
works on 4 x 4 homogeneous transforms in the board's units. :mod:`calibration.rig` uses them
to link cameras pairwise, chain the links and refine the whole rig; the refinement is
``scipy.optimize.least_squares`` over camera and board poses with the intrinsics fixed (the
Jacobian is by finite differences, its sparsity given: a corner depends on one camera pose and
one board pose only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from calibration.detect import Detection
from calibration.errors import CalibrationError
from calibration.intrinsics import FloatArray, IntrinsicsResult, project, solve_pose

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


def invert_transform(M: FloatArray) -> FloatArray:
    """Inverse of a rigid 4 x 4 transform (``T_B_A`` of ``T_A_B``), without a general inverse."""
    out = np.eye(4)
    out[:3, :3] = M[:3, :3].T
    out[:3, 3] = -M[:3, :3].T @ M[:3, 3]
    return out


def board_poses(views: dict[str, dict[str, Detection]], cams: dict[str, IntrinsicsResult]) -> dict[
    tuple[str, str], FloatArray
]:  # fmt: skip
    """T_cam_board (4 x 4) of every used view of every camera, by PnP under its intrinsics."""
    out = {}
    for c, by_name in views.items():
        r = cams[c]
        for v, d in by_name.items():
            out[c, v] = to_matrix(*solve_pose(r.model, d, r.K, r.dist))
    return out


def shared_views(
    views: dict[str, dict[str, Detection]], a: str, b: str, min_common: int
) -> list[str]:
    """Names of the views where cameras ``a`` and ``b`` see >= ``min_common`` common corner ids."""
    common = sorted(set(views[a]) & set(views[b]))
    return [
        v for v in common if np.intersect1d(views[a][v].ids, views[b][v].ids).size >= min_common
    ]


def mean_transform(Ms: Sequence[FloatArray]) -> FloatArray:
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


def residual_rms(res: Sequence[FloatArray]) -> float:
    """RMS (pixels) of the 2-D reprojection residuals (N x 2 arrays); NaN when there are none."""
    a = np.concatenate(list(res)) if res else np.zeros((0, 2))
    return float(math.sqrt(np.mean(np.sum(a**2, axis=1)))) if a.size else float("nan")


def joint_fit(
    cams: dict[str, IntrinsicsResult], views: dict[str, dict[str, Detection]],
    pose: dict[tuple[str, str], FloatArray], ref: str, init: dict[str, FloatArray],
    names: Sequence[str],
) -> tuple[dict[str, FloatArray], dict[tuple[str, str], FloatArray]]:  # fmt: skip
    """Joint fit of the cameras in ``init`` (T_cam_ref guesses, ``ref`` held at identity) on
    the views ``names``: refined T_cam_ref and the residuals (N x 2 px) per (camera, view).
    ``pose`` is :func:`board_poses`; each board starts from the camera seeing most corners."""
    obs = [(c, v, views[c][v]) for v in names for c in init if v in views[c]]
    boards = {}
    for v in names:
        c = max((c for c in init if v in views[c]), key=lambda c: views[c][v].count)
        boards[v] = invert_transform(init[c]) @ pose[c, v]
    poses, _, res = _refine(cams, ref, init, boards, obs)
    return poses, res
