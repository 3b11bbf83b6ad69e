"""C simulation of the HLS preprocessing kernel (``fpga/hls``) with plain g++.

The kernel, compiled into a shared library per ``PIXELS_PER_CLOCK`` by
:mod:`fpga.kernel_build`, is called through ctypes and returns the tensor and the modelled
cycle count. The host side is the project's own: the configuration is validated and the
resize tables and LUT are built by ``adas.preprocess.Preprocessor`` (its ``Plan``), and packed
by :mod:`fpga.layout`, exactly what the FPGA driver sends (fpga/spec.md §9). The standalone
testbench (``fpga/hls/tb/tb_main.cpp``, the Vitis C-simulation testbench) is driven through
files by :func:`run_testbench`.

``python -m fpga.csim`` prints cycles and frames/s of a 1280x720 BGR8 -> 416x416 letterbox
frame at 1, 2 and 4 pixels per clock. Needs only the standard library and numpy (and a C++17
compiler: ``g++``, or the one named by ``$CXX``).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adas.preprocess import Normalize, Preprocessor
from adas.preprocess_cpu import ReferenceBackend
from adas.preprocess_plan import KERNEL_FORMAT, Plan
from fpga.errors import CompilerMissingError, KernelBuildError, KernelError
from fpga.kernel_build import PPC_VALUES, build_library, build_testbench
from fpga.layout import argument_values, frame_rows, lut_words, pack_table

N_STAGES = 5
STAGE_NAMES = ("read", "convert", "hpass", "vpass", "write")
CLOCKS_MHZ = (150.0, 300.0)


@dataclass(frozen=True)
class KernelRun:
    """One C-simulated frame: the tensor, the frame cycle count and the per-stage counts."""

    tensor: np.ndarray
    cycles: int
    stage_cycles: tuple[int, ...]
    ppc: int

    def frames_per_second(self, clock_mhz: float) -> float:
        """Frames per second at ``clock_mhz`` if one frame takes ``cycles`` clocks."""
        return frames_per_second(self.cycles, clock_mhz)


def frames_per_second(cycles: int, clock_mhz: float) -> float:
    """Throughput of a kernel that needs ``cycles`` clocks per frame at ``clock_mhz``."""
    return clock_mhz * 1e6 / cycles


# --- the compiled kernel through ctypes ----------------------------------------------------

_u8p = ctypes.POINTER(ctypes.c_uint8)
_u32p = ctypes.POINTER(ctypes.c_uint32)
_u64p = ctypes.POINTER(ctypes.c_uint64)
_intp = ctypes.POINTER(ctypes.c_int)
_c_int = ctypes.c_int


@functools.cache
def load_kernel(ppc: int) -> ctypes.CDLL:
    """The compiled kernel library for ``ppc``, with the C signatures declared."""
    lib = ctypes.CDLL(str(build_library(ppc)))
    run = lib.adas_preprocess_run
    run.restype = _c_int
    run.argtypes = [
        _u8p,  # src
        *[_c_int] * 16,  # in_w in_h src_stride fmt roi_x roi_y roi_w roi_h out_w out_h
        #                  cw ch pad_x pad_y pad_value n_planes
        _intp,  # cmap
        _u64p,  # xtab
        _u64p,  # ytab
        _u32p,  # lut
        _c_int,  # out_u8
        ctypes.c_void_p,  # dst
        _u64p,  # cycles
        _u64p,  # stage_cycles
    ]
    lib.adas_preprocess_strerror.restype = ctypes.c_char_p
    lib.adas_preprocess_strerror.argtypes = [_c_int]
    lib.adas_preprocess_ppc.restype = _c_int
    lib.adas_preprocess_ppc.argtypes = []
    if lib.adas_preprocess_ppc() != ppc:
        msg = f"{lib._name} reports PIXELS_PER_CLOCK {lib.adas_preprocess_ppc()}, not {ppc}"
        raise KernelBuildError(msg)
    return lib


# --- host side: what the driver sends (spec §9) -----------------------------------------


def make_plan(
    *,
    input_format: str,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    roi: tuple[int, int, int, int] | None = None,
    pad_value: int = 114,
    normalize: Normalize | None = None,
    mode: str = "letterbox",
    align: str = "center",
    channel_order: str = "bgr",
    out_channels: int = 3,
) -> Plan:
    """The validated geometry, tables and LUT of a configuration, from the project's own code.

    Same parameters as ``adas.preprocess.Preprocessor`` (minus the backend); bad values raise
    its ``ConfigError``.
    """
    return Preprocessor(
        "reference",
        input_format=input_format,
        in_size=in_size,
        out_size=out_size,
        roi=roi,
        pad_value=pad_value,
        normalize=normalize,
        mode=mode,
        align=align,
        channel_order=channel_order,
        out_channels=out_channels,
    ).plan


def _ptr(a: np.ndarray, ctype: type[ctypes._SimpleCData]) -> ctypes._Pointer:
    """Pointer to the first element of ``a``, typed for a ctypes argument."""
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def run_plan(plan: Plan, image: np.ndarray, *, ppc: int = 1) -> KernelRun:
    """Run the C-simulated kernel on one frame for an already built ``plan``."""
    lib = load_kernel(ppc)
    rows, stride = frame_rows(plan, image)
    xtab, ytab, lut = pack_table(plan.x_table), pack_table(plan.y_table), lut_words(plan)
    cmap = np.zeros(3, np.intc)
    cmap[: len(plan.cmap)] = plan.cmap
    out = np.empty(plan.out_shape, plan.lut.dtype)
    cycles = ctypes.c_uint64(0)
    stages = (ctypes.c_uint64 * N_STAGES)()
    (iw, ih), (rx, ry, rw, rh) = plan.in_size, plan.roi
    (ow, oh), (cw, ch), (px, py) = plan.out_size, plan.content, plan.pad
    rc = lib.adas_preprocess_run(
        _ptr(rows, ctypes.c_uint8), iw, ih, stride, KERNEL_FORMAT[plan.fmt],
        rx, ry, rw, rh, ow, oh, cw, ch, px, py, plan.pad_value, len(plan.cmap),
        _ptr(cmap, ctypes.c_int), _ptr(xtab, ctypes.c_uint64), _ptr(ytab, ctypes.c_uint64),
        _ptr(lut, ctypes.c_uint32), int(out.dtype == np.uint8), out.ctypes.data,
        ctypes.byref(cycles), stages,
    )  # fmt: skip
    if rc != 0:
        why = lib.adas_preprocess_strerror(rc).decode()
        msg = f"kernel refused the configuration (error {rc}): {why}"
        raise KernelError(msg)
    return KernelRun(out, int(cycles.value), tuple(int(s) for s in stages), ppc)


def run_kernel(image: np.ndarray, *, ppc: int = 1, **config: Any) -> tuple[np.ndarray, int]:
    """The C-simulated kernel's (1, C, out_h, out_w) tensor and its modelled cycle count.

    ``config``: the keyword arguments of :func:`make_plan` (those of
    ``adas.preprocess.Preprocessor``, the golden model); ``ppc``: the kernel's compile-time
    PIXELS_PER_CLOCK (1, 2 or 4).
    """
    done = run_plan(make_plan(**config), image, ppc=ppc)
    return done.tensor, done.cycles


# --- standalone testbench through files -------------------------------------------------


def golden_tensor(plan: Plan, image: np.ndarray) -> np.ndarray:
    """The golden model's tensor of ``image`` for ``plan`` (what the kernel must equal)."""
    golden = np.empty(plan.out_shape, plan.lut.dtype)
    ReferenceBackend(plan).run(np.ascontiguousarray(image), golden)
    return golden


def write_case(case_dir: Path, plan: Plan, image: np.ndarray) -> None:
    """Write one testbench case (config.txt, input.raw, xtab.bin, ytab.bin, lut.bin and the
    golden model's tensor, golden.bin, which the testbench checks every byte against).

    The formats are documented at the top of ``fpga/hls/tb/tb_main.cpp``; the frame is
    written as contiguous rows (``src_stride`` = row bytes).
    """
    rows, _ = frame_rows(plan, image)
    rows = np.ascontiguousarray(rows)
    # The frame size, then the kernel's scalar registers (src_stride = row bytes).
    config = {"in_w": plan.in_size[0], "in_h": plan.in_size[1], **argument_values(plan)}
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "config.txt").write_text("".join(f"{k} {v}\n" for k, v in config.items()))
    (case_dir / "input.raw").write_bytes(rows.tobytes())
    (case_dir / "xtab.bin").write_bytes(pack_table(plan.x_table).tobytes())
    (case_dir / "ytab.bin").write_bytes(pack_table(plan.y_table).tobytes())
    (case_dir / "lut.bin").write_bytes(lut_words(plan).tobytes())
    (case_dir / "golden.bin").write_bytes(golden_tensor(plan, image).tobytes())


def run_testbench(plan: Plan, image: np.ndarray, case_dir: Path, *, ppc: int = 1) -> KernelRun:
    """Write the case to ``case_dir``, run the testbench binary on it, read the tensor back."""
    exe = build_testbench(ppc)
    write_case(case_dir, plan, image)
    done = subprocess.run([str(exe), str(case_dir)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"testbench failed ({done.returncode}): {done.stderr.strip()}"
        raise KernelError(msg)
    fields = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    stages = _stage_counts(done.stdout)
    raw = (case_dir / "output.bin").read_bytes()
    tensor = np.frombuffer(raw, plan.lut.dtype).reshape(plan.out_shape).copy()
    return KernelRun(tensor, int(fields["cycles"]), stages, int(fields["ppc"]))


def _stage_counts(stdout: str) -> tuple[int, ...]:
    """The "stage NAME N" lines of the testbench output, in stage order."""
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "stage":
            counts[parts[1]] = int(parts[2])
    return tuple(counts[name] for name in STAGE_NAMES)


# --- throughput report ------------------------------------------------------------------


def benchmark_case(seed: int = 0) -> tuple[Plan, np.ndarray]:
    """The benchmark frame: 1280x720 BGR8 -> 416x416 letterbox float32 (YOLOX LUT)."""
    plan = make_plan(
        input_format="bgr8", in_size=(1280, 720), out_size=(416, 416),
        normalize=Normalize(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    )  # fmt: skip
    image = np.random.default_rng(seed).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    return plan, image


def benchmark(ppc_values: tuple[int, ...] = PPC_VALUES, seed: int = 0) -> list[KernelRun]:
    """The benchmark frame (:func:`benchmark_case`) once per ``ppc`` value."""
    plan, image = benchmark_case(seed)
    return [run_plan(plan, image, ppc=p) for p in ppc_values]


def cycle_report(plan: Plan, image: np.ndarray) -> dict[str, Any]:
    """The kernel's C simulation of one frame at every ``ppc``: cycles, frames/s, same bytes.

    Per pixels-per-clock value: the modelled cycle count, the frames/s and ms per frame that
    gives at each of :data:`CLOCKS_MHZ`, and whether the tensor equals the golden model's
    (JSON-ready; ``adas bench preprocess`` shows it beside the CPU backends). No compiler, or
    a kernel that fails, gives ``{"error": reason}`` instead.
    """
    golden = golden_tensor(plan, image)
    runs = []
    for ppc in PPC_VALUES:
        try:
            run = run_plan(plan, image, ppc=ppc)
        except (CompilerMissingError, KernelBuildError, KernelError) as exc:
            return {"error": str(exc)}
        runs.append(
            {
                "pixels_per_clock": ppc,
                "cycles": run.cycles,
                **{
                    f"fps_at_{mhz:.0f}_mhz": round(run.frames_per_second(mhz), 1)
                    for mhz in CLOCKS_MHZ
                },
                **{
                    f"ms_at_{mhz:.0f}_mhz": round(1e3 / run.frames_per_second(mhz), 3)
                    for mhz in CLOCKS_MHZ
                },
                "equals_reference": bool(np.array_equal(run.tensor, golden)),
            }
        )
    return {"model": "C-simulation cycle model (fpga.csim), not a board measurement", "runs": runs}


def main(argv: list[str] | None = None) -> None:
    """Print cycles and frames/s of the benchmark frame at 150 and 300 MHz."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ppc", type=int, nargs="+", default=list(PPC_VALUES))
    parser.add_argument(
        "--write-case",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the benchmark frame as a testbench case folder (for Vitis csim/cosim)",
    )
    args = parser.parse_args(argv)
    if args.write_case is not None:
        plan, image = benchmark_case()
        write_case(args.write_case, plan, image)
        print(f"wrote testbench case {args.write_case} (1280x720 bgr8 -> 416x416 letterbox)")
        return
    print("1280x720 bgr8 -> 416x416 letterbox float32, C-simulation cycle model")
    for run in benchmark(tuple(args.ppc)):
        fps = ", ".join(
            f"{run.frames_per_second(mhz):.1f} fps @ {mhz:.0f} MHz" for mhz in CLOCKS_MHZ
        )
        stages = " ".join(f"{n}={c}" for n, c in zip(STAGE_NAMES, run.stage_cycles, strict=True))
        print(f"PPC {run.ppc}: {run.cycles} cycles ({fps}); stages {stages}")


if __name__ == "__main__":
    main()
