"""What uncalibrated rectification starts from: matched pixels and, optionally, intrinsics.

Matches come from SIFT keypoints of two images (:func:`match_keypoints`) or from board corners
detected in both (:func:`board_matches`); :func:`load_camera` reads a camera's K and
distortion where they are known, so :mod:`calibration.uncalibrated` can undistort the points
before it fits a fundamental matrix to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from adas.camera import CameraModel
from adas.camera_lens import Lens
from adas.errors import CalibrationFileError
from calibration.detect import DetectionSet
from calibration.errors import CalibrationError, MatchError

FloatArray = npt.NDArray[np.float64]
Intrinsics = tuple[FloatArray, FloatArray]  # K (3 x 3 pixels), OpenCV distortion coefficients


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
    (pinhole models; a fisheye file is refused). ``image_size`` (width, height) is checked."""
    try:
        cam = CameraModel.from_opencv_yaml(path)
    except CalibrationFileError as exc:
        raise CalibrationError(str(exc)) from exc
    if cam.lens is not Lens.PINHOLE:  # the matches are undistorted with the pinhole model
        msg = f"{path}: a {cam.lens.value} camera; rectify-uncalibrated takes pinhole cameras"
        raise CalibrationError(msg)
    if image_size is not None and (cam.width, cam.height) != tuple(image_size):
        msg = f"{path}: calibrated for {cam.width} x {cam.height}, images are {image_size}"
        raise CalibrationError(msg)
    return np.array(cam.K, np.float64), np.array(cam.dist, np.float64)
