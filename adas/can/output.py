"""CAN output of the in-vehicle runtime: the ADAS command and status frames.

:class:`CanOutput` encodes each :class:`~adas.types.Decision` as an ``ADAS_Command`` frame and
the runtime's health as an ``ADAS_Status`` heartbeat, using the DBC ``data/can/adas.dbc``
(cantools), protects both with an AUTOSAR E2E profile 1 style counter and CRC
(:mod:`adas.can.e2e`) and sends them with python-can. A send failure never raises mid-drive:
it is logged (rate-limited), counted in ``send_errors`` and the call returns False; the
vehicle side detects the silence (missing heartbeat, counter jump) and degrades.

Safety: the command can ask for braking only at the levels BRAKE_PARTIAL and BRAKE_FULL;
for every other level ``BrakeRequest`` and ``DecelRequest`` are forced to zero, whatever the
decision carries.

Every frame sent (and, when this object is registered as a listener, received) can be
written to a log (``[can] log_file``: .asc / .blf / .log, python-can's writers), which
:func:`adas.can.log.decode_log` and ``adas can decode LOGFILE`` turn back into
readable rows with their E2E check.

``can`` and ``cantools`` (the ``can`` extra) are imported inside the functions that need
them, so ``import adas.can`` and loading the configuration work without them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adas.can.config import CanConfig
from adas.can.dbc import (
    COMMAND_MESSAGE,
    STATUS_MESSAGE,
    dbc_message,
    load_dbc,
    open_bus,
    require_can_extra,
)
from adas.can.e2e import next_counter, protect
from adas.errors import ConfigError, SinkError
from adas.types import Decision, DecisionLevel, Fault, RuntimeState

if TYPE_CHECKING:
    import can
    from cantools.database.can import Message as DbcMessage

log = logging.getLogger(__name__)

# Physical limits of the DBC signals (data/can/adas.dbc): values beyond them are saturated.
DECEL_MAX_MPS2 = 15.0
TTC_MAX_S = 40.94  # raw 4094; raw 4095 is NOT_AVAILABLE
TRACK_ID_MODULO = 65535  # 65535 is NO_TARGET
FPS_MAX = 655.35
DROPPED_MODULO = 65536

_ERROR_LOG_INTERVAL_S = 1.0  # at most one send-error log line per second (plus a count)

_FAULT_SIGNALS = {
    Fault.CAMERA_STALL: "FaultCameraStall",
    Fault.DEADLINE: "FaultDeadline",
    Fault.INFERENCE_ERROR: "FaultInferenceError",
    Fault.EGO_INVALID: "FaultEgoInvalid",
    Fault.CAN_ERROR: "FaultCanError",
    Fault.CORRUPT_FRAME: "FaultCorruptFrame",
}

_BRAKE_LEVELS = (DecisionLevel.BRAKE_PARTIAL, DecisionLevel.BRAKE_FULL)
_WARNING_LEVELS = (DecisionLevel.WARNING, *_BRAKE_LEVELS)


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
    :mod:`adas.can.e2e` writes (CRC = byte 0, counter = low nibble of byte 1, Intel order):
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
            f"and signals of adas/can/output.py (missing {missing}; {message.name}_CRC must be "
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
