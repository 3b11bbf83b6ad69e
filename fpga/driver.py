"""PYNQ driver of the preprocessing kernel (``preprocess_top`` in ``fpga/hls/preprocess.cpp``).

The host side of fpga/spec.md §9: per geometry (one ``adas.preprocess_plan.Plan``) the driver
uploads the packed resize tables and the LUT once, then per frame copies the frame into a
device buffer, writes the kernel's AXI-Lite registers, starts it and reads the tensor back.
The registers and the words it writes are defined in :mod:`fpga.layout` (shared with the C
simulation); ``python -m fpga.driver`` prints the register map.

The HLS IP is packaged with the VLNV :data:`VLNV`; :func:`ip_class` returns the
``pynq.DefaultIP`` subclass bound to it. ``pynq`` is imported only inside functions: this
module imports (and its register map is checked) without it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import ContractError
from adas.preprocess_plan import Plan
from fpga import layout
from fpga.errors import (
    FpgaError,
    FpgaUnavailableError,
    FrameError,
    KernelBusyError,
    KernelFaultError,
    KernelTimeoutError,
    PipelineFullError,
)

VLNV = "adas.dev:hls:preprocess_top:1.0"
BITFILE_ENV = "ADAS_FPGA_BITFILE"

DEFAULT_TIMEOUT_S = 0.5
DEFAULT_POLL_S = 50e-6


# --- PYNQ glue ----------------------------------------------------------------------------


def _import_pynq() -> Any:
    """``pynq``, or FpgaUnavailableError saying how to get it."""
    try:
        import pynq
    except ImportError as exc:
        msg = (
            f"pynq is not installed ({exc}): the FPGA driver needs it (pip install '.[fpga]' "
            "in a venv of its own, .venv-fpga, since pynq pins numpy < 2)"
        )
        raise FpgaUnavailableError(msg) from exc
    return pynq


@functools.cache
def ip_class() -> type:
    """The ``pynq.DefaultIP`` subclass bound to :data:`VLNV` (created and registered once).

    Creating it registers it in PYNQ's driver table, so an ``Overlay`` loaded afterwards
    instantiates it for our kernel. It only keeps the ``.hwh`` registers for the map check;
    the logic lives in :class:`FpgaPreprocessor`, which works with any object offering
    ``read(offset)``, ``write(offset, value)`` and ``device``.
    """
    _import_pynq()  # a clear error when it is missing
    from pynq import DefaultIP

    class PreprocessIP(DefaultIP):
        """Driver binding for the HLS preprocessing kernel (see fpga.driver)."""

        bindto = [VLNV]  # noqa: RUF012 (PYNQ reads this class attribute as a list)

        def __init__(self, description: dict[str, Any]) -> None:
            super().__init__(description)
            self.hwh_registers: dict[str, Any] | None = description.get("registers")

    return PreprocessIP


# --- the driver -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """A submitted frame: its sequence number and the buffer slot holding its result."""

    seq: int
    slot: int


@dataclass
class _Slot:
    """One input buffer and one output buffer used together for a frame in flight."""

    src: Any  # PynqBuffer, uint8, in_h * row_bytes
    dst: Any  # PynqBuffer, the plan's output shape and dtype
    ticket: Ticket | None = None  # submitted and not yet collected
    done: bool = False


class FpgaPreprocessor:
    """Drives the kernel for one geometry (``plan``); ``run``/``submit``/``collect`` frames.

    ``ip`` offers ``read(offset) -> int``, ``write(offset, int)`` and ``device`` (a PYNQ IP
    driver, e.g. :func:`ip_class` instance). ``allocate(shape, dtype)`` returns cacheable
    ``PynqBuffer`` objects (default ``pynq.allocate`` on ``ip.device``). Construction uploads the
    tables and LUT once (and checks the ``.hwh`` register map if the IP carries one);
    ``n_slots`` input/output buffer pairs are used in turn, so a frame can be copied in
    while the previous one is computed and its result read while the next one runs.

    ``timeout_s`` bounds every wait for ap_idle (before a start) and ap_done (after one).
    """

    def __init__(
        self,
        plan: Plan,
        ip: Any,
        *,
        allocate: Callable[..., Any] | None = None,
        n_slots: int = 2,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        if not 1 <= n_slots <= 3:
            msg = f"n_slots must be 1, 2 or 3, got {n_slots!r}"
            raise ValueError(msg)
        self.plan = plan
        self.ip = ip
        self.timeout_s = float(timeout_s)
        self.poll_s = float(poll_s)
        hwh = getattr(ip, "hwh_registers", None)
        if hwh:
            layout.check_register_map(hwh)
        if allocate is None:
            allocate = functools.partial(_import_pynq().allocate, target=ip.device)
        self._allocate = allocate
        self._args = layout.argument_values(plan)
        self._row_bytes = layout.row_bytes(plan)
        self._in_bytes = plan.in_size[1] * self._row_bytes
        # Tables and LUT: filled and flushed once for this geometry.
        self.xtab = self._upload(layout.pack_table(plan.x_table))
        self.ytab = self._upload(layout.pack_table(plan.y_table))
        self.lut = self._upload(layout.lut_words(plan))
        self._slots = [
            _Slot(allocate((self._in_bytes,), np.uint8), allocate(plan.out_shape, plan.lut.dtype))
            for _ in range(n_slots)
        ]
        self._next_slot = 0
        self._seq = 0
        self._running: Ticket | None = None  # started, ap_done not yet seen

    def _upload(self, words: np.ndarray) -> Any:
        buf = self._allocate(words.shape, words.dtype)
        buf[:] = words
        buf.flush()
        return buf

    # -- register access ---------------------------------------------------------------

    def _read(self, offset: int) -> int:
        try:
            return int(self.ip.read(offset))
        except FpgaError:
            raise
        except Exception as exc:
            msg = f"reading kernel register 0x{offset:02x} failed: {exc}"
            raise KernelFaultError(msg) from exc

    def _write(self, offset: int, value: int) -> None:
        try:
            self.ip.write(offset, int(value) & 0xFFFFFFFF)
        except FpgaError:
            raise
        except Exception as exc:
            msg = f"writing kernel register 0x{offset:02x} failed: {exc}"
            raise KernelFaultError(msg) from exc

    def _write_pointer(self, name: str, address: int) -> None:
        off = layout.REGISTERS[name].offset
        self._write(off, address & 0xFFFFFFFF)
        self._write(off + 4, address >> 32)

    # -- waits -------------------------------------------------------------------------

    def _wait_done(self, ticket: Ticket) -> None:
        """Poll CTRL until ap_done (cleared by the read that sees it) or the timeout."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._read(layout.CTRL) & layout.AP_DONE:
                self._running = None
                self._slots[ticket.slot].done = True
                return
            if time.monotonic() >= deadline:
                self._running = None
                self._slots[ticket.slot].ticket = None  # its result will never come
                msg = (
                    f"kernel did not finish frame {ticket.seq} within {self.timeout_s:g} s "
                    "(ap_done never set): the kernel hangs or the clock is stopped"
                )
                raise KernelTimeoutError(msg)
            time.sleep(self.poll_s)

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self._read(layout.CTRL) & layout.AP_IDLE:
            if time.monotonic() >= deadline:
                msg = (
                    f"kernel not idle within {self.timeout_s:g} s (ap_idle never set): "
                    "a previous run never finished or another process drives it"
                )
                raise KernelBusyError(msg)
            time.sleep(self.poll_s)

    # -- frames --------------------------------------------------------------------------

    def submit(self, image: np.ndarray) -> Ticket:
        """Copy ``image`` into the next slot and start the kernel on it; returns the ticket.

        Waits (bounded by the timeout) for the previously started frame to finish first —
        the kernel runs one frame at a time — but not for anyone to collect it.
        """
        slot_index = self._next_slot
        slot = self._slots[slot_index]
        if slot.ticket is not None:
            msg = (
                f"all {len(self._slots)} output buffers hold uncollected results; collect "
                f"frame {slot.ticket.seq} before submitting another"
            )
            raise PipelineFullError(msg)
        try:
            rows, _ = layout.frame_rows(self.plan, image)
        except ContractError as exc:
            raise FrameError(str(exc)) from exc
        # The input buffer holds contiguous rows (src_stride = row_bytes): copy row by row
        # from the frame's own stride.
        shape = (self.plan.in_size[1], self._row_bytes)
        np.asarray(slot.src).reshape(shape)[:] = rows.reshape(shape)
        slot.src.flush()
        if self._running is not None:
            self._wait_done(self._running)
        self._wait_idle()
        self._write_pointer("src", slot.src.device_address)
        self._write_pointer("xtab", self.xtab.device_address)
        self._write_pointer("ytab", self.ytab.device_address)
        self._write_pointer("lut", self.lut.device_address)
        self._write_pointer("dst32", slot.dst.device_address)
        self._write_pointer("dst8", slot.dst.device_address)
        for name, value in self._args.items():
            self._write(layout.REGISTERS[name].offset, value)
        self._write(layout.CTRL, layout.AP_START)
        ticket = Ticket(self._seq, slot_index)
        self._seq += 1
        slot.ticket, slot.done = ticket, False
        self._running = ticket
        self._next_slot = (slot_index + 1) % len(self._slots)
        return ticket

    def collect(self, ticket: Ticket, out: np.ndarray) -> None:
        """Wait for ``ticket``'s frame (bounded) and copy its tensor into ``out``."""
        slot = self._slots[ticket.slot] if 0 <= ticket.slot < len(self._slots) else None
        if slot is None or slot.ticket != ticket:
            msg = f"frame {ticket.seq} is not pending (already collected, or timed out)"
            raise ContractError(msg)
        if not slot.done:
            if self._running != ticket:  # cannot happen: one run at a time, in order
                msg = f"frame {ticket.seq} neither running nor finished"
                raise KernelFaultError(msg)
            self._wait_done(ticket)
        slot.dst.invalidate()
        out[...] = slot.dst
        slot.ticket, slot.done = None, False

    def run(self, image: np.ndarray, out: np.ndarray) -> None:
        """One frame, synchronously (``adas.preprocess_plan.Backend``): submit, then collect."""
        self.collect(self.submit(image), out)

    @property
    def output_addresses(self) -> list[int]:
        """Device addresses of the output buffers, in slot order."""
        return [int(s.dst.device_address) for s in self._slots]

    def close(self) -> None:
        """Free the device buffers (the object is unusable afterwards)."""
        for buf in (
            self.xtab,
            self.ytab,
            self.lut,
            *(b for s in self._slots for b in (s.src, s.dst)),
        ):
            free = getattr(buf, "freebuffer", None)
            if free is not None:
                free()
        self._slots = []

    def __enter__(self) -> FpgaPreprocessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find_ip(overlay: Any, cls: type) -> Any:
    """The driver instance of our kernel in ``overlay`` (by VLNV), or FpgaUnavailableError."""
    names = [n for n, d in overlay.ip_dict.items() if d.get("type") == VLNV]
    if not names:
        found = sorted({str(d.get("type")) for d in overlay.ip_dict.values()})
        msg = f"no IP of type {VLNV} in the overlay (it has: {', '.join(found) or 'none'})"
        raise FpgaUnavailableError(msg)
    ip = overlay
    for part in names[0].split("/"):
        ip = getattr(ip, part)
    if not isinstance(ip, cls):
        msg = f"IP {names[0]} is driven by {type(ip).__name__}, not the preprocess driver"
        raise FpgaUnavailableError(msg)
    return ip


def open_board(
    plan: Plan,
    bitfile: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    n_slots: int = 2,
) -> FpgaPreprocessor:
    """Load the overlay (``bitfile`` or ``$ADAS_FPGA_BITFILE``) and drive its kernel.

    Raises :class:`FpgaUnavailableError` when pynq is missing, no bitfile is named or it does
    not exist, the overlay cannot be loaded, or it holds no IP of type :data:`VLNV`;
    :class:`RegisterMapError` when its register map is not the driver's.
    """
    pynq = _import_pynq()
    name = bitfile if bitfile is not None else os.environ.get(BITFILE_ENV, "")
    if not name:
        msg = f"no FPGA bitfile: pass bitfile= or set {BITFILE_ENV} (its .hwh next to it)"
        raise FpgaUnavailableError(msg)
    path = Path(name)
    if not path.is_file():
        msg = f"FPGA bitfile {str(path)!r} not found"
        raise FpgaUnavailableError(msg)
    cls = ip_class()  # registered before the overlay assigns drivers
    try:
        overlay = pynq.Overlay(str(path))
    except Exception as exc:
        msg = f"loading overlay {str(path)!r} failed: {exc}"
        raise FpgaUnavailableError(msg) from exc
    try:
        ip = _find_ip(overlay, cls)
        allocate = functools.partial(pynq.allocate, target=overlay.device)
        return FpgaPreprocessor(plan, ip, allocate=allocate, n_slots=n_slots, timeout_s=timeout_s)
    except FpgaError:
        raise
    except Exception as exc:  # e.g. PYNQ's driver construction, or out of contiguous memory
        msg = f"setting up the kernel driver on {str(path)!r} failed: {exc}"
        raise FpgaUnavailableError(msg) from exc


if __name__ == "__main__":
    print(layout.register_table())
