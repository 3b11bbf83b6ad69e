"""The ``[can]`` section: bus, DBC, E2E identities, log, and the vehicle's ego signals.

Kept apart from the output and the ego reader so that :mod:`adas.config` reads it without
python-can or cantools.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adas.can.dbc import SHIPPED_DBC
from adas.errors import ConfigError
from adas.params import param, validate

LOG_SUFFIXES = (".asc", ".blf", ".log")

# The ego signals CanEgoReader decodes; each has [can] <name>_message and <name>_signal keys.
EGO_SIGNALS = ("speed", "yaw_rate", "accel", "brake_pedal", "turn_signal")


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
