"""Exceptions of the ``adas`` package. Messages say what was wrong and what to do."""


class AdasError(Exception):
    """Base class of every error this package raises on purpose."""


class ContractError(AdasError, ValueError):
    """A stage received or produced data that breaks a contract of ``adas.types``."""


class ConfigError(AdasError, ValueError):
    """A configuration value is missing, of the wrong type or out of its allowed range."""


class CalibrationFileError(AdasError, ValueError):
    """A camera calibration file could not be read or is inconsistent."""


class DataFormatError(AdasError, ValueError):
    """An input data file (labels, logs) is malformed."""


class ModelFormatError(AdasError, ValueError):
    """An ONNX model file is missing, unreadable, or its inputs/outputs are not a known
    detector layout."""


class SinkError(AdasError, OSError):
    """An output file could not be created, written or finalised."""
