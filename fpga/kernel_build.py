"""Building the HLS preprocessing kernel (``fpga/hls``) with plain g++, for its C simulation.

The kernel source is Vitis HLS C++ that also compiles with g++ (the HLS pragmas are ignored,
FIFOs come from ``fpga/hls/shim``). This module compiles it into a shared library (for
``fpga.csim``, through ctypes) or, with the standalone testbench ``fpga/hls/tb/tb_main.cpp``,
into an executable, once per ``PIXELS_PER_CLOCK``. Binaries are cached under ``build/fpga/``,
keyed by a hash of the sources, the flags and the compiler, so an edited source is rebuilt.
Needs a C++17 compiler: ``g++``, or the one named by ``$CXX``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from fpga.errors import CompilerMissingError, KernelBuildError

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
PPC_VALUES = (1, 2, 4)  # PIXELS_PER_CLOCK values the kernel source supports


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
