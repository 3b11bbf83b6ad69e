"""CAN logs read back: every frame of a log (or a list of frames) as a readable row.

:func:`decode_log` decodes the frames a :class:`~adas.can.output.CanOutput` logged (``[can]
log_file``: .asc / .blf / .log, python-can's readers) with the DBC and checks their E2E
protection in log order; ``adas can decode LOGFILE`` prints them, one line a frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adas.can.config import CanConfig
from adas.can.dbc import COMMAND_MESSAGE, STATUS_MESSAGE, load_dbc, require_can_extra
from adas.can.e2e import E2EReceiver
from adas.errors import SinkError

if TYPE_CHECKING:
    import can
    from cantools.database.can import Database


def _data_ids(db: Database, config: CanConfig) -> dict[int, int]:
    """Frame ID -> E2E Data ID of every protected message of ``db``.

    A message is protected when it has ``<name>_CRC`` and ``<name>_Counter`` signals (the
    convention of data/can/adas.dbc). The command and status use the configured Data IDs;
    any other protected message (the vehicle's) uses its frame ID as Data ID.
    """
    out: dict[int, int] = {}
    for m in db.messages:
        names = {s.name for s in m.signals}
        if {f"{m.name}_CRC", f"{m.name}_Counter"} <= names:
            out[m.frame_id] = {
                COMMAND_MESSAGE: config.command_data_id,
                STATUS_MESSAGE: config.status_data_id,
            }.get(m.name, m.frame_id & 0xFFFF)
    return out


def decode_log(
    frames: str | Path | Iterable[can.Message],
    dbc: str | Path | Database | None = None,
    config: CanConfig | None = None,
) -> list[dict[str, Any]]:
    """Readable rows of a CAN log (.asc/.blf/.log via ``can.LogReader``) or of frames.

    Each row: ``t_s`` (the frame's timestamp, s), ``dir`` ("Tx"/"Rx"), ``id``, ``name`` (or
    "?" for a frame the DBC does not know), ``signals`` (decoded, value tables applied),
    ``e2e`` (the :class:`~adas.can.e2e.E2EStatus` name, "" for unprotected messages) and
    ``error`` (why decoding failed, else ""). The E2E check runs in log order per message,
    so a repeated or skipped counter shows.
    """
    require_can_extra()
    import can
    import cantools
    from cantools.database.can import Database

    cfg = config or CanConfig()
    db = dbc if isinstance(dbc, Database) else load_dbc(dbc or cfg.dbc_path())
    stream: Iterable[can.Message]
    if isinstance(frames, str | Path):
        if not Path(frames).is_file():
            msg = f"CAN log {frames} not found"
            raise SinkError(msg)
        stream = list(can.LogReader(str(frames)))
    else:
        stream = frames
    checkers = {fid: E2EReceiver(did, cfg.e2e_max_delta) for fid, did in _data_ids(db, cfg).items()}
    rows: list[dict[str, Any]] = []
    for frame in stream:
        row: dict[str, Any] = {
            "t_s": float(frame.timestamp),
            "dir": "Rx" if frame.is_rx else "Tx",
            "id": int(frame.arbitration_id),
            "name": "?",
            "signals": {},
            "e2e": "",
            "error": "",
        }
        data = bytes(frame.data)
        try:
            message = db.get_message_by_frame_id(frame.arbitration_id)
        except KeyError:
            row["error"] = "not in the DBC"
            rows.append(row)
            continue
        row["name"] = message.name
        if frame.arbitration_id in checkers:
            row["e2e"] = checkers[frame.arbitration_id].check(data).name
        try:
            decoded = message.decode(data, decode_choices=True)
        except (cantools.database.DecodeError, ValueError, KeyError) as exc:
            row["error"] = f"decode failed: {exc}"
        else:
            if isinstance(decoded, Mapping):
                row["signals"] = {k: _plain(v) for k, v in decoded.items()}
        rows.append(row)
    return rows


def _plain(value: Any) -> Any:
    """Signal value as a plain number or its value-table name (NamedSignalValue -> str)."""
    if isinstance(value, int | float | str):
        return value
    return str(value)


def format_row(row: Mapping[str, Any]) -> str:
    """One line of ``decode`` output: time, direction, ID, name, E2E, then the signals."""
    sig = " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["signals"].items()
    )
    e2e = f" e2e={row['e2e']}" if row["e2e"] else ""
    err = f" error={row['error']}" if row["error"] else ""
    return f"{row['t_s']:17.6f} {row['dir']} 0x{row['id']:03X} {row['name']}{e2e}{err} {sig}"
