"""C simulation of the HLS preprocessing kernel (``fpga/hls``) with plain g++.

The kernel source is Vitis HLS C++ that also compiles with g++ (the HLS pragmas are ignored,
FIFOs come from ``fpga/hls/shim``). This module compiles it into a shared library per
``PIXELS_PER_CLOCK`` (cached under ``build/fpga/``, keyed by a hash of the sources, the flags
and the compiler, so an edited source is rebuilt), calls it through ctypes and returns the
tensor and the modelled cycle count. The host side is the project's own: the configuration
is validated and the resize tables and LUT are built by ``adas.preprocess.Preprocessor``
(its ``Plan``), exactly what the FPGA driver will send (fpga/spec.md §9). The standalone
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
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adas.errors import ContractError
from adas.preprocess import KERNEL_FORMAT, Normalize, Plan, Preprocessor, ReferenceBackend
from adas.preprocess_kernels import FMT_BGR3, FMT_YUYV

HLS_DIR = Path(__file__).resolve().parent / "hls"
# Kernel sources relative to the HLS folder (every file the build depends on).
KERNEL_SOURCES = ("preprocess.hpp", "preprocess.cpp", "shim/stream.hpp")
TESTBENCH_SOURCE = "tb/tb_main.cpp"
# -Wno-unknown-pragmas: g++ does not know the HLS pragmas; -Wno-unused-label: HLS loop names.
CXXFLAGS = (
    "-O2",
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Wno-unknown-pragmas",
    "-Wno-unused-label",
)
PPC_VALUES = (1, 2, 4)
N_STAGES = 5
STAGE_NAMES = ("read", "convert", "hpass", "vpass", "write")
# Packed table entry of preprocess.hpp: i0 bits 0..13, i1 bits 14..27, w1 bits 28..36.
TAB_INDEX_BITS = 14
CLOCKS_MHZ = (150.0, 300.0)


class CompilerMissingError(RuntimeError):
    """No C++ compiler: the C simulation needs g++ (or ``$CXX``) on the PATH."""


class KernelBuildError(RuntimeError):
    """The compiler rejected the kernel or testbench source."""


class KernelError(RuntimeError):
    """The kernel (or testbench) refused the configuration or failed."""


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


# --- building ----------------------------------------------------------------------------


def compiler() -> str:
    """Path of the C++ compiler (``$CXX`` or ``g++``); raises CompilerMissingError if absent."""
    name = os.environ.get("CXX", "g++")
    path = shutil.which(name)
    if path is None:
        msg = (
            f"C++ compiler {name!r} not found on PATH: the FPGA kernel C simulation compiles "
            "fpga/hls with it (install g++, e.g. apt-get install g++, or set CXX)"
        )
        raise CompilerMissingError(msg)
    return path


@functools.cache
def _compiler_id(path: str) -> str:
    """The compiler's version banner: part of the cache key (a new compiler rebuilds)."""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return done.stdout


def build_dir() -> Path:
    """Folder of the cached binaries: ``$ADAS_FPGA_BUILD_DIR`` or ``<repo>/build/fpga``."""
    env = os.environ.get("ADAS_FPGA_BUILD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "build" / "fpga"


def _build(
    kind: str,
    sources: tuple[Path, ...],
    compile_units: tuple[Path, ...],
    ppc: int,
    extra: tuple[str, ...],
    suffix: str,
) -> Path:
    """Compile ``compile_units`` (depending on ``sources``) once per content hash.

    The output name carries the hash of every source file, the flags and the compiler
    version, so a changed input builds a new file and an unchanged one is reused. The binary
    is written under a temporary name and renamed into place (atomic: a concurrent process
    never loads a half-written file).
    """
    if ppc not in PPC_VALUES:
        msg = f"pixels per clock must be one of {PPC_VALUES}, got {ppc!r}"
        raise ValueError(msg)
    cxx = compiler()
    flags = (*CXXFLAGS, f"-DPIXELS_PER_CLOCK={ppc}", *extra)
    digest = hashlib.sha256()
    for part in (kind, _compiler_id(cxx), " ".join(flags)):
        digest.update(part.encode() + b"\0")
    for src in sources:
        digest.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    folder = build_dir()
    target = folder / f"{kind}_ppc{ppc}_{digest.hexdigest()[:16]}{suffix}"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = [cxx, *flags, *(str(u) for u in compile_units), "-o", str(tmp)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"compiling the {kind} failed ({' '.join(cmd)}):\n{done.stderr}"
            raise KernelBuildError(msg)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def build_library(ppc: int, hls_dir: Path = HLS_DIR) -> Path:
    """The kernel as a shared library (``-shared -fPIC``) for ``ppc`` pixels per clock.

    ``hls_dir`` is the folder holding the kernel sources (``fpga/hls``; tests pass a copy).
    """
    return _build(
        "libpreprocess",
        tuple(hls_dir / s for s in KERNEL_SOURCES),
        (hls_dir / "preprocess.cpp",),
        ppc,
        ("-shared", "-fPIC"),
        ".so",
    )


def build_testbench(ppc: int, hls_dir: Path = HLS_DIR) -> Path:
    """The standalone testbench executable (tb_main.cpp + the kernel) for ``ppc``."""
    return _build(
        "tb_preprocess",
        tuple(hls_dir / s for s in (*KERNEL_SOURCES, TESTBENCH_SOURCE)),
        (hls_dir / TESTBENCH_SOURCE, hls_dir / "preprocess.cpp"),
        ppc,
        (),
        "",
    )


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


def _bytes_per_pixel(plan: Plan) -> int:
    fmt = KERNEL_FORMAT[plan.fmt]
    return 3 if fmt == FMT_BGR3 else 2 if fmt == FMT_YUYV else 1


def frame_rows(plan: Plan, image: np.ndarray) -> tuple[np.ndarray, int]:
    """The frame as the kernel reads it: (array starting at row 0, row stride in bytes).

    Accepts any uint8 array with ``in_h`` rows of ``in_w`` pixels (e.g. YUYV as H x W x 2 or
    H x 2W). Rows whose bytes are contiguous keep their own stride (a row-padded buffer is
    read in place, as the kernel's ``src_stride`` allows, spec §2); anything else is copied.
    """
    iw, ih = plan.in_size
    row_bytes = iw * _bytes_per_pixel(plan)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        msg = f"{plan.fmt.value} frame must be a uint8 numpy array"
        raise ContractError(msg)
    if image.ndim < 2 or image.shape[0] != ih or image.size != ih * row_bytes:
        msg = f"{plan.fmt.value} frame of in_size {iw}x{ih} has shape {image.shape}"
        raise ContractError(msg)
    if image[0].flags.c_contiguous and image.strides[0] >= row_bytes:
        return image, int(image.strides[0])
    return np.ascontiguousarray(image), row_bytes


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


def write_case(case_dir: Path, plan: Plan, image: np.ndarray) -> None:
    """Write one testbench case (config.txt, input.raw, xtab.bin, ytab.bin, lut.bin and the
    golden model's tensor, golden.bin, which the testbench checks every byte against).

    The formats are documented at the top of ``fpga/hls/tb/tb_main.cpp``; the frame is
    written as contiguous rows (``src_stride`` = row bytes).
    """
    rows, _ = frame_rows(plan, image)
    rows = np.ascontiguousarray(rows)
    (iw, ih), (rx, ry, rw, rh) = plan.in_size, plan.roi
    cmap = (*plan.cmap, 0, 0)[:3]
    config = {
        "in_w": iw, "in_h": ih, "src_stride": iw * _bytes_per_pixel(plan),
        "fmt": KERNEL_FORMAT[plan.fmt], "roi_x": rx, "roi_y": ry, "roi_w": rw, "roi_h": rh,
        "out_w": plan.out_size[0], "out_h": plan.out_size[1],
        "cw": plan.content[0], "ch": plan.content[1], "pad_x": plan.pad[0], "pad_y": plan.pad[1],
        "pad_value": plan.pad_value, "n_planes": len(plan.cmap),
        "cmap0": cmap[0], "cmap1": cmap[1], "cmap2": cmap[2],
        "out_u8": int(plan.lut.dtype == np.uint8),
    }  # fmt: skip
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "config.txt").write_text("".join(f"{k} {v}\n" for k, v in config.items()))
    (case_dir / "input.raw").write_bytes(rows.tobytes())
    (case_dir / "xtab.bin").write_bytes(pack_table(plan.x_table).tobytes())
    (case_dir / "ytab.bin").write_bytes(pack_table(plan.y_table).tobytes())
    (case_dir / "lut.bin").write_bytes(lut_words(plan).tobytes())
    golden = np.empty(plan.out_shape, plan.lut.dtype)
    ReferenceBackend(plan).run(np.ascontiguousarray(image), golden)
    (case_dir / "golden.bin").write_bytes(golden.tobytes())


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
