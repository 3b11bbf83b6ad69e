"""Salvage of cut or unfinished recordings: a recorder that died leaves a ROS 1 bag or an MCAP
file without its index (written at the end), which rosbags cannot open. These functions copy
every complete record into a new, readable file, as ``rosbag reindex`` does for ROS 1.

Written for this project from the file format specifications (ROS 1 bag format 2.0, MCAP).
"""

from __future__ import annotations

import bz2
import logging
import struct
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

import lz4.frame
from rosbags.interfaces import Connection
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys.msg import normalize_msgtype

from adas.errors import DataFormatError

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000


class SalvageError(DataFormatError):
    """The file is not of the format it was salvaged as."""


_ROS1_MAGIC = b"#ROSBAG V2.0\n"
_ROS1_MSGDATA, _ROS1_CHUNK, _ROS1_CONNECTION = 0x02, 0x05, 0x07
_ROS1_DECOMPRESS = {"none": bytes, "bz2": bz2.decompress, "lz4": lz4.frame.decompress}
_MCAP_MAGIC = b"\x89MCAP0\r\n"
_MCAP_FOOTER, _MCAP_DATA_END = 0x02, 0x0F
# Footer record with summary start 0 ("no summary"): rosbags then scans the data linearly.
_MCAP_EMPTY_FOOTER = struct.pack("<BQQQI", _MCAP_FOOTER, 20, 0, 0, 0) + _MCAP_MAGIC
_COPY_BLOCK = 1 << 20  # bytes


def _read_sized(f: BinaryIO) -> bytes | None:
    """A uint32-length-prefixed block, or None if the file ends inside it."""
    head = f.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack("<I", head)
    body = f.read(size)
    return body if len(body) == size else None


def _ros1_fields(header: bytes) -> dict[str, bytes]:
    """A ROS 1 record header: uint32-prefixed ``name=value`` fields."""
    fields, i = {}, 0
    while i + 4 <= len(header):
        (size,) = struct.unpack_from("<I", header, i)
        name, _, value = header[i + 4 : i + 4 + size].partition(b"=")
        fields[name.decode()] = value
        i += 4 + size
    return fields


def _ros1_records(f: BinaryIO) -> Iterator[tuple[dict[str, bytes], bytes]]:
    """Complete records from the current position, chunks opened; stops at the first
    incomplete record or undecompressable chunk."""
    while (header := _read_sized(f)) is not None and (data := _read_sized(f)) is not None:
        fields = _ros1_fields(header)
        if fields.get("op") == bytes([_ROS1_CHUNK]):
            try:
                inner = _ROS1_DECOMPRESS[fields["compression"].decode()](data)
            except Exception:  # an unknown codec or a damaged chunk ends the readable part
                return
            yield from _ros1_records(BytesIO(inner))
        else:
            yield fields, data


def salvage_ros1(src: Path, dst: Path) -> None:
    """Rewrite the connections and messages of every complete chunk of ``src`` as a new,
    indexed bag ``dst`` (what ``rosbag reindex`` achieves)."""
    conns: dict[int, Connection] = {}
    with src.open("rb") as f, Ros1Writer(dst) as writer:
        if f.readline() != _ROS1_MAGIC:
            msg = "not a ROS 1 bag (version 2.0 magic missing)"
            raise SalvageError(msg)
        for fields, data in _ros1_records(f):
            try:
                _salvage_ros1_record(writer, conns, fields, data)
            except (KeyError, IndexError, ValueError, struct.error) as err:  # garbage record
                log.warning("%s: salvage stops at a damaged record: %r", src, err)
                break


def _salvage_ros1_record(
    writer: Ros1Writer, conns: dict[int, Connection], fields: dict[str, bytes], data: bytes
) -> None:
    """Copy one connection or message record to ``writer``; other records are index data."""
    op = fields.get("op", b"\0")[0]
    if op == _ROS1_CONNECTION:
        (cid,) = struct.unpack("<I", fields["conn"])
        if cid not in conns:
            info = _ros1_fields(data)
            latching = info.get("latching")
            conns[cid] = writer.add_connection(
                fields["topic"].decode(),
                normalize_msgtype(info["type"].decode()),
                msgdef=info["message_definition"].decode(),
                md5sum=info["md5sum"].decode(),
                callerid=info["callerid"].decode() if "callerid" in info else None,
                latching=int(latching) if latching else None,
            )
    elif op == _ROS1_MSGDATA:
        (cid,) = struct.unpack("<I", fields["conn"])
        sec, nsec = struct.unpack("<II", fields["time"])
        if cid in conns:
            writer.write(conns[cid], sec * NS_PER_S + nsec, data)


def salvage_mcap(src: Path, dst: Path) -> None:
    """Copy the complete data records of ``src`` (up to the cut, or to Data End) to ``dst`` and
    append an empty footer."""
    size = src.stat().st_size
    with src.open("rb") as f, dst.open("wb") as out:
        if f.read(len(_MCAP_MAGIC)) != _MCAP_MAGIC:
            msg = "not an MCAP file (magic missing)"
            raise SalvageError(msg)
        end = pos = len(_MCAP_MAGIC)
        while pos + 9 <= size:  # record: opcode uint8, length uint64, body
            f.seek(pos)
            op, length = struct.unpack("<BQ", f.read(9))
            if op in (_MCAP_FOOTER, _MCAP_DATA_END) or pos + 9 + length > size:
                break
            end = pos = pos + 9 + length
        f.seek(0)
        left = end
        while left:
            block = f.read(min(left, _COPY_BLOCK))
            out.write(block)
            left -= len(block)
        out.write(_MCAP_EMPTY_FOOTER)
