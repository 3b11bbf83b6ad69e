"""ROS 1 ``.bag`` and ROS 2 bags (sqlite3 or MCAP storage) as a replay :class:`Source`.

Reading goes through ``rosbags.highlevel.AnyReader``: messages come in recorded (log time)
order. A frame's ``t_ns`` is its ``header.stamp`` (capture time), or the log time where the
stamp is unset (zero). A frame whose time is not after the previous frame's is skipped: the
stages downstream filter over time and must never see time run backwards.

Ego motion is read in a first pass over the (small) ego topic, so each frame gets the most
recent ego sample *at or before its capture time* even where the ego message was logged later
than the image; samples older than ``max_ego_age_s`` are marked invalid. Camera info is the
latest one logged before the frame (the first one for frames logged before any). With
``keep_encoded`` a CompressedImage frame carries its JPEG/PNG bytes (``SourceItem.encoded``);
a raw Image frame none.

Damaged recordings do not raise during iteration: an undecodable message is counted in
``skipped`` and iteration goes on; a storage error ends the pass cleanly with
``skipped["truncated"] = 1``. rosbags cannot open a cut or unfinished ``.bag`` or ``.mcap``
file at all (their index sits at the end), so those are salvaged first into a temporary copy
holding every complete record before the damage (ROS 1: the complete chunks, rewritten with
rosbags' writer; MCAP: the complete records, closed with an empty footer, which rosbags reads
by a linear scan). A cut sqlite3 file cannot be salvaged this way and raises BagError.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection
from rosbags.typesys import Stores, get_typestore

from adas.closing import Closing
from adas.errors import DataFormatError
from adas.sources.image_codec import ImageDecodeError
from adas.sources.ros_messages import (
    CAMERA_INFO_TYPE,
    EGO_TYPES,
    IMAGE_TYPES,
    ego_from_msg,
    encoded_from_msg,
    frame_from_msg,
    header_stamp_ns,
    msgtype_name,
)
from adas.sources.salvage import salvage_mcap, salvage_ros1
from adas.sources.source import (
    NS_PER_S,
    CameraInfo,
    Degraded,
    EgoTrack,
    Skip,
    SourceItem,
    record_skip,
)
from adas.types import EgoState

log = logging.getLogger(__name__)

# s; for direct use of the sources. Replay and run pass the configured [replay] max_ego_age_s
# (data/config/default.toml, with its source), which this equals (tests/adas/test_app.py).
DEFAULT_MAX_EGO_AGE_S = 0.5
BAG_SUFFIXES = (".bag", ".mcap", ".db3")


class BagError(DataFormatError):
    """The bag cannot be opened, or its topics do not give what the replay needs."""


class AmbiguousTopicError(BagError):
    """More than one topic could serve a stream; the message lists them. Pass a TopicMap."""


@dataclass(frozen=True)
class TopicMap:
    """Which topic feeds each stream: None = detect automatically, "" = do not read it."""

    image: str | None = None
    camera_info: str | None = None
    ego: str | None = None


def _namespace(topic: str) -> str:
    return topic.rsplit("/", 1)[0]


def resolve_topics(types: Mapping[str, str], wanted: TopicMap) -> TopicMap:
    """Fill the None entries of ``wanted`` from ``types`` (topic -> message type).

    Detection takes the only candidate of the right type. Camera info also accepts the only
    candidate in the image topic's namespace (``/cam/camera_info`` for ``/cam/image_raw``);
    speed-only ``std_msgs/Float*`` topics count as ego only when their name contains "speed"
    (a bag has many Float topics). The result holds "" for streams that are absent.
    """
    kinds = {t: msgtype_name(m) for t, m in types.items()}

    def listing(names: list[str]) -> str:
        return ", ".join(f"{n} ({kinds[n]})" for n in sorted(names)) or "none"

    def pick(field: str, accepted: tuple[str, ...], found: list[str], required: bool) -> str:
        explicit = getattr(wanted, field)
        if explicit == "":
            return ""
        if explicit is not None:
            if kinds.get(explicit) not in accepted:
                msg = (
                    f"{field} topic {explicit!r} is not in the bag with a type in {accepted}; "
                    f"the bag has: {listing(list(kinds))}"
                )
                raise BagError(msg)
            return str(explicit)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            msg = (
                f"{len(found)} candidate {field} topics: {listing(found)}; "
                f"choose one with TopicMap({field}=...)"
            )
            raise AmbiguousTopicError(msg)
        if required:
            msg = f"no {field} topic of type {accepted}; the bag has: {listing(list(kinds))}"
            raise BagError(msg)
        return ""

    images = [t for t, k in kinds.items() if k in IMAGE_TYPES]
    image = pick("image", IMAGE_TYPES, images, required=True)
    infos = [t for t, k in kinds.items() if k == CAMERA_INFO_TYPE]
    near = [t for t in infos if image.startswith(_namespace(t) + "/")]
    camera_info = pick("camera_info", (CAMERA_INFO_TYPE,), near if len(near) == 1 else infos, False)
    egos = [t for t, k in kinds.items() if k in EGO_TYPES[:2]]
    egos = egos or [t for t, k in kinds.items() if k in EGO_TYPES[2:] and "speed" in t.lower()]
    ego = pick("ego", EGO_TYPES, egos, required=False)
    return TopicMap(image=image, camera_info=camera_info, ego=ego)


@functools.cache
def _fallback_typestore() -> Any:
    return get_typestore(Stores.LATEST)  # for old ROS 2 bags without message definitions


def _open_any(path: Path) -> AnyReader:
    reader = AnyReader([path], default_typestore=_fallback_typestore())
    reader.open()
    return reader


def _storage_path(path: Path) -> Path:
    """What AnyReader opens: the file, the ROS 2 directory, or the one storage file of a ROS 2
    directory without metadata.yaml (a recorder that died never writes it)."""
    if not path.is_dir() or (path / "metadata.yaml").exists():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    if len(files) != 1:
        msg = f"{path}: not a ROS 2 bag: no metadata.yaml and {len(files)} .mcap/.db3 files"
        raise BagError(msg)
    log.warning("%s has no metadata.yaml; reading %s directly", path, files[0].name)
    return files[0]


class BagSource(Closing):
    """Frames, camera info and ego state from one bag; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        topics: TopicMap | None = None,
        camera_id: str = "front",
        max_ego_age_s: float = DEFAULT_MAX_EGO_AGE_S,
        keep_encoded: bool = False,
    ) -> None:
        self.path = Path(path)
        self.keep_encoded = keep_encoded
        self.camera_id = camera_id
        self.max_ego_age_ns = round(max_ego_age_s * NS_PER_S)
        self.skipped: Counter[str] = Counter()
        self.degraded: Counter[str] = Counter()
        self.truncation: str | None = None  # why the recording ended early, if it did
        self._salvaged = False
        self._tmp: TemporaryDirectory[str] | None = None
        self._reader: AnyReader | None = None
        if not self.path.exists():
            msg = f"{self.path}: no such bag file or directory"
            raise BagError(msg)
        self._reader = self._open()
        try:
            types = {n: i.msgtype for n, i in self._reader.topics.items() if i.msgtype}
            self.topics = resolve_topics(types, topics or TopicMap())
        except BaseException:
            self.close()
            raise
        log.info("%s: topics %s", self.path, self.topics)

    def _open(self) -> AnyReader:
        storage = _storage_path(self.path)
        try:
            return _open_any(storage)
        except Exception as err:  # rosbags raises AnyReaderError, ReaderError, OSError, ...
            error = err
        if storage.is_dir():
            files = sorted(storage.glob("*.mcap"))
            storage = files[0] if len(files) == 1 else storage
        if storage.suffix not in (".bag", ".mcap"):
            msg = f"{self.path}: cannot open bag: {error}"
            raise BagError(msg) from error
        self._tmp = TemporaryDirectory(prefix="adas-salvage-")
        copy = Path(self._tmp.name) / f"salvaged{storage.suffix}"
        try:
            (salvage_ros1 if storage.suffix == ".bag" else salvage_mcap)(storage, copy)
            reader = _open_any(copy)
            if reader.message_count == 0:
                reader.close()
                msg = "no complete message before the damage"
                raise BagError(msg)
        except Exception as err:
            self.close()
            msg = f"{self.path}: cannot open bag ({error}); salvaging failed: {err}"
            raise BagError(msg) from err
        self._salvaged = True
        self.truncation = f"damaged or unfinished bag ({error}); read its complete records"
        log.warning("%s: %s: %d messages", self.path, self.truncation, reader.message_count)
        return reader

    # ---- iteration ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[SourceItem]:
        if self._reader is None:
            msg = f"{self.path}: the bag is closed"
            raise BagError(msg)
        self.skipped.clear()
        self.degraded.clear()
        if self._salvaged:
            self.skipped[Skip.TRUNCATED] = 1
        ego = self._read_ego()
        image_topic, info_topic = str(self.topics.image), str(self.topics.camera_info)
        info = self._first_camera_info(info_topic)
        last_t: int | None = None
        seq = -1
        for conn, log_ns, msg in self._messages((image_topic, info_topic)):
            if conn.topic == info_topic:
                try:
                    info = CameraInfo.from_msg(msg)
                except (DataFormatError, AttributeError, ValueError) as err:
                    self._skip(Skip.BAD_MESSAGE, f"camera_info at {log_ns} ns: {err}")
                continue
            seq += 1
            stamp = header_stamp_ns(msg)
            t_ns = log_ns if stamp is None else stamp
            if last_t is not None and t_ns <= last_t:
                self._skip(Skip.TIME_NOT_INCREASING, f"frame {seq} at {t_ns} <= {last_t} ns")
                continue
            try:
                frame = frame_from_msg(
                    msg, conn.msgtype, t_ns=t_ns, seq=seq, camera_id=self.camera_id
                )
            except ImageDecodeError as err:
                self._skip(err.reason, f"frame {seq} at {t_ns} ns: {err}")
                continue
            last_t = t_ns
            state = ego.at(t_ns) if ego is not None else EgoState(t_ns=t_ns, valid=False)
            if not state.valid:
                self.degraded[Degraded.EGO_INVALID] += 1
            if info is None:
                self.degraded[Degraded.NO_CAMERA_INFO] += 1
            encoded = encoded_from_msg(msg, conn.msgtype) if self.keep_encoded else None
            yield SourceItem(frame=frame, ego=state, camera_info=info, encoded=encoded)

    def _first_camera_info(self, topic: str) -> CameraInfo | None:
        """The first camera info of the bag, for the frames logged before it: drivers publish
        it just after each image and intrinsics are fixed during a drive."""
        for _, _, msg in self._messages((topic,)) if topic else ():
            try:
                return CameraInfo.from_msg(msg)
            except (DataFormatError, AttributeError, ValueError):
                continue  # counted when the main pass meets it
        log.warning("%s: no camera info; frames come without intrinsics", self.path)
        return None

    def _read_ego(self) -> EgoTrack | None:
        if not self.topics.ego:
            return None
        samples = []
        for conn, log_ns, msg in self._messages((str(self.topics.ego),)):
            try:
                speed, yaw = ego_from_msg(msg, conn.msgtype)
            except (DataFormatError, AttributeError, TypeError) as err:
                self._skip(Skip.BAD_MESSAGE, f"ego message at {log_ns} ns: {err}")
                continue
            stamp = header_stamp_ns(msg)
            samples.append((log_ns if stamp is None else stamp, speed, yaw))
        return EgoTrack(samples, max_age_ns=self.max_ego_age_ns)

    def _messages(self, topics: tuple[str, ...]) -> Iterator[tuple[Connection, int, Any]]:
        """(connection, log time ns, deserialized message) of ``topics`` in log order.

        Undeserializable messages are counted; a storage error ends the stream (truncated).
        """
        assert self._reader is not None
        reader = self._reader
        conns = [c for c in reader.connections if c.topic in topics and c.topic]
        if not conns:  # AnyReader reads every topic when given none
            return
        stream = reader.messages(connections=conns)
        last_ns = None
        while True:
            try:
                conn, log_ns, raw = next(stream)
            except StopIteration:
                return
            except Exception as err:  # storage layer: rosbags, sqlite3, lz4, zstd, struct, OS
                self.skipped[Skip.TRUNCATED] = 1
                self.truncation = f"reading stopped after log time {last_ns} ns: {err!r}"
                log.warning("%s: %s", self.path, self.truncation)
                return
            last_ns = log_ns
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as err:  # SerdeError, struct/numpy/unicode errors on garbage
                self._skip(Skip.BAD_MESSAGE, f"{conn.topic} at {log_ns} ns: {err!r}")
                continue
            yield conn, log_ns, msg

    def _skip(self, reason: Skip, detail: str) -> None:
        record_skip(self.skipped, reason, self.path, detail)

    # ---- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the bag and delete any salvaged copy; safe to call twice."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()
