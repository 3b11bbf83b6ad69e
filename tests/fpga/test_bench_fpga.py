"""``adas bench preprocess`` reports the C-simulated kernel beside the CPU backends."""

from __future__ import annotations

import numpy as np
import pytest

from adas.evaluate.bench_preprocess import _fpga_csim
from adas.preprocess import Normalize, Preprocessor
from tests.fpga.test_hls_csim import needs_cxx


@needs_cxx
def test_fpga_csim_section_has_cycles_rates_and_golden_bytes() -> None:
    ref = Preprocessor(
        "reference", input_format="yuyv", in_size=(640, 480), out_size=(320, 320),
        normalize=Normalize(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    )  # fmt: skip
    image = np.random.default_rng(3).integers(0, 256, (480, 640, 2), dtype=np.uint8)
    rep = _fpga_csim(ref, image)
    runs = rep["runs"]
    assert [r["pixels_per_clock"] for r in runs] == [1, 2, 4]
    assert all(r["equals_reference"] for r in runs)
    cycles = [r["cycles"] for r in runs]
    # At least one output pixel per lane per clock; more lanes, fewer cycles.
    assert cycles[0] >= 3 * 320 * 320 and cycles[0] > cycles[1] > cycles[2]
    for r in runs:
        assert r["fps_at_150_mhz"] == pytest.approx(150e6 / r["cycles"], abs=0.05)
        assert r["fps_at_300_mhz"] == pytest.approx(2 * r["fps_at_150_mhz"], abs=0.1)
        assert r["ms_at_150_mhz"] == pytest.approx(1e3 * r["cycles"] / 150e6, abs=1e-3)
