"""An emulated PYNQ board running the C-simulated kernel, for testing the driver without one.

:class:`EmulatedBoard` is a ``pynq.Device`` with the ``REGISTER_RW`` capability, so PYNQ's
own ``MMIO`` (and therefore ``DefaultIP.read`` / ``write``) talks to its register file, and
``pynq.allocate(..., target=board)`` returns real ``PynqBuffer`` objects. It models what
makes a driver right or wrong on hardware:

* Device memory is separate from host memory: every buffer has a device-side mirror.
  ``flush`` copies host -> mirror, ``invalidate`` mirror -> host, and the kernel reads and
  writes only the mirrors. A driver that forgets either gets stale bytes.
* Each buffer gets its own 4 KiB-aligned fake device address; the kernel's pointer
  registers are resolved to (buffer, offset), and every access the kernel would make must
  lie inside that buffer.
* The register layout is derived independently of the driver: from the ``preprocess_top``
  signature in ``fpga/hls/preprocess.cpp`` with the Vitis HLS rule (:func:`hls_registers`).
* CTRL behaves like ``ap_ctrl_hs``: writing ap_start runs the kernel (synchronously, via
  ``fpga.csim``), then ap_done | ap_idle | ap_ready are set; ap_done and ap_ready clear when
  read. ``done_after_reads`` delays ap_done by that many CTRL reads.

Fault switches: ``hang`` (started, never done), ``error_code`` (the kernel reports this
adas_preprocess_run code: the ap_start write raises :class:`EmulatedKernelError`, standing in
for a device-level error) and ``stuck_busy`` (ap_idle never set, ap_start ignored).

The C simulation needs the frame size, which the hardware kernel does not have: it is
passed as ``in_w = roi_x + roi_w``, ``in_h = roi_y + roi_h``. That is exact, because the
kernel reads only ROI rows and columns (``read_row`` / ``read_rows`` in preprocess.cpp,
Bayer rows clamped into the ROI), so the check ``roi inside the frame`` is all it uses.

Needs pynq (import only in the FPGA venv).
"""

from __future__ import annotations

import ctypes
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from fpga import csim
from fpga.driver import VLNV
from fpga.kernel_build import HLS_DIR
from fpga.layout import AP_DONE, AP_IDLE, AP_READY, AP_START

IP_BASE_ADDRESS = 0xA000_0000
FIRST_BUFFER_ADDRESS = 0x1_0000_0000  # above 4 GiB: the high address word matters
PAGE = 4096
SIGNATURE_SOURCE = HLS_DIR / "preprocess.cpp"


class EmulatedKernelError(RuntimeError):
    """The emulated kernel failed (error code of adas_preprocess_run, or a bad pointer)."""


def kernel_signature(source: Path = SIGNATURE_SOURCE) -> list[tuple[str, int]]:
    """(name, bits) of ``preprocess_top``'s parameters from its definition in the C++ source.

    Pointers are 64-bit address registers, ``int`` scalars 32-bit; any other type is an
    error (the register rule would need extending).
    """
    text = source.read_text()
    match = re.search(r"^void\s+preprocess_top\s*\(([^)]*)\)\s*\{", text, re.MULTILINE)
    if match is None:
        msg = f"no definition of preprocess_top(...) in {source}"
        raise ValueError(msg)
    out = []
    for param in match.group(1).split(","):
        words = " ".join(param.split())
        m = re.fullmatch(r"(?:const\s+)?(\w+)\s*(\*?)\s*(\w+)", words)
        if m is None or (not m.group(2) and m.group(1) != "int"):
            msg = f"preprocess_top parameter {words!r}: expected a pointer or an int"
            raise ValueError(msg)
        out.append((m.group(3), 64 if m.group(2) else 32))
    return out


def hls_registers(signature: list[tuple[str, int]]) -> dict[str, dict[str, Any]]:
    """The ``.hwh``-style register dict (as PYNQ parses it) Vitis HLS gives ``signature``.

    Control registers CTRL, GIER, IP_IER, IP_ISR at 0x00..0x0c; arguments from 0x10, a
    pointer as ``<name>_1`` / ``<name>_2`` (low / high word, then a reserved word), a scalar
    as ``<name>`` (then a reserved word).
    """

    def reg(offset: int, access: str, description: str) -> dict[str, Any]:
        return {
            "address_offset": offset,
            "size": 32,
            "access": access,
            "description": description,
            "fields": {},
        }

    regs = {
        "CTRL": reg(0x00, "read-write", "Control signals"),
        "GIER": reg(0x04, "read-write", "Global Interrupt Enable Register"),
        "IP_IER": reg(0x08, "read-write", "IP Interrupt Enable Register"),
        "IP_ISR": reg(0x0C, "read-write", "IP Interrupt Status Register"),
    }
    offset = 0x10
    for name, bits in signature:
        if bits == 64:
            regs[f"{name}_1"] = reg(offset, "write-only", f"Data signal of {name}")
            regs[f"{name}_2"] = reg(offset + 4, "write-only", f"Data signal of {name}")
            offset += 12
        else:
            regs[name] = reg(offset, "write-only", f"Data signal of {name}")
            offset += 8
    return regs


@dataclass
class _Allocation:
    """One buffer: its host bytes, its device-side mirror and its fake device address."""

    address: int
    host: np.ndarray  # uint8, what the PynqBuffer views
    mirror: np.ndarray  # uint8, what the kernel sees


@dataclass
class KernelCall:
    """What one ap_start ran: the decoded registers and the modelled cycle count."""

    args: dict[str, int]
    cycles: int = 0


@dataclass
class _Faults:
    hang: bool = False
    error_code: int = 0
    stuck_busy: bool = False
    done_after_reads: int = 0


class EmulatedBoard(pynq.Device):
    """A PYNQ device whose one IP is the C-simulated preprocessing kernel (module docstring).

    Counters for tests: ``flushes`` / ``invalidates`` per buffer handle (``bo``),
    ``register_writes`` (offset, value) in order, ``calls`` (one :class:`KernelCall` per run).
    """

    def __init__(self, *, ppc: int = 1, tag: str = "emulated-preprocess") -> None:
        super().__init__(tag)
        self.capabilities = {"REGISTER_RW": True}
        self.name = tag
        self.ppc = ppc
        self.signature = kernel_signature()
        self.registers = hls_registers(self.signature)
        self._by_name = {n: r["address_offset"] for n, r in self.registers.items()}
        self.addr_range = 1 << (max(self._by_name.values()) + 4 - 1).bit_length()
        self._regs = bytearray(self.addr_range)
        self._ctrl = AP_IDLE
        self._reads_left = 0
        self._allocations: dict[int, _Allocation] = {}
        self._next_address = FIRST_BUFFER_ADDRESS
        self.faults = _Faults()
        self.flushes: Counter[int] = Counter()
        self.invalidates: Counter[int] = Counter()
        self.register_writes: list[tuple[int, int]] = []
        self.calls: list[KernelCall] = []

    # -- description for DefaultIP ------------------------------------------------------

    def ip_description(self, fullpath: str = "preprocess_top_0") -> dict[str, Any]:
        """The ``ip_dict`` entry of the kernel, as an Overlay would hand it to its driver."""
        return {
            "phys_addr": IP_BASE_ADDRESS,
            "addr_range": self.addr_range,
            "device": self,
            "fullpath": fullpath,
            "type": VLNV,
            "registers": self.registers,
            "interrupts": {},
            "gpio": {},
            "parameters": {},
            "state": None,
        }

    # -- memory ------------------------------------------------------------------------

    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> PynqBuffer:
        """A cacheable buffer with its own mirror and a distinct 4 KiB-aligned address."""
        del kwargs
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) * dt.itemsize
        host = np.zeros(max(n, 1), np.uint8)
        bo = len(self._allocations) + 1
        address = self._next_address
        self._next_address += (max(n, 1) + 2 * PAGE - 1) // PAGE * PAGE  # plus a guard page
        self._allocations[bo] = _Allocation(address, host, np.zeros_like(host))
        return PynqBuffer(
            shape, dt, buffer=host.data, device=self, device_address=address, bo=bo,
            coherent=False,
        )  # fmt: skip

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """Host -> device copy of ``size`` bytes at ``offset`` of buffer ``bo``."""
        del ptr
        a = self._allocations[bo]
        a.mirror[offset : offset + size] = a.host[offset : offset + size]
        self.flushes[bo] += 1

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """Device -> host copy of ``size`` bytes at ``offset`` of buffer ``bo``."""
        del ptr
        a = self._allocations[bo]
        a.host[offset : offset + size] = a.mirror[offset : offset + size]
        self.invalidates[bo] += 1

    def bo_at(self, address: int) -> int:
        """Handle of the buffer holding device ``address`` (KeyError if none)."""
        for bo, a in self._allocations.items():
            if a.address <= address < a.address + a.host.size:
                return bo
        raise KeyError(address)

    def _device_bytes(self, name: str, address: int, nbytes: int) -> np.ndarray:
        """The mirror bytes the kernel accesses through pointer ``name``, bounds-checked."""
        try:
            a = self._allocations[self.bo_at(address)]
        except KeyError:
            msg = f"pointer {name} = 0x{address:x} is not inside any allocated buffer"
            raise EmulatedKernelError(msg) from None
        start = address - a.address
        if nbytes < 0 or start + nbytes > a.host.size:
            msg = (
                f"pointer {name}: the kernel would access {nbytes} bytes at offset {start} of "
                f"a {a.host.size}-byte buffer"
            )
            raise EmulatedKernelError(msg)
        return a.mirror[start:]

    # -- registers -----------------------------------------------------------------------

    def read_registers(self, address: int, length: int) -> bytes:
        """Read register bytes; CTRL reads clear ap_done and ap_ready (ap_ctrl_hs)."""
        offset = address - IP_BASE_ADDRESS
        if offset != 0 or length != 4:
            return bytes(self._regs[offset : offset + length])
        value = self._ctrl
        if self.faults.stuck_busy:
            value &= ~AP_IDLE
        elif self._reads_left > 0:  # finished in the model, ap_done not shown yet
            self._reads_left -= 1
            return int(AP_START).to_bytes(4, "little")
        self._ctrl &= ~(AP_DONE | AP_READY)
        return int(value).to_bytes(4, "little")

    def write_registers(self, address: int, data: bytes) -> None:
        """Write register bytes; writing ap_start to CTRL of an idle kernel runs it."""
        offset = address - IP_BASE_ADDRESS
        if offset < 0 or offset + len(data) > self.addr_range:
            msg = f"register write at 0x{address:x} outside the IP"
            raise EmulatedKernelError(msg)
        for i in range(0, len(data), 4):
            self.register_writes.append((offset + i, int.from_bytes(data[i : i + 4], "little")))
        if offset != 0:
            self._regs[offset : offset + len(data)] = data
            return
        value = int.from_bytes(data[:4], "little")
        if value & AP_START and self._ctrl & AP_IDLE and not self.faults.stuck_busy:
            self._start()

    def _word(self, name: str) -> int:
        off = self._by_name[name]
        return int.from_bytes(self._regs[off : off + 4], "little")

    def _decode(self) -> dict[str, int]:
        """The argument values: pointers as 64-bit addresses, scalars as signed int32."""
        args: dict[str, int] = {}
        for name, bits in self.signature:
            if bits == 64:
                args[name] = self._word(f"{name}_1") | (self._word(f"{name}_2") << 32)
            else:
                args[name] = int(np.uint32(self._word(name)).view(np.int32))
        return args

    def _start(self) -> None:
        self._ctrl = AP_START  # running: not idle, not done
        call = KernelCall(self._decode())
        self.calls.append(call)
        if self.faults.hang:
            return
        try:
            call.cycles = self._run_kernel(call.args)
        except EmulatedKernelError:
            self._ctrl = AP_IDLE  # the failed run is over; the core can be started again
            raise
        self._ctrl = AP_DONE | AP_IDLE | AP_READY
        self._reads_left = self.faults.done_after_reads

    def _run_kernel(self, a: dict[str, int]) -> int:
        """C-simulate preprocess_top on the mirrors; returns the modelled cycle count."""
        lib = csim.load_kernel(self.ppc)
        if self.faults.error_code:
            code = self.faults.error_code
            why = lib.adas_preprocess_strerror(code).decode()
            msg = f"kernel error {code}: {why}"
            raise EmulatedKernelError(msg)
        bpp = 3 if a["fmt"] == 0 else 2 if a["fmt"] == 2 else 1
        in_w, in_h = a["roi_x"] + a["roi_w"], a["roi_y"] + a["roi_h"]
        n, u8 = a["n_planes"], a["out_u8"] != 0
        dst_name = "dst8" if u8 else "dst32"
        src = self._device_bytes("src", a["src"], (in_h - 1) * a["src_stride"] + in_w * bpp)
        xtab = self._device_bytes("xtab", a["xtab"], 8 * a["cw"])
        ytab = self._device_bytes("ytab", a["ytab"], 8 * a["ch"])
        lut = self._device_bytes("lut", a["lut"], 4 * 256 * n)
        dst = self._device_bytes(
            dst_name, a[dst_name], n * a["out_h"] * a["out_w"] * (1 if u8 else 4)
        )
        cmap = np.array([a["cmap0"], a["cmap1"], a["cmap2"]], np.intc)
        cycles = ctypes.c_uint64(0)

        def ptr(arr: np.ndarray, ctype: Any) -> Any:
            return arr.ctypes.data_as(ctypes.POINTER(ctype))

        rc = lib.adas_preprocess_run(
            ptr(src, ctypes.c_uint8), in_w, in_h, a["src_stride"], a["fmt"],
            a["roi_x"], a["roi_y"], a["roi_w"], a["roi_h"], a["out_w"], a["out_h"],
            a["cw"], a["ch"], a["pad_x"], a["pad_y"], a["pad_value"], n,
            ptr(cmap, ctypes.c_int), ptr(xtab, ctypes.c_uint64), ptr(ytab, ctypes.c_uint64),
            ptr(lut, ctypes.c_uint32), int(u8), dst.ctypes.data, ctypes.byref(cycles), None,
        )  # fmt: skip
        if rc != 0:
            msg = f"kernel error {rc}: {lib.adas_preprocess_strerror(rc).decode()}"
            raise EmulatedKernelError(msg)
        return int(cycles.value)


@dataclass
class EmulatedOverlay:
    """The parts of ``pynq.Overlay`` the driver's ``open_board`` uses, over a board."""

    board: EmulatedBoard
    name: str = "preprocess_top_0"
    ip_dict: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.ip_dict = {self.name: self.board.ip_description(self.name)}

    @property
    def device(self) -> EmulatedBoard:
        return self.board

    def __getattr__(self, key: str) -> Any:
        """The IP by name, driven by the class PYNQ's registry binds to its type."""
        if key == self.__dict__.get("name"):
            from fpga.driver import ip_class

            return ip_class()(self.ip_dict[key])
        raise AttributeError(key)
