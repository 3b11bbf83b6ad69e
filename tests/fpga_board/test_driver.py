"""The PYNQ driver (``fpga.driver``) on an emulated board (``fpga.emulated``).

The board is a real ``pynq.Device`` subclass: the driver talks to it through PYNQ's own
``DefaultIP``/``MMIO`` register path and ``pynq.allocate`` buffers, and the kernel behind it
is the C-simulated HLS source. Device memory is a mirror per buffer, so only a driver that
flushes its inputs and invalidates its outputs gets the right bytes. Every tensor is
compared byte for byte (float32 bit for bit) with ``Preprocessor("reference", ...)``, the
golden model of fpga/spec.md.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pynq
import pytest

import fpga.driver as driver
from adas.errors import ContractError
from adas.preprocess import Normalize, Preprocessor
from adas.preprocess_plan import Plan
from adas.types import PixelFormat
from fpga import emulated, errors, layout
from fpga.emulated import EmulatedBoard, EmulatedOverlay

FORMATS = [f.value for f in PixelFormat]
NORM = Normalize(mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395))
REPO = Path(__file__).resolve().parents[2]
BUILT_HWH = (
    sorted((REPO / "fpga" / "build").rglob("*.hwh")) if (REPO / "fpga" / "build").is_dir() else []
)

# (in_size, roi, out_size, mode, align, channel_order); odd ROI x / w made even for YUYV.
GEOMETRIES = {
    "letterbox-down": ((64, 48), None, (32, 32), "letterbox", "center", "bgr"),
    "roi-stretch-up": ((40, 30), (4, 3, 18, 14), (48, 40), "stretch", "center", "rgb"),
    "roi-odd-top-left": ((64, 48), (6, 9, 40, 29), (36, 20), "letterbox", "top-left", "bgr"),
    "bayer-odd-origin": ((64, 48), (7, 9, 41, 29), (30, 30), "letterbox", "center", "rgb"),
}


def config(fmt: str, geometry: str, normalize: Normalize | None) -> dict[str, Any]:
    in_size, roi, out_size, mode, align, order = GEOMETRIES[geometry]
    if fmt == "yuyv" and roi is not None:  # pixel pairs: even x and w
        roi = (roi[0] - roi[0] % 2, roi[1], roi[2] - roi[2] % 2, roi[3])
    return {
        "input_format": fmt, "in_size": in_size, "roi": roi, "out_size": out_size,
        "mode": mode, "align": align, "channel_order": order, "normalize": normalize,
        "pad_value": 37,
    }  # fmt: skip


def frame(fmt: str, in_size: tuple[int, int], seed: int) -> np.ndarray:
    """A seeded random frame in the format's canonical layout."""
    w, h = in_size
    shape = {"bgr8": (h, w, 3), "rgb8": (h, w, 3), "yuyv": (h, w, 2)}.get(fmt, (h, w))
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def golden(cfg: dict[str, Any], image: np.ndarray) -> np.ndarray:
    return Preprocessor("reference", **cfg)(image)[0]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (float32 compared bit for bit)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def plan_of(cfg: dict[str, Any]) -> Plan:
    return Preprocessor("reference", **cfg).plan


def ip_on(board: EmulatedBoard) -> Any:
    """The kernel's PYNQ driver instance on ``board`` (what an Overlay would create)."""
    return driver.ip_class()(board.ip_description())


def open_on(board: EmulatedBoard, plan: Plan, **kw: Any) -> driver.FpgaPreprocessor:
    """The driver for ``plan`` on ``board``; buffers from ``pynq.allocate(target=board)``."""
    return driver.FpgaPreprocessor(plan, ip_on(board), **kw)


def empty(plan: Plan) -> np.ndarray:
    return np.empty(plan.out_shape, plan.lut.dtype)


@pytest.fixture
def board() -> EmulatedBoard:
    return EmulatedBoard()


BASIC = config("bgr8", "roi-odd-top-left", None)


# --- bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [None, NORM], ids=["uint8", "float32"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_bytes(
    board: EmulatedBoard, fmt: str, geometry: str, normalize: Normalize | None
) -> None:
    cfg = config(fmt, geometry, normalize)
    fp = open_on(board, plan_of(cfg))
    for seed in range(2):
        image = frame(fmt, cfg["in_size"], seed)
        out = empty(fp.plan)
        fp.run(image, out)
        assert same(out, golden(cfg, image)), (fmt, geometry, seed)
    assert len(board.calls) == 2 and all(c.cycles > 0 for c in board.calls)


def test_golden_bytes_one_plane_and_padded_rows(board: EmulatedBoard) -> None:
    """MONO8 into a 1-channel model; a BGR frame whose rows are padded (a strided view)."""
    cfg = {**config("mono8", "letterbox-down", NORM), "out_channels": 1}
    image = frame("mono8", cfg["in_size"], 3)
    out = empty(plan_of(cfg))
    open_on(board, plan_of(cfg)).run(image, out)
    assert out.shape == (1, 1, 32, 32) and same(out, golden(cfg, image))

    cfg = config("bgr8", "roi-odd-top-left", None)
    wide = frame("bgr8", (80, 48), 4)
    view = wide[:, :64]  # row stride 240 bytes, 192 used
    out = empty(plan_of(cfg))
    open_on(board, plan_of(cfg)).run(view, out)
    assert same(out, golden(cfg, np.ascontiguousarray(view)))
    assert board.calls[-1].args["src_stride"] == 64 * 3


# --- tables once, buffers in turn ---------------------------------------------------------


def test_tables_uploaded_once_per_geometry(board: EmulatedBoard) -> None:
    cfg = config("yuyv", "roi-stretch-up", NORM)
    fp = open_on(board, plan_of(cfg))
    tables = [board.bo_at(b.device_address) for b in (fp.xtab, fp.ytab, fp.lut)]
    images = [frame("yuyv", cfg["in_size"], s) for s in range(5)]
    for image in images:
        out = empty(fp.plan)
        fp.run(image, out)
        assert same(out, golden(cfg, image))
    assert [board.flushes[bo] for bo in tables] == [1, 1, 1]
    # Every frame flushed its input once and invalidated its output once, slots in turn.
    inputs = [board.bo_at(c.args["src"]) for c in board.calls]
    outputs = [board.bo_at(c.args["dst32"]) for c in board.calls]
    assert inputs[0] != inputs[1] and inputs == [inputs[0], inputs[1]] * 2 + [inputs[0]]
    assert sum(board.flushes[bo] for bo in set(inputs)) == 5
    assert sum(board.invalidates[bo] for bo in set(outputs)) == 5
    assert not set(board.invalidates) - set(outputs)  # nothing else read back
    assert {(c.args["xtab"], c.args["ytab"], c.args["lut"]) for c in board.calls} == {
        (fp.xtab.device_address, fp.ytab.device_address, fp.lut.device_address)
    }
    # A second geometry uploads its own tables, once; the first ones are not touched again.
    cfg2 = config("yuyv", "letterbox-down", NORM)
    fp2 = open_on(board, plan_of(cfg2))
    image = frame("yuyv", cfg2["in_size"], 9)
    out = empty(fp2.plan)
    fp2.run(image, out)
    fp2.run(image, out)
    assert same(out, golden(cfg2, image))
    tables2 = [board.bo_at(b.device_address) for b in (fp2.xtab, fp2.ytab, fp2.lut)]
    assert not set(tables2) & set(tables)
    assert [board.flushes[bo] for bo in tables + tables2] == [1] * 6


def test_double_buffering_keeps_results_until_collected(board: EmulatedBoard) -> None:
    cfg = config("bayer_rggb8", "bayer-odd-origin", None)
    board.faults.done_after_reads = 3  # ap_done only on the 4th CTRL read: the driver polls
    fp = open_on(board, plan_of(cfg), n_slots=2)
    a, b, c = (frame("bayer_rggb8", cfg["in_size"], s) for s in (10, 11, 12))
    ta, tb = fp.submit(a), fp.submit(b)  # b starts only after a is done, a is not collected
    with pytest.raises(errors.PipelineFullError, match="collect frame 0"):
        fp.submit(c)
    dsts = [call.args["dst8"] for call in board.calls]
    assert dsts == fp.output_addresses and dsts[0] != dsts[1]
    out_a, out_b = empty(fp.plan), empty(fp.plan)
    fp.collect(ta, out_a)  # frame b ran after a: a's result survived in its own buffer
    fp.collect(tb, out_b)
    assert same(out_a, golden(cfg, a)) and same(out_b, golden(cfg, b))
    tc = fp.submit(c)
    assert board.calls[-1].args["dst8"] == dsts[0] and tc.slot == 0
    out_c = empty(fp.plan)
    fp.collect(tc, out_c)
    assert same(out_c, golden(cfg, c))
    with pytest.raises(ContractError, match="not pending"):
        fp.collect(ta, out_a)


def test_three_slots_rotate(board: EmulatedBoard) -> None:
    fp = open_on(board, plan_of(BASIC), n_slots=3)
    images = [frame("bgr8", BASIC["in_size"], s) for s in range(4)]
    tickets = [fp.submit(im) for im in images[:3]]
    outs = [empty(fp.plan) for _ in images]
    for t, o in zip(tickets, outs[:3], strict=True):
        fp.collect(t, o)
    fp.collect(fp.submit(images[3]), outs[3])
    dsts = [call.args["dst8"] for call in board.calls]
    assert dsts == [*fp.output_addresses, fp.output_addresses[0]] and len(set(dsts)) == 3
    assert all(same(o, golden(BASIC, im)) for o, im in zip(outs, images, strict=True))


# --- cache maintenance ----------------------------------------------------------------------


def test_missing_flush_or_invalidate_gives_stale_bytes(
    board: EmulatedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The board's mirrors make the driver's flush / invalidate calls necessary.

    With one slot: without the input flush the kernel computes the previous frame again;
    without the output invalidate the host reads the previous result.
    """
    fp = open_on(board, plan_of(BASIC), n_slots=1)
    a, b = (frame("bgr8", BASIC["in_size"], s) for s in (20, 21))
    want_a, want_b = golden(BASIC, a), golden(BASIC, b)
    assert not same(want_a, want_b)
    out = empty(fp.plan)
    fp.run(a, out)
    assert same(out, want_a)
    src_bo = board.bo_at(board.calls[0].args["src"])
    flush, invalidate = board.flush, board.invalidate

    def no_input_flush(bo: int, *rest: Any) -> None:
        if bo != src_bo:
            flush(bo, *rest)

    monkeypatch.setattr(board, "flush", no_input_flush)
    fp.run(b, out)
    assert same(out, want_a)  # the device still held frame a
    monkeypatch.setattr(board, "flush", flush)
    monkeypatch.setattr(board, "invalidate", lambda *args: None)
    fp.run(b, out)
    assert same(out, want_a)  # the device computed b, the host kept its stale copy
    monkeypatch.setattr(board, "invalidate", invalidate)
    fp.run(b, out)
    assert same(out, want_b)


# --- faults -------------------------------------------------------------------------------


def test_hung_kernel_times_out_then_is_busy(board: EmulatedBoard) -> None:
    board.faults.hang = True
    timeout = 0.05
    fp = open_on(board, plan_of(BASIC), timeout_s=timeout)
    image = frame("bgr8", BASIC["in_size"], 0)
    t0 = time.monotonic()
    with pytest.raises(errors.KernelTimeoutError, match=r"did not finish frame 0 within 0\.05 s"):
        fp.run(image, empty(fp.plan))
    elapsed = time.monotonic() - t0
    assert timeout <= elapsed < timeout + 0.4
    t0 = time.monotonic()
    with pytest.raises(errors.KernelBusyError, match=r"not idle within 0\.05 s"):
        fp.submit(image)
    assert timeout <= time.monotonic() - t0 < timeout + 0.4
    assert len(board.calls) == 1  # never started again while busy


def test_stuck_busy_kernel_is_never_started(board: EmulatedBoard) -> None:
    board.faults.stuck_busy = True
    fp = open_on(board, plan_of(BASIC), timeout_s=0.02)
    with pytest.raises(errors.KernelBusyError, match="ap_idle never set"):
        fp.run(frame("bgr8", BASIC["in_size"], 0), empty(fp.plan))
    assert board.calls == []
    assert (layout.CTRL, layout.AP_START) not in board.register_writes


def test_kernel_error_is_reported_and_recoverable(board: EmulatedBoard) -> None:
    fp = open_on(board, plan_of(BASIC))
    image = frame("bgr8", BASIC["in_size"], 1)
    board.faults.error_code = -11
    with pytest.raises(errors.KernelFaultError, match=r"kernel error -11: internal kernel error"):
        fp.run(image, empty(fp.plan))
    board.faults.error_code = 0
    good = fp.xtab.device_address
    fp.xtab.device_address = 0xDEAD_0000  # a pointer outside every buffer
    with pytest.raises(errors.KernelFaultError, match="xtab = 0xdead0000 is not inside"):
        fp.run(image, empty(fp.plan))
    fp.xtab.device_address = good
    out = empty(fp.plan)
    fp.run(image, out)  # the core is idle again after a fault
    assert same(out, golden(BASIC, image))


def test_bad_frame_is_refused_before_the_kernel(board: EmulatedBoard) -> None:
    fp = open_on(board, plan_of(BASIC))
    with pytest.raises(errors.FrameError, match=r"has shape \(48, 63, 3\)") as err:
        fp.run(np.zeros((48, 63, 3), np.uint8), empty(fp.plan))
    assert isinstance(err.value, ContractError)
    with pytest.raises(errors.FrameError, match="uint8"):
        fp.run(np.zeros((48, 64, 3), np.float32), empty(fp.plan))
    assert board.calls == []


# --- register map -------------------------------------------------------------------------


def test_driver_arguments_match_the_cpp_signature_and_pragmas() -> None:
    """preprocess_top's parameters, parsed from preprocess.cpp, are the driver's, in order."""
    signature = emulated.kernel_signature()
    assert signature == [(name, bits) for name, bits, _ in layout.KERNEL_ARGUMENTS]
    assert len(signature) == 24 and signature[0] == ("src", 64) and signature[-1] == ("out_u8", 32)
    # The layout rule assumes: every pointer m_axi with offset=slave, every scalar and the
    # return in the one s_axilite bundle "control".
    text = emulated.SIGNATURE_SOURCE.read_text()
    for name, bits in signature:
        if bits == 64:
            pattern = rf"INTERFACE m_axi port = {name} offset = slave\b"
        else:
            pattern = rf"INTERFACE s_axilite port = {name} bundle = control\b"
        assert re.search(pattern, text), name
    assert re.search(r"INTERFACE s_axilite port = return bundle = control\b", text)


def test_register_map_matches_board_hwh(board: EmulatedBoard) -> None:
    layout.check_register_map(board.ip_description()["registers"])
    regs = board.registers
    # Hand-computed anchors of the Vitis rule: 6 pointers x 12 bytes, then 8 bytes each.
    assert regs["src_1"]["address_offset"] == 0x10 and regs["src_2"]["address_offset"] == 0x14
    assert regs["dst8_1"]["address_offset"] == 0x4C
    assert regs["src_stride"]["address_offset"] == 0x58
    assert regs["out_u8"]["address_offset"] == 0xE0
    assert layout.REGISTERS["out_u8"].offset == 0xE0 and layout.ADDR_RANGE == 0x100


def test_check_register_map_synthetic() -> None:
    """A PYNQ-style dict passes in both pointer spellings and fails on every difference."""
    good = emulated.hls_registers(emulated.kernel_signature())
    layout.check_register_map(good)
    single = {k: v for k, v in good.items() if not k.endswith("_2")}
    single = {re.sub(r"_1$", "", k): v for k, v in single.items()}  # "src" at the low word
    layout.check_register_map(single)

    def broken(**changes: int | None) -> dict[str, dict[str, Any]]:
        regs = {k: dict(v) for k, v in good.items()}
        for name, offset in changes.items():
            if offset is None:
                del regs[name]
            else:
                regs.setdefault(name, {})["address_offset"] = offset
        return regs

    cases = [
        (broken(roi_w=0x7C), "roi_w at 0x7c, expected 0x78"),
        (broken(ytab_2=0x30), "ytab_2 at 0x30, expected 0x2c"),
        (broken(cmap2=None), "cmap2 missing (expected at 0xd8)"),
        (broken(gain=0xE8), "unknown register gain at 0xe8"),
        (broken(CTRL=0x04), "CTRL at 0x4, expected 0x0"),
    ]
    for regs, needle in cases:
        with pytest.raises(errors.RegisterMapError, match=re.escape(needle)):
            layout.check_register_map(regs)


def test_mismatched_ip_is_refused_before_any_allocation(board: EmulatedBoard) -> None:
    description = board.ip_description()
    description["registers"] = {**board.registers, "gain": {"address_offset": 0xE8}}
    ip = driver.ip_class()(description)
    with pytest.raises(errors.RegisterMapError, match="unknown register gain"):
        driver.FpgaPreprocessor(plan_of(BASIC), ip)
    assert board.flushes == {} and board.register_writes == []


@pytest.mark.skipif(
    not BUILT_HWH,
    reason="no bitstream was built here (no Vivado): no .hwh under fpga/build to check",
)
def test_built_hwh_register_map() -> None:
    from pynq.pl_server.hwh_parser import HWH

    for path in BUILT_HWH:
        ips = [d for d in HWH(str(path)).ip_dict.values() if d.get("type") == driver.VLNV]
        assert ips, f"{path}: no IP of type {driver.VLNV}"
        for ip in ips:
            layout.check_register_map(ip["registers"])


def test_docstring_table_is_the_computed_one() -> None:
    table = "\n".join(f"    {line}" for line in layout.register_table().splitlines())
    assert table in (layout.__doc__ or "")


def test_ip_class_is_bound_to_the_vlnv(board: EmulatedBoard) -> None:
    """PYNQ's driver assignment (what Overlay does per IP) picks our class by VLNV."""
    from pynq.overlay import _assign_drivers

    cls = driver.ip_class()
    assert issubclass(cls, pynq.DefaultIP) and driver.ip_class() is cls
    description = {"ip": {"pp": board.ip_description()}, "hierarchies": {}}
    _assign_drivers(description, False, board)
    assert description["ip"]["pp"]["driver"] is cls
    ip = cls(board.ip_description())
    assert ip.read(layout.CTRL) == layout.AP_IDLE  # through PYNQ's MMIO register path


# --- open_board ---------------------------------------------------------------------------


def test_open_board_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plan = plan_of(BASIC)
    monkeypatch.delenv(driver.BITFILE_ENV, raising=False)
    with pytest.raises(errors.FpgaUnavailableError, match="set ADAS_FPGA_BITFILE"):
        driver.open_board(plan)
    monkeypatch.setenv(driver.BITFILE_ENV, str(tmp_path / "none.bit"))
    with pytest.raises(errors.FpgaUnavailableError, match=r"none\.bit' not found"):
        driver.open_board(plan)
    bit = tmp_path / "other.bit"
    bit.write_bytes(b"\0")
    other = EmulatedOverlay(EmulatedBoard())
    other.ip_dict = {"dma": {"type": "xilinx.com:ip:axi_dma:7.1"}}
    monkeypatch.setattr(pynq, "Overlay", lambda path: other)
    with pytest.raises(
        errors.FpgaUnavailableError,
        match=r"no IP of type .* \(it has: xilinx.com:ip:axi_dma:7\.1\)",
    ):
        driver.open_board(plan, bit)

    def no_device(path: str) -> Any:
        raise RuntimeError("No Devices Found")

    monkeypatch.setattr(pynq, "Overlay", no_device)
    with pytest.raises(errors.FpgaUnavailableError, match=r"loading overlay .* No Devices Found"):
        driver.open_board(plan, bit)
    full = EmulatedBoard()

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of contiguous memory")

    monkeypatch.setattr(full, "allocate", no_memory)
    monkeypatch.setattr(pynq, "Overlay", lambda path: EmulatedOverlay(full))
    with pytest.raises(errors.FpgaUnavailableError, match="failed: out of contiguous memory"):
        driver.open_board(plan, bit)
    monkeypatch.setitem(sys.modules, "pynq", None)  # as if not installed
    with pytest.raises(errors.FpgaUnavailableError, match="pynq is not installed"):
        driver.open_board(plan, bit)


def test_open_board_finds_the_ip(
    board: EmulatedBoard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bit = tmp_path / "preprocess.bit"
    bit.write_bytes(b"\0")
    monkeypatch.setenv(driver.BITFILE_ENV, str(bit))
    loaded: list[str] = []

    def overlay(path: str) -> EmulatedOverlay:
        loaded.append(path)
        return EmulatedOverlay(board)

    monkeypatch.setattr(pynq, "Overlay", overlay)
    cfg = config("rgb8", "roi-stretch-up", NORM)
    fp = driver.open_board(plan_of(cfg))
    image = frame("rgb8", cfg["in_size"], 5)
    out = empty(fp.plan)
    fp.run(image, out)
    assert loaded == [str(bit)] and isinstance(fp.ip, driver.ip_class())
    assert same(out, golden(cfg, image))
    assert len(board.flushes) == 4  # its buffers came from pynq.allocate on the overlay device


# --- the Preprocessor backend -------------------------------------------------------------


def test_fpga_backend_runs_on_the_board_then_falls_back(
    board: EmulatedBoard, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(driver, "open_board", lambda plan: open_on(board, plan, timeout_s=0.05))
    cfg = config("yuyv", "roi-odd-top-left", NORM)
    images = [frame("yuyv", cfg["in_size"], s) for s in range(4)]
    with caplog.at_level(logging.WARNING, logger="adas.preprocess"):
        pre = Preprocessor("fpga", **cfg)
        backend: Any = pre.backend
        assert backend.active == "fpga" and backend.reason is None
        assert same(pre(images[0])[0], golden(cfg, images[0]))
        assert len(board.calls) == 1 and caplog.records == []
        board.faults.hang = True
        assert same(pre(images[1])[0], golden(cfg, images[1]))  # the hung frame, on the CPU
        assert same(pre(images[2])[0], golden(cfg, images[2]))
    assert backend.active.startswith("reference (fallback: FPGA fault: kernel did not finish")
    assert len(board.calls) == 2  # the board is not used after the fault
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and backend.reason in warnings[0]


def test_fpga_backend_falls_back_when_open_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(driver.BITFILE_ENV, str(tmp_path / "missing.bit"))
    cfg = config("bayer_rggb8", "bayer-odd-origin", None)
    pre = Preprocessor("fpga", **cfg)
    image = frame("bayer_rggb8", cfg["in_size"], 7)
    backend: Any = pre.backend
    assert backend.active == f"reference (fallback: {backend.reason})"
    assert "missing.bit' not found" in backend.reason
    assert same(pre(image)[0], golden(cfg, image))


def test_csim_helpers_are_what_the_board_received(board: EmulatedBoard) -> None:
    """The uploaded device bytes are exactly csim's packed tables and LUT words."""
    cfg = config("mono8", "roi-stretch-up", NORM)
    fp = open_on(board, plan_of(cfg))
    fp.run(frame("mono8", cfg["in_size"], 0), empty(fp.plan))
    args = board.calls[0].args
    for name, words in (
        ("xtab", layout.pack_table(fp.plan.x_table)),
        ("ytab", layout.pack_table(fp.plan.y_table)),
        ("lut", layout.lut_words(fp.plan)),
    ):
        device = board._device_bytes(name, args[name], words.nbytes)[: words.nbytes]
        assert device.tobytes() == words.tobytes(), name
