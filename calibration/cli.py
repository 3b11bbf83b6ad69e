"""The ``adas-calibrate`` command (calibration lands in a later issue; this says so)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="adas-calibrate",
        description=(
            "Camera calibration (ChArUco / chessboard intrinsics, stereo and multi-camera "
            "rigs, rectification). Not implemented yet: no calibration commands exist."
        ),
    )
    p.parse_args(argv)
    print(
        "adas-calibrate: no calibration commands are implemented yet. Until then, calibrate "
        "with OpenCV and give the runtime its YAML (see adas.camera.CameraModel).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
