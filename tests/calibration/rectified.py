"""Shared check: re-detect the OpenCV stereo set's pair 01 through rectification maps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

Maps = tuple[np.ndarray, np.ndarray]


def pair01_row_misalignment(folder: Path, left: Maps, right: Maps) -> float:
    """RMS px of y_left - y_right of the 9x6 corners found in the remapped left01/right01."""
    found = []
    for name, (mx, my) in (("left01.jpg", left), ("right01.jpg", right)):
        image = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        ok, pts = cv2.findChessboardCornersSB(
            cv2.remap(image, mx, my, cv2.INTER_LINEAR), (9, 6), flags=cv2.CALIB_CB_ACCURACY
        )
        assert ok, name
        found.append(pts.reshape(-1, 2))
    dy = found[0][:, 1] - found[1][:, 1]
    return float(np.sqrt(np.mean(dy**2)))
