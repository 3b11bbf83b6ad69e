"""Exceptions of the ``calibration`` package. Messages say what was wrong and what to do."""


class CalibrationError(Exception):
    """Base class of every error this package raises on purpose."""


class BoardSpecError(CalibrationError, ValueError):
    """A board description (spec file or command-line geometry) is missing or inconsistent."""


class DetectionError(CalibrationError, ValueError):
    """The input images cannot be used for detection (none given, unreadable, mixed sizes)."""


class NotEnoughViewsError(CalibrationError, ValueError):
    """Too few usable views (or corners) remain to calibrate the chosen camera model."""


class OutputError(CalibrationError, OSError):
    """A result file (board, YAML, JSON, report) could not be written."""


class MatchError(CalibrationError, ValueError):
    """Matched points (left/right) are malformed, too few, or admit no usable epipolar geometry."""
