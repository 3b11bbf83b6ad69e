"""Camera models (lens distortion families) and their distortion coefficients' names, shared
by the intrinsics fit (:mod:`calibration.intrinsics`) and its covariance
(:mod:`calibration.covariance`), which the fit itself uses."""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Model(enum.StrEnum):
    """Camera model (lens distortion family)."""

    PINHOLE5 = "pinhole5"
    PINHOLE8 = "pinhole8"
    FISHEYE = "fisheye"


DIST_NAMES: dict[Model, tuple[str, ...]] = {
    Model.PINHOLE5: ("k1", "k2", "p1", "p2", "k3"),
    Model.PINHOLE8: ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"),
    Model.FISHEYE: ("k1", "k2", "k3", "k4"),
}
