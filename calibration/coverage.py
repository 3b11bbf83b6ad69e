"""Where calibration points fall in the image: counts per cell of a coarse grid, shown in the
reports so a user sees which parts of the image constrained the model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from calibration.detect import Detection

COVERAGE_GRID = (8, 6)  # cells across, down


def coverage_of_points(
    points: npt.ArrayLike, size: tuple[int, int], grid: tuple[int, int] = COVERAGE_GRID
) -> npt.NDArray[np.int64]:
    """Point counts per image cell (rows x cols) of N x 2 pixel positions."""
    cols, rows = grid
    counts = np.zeros((rows, cols), np.int64)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if pts.size:
        c = np.clip((pts[:, 0] + 0.5) * cols // size[0], 0, cols - 1).astype(int)
        r = np.clip((pts[:, 1] + 0.5) * rows // size[1], 0, rows - 1).astype(int)
        np.add.at(counts, (r, c), 1)
    return counts


def coverage_map(
    views: Sequence[Detection], size: tuple[int, int], grid: tuple[int, int] = COVERAGE_GRID
) -> npt.NDArray[np.int64]:
    """Corner counts per image cell (rows x cols): where the views constrained the model."""
    pts = [np.asarray(v.image_points, np.float64).reshape(-1, 2) for v in views]
    return coverage_of_points(np.concatenate(pts) if pts else np.zeros((0, 2)), size, grid)
