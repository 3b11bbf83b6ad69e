"""The Jacobian and covariance of a board-array fit (:mod:`calibration.array_fit`): the
reprojection residuals of views of a rigid array of boards over the intrinsics, each view's
array pose T_cam_array and the estimated boards' poses T_array_board. The bundle adjustment
of :mod:`calibration.array_fit` (step 3) minimises with this Jacobian; the covariance, as
:mod:`calibration.covariance` defines it, feeds :mod:`calibration.uncertainty`."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from calibration.board_array import ArraySpec
from calibration.covariance import (
    Covariance,
    project_with_jacobian,
    solve_covariance,
    views_jacobian,
)
from calibration.detect import Detection
from calibration.models import FloatArray, Model


def array_jacobian(
    model: Model, array: ArraySpec, views: Sequence[Detection], K: FloatArray,
    dist: FloatArray, poses: Sequence[tuple[FloatArray, FloatArray]], board_rvecs: FloatArray,
    board_tvecs: FloatArray, free: Sequence[int],
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """The residuals' Jacobian over (intrinsics, each view's T_cam_array, each ``free`` board's
    T_array_board), analytic, and the residuals (projected minus detected, view by view).

    A free board's columns chain OpenCV's derivatives: the board's corners (own frame) seen
    through the composed pose T_cam_array T_array_board (``cv2.composeRT``, which also gives
    d(composed)/d(board pose))."""
    J, r = views_jacobian(
        model, [array.array_points(v.ids, board_rvecs, board_tvecs) for v in views],
        [v.image_points for v in views], K, dist, [p[0] for p in poses], [p[1] for p in poses],
    )  # fmt: skip
    extra = np.zeros((J.shape[0], 6 * len(free)))
    start = 0
    for v, (rc, tc) in zip(views, poses, strict=True):
        boards, local = array.board_of(v.ids), array.local_points(v.ids)
        for k, b in enumerate(free):
            sel = np.flatnonzero(boards == b)
            if sel.size:
                r3, t3, *d = cv2.composeRT(board_rvecs[b], board_tvecs[b], rc, tc)
                r3_, t3_ = np.asarray(r3, np.float64), np.asarray(t3, np.float64)
                _, _, jp = project_with_jacobian(model, local[sel], r3_, t3_, K, dist)
                # composeRT's d: dr3/dr1, dr3/dt1, dr3/dr2, dr3/dt2, dt3/dr1, dt3/dt1, ...
                d_board = np.block([[d[0], d[1]], [d[4], d[5]]])
                rows = start + np.column_stack([2 * sel, 2 * sel + 1]).ravel()
                extra[rows, 6 * k : 6 * k + 6] = jp @ d_board
        start += 2 * len(v.ids)
    return np.hstack([J, extra]), r


def board_array_covariance(
    model: Model, array: ArraySpec, views: Sequence[Detection], K: FloatArray,
    dist: FloatArray, poses: Sequence[tuple[FloatArray, FloatArray]], board_rvecs: FloatArray,
    board_tvecs: FloatArray, free: Sequence[int],
) -> Covariance:  # fmt: skip
    """The fit's covariance (:mod:`calibration.covariance`) over the intrinsics, every view's
    array pose and each ``free`` board's pose (the ``extra`` parameters, named
    ``board{b}_rx`` ... ``board{b}_tz``), from :func:`array_jacobian`."""
    J, r = array_jacobian(model, array, views, K, dist, poses, board_rvecs, board_tvecs, free)
    extra = [f"board{b}_{q}" for b in free for q in ("rx", "ry", "rz", "tx", "ty", "tz")]
    rvecs, tvecs = [p[0] for p in poses], [p[1] for p in poses]
    return solve_covariance(model, J, r, K, dist, rvecs, tvecs, extra)
