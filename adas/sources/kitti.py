"""KITTI labels: tracking (``label_02/SSSS.txt``) and object detection (``label_2/NNNNNN.txt``).

Tracking format (KITTI tracking devkit, one object per line): frame, track id, type, truncated
(0-2), occluded (0-3), alpha, 2D box (x1 y1 x2 y2, pixels), 3D dimensions (h w l, m), location
(x y z, m, rectified camera frame: bottom centre of the 3D box), rotation_y (rad). The object
detection format is the same without the first two columns (one file per image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from adas.errors import DataFormatError
from adas.types import ObjectClass

KITTI_CLASSES: dict[str, ObjectClass] = {
    "Car": ObjectClass.CAR,
    "Van": ObjectClass.VAN,
    "Truck": ObjectClass.TRUCK,
    "Pedestrian": ObjectClass.PEDESTRIAN,
    "Person_sitting": ObjectClass.PEDESTRIAN,
    "Cyclist": ObjectClass.BICYCLE,
    "Tram": ObjectClass.TRAIN,
    "Misc": ObjectClass.OTHER,
}
KITTI_FRAME_PERIOD_NS = 100_000_000  # 10 Hz (Geiger et al., IJRR 2013)
KITTI_IMAGE_SIZE = (1242, 375)  # width, height of most KITTI colour images
KITTI_CAMERA_HEIGHT_M = 1.65  # cam2 above the road (KITTI setup page, Geiger et al. 2013)


@dataclass(frozen=True)
class KittiObject:
    frame: int
    track_id: int
    kind: str
    truncation: float
    occlusion: int
    xyxy: tuple[float, float, float, float]
    hwl_m: tuple[float, float, float]
    xyz_m: tuple[float, float, float]
    rotation_y: float

    @property
    def object_class(self) -> ObjectClass:
        return KITTI_CLASSES.get(self.kind, ObjectClass.OTHER)

    @property
    def nearest_face_m(self) -> float:
        """Depth of the nearest point of the 3D box (its nearest face or corner), metres.

        KITTI boxes have length along the object's x axis, which points along camera x when
        rotation_y = 0, so the half-extent in depth is (l/2)|sin ry| + (w/2)|cos ry|.
        """
        _, width, length = self.hwl_m
        ry = self.rotation_y
        return self.xyz_m[2] - 0.5 * length * abs(math.sin(ry)) - 0.5 * width * abs(math.cos(ry))

    @property
    def nearest_face_issue_formula_m(self) -> float:
        """The formula written in issue 2, ``z - (l/2)|cos ry| - (w/2)|sin ry|``, kept for
        comparison: it swaps sin and cos for KITTI's rotation_y convention."""
        _, width, length = self.hwl_m
        ry = self.rotation_y
        return self.xyz_m[2] - 0.5 * length * abs(math.cos(ry)) - 0.5 * width * abs(math.sin(ry))


def load_tracking_labels(path: str | Path) -> list[KittiObject]:
    """All objects of one sequence (DontCare regions included, kind ``DontCare``)."""
    return _load(Path(path), tracking=True)


def load_object_labels(path: str | Path) -> list[KittiObject]:
    """All objects of one KITTI object-detection image (frame 0, track id -1)."""
    return _load(Path(path), tracking=False)


def _load(path: Path, *, tracking: bool) -> list[KittiObject]:
    objects = []
    first = 2 if tracking else 0  # index of the type column
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        msg = f"cannot read KITTI labels {path}: {exc}"
        raise DataFormatError(msg) from exc
    for lineno, line in enumerate(lines, 1):
        tok = line.split()
        if not tok:
            continue
        if len(tok) < first + 15:
            msg = f"{path}:{lineno}: expected {first + 15} fields, got {len(tok)}"
            raise DataFormatError(msg)
        try:
            v = [float(t) for t in tok[first + 1 : first + 15]]
            obj = KittiObject(
                frame=int(tok[0]) if tracking else 0,
                track_id=int(tok[1]) if tracking else -1,
                kind=tok[first],
                truncation=v[0],
                occlusion=int(v[1]),
                xyxy=(v[3], v[4], v[5], v[6]),
                hwl_m=(v[7], v[8], v[9]),
                xyz_m=(v[10], v[11], v[12]),
                rotation_y=v[13],
            )
        except ValueError as exc:
            msg = f"{path}:{lineno}: {exc}"
            raise DataFormatError(msg) from exc
        objects.append(obj)
    return objects
