"""Corner detection on a set of calibration images, in parallel threads.

ChArUco: markers are found once per image, then corners are interpolated for both the modern
and the legacy layout (OpenCV 4.6 moved the markers on boards with an even number of rows);
the layout that yields more corners over the whole set wins and is reported. Partial views are
fine: every corner carries its id, so it needs no full board. Chessboards need the whole board
in view: ``findChessboardCornersSB`` first, ``findChessboardCorners`` + ``cornerSubPix`` as a
fallback. An image with fewer than ``min_corners`` corners is kept in the result and reported
as not detected, never dropped silently. OpenCV releases the GIL, so threads run in parallel.
Board arrays (:mod:`calibration.board_array`): each board's corners come from its own markers,
with global corner ids and array-frame points, one Detection per image for all the boards.
"""

from __future__ import annotations

import enum
import glob
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from calibration.board_array import ArraySpec
from calibration.boards import BoardKind, BoardSpec
from calibration.errors import DetectionError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")
MIN_CORNERS = 6  # fewest corners for a view to constrain a pose (6 DoF) with some redundancy
Points2 = npt.NDArray[np.float32]  # N x 2 pixels
Points3 = npt.NDArray[np.float32]  # N x 3 board metres

# Marker bits on small or blurred markers (the 3-camera set: ~5 px per bit, thin white gap)
# decode more reliably when each bit is sampled on 8 x 8 pixels with a 30 % margin ignored
# instead of OpenCV's 4 x 4 and 13 %; measured on that set: 61 -> 62 of 66 views detected.
_MARKER_PIXELS_PER_BIT = 8
_MARKER_IGNORED_MARGIN = 0.3
# findChessboardCornersSB: plain first (most accurate on the OpenCV stereo set: 0.235 px RMS
# against 0.256 px with normalisation), then normalised and exhaustive for hard images.
_SB_ATTEMPTS = (
    cv2.CALIB_CB_ACCURACY,
    cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY,
)
_CLASSIC_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001)


class Layout:
    """Names of the ChArUco layouts in reports."""

    MODERN = "modern"
    LEGACY = "legacy"
    NONE = "n/a"  # plain chessboard


@dataclass(frozen=True)
class Detection:
    """Corners found in one image: pixels, board points (metres) and corner ids, row-aligned."""

    name: str
    path: str
    image_points: Points2
    object_points: Points3
    ids: npt.NDArray[np.int32]
    method: str  # "charuco-modern", "charuco-legacy", "sb", "classic" or "" (nothing found)
    error: str = ""  # why the image could not be used at all (unreadable), else empty

    @property
    def count(self) -> int:
        """Number of corners found."""
        return int(self.ids.size)


@dataclass(frozen=True)
class DetectionSet:
    """Every image's detection, the layout chosen and the image size shared by the set."""

    detections: tuple[Detection, ...]
    image_size: tuple[int, int]  # width, height in pixels
    layout: str
    min_corners: int
    corners_by_layout: dict[str, int] = field(default_factory=dict)

    @property
    def detected(self) -> tuple[Detection, ...]:
        """Images with at least ``min_corners`` corners: the calibration's views."""
        return tuple(d for d in self.detections if d.count >= self.min_corners)

    @property
    def not_detected(self) -> tuple[Detection, ...]:
        """Images with too few corners (or unreadable), reported by name."""
        return tuple(d for d in self.detections if d.count < self.min_corners)


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Image paths from files, folders (their images, sorted) and glob patterns, in order."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES))
        elif p.is_file():
            out.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item)))
            if not matches:
                msg = f"{item}: no such image, folder or matching file"
                raise DetectionError(msg)
            out.extend(m for m in matches if m.is_file())
    if not out:
        msg = "no images given; pass image files, a folder or a glob such as 'cam/*.png'"
        raise DetectionError(msg)
    return out


def _empty(name: str, path: str, error: str = "") -> Detection:
    return Detection(
        name,
        path,
        np.zeros((0, 2), np.float32),
        np.zeros((0, 3), np.float32),
        np.zeros(0, np.int32),
        "",
        error,
    )


def _read_grey(path: Path) -> npt.NDArray[np.uint8] | None:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if image is None else np.asarray(image, np.uint8)


def _markers(image: npt.NDArray[np.uint8], spec: BoardSpec) -> tuple[Sequence, np.ndarray | None]:
    """ArUco markers of ``spec``'s dictionary in ``image``: corners and ids (None: none)."""
    dictionary = spec.charuco_board().getDictionary()
    params = cv2.aruco.DetectorParameters()
    params.perspectiveRemovePixelPerCell = _MARKER_PIXELS_PER_BIT
    params.perspectiveRemoveIgnoredMarginPerCell = _MARKER_IGNORED_MARGIN
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, params).detectMarkers(image)
    return corners, ids


def _charuco_one(
    path: Path, spec: BoardSpec, layouts: Sequence[bool]
) -> tuple[tuple[int, int] | None, dict[bool, Detection]]:
    """Markers once, then ChArUco corners for each candidate layout (legacy flag -> result)."""
    image = _read_grey(path)
    if image is None:
        return None, {
            legacy: _empty(path.name, str(path), "unreadable image") for legacy in layouts
        }
    corners, marker_ids = _markers(image, spec)
    out: dict[bool, Detection] = {}
    for legacy in layouts:
        board = spec.charuco_board(legacy=legacy)
        method = f"charuco-{Layout.LEGACY if legacy else Layout.MODERN}"
        if marker_ids is None or len(marker_ids) == 0:
            out[legacy] = _empty(path.name, str(path))
            continue
        detector = cv2.aruco.CharucoDetector(board)
        ch_corners, ch_ids, _, _ = detector.detectBoard(
            image, markerCorners=corners, markerIds=marker_ids
        )
        if ch_ids is None or len(ch_ids) == 0:
            out[legacy] = _empty(path.name, str(path))
            continue
        obj, img = board.matchImagePoints(ch_corners, ch_ids)  # type: ignore[call-overload]
        out[legacy] = Detection(
            path.name,
            str(path),
            np.asarray(img, np.float32).reshape(-1, 2),
            np.asarray(obj, np.float32).reshape(-1, 3),
            np.asarray(ch_ids, np.int32).ravel(),
            method,
        )
    return (image.shape[1], image.shape[0]), out


def _subpix_window(points: Points2, cols: int) -> int:
    """Half-size of the cornerSubPix window: 5 px, or less where corners sit closer together."""
    grid = points.reshape(-1, cols, 2)
    spacing = min(
        float(np.linalg.norm(np.diff(grid, axis=1), axis=2).min()),
        float(np.linalg.norm(np.diff(grid, axis=0), axis=2).min()) if grid.shape[0] > 1 else 1e9,
    )
    return int(max(2, min(5, spacing * 0.4)))


class ChessboardMethod(enum.StrEnum):
    """How plain chessboards are found: the sector-based detector with a fallback, or only
    the classic one (OpenCV's older sample recipe, kept for comparison)."""

    AUTO = "auto"
    CLASSIC = "classic"


def _chessboard_one(
    path: Path, spec: BoardSpec, method_choice: ChessboardMethod
) -> tuple[tuple[int, int] | None, Detection]:
    image = _read_grey(path)
    if image is None:
        return None, _empty(path.name, str(path), "unreadable image")
    size = (image.shape[1], image.shape[0])
    pattern = spec.inner_corners
    found, pts, method = False, None, "sb"
    if method_choice is ChessboardMethod.AUTO:
        for flags in _SB_ATTEMPTS:
            found, pts = cv2.findChessboardCornersSB(image, pattern, flags=flags)
            if found:
                break
    if not found:
        found, pts = cv2.findChessboardCorners(image, pattern, flags=_CLASSIC_FLAGS)
        method = "classic"
        if found:
            pts = np.asarray(pts, np.float32)
            half = _subpix_window(np.asarray(pts, np.float32).reshape(-1, 2), pattern[0])
            pts = cv2.cornerSubPix(image, pts, (half, half), (-1, -1), _SUBPIX_CRITERIA)
    if not found:
        return size, _empty(path.name, str(path))
    obj = spec.chessboard_object_points()
    return size, Detection(
        path.name,
        str(path),
        np.asarray(pts, np.float32).reshape(-1, 2),
        obj,
        np.arange(len(obj), dtype=np.int32),
        method,
    )


R = TypeVar("R")


def each_image(
    files: Sequence[Path], one: Callable[[Path], R], workers: int,
    on_image: Callable[[], None] | None = None,
) -> list[R]:  # fmt: skip
    """``one(path)`` of every file on ``workers`` threads (OpenCV releases the GIL), in the
    files' order; ``on_image`` is called after each image, also when it failed."""

    def work(path: Path) -> R:
        try:
            return one(path)
        finally:
            if on_image is not None:
                on_image()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, files))


def detect_images(
    paths: Sequence[str | Path],
    spec: BoardSpec,
    *,
    workers: int = 2,
    min_corners: int = MIN_CORNERS,
    chessboard: ChessboardMethod | str = ChessboardMethod.AUTO,
    on_image: Callable[[], None] | None = None,
) -> DetectionSet:
    """Detect the board in every image (``workers`` threads); see the module doc.

    ``on_image`` is called once per finished image (a progress bar). All images must share one
    size; a mixed set raises DetectionError, since one set of intrinsics cannot fit both.
    """
    files = [Path(p) for p in paths]
    if not files:
        msg = "no images to detect the board in"
        raise DetectionError(msg)
    if min_corners < 4:
        msg = f"min_corners = {min_corners}: at least 4 corners are needed for a pose"
        raise DetectionError(msg)
    charuco = spec.kind is BoardKind.CHARUCO
    chess_method = ChessboardMethod(chessboard)
    layouts: tuple[bool, ...] = ()
    if charuco:
        layouts = (False, True) if spec.legacy is None else (spec.legacy,)

    def one(path: Path) -> tuple[tuple[int, int] | None, dict[bool, Detection]]:
        if charuco:
            return _charuco_one(path, spec, layouts)
        size, det = _chessboard_one(path, spec, chess_method)
        return size, {False: det}

    results = each_image(files, one, workers, on_image)

    sizes = {size for size, _ in results if size is not None}
    if len(sizes) > 1:
        msg = f"images have different sizes {sorted(sizes)}; calibrate each camera separately"
        raise DetectionError(msg)
    if not sizes:
        msg = f"none of the {len(files)} images could be read"
        raise DetectionError(msg)

    if charuco:
        totals = {
            (Layout.LEGACY if legacy else Layout.MODERN): sum(
                r[legacy].count for _, r in results if r[legacy].count >= min_corners
            )
            for legacy in layouts
        }
        # Ties (boards with an odd row count, where both layouts are the same) go to modern.
        best = max(layouts, key=lambda lg: (totals[Layout.LEGACY if lg else Layout.MODERN], -lg))
        layout = Layout.LEGACY if best else Layout.MODERN
        chosen = tuple(r[best] for _, r in results)
        log.info("ChArUco corners per layout %s; using the %s layout", totals, layout)
    else:
        totals, layout = {}, Layout.NONE
        chosen = tuple(r[False] for _, r in results)
    result = DetectionSet(chosen, sizes.pop(), layout, min_corners, totals)
    for d in result.not_detected:
        log.warning("%s: %s", d.name, d.error or f"{d.count} corners (< {min_corners}); not used")
    return result


def _array_one(path: Path, array: ArraySpec) -> tuple[tuple[int, int] | None, Detection]:
    """Every board of ``array`` in one image: markers once, then each board's ChArUco corners
    from its own markers; corner ids global, object points in the array frame (designed)."""
    image = _read_grey(path)
    if image is None:
        return None, _empty(path.name, str(path), "unreadable image")
    size = (image.shape[1], image.shape[0])
    corners, marker_ids = _markers(image, array.board)
    if marker_ids is None or len(marker_ids) == 0:
        return size, _empty(path.name, str(path))
    mids = np.asarray(marker_ids).ravel()
    found_ids, found_px = [], []
    for b in range(array.n_boards):
        first = b * array.markers_per_board
        mine = np.flatnonzero((mids >= first) & (mids < first + array.markers_per_board))
        if mine.size == 0:
            continue
        detector = cv2.aruco.CharucoDetector(array.board_spec(b).charuco_board())
        ch_corners, ch_ids, _, _ = detector.detectBoard(
            image, markerCorners=[corners[int(i)] for i in mine], markerIds=marker_ids[mine]
        )
        if ch_ids is not None and len(ch_ids) > 0:
            found_ids.append(np.asarray(ch_ids, np.int64).ravel() + b * array.corners_per_board)
            found_px.append(np.asarray(ch_corners, np.float32).reshape(-1, 2))
    if not found_ids:
        return size, _empty(path.name, str(path))
    ids = np.concatenate(found_ids)
    obj = array.array_points(ids).astype(np.float32)
    px = np.concatenate(found_px)
    return size, Detection(path.name, str(path), px, obj, ids.astype(np.int32), "charuco-array")


def detect_array_images(
    paths: Sequence[str | Path],
    array: ArraySpec,
    *,
    workers: int = 2,
    min_corners: int = MIN_CORNERS,
    on_image: Callable[[], None] | None = None,
) -> DetectionSet:
    """Detect a board array (:mod:`calibration.board_array`) in every image: one Detection per
    image holding the corners of all the boards found, global ids, array-frame points."""
    files = [Path(p) for p in paths]
    if not files:
        msg = "no images to detect the board array in"
        raise DetectionError(msg)

    results = each_image(files, lambda path: _array_one(path, array), workers, on_image)
    sizes = {size for size, _ in results if size is not None}
    if len(sizes) != 1:
        msg = f"images: {len(files)} given, sizes {sorted(sizes)}; need readable, one size"
        raise DetectionError(msg)
    layout = Layout.LEGACY if array.board.legacy else Layout.MODERN
    dets = tuple(d for _, d in results)
    result = DetectionSet(
        dets, sizes.pop(), layout, min_corners, {layout: sum(d.count for d in dets)}
    )
    for d in result.not_detected:
        log.warning("%s: %s", d.name, d.error or f"{d.count} corners (< {min_corners}); not used")
    return result
