"""CAN ego reader: fresh, stale, implausible and corrupt vehicle frames; a car's own DBC."""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

can = pytest.importorskip("can")
cantools = pytest.importorskip("cantools")

from adas.can import SHIPPED_DBC, CanConfig, CanEgoReader, protect  # noqa: E402
from adas.errors import ConfigError  # noqa: E402

DB = cantools.database.load_file(str(SHIPPED_DBC))
CFG = CanConfig()
MS = 1_000_000


class Clock:
    """A settable receive clock (ns)."""

    def __init__(self) -> None:
        self.t_ns = 1_000 * MS

    def __call__(self) -> int:
        return self.t_ns


class Vehicle:
    """Builds the shipped DBC's vehicle frames with their E2E counter and CRC."""

    def __init__(self) -> None:
        self.counters = {"VEH_Dynamics": 0, "VEH_Driver": 0}

    def frame(self, name: str, counter: int | None = None, **signals: Any) -> Any:
        m = DB.get_message_by_name(name)
        c = self.counters[name] if counter is None else counter
        self.counters[name] = (c + 1) % 15
        raw = m.encode({f"{name}_CRC": 0, f"{name}_Counter": c, **signals}, strict=False)
        return can.Message(
            arbitration_id=m.frame_id, is_extended_id=False, data=protect(raw, m.frame_id, c)
        )

    def dynamics(self, speed: float = 13.89, yaw: float = 0.1, accel: float = -2.5) -> Any:
        return self.frame("VEH_Dynamics", VehicleSpeed=speed, YawRate=yaw, LongAccel=accel)

    def driver(self, pedal_pct: float = 40.0, turn: str = "OFF") -> Any:
        return self.frame("VEH_Driver", BrakePedal=pedal_pct, TurnSignal=turn)


def _reader(cfg: CanConfig = CFG) -> tuple[CanEgoReader, Clock]:
    clock = Clock()
    return CanEgoReader(cfg, clock=clock), clock


def test_fresh_messages_give_a_valid_ego() -> None:
    reader, clock = _reader()
    car = Vehicle()
    reader.on_message_received(car.dynamics(13.89, 0.1, -2.5))
    reader.on_message_received(car.driver(40.0, "LEFT"))
    t_rx = clock.t_ns
    ego = reader.ego(clock.t_ns + 20 * MS)
    assert ego.valid
    assert ego.t_ns == t_rx  # the speed sample's receive time
    assert ego.speed_mps == pytest.approx(13.89)
    assert ego.yaw_rate_rps == pytest.approx(0.1)
    assert ego.accel_mps2 == pytest.approx(-2.5)
    assert ego.brake_pedal == pytest.approx(0.4)  # percent -> fraction
    assert ego.turn_signal == 1  # left (ISO 8855: y left)
    reader.on_message_received(car.driver(0.0, "RIGHT"))
    assert reader.ego(clock.t_ns).turn_signal == -1
    reader.on_message_received(car.driver(0.0, "SNA"))
    assert reader.ego(clock.t_ns).turn_signal == 0  # not a direction: treated as off
    assert reader.received == 4


def test_missing_speed_is_invalid() -> None:
    reader, clock = _reader()
    reader.on_message_received(Vehicle().driver())
    assert not reader.ego(clock.t_ns).valid


def test_stale_speed_is_invalid() -> None:
    reader, clock = _reader()
    car = Vehicle()
    reader.on_message_received(car.dynamics())
    limit = round(CFG.ego_max_age_s * 1e9)
    assert reader.ego(clock.t_ns + limit).valid  # exactly at the limit: still fresh
    late = reader.ego(clock.t_ns + limit + 1)
    assert not late.valid
    assert late.t_ns == clock.t_ns + limit + 1
    clock.t_ns += limit + 1
    reader.on_message_received(car.dynamics())  # a new frame revives it
    assert reader.ego(clock.t_ns).valid


def test_stale_optional_signals_become_unknown() -> None:
    reader, clock = _reader()
    car = Vehicle()
    reader.on_message_received(car.driver(80.0, "LEFT"))
    clock.t_ns += 400 * MS  # the driver message stops; dynamics keep coming
    reader.on_message_received(car.dynamics())
    ego = reader.ego(clock.t_ns)
    assert ego.valid
    assert math.isnan(ego.brake_pedal)  # unknown: never read as "driver brakes"
    assert ego.turn_signal == 0


@pytest.mark.parametrize("speed", [655.35, 150.0])  # 655.35 = raw 0xFFFF, "SNA"
def test_absurd_speed_is_invalid(speed: float) -> None:
    reader, clock = _reader()
    reader.on_message_received(Vehicle().dynamics(speed=speed))
    assert not reader.ego(clock.t_ns).valid


def test_corrupt_and_repeated_frames_are_ignored() -> None:
    reader, clock = _reader()
    car = Vehicle()
    reader.on_message_received(car.dynamics(speed=10.0))
    bad = car.dynamics(speed=30.0)
    bad.data[3] ^= 0x01
    reader.on_message_received(bad)
    assert reader.e2e_errors == 1
    assert reader.ego(clock.t_ns).speed_mps == pytest.approx(10.0)
    # A sender stuck on one frame (same counter) must not keep the state fresh.
    stuck = car.dynamics(speed=12.0, yaw=0.0, accel=0.0)
    reader.on_message_received(stuck)
    for _ in range(5):
        clock.t_ns += 100 * MS
        reader.on_message_received(stuck)
    assert reader.repeated == 5
    assert not reader.ego(clock.t_ns).valid
    jump = car.frame("VEH_Dynamics", counter=10, VehicleSpeed=5.0, YawRate=0.0, LongAccel=0.0)
    reader.on_message_received(jump)  # counter 2 -> 10: frames lost, this one not used
    assert reader.e2e_errors == 2
    assert not reader.ego(clock.t_ns).valid


def test_undecodable_frame_is_counted() -> None:
    reader, clock = _reader(dataclasses.replace(CFG, ego_e2e=False))
    reader.on_message_received(
        can.Message(arbitration_id=0x0B0, is_extended_id=False, data=b"\x01")
    )
    assert reader.decode_errors == 1
    reader.on_message_received(can.Message(arbitration_id=0x0B0, is_error_frame=True))
    assert reader.error_frames == 1
    assert not reader.ego(clock.t_ns).valid


CAR_DBC = """VERSION ""

NS_ :

BS_:

BU_: CAR

BO_ 768 ESP_Speed: 8 CAR
 SG_ Speed_kph : 0|32@1- (1,0) [0|0] "km/h" Vector__XXX
 SG_ Yaw_dps : 32|16@1- (0.01,0) [-327.68|327.67] "deg/s" Vector__XXX

BO_ 769 Body: 2 CAR
 SG_ Blinker : 0|2@1+ (1,0) [0|3] "" Vector__XXX

SIG_VALTYPE_ 768 Speed_kph : 1;
"""


def _car_reader(tmp_path: Path) -> tuple[CanEgoReader, Clock]:
    """A car with its own DBC: float speed in km/h, yaw in deg/s right-positive, no pedal."""
    path = tmp_path / "car.dbc"
    path.write_text(CAR_DBC)
    cfg = dataclasses.replace(
        CFG,
        ego_dbc=str(path),
        ego_e2e=False,
        speed_message="ESP_Speed",
        speed_signal="Speed_kph",
        speed_scale=1 / 3.6,
        yaw_rate_message="ESP_Speed",
        yaw_rate_signal="Yaw_dps",
        yaw_rate_scale=-math.pi / 180,
        accel_message="",
        accel_signal="",
        brake_pedal_message="",
        brake_pedal_signal="",
        turn_signal_message="Body",
        turn_signal_signal="Blinker",
        turn_left_value=2,
        turn_right_value=1,
    )
    return _reader(cfg)


def _car_frame(speed_kph: float, yaw_dps: float = 0.0) -> Any:
    m = cantools.database.load_string(CAR_DBC).get_message_by_name("ESP_Speed")
    data = m.encode({"Speed_kph": speed_kph, "Yaw_dps": yaw_dps}, strict=False)
    return can.Message(arbitration_id=m.frame_id, is_extended_id=False, data=data)


def test_a_cars_own_dbc_is_mapped_to_si(tmp_path: Path) -> None:
    reader, clock = _car_reader(tmp_path)
    reader.on_message_received(_car_frame(72.0, -5.0))
    reader.on_message_received(
        can.Message(arbitration_id=769, is_extended_id=False, data=b"\x02\x00")
    )
    ego = reader.ego(clock.t_ns)
    assert ego.valid
    assert ego.speed_mps == pytest.approx(20.0, rel=1e-6)
    assert ego.yaw_rate_rps == pytest.approx(math.radians(5.0))  # right-positive -> left-positive
    assert math.isnan(ego.accel_mps2) and math.isnan(ego.brake_pedal)  # not on this car
    assert ego.turn_signal == 1


@pytest.mark.parametrize("speed_kph", [math.nan, math.inf, -10.0])
def test_non_finite_or_negative_speed_is_invalid(tmp_path: Path, speed_kph: float) -> None:
    reader, clock = _car_reader(tmp_path)
    reader.on_message_received(_car_frame(speed_kph))
    assert not reader.ego(clock.t_ns).valid


def test_unknown_names_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"can\.speed_signal = 'Speed'.*VehicleSpeed"):
        CanEgoReader(dataclasses.replace(CFG, speed_signal="Speed"))
    with pytest.raises(ConfigError, match=r"can\.turn_signal_message = 'Nope'"):
        CanEgoReader(dataclasses.replace(CFG, turn_signal_message="Nope"))
    path = tmp_path / "car.dbc"
    path.write_text(CAR_DBC)
    with pytest.raises(
        ConfigError, match=r"can\.speed_message = 'VEH_Dynamics'.*car\.dbc.*ESP_Speed"
    ):
        # a car's DBC named without naming its messages: the error lists what it has
        CanEgoReader(dataclasses.replace(CFG, ego_dbc=str(path)))


def test_notifier_feeds_the_reader_from_a_bus() -> None:
    channel = f"test-{uuid.uuid4().hex}"
    ours = can.Bus(interface="virtual", channel=channel)
    car_bus = can.Bus(interface="virtual", channel=channel)
    seen: list[Any] = []
    reader = CanEgoReader(CFG, ours, listeners=[seen.append])
    try:
        car = Vehicle()
        car_bus.send(car.dynamics(speed=8.0))
        deadline = time.monotonic() + 2.0
        while reader.received == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        ego = reader.ego(time.monotonic_ns())
        assert ego.valid and ego.speed_mps == pytest.approx(8.0)
        assert len(seen) == 1 and seen[0].arbitration_id == 0x0B0
    finally:
        reader.close()
        ours.shutdown()
        car_bus.shutdown()
