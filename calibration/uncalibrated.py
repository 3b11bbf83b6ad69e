"""Rectify a stereo pair from matched points alone (no board pose, no stereo calibration).

Where a camera's intrinsics are known its points are undistorted first (to pixels of the ideal
pinhole with the same K) so that a fundamental matrix F fits them at all. F candidates: 8-point
on all matches; RANSAC, LMedS, MAGSAC, each also refitted by 8-point on its inliers; 8-point on
random halves of the MAGSAC inliers. ``cv2.stereoRectifyUncalibrated`` (Hartley) gives each
its homographies H1, H2. A candidate is *acceptable* when it keeps >= 90 % of the largest
inlier count and its RMS row misalignment on the consensus matches (inliers of at least half
the candidates) is within ``DY_TOLERANCE_FACTOR`` x the best + ``DY_TOLERANCE_PX``; the least
deforming acceptable one wins. Deformation (dimensionless, summed over H1 and H2) extends Loop &
Zhang's skew/aspect criteria: the warped cross of edge midpoints should stay perpendicular
(|90 deg - angle|, radians) with the image's aspect ratio (|ln ratio change|), and the local
area scale (Jacobian determinant) even over the corners (ln max/min, the projective part).
0.01 is about a 1 % stretch or a 0.6 deg shear. A homography that is singular, sends part of
the image through the line at infinity or scales its area beyond ``MAX_SCALE`` is degenerate.

Row misalignment dy = y'_left - y'_right (pixels; H applied to the undistorted points):
``dy_rms_px`` / ``dy_median_px`` over the matches the chosen F keeps as inliers (Sampson
distance <= ``threshold_px``), ``*_all_px`` over every match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from adas.camera import CameraModel
from adas.errors import CalibrationFileError
from calibration.detect import DetectionSet
from calibration.errors import CalibrationError, MatchError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Map = npt.NDArray[np.float32]  # cv2.remap lookup, rows x cols
Intrinsics = tuple[FloatArray, FloatArray]  # K (3 x 3 pixels), OpenCV distortion coefficients

MIN_MATCHES = 8  # the 8-point algorithm's minimum
THRESHOLD_PX = 1.0  # Sampson distance of an inlier, pixels
CONFIDENCE = 0.999
SUBSETS = 4  # random-half candidates
DY_TOLERANCE_FACTOR = 1.10  # acceptable dy RMS: within 10 % of the best candidate's ...
DY_TOLERANCE_PX = 0.01  # ... plus this, so candidates equal within noise all compete
MIN_INLIER_SHARE = 0.9  # of the largest inlier count among candidates
MAX_SCALE = 4.0  # a homography shrinking or growing the image area more than this is broken
_UNDISTORT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)


@dataclass(frozen=True, eq=False)
class Matches:
    """Corresponding pixels in the left and right images (N x 2 each, row-aligned)."""

    left: FloatArray
    right: FloatArray

    def __post_init__(self) -> None:
        left, right = np.asarray(self.left, np.float64), np.asarray(self.right, np.float64)
        if left.ndim != 2 or left.shape[1:] != (2,) or left.shape != right.shape:
            msg = f"matches must be two N x 2 arrays, got {left.shape} and {right.shape}"
            raise MatchError(msg)
        if not (np.isfinite(left).all() and np.isfinite(right).all()):
            msg = "matches contain NaN or infinite coordinates"
            raise MatchError(msg)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)

    @property
    def count(self) -> int:
        """Number of matches."""
        return int(self.left.shape[0])


def _grey(image: npt.NDArray[np.uint8] | str | Path) -> npt.NDArray[np.uint8]:
    path = isinstance(image, str | Path)
    a = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE) if path else np.asarray(image)
    if a is None:
        msg = f"{image}: cannot read the image"
        raise MatchError(msg)
    return np.asarray(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY) if a.ndim == 3 else a, np.uint8)


def match_keypoints(
    left_img: npt.NDArray[np.uint8] | str | Path,
    right_img: npt.NDArray[np.uint8] | str | Path,
    *,
    max_features: int = 4000,
    ratio: float = 0.75,
) -> Matches:
    """SIFT matches between two images (arrays, BGR or grey, or paths): Lowe's ratio test
    (best distance < ``ratio`` x second best) left to right, kept only when mutual (the right
    keypoint's best match back is the same left keypoint)."""
    sift = cv2.SIFT.create(nfeatures=max_features)
    kp_l, des_l = sift.detectAndCompute(_grey(left_img), None)
    kp_r, des_r = sift.detectAndCompute(_grey(right_img), None)
    if des_l is None or des_r is None or len(kp_l) < 2 or len(kp_r) < 2:
        return Matches(np.zeros((0, 2)), np.zeros((0, 2)))
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    back = {m.queryIdx: m.trainIdx for m in matcher.match(des_r, des_l)}
    left, right = [], []
    for pair in matcher.knnMatch(des_l, des_r, k=2):
        ok = len(pair) == 2 and pair[0].distance < ratio * pair[1].distance
        if ok and back.get(pair[0].trainIdx) == pair[0].queryIdx:  # ratio test, then mutual
            left.append(kp_l[pair[0].queryIdx].pt)
            right.append(kp_r[pair[0].trainIdx].pt)
    return Matches(np.reshape(left, (-1, 2)), np.reshape(right, (-1, 2)))


def board_matches(left: DetectionSet, right: DetectionSet) -> Matches:
    """Board corners as matches: image i of ``left`` pairs with image i of ``right`` (sorted
    globs pair left01 with right01), corners paired by id; undetected views add nothing."""
    if len(left.detections) != len(right.detections):
        msg = f"{len(left.detections)} left and {len(right.detections)} right images; pair them"
        raise MatchError(msg)
    pts_l, pts_r = [np.zeros((0, 2))], [np.zeros((0, 2))]
    for dl, dr in zip(left.detections, right.detections, strict=True):
        if dl.count < left.min_corners or dr.count < right.min_corners:
            continue
        _, il, ir = np.intersect1d(dl.ids, dr.ids, return_indices=True)
        pts_l.append(np.asarray(dl.image_points, np.float64)[il])
        pts_r.append(np.asarray(dr.image_points, np.float64)[ir])
    return Matches(np.concatenate(pts_l), np.concatenate(pts_r))


def load_camera(path: str | Path, *, image_size: tuple[int, int] | None = None) -> Intrinsics:
    """(K, dist) from an OpenCV YAML such as ``adas-calibrate intrinsics --out`` writes
    (pinhole models; fisheye files are refused). ``image_size`` (width, height) is checked."""
    try:
        cam = CameraModel.from_opencv_yaml(path)
    except CalibrationFileError as exc:
        raise CalibrationError(str(exc)) from exc
    if image_size is not None and (cam.width, cam.height) != tuple(image_size):
        msg = f"{path}: calibrated for {cam.width} x {cam.height}, images are {image_size}"
        raise CalibrationError(msg)
    return np.array(cam.K, np.float64), np.array(cam.dist, np.float64)


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


def _candidate(
    name: str, F: Any, pts: Matches, size: tuple[int, int], threshold_px: float
) -> Candidate | None:
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


def _estimates(
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
    estimates = _estimates(pts, threshold_px, subsets, rng)
    found = [c for n, F in estimates if (c := _candidate(n, F, pts, size, threshold_px))]
    usable = [c for c in found if c.deform is not None]
    if not usable:
        msg = (
            f"no usable rectification from {matches.count} matches ({len(found)} candidates,"
            " all degenerate): are the matches mostly wrong, or the cameras nearly in line?"
        )
        raise MatchError(msg)
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
