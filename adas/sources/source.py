"""What every replay source hands on, and the bookkeeping they share.

:class:`SourceItem` (frame, ego state at its time, camera info) and the :class:`Source`
protocol that ``adas replay`` iterates; :class:`Skip` and :class:`Degraded`, the reasons counted
in ``Source.skipped`` and ``Source.degraded``; :class:`CameraInfo` (recorded intrinsics) and
:class:`EgoTrack` (ego state at a frame's time). Bag, video and folder sources all use them.
"""

from __future__ import annotations

import bisect
import enum
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import numpy as np

from adas.camera import DEFAULT_MOUNT, CameraModel, Mount
from adas.camera_lens import FISHEYE_NAMES, Lens, lens_from_name
from adas.errors import CalibrationFileError, DataFormatError
from adas.types import EgoState, EncodedImage, FloatArray, Frame

log = logging.getLogger(__name__)
NS_PER_S = 1_000_000_000
PINHOLE_MODELS = ("plumb_bob", "rational_polynomial", "")  # "": an uncalibrated camera


class Skip(enum.StrEnum):
    """Why a message (or the rest of a recording) was dropped: the keys of ``Source.skipped``."""

    UNSUPPORTED_ENCODING = "unsupported_encoding"  # image encoding/format we cannot decode
    BAD_IMAGE = "bad_image"  # wrong data length, bad step/size, undecodable JPEG/PNG bytes
    BAD_MESSAGE = "bad_message"  # message bytes not deserializable, or non-finite values
    TIME_NOT_INCREASING = "time_not_increasing"  # frame stamp <= the previous frame's
    UNREADABLE_FRAME = "unreadable_frame"  # video packet or image file the decoder rejects
    TRUNCATED = "truncated"  # the recording ends early (cut or damaged file); counted once


class Degraded(enum.StrEnum):
    """Frames that were yielded with an input missing: the keys of ``Source.degraded``."""

    NO_CAMERA_INFO = "no_camera_info"  # the recording (or the caller) gives no CameraInfo
    EGO_INVALID = "ego_invalid"  # no ego sample at or before the frame, or too old


def record_skip(skipped: Counter[str], reason: Skip, where: object, detail: str) -> None:
    """Count a skip and log it: the first of each reason as a warning, the rest at debug level,
    so a badly damaged recording does not flood the log."""
    skipped[reason] += 1
    level = logging.WARNING if skipped[reason] == 1 else logging.DEBUG
    log.log(level, "%s: skipped (%s): %s", where, reason.value, detail)


@dataclass(frozen=True, eq=False)
class CameraInfo:
    """Intrinsics as recorded (``sensor_msgs/CameraInfo``): pixels, OpenCV/ROS conventions.

    ``K`` 3 x 3, ``D`` distortion coefficients in ROS order (plumb_bob: k1 k2 p1 p2 k3, the
    OpenCV order), ``R`` 3 x 3 rectification, ``P`` 3 x 4 projection. An uncalibrated camera
    publishes K = 0 (``is_calibrated`` is False). Compare fields explicitly (arrays).
    """

    width: int
    height: int
    K: FloatArray
    D: FloatArray
    distortion_model: str
    R: FloatArray
    P: FloatArray
    frame_id: str = ""

    @property
    def is_calibrated(self) -> bool:
        return bool(self.K[0, 0] > 0 and self.K[1, 1] > 0)

    @classmethod
    def from_msg(cls, msg: Any) -> CameraInfo:
        """From a deserialized CameraInfo (ROS 1 names K/D/R/P, ROS 2 names k/d/r/p)."""

        def field(name: str, shape: tuple[int, ...]) -> FloatArray:
            raw = getattr(msg, name.lower(), None)
            raw = getattr(msg, name) if raw is None else raw
            a = np.array(raw, dtype=np.float64).reshape(shape)
            if not np.isfinite(a).all():
                text = f"CameraInfo.{name} holds non-finite values: {a.ravel().tolist()}"
                raise DataFormatError(text)
            return a

        return cls(
            width=int(msg.width),
            height=int(msg.height),
            K=field("K", (3, 3)),
            D=field("D", (-1,)),
            distortion_model=str(msg.distortion_model),
            R=field("R", (3, 3)),
            P=field("P", (3, 4)),
            frame_id=str(msg.header.frame_id),
        )

    @classmethod
    def from_camera_model(cls, cam: CameraModel, *, frame_id: str = "camera") -> CameraInfo:
        """An unrectified monocular camera: R = I, P = [K | 0]; plumb_bob for up to 5 terms,
        equidistant for a fisheye."""
        if cam.lens is Lens.FISHEYE:
            dist, model = np.array(cam.dist, dtype=np.float64), "equidistant"
        else:
            dist = np.pad(cam.dist, (0, max(0, 5 - cam.dist.size)))
            model = "plumb_bob" if dist.size == 5 else "rational_polynomial"
        K = np.array(cam.K, dtype=np.float64)
        P = np.hstack([K, np.zeros((3, 1))])
        return cls(cam.width, cam.height, K, dist, model, np.eye(3), P, frame_id)

    def camera_model(self, mount: Mount = DEFAULT_MOUNT) -> CameraModel:
        """The distance stage's camera: K and D of a plumb_bob / rational_polynomial camera, or
        of an equidistant (fisheye) one."""
        lens = lens_from_name(self.distortion_model)
        if lens is Lens.PINHOLE and self.distortion_model not in PINHOLE_MODELS:
            msg = (
                f"CameraInfo distortion_model {self.distortion_model!r} is not supported; use "
                f"{sorted({*PINHOLE_MODELS, *FISHEYE_NAMES} - {''})}"
            )
            raise CalibrationFileError(msg)
        return CameraModel(
            K=self.K, dist=self.D, width=self.width, height=self.height, mount=mount, lens=lens
        )


class EgoTrack:
    """Ego samples sorted by time; :meth:`at` is the most recent one at or before a frame.

    A sample older than ``max_age_ns`` (or none at all) gives ``valid=False``, so the control
    stage treats the frame as having no ego input (DESIGN: never brake on stale input).
    """

    def __init__(self, samples: Iterable[tuple[int, float, float]], *, max_age_ns: int) -> None:
        # Stable sort: among equal stamps the one recorded last wins (searchsorted right).
        rows = sorted(samples, key=lambda s: s[0])
        self.t_ns = [int(s[0]) for s in rows]
        self.speed_mps = [float(s[1]) for s in rows]
        self.yaw_rate_rps = [float(s[2]) for s in rows]
        self.max_age_ns = int(max_age_ns)

    def __len__(self) -> int:
        return len(self.t_ns)

    def at(self, t_ns: int) -> EgoState:
        i = bisect.bisect_right(self.t_ns, t_ns) - 1
        if i < 0:
            return EgoState(t_ns=t_ns, valid=False)
        fresh = t_ns - self.t_ns[i] <= self.max_age_ns
        return EgoState(
            t_ns=self.t_ns[i],
            speed_mps=self.speed_mps[i],
            yaw_rate_rps=self.yaw_rate_rps[i],
            valid=fresh,
        )


@dataclass(frozen=True, eq=False)
class SourceItem:
    """One frame of a recording with its ego state (always present; ``valid`` says whether it
    may be used) and the latest camera info (None where the source has none)."""

    frame: Frame
    ego: EgoState
    camera_info: CameraInfo | None = None
    # The frame as recorded (JPEG/PNG bytes, an H.264 access unit), where the source has it:
    # outputs store it as it came instead of encoding the decoded image again.
    encoded: EncodedImage | None = None


class Source(Protocol):
    """What ``adas replay`` iterates: frames in recorded time order, bad input counted.

    ``skipped`` counts dropped messages by :class:`Skip` reason (reset at each pass),
    ``degraded`` counts yielded frames with a missing input by :class:`Degraded` reason,
    ``truncation`` says why the recording ended early (None while it did not).
    """

    skipped: Counter[str]
    degraded: Counter[str]
    truncation: str | None

    def __iter__(self) -> Iterator[SourceItem]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
