"""Ego vehicle state from the vehicle CAN bus, for the in-vehicle runtime.

:class:`CanEgoReader` is a python-can listener: every received frame goes to
:meth:`~CanEgoReader.on_message_received` (from a ``can.Notifier`` the reader starts on a
given bus, or called directly), which decodes the configured vehicle messages (``[can]``
``*_message`` / ``*_signal``, in ``ego_dbc``) with cantools and keeps the latest value of each
ego signal with its receive time. :meth:`~CanEgoReader.ego` turns them into an
:class:`~adas.types.EgoState` for a frame.

Never brake on stale input (docs/architecture.md): the state is ``valid=False`` when the speed is
missing, older than ``ego_max_age_s``, non-finite, negative or above ``ego_max_speed_mps``.
The other signals are optional: one that is missing, stale or implausible is *unknown*,
which EgoState consumers read as NaN for the floats (yaw rate, acceleration, brake pedal:
the danger, motion and control stages treat a non-finite value as "no information", so an
unknown pedal never suppresses braking) and 0 ("not indicating") for the turn signal.

A frame that fails decoding, or (``ego_e2e``) its E2E check, is counted
(``decode_errors``, ``e2e_errors``) and ignored; a repeated counter is ignored too, so a
sender stuck on one frame does not keep the ego state fresh. Nothing here raises once the
reader is constructed.

Receive times come from the reader's ``clock`` (default ``time.monotonic_ns``), not from the
interface's frame timestamps (wall clock on most interfaces): pass :meth:`ego` a ``now_ns``
of the same clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adas.can.config import EGO_SIGNALS, CanConfig
from adas.can.dbc import dbc_message, load_dbc, require_can_extra
from adas.can.e2e import E2EReceiver, E2EStatus
from adas.errors import ConfigError
from adas.types import EgoState

if TYPE_CHECKING:
    import can
    from cantools.database.can import Message as DbcMessage

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class _Sample:
    value: float
    t_ns: int


class CanEgoReader:
    """Latest ego signals from the vehicle bus; ``ego(now_ns)`` -> EgoState.

    With ``bus`` given, a ``can.Notifier`` is started that feeds every frame to this reader
    and to ``listeners`` (e.g. a :class:`~adas.can.output.CanOutput`, to log received frames);
    :meth:`close` stops it. Without a bus, feed frames to :meth:`on_message_received`.
    A message or signal name the DBC does not have is a ConfigError naming the key.
    """

    def __init__(
        self,
        config: CanConfig | None = None,
        bus: can.BusABC | None = None,
        *,
        listeners: Iterable[Callable[[can.Message], Any]] = (),
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        require_can_extra()
        import cantools

        self.config = cfg = config or CanConfig()
        key = "can.ego_dbc" if cfg.ego_dbc else "can.dbc"
        db = load_dbc(cfg.ego_dbc_path(), key)
        self._decode_error_types: tuple[type[Exception], ...] = (
            cantools.database.DecodeError,
            ValueError,
            KeyError,
            IndexError,
        )
        # frame ID -> (DBC message, [(ego signal name, DBC signal name)])
        self._routes: dict[int, tuple[DbcMessage, list[tuple[str, str]]]] = {}
        for name in EGO_SIGNALS:
            message_name = getattr(cfg, f"{name}_message")
            signal_name = getattr(cfg, f"{name}_signal")
            if not message_name:
                continue
            message = dbc_message(db, message_name, f"can.{name}_message", cfg.ego_dbc_path())
            signals = [s.name for s in message.signals]
            if signal_name not in signals:
                msg = (
                    f"config can.{name}_signal = {signal_name!r}: message {message_name} of "
                    f"{cfg.ego_dbc_path()} has no such signal; it has {sorted(signals)}"
                )
                raise ConfigError(msg)
            route = self._routes.setdefault(message.frame_id, (message, []))
            route[1].append((name, signal_name))
        self._e2e: dict[int, E2EReceiver] = {}
        if cfg.ego_e2e:
            for frame_id, (message, _) in self._routes.items():
                if message.length < 2 or frame_id > 0xFFFF:
                    msg = (
                        f"config can.ego_e2e = true, but message {message.name} cannot carry "
                        "a CRC byte, a counter and a 16-bit Data ID equal to its frame ID; "
                        "set can.ego_e2e = false for this DBC"
                    )
                    raise ConfigError(msg)
                self._e2e[frame_id] = E2EReceiver(frame_id, cfg.e2e_max_delta)
        # DBC unit -> SI; the turn signal is compared as a raw code, unscaled.
        self._scales = {
            name: float(getattr(cfg, f"{name}_scale"))
            for name in ("speed", "yaw_rate", "accel", "brake_pedal")
        }
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, _Sample] = {}
        self._max_age_ns = round(cfg.ego_max_age_s * NS_PER_S)
        self.received = 0  # ego frames accepted
        self.decode_errors = 0
        self.e2e_errors = 0  # wrong CRC or wrong sequence
        self.repeated = 0  # same counter again (ignored, not an error by itself)
        self.error_frames = 0
        self._notifier: can.Notifier | None = None
        if bus is not None:
            import can

            self._notifier = can.Notifier(bus, [self, *listeners])

    # --- python-can listener interface ---------------------------------------------------

    def on_message_received(self, msg: can.Message) -> None:
        """Decode one received frame into the latest ego values; never raises."""
        if msg.is_error_frame:
            self.error_frames += 1
            return
        route = self._routes.get(msg.arbitration_id)
        if route is None or msg.is_remote_frame:
            return
        message, signals = route
        t_ns = self._clock()
        data = bytes(msg.data)
        checker = self._e2e.get(msg.arbitration_id)
        if checker is not None:
            status = checker.check(data)
            if status is E2EStatus.REPEATED:
                self.repeated += 1
                return
            if status is not E2EStatus.OK:
                self.e2e_errors += 1
                log.debug("ego frame %s: E2E %s", message.name, status.name)
                return
        try:
            decoded = message.decode(data, decode_choices=False, scaling=True)
        except self._decode_error_types as exc:
            self.decode_errors += 1
            log.debug("ego frame %s not decoded: %s", message.name, exc)
            return
        values: dict[str, _Sample] = {}
        for name, signal_name in signals:
            raw = decoded.get(signal_name) if isinstance(decoded, dict) else None
            value = float(raw) if isinstance(raw, int | float) else math.nan
            values[name] = _Sample(value * self._scales.get(name, 1.0), t_ns)
        with self._lock:
            self._latest.update(values)
        self.received += 1

    def __call__(self, msg: can.Message) -> None:
        self.on_message_received(msg)

    def on_error(self, exc: Exception) -> None:
        """Notifier hook: a receive error of the bus (logged; the state goes stale)."""
        log.error("CAN receive error: %s", exc)

    def stop(self) -> None:
        """Notifier hook at shutdown; nothing to release here."""

    def close(self) -> None:
        """Stop the notifier this reader started (the bus stays open: it is the caller's)."""
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None

    # --- ego state -------------------------------------------------------------------------

    def _fresh(self, name: str, now_ns: int) -> float:
        """The latest value of ``name`` if present, finite and not older than the limit, else
        NaN."""
        sample = self._latest.get(name)
        if sample is None or now_ns - sample.t_ns > self._max_age_ns:
            return math.nan
        return sample.value if math.isfinite(sample.value) else math.nan

    def ego(self, now_ns: int) -> EgoState:
        """The ego state at ``now_ns`` (the reader's clock): valid only with a fresh,
        plausible speed; see the module doc for the unknown values."""
        cfg = self.config
        with self._lock:
            speed_sample = self._latest.get("speed")
            speed = self._fresh("speed", now_ns)
            yaw = self._fresh("yaw_rate", now_ns)
            accel = self._fresh("accel", now_ns)
            pedal = self._fresh("brake_pedal", now_ns)
            turn = self._fresh("turn_signal", now_ns)
        if speed_sample is None or not (0.0 <= speed <= cfg.ego_max_speed_mps):
            return EgoState(t_ns=now_ns, valid=False)
        if not 0.0 <= pedal <= 1.0:  # also NaN
            pedal = math.nan
        turn_signal = 0
        if math.isfinite(turn):
            code = round(turn)
            turn_signal = {cfg.turn_left_value: 1, cfg.turn_right_value: -1}.get(code, 0)
        return EgoState(
            t_ns=speed_sample.t_ns,
            speed_mps=speed,
            yaw_rate_rps=yaw,
            accel_mps2=accel,
            brake_pedal=pedal,
            turn_signal=turn_signal,
            valid=True,
        )
