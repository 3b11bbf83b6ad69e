"""Rectify a stereo pair from matched points alone (no board pose, no stereo calibration).

Where a camera's intrinsics are known its points are undistorted first (to pixels of the ideal
pinhole with the same K) so that a fundamental matrix F fits them at all. Several F estimates
each give Hartley homographies H1, H2; the least deforming of those that keep most inliers and
rectify the consensus matches about as well as the best wins. The candidates, their
deformation measure and the choice are in :mod:`calibration.uncalibrated_candidates`; the
inputs (matches, known cameras) in :mod:`calibration.uncalibrated_matches`; the result files
in :mod:`calibration.uncalibrated_io`.

Row misalignment dy = y'_left - y'_right (pixels; H applied to the undistorted points):
``dy_rms_px`` / ``dy_median_px`` over the matches the chosen F keeps as inliers (Sampson
distance <= ``threshold_px``), ``*_all_px`` over every match.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from calibration.errors import MatchError
from calibration.uncalibrated_candidates import (
    MIN_MATCHES,
    SUBSETS,
    THRESHOLD_PX,
    BoolArray,
    Candidate,
    estimate_fundamentals,
    fit_candidate,
    row_disparity,
    score_candidates,
)
from calibration.uncalibrated_matches import FloatArray, Intrinsics, Matches

Map = npt.NDArray[np.float32]  # cv2.remap lookup, rows x cols
_UNDISTORT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)


@dataclass(frozen=True, eq=False)
class UncalibratedResult:
    """The chosen rectification and everything tried. Points are the ones H1/H2 apply to:
    undistorted pixels where the camera was given, else the raw matches."""

    matches: Matches
    points: Matches
    image_size: tuple[int, int]  # width, height
    left_cam: Intrinsics | None
    right_cam: Intrinsics | None
    chosen: Candidate
    candidates: tuple[Candidate, ...]
    consensus: BoolArray  # inliers of at least half the non-degenerate candidates

    @property
    def undistorted(self) -> bool:
        """Whether any side's points (and images) are undistorted before H applies."""
        return self.left_cam is not None or self.right_cam is not None

    @property
    def inliers(self) -> BoolArray:
        """Matches the chosen F keeps (Sampson distance <= threshold)."""
        return self.chosen.inliers

    @property
    def dy(self) -> FloatArray:
        """Row misalignment of every match after rectification, pixels."""
        return row_disparity(self.chosen.H1, self.chosen.H2, self.points.left, self.points.right)


def _undistort(pts: FloatArray, cam: Intrinsics | None) -> FloatArray:
    if cam is None:
        return pts
    K, dist = np.asarray(cam[0], np.float64), np.asarray(cam[1], np.float64)
    out = cv2.undistortPoints(pts.reshape(-1, 1, 2), K, dist, P=K, criteria=_UNDISTORT)
    return np.asarray(out, np.float64).reshape(-1, 2)


def rectify_uncalibrated(
    pts_left: npt.ArrayLike,
    pts_right: npt.ArrayLike,
    image_size: tuple[int, int],
    *,
    left_cam: Intrinsics | None = None,
    right_cam: Intrinsics | None = None,
    rng_seed: int = 0,
    threshold_px: float = THRESHOLD_PX,
    subsets: int = SUBSETS,
) -> UncalibratedResult:
    """Rectifying homographies for matched pixels (N x 2 each); see the module doc.

    ``image_size`` is (width, height) in pixels; ``threshold_px`` the inlier Sampson distance.
    Deterministic for a given ``rng_seed`` (it seeds OpenCV's RNG and the subsets).
    """
    matches = Matches(np.asarray(pts_left, np.float64), np.asarray(pts_right, np.float64))
    if matches.count < MIN_MATCHES:
        msg = f"{matches.count} matches; at least {MIN_MATCHES} are needed to estimate F"
        raise MatchError(msg)
    size = (int(image_size[0]), int(image_size[1]))
    pts = Matches(_undistort(matches.left, left_cam), _undistort(matches.right, right_cam))
    cv2.setRNGSeed(rng_seed)
    rng = np.random.default_rng(rng_seed)
    estimates = estimate_fundamentals(pts, threshold_px, subsets, rng)
    found = [c for n, F in estimates if (c := fit_candidate(n, F, pts, size, threshold_px))]
    if not any(c.deform is not None for c in found):
        msg = (
            f"no usable rectification from {matches.count} matches ({len(found)} candidates,"
            " all degenerate): are the matches mostly wrong, or the cameras nearly in line?"
        )
        raise MatchError(msg)
    chosen, candidates, consensus = score_candidates(found, pts)
    return UncalibratedResult(
        matches, pts, size, left_cam, right_cam, chosen, candidates, consensus
    )


@dataclass(frozen=True, eq=False)
class RectifyingCamera:
    """What ``cv2.initUndistortRectifyMap`` (and ROS ``image_proc``) takes for one side: the
    raw camera K and dist (identity and zeros when unknown: the points are then raw pixels),
    R and the rectified projection P (3 x 3), such that the rectified pixel of normalised
    undistorted x is P R x = H K x. R = P^-1 H K is a general 3 x 3, not a rotation: without
    a stereo calibration the homographies need not come from one. P is shared by both sides
    (the first known K) so the rectified pair has one camera matrix; the baseline is unknown."""

    K: FloatArray
    dist: FloatArray
    R: FloatArray
    P: FloatArray


def rectifying_cameras(result: UncalibratedResult) -> tuple[RectifyingCamera, RectifyingCamera]:
    """Left and right :class:`RectifyingCamera` of ``result`` (see there)."""
    sides = ((result.chosen.H1, result.left_cam), (result.chosen.H2, result.right_cam))
    known = [cam[0] for _, cam in sides if cam is not None]
    P = np.asarray(known[0] if known else np.eye(3), np.float64)
    out = []
    for H, cam in sides:
        K, dist = (np.eye(3), np.zeros(5)) if cam is None else (cam[0], cam[1])
        K = np.asarray(K, np.float64)
        R = np.asarray(np.linalg.solve(P, np.asarray(H, np.float64) @ K), np.float64)
        out.append(RectifyingCamera(K, np.asarray(dist, np.float64).ravel(), R, P))
    return out[0], out[1]


def rectify_maps(result: UncalibratedResult) -> tuple[tuple[Map, Map], tuple[Map, Map]]:
    """``cv2.remap`` maps (x, y, float32, image size) for the left and right raw images:
    undistortion (where the camera is known) and the homography in one lookup."""
    out = []
    for cam in rectifying_cameras(result):
        mx, my = cv2.initUndistortRectifyMap(
            cam.K, cam.dist, cam.R, cam.P, result.image_size, cv2.CV_32FC1
        )
        out.append((np.asarray(mx, np.float32), np.asarray(my, np.float32)))
    return out[0], out[1]
