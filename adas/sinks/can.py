"""CAN output of the in-vehicle runtime: the ADAS command and status frames, and a log decoder.

:class:`CanOutput` encodes each :class:`~adas.types.Decision` as an ``ADAS_Command`` frame and
the runtime's health as an ``ADAS_Status`` heartbeat, using the DBC ``data/can/adas.dbc``
(cantools), protects both with an AUTOSAR E2E profile 1 style counter and CRC
(:mod:`adas.can_e2e`) and sends them with python-can. A send failure never raises mid-drive:
it is logged (rate-limited), counted in ``send_errors`` and the call returns False; the
vehicle side detects the silence (missing heartbeat, counter jump) and degrades.

Safety: the command can ask for braking only at the levels BRAKE_PARTIAL and BRAKE_FULL;
for every other level ``BrakeRequest`` and ``DecelRequest`` are forced to zero, whatever the
decision carries.

Every frame sent (and, when this object is registered as a listener, received) can be
written to a log (``[can] log_file``: .asc / .blf / .log, python-can's writers), which
:func:`decode_log` and ``python -m adas.sinks.can decode LOGFILE`` turn back into readable
rows with their E2E check.

``can`` and ``cantools`` (the ``can`` extra) are imported inside the functions that need
them, so ``import adas.sinks.can`` and loading the configuration work without them.
"""

from __future__ import annotations

import argparse
import enum
import logging
import math
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adas.can_e2e import E2EReceiver, next_counter, protect
from adas.errors import ConfigError, SinkError
from adas.params import param, validate
from adas.types import Decision, DecisionLevel

if TYPE_CHECKING:
    import can
    from cantools.database.can import Database
    from cantools.database.can import Message as DbcMessage

log = logging.getLogger(__name__)

SHIPPED_DBC = Path(__file__).resolve().parent.parent.parent / "data" / "can" / "adas.dbc"

COMMAND_MESSAGE = "ADAS_Command"
STATUS_MESSAGE = "ADAS_Status"
LOG_SUFFIXES = (".asc", ".blf", ".log")

# Physical limits of the DBC signals (data/can/adas.dbc): values beyond them are saturated.
DECEL_MAX_MPS2 = 15.0
TTC_MAX_S = 40.94  # raw 4094; raw 4095 is NOT_AVAILABLE
TRACK_ID_MODULO = 65535  # 65535 is NO_TARGET
FPS_MAX = 655.35
DROPPED_MODULO = 65536

_ERROR_LOG_INTERVAL_S = 1.0  # at most one send-error log line per second (plus a count)


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


_FAULT_SIGNALS = {
    Fault.CAMERA_STALL: "FaultCameraStall",
    Fault.DEADLINE: "FaultDeadline",
    Fault.INFERENCE_ERROR: "FaultInferenceError",
    Fault.EGO_INVALID: "FaultEgoInvalid",
    Fault.CAN_ERROR: "FaultCanError",
    Fault.CORRUPT_FRAME: "FaultCorruptFrame",
}

# The ego signals CanEgoReader decodes; each has [can] <name>_message and <name>_signal keys.
EGO_SIGNALS = ("speed", "yaw_rate", "accel", "brake_pedal", "turn_signal")

_BRAKE_LEVELS = (DecisionLevel.BRAKE_PARTIAL, DecisionLevel.BRAKE_FULL)
_WARNING_LEVELS = (DecisionLevel.WARNING, *_BRAKE_LEVELS)


@dataclass(frozen=True)
class CanConfig:
    """The ``[can]`` section: bus, DBC, E2E identities, log, and the vehicle's ego signals.

    Defaults and their reasons: data/config/default.toml. ``dbc`` / ``ego_dbc`` empty mean
    the shipped ``data/can/adas.dbc``; the ego signals are looked up by message and signal
    name in ``ego_dbc`` (or ``dbc``), so a car's own DBC can be used by naming its signals
    and the scale that converts each to SI (m/s, rad/s left positive, m/s^2, pedal 0..1).
    An empty message name means the car does not send that signal (it stays unknown).
    """

    interface: str = "virtual"
    channel: str = "adas0"
    bitrate: int = param(500_000, lo=10_000, hi=1_000_000, unit="bit/s")
    dbc: str = ""
    command_data_id: int = param(0x01A0, lo=0, hi=0xFFFF)
    status_data_id: int = param(0x01A1, lo=0, hi=0xFFFF)
    status_rate_hz: float = param(10.0, lo=0.1, hi=100.0, unit="Hz")
    send_timeout_s: float = param(0.005, lo=0.0, hi=1.0, unit="s")
    e2e_max_delta: int = param(2, lo=1, hi=14)
    log_file: str = ""
    ego_dbc: str = ""
    ego_e2e: bool = True
    ego_max_age_s: float = param(0.25, lo=0.01, hi=5.0, unit="s")
    ego_max_speed_mps: float = param(100.0, lo=1.0, hi=150.0, unit="m/s")
    speed_message: str = "VEH_Dynamics"
    speed_signal: str = "VehicleSpeed"
    speed_scale: float = param(1.0, lo=0.001, hi=10.0)
    yaw_rate_message: str = "VEH_Dynamics"
    yaw_rate_signal: str = "YawRate"
    yaw_rate_scale: float = param(1.0, lo=-10.0, hi=10.0)
    accel_message: str = "VEH_Dynamics"
    accel_signal: str = "LongAccel"
    accel_scale: float = param(1.0, lo=-10.0, hi=10.0)
    brake_pedal_message: str = "VEH_Driver"
    brake_pedal_signal: str = "BrakePedal"
    brake_pedal_scale: float = param(0.01, lo=0.0001, hi=1.0)
    turn_signal_message: str = "VEH_Driver"
    turn_signal_signal: str = "TurnSignal"
    turn_left_value: int = param(1, lo=0, hi=0xFFFF)
    turn_right_value: int = param(2, lo=0, hi=0xFFFF)

    def __post_init__(self) -> None:
        validate(self, "can")
        for key in ("interface", "channel"):
            if not getattr(self, key):
                msg = f"config can.{key} is empty: name the python-can {key} (e.g. 'socketcan')"
                raise ConfigError(msg)
        if self.log_file and Path(self.log_file).suffix.lower() not in LOG_SUFFIXES:
            msg = (
                f"config can.log_file = {self.log_file!r}: the name must end in one of "
                f"{list(LOG_SUFFIXES)} (or be empty for no log)"
            )
            raise ConfigError(msg)
        if self.command_data_id == self.status_data_id:
            msg = (
                f"config can.command_data_id = can.status_data_id = {self.command_data_id}: "
                "each protected message needs its own Data ID"
            )
            raise ConfigError(msg)
        for name in EGO_SIGNALS:
            message, signal = getattr(self, f"{name}_message"), getattr(self, f"{name}_signal")
            if bool(message) != bool(signal):
                msg = (
                    f"config can.{name}_message = {message!r} and can.{name}_signal = "
                    f"{signal!r}: give both, or leave both empty when the car lacks the signal"
                )
                raise ConfigError(msg)
        if not self.speed_message:
            msg = "config can.speed_message is empty: the ego speed is required"
            raise ConfigError(msg)
        for key in ("yaw_rate_scale", "accel_scale"):
            if getattr(self, key) == 0.0:
                msg = f"config can.{key} = 0.0: a scale of zero would erase the signal"
                raise ConfigError(msg)
        if self.turn_left_value == self.turn_right_value:
            msg = (
                f"config can.turn_left_value = can.turn_right_value = {self.turn_left_value}: "
                "left and right must differ"
            )
            raise ConfigError(msg)

    def dbc_path(self) -> Path:
        """The command/status DBC: ``dbc`` or the shipped one."""
        return Path(self.dbc) if self.dbc else SHIPPED_DBC

    def ego_dbc_path(self) -> Path:
        """The DBC of the vehicle's ego messages: ``ego_dbc``, else ``dbc``, else shipped."""
        return Path(self.ego_dbc) if self.ego_dbc else self.dbc_path()


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


class CanOutput:
    """Sends ``ADAS_Command`` and ``ADAS_Status`` frames; never raises once constructed.

    ``bus=None`` opens the bus the config names (and closes it in :meth:`close`); a given
    bus (tests, or a bus shared with the ego reader) is left open. Construction fails loudly
    (ConfigError for a bad DBC, SinkError for a bus or log file that cannot be opened): that
    happens at start-up, before the vehicle relies on the function.

    To log received frames too, register this object as a listener of the bus's
    ``can.Notifier`` (it is callable and has ``on_message_received``).
    """

    def __init__(self, config: CanConfig | None = None, bus: can.BusABC | None = None) -> None:
        require_can_extra()
        import can

        self.config = config or CanConfig()
        self.db = load_dbc(self.config.dbc_path())
        self._command = dbc_message(self.db, COMMAND_MESSAGE, "can.dbc", self.config.dbc_path())
        self._status = dbc_message(self.db, STATUS_MESSAGE, "can.dbc", self.config.dbc_path())
        for message in (self._command, self._status):
            _check_layout(message, self.config.dbc_path())
        self._counters = {COMMAND_MESSAGE: 0, STATUS_MESSAGE: 0}
        self._owns_bus = bus is None
        self.bus: can.BusABC = open_bus(self.config) if bus is None else bus
        self._log_lock = threading.Lock()
        self._log: can.Listener | None = None
        if self.config.log_file:
            try:
                Path(self.config.log_file).parent.mkdir(parents=True, exist_ok=True)
                self._log = can.Logger(self.config.log_file)
            except (OSError, ValueError) as exc:
                if self._owns_bus:
                    self.bus.shutdown()
                msg = f"cannot write the CAN log can.log_file = {self.config.log_file!r}: {exc}"
                raise SinkError(msg) from exc
        self.sent = 0
        self.send_errors = 0
        self._last_error_log_s = -math.inf
        self._suppressed_errors = 0
        self._closed = False

    # --- sending ---------------------------------------------------------------------------

    def send_command(self, decision: Decision, ttc_s: float | None) -> bool:
        """Send one ``ADAS_Command`` for ``decision``; True when the bus accepted it."""
        try:
            level = DecisionLevel(int(decision.level))
        except ValueError:
            log.error("decision level %r is not a DecisionLevel; sent as UNAVAILABLE", decision)
            level = DecisionLevel.UNAVAILABLE
        brake = level in _BRAKE_LEVELS
        decel = float(decision.decel_request_mps2) if brake else 0.0
        if not math.isfinite(decel) or decel < 0.0:
            log.warning("brake request with decel %r m/s^2: sent as 0", decel)
            decel = 0.0
        track = int(decision.target_track_id)
        signals: dict[str, Any] = {
            "Level": int(level),
            "WarningActive": int(level in _WARNING_LEVELS),
            "BrakeRequest": int(brake),
            "DecelRequest": min(decel, DECEL_MAX_MPS2),
            "TTC": _ttc_signal(ttc_s),
            "TargetTrackId": "NO_TARGET" if track < 0 else track % TRACK_ID_MODULO,
        }
        return self._send(self._command, self.config.command_data_id, signals)

    def send_status(self, state: int, faults: int, fps: float, dropped: int) -> bool:
        """Send one ``ADAS_Status`` heartbeat; True when the bus accepted it.

        ``state`` is a :class:`RuntimeState`, ``faults`` a :class:`Fault` combination,
        ``fps`` the processed frame rate (saturated to 0..655.35), ``dropped`` the running
        count of dropped camera frames (sent modulo 65536).
        """
        try:
            st = RuntimeState(int(state))
        except ValueError:
            log.error("runtime state %r unknown; sent as UNAVAILABLE", state)
            st = RuntimeState.UNAVAILABLE
        rate = float(fps) if math.isfinite(fps) else 0.0
        signals: dict[str, Any] = {
            "State": int(st),
            "FramesPerSecond": min(max(rate, 0.0), FPS_MAX),
            "DroppedFrames": int(dropped) % DROPPED_MODULO,
        }
        for bit, name in _FAULT_SIGNALS.items():
            signals[name] = int(bool(int(faults) & bit))
        return self._send(self._status, self.config.status_data_id, signals)

    def _send(self, message: DbcMessage, data_id: int, signals: dict[str, Any]) -> bool:
        import can
        import cantools

        name = message.name
        counter = self._counters[name]
        self._counters[name] = next_counter(counter)
        try:  # unused bits are sent as 0 (padding=False), as the DBC says
            raw = message.encode(
                {f"{name}_CRC": 0, f"{name}_Counter": counter, **signals}, padding=False
            )
        except (cantools.database.EncodeError, ValueError, KeyError) as exc:
            self._count_error(f"cannot encode {name} {signals}: {exc}")
            return False
        frame = can.Message(
            timestamp=time.time(),
            arbitration_id=message.frame_id,
            is_extended_id=message.is_extended_frame,
            data=protect(raw, data_id, counter),
            is_rx=False,
            channel=self.config.channel,
        )
        if self._closed:
            self._count_error(f"{name} not sent: the CAN output is closed")
            return False
        try:
            self.bus.send(frame, timeout=self.config.send_timeout_s)
        except (can.CanError, OSError) as exc:
            self._count_error(f"sending {name} failed: {exc}")
            return False
        self.sent += 1
        self._write_log(frame)
        return True

    def _count_error(self, text: str) -> None:
        """Count a failed send; log it at most once per second, with what was suppressed."""
        self.send_errors += 1
        now = time.monotonic()
        if now - self._last_error_log_s < _ERROR_LOG_INTERVAL_S:
            self._suppressed_errors += 1
            return
        more = f" ({self._suppressed_errors} more since the last report)"
        log.error("CAN: %s; %d send errors in all%s", text, self.send_errors, more)
        self._last_error_log_s, self._suppressed_errors = now, 0

    # --- log -------------------------------------------------------------------------------

    def on_message_received(self, msg: can.Message) -> None:
        """Listener hook: write a received frame to the log (nothing when there is none)."""
        self._write_log(msg)

    __call__ = on_message_received

    def _write_log(self, msg: can.Message) -> None:
        if self._log is None:
            return
        with self._log_lock:
            if self._log is None:
                return
            try:
                self._log.on_message_received(msg)
            except (OSError, ValueError) as exc:
                log.error("CAN log %s: write failed (%s); logging stops", self.config.log_file, exc)
                self._log = None

    def close(self) -> None:
        """Flush and close the log, and shut the bus down if this object opened it."""
        if self._closed:
            return
        self._closed = True
        with self._log_lock:
            writer, self._log = self._log, None
        if writer is not None:
            try:
                writer.stop()
            except (OSError, ValueError) as exc:
                log.error("CAN log %s could not be finalised: %s", self.config.log_file, exc)
        if self._owns_bus:
            self.bus.shutdown()

    def __enter__(self) -> CanOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_COMMAND_SIGNALS = (
    "Level",
    "WarningActive",
    "BrakeRequest",
    "DecelRequest",
    "TTC",
    "TargetTrackId",
)
_STATUS_SIGNALS = ("State", "FramesPerSecond", "DroppedFrames", *_FAULT_SIGNALS.values())


def _check_layout(message: DbcMessage, source: Path) -> None:
    """The command/status message must have the signals this module fills and the E2E layout
    :mod:`adas.can_e2e` writes (CRC = byte 0, counter = low nibble of byte 1, Intel order):
    checked at start-up, so a wrong DBC fails there and not on every send."""
    by_name = {s.name: s for s in message.signals}
    wanted = _COMMAND_SIGNALS if message.name == COMMAND_MESSAGE else _STATUS_SIGNALS
    missing = [n for n in wanted if n not in by_name]
    crc, counter = by_name.get(f"{message.name}_CRC"), by_name.get(f"{message.name}_Counter")
    layout_ok = (
        crc is not None
        and counter is not None
        and (crc.start, crc.length, counter.start, counter.length) == (0, 8, 8, 4)
        and crc.byte_order == counter.byte_order == "little_endian"
    )
    if missing or not layout_ok:
        msg = (
            f"config can.dbc: message {message.name} of {source} does not fit the E2E layout "
            f"and signals of adas/sinks/can.py (missing {missing}; {message.name}_CRC must be "
            f"bits 0..7 and {message.name}_Counter bits 8..11, Intel order); start from "
            "data/can/adas.dbc"
        )
        raise ConfigError(msg)


def _ttc_signal(ttc_s: float | None) -> float | str:
    """The TTC signal value: saturated above 40.94 s; NOT_AVAILABLE for none, inf (opening
    gap), NaN or negative."""
    if ttc_s is None or not math.isfinite(ttc_s) or ttc_s < 0.0:
        return "NOT_AVAILABLE"
    return min(float(ttc_s), TTC_MAX_S)


# --- decoding logs ---------------------------------------------------------------------------


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
    ``e2e`` (the :class:`~adas.can_e2e.E2EStatus` name, "" for unprotected messages) and
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adas.sinks.can decode LOGFILE [--dbc DBC] [--config TOML]``."""
    parser = argparse.ArgumentParser(prog="python -m adas.sinks.can", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser("decode", help="print the frames of a CAN log, decoded with the DBC")
    dec.add_argument("logfile", type=Path, help=".asc, .blf or .log file")
    dec.add_argument("--dbc", type=Path, default=None, help="DBC (default: [can] dbc)")
    dec.add_argument("--config", type=Path, default=None, help="config TOML ([can] Data IDs)")
    args = parser.parse_args(argv)
    from adas.config import load_config

    try:
        cfg = load_config(args.config).can
        rows = decode_log(args.logfile, args.dbc, cfg)
    except (ConfigError, SinkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        print(format_row(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
