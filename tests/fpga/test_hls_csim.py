"""The HLS preprocessing kernel, C-simulated with g++, is byte-identical to the golden model.

Every comparison is ``np.array_equal`` on the raw bytes of the tensor (float32 bit for bit)
against ``Preprocessor("reference", ...)``, the golden integer model of fpga/spec.md. The
kernel is compiled once per PIXELS_PER_CLOCK value for the module (``kernels`` fixture;
binaries are cached in build/fpga across runs). Images are seeded random frames.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adas.preprocess import Normalize, Preprocessor
from adas.types import PixelFormat
from fpga import csim, errors, kernel_build, layout
from tests.preprocess_frames import NORM, VARIANTS, frame, legal_in, sweep_config

FORMATS = [f.value for f in PixelFormat]  # bgr8, rgb8, mono8, yuyv, bayer_rggb8
HAVE_CXX = shutil.which(os.environ.get("CXX", "g++")) is not None
needs_cxx = pytest.mark.skipif(
    not HAVE_CXX,
    reason="no C++ compiler (g++ or $CXX) on PATH: the kernel C simulation compiles fpga/hls",
)


@pytest.fixture(scope="module")
def kernels() -> dict[int, Any]:
    """The kernel library for PPC 1, 2 and 4, compiled (or loaded from the cache) once."""
    return {ppc: csim.load_kernel(ppc) for ppc in kernel_build.PPC_VALUES}


# --- frames and configurations ----------------------------------------------------------


SPECIAL = [
    ((1, 1), (1, 1)),  # tiny (Bayer / YUYV grow it to their minimum legal frame)
    ((1, 1), (5, 3)),
    ((7, 5), (1, 1)),
    ((1, 9), (4, 4)),
    ((2, 2), (5, 5)),  # upscale, both borders replicated
    ((8, 6), (4, 3)),  # exact 2x downscale
    ((6, 5), (512, 256)),  # Q0.8 weight ties: round half to even
    ((3, 4), (256, 4)),
    ((33, 17), (101, 67)),  # odd upscale
    ((101, 67), (33, 17)),  # odd downscale
    ((64, 48), (64, 48)),  # same size: copy
    ((97, 3), (5, 61)),  # extreme aspect ratios
]


def sweep_cases() -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """(in size, out size, variant index): the special pairs in 4 variants, then random pairs."""
    rng = np.random.default_rng(6)
    cases = [
        (i, o, (3 * k + v) % len(VARIANTS)) for k, (i, o) in enumerate(SPECIAL) for v in range(4)
    ]
    for n in range(30):
        iw, ih, ow, oh = (int(v) for v in rng.integers(1, 80, 4))
        cases.append(((iw, ih), (ow, oh), n % len(VARIANTS)))
    return cases


CASES = sweep_cases()


def assert_same_bytes(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same dtype, shape and bytes; on failure, where the first differences are."""
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.shape, want.shape)
    if not np.array_equal(got.view(np.uint8), want.view(np.uint8)):
        bad = np.argwhere(got.view(np.uint8) != want.view(np.uint8))
        pytest.fail(f"{what}: {len(bad)} bytes differ, first at {bad[:3].tolist()}")


def check(image: np.ndarray, cfg: dict[str, Any], ppcs: tuple[int, ...]) -> list[csim.KernelRun]:
    """Kernel at every ``ppc`` == golden model, byte for byte; returns the kernel runs."""
    pre = Preprocessor("reference", **cfg)
    want, _ = pre(image)
    runs = []
    for ppc in ppcs:
        run = csim.run_plan(pre.plan, image, ppc=ppc)
        assert_same_bytes(run.tensor, want, f"PPC {ppc} {cfg}")
        runs.append(run)
    return runs


# --- bit exactness ----------------------------------------------------------------------


@needs_cxx
@pytest.mark.parametrize("fmt", FORMATS)
def test_sweep_matches_golden_model(kernels: dict[int, Any], fmt: str) -> None:
    """Every format over odd / tiny / up / down sizes, ROI or not, letterbox (both alignments)
    and stretch, uint8 and float32, both channel orders, at 1, 2 and 4 pixels per clock."""
    del kernels
    rng = np.random.default_rng(100 + FORMATS.index(fmt))
    for i, (size, out_size, variant) in enumerate(CASES):
        in_size = legal_in(fmt, *size)
        cfg = sweep_config(rng, fmt, i, in_size, out_size, variant)
        check(frame(rng, fmt, *in_size), cfg, kernel_build.PPC_VALUES)


BIG = [
    ("bgr8", (1280, 720), (416, 416), None, "letterbox", "center"),
    ("rgb8", (1242, 375), (352, 352), (1, 0, 1240, 375), "letterbox", "top-left"),
    ("mono8", (640, 480), (320, 320), None, "stretch", "center"),
    ("yuyv", (1920, 1080), (416, 416), (300, 101, 1280, 719), "letterbox", "center"),
    ("bayer_rggb8", (1280, 720), (416, 416), (3, 5, 1001, 601), "letterbox", "center"),
    ("bayer_rggb8", (320, 240), (640, 480), None, "stretch", "center"),  # 2x upscale
]


@needs_cxx
@pytest.mark.parametrize(("fmt", "in_size", "out_size", "roi", "mode", "align"), BIG)
def test_camera_sizes_match_golden_model(
    kernels: dict[int, Any],
    fmt: str,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    roi: tuple[int, int, int, int] | None,
    mode: str,
    align: str,
) -> None:
    """Camera-sized frames (float32 ImageNet LUT) at 1, 2 and 4 pixels per clock."""
    del kernels
    rng = np.random.default_rng(7)
    cfg = {
        "input_format": fmt, "in_size": in_size, "out_size": out_size, "roi": roi,
        "mode": mode, "align": align, "normalize": NORM, "channel_order": "rgb",
    }  # fmt: skip
    check(frame(rng, fmt, *in_size), cfg, kernel_build.PPC_VALUES)


@needs_cxx
def test_spec_worked_examples(kernels: dict[int, Any]) -> None:
    """The numbers of fpga/spec.md §4.2-4.4 and §5.3, straight from the kernel."""
    del kernels
    yuyv = np.array([[120, 100, 120, 150], [10, 255, 10, 0]], np.uint8)
    out, _ = csim.run_kernel(yuyv, input_format="yuyv", in_size=(2, 2), out_size=(2, 2))
    assert out[0, :, 0, 0].tolist() == [65, 114, 156]
    assert out[0, :, 1, 0].tolist() == [255, 54, 0]
    raw = np.array(
        [
            [200, 90, 180, 60, 210],
            [40, 12, 52, 8, 30],
            [190, 100, 170, 70, 220],
            [44, 20, 36, 16, 48],
            [205, 80, 175, 64, 215],
        ],
        np.uint8,
    )
    bgr, _ = csim.run_kernel(
        raw, input_format="bayer_rggb8", in_size=(5, 5), out_size=(5, 5), mode="stretch", ppc=2
    )
    want = {(1, 1): [12, 71, 185], (2, 1): [10, 52, 175], (1, 2): [16, 100, 180]}
    want |= {(2, 2): [14, 65, 170], (0, 0): [12, 71, 185], (4, 0): [8, 53, 195]}
    for (x, y), b_g_r in want.items():
        assert bgr[0, :, y, x].tolist() == b_g_r, (x, y)
    img = np.zeros((1080, 1920), np.uint8)
    img[1:3, 1:3] = [[114, 58], [213, 125]]
    mono, _ = csim.run_kernel(
        img, input_format="mono8", in_size=(1920, 1080), out_size=(416, 234), mode="stretch",
        out_channels=1, ppc=4,
    )  # fmt: skip
    assert mono[0, 0, 0, 0] == 128


@needs_cxx
def test_row_padded_frame_read_in_place(kernels: dict[int, Any]) -> None:
    """A frame inside a wider buffer is read through src_stride (no copy) with the same bytes."""
    del kernels
    rng = np.random.default_rng(8)
    buf = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    view = buf[5:77, 7:131]  # 124 x 72 pixels, rows 480 bytes apart
    cfg: dict[str, Any] = {
        "input_format": "bgr8", "in_size": (124, 72), "out_size": (64, 64), "roi": (3, 1, 101, 70)
    }  # fmt: skip
    plan = csim.make_plan(**cfg)
    rows, stride = layout.frame_rows(plan, view)
    assert stride == 160 * 3 and np.shares_memory(rows, buf)
    got = csim.run_plan(plan, view, ppc=2).tensor
    want, _ = Preprocessor("reference", **cfg)(np.ascontiguousarray(view))
    assert_same_bytes(got, want, "row-padded frame")


# --- the testbench binary ---------------------------------------------------------------


@needs_cxx
@pytest.mark.parametrize(
    ("fmt", "in_size", "out_size", "normalize", "ppc"),
    [
        ("bgr8", (1280, 720), (416, 416), NORM, 1),
        ("yuyv", (98, 51), (40, 33), None, 2),
        ("bayer_rggb8", (77, 45), (64, 64), NORM, 4),
        ("mono8", (33, 65), (17, 29), None, 1),
    ],
)
def test_testbench_round_trip(
    kernels: dict[int, Any],
    tmp_path: Path,
    fmt: str,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    normalize: Normalize | None,
    ppc: int,
) -> None:
    """tb_main through files gives the library's bytes and cycles, and the golden model's bytes."""
    del kernels
    rng = np.random.default_rng(9)
    cfg = {"input_format": fmt, "in_size": in_size, "out_size": out_size, "normalize": normalize}
    image = frame(rng, fmt, *in_size)
    pre = Preprocessor("reference", **cfg)
    tb = csim.run_testbench(pre.plan, image, tmp_path / "case", ppc=ppc)
    lib = csim.run_plan(pre.plan, image, ppc=ppc)
    assert_same_bytes(tb.tensor, pre(image)[0], "testbench vs golden model")
    assert_same_bytes(tb.tensor, lib.tensor, "testbench vs library")
    assert (tb.cycles, tb.stage_cycles, tb.ppc) == (lib.cycles, lib.stage_cycles, ppc)
    names = sorted(p.name for p in (tmp_path / "case").iterdir())
    assert names == [
        "config.txt", "golden.bin", "input.raw", "lut.bin", "output.bin", "xtab.bin", "ytab.bin",
    ]  # fmt: skip


@needs_cxx
def test_testbench_fails_on_a_golden_mismatch(tmp_path: Path) -> None:
    """The testbench's self-check (what Vitis csim/cosim pass on): one flipped byte of
    golden.bin is exit status 2 naming the byte; the untouched case passes."""
    import subprocess

    pre = Preprocessor("reference", input_format="bgr8", in_size=(64, 48), out_size=(32, 32))
    image = frame(np.random.default_rng(4), "bgr8", 64, 48)
    case = tmp_path / "case"
    csim.write_case(case, pre.plan, image)
    exe = str(kernel_build.build_testbench(1))
    ok = subprocess.run([exe, str(case)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and f"golden match {3 * 32 * 32} bytes" in ok.stdout
    golden = bytearray((case / "golden.bin").read_bytes())
    golden[777] ^= 0x40
    (case / "golden.bin").write_bytes(bytes(golden))
    bad = subprocess.run([exe, str(case)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "MISMATCH with golden.bin at byte 777" in bad.stderr


# --- cycle model ------------------------------------------------------------------------


def cycle_bound(plan: Any, ppc: int) -> int:
    """Upper bound of the modelled frame cycles (see the model in fpga/hls/preprocess.cpp).

    Each stage does at most: read every ROI row of every content row twice (3x for Bayer's
    3x3 neighbourhood) at ceil(roi_w / ppc) beats, while the horizontal pass also emits its
    ceil(cw / ppc) beats per row; or write the C x out_h x out_w tensor at ppc values per
    clock and receive the content rows. Every loop adds at most 8 cycles of pipeline depth,
    and the tables (cw + ch + C x 256 words) load once. The slowest stage is below the sum.
    """
    (ow, oh), (cw, ch), roi_w, c = plan.out_size, plan.content, plan.roi[2], len(plan.cmap)
    taps = 3 if plan.fmt is PixelFormat.BAYER_RGGB8 else 1
    beats = -(-roi_w // ppc) + -(-cw // ppc)
    per_loop = 8
    source = 2 * ch * (taps + 1) * (beats + per_loop)
    tensor = oh * (c + 1) * (-(-ow // ppc) + per_loop)
    return source + tensor + cw + ch + c * 256 + 5 * per_loop


@needs_cxx
@pytest.mark.parametrize("fmt", ["bgr8", "yuyv", "bayer_rggb8", "mono8"])
def test_cycle_count_plausible(kernels: dict[int, Any], fmt: str) -> None:
    """out_pixels / PPC <= cycles <= cycle_bound, and doubling PPC about halves the cycles."""
    del kernels
    cfg = {"input_format": fmt, "in_size": (1280, 720), "out_size": (416, 416)}
    image = frame(np.random.default_rng(10), fmt, 1280, 720)
    runs = check(image, cfg, kernel_build.PPC_VALUES)
    plan = Preprocessor("reference", **cfg).plan
    out_pixels = 416 * 416
    for run in runs:
        assert out_pixels // run.ppc <= run.cycles <= cycle_bound(plan, run.ppc), run
        # Dataflow: the slowest stage plus a fill of a few pipeline depths, not the sum.
        assert max(run.stage_cycles) < run.cycles <= max(run.stage_cycles) + 5 * 8, run
    c1, c2, c4 = (run.cycles for run in runs)
    assert 1.8 <= c1 / c2 <= 2.0 and 3.5 <= c1 / c4 <= 4.0, (c1, c2, c4)


@needs_cxx
def test_upscale_reuses_source_rows(kernels: dict[int, Any]) -> None:
    """A 4x vertical upscale fetches each source row once (two line-buffer slots, spec §9):
    the read stage costs about roi_h rows, not 2 x content rows."""
    del kernels
    cfg = {"input_format": "mono8", "in_size": (64, 50), "out_size": (64, 200), "mode": "stretch"}
    runs = check(frame(np.random.default_rng(11), "mono8", 64, 50), cfg, (1,))
    read = runs[0].stage_cycles[0]
    per_row = 64 + 8  # one 64-pixel row at PPC 1 plus the read pipeline depth
    assert 50 * per_row <= read <= 50 * per_row + 200, read  # + one table word per content row


# --- host side, cache and errors --------------------------------------------------------


@needs_cxx
def test_kernel_rejects_out_of_range_table(kernels: dict[int, Any]) -> None:
    """A table index outside the ROI is refused before the kernel reads out of bounds."""
    del kernels
    plan = csim.make_plan(input_format="bgr8", in_size=(20, 10), out_size=(8, 8))
    i0, i1, w1 = (np.array(t) for t in plan.x_table)
    i1[-1] = 20  # ROI is 20 wide: valid indices 0 .. 19
    bad = dataclasses.replace(plan, x_table=(i0, i1, w1))
    with pytest.raises(errors.KernelError, match="table"):
        csim.run_plan(bad, np.zeros((10, 20, 3), np.uint8))


@needs_cxx
def test_build_cache_keyed_by_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchanged sources reuse the binary; an edited source builds a new one."""
    monkeypatch.setenv("ADAS_FPGA_BUILD_DIR", str(tmp_path / "build"))
    hls = tmp_path / "hls"
    shutil.copytree(kernel_build.HLS_DIR, hls)
    first = kernel_build.build_library(1, hls)
    mtime = first.stat().st_mtime_ns
    assert kernel_build.build_library(1, hls) == first and first.stat().st_mtime_ns == mtime
    with (hls / "preprocess.hpp").open("a") as f:
        f.write("// edited\n")
    second = kernel_build.build_library(1, hls)
    assert second != first and second.exists()
    assert first.parent == tmp_path / "build"


def test_missing_compiler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a compiler the build says what is missing and how to get it."""
    monkeypatch.setenv("CXX", "no-such-compiler-for-adas-tests")
    with pytest.raises(errors.CompilerMissingError, match="not found on PATH"):
        kernel_build.build_library(1)
