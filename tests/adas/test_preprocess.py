"""Preprocessing: both CPU backends byte-identical to the OpenCV composition of fpga/spec.md.

``composition`` below restates the definition independently of ``adas.preprocess`` (exact
rational letterbox size, Bayer code named from the crop's own 2x2 pattern, table built here)
and every backend output is compared with it byte for byte (float32 bit for bit).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adas.errors import ConfigError, ContractError
from adas.preprocess import (
    BACKENDS,
    Normalize,
    PreprocessBackend,
    Preprocessor,
)
from adas.preprocess_kernels import content_geometry, resize_table
from adas.preprocess_plan import LetterboxTransform, cached_resize_table
from adas.types import PixelFormat
from tests.preprocess_frames import NORM, VARIANTS, frame, legal_in, sweep_config

FORMATS = [f.value for f in PixelFormat]
CPU_BACKENDS = ["reference", "opencv"]
MOSAIC = ("RG", "GB")  # RGGB sensor: row 0 R G, row 1 G B


def composition(image: np.ndarray, **cfg: Any) -> np.ndarray:
    """The exact OpenCV composition (module docstring of adas.preprocess, fpga/spec.md §8)."""
    fmt = PixelFormat(cfg["input_format"])
    iw, ih = cfg["in_size"]
    ow, oh = cfg["out_size"]
    x, y, w, h = cfg.get("roi") or (0, 0, iw, ih)
    if fmt is PixelFormat.YUYV:
        image = image.reshape(ih, iw, 2)
    crop = image.reshape(ih, iw, -1)[y : y + h, x : x + w]
    if fmt is PixelFormat.YUYV:
        img = cv2.cvtColor(crop, cv2.COLOR_YUV2BGR_YUY2)
    elif fmt is PixelFormat.BAYER_RGGB8:
        pattern = "".join(MOSAIC[(y + i) % 2][(x + j) % 2] for i in (0, 1) for j in (0, 1))
        img = cv2.cvtColor(
            np.ascontiguousarray(crop[..., 0]), getattr(cv2, f"COLOR_Bayer{pattern}2BGR")
        )
    elif fmt is PixelFormat.RGB8:
        img = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    else:
        img = crop[..., 0] if fmt is PixelFormat.GRAY8 else crop
    if cfg.get("mode", "letterbox") == "stretch":
        cw, ch = ow, oh
    else:
        s = min(Fraction(ow, w), Fraction(oh, h))
        cw, ch = (
            max(1, math.floor(w * s + Fraction(1, 2))),
            max(1, math.floor(h * s + Fraction(1, 2))),
        )
    px, py = ((ow - cw) // 2, (oh - ch) // 2) if cfg.get("align", "center") == "center" else (0, 0)
    small = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_LINEAR_EXACT)
    canvas = np.full((oh, ow, *small.shape[2:]), cfg.get("pad_value", 114), np.uint8)
    canvas[py : py + ch, px : px + cw] = small
    if canvas.ndim == 2:
        planes = [canvas] * cfg.get("out_channels", 3)
    else:
        order = (0, 1, 2) if cfg.get("channel_order", "bgr") == "bgr" else (2, 1, 0)
        planes = [canvas[..., i] for i in order]
    chw = np.stack(planes)[None]
    norm = cfg.get("normalize")
    if norm is None:
        return chw
    v = np.arange(256, dtype=np.float64)
    luts = [((v - norm.mean[c]) / norm.std[c]).astype(np.float32) for c in range(len(planes))]
    return np.stack([luts[c][chw[0, c]] for c in range(len(planes))])[None]


def assert_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.shape, want.shape)
    assert got.flags.c_contiguous, what
    if not np.array_equal(got.view(np.uint8), want.view(np.uint8)):
        bad = np.argwhere(got != want)
        pytest.fail(f"{what}: {len(bad)} values differ, first at {bad[:3].tolist()}")


def check_all_backends(image: np.ndarray, cfg: dict[str, Any]) -> None:
    want = composition(image, **cfg)
    for backend in CPU_BACKENDS:
        out, _ = Preprocessor(backend, **cfg)(image)
        assert_exact(out, want, f"{backend} {cfg}")


# --- the sweep: every format x hundreds of size pairs x every variant ----------------------------

BIG = [
    (i, o)
    for i in ((1920, 1080), (1280, 720), (1242, 375))
    for o in ((416, 416), (320, 320), (352, 352))
]
SPECIAL = [
    ((1, 1), (1, 1)),
    ((1, 1), (5, 3)),
    ((7, 5), (1, 1)),
    ((1, 9), (4, 4)),
    ((8, 6), (4, 3)),  # exact 2x: OpenCV takes its INTER_AREA path, same bytes
    ((64, 48), (32, 24)),
    ((2, 2), (5, 5)),
    ((32, 24), (64, 48)),
    ((6, 5), (512, 256)),  # Q0.8 weight ties in x and y: round half to even
    ((3, 4), (256, 4)),
    ((640, 480), (640, 480)),  # same size: OpenCV copies
    ((101, 67), (33, 17)),
    ((33, 17), (101, 67)),
]


def sweep_cases() -> list[tuple[tuple[tuple[int, int], tuple[int, int]], int]]:
    """(size pair, variant index): the special pairs in every variant, the rest cycling."""
    rng = np.random.default_rng(20240601)
    cases = [(p, v) for p in SPECIAL for v in range(len(VARIANTS))]
    for i in range(300):
        iw, ih, ow, oh = (int(v) for v in rng.integers(1, 97, 4))
        cases.append((((iw, ih), (ow, oh)), i % len(VARIANTS)))
    cases += [(p, i % len(VARIANTS)) for i, p in enumerate(BIG * 2)]
    return cases


CASES = sweep_cases()


@pytest.mark.parametrize("fmt", FORMATS)
def test_sweep_bit_exact(fmt: str) -> None:
    rng = np.random.default_rng(FORMATS.index(fmt))
    for i, (((iw, ih), out_size), v) in enumerate(CASES):
        in_size = legal_in(fmt, iw, ih)
        cfg = sweep_config(rng, fmt, i, in_size, out_size, v)
        check_all_backends(frame(rng, fmt, *in_size), cfg)


@settings(max_examples=60, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    geom=st.tuples(*[st.integers(1, 200)] * 4),
    roi_frac=st.none() | st.tuples(*[st.floats(0.0, 1.0)] * 4),
    mode=st.sampled_from(["letterbox", "stretch"]),
    align=st.sampled_from(["center", "top-left"]),
    order=st.sampled_from(["bgr", "rgb"]),
    norm=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_random_geometry_bit_exact(
    fmt: str,
    geom: tuple[int, int, int, int],
    roi_frac: tuple[float, float, float, float] | None,
    mode: str,
    align: str,
    order: str,
    norm: bool,
    seed: int,
) -> None:
    iw, ih = legal_in(fmt, geom[0], geom[1])
    roi = None
    if roi_frac is not None:
        lo = 3 if fmt == "bayer_rggb8" else 1
        rw = max(lo, round(roi_frac[2] * iw))
        rh = max(lo, round(roi_frac[3] * ih))
        x, y = round(roi_frac[0] * (iw - rw)), round(roi_frac[1] * (ih - rh))
        if fmt == "yuyv":
            x, rw = x - x % 2, max(2, rw - rw % 2)
        roi = (x, y, rw, rh)
    cfg = {
        "input_format": fmt,
        "in_size": (iw, ih),
        "out_size": (geom[2], geom[3]),
        "roi": roi,
        "mode": mode,
        "align": align,
        "channel_order": order,
        "normalize": NORM if norm else None,
    }
    check_all_backends(frame(np.random.default_rng(seed), fmt, iw, ih), cfg)


# --- the pieces, against OpenCV and against the spec's worked numbers ----------------------------


def test_yuyv_conversion_exhaustive() -> None:
    """Every (Y, U, V) byte triple, through the reference backend at 1:1, equals cvtColor."""
    yy = np.arange(128, dtype=np.uint8)
    u, v = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    pairs = np.empty((128, 65536, 4), np.uint8)  # Y0 U Y1 V with Y1 = Y0 + 128
    pairs[..., 0] = yy[:, None]
    pairs[..., 1] = u.ravel()[None]
    pairs[..., 2] = yy[:, None] + 128
    pairs[..., 3] = v.ravel()[None]
    image = pairs.reshape(4096, 4096, 2)  # 2^24 pixels, every (Y, U, V) exactly once
    want = cv2.cvtColor(image, cv2.COLOR_YUV2BGR_YUY2)
    pre = Preprocessor(
        "reference", input_format="yuyv", in_size=(4096, 4096), out_size=(4096, 4096)
    )
    out, _ = pre(image)
    assert np.array_equal(out[0], want.transpose(2, 0, 1))


def test_rggb_is_r_at_origin() -> None:
    """A flat scene of R=200, G=100, B=10 seen through an RGGB mosaic comes out as that colour."""
    raw = np.empty((6, 8), np.uint8)
    raw[0::2, 0::2], raw[0::2, 1::2], raw[1::2, 0::2], raw[1::2, 1::2] = 200, 100, 100, 10
    for x, y in ((0, 0), (1, 0), (0, 1), (1, 1)):  # every crop parity
        pre = Preprocessor(
            "reference", input_format="bayer_rggb8", in_size=(8, 6), out_size=(5, 4),
            roi=(x, y, 7, 5), mode="stretch",
        )  # fmt: skip
        out, _ = pre(raw)
        assert np.all(out[0, 0] == 10) and np.all(out[0, 1] == 100) and np.all(out[0, 2] == 200)


def test_conversion_worked_examples() -> None:
    """The YUYV and Bayer numbers of fpga/spec.md §4.2-4.4, through the reference backend."""
    yuyv = np.array([[120, 100, 120, 150], [10, 255, 10, 0]], np.uint8)  # 2 rows of one pair
    pre = Preprocessor("reference", input_format="yuyv", in_size=(2, 2), out_size=(2, 2))
    out = pre(yuyv)[0][0]
    assert out[:, 0, 0].tolist() == [65, 114, 156] and out[:, 1, 0].tolist() == [255, 54, 0]
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
    pre = Preprocessor(
        "reference", input_format="bayer_rggb8", in_size=(5, 5), out_size=(5, 5), mode="stretch"
    )
    bgr = pre(raw)[0][0]  # C x H x W
    want = {(1, 1): [12, 71, 185], (2, 1): [10, 52, 175], (1, 2): [16, 100, 180]}
    want |= {(2, 2): [14, 65, 170], (0, 0): [12, 71, 185], (4, 0): [8, 53, 195]}
    for (x, y), b_g_r in want.items():
        assert bgr[:, y, x].tolist() == b_g_r, (x, y)


def test_resize_table_worked_examples() -> None:
    """The numbers of fpga/spec.md §4."""
    i0, i1, w = resize_table(1920, 416)
    assert list(zip(i0[:3], i1[:3], w[:3], strict=True)) == [(1, 2, 207), (6, 7, 108), (11, 12, 10)]
    assert (i0[415], i1[415], w[415]) == (1917, 1918, 49)
    i0, i1, w = resize_table(2, 5)  # upscale: both borders replicate
    assert list(i0) == [0, 0, 0, 0, 1] and list(i1) == [1, 1, 1, 1, 1]
    assert list(w) == [0, 26, 128, 230, 0]
    _, _, w = resize_table(3, 256)  # frac * 256 = 2.5 and 5.5: half to even
    assert (w[43], w[44]) == (2, 6)
    assert list(zip(*resize_table(4, 2), strict=True)) == [(0, 1, 128), (2, 3, 128)]


def test_vertical_pass_worked_example() -> None:
    """fpga/spec.md §5: 1920x1080 -> 416x234, output pixel (0, 0) from source rows/cols 1, 2."""
    img = np.zeros((1080, 1920), np.uint8)
    img[1:3, 1:3] = [[114, 58], [213, 125]]
    want = cv2.resize(img, (416, 234), interpolation=cv2.INTER_LINEAR_EXACT)
    assert want[0, 0] == 128
    out, _ = Preprocessor(
        "reference", input_format="mono8", in_size=(1920, 1080), out_size=(416, 234),
        mode="stretch", out_channels=1,
    )(img)  # fmt: skip
    assert out[0, 0, 0, 0] == 128


def test_letterbox_geometry_worked_examples() -> None:
    g = content_geometry
    assert g(1920, 1080, 416, 416, letterbox=True, center=True) == (416, 234, 0, 91)
    assert g(1242, 375, 416, 416, letterbox=True, center=True) == (416, 126, 0, 145)
    assert g(1280, 720, 320, 320, letterbox=True, center=True) == (320, 180, 0, 70)
    assert g(1242, 375, 352, 352, letterbox=True, center=False) == (352, 106, 0, 0)
    assert g(375, 1242, 416, 416, letterbox=True, center=True) == (126, 416, 145, 0)
    assert g(1920, 1080, 416, 416, letterbox=False, center=True) == (416, 416, 0, 0)


def test_tables_cached_and_read_only() -> None:
    a = cached_resize_table(1920, 416)
    assert a is cached_resize_table(1920, 416)
    assert not any(t.flags.writeable for t in a)


def test_output_contract_and_input_layouts() -> None:
    rng = np.random.default_rng(5)
    big = rng.integers(0, 256, (500, 700, 3), dtype=np.uint8)
    view = big[10:490:2, 20:660:2]  # 240 x 320, not contiguous
    for backend in CPU_BACKENDS:
        pre = Preprocessor(backend, input_format="bgr8", in_size=(320, 240), out_size=(64, 64))
        out, tf = pre(view)
        assert out.shape == (1, 3, 64, 64) and out.dtype == np.uint8 and out.flags.c_contiguous
        assert np.array_equal(out, pre(np.ascontiguousarray(view))[0])
        assert (tf.pad_x, tf.pad_y, tf.scale_x, tf.scale_y) == (0, 8, 0.2, 0.2)
    yuyv = rng.integers(0, 256, (30, 40, 2), dtype=np.uint8)
    pre = Preprocessor("reference", input_format="yuyv", in_size=(40, 30), out_size=(17, 13))
    assert np.array_equal(pre(yuyv)[0], pre(yuyv.reshape(30, 80))[0])
    gray = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    pre = Preprocessor(
        "reference", input_format="mono8", in_size=(40, 30), out_size=(20, 20),
        normalize=NORM, out_channels=1,
    )  # fmt: skip
    out, _ = pre(gray[..., None])
    assert out.shape == (1, 1, 20, 20) and out.dtype == np.float32


# --- LetterboxTransform -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    in_size=st.tuples(st.integers(8, 1920), st.integers(8, 1080)),
    out_size=st.tuples(st.integers(8, 640), st.integers(8, 640)),
    roi_frac=st.tuples(*[st.floats(0.0, 1.0)] * 4),
    mode=st.sampled_from(["letterbox", "stretch"]),
    align=st.sampled_from(["center", "top-left"]),
    box_frac=st.lists(st.tuples(*[st.floats(0.0, 1.0)] * 4), min_size=1, max_size=5),
)
def test_transform_round_trip(
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    roi_frac: tuple[float, float, float, float],
    mode: str,
    align: str,
    box_frac: list[tuple[float, float, float, float]],
) -> None:
    iw, ih = in_size
    rw, rh = max(1, round(roi_frac[2] * iw)), max(1, round(roi_frac[3] * ih))
    roi = (round(roi_frac[0] * (iw - rw)), round(roi_frac[1] * (ih - rh)), rw, rh)
    pre = Preprocessor(
        "opencv", input_format="mono8", in_size=in_size, out_size=out_size, roi=roi,
        mode=mode, align=align,
    )  # fmt: skip
    tf = pre.transform
    (cw, ch), (px, py) = pre.plan.content, pre.plan.pad
    f = np.asarray(box_frac)
    # Boxes inside the content (to_image clips to the image, which the content lies in).
    x = np.sort(f[:, 0::2], axis=1) * cw + px
    y = np.sort(f[:, 1::2], axis=1) * ch + py
    boxes = np.column_stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]]).astype(np.float32)
    back = tf.to_model(tf.to_image(boxes))
    # float32 image coordinates carry ~6e-5 px, magnified by the scale when upscaling.
    tol = 1e-4 * max(1.0, tf.scale_x, tf.scale_y)
    np.testing.assert_allclose(back, boxes, rtol=0, atol=tol)
    img = tf.to_image(boxes)
    assert img.dtype == np.float32
    assert np.all(img[:, 0::2] >= roi[0] - 1e-3) and np.all(img[:, 0::2] <= roi[0] + rw + 1e-3)
    assert np.all(img[:, 1::2] >= roi[1] - 1e-3) and np.all(img[:, 1::2] <= roi[1] + rh + 1e-3)


@pytest.mark.parametrize(
    ("roi", "align"), [(None, "center"), ((300, 200, 1200, 700), "top-left"), (None, "top-left")]
)
def test_drawn_box_lands_on_model_pixels(roi: tuple[int, int, int, int] | None, align: str) -> None:
    """A white box drawn in the frame covers the model pixels to_model predicts (and back)."""
    boxes = np.array([[400, 300, 700, 520], [1000, 250, 1350, 800], [801, 401, 849, 473]], float)
    for box in boxes:
        img = np.zeros((1080, 1920, 3), np.uint8)
        x1, y1, x2, y2 = box.astype(int)
        img[y1:y2, x1:x2] = 255  # pixels [x1, x2) x [y1, y2)
        pre = Preprocessor(
            "reference", input_format="bgr8", in_size=(1920, 1080), out_size=(416, 416),
            roi=roi, pad_value=0, align=align,
        )  # fmt: skip
        out, tf = pre(img)
        ys, xs = np.nonzero(out[0, 1] > 127)
        lit = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
        pred = tf.to_model(box[None])[0]
        assert np.all(np.abs(lit - pred) <= 0.5 + 1e-3), (lit, pred)
        back = tf.to_image(lit[None])[0]
        assert np.all(np.abs(back - box) <= 0.5 / min(tf.scale_x, tf.scale_y) + 1e-3), (back, box)


def test_transform_clips_to_image() -> None:
    tf = LetterboxTransform(0.5, 0.5, 0, 10, 100, 50, image_w=400, image_h=300)
    got = tf.to_image(np.array([[-300.0, 0.0, 100.0, 500.0]]))  # x1 -> -500, y2 -> 1030
    assert got.tolist() == [[0.0, 30.0, 300.0, 300.0]]
    with pytest.raises(ContractError, match="N x 4"):
        tf.to_model(np.zeros((3, 5)))


# --- errors ---------------------------------------------------------------------------------------

BASE: dict[str, Any] = {"input_format": "bgr8", "in_size": (64, 48), "out_size": (32, 32)}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"backend": "cuda"}, "backend='cuda' is not one of 'reference', 'opencv', 'fpga'"),
        ({"input_format": "nv12"}, "input_format='nv12'"),
        ({"mode": "crop"}, "mode='crop'"),
        ({"align": "bottom"}, "align='bottom'"),
        ({"channel_order": "rgba"}, "channel_order='rgba'"),
        ({"in_size": (0, 48)}, "in_size=(0, 48)"),
        ({"in_size": (64,)}, "in_size=(64,)"),
        ({"in_size": (64.0, 48)}, "in_size=(64.0, 48)"),
        ({"in_size": (True, 48)}, "in_size=(True, 48)"),
        ({"in_size": (100_000, 48)}, "[1, 16384]"),
        ({"out_size": (5000, 416)}, "[1, 4096]"),
        ({"roi": (60, 0, 8, 8)}, "inside the 64x48 image"),
        ({"roi": (0, -1, 8, 8)}, "inside the 64x48 image"),
        ({"roi": (0, 0, 0, 8)}, "w, h >= 1"),
        ({"roi": (0, 0, 8)}, "roi=(0, 0, 8)"),
        ({"input_format": "yuyv", "roi": (1, 0, 8, 8)}, "x and w must be even"),
        ({"input_format": "yuyv", "roi": (0, 0, 7, 8)}, "x and w must be even"),
        ({"input_format": "yuyv", "in_size": (63, 48)}, "even width"),
        ({"input_format": "bayer_rggb8", "roi": (0, 0, 2, 8)}, "at least 3x3"),
        ({"input_format": "bayer_rggb8", "in_size": (64, 2)}, "at least 3x3"),
        ({"pad_value": 256}, "pad_value=256"),
        ({"pad_value": -1}, "pad_value=-1"),
        ({"out_channels": 2}, "out_channels=2"),
        ({"out_channels": 1}, "with input_format 'mono8'"),
        ({"normalize": (0.0, 1.0)}, "normalize="),
    ],
)
def test_bad_config(change: dict[str, Any], needle: str) -> None:
    kw = {"backend": "reference", **BASE, **change}
    with pytest.raises(ConfigError) as err:
        Preprocessor(kw.pop("backend"), **kw)
    assert needle in str(err.value)


def test_fpga_backend_without_board_falls_back_to_reference(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No board here (pynq missing or no bitfile): backend 'fpga' runs the golden model.

    The tensor is byte-identical to backend 'reference', ``active`` names the fallback and
    its reason, and the reason is logged once as a warning (not again per frame).
    """
    monkeypatch.delenv("ADAS_FPGA_BITFILE", raising=False)
    cfg = {**BASE, "roi": (3, 5, 50, 40), "normalize": NORM}
    image = np.random.default_rng(6).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with caplog.at_level("WARNING", logger="adas.preprocess"):
        fpga = Preprocessor("fpga", **cfg)
        got = [fpga(image)[0] for _ in range(2)]
    want, _ = Preprocessor("reference", **cfg)(image)
    assert all(g.dtype == want.dtype and g.tobytes() == want.tobytes() for g in got)
    backend: Any = fpga.backend  # FpgaBackend: reason and active are not in the protocol
    reason = backend.reason
    assert reason and ("pynq is not installed" in reason or "ADAS_FPGA_BITFILE" in reason)
    assert backend.active == f"reference (fallback: {reason})"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and reason in warnings[0]


@pytest.mark.parametrize(
    ("mean", "std", "needle"),
    [
        ((0.0, 0.0), (1.0, 1.0, 1.0), "Normalize.mean must be 3 finite numbers"),
        ((0.0, math.nan, 0.0), (1.0, 1.0, 1.0), "Normalize.mean"),
        ((0.0, 0.0, 0.0), (1.0, 0.0, 1.0), "Normalize.std must be > 0"),
        ((0.0, 0.0, 0.0), (1.0, math.inf, 1.0), "Normalize.std must be 3 finite"),
    ],
)
def test_bad_normalize(mean: Any, std: Any, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        Normalize(mean=mean, std=std)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(
    ("fmt", "image", "needle"),
    [
        ("bgr8", np.zeros((48, 64, 3), np.float32), "uint8 numpy array, got float32"),
        ("bgr8", [[0]], "uint8 numpy array, got list"),
        ("bgr8", np.zeros((48, 64), np.uint8), "must have shape (48, 64, 3), got (48, 64)"),
        ("bgr8", np.zeros((64, 48, 3), np.uint8), "got (64, 48, 3)"),
        ("rgb8", np.zeros((48, 64, 4), np.uint8), "got (48, 64, 4)"),
        ("mono8", np.zeros((48, 64, 3), np.uint8), "(48, 64) or (48, 64, 1)"),
        ("yuyv", np.zeros((48, 64), np.uint8), "(48, 64, 2) or (48, 128)"),
        ("yuyv", np.zeros((48, 64, 3), np.uint8), "got (48, 64, 3)"),
        ("bayer_rggb8", np.zeros((48, 64, 1), np.uint8), "shape (48, 64), got (48, 64, 1)"),
    ],
)
def test_bad_frame(backend: str, fmt: str, image: Any, needle: str) -> None:
    pre = Preprocessor(backend, **{**BASE, "input_format": fmt})
    with pytest.raises(ContractError) as err:
        pre(image)
    assert needle in str(err.value)


def test_registry_covers_every_backend() -> None:
    assert set(BACKENDS) == set(PreprocessBackend)


@pytest.mark.parametrize("backend", ["reference", "opencv"])
@pytest.mark.parametrize("norm", [None, NORM])
def test_run_into_a_view_is_the_same_bytes_and_leaves_the_rest(backend: str, norm: Any) -> None:
    """``run_into`` fills a tile's rows of a bigger input (a strided view) with exactly the
    bytes ``__call__`` returns, and touches nothing outside them."""
    image = np.random.default_rng(3).integers(0, 256, (375, 1242, 3), np.uint8)
    pre = Preprocessor(
        backend, input_format="bgr8", in_size=(1242, 375), out_size=(416, 204),
        roi=(524, 60, 718, 315), normalize=norm, mode="letterbox", align="top-left",
    )  # fmt: skip
    want, tf = pre(image)
    big = np.full((1, 3, 416, 416), 7, want.dtype)
    assert pre.run_into(image, big[:, :, 212:416, :]) is tf
    assert np.array_equal(big[:, :, 212:416, :], want)
    assert (big[:, :, :212, :] == 7).all()
    with pytest.raises(ContractError):
        pre.run_into(image, big[:, :, 200:416, :])
