"""CAN output: command/status frames over a virtual bus, brake gating, send errors, logs, config."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

can = pytest.importorskip("can")
cantools = pytest.importorskip("cantools")

from adas.can import (  # noqa: E402
    SHIPPED_DBC,
    CanConfig,
    CanOutput,
    E2EReceiver,
    E2EStatus,
    crc_ok,
    decode_log,
)
from adas.config import load_config  # noqa: E402
from adas.errors import ConfigError, SinkError  # noqa: E402
from adas.types import Decision, DecisionLevel, Fault, RuntimeState  # noqa: E402

DB = cantools.database.load_file(str(SHIPPED_DBC))
CFG = CanConfig()


@pytest.fixture
def buses() -> Iterator[tuple[Any, Any]]:
    """Two ends of a private virtual bus: (ADAS side, vehicle side)."""
    channel = f"test-{uuid.uuid4().hex}"
    a = can.Bus(interface="virtual", channel=channel)
    b = can.Bus(interface="virtual", channel=channel)
    yield a, b
    a.shutdown()
    b.shutdown()


def _receive(bus: Any) -> Any:
    msg = bus.recv(timeout=2.0)
    assert msg is not None, "nothing arrived on the virtual bus"
    return msg


def _decode(msg: Any) -> dict[str, Any]:
    return dict(DB.decode_message(msg.arbitration_id, bytes(msg.data), decode_choices=False))


def test_command_round_trip(buses: tuple[Any, Any]) -> None:
    tx, rx = buses
    out = CanOutput(CFG, bus=tx)
    assert out.send_command(Decision(DecisionLevel.BRAKE_PARTIAL, 6.25, 42), 1.23)
    msg = _receive(rx)
    assert msg.arbitration_id == 0x1A0 and len(msg.data) == 8
    sig = _decode(msg)
    assert sig["Level"] == DecisionLevel.BRAKE_PARTIAL
    assert sig["BrakeRequest"] == 1 and sig["WarningActive"] == 1
    assert sig["DecelRequest"] == pytest.approx(6.25)
    assert sig["TargetTrackId"] == 42
    assert sig["TTC"] == pytest.approx(1.23)
    assert E2EReceiver(CFG.command_data_id).check(bytes(msg.data)) is E2EStatus.OK
    assert not crc_ok(bytes(msg.data), CFG.status_data_id)  # not valid as another message
    assert out.sent == 1 and out.send_errors == 0
    out.close()
    tx.send(can.Message(arbitration_id=0x123, is_extended_id=False))  # a given bus stays open
    assert _receive(rx).arbitration_id == 0x123


def test_counter_rolls_over_and_every_frame_checks(buses: tuple[Any, Any]) -> None:
    tx, rx = buses
    out = CanOutput(CFG, bus=tx)
    checker = E2EReceiver(CFG.command_data_id, max_delta=1)
    counters = []
    for i in range(17):
        assert out.send_command(Decision(DecisionLevel.WARNING, 0.0, i), 2.0)
        msg = _receive(rx)
        assert checker.check(bytes(msg.data)) is E2EStatus.OK
        counters.append(_decode(msg)["ADAS_Command_Counter"])
    assert counters == [*range(15), 0, 1]


def test_corrupted_byte_fails_the_crc(buses: tuple[Any, Any]) -> None:
    tx, rx = buses
    CanOutput(CFG, bus=tx).send_command(Decision(DecisionLevel.BRAKE_FULL, 9.0, 7), 0.5)
    data = bytearray(_receive(rx).data)
    data[3] ^= 0x04  # one bit of DecelRequest
    assert E2EReceiver(CFG.command_data_id).check(bytes(data)) is E2EStatus.WRONG_CRC


@pytest.mark.parametrize(
    "level",
    [DecisionLevel.NONE, DecisionLevel.CAUTION, DecisionLevel.WARNING, DecisionLevel.UNAVAILABLE],
)
def test_no_brake_request_below_brake_levels(buses: tuple[Any, Any], level: DecisionLevel) -> None:
    tx, rx = buses
    # A decision that (wrongly) carries a deceleration must still not brake.
    CanOutput(CFG, bus=tx).send_command(Decision(level, 8.0, 3), 0.9)
    sig = _decode(_receive(rx))
    assert sig["Level"] == level
    assert sig["BrakeRequest"] == 0
    assert sig["DecelRequest"] == 0.0
    assert sig["WarningActive"] == int(level == DecisionLevel.WARNING)


def test_command_saturation_and_not_available(buses: tuple[Any, Any]) -> None:
    tx, rx = buses
    out = CanOutput(CFG, bus=tx)
    out.send_command(Decision(DecisionLevel.BRAKE_FULL, 30.0, -1), math.inf)
    sig = dict(DB.decode_message(0x1A0, bytes(_receive(rx).data)))
    assert sig["DecelRequest"] == pytest.approx(15.0)  # DBC range end
    assert sig["TTC"] == "NOT_AVAILABLE"  # opening gap: no TTC
    assert sig["TargetTrackId"] == "NO_TARGET"
    out.send_command(Decision(DecisionLevel.NONE, 0.0, 70000), 120.0)
    sig = dict(DB.decode_message(0x1A0, bytes(_receive(rx).data)))
    assert sig["TTC"] == pytest.approx(40.94)
    assert sig["TargetTrackId"] == 70000 % 65535
    out.send_command(Decision(DecisionLevel.NONE), None)
    assert dict(DB.decode_message(0x1A0, bytes(_receive(rx).data)))["TTC"] == "NOT_AVAILABLE"


def test_status_round_trip(buses: tuple[Any, Any]) -> None:
    tx, rx = buses
    out = CanOutput(CFG, bus=tx)
    faults = Fault.CAMERA_STALL | Fault.CAN_ERROR
    assert out.send_status(RuntimeState.DEGRADED, faults, 29.97, 70000)
    msg = _receive(rx)
    assert msg.arbitration_id == 0x1A1
    sig = _decode(msg)
    assert sig["State"] == RuntimeState.DEGRADED
    assert msg.data[2] == int(faults)  # fault byte = the IntFlag value
    assert sig["FaultCameraStall"] == 1 and sig["FaultCanError"] == 1
    assert sig["FaultDeadline"] == sig["FaultEgoInvalid"] == sig["FaultCorruptFrame"] == 0
    assert sig["FramesPerSecond"] == pytest.approx(29.97)
    assert sig["DroppedFrames"] == 70000 - 65536
    assert E2EReceiver(CFG.status_data_id).check(bytes(msg.data)) is E2EStatus.OK


class _BrokenBus(can.BusABC):
    """A bus whose transmit path fails like a bus-off controller or a downed interface."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(channel="broken")
        self.exc = exc

    def send(self, msg: Any, timeout: float | None = None) -> None:
        raise self.exc

    def _recv_internal(self, timeout: float | None) -> tuple[None, bool]:
        return None, False


@pytest.mark.parametrize("exc", [can.CanOperationError("bus off"), OSError(100, "Network down")])
def test_send_errors_are_counted_not_raised(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    out = CanOutput(CFG, bus=_BrokenBus(exc))
    with caplog.at_level(logging.ERROR, logger="adas.can.output"):
        results = [out.send_command(Decision(DecisionLevel.WARNING), 1.0) for _ in range(5)]
        results.append(out.send_status(RuntimeState.OK, 0, 30.0, 0))
    assert results == [False] * 6
    assert out.send_errors == 6 and out.sent == 0
    assert len(caplog.records) == 1  # rate-limited: one line for the burst
    out.close()


@pytest.mark.parametrize("suffix", [".asc", ".blf"])
def test_log_reads_back_with_the_same_values(
    buses: tuple[Any, Any], tmp_path: Path, suffix: str
) -> None:
    tx, _ = buses
    path = tmp_path / f"drive{suffix}"
    cfg = dataclasses.replace(CFG, log_file=str(path))
    with CanOutput(cfg, bus=tx) as out:
        out.send_status(RuntimeState.OK, Fault(0), 30.0, 0)
        out.send_command(Decision(DecisionLevel.WARNING, 0.0, 5), 2.5)
        out.send_command(Decision(DecisionLevel.BRAKE_FULL, 9.0, 5), 0.75)
        out.on_message_received(_vehicle_frame())  # a received frame, logged as Rx
    frames = list(can.LogReader(str(path)))
    assert [f.arbitration_id for f in frames] == [0x1A1, 0x1A0, 0x1A0, 0x0B0]
    assert [f.is_rx for f in frames] == [False, False, False, True]
    brake = _decode(frames[2])
    assert brake["Level"] == DecisionLevel.BRAKE_FULL
    assert brake["DecelRequest"] == pytest.approx(9.0)
    assert brake["TTC"] == pytest.approx(0.75)
    assert brake["TargetTrackId"] == 5
    rows = decode_log(path)
    assert [r["name"] for r in rows] == [
        "ADAS_Status",
        "ADAS_Command",
        "ADAS_Command",
        "VEH_Dynamics",
    ]
    assert [r["e2e"] for r in rows] == ["OK"] * 4
    assert rows[1]["signals"]["Level"] == "WARNING"
    assert rows[2]["signals"]["BrakeRequest"] == 1
    assert rows[3]["signals"]["VehicleSpeed"] == pytest.approx(20.0)
    assert rows[3]["dir"] == "Rx"


def _vehicle_frame() -> Any:
    from adas.can.e2e import protect

    m = DB.get_message_by_name("VEH_Dynamics")
    raw = m.encode(
        {
            "VEH_Dynamics_CRC": 0,
            "VEH_Dynamics_Counter": 0,
            "VehicleSpeed": 20.0,
            "YawRate": 0.0,
            "LongAccel": 0.0,
        }
    )
    data = protect(raw, m.frame_id, 0)
    return can.Message(
        timestamp=time.time(), arbitration_id=m.frame_id, is_extended_id=False, data=data
    )


def test_decode_log_flags_corrupt_repeated_and_unknown_frames() -> None:
    good = _vehicle_frame()
    corrupt = can.Message(arbitration_id=0x0B0, is_extended_id=False, data=bytearray(good.data))
    corrupt.data[2] ^= 1
    unknown = can.Message(arbitration_id=0x7FF, is_extended_id=False, data=b"\x01")
    rows = decode_log([good, corrupt, good, unknown], SHIPPED_DBC)
    assert [r["e2e"] for r in rows] == ["OK", "WRONG_CRC", "REPEATED", ""]
    assert rows[3]["error"] == "not in the DBC"


def test_decode_cli(buses: tuple[Any, Any], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tx, _ = buses
    path = tmp_path / "drive.asc"
    with CanOutput(dataclasses.replace(CFG, log_file=str(path)), bus=tx) as out:
        out.send_command(Decision(DecisionLevel.BRAKE_FULL, 9.0, 12), 0.8)
    from adas.cli import main

    assert main(["can", "decode", str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert "0x1A0 ADAS_Command e2e=OK" in line
    assert "Level=BRAKE_FULL" in line and "DecelRequest=9" in line and "TTC=0.8" in line
    assert main(["can", "decode", str(tmp_path / "missing.asc")]) == 2
    assert "CAN log" in capsys.readouterr().err


def test_owned_virtual_bus_opens_from_config_and_closes() -> None:
    cfg = dataclasses.replace(CFG, channel=f"test-{uuid.uuid4().hex}")
    peer = can.Bus(interface="virtual", channel=cfg.channel)
    try:
        out = CanOutput(cfg)
        assert out.send_status(RuntimeState.INIT, 0, 0.0, 0)
        assert _receive(peer).arbitration_id == 0x1A1
        out.close()
        with pytest.raises(can.CanOperationError):  # the bus it opened is shut down
            out.bus.send(can.Message(arbitration_id=0x123, is_extended_id=False))
        assert not out.send_status(RuntimeState.INIT, 0, 0.0, 0)  # closed: refused, no raise
    finally:
        peer.shutdown()


def test_unknown_interface_is_a_clear_error() -> None:
    cfg = dataclasses.replace(CFG, interface="no_such_interface")
    with pytest.raises(SinkError, match=r"can\.interface = 'no_such_interface'"):
        CanOutput(cfg)


def test_shipped_config_equals_dataclass_defaults() -> None:
    assert load_config().can == CanConfig()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("status_rate_hz = -1.0", r"can\.status_rate_hz = -1\.0 is outside"),
        ("bitrate = 0", r"can\.bitrate"),
        ("command_data_id = 70000", r"can\.command_data_id"),
        ("ego_max_age_s = 0.0", r"can\.ego_max_age_s"),
        ("status_data_id = 416", r"can\.command_data_id = can\.status_data_id"),
        ("log_file = 'drive.txt'", r"can\.log_file = 'drive\.txt'"),
        ("speed_message = ''\nspeed_signal = ''", r"can\.speed_message is empty"),
        ("yaw_rate_signal = ''", r"can\.yaw_rate_message"),
        ("turn_right_value = 1", r"can\.turn_left_value"),
        ("interface = 5", r"can\.interface = 5: expected a string"),
        ("bogus = 1", r"unknown keys \['bogus'\]"),
    ],
)
def test_config_rejects_bad_values(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "car.toml"
    p.write_text(f"[can]\n{text}\n")
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_config_bad_dbc_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"can\.dbc: DBC file .* not found"):
        CanOutput(dataclasses.replace(CFG, dbc=str(tmp_path / "none.dbc")), bus=None)
    bad = tmp_path / "bad.dbc"
    bad.write_text("this is not a DBC\n")
    with pytest.raises(ConfigError, match=r"can\.dbc: .* not a readable DBC"):
        CanOutput(dataclasses.replace(CFG, dbc=str(bad)), bus=None)


def test_dbc_without_the_e2e_layout_is_rejected(tmp_path: Path) -> None:
    text = SHIPPED_DBC.read_text().replace(
        "SG_ ADAS_Command_Counter : 8|4@1+", "SG_ ADAS_Command_Counter : 18|4@1+"
    )
    moved = tmp_path / "moved.dbc"
    moved.write_text(text)
    with pytest.raises(ConfigError, match=r"ADAS_Command .* does not fit the E2E layout"):
        CanOutput(dataclasses.replace(CFG, dbc=str(moved)), bus=None)
