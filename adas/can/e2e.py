"""End-to-end (E2E) protection of CAN frames, in the style of AUTOSAR E2E profile 1.

A receiver must be able to tell a good frame from a corrupted, repeated, lost or misrouted
one before it acts on it (a brake request above all). Each protected frame carries:

- a **CRC-8 SAE J1850** (polynomial 0x1D, initial value 0xFF, final XOR 0xFF; check value
  0x4B for ``b"123456789"``) in **byte 0**, computed over the 16-bit **Data ID** (low byte,
  then high byte: profile 1's DataIDMode "BOTH") followed by the payload bytes 1..n-1 (every
  byte except the CRC byte). The Data ID is never sent: a frame that arrives under the wrong
  identity, or whose sender and receiver disagree on its meaning, fails the CRC.
- a **4-bit rolling counter** in the **low nibble of byte 1**, 0..14 and back to 0; 15 is
  reserved (profile 1: an invalid counter) and never sent.

This is the byte layout of profile 1 with its default offsets (CRC offset 0, counter offset
8 bits). The CRC is one pass of the standard CRC-8 SAE J1850 over the concatenated bytes; a
vendor AUTOSAR stack chains its CRC calls with its own start-value convention, so check a
sample frame against that stack before mixing the two on one bus.

The checker (:class:`E2EReceiver`) keeps the last accepted counter per Data ID and classifies
each frame as ``OK`` (counter advanced by 1..``max_delta``: at most ``max_delta - 1`` frames
lost), ``REPEATED`` (same counter: the sender is stuck or the frame was duplicated),
``WRONG_SEQUENCE`` (counter jumped further, or the reserved value 15) or ``WRONG_CRC``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

CRC_INDEX = 0  # byte holding the CRC
COUNTER_INDEX = 1  # byte whose low nibble holds the counter
COUNTER_MODULO = 15  # counter runs 0..14
COUNTER_INVALID = 15  # reserved nibble value, never sent

_POLY = 0x1D
_INIT = 0xFF
_XOR_OUT = 0xFF


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc8_sae_j1850(data: Iterable[int]) -> int:
    """CRC-8 SAE J1850 (poly 0x1D, init 0xFF, xorout 0xFF, not reflected) of ``data``."""
    crc = _INIT
    for byte in data:
        crc = _TABLE[crc ^ byte]
    return crc ^ _XOR_OUT


def e2e_crc(data_id: int, frame: bytes | bytearray) -> int:
    """The E2E CRC of ``frame`` under ``data_id``: over the Data ID (low, high) and every
    byte of the frame except the CRC byte (whatever byte 0 holds is ignored)."""
    _check_data_id(data_id)
    if len(frame) < 2:
        msg = f"an E2E-protected frame needs at least 2 bytes (CRC, counter), got {len(frame)}"
        raise ValueError(msg)
    head = (data_id & 0xFF, data_id >> 8)
    return crc8_sae_j1850((*head, *frame[CRC_INDEX + 1 :]))


def next_counter(counter: int) -> int:
    """The counter after ``counter``: 0, 1, ..., 14, 0, ... (15 is skipped)."""
    return (counter + 1) % COUNTER_MODULO


def read_counter(frame: bytes | bytearray) -> int:
    """The counter nibble of a protected frame."""
    return frame[COUNTER_INDEX] & 0x0F


def protect(frame: bytes | bytearray, data_id: int, counter: int) -> bytes:
    """A copy of the encoded ``frame`` with ``counter`` in the low nibble of byte 1 and the
    CRC in byte 0. The other bits of byte 1 (another signal's) are kept."""
    if not 0 <= counter < COUNTER_MODULO:
        msg = f"E2E counter {counter} is outside 0..{COUNTER_MODULO - 1}"
        raise ValueError(msg)
    out = bytearray(frame)
    if len(out) < 2:
        msg = f"an E2E-protected frame needs at least 2 bytes (CRC, counter), got {len(out)}"
        raise ValueError(msg)
    out[COUNTER_INDEX] = (out[COUNTER_INDEX] & 0xF0) | counter
    out[CRC_INDEX] = e2e_crc(data_id, out)
    return bytes(out)


def crc_ok(frame: bytes | bytearray, data_id: int) -> bool:
    """Whether byte 0 of ``frame`` is the right CRC for ``data_id`` (no counter check)."""
    return len(frame) >= 2 and frame[CRC_INDEX] == e2e_crc(data_id, frame)


class E2EStatus(enum.Enum):
    """Result of checking one received frame."""

    OK = "OK"
    WRONG_CRC = "WRONG_CRC"
    REPEATED = "REPEATED"
    WRONG_SEQUENCE = "WRONG_SEQUENCE"


class E2EReceiver:
    """Stateful check of the frames of one Data ID (one message), in receive order.

    The first frame with a good CRC is accepted (there is nothing to compare its counter
    with). A ``WRONG_SEQUENCE`` frame re-synchronises: its counter becomes the reference, so
    the next consecutive frame is ``OK`` again; this frame itself must not be used. A frame
    with a bad CRC leaves the state alone: its counter cannot be trusted.
    """

    def __init__(self, data_id: int, max_delta: int = 2) -> None:
        _check_data_id(data_id)
        if not 1 <= max_delta < COUNTER_MODULO:
            msg = f"E2E max_delta {max_delta} is outside 1..{COUNTER_MODULO - 1}"
            raise ValueError(msg)
        self.data_id = data_id
        self.max_delta = max_delta
        self.last_counter: int | None = None
        self.lost = 0  # frames skipped over by accepted counter jumps (delta - 1 each)

    def check(self, frame: bytes | bytearray) -> E2EStatus:
        if not crc_ok(frame, self.data_id):
            return E2EStatus.WRONG_CRC
        counter = read_counter(frame)
        if counter == COUNTER_INVALID:
            return E2EStatus.WRONG_SEQUENCE
        last, self.last_counter = self.last_counter, counter
        if last is None:
            return E2EStatus.OK
        delta = (counter - last) % COUNTER_MODULO
        if delta == 0:
            return E2EStatus.REPEATED
        if delta > self.max_delta:
            return E2EStatus.WRONG_SEQUENCE
        self.lost += delta - 1
        return E2EStatus.OK


def _check_data_id(data_id: int) -> None:
    if not 0 <= data_id <= 0xFFFF:
        msg = f"E2E Data ID {data_id} is outside 0..0xFFFF (16 bits)"
        raise ValueError(msg)
