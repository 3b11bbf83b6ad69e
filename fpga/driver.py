"""PYNQ driver of the preprocessing kernel (``preprocess_top`` in ``fpga/hls/preprocess.cpp``).

The host side of fpga/spec.md §9: per geometry (one ``adas.preprocess.Plan``) the driver
uploads the packed resize tables and the LUT once, then per frame copies the frame into a
device buffer, writes the kernel's AXI-Lite registers, starts it and reads the tensor back.

Register map
------------
Vitis HLS puts the block-level control (``ap_ctrl_hs``) and every argument bundled in
``control`` into one AXI-Lite slave. Its layout rule, which :func:`layout` implements:

* 0x00 CTRL: bit 0 ap_start, bit 1 ap_done (clear on read), bit 2 ap_idle, bit 3 ap_ready
  (clear on read), bit 7 auto_restart; 0x04 GIE; 0x08 IER; 0x0c ISR.
* From 0x10 the arguments in declaration order. An ``m_axi`` pointer with ``offset=slave``
  is a 64-bit address register and takes 12 bytes (low word, high word, one reserved word);
  a 32-bit scalar takes 8 bytes (data word, one reserved word).

This is the layout of Vitis HLS 2020.1 and later as far as we know (no Vivado here to
synthesise): :func:`check_register_map` compares it with the register list PYNQ parses from
the ``.hwh`` of a real bitstream before the first frame, so a different layout is an error,
never silently wrong addresses. The resulting table (``python -m fpga.driver`` prints it;
a test keeps this copy in sync)::

    0x00  CTRL        control     ap_start/ap_done/ap_idle/ap_ready/auto_restart
    0x04  GIE         control     global interrupt enable
    0x08  IER         control     interrupt enable
    0x0c  ISR         control     interrupt status
    0x10  src         64-bit ptr  frame bytes (row r at src + r * src_stride)
    0x1c  xtab        64-bit ptr  packed x table, cw words
    0x28  ytab        64-bit ptr  packed y table, ch words
    0x34  lut         64-bit ptr  n_planes x 256 LUT words
    0x40  dst32       64-bit ptr  float32 tensor (out_u8 = 0)
    0x4c  dst8        64-bit ptr  uint8 tensor (out_u8 = 1)
    0x58  src_stride  32-bit
    0x60  fmt         32-bit
    0x68  roi_x       32-bit
    0x70  roi_y       32-bit
    0x78  roi_w       32-bit
    0x80  roi_h       32-bit
    0x88  out_w       32-bit
    0x90  out_h       32-bit
    0x98  cw          32-bit
    0xa0  ch          32-bit
    0xa8  pad_x       32-bit
    0xb0  pad_y       32-bit
    0xb8  pad_value   32-bit
    0xc0  n_planes    32-bit
    0xc8  cmap0       32-bit
    0xd0  cmap1       32-bit
    0xd8  cmap2       32-bit
    0xe0  out_u8      32-bit

The HLS IP is packaged with the VLNV :data:`VLNV`; :func:`ip_class` returns the
``pynq.DefaultIP`` subclass bound to it. ``pynq`` is imported only inside functions: this
module imports (and its register map is checked) without it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import AdasError, ContractError
from adas.preprocess import KERNEL_FORMAT, Plan
from fpga import csim

VLNV = "adas.dev:hls:preprocess_top:1.0"
BITFILE_ENV = "ADAS_FPGA_BITFILE"

# Block-level control registers (ap_ctrl_hs) and their bits.
CTRL, GIE, IER, ISR = 0x00, 0x04, 0x08, 0x0C
AP_START, AP_DONE, AP_IDLE, AP_READY, AUTO_RESTART = 0x01, 0x02, 0x04, 0x08, 0x80
FIRST_ARGUMENT = 0x10
POINTER_BYTES = 12  # low word, high word, reserved word
SCALAR_BYTES = 8  # data word, reserved word

# The arguments of preprocess_top in declaration order: (name, bits, what it holds).
SCALAR_ARGUMENTS: tuple[str, ...] = (
    *("src_stride", "fmt", "roi_x", "roi_y", "roi_w", "roi_h", "out_w", "out_h", "cw", "ch"),
    *("pad_x", "pad_y", "pad_value", "n_planes", "cmap0", "cmap1", "cmap2", "out_u8"),
)
KERNEL_ARGUMENTS: tuple[tuple[str, int, str], ...] = (
    ("src", 64, "frame bytes (row r at src + r * src_stride)"),
    ("xtab", 64, "packed x table, cw words"),
    ("ytab", 64, "packed y table, ch words"),
    ("lut", 64, "n_planes x 256 LUT words"),
    ("dst32", 64, "float32 tensor (out_u8 = 0)"),
    ("dst8", 64, "uint8 tensor (out_u8 = 1)"),
    *((name, 32, "") for name in SCALAR_ARGUMENTS),
)
CONTROL_REGISTERS: tuple[tuple[str, int, str], ...] = (
    ("CTRL", CTRL, "ap_start/ap_done/ap_idle/ap_ready/auto_restart"),
    ("GIE", GIE, "global interrupt enable"),
    ("IER", IER, "interrupt enable"),
    ("ISR", ISR, "interrupt status"),
)
# Names PYNQ's .hwh parser gives the control registers (Vitis HLS) and the ones used above.
HWH_CONTROL_NAMES = frozenset({"CTRL", "GIER", "IP_IER", "IP_ISR", "GIE", "IER", "ISR"})

DEFAULT_TIMEOUT_S = 0.5
DEFAULT_POLL_S = 50e-6


# --- errors -------------------------------------------------------------------------------


class FpgaError(AdasError, RuntimeError):
    """The FPGA path failed: no board, a register map mismatch, or the kernel misbehaved."""


class FpgaUnavailableError(FpgaError):
    """No usable board: pynq missing, no bitfile, overlay load failed, or IP not in it."""


class RegisterMapError(FpgaError):
    """The bitstream's register map differs from the layout this driver writes."""


class KernelBusyError(FpgaError):
    """The kernel did not report ap_idle within the timeout, so it cannot be started."""


class KernelTimeoutError(FpgaError):
    """A started kernel did not report ap_done within the timeout."""


class KernelFaultError(FpgaError):
    """The device reported an error while the kernel was configured, started or polled."""


class FrameError(FpgaError, ContractError):
    """The frame does not match the plan's format and size."""


class PipelineFullError(ContractError):
    """``submit`` with every output buffer still holding an uncollected result."""


# --- register map -------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """One argument register: name, byte offset, width in bits (64: pointer) and its use."""

    name: str
    offset: int
    bits: int
    what: str = ""


def layout(arguments: tuple[tuple[str, int, str], ...] = KERNEL_ARGUMENTS) -> dict[str, Register]:
    """The argument registers by Vitis HLS's rule (module docstring), in declaration order."""
    out: dict[str, Register] = {}
    offset = FIRST_ARGUMENT
    for name, bits, what in arguments:
        if bits not in (32, 64):
            msg = f"argument {name!r}: only 32-bit scalars and 64-bit pointers, got {bits}"
            raise ValueError(msg)
        out[name] = Register(name, offset, bits, what)
        offset += POINTER_BYTES if bits == 64 else SCALAR_BYTES
    return out


REGISTERS = layout()
# Size of the AXI-Lite address range: the next power of two above the last register.
ADDR_RANGE = 1 << (max(r.offset + 8 for r in REGISTERS.values()) - 1).bit_length()


def register_table() -> str:
    """The register map as text, one ``offset name kind use`` line per register."""
    lines = [
        f"0x{off:02x}  {name:<10}  control     {what}" for name, off, what in CONTROL_REGISTERS
    ]
    for r in REGISTERS.values():
        kind = "64-bit ptr" if r.bits == 64 else "32-bit"
        lines.append(f"0x{r.offset:02x}  {r.name:<10}  {kind:<10}  {r.what}".rstrip())
    return "\n".join(lines)


def check_register_map(hwh_registers: Mapping[str, Mapping[str, Any]]) -> None:
    """Check the registers PYNQ parsed from a ``.hwh`` against :data:`REGISTERS`.

    ``hwh_registers`` is ``ip_dict[name]["registers"]``: name -> {"address_offset": int, ...}.
    A pointer appears as ``<name>_1`` (low word) and ``<name>_2`` (high word) or as one
    ``<name>`` register at the low word; a scalar as ``<name>``. Any argument missing or at
    another offset, a CTRL register not at 0, or an unknown register in the argument area
    (the kernel has an argument we do not write) raises :class:`RegisterMapError` listing
    every difference.
    """
    offsets = {name: int(reg["address_offset"]) for name, reg in hwh_registers.items()}
    problems: list[str] = []
    if "CTRL" in offsets and offsets["CTRL"] != CTRL:
        problems.append(f"CTRL at 0x{offsets['CTRL']:x}, expected 0x{CTRL:x}")
    known = set(HWH_CONTROL_NAMES)
    for r in REGISTERS.values():
        if r.bits == 64 and f"{r.name}_1" in offsets:
            want = {f"{r.name}_1": r.offset, f"{r.name}_2": r.offset + 4}
        else:
            want = {r.name: r.offset}
        for name, off in want.items():
            known.add(name)
            if name not in offsets:
                problems.append(f"{name} missing (expected at 0x{off:x})")
            elif offsets[name] != off:
                problems.append(f"{name} at 0x{offsets[name]:x}, expected 0x{off:x}")
    for name, off in sorted(offsets.items(), key=lambda kv: kv[1]):
        if name not in known and off >= FIRST_ARGUMENT:
            problems.append(f"unknown register {name} at 0x{off:x}")
    if problems:
        msg = (
            "the kernel's AXI-Lite register map differs from the driver's (fpga/driver.py, "
            "Vitis HLS layout rule); rebuild the bitstream from fpga/hls or fix the driver: "
            + "; ".join(problems)
        )
        raise RegisterMapError(msg)


def argument_values(plan: Plan) -> dict[str, int]:
    """The scalar registers of ``plan`` (frame rows at ``in_w * bytes per pixel``)."""
    (rx, ry, rw, rh), (ow, oh) = plan.roi, plan.out_size
    (cw, ch), (px, py) = plan.content, plan.pad
    cmap = (*plan.cmap, 0, 0)[:3]
    return {
        "src_stride": row_bytes(plan), "fmt": KERNEL_FORMAT[plan.fmt],
        "roi_x": rx, "roi_y": ry, "roi_w": rw, "roi_h": rh, "out_w": ow, "out_h": oh,
        "cw": cw, "ch": ch, "pad_x": px, "pad_y": py, "pad_value": plan.pad_value,
        "n_planes": len(plan.cmap), "cmap0": cmap[0], "cmap1": cmap[1], "cmap2": cmap[2],
        "out_u8": int(plan.lut.dtype == np.uint8),
    }  # fmt: skip


def row_bytes(plan: Plan) -> int:
    """Bytes of one frame row (the contiguous stride of the driver's input buffer)."""
    return plan.in_size[0] * csim._bytes_per_pixel(plan)


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
            check_register_map(hwh)
        if allocate is None:
            allocate = functools.partial(_import_pynq().allocate, target=ip.device)
        self._allocate = allocate
        self._args = argument_values(plan)
        self._row_bytes = row_bytes(plan)
        self._in_bytes = plan.in_size[1] * self._row_bytes
        # Tables and LUT: filled and flushed once for this geometry.
        self.xtab = self._upload(csim.pack_table(plan.x_table))
        self.ytab = self._upload(csim.pack_table(plan.y_table))
        self.lut = self._upload(csim.lut_words(plan))
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
        off = REGISTERS[name].offset
        self._write(off, address & 0xFFFFFFFF)
        self._write(off + 4, address >> 32)

    # -- waits -------------------------------------------------------------------------

    def _wait_done(self, ticket: Ticket) -> None:
        """Poll CTRL until ap_done (cleared by the read that sees it) or the timeout."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._read(CTRL) & AP_DONE:
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
        while not self._read(CTRL) & AP_IDLE:
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
            rows, _ = csim.frame_rows(self.plan, image)
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
            self._write(REGISTERS[name].offset, value)
        self._write(CTRL, AP_START)
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
        """One frame, synchronously (``adas.preprocess.Backend``): submit, then collect."""
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
    print(register_table())
