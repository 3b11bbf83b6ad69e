"""The kernel's interface as the host sees it: AXI-Lite registers and device memory layout.

Both host sides of ``preprocess_top`` (``fpga/hls/preprocess.cpp``) use this module: the PYNQ
driver (``fpga.driver``) writes these registers and uploads these words to the board, the C
simulation (``fpga.csim``) passes the same words to the g++-compiled kernel. One definition
keeps them identical (fpga/spec.md §9).

Register map
------------
Vitis HLS puts the block-level control (``ap_ctrl_hs``) and every argument bundled in
``control`` into one AXI-Lite slave. Its layout rule, which :func:`register_layout` implements:

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

Memory layout
-------------
A resize table (spec §5.1) is one little-endian 64-bit word per content column / row:
``i0`` bits 0..13, ``i1`` bits 14..27, ``w1`` bits 28..36 (:func:`pack_table`). The LUT is
``n_planes x 256`` 32-bit words: the float32 bits of the normalisation table, or the byte value
for uint8 output (:func:`lut_words`). A frame is ``in_h`` rows of ``in_w * bytes_per_pixel``
bytes, row r at ``src + r * src_stride`` (:func:`frame_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from adas.errors import ContractError
from adas.preprocess_kernels import FMT_BGR3, FMT_YUYV
from adas.preprocess_plan import KERNEL_FORMAT, Plan
from fpga.errors import RegisterMapError

# --- register map -------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Register:
    """One argument register: name, byte offset, width in bits (64: pointer) and its use."""

    name: str
    offset: int
    bits: int
    what: str = ""


def register_layout(
    arguments: tuple[tuple[str, int, str], ...] = KERNEL_ARGUMENTS,
) -> dict[str, Register]:
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


REGISTERS = register_layout()
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
            "the kernel's AXI-Lite register map differs from the driver's (fpga/layout.py, "
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
    return plan.in_size[0] * bytes_per_pixel(plan)


# --- device memory: tables, LUT, frame ------------------------------------------------------

# Packed table entry of preprocess.hpp: i0 bits 0..13, i1 bits 14..27, w1 bits 28..36.
TAB_INDEX_BITS = 14


def pack_table(table: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """(i0, i1, w1) arrays of spec §5.1 -> one little-endian uint64 word per entry."""
    i0, i1, w1 = (np.asarray(t).astype(np.uint64) for t in table)
    packed = i0 | (i1 << TAB_INDEX_BITS) | (w1 << (2 * TAB_INDEX_BITS))
    return np.ascontiguousarray(packed, dtype="<u8")


def lut_words(plan: Plan) -> np.ndarray:
    """The C x 256 LUT as 32-bit words: float32 bits, or the byte value for uint8 output."""
    if plan.lut.dtype == np.float32:
        return np.ascontiguousarray(plan.lut).view("<u4")
    return np.ascontiguousarray(plan.lut, dtype="<u4")


def bytes_per_pixel(plan: Plan) -> int:
    """Bytes per pixel of the plan's frame format as the kernel reads it (spec §2)."""
    fmt = KERNEL_FORMAT[plan.fmt]
    return 3 if fmt == FMT_BGR3 else 2 if fmt == FMT_YUYV else 1


def frame_rows(plan: Plan, image: np.ndarray) -> tuple[np.ndarray, int]:
    """The frame as the kernel reads it: (array starting at row 0, row stride in bytes).

    Accepts any uint8 array with ``in_h`` rows of ``in_w`` pixels (e.g. YUYV as H x W x 2 or
    H x 2W). Rows whose bytes are contiguous keep their own stride (a row-padded buffer is
    read in place, as the kernel's ``src_stride`` allows, spec §2); anything else is copied.
    """
    iw, ih = plan.in_size
    stride = row_bytes(plan)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        msg = f"{plan.fmt.value} frame must be a uint8 numpy array"
        raise ContractError(msg)
    if image.ndim < 2 or image.shape[0] != ih or image.size != ih * stride:
        msg = f"{plan.fmt.value} frame of in_size {iw}x{ih} has shape {image.shape}"
        raise ContractError(msg)
    if image[0].flags.c_contiguous and image.strides[0] >= stride:
        return image, int(image.strides[0])
    return np.ascontiguousarray(image), stride
