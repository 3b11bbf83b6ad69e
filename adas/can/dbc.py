"""The CAN database (DBC) and the bus: loading them with clear errors, and the message names.

``can`` (python-can) and ``cantools`` (the ``can`` extra) are imported inside the functions that
need them, so importing :mod:`adas.can` and loading the configuration work without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adas.errors import ConfigError, SinkError

if TYPE_CHECKING:
    import can
    from cantools.database.can import Database
    from cantools.database.can import Message as DbcMessage

    from adas.can.config import CanConfig

SHIPPED_DBC = Path(__file__).resolve().parent.parent.parent / "data" / "can" / "adas.dbc"

COMMAND_MESSAGE = "ADAS_Command"
STATUS_MESSAGE = "ADAS_Status"


def require_can_extra() -> None:
    """Fail with what to install when python-can or cantools (the ``can`` extra) is missing."""
    try:
        import can  # noqa: F401
        import cantools  # noqa: F401
    except ImportError as exc:
        msg = (
            f"the CAN layer needs python-can and cantools ({exc}); install the 'can' extra: "
            "pip install 'adas-perception[can]'"
        )
        raise ImportError(msg) from exc


def load_dbc(path: str | Path, key: str = "can.dbc") -> Database:
    """Load a DBC with cantools; a missing or malformed file is a ConfigError naming ``key``."""
    import cantools

    try:
        db = cantools.database.load_file(str(path), database_format="dbc")
    except FileNotFoundError as exc:
        msg = f"config {key}: DBC file {path} not found"
        raise ConfigError(msg) from exc
    except (cantools.database.UnsupportedDatabaseFormatError, ValueError, OSError) as exc:
        msg = f"config {key}: {path} is not a readable DBC: {exc}"
        raise ConfigError(msg) from exc
    from cantools.database.can import Database

    if not isinstance(db, Database):
        msg = f"config {key}: {path} is not a CAN database"
        raise ConfigError(msg)
    return db


def dbc_message(db: Database, name: str, key: str, source: str | Path = "") -> DbcMessage:
    """Message ``name`` of ``db`` (read from ``source``); a ConfigError naming ``key`` and the
    messages there are if absent."""
    try:
        return db.get_message_by_name(name)
    except KeyError as exc:
        names = sorted(m.name for m in db.messages)
        where = f"DBC {source}" if source else "the DBC"
        msg = f"config {key} = {name!r}: no such message in {where}; it has {names}"
        raise ConfigError(msg) from exc


def open_bus(config: CanConfig) -> can.BusABC:
    """Open the python-can bus named by the config; failures are a SinkError saying which."""
    import can

    try:
        return can.Bus(interface=config.interface, channel=config.channel, bitrate=config.bitrate)
    except (can.CanError, OSError, ValueError, ImportError) as exc:
        msg = (
            f"cannot open CAN bus can.interface = {config.interface!r}, can.channel = "
            f"{config.channel!r}: {exc}. Check the interface is up (e.g. 'ip link set can0 "
            "up type can bitrate 500000') or use interface 'virtual' without hardware"
        )
        raise SinkError(msg) from exc
