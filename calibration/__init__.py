"""Camera calibration: printable boards, corner detection and single-camera intrinsics.

``adas-calibrate board`` writes a ChArUco or chessboard target and its spec file;
``adas-calibrate intrinsics`` detects corners (ChArUco with partial views, legacy/modern
layout found automatically; chessboards), calibrates a pinhole or fisheye model with outlier
view rejection and held-out error, and writes the files :mod:`adas.camera` reads.
Stereo, rig and mount calibration are later parts of the same issue.
"""

from calibration.errors import (
    BoardSpecError,
    CalibrationError,
    DetectionError,
    NotEnoughViewsError,
    OutputError,
)

__all__ = [
    "BoardSpecError",
    "CalibrationError",
    "DetectionError",
    "NotEnoughViewsError",
    "OutputError",
]
