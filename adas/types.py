"""Contracts between the stages (docs/architecture.md): frozen dataclasses of parallel numpy
arrays.

One row per object; names carry units; time is integer nanoseconds. Every container validates
its shapes in ``__post_init__`` so a malformed hand-over fails at the boundary that made it,
not three stages later.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from adas.errors import ContractError

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class PixelFormat(enum.Enum):
    """Layout of ``Frame.image``."""

    BGR8 = "bgr8"
    RGB8 = "rgb8"
    GRAY8 = "mono8"
    YUYV = "yuyv"  # YUY2, BT.601 limited range, H x 2W bytes
    BAYER_RGGB8 = "bayer_rggb8"


class ObjectClass(enum.IntEnum):
    """ADAS object classes (detector classes are mapped onto these by the detector adapter)."""

    PEDESTRIAN = 0
    BICYCLE = 1  # a cyclist: bicycle and rider (adas.detect.riders); a riderless one is OTHER
    CAR = 2
    MOTORCYCLE = 3  # with its rider, as BICYCLE
    BUS = 4
    TRUCK = 5
    VAN = 6
    TRAIN = 7  # trams and trains
    OTHER = 8


class RangeStatus(enum.IntEnum):
    """Why an object does or does not have a range. ``OK`` is the only usable value."""

    OK = 0
    NON_FINITE = 1  # NaN or inf in the box
    DEGENERATE = 2  # x2 <= x1 or y2 <= y1
    TOO_SMALL = 3  # below the minimum box size in pixels
    OFF_IMAGE = 4  # no overlap with the image
    ABOVE_HORIZON = 5  # bottom edge at or above the horizon and no usable size cue
    OUT_OF_RANGE = 6  # implied distance outside [min, max]


class RangeMethod(enum.IntEnum):
    """Which cues produced a range."""

    NONE = 0
    GROUND = 1  # ground contact point only
    SIZE = 2  # class size prior only
    FUSED = 3  # ground contact and size prior fused by their uncertainties


class Zone(enum.IntEnum):
    """Position of an object relative to the ego path (set by the danger stage)."""

    UNKNOWN = 0
    IN_PATH = 1
    ADJACENT = 2
    OUTSIDE = 3


class DangerLevel(enum.IntEnum):
    """Per-object danger (set by the danger stage), ordered: higher is more urgent."""

    NONE = 0
    CAUTION = 1  # following too close (time headway below about 1 s)
    WARNING = 2  # forward collision warning
    BRAKE_PARTIAL = 3
    BRAKE_FULL = 4


class DecisionLevel(enum.IntEnum):
    NONE = 0
    CAUTION = 1
    WARNING = 2
    BRAKE_PARTIAL = 3
    BRAKE_FULL = 4
    UNAVAILABLE = 5


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ContractError(msg)


def _check_rows(name: str, arrays: dict[str, np.ndarray], n: int) -> None:
    for key, arr in arrays.items():
        shape = arr.shape
        if not shape or shape[0] != n:  # the message is only formatted for a failure
            msg = f"{name}.{key} has shape {shape}, expected {n} rows like the other fields"
            raise ContractError(msg)


@dataclass(frozen=True)
class Frame:
    """One camera image. ``image`` is H x W x C uint8, or 2-D for Bayer / YUYV raw."""

    image: npt.NDArray[np.uint8]
    pixel_format: PixelFormat
    t_ns: int
    seq: int = 0
    camera_id: str = "front"

    def __post_init__(self) -> None:
        _require(self.image.dtype == np.uint8, f"Frame.image must be uint8, got {self.image.dtype}")
        _require(
            self.image.ndim in (2, 3), f"Frame.image must be 2-D or 3-D, got {self.image.ndim}"
        )


ENCODED_FORMATS = ("jpeg", "png", "h264")


@dataclass(frozen=True)
class EncodedImage:
    """A frame as recorded, for outputs to store without re-encoding: ``jpeg``/``png`` (one
    image), or ``h264`` (one access unit, Annex B with start codes, as foxglove_msgs/
    CompressedVideo carries it; ``keyframe``: an IDR unit, with its SPS and PPS)."""

    format: str
    data: bytes
    keyframe: bool = True

    def __post_init__(self) -> None:
        ok = self.format in ENCODED_FORMATS
        _require(ok, f"EncodedImage.format must be one of {ENCODED_FORMATS}: {self.format!r}")
        _require(isinstance(self.data, bytes), "EncodedImage.data must be bytes")


@dataclass(frozen=True)
class EgoState:
    """Ego vehicle state from the vehicle bus."""

    t_ns: int
    speed_mps: float = 0.0
    yaw_rate_rps: float = 0.0
    accel_mps2: float = 0.0
    brake_pedal: float = 0.0  # 0..1
    turn_signal: int = 0  # -1 right, 0 off, +1 left (ISO 8855: y left)
    valid: bool = True


@dataclass(frozen=True)
class Detections:
    """Detector output in pixels of the original image (x1, y1, x2, y2), like supervision."""

    xyxy: Float32Array
    score: Float32Array
    class_id: IntArray

    def __post_init__(self) -> None:
        shape = self.xyxy.shape
        if len(shape) != 2 or shape[1] != 4:
            msg = f"Detections.xyxy must be N x 4, got {shape}"
            raise ContractError(msg)
        n = shape[0]
        _check_rows("Detections", {"score": self.score, "class_id": self.class_id}, n)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
        )

    @classmethod
    def from_arrays(
        cls, xyxy: npt.ArrayLike, score: npt.ArrayLike, class_id: npt.ArrayLike
    ) -> Detections:
        return cls(
            xyxy=np.asarray(xyxy, np.float32).reshape(-1, 4),
            score=np.asarray(score, np.float32).reshape(-1),
            class_id=np.asarray(class_id, np.int64).reshape(-1),
        )


@dataclass(frozen=True)
class Tracks:
    """Confirmed tracks of one frame with identity and bookkeeping.

    ``xyxy`` is the associated detection's box when the track was seen this frame
    (``time_since_update == 0``) and the motion model's predicted box while coasting: later
    stages filter in metric space, so they get the measurement, not a smoothed, lagging box.
    """

    xyxy: Float32Array
    score: Float32Array
    class_id: IntArray
    track_id: IntArray
    age: IntArray  # frames since birth
    hits: IntArray  # frames with an associated detection
    time_since_update: IntArray  # frames since the last associated detection (0 = seen now)
    det_index: IntArray  # row of this frame's Detections associated with the track, -1 if coasting

    def __post_init__(self) -> None:
        shape = self.xyxy.shape
        if len(shape) != 2 or shape[1] != 4:
            msg = f"Tracks.xyxy must be N x 4, got {shape}"
            raise ContractError(msg)
        n = shape[0]
        _check_rows(
            "Tracks",
            {
                "score": self.score,
                "class_id": self.class_id,
                "track_id": self.track_id,
                "age": self.age,
                "hits": self.hits,
                "time_since_update": self.time_since_update,
                "det_index": self.det_index,
            },
            n,
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Tracks:
        z = np.zeros(0, np.int64)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), z, z, z, z, z, z)


@dataclass(frozen=True)
class RangeEstimates:
    """Output of the distance stage, one row per input box (vehicle frame, ISO 8855).

    ``distance_m`` is the longitudinal gap from the ego front bumper to the object's nearest
    face; ``lateral_m`` is positive to the left. Rows whose ``status`` is not OK hold NaN in
    every float field and must not be used.
    """

    distance_m: FloatArray
    lateral_m: FloatArray
    sigma_distance_m: FloatArray
    sigma_lateral_m: FloatArray
    status: IntArray  # RangeStatus
    method: IntArray  # RangeMethod
    pitch_rad: float  # camera pitch used for this frame (positive = nose down)
    # True where the box is cut by the image's left or right border (within the distance
    # stage's margin): range and lateral position describe the visible part only (default False).
    side_cut: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    # True where the box is cut by the image's bottom border: too near for its ground contact
    # to show; its height is the cut's, shrinking as it nears (default False).
    bottom_cut: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))

    def __post_init__(self) -> None:
        n = self.distance_m.shape[0]
        for key in ("side_cut", "bottom_cut"):
            if getattr(self, key).shape[0] == 0 and n > 0:
                object.__setattr__(self, key, np.zeros(n, np.bool_))
        _check_rows(
            "RangeEstimates",
            {
                "side_cut": self.side_cut,
                "bottom_cut": self.bottom_cut,
                "lateral_m": self.lateral_m,
                "sigma_distance_m": self.sigma_distance_m,
                "sigma_lateral_m": self.sigma_lateral_m,
                "status": self.status,
                "method": self.method,
            },
            n,
        )

    def __len__(self) -> int:
        return int(self.distance_m.shape[0])

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.status == RangeStatus.OK)


@dataclass(frozen=True)
class ObjectStates:
    """Per-track kinematic state relative to the ego vehicle (output of the motion stage)."""

    track_id: IntArray
    distance_m: FloatArray
    lateral_m: FloatArray
    sigma_distance_m: FloatArray
    range_rate_mps: FloatArray  # negative = closing
    accel_mps2: FloatArray  # relative longitudinal acceleration
    # Positive = moving left; the object's own lateral motion in the ego frame, without the
    # sideways drift our own turning gives everything ahead (-yaw_rate x distance).
    lateral_velocity_mps: FloatArray
    ttc_s: FloatArray  # inf when opening or not closing fast enough
    sigma_ttc_s: FloatArray
    # Filled by the danger stage; before it they hold the defaults below.
    zone: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # Zone (UNKNOWN)
    danger: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # DangerLevel (NONE)
    # Ego deceleration [m/s^2] that avoids contact, counted from when the brakes act; 0 for
    # objects not in the path (default 0).
    required_decel_mps2: FloatArray = field(default_factory=lambda: np.zeros(0))
    # Time headway [s]: distance over ego speed; inf at (near) standstill (default inf).
    headway_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    # Standard deviation of lateral_velocity_mps [m/s] as the motion stage knows it (default 0:
    # taken as exact by the danger stage, which then relies on its deadband alone).
    sigma_lateral_velocity_mps: FloatArray = field(default_factory=lambda: np.zeros(0))
    # The track's ObjectClass (copied from Tracks.class_id by the motion stage; default OTHER,
    # which the control stage's warning-first rule treats as a vehicle).
    class_id: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = self.track_id.shape[0]
        defaults = {
            "zone": (Zone.UNKNOWN, np.int64),
            "danger": (DangerLevel.NONE, np.int64),
            "required_decel_mps2": (0.0, np.float64),
            "headway_s": (np.inf, np.float64),
            "sigma_lateral_velocity_mps": (0.0, np.float64),
            "class_id": (ObjectClass.OTHER, np.int64),
        }
        for key, (value, dtype) in defaults.items():
            if getattr(self, key).shape[0] != n:
                object.__setattr__(self, key, np.full(n, value, dtype))
        _check_rows(
            "ObjectStates",
            {
                "distance_m": self.distance_m,
                "lateral_m": self.lateral_m,
                "sigma_distance_m": self.sigma_distance_m,
                "range_rate_mps": self.range_rate_mps,
                "accel_mps2": self.accel_mps2,
                "lateral_velocity_mps": self.lateral_velocity_mps,
                "ttc_s": self.ttc_s,
                "sigma_ttc_s": self.sigma_ttc_s,
            },
            n,
        )

    def __len__(self) -> int:
        return int(self.track_id.shape[0])

    @classmethod
    def empty(cls) -> ObjectStates:
        z = np.zeros(0, np.float64)
        return cls(np.zeros(0, np.int64), z, z, z, z, z, z, z, z)


@dataclass(frozen=True)
class Decision:
    level: DecisionLevel
    decel_request_mps2: float = 0.0
    target_track_id: int = -1
    reason: str = ""


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline produced for one frame, plus per-stage latency."""

    t_ns: int
    seq: int
    detections: Detections
    tracks: Tracks
    ranges: RangeEstimates
    objects: ObjectStates
    decision: Decision
    latency_ns: dict[str, int] = field(default_factory=dict)


class RuntimeState(enum.IntEnum):
    """``ADAS_Status.State``: what the vehicle may expect of the ADAS function."""

    INIT = 0  # starting: no decision yet
    OK = 1  # every input fresh, decisions valid
    DEGRADED = 2  # running with a fault (some frames dropped, ego partly missing...)
    UNAVAILABLE = 3  # no valid decisions: the vehicle must not rely on the function


class Fault(enum.IntFlag):
    """``ADAS_Status`` fault bits; the integer value equals byte 2 of the frame."""

    CAMERA_STALL = 0x01
    DEADLINE = 0x02
    INFERENCE_ERROR = 0x04
    EGO_INVALID = 0x08
    CAN_ERROR = 0x10
    CORRUPT_FRAME = 0x20
