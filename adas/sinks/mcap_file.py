"""A rosbag2 folder (``<name>/<name>.mcap`` + ``metadata.yaml``) written with ``mcap``'s writer.

The file is chunked, zstd-compressed and CRC-checked (every chunk, the data section and the
summary), with the summary and index at close, like ``ros2 bag record -s mcap`` writes it:
profile ``ros2``, schemas ``ros2msg`` (the full definition from the typestore), messages
``cdr``, channel metadata ``offered_qos_profiles`` and ``topic_type_hash``, and the rosbag2
metadata as the file's ``rosbag2`` metadata record as well as ``metadata.yaml`` (version 9).

Chunks end only between frames (:meth:`BagFile.begin_frame`): when a frame comes and the open
chunk holds :data:`CHUNK_BYTES` of messages or the frame is :data:`CHUNK_SPAN_NS` after the
chunk's first message, the chunk is compressed, written and flushed to the operating system.
A process killed with SIGKILL (or a crash) leaves a file without summary that a stream reader
reads up to the last complete chunk: at most ~1 s of frames, whole frames, are lost. (Flushed,
not fsynced: a power cut can lose more; ``mcap recover`` rewrites such a file with an index.)
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mcap.writer import CompressionType, Writer
from rosbags.typesys.store import Typestore

from adas.errors import SinkError

__all__ = ["CHUNK_BYTES", "CHUNK_SPAN_NS", "METADATA_FILE", "BagFile"]

# 1 MiB of uncompressed messages per chunk: with images about 0.3-1 s of frames (35-120 kB
# JPEGs at 10-30 fps), so a kill loses at most ~1 s; readers decompress one chunk at a time,
# so 1 MiB also bounds their memory per chunk (it is the mcap library's default too).
CHUNK_BYTES = 1 << 20
# Without images a frame is a few kB, so the byte bound alone would let a chunk span minutes;
# a chunk is also cut when the next frame comes 1 s (log time) after the chunk's first.
CHUNK_SPAN_NS = 1_000_000_000
# The library cuts a chunk by itself only past this (a single huge frame); normally never.
_LIBRARY_CHUNK_LIMIT = 8 * CHUNK_BYTES
METADATA_FILE = "metadata.yaml"
BAG_VERSION = 9  # rosbag2 metadata version (Jazzy); readers of older releases open the .mcap


class BagFile:
    """The ``.mcap`` of a rosbag2 folder: add channels, write frames, :meth:`close`.

    ``bag_dir`` must not exist; it is created. ``typestore`` gives the message definitions,
    type hashes and the CDR serialisation of every type added.
    """

    def __init__(
        self,
        bag_dir: Path,
        typestore: Typestore,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        chunk_span_ns: int = CHUNK_SPAN_NS,
    ) -> None:
        bag_dir.mkdir(parents=True)
        self.bag_dir = bag_dir
        self.path = bag_dir / f"{bag_dir.name}.mcap"
        self.typestore = typestore
        self.chunk_bytes, self.chunk_span_ns = chunk_bytes, chunk_span_ns
        self.chunks = 0  # chunks cut between frames so far
        self._file = self.path.open("xb")
        self._writer = Writer(
            self._file,
            chunk_size=max(_LIBRARY_CHUNK_LIMIT, 2 * chunk_bytes),
            compression=CompressionType.ZSTD,
            enable_crcs=True,
            enable_data_crcs=True,
        )
        self._writer.start(profile="ros2", library=f"adas (mcap {version('mcap')})")
        self._schemas: dict[str, int] = {}
        self._topics: dict[int, tuple[str, str]] = {}  # channel id -> (topic, msgtype)
        self._counts: dict[int, int] = {}
        self._t_min, self._t_max = 2**63 - 1, 0
        self._pending_bytes, self._chunk_t0 = 0, -1
        self.closed = False

    def add_channel(self, topic: str, msgtype: str) -> int:
        """A channel for ``topic`` (its schema added once per type); returns the channel id."""
        store = self.typestore
        if msgtype not in self._schemas:
            text, _ = store.generate_msgdef(msgtype, ros_version=2)
            self._schemas[msgtype] = self._writer.register_schema(
                name=msgtype, encoding="ros2msg", data=text.encode()
            )
        meta = {"offered_qos_profiles": "[]", "topic_type_hash": store.hash_rihs01(msgtype)}
        cid = self._writer.register_channel(topic, "cdr", self._schemas[msgtype], meta)
        self._topics[cid], self._counts[cid] = (topic, msgtype), 0
        return cid

    def write(self, channel: int, t_ns: int, msg: Any) -> None:
        """Serialise ``msg`` (CDR, the channel's type) and add it at log time ``t_ns``."""
        data = self.typestore.serialize_cdr(msg, self._topics[channel][1])
        self.write_raw(channel, t_ns, bytes(data))

    def write_raw(self, channel: int, t_ns: int, data: bytes) -> None:
        t = int(t_ns)
        self._writer.add_message(channel, log_time=t, data=data, publish_time=t)
        self._counts[channel] += 1
        self._t_min, self._t_max = min(self._t_min, t), max(self._t_max, t)
        if self._chunk_t0 < 0:
            self._chunk_t0 = t
        self._pending_bytes += len(data)

    def begin_frame(self, t_ns: int) -> None:
        """Cut the open chunk before a frame at ``t_ns`` once it holds ``chunk_bytes`` or spans
        ``chunk_span_ns``, so that every chunk holds whole frames (the ego message that
        ``adas run`` writes after a frame included)."""
        if self._chunk_t0 < 0:
            return
        if self._pending_bytes >= self.chunk_bytes or t_ns - self._chunk_t0 >= self.chunk_span_ns:
            self.cut()

    def cut(self) -> None:
        """Write the open chunk (with its message index) and flush it to the OS."""
        if self._chunk_t0 < 0:
            return
        self._writer.flush()
        self.chunks += 1
        self._pending_bytes, self._chunk_t0 = 0, -1

    def close(self) -> None:
        """Last chunk, summary, index and footer; then ``metadata.yaml`` (written atomically)."""
        if self.closed:
            return
        self.closed = True
        try:
            meta = self._metadata()
            self._writer.add_metadata(
                "rosbag2", {"serialized_metadata": json.dumps(meta["rosbag2_bagfile_information"])}
            )
            self._writer.finish()
        except Exception as err:
            msg = f"finalising {self.path} failed: {err}"
            raise SinkError(msg) from err
        finally:
            self._file.close()
        tmp = self.bag_dir / f"{METADATA_FILE}.tmp"
        # JSON is YAML (1.2): readable by rosbag2 (yaml-cpp), rosbags and people alike.
        tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.bag_dir / METADATA_FILE)

    def _metadata(self) -> dict[str, Any]:
        """rosbag2's ``rosbag2_bagfile_information`` (version 9) of what was written."""
        count = sum(self._counts.values())
        start = self._t_min if count else 0
        duration = max(0, self._t_max - self._t_min) if count else 0
        topics = [
            {
                "topic_metadata": {
                    "name": topic,
                    "type": msgtype,
                    "serialization_format": "cdr",
                    "offered_qos_profiles": [],
                    "type_description_hash": self.typestore.hash_rihs01(msgtype),
                },
                "message_count": self._counts[cid],
            }
            for cid, (topic, msgtype) in self._topics.items()
        ]
        info = {
            "version": BAG_VERSION,
            "storage_identifier": "mcap",
            "relative_file_paths": [self.path.name],
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": count,
            "topics_with_message_count": topics,
            "compression_format": "",
            "compression_mode": "",
            "files": [
                {
                    "path": self.path.name,
                    "starting_time": {"nanoseconds_since_epoch": start},
                    "duration": {"nanoseconds": duration},
                    "message_count": count,
                }
            ],
            "custom_data": {},
            "ros_distro": "",
        }
        return {"rosbag2_bagfile_information": info}
