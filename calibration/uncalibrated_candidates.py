"""Fundamental-matrix candidates of an uncalibrated rectification and how they are scored.

F candidates (:func:`estimate_fundamentals`): 8-point on all matches; RANSAC, LMedS, MAGSAC,
each also refitted by 8-point on its inliers; 8-point on random halves of the MAGSAC inliers.
``cv2.stereoRectifyUncalibrated`` (Hartley) gives each its homographies H1, H2
(:func:`fit_candidate`). A candidate is *acceptable* when it keeps >= 90 % of the largest
inlier count and its RMS row misalignment on the consensus matches (inliers of at least half
the candidates) is within ``DY_TOLERANCE_FACTOR`` x the best + ``DY_TOLERANCE_PX``; the least
deforming acceptable one wins (:func:`score_candidates`). Deformation (dimensionless, summed
over H1 and H2) extends Loop & Zhang's skew/aspect criteria: the warped cross of edge midpoints
should stay perpendicular (|90 deg - angle|, radians) with the image's aspect ratio (|ln ratio
change|), and the local area scale (Jacobian determinant) even over the corners (ln max/min,
the projective part). 0.01 is about a 1 % stretch or a 0.6 deg shear. A homography that is
singular, sends part of the image through the line at infinity or scales its area beyond
``MAX_SCALE`` is degenerate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from calibration.uncalibrated_matches import FloatArray, Matches

BoolArray = npt.NDArray[np.bool_]

MIN_MATCHES = 8  # the 8-point algorithm's minimum
THRESHOLD_PX = 1.0  # Sampson distance of an inlier, pixels
CONFIDENCE = 0.999
SUBSETS = 4  # random-half candidates
DY_TOLERANCE_FACTOR = 1.10  # acceptable dy RMS: within 10 % of the best candidate's ...
DY_TOLERANCE_PX = 0.01  # ... plus this, so candidates equal within noise all compete
MIN_INLIER_SHARE = 0.9  # of the largest inlier count among candidates
MAX_SCALE = 4.0  # a homography shrinking or growing the image area more than this is broken


@dataclass(frozen=True)
class Deformation:
    """How much a homography distorts the image (see the module doc); all dimensionless."""

    skew_rad: float  # |90 deg - angle between the warped edge-midpoint cross|
    aspect: float  # |ln(warped aspect ratio / original)|
    perspective: float  # ln(max / min) of the Jacobian determinant over the 4 corners
    scale: float  # warped area / original area (not part of the score; degeneracy check)

    @property
    def score(self) -> float:
        """Sum of the three distortion terms."""
        return self.skew_rad + self.aspect + self.perspective


def _warp(H: FloatArray, pts: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pixels after H (N x 2) and their homogeneous w."""
    h = np.column_stack([pts, np.ones(len(pts))]) @ H.T
    return h[:, :2] / h[:, 2:3], h[:, 2]


def deformation(H: FloatArray, image_size: tuple[int, int]) -> Deformation | None:
    """Deformation of ``H`` on a ``image_size`` (width, height) image; None when degenerate."""
    w, h = image_size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    mids = np.array([[w / 2, 0], [w, h / 2], [w / 2, h], [0, h / 2]], np.float64)
    det = float(np.linalg.det(H))
    wc = (np.column_stack([corners, np.ones(4)]) @ H.T)[:, 2]
    if not (np.isfinite(H).all() and abs(det) > 1e-12 and (np.all(wc > 0) or np.all(wc < 0))):
        return None
    (top, right, bottom, left), _ = _warp(H, mids)
    across, down = right - left, bottom - top
    cos = float(across @ down) / float(np.linalg.norm(across) * np.linalg.norm(down))
    jac = np.abs(det / wc**3)  # |det J| of x -> H x at each corner
    x, y = _warp(H, corners)[0].T
    area = 0.5 * abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1)))
    return Deformation(
        skew_rad=abs(math.pi / 2 - math.acos(max(-1.0, min(1.0, cos)))),
        aspect=abs(math.log(np.linalg.norm(across) / np.linalg.norm(down) * h / w)),
        perspective=float(np.log(jac.max() / jac.min())),
        scale=area / (w * h),
    )


def sampson_px(F: FloatArray, left: FloatArray, right: FloatArray) -> FloatArray:
    """Sampson distance (pixels, first-order geometric error) of each match under F."""
    xl = np.column_stack([left, np.ones(len(left))])
    xr = np.column_stack([right, np.ones(len(right))])
    Fl, Ftr = xl @ F.T, xr @ F
    num = np.einsum("ij,ij->i", xr, Fl) ** 2
    den = Fl[:, 0] ** 2 + Fl[:, 1] ** 2 + Ftr[:, 0] ** 2 + Ftr[:, 1] ** 2
    return np.sqrt(num / np.maximum(den, 1e-300))


def row_disparity(
    H1: FloatArray, H2: FloatArray, left: FloatArray, right: FloatArray
) -> FloatArray:
    """dy = y'_left - y'_right of each match after rectification, pixels."""
    return _warp(H1, left)[0][:, 1] - _warp(H2, right)[0][:, 1]


def dy_stats(a: FloatArray) -> tuple[float, float]:
    """RMS and median of |a| (NaN when empty)."""
    if not a.size:
        return math.nan, math.nan
    return float(np.sqrt(np.mean(a**2))), float(np.median(np.abs(a)))


@dataclass(frozen=True, eq=False)
class Candidate:
    """One fundamental-matrix estimate, its homographies and how it scored."""

    name: str
    F: FloatArray
    H1: FloatArray
    H2: FloatArray
    inliers: BoolArray  # Sampson distance <= threshold under this F
    deform: tuple[Deformation, Deformation] | None  # left, right; None when degenerate
    dy_rms_px: float = float("nan")  # on the consensus matches
    dy_median_px: float = float("nan")
    acceptable: bool = False

    @property
    def score(self) -> float:
        """Deformation score of H1 + H2 (infinite when degenerate)."""
        return math.inf if self.deform is None else sum(d.score for d in self.deform)


def fit_candidate(
    name: str, F: Any, pts: Matches, size: tuple[int, int], threshold_px: float
) -> Candidate | None:
    """The candidate of one F estimate on the (undistorted) matches ``pts`` of a ``size``
    (width, height) image; None when F is missing or keeps fewer than ``MIN_MATCHES`` inliers
    or Hartley's rectification fails."""
    if F is None or np.shape(F) != (3, 3) or not np.isfinite(F).all():
        return None  # estimators return 3k x 3 stacks or nothing on failure
    F = np.asarray(F, np.float64)
    inl = sampson_px(F, pts.left, pts.right) <= threshold_px
    if inl.sum() < MIN_MATCHES:
        return None
    ok, raw1, raw2 = cv2.stereoRectifyUncalibrated(pts.left[inl], pts.right[inl], F, size)
    if not ok:
        return None
    # scaled so the image centre has w = +1: maps and checks then see positive depth
    centre = np.array([size[0] / 2, size[1] / 2, 1.0])
    H1, H2 = (h / float((h @ centre)[2]) for h in (np.asarray(r, np.float64) for r in (raw1, raw2)))
    # Hartley's H1 shifts the left image to null the mean disparity, cutting off a strip. Centre
    # each image in x (a constant disparity offset) and both by one shift in y (dy unchanged).
    (xl, yl), (xr, yr) = H1[:2] @ centre, H2[:2] @ centre
    y_shift = size[1] / 2 - (yl + yr) / 2
    H1 = np.array([[1, 0, size[0] / 2 - xl], [0, 1, y_shift], [0, 0, 1]]) @ H1
    H2 = np.array([[1, 0, size[0] / 2 - xr], [0, 1, y_shift], [0, 0, 1]]) @ H2
    d1, d2 = deformation(H1, size), deformation(H2, size)
    if d1 and d2 and all(1 / MAX_SCALE <= d.scale <= MAX_SCALE for d in (d1, d2)):
        return Candidate(name, F, H1, H2, inl, (d1, d2))
    return Candidate(name, F, H1, H2, inl, None)


def estimate_fundamentals(
    pts: Matches, threshold_px: float, subsets: int, rng: np.random.Generator
) -> list[tuple[str, Any]]:
    """(name, F) of every estimator; see the module doc."""
    L, R = pts.left, pts.right
    out: list[tuple[str, Any]] = [("8point", cv2.findFundamentalMat(L, R, cv2.FM_8POINT)[0])]
    robust = {"ransac": cv2.FM_RANSAC, "lmeds": cv2.FM_LMEDS, "magsac": cv2.USAC_MAGSAC}
    inl = np.ones(len(L), bool)  # MAGSAC's inliers, where the subsets are drawn from
    for name, method in robust.items():
        F, mask = cv2.findFundamentalMat(L, R, method, threshold_px, CONFIDENCE)
        out.append((name, F))
        if mask is not None and int(mask.sum()) >= MIN_MATCHES:
            m = mask.ravel().astype(bool)
            inl = m if name == "magsac" else inl
            out.append((f"{name}+8point", cv2.findFundamentalMat(L[m], R[m], cv2.FM_8POINT)[0]))
    idx = np.flatnonzero(inl)
    if len(idx) >= 2 * MIN_MATCHES:
        for k in range(subsets):
            pick = rng.choice(idx, size=len(idx) // 2, replace=False)
            F = cv2.findFundamentalMat(L[pick], R[pick], cv2.FM_8POINT)[0]
            out.append((f"subset{k + 1}", F))
    return out


def score_candidates(
    found: list[Candidate], pts: Matches
) -> tuple[Candidate, tuple[Candidate, ...], BoolArray]:
    """The chosen candidate, every candidate scored (dy on the consensus matches, acceptable or
    not) and the consensus mask; see the module doc. ``found`` must hold a non-degenerate one."""
    usable = [c for c in found if c.deform is not None]
    votes = np.sum([c.inliers for c in usable], axis=0)
    consensus = votes * 2 >= len(usable)
    most = max(int(c.inliers.sum()) for c in usable)
    scored = []
    for c in found:
        rms, med = dy_stats(row_disparity(c.H1, c.H2, pts.left[consensus], pts.right[consensus]))
        scored.append(replace(c, dy_rms_px=rms, dy_median_px=med))
    limit = min(c.dy_rms_px for c in scored if c.deform) * DY_TOLERANCE_FACTOR + DY_TOLERANCE_PX
    candidates = tuple(replace(c, acceptable=bool(
        c.deform and c.dy_rms_px <= limit and c.inliers.sum() >= MIN_INLIER_SHARE * most
    )) for c in scored)  # fmt: skip
    chosen = min((c for c in candidates if c.acceptable), key=lambda c: c.score)
    return chosen, candidates, consensus
