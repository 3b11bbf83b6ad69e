"""E2E protection: the CRC-8 SAE J1850 values, the 0..14 counter and the receiver's verdicts."""

from __future__ import annotations

import pytest

from adas.can.e2e import (
    E2EReceiver,
    E2EStatus,
    crc8_sae_j1850,
    crc_ok,
    e2e_crc,
    next_counter,
    protect,
    read_counter,
)


def test_crc_check_value() -> None:
    # The catalogue check value of CRC-8/SAE-J1850 (poly 0x1D, init 0xFF, xorout 0xFF).
    assert crc8_sae_j1850(b"123456789") == 0x4B


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        # Test vectors of the AUTOSAR CRC library specification for Crc_CalculateCRC8.
        ("00000000", 0x59),
        ("F20183", 0x37),
        ("0FAA0055", 0x79),
        ("00FF5511", 0xB8),
        ("332255AABBCCDDEEFF", 0xCB),
        ("926B55", 0x8C),
        ("FFFFFFFF", 0x74),
    ],
)
def test_crc_autosar_vectors(data: str, crc: int) -> None:
    assert crc8_sae_j1850(bytes.fromhex(data)) == crc


def test_crc_hand_computed() -> None:
    # Nothing fed: the initial value undone by the final XOR.
    assert crc8_sae_j1850(b"") == 0x00
    # One zero byte, by hand: register 0xFF, then 8 shifts (xor 0x1D when the top bit falls
    # out): FF->E3->DB->AB->4B->96->31->62->C4; final XOR 0xFF -> 0x3B.
    assert crc8_sae_j1850(b"\x00") == 0x3B


def test_e2e_crc_covers_data_id_low_then_high_and_skips_crc_byte() -> None:
    frame = bytes([0xAA, 0x03, 0x10, 0x20])
    # Data ID 0x1234 -> 0x34, 0x12 ahead of bytes 1..3; whatever byte 0 holds is ignored.
    expected = crc8_sae_j1850(bytes([0x34, 0x12, 0x03, 0x10, 0x20]))
    assert e2e_crc(0x1234, frame) == expected
    assert e2e_crc(0x1234, bytes([0x00, *frame[1:]])) == expected
    assert e2e_crc(0x3412, frame) != expected  # byte order of the Data ID matters


def test_counter_runs_0_to_14_and_skips_15() -> None:
    seen = [0]
    for _ in range(31):
        seen.append(next_counter(seen[-1]))
    assert seen[:16] == [*range(15), 0]
    assert 15 not in seen
    assert seen[30] == 0  # period 15


def test_protect_sets_counter_nibble_and_crc() -> None:
    raw = bytes([0x00, 0x50, 1, 2, 3, 4, 5, 6])  # high nibble of byte 1 belongs to a signal
    out = protect(raw, 0x01A0, 9)
    assert read_counter(out) == 9
    assert out[1] >> 4 == 0x5
    assert out[2:] == raw[2:]
    assert crc_ok(out, 0x01A0)
    assert not crc_ok(out, 0x01A1)  # same bytes under another identity fail
    with pytest.raises(ValueError, match="counter 15"):
        protect(raw, 0x01A0, 15)
    with pytest.raises(ValueError, match="Data ID"):
        protect(raw, 0x10000, 0)


def _frames(data_id: int, counters: list[int]) -> list[bytes]:
    return [protect(bytes(8), data_id, c) for c in counters]


def test_receiver_sequence_verdicts() -> None:
    rx = E2EReceiver(0x0B0, max_delta=2)
    f = _frames(0x0B0, [13, 14, 0, 0, 2, 9, 10])
    assert rx.check(f[0]) is E2EStatus.OK  # first frame: nothing to compare with
    assert rx.check(f[1]) is E2EStatus.OK
    assert rx.check(f[2]) is E2EStatus.OK  # 14 -> 0 wraps
    assert rx.check(f[3]) is E2EStatus.REPEATED
    assert rx.check(f[4]) is E2EStatus.OK  # one frame lost: delta 2 <= max_delta
    assert rx.lost == 1
    assert rx.check(f[5]) is E2EStatus.WRONG_SEQUENCE  # delta 7
    assert rx.check(f[6]) is E2EStatus.OK  # re-synchronised on 9


def test_receiver_rejects_reserved_counter_and_bad_crc() -> None:
    rx = E2EReceiver(0x0B0)
    good = protect(bytes(8), 0x0B0, 3)
    assert rx.check(good) is E2EStatus.OK
    reserved = bytearray(good)
    reserved[1] |= 0x0F
    reserved[0] = e2e_crc(0x0B0, reserved)  # a correct CRC on the reserved value 15
    assert rx.check(bytes(reserved)) is E2EStatus.WRONG_SEQUENCE
    assert rx.last_counter == 3  # the reserved value never becomes the reference


def test_every_single_bit_flip_fails_the_crc() -> None:
    frame = protect(bytes([0, 0, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]), 0x01A0, 4)
    for byte in range(len(frame)):
        for bit in range(8):
            bad = bytearray(frame)
            bad[byte] ^= 1 << bit
            assert E2EReceiver(0x01A0).check(bytes(bad)) is E2EStatus.WRONG_CRC, (byte, bit)


def test_bad_frame_leaves_the_reference_alone() -> None:
    rx = E2EReceiver(0x01A0)
    f0, f1 = _frames(0x01A0, [5, 6])
    assert rx.check(f0) is E2EStatus.OK
    corrupt = bytearray(f1)
    corrupt[4] ^= 0xFF
    assert rx.check(bytes(corrupt)) is E2EStatus.WRONG_CRC
    assert rx.check(f1) is E2EStatus.OK  # 5 -> 6, the corrupt frame did not count
    with pytest.raises(ValueError, match="max_delta"):
        E2EReceiver(1, max_delta=15)
