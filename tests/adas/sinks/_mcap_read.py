"""Reading results.mcap back with the ``mcap`` library (CRCs checked) for the sink tests."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader

from adas.sinks import adas_typestore


def read_messages(path: Path) -> dict[str, list[tuple[int, Any]]]:
    """Per topic, (log time, decoded message) in log-time order, through the file's index; every
    chunk's CRC checked, and the whole file streamed once more to check the data section's and
    the summary's CRCs."""
    store = adas_typestore()
    out: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    with path.open("rb") as f:
        reader = make_reader(f, validate_crcs=True)
        assert reader.get_summary() is not None
        for schema, channel, message in reader.iter_messages():
            assert schema is not None and schema.encoding == "ros2msg"
            assert channel.message_encoding == "cdr"
            out[channel.topic].append(
                (message.log_time, store.deserialize_cdr(message.data, schema.name))
            )
    with path.open("rb") as f:
        records = list(StreamReader(f, validate_crcs=True).records)
    assert sum(isinstance(r, Message) for r in records) == sum(len(v) for v in out.values())
    return dict(out)


def stream_messages(path: Path) -> tuple[dict[str, list[int]], Exception | None]:
    """Per topic, the log times a stream reader gets from a file that may be cut (no summary),
    and the error that ended the stream (``None`` if it ended cleanly)."""
    schemas: dict[int, Schema] = {}
    topics: dict[int, str] = {}
    out: dict[str, list[int]] = defaultdict(list)
    with path.open("rb") as f:
        try:
            for record in StreamReader(f, validate_crcs=True).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    topics[record.id] = record.topic
                elif isinstance(record, Message):
                    out[topics[record.channel_id]].append(record.log_time)
        except Exception as err:  # the cut: an incomplete record at the end
            return dict(out), err
    return dict(out), None
