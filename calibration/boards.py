"""Calibration boards: the spec (geometry in metres), OpenCV board objects and printable files.

A :class:`BoardSpec` describes a ChArUco board (a chessboard whose white squares carry ArUco
markers, so every corner is identified even on a partial view) or a plain chessboard. Sizes
are in metres; ``squares_x`` / ``squares_y`` count squares, so a chessboard with 9 x 6 inner
corners has 10 x 7 squares. Board coordinates: origin at the board's top-left outer corner,
x right, y down, z into the board (OpenCV's ChArUco convention), metres.

Layouts: OpenCV 4.6 changed where markers sit on boards with an even number of rows (the
top-left square became black). ``legacy=None`` means "not known": detection tries both.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from calibration.errors import BoardSpecError, OutputError
from calibration.spec_json import read_spec, write_spec

METRES_PER_INCH = 0.0254
SPEC_VERSION = 1
_GRID = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in board metres


class BoardKind(enum.StrEnum):
    """What is printed on the board."""

    CHARUCO = "charuco"
    CHESSBOARD = "chessboard"


def parse_grid(text: str, what: str) -> tuple[int, int]:
    """``"20x20"`` -> (20, 20); ``what`` names the option in the error message."""
    m = _GRID.fullmatch(text)
    if m is None:
        msg = f"{what} {text!r}: expected COLSxROWS, e.g. 9x6"
        raise BoardSpecError(msg)
    return int(m.group(1)), int(m.group(2))


def aruco_dictionary_id(name: str) -> int:
    """The ``cv2.aruco`` constant for a dictionary name such as ``DICT_4X4_1000``."""
    value = getattr(cv2.aruco, name, None) if name.startswith("DICT_") else None
    if not isinstance(value, int):
        known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
        msg = f"unknown ArUco dictionary {name!r}; use one of {', '.join(known)}"
        raise BoardSpecError(msg)
    return value


@dataclass(frozen=True)
class BoardSpec:
    """Board geometry in metres; validated on construction (BoardSpecError names the field)."""

    kind: BoardKind
    squares_x: int
    squares_y: int
    square_m: float
    marker_m: float = 0.0  # ChArUco only
    dictionary: str = "DICT_4X4_1000"  # ChArUco only
    legacy: bool | None = None  # ChArUco only; None = detect the layout automatically
    first_marker_id: int = 0  # ChArUco only: markers are ids first.. (boards of an array)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", BoardKind(self.kind))
        for name in ("squares_x", "squares_y"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1000:
                msg = f"board {name} = {n!r}: expected an integer number of squares, 2 to 1000"
                raise BoardSpecError(msg)
        if not (isinstance(self.square_m, int | float) and 0 < self.square_m < 10):
            msg = f"board square_m = {self.square_m!r}: expected a size in metres, 0 to 10"
            raise BoardSpecError(msg)
        if self.kind is BoardKind.CHARUCO:
            if not (isinstance(self.marker_m, int | float) and 0 < self.marker_m < self.square_m):
                msg = (
                    f"board marker_m = {self.marker_m!r}: a ChArUco marker must be smaller "
                    f"than its square ({self.square_m} m)"
                )
                raise BoardSpecError(msg)
            first = self.first_marker_id
            if isinstance(first, bool) or not isinstance(first, int) or first < 0:
                msg = f"board first_marker_id = {first!r}: expected an integer >= 0"
                raise BoardSpecError(msg)
            needed = first + self.squares_x * self.squares_y // 2
            size = cv2.aruco.getPredefinedDictionary(aruco_dictionary_id(self.dictionary))
            if len(size.bytesList) < needed:
                msg = (
                    f"board dictionary {self.dictionary} has {len(size.bytesList)} markers; "
                    f"{self.squares_x}x{self.squares_y} squares from id {first} need {needed}"
                )
                raise BoardSpecError(msg)
        if self.legacy is not None and not isinstance(self.legacy, bool):
            msg = f"board legacy = {self.legacy!r}: expected true, false or null (automatic)"
            raise BoardSpecError(msg)

    @property
    def inner_corners(self) -> tuple[int, int]:
        """Inner chessboard corners (columns, rows): OpenCV's ``patternSize``."""
        return self.squares_x - 1, self.squares_y - 1

    @property
    def size_m(self) -> tuple[float, float]:
        """Printed board width and height, metres (margins excluded)."""
        return self.squares_x * self.square_m, self.squares_y * self.square_m

    def describe(self) -> str:
        """One line with every parameter, as printed in the board's margin."""
        sx, sy = self.squares_x, self.squares_y
        square = f"square {self.square_m * 1e3:.3f} mm"
        if self.kind is BoardKind.CHESSBOARD:
            cx, cy = self.inner_corners
            return f"chessboard {sx}x{sy} squares ({cx}x{cy} inner corners), {square}"
        layout = {None: "layout auto", True: "legacy layout", False: "modern layout"}
        first = f", markers from id {self.first_marker_id}" * bool(self.first_marker_id)
        marker = f"marker {self.marker_m * 1e3:.3f} mm, {self.dictionary}"
        return f"ChArUco {sx}x{sy} squares, {square}, {marker}, {layout[self.legacy]}{first}"

    def charuco_board(self, *, legacy: bool | None = None) -> cv2.aruco.CharucoBoard:
        """The OpenCV board; ``legacy`` overrides the spec's layout (None: spec, else modern)."""
        if self.kind is not BoardKind.CHARUCO:
            msg = "a plain chessboard has no ChArUco board object"
            raise BoardSpecError(msg)
        dictionary = cv2.aruco.getPredefinedDictionary(aruco_dictionary_id(self.dictionary))
        ids = np.arange(self.squares_x * self.squares_y // 2) + self.first_marker_id
        size = (self.squares_x, self.squares_y)
        board = cv2.aruco.CharucoBoard(size, self.square_m, self.marker_m, dictionary, ids)
        use = legacy if legacy is not None else bool(self.legacy)
        board.setLegacyPattern(use)
        return board

    def chessboard_object_points(self) -> npt.NDArray[np.float32]:
        """Inner corners in board metres, row by row as ``findChessboardCorners`` orders them."""
        cols, rows = self.inner_corners
        ij = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2).astype(np.float64)
        pts = np.zeros((cols * rows, 3), np.float32)
        pts[:, :2] = (ij + 1.0) * self.square_m
        return pts

    # ---- spec file ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The spec file's content (JSON)."""
        d = dataclasses.asdict(self)
        d["kind"] = self.kind.value
        for key in ("marker_m", "dictionary", "legacy", "first_marker_id"):
            if self.kind is BoardKind.CHESSBOARD or (key == "first_marker_id" and not d[key]):
                d.pop(key)
        return {"board_spec_version": SPEC_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BoardSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not pass)."""
        d = dict(d)
        version = d.pop("board_spec_version", SPEC_VERSION)
        if version != SPEC_VERSION:
            msg = f"board_spec_version {version!r} unsupported; this tool reads {SPEC_VERSION}"
            raise BoardSpecError(msg)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            msg = f"unknown board spec keys {unknown}; allowed: {sorted(fields)}"
            raise BoardSpecError(msg)
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            msg = f"invalid board spec: {exc}"
            raise BoardSpecError(msg) from exc

    def save(self, path: str | Path) -> None:
        """Write the spec as JSON."""
        write_spec(path, self.to_dict(), "board spec")

    @classmethod
    def load(cls, path: str | Path) -> BoardSpec:
        """Read a spec written by :meth:`save` (or by hand)."""
        d = read_spec(path, "board spec")
        try:
            return cls.from_dict(d)
        except BoardSpecError as exc:
            msg = f"{path}: {exc}"
            raise BoardSpecError(msg) from exc


# ---- rendering ---------------------------------------------------------------------------


def black_rectangles(spec: BoardSpec) -> list[Rect]:
    """Every black area of the board as rectangles in board metres (squares, marker cells).

    PNG and SVG are both drawn from this list, so the two files are the same board. For a
    ChArUco board the squares without a marker are the black ones; marker cells come from the
    dictionary's bit pattern (one-cell black border), run-length merged along rows.
    """
    s = spec.square_m
    if spec.kind is BoardKind.CHESSBOARD:
        return [
            (i * s, j * s, (i + 1) * s, (j + 1) * s)
            for j in range(spec.squares_y)
            for i in range(spec.squares_x)
            if (i + j) % 2 == 0
        ]
    board = spec.charuco_board()
    dictionary = board.getDictionary()
    cells = dictionary.markerSize + 2
    white: set[tuple[int, int]] = set()
    rects: list[Rect] = []
    for marker_id, corners in zip(
        np.asarray(board.getIds()).ravel(), board.getObjPoints(), strict=True
    ):
        c = np.asarray(corners, np.float64).reshape(4, 3)
        x0, y0 = c[:, 0].min(), c[:, 1].min()
        white.add((int((x0 + 0.5 * spec.marker_m) // s), int((y0 + 0.5 * spec.marker_m) // s)))
        bits = dictionary.generateImageMarker(int(marker_id), cells, borderBits=1)
        cell = spec.marker_m / cells
        for row in range(cells):
            col = 0
            while col < cells:
                if bits[row, col] != 0:
                    col += 1
                    continue
                end = col
                while end < cells and bits[row, end] == 0:
                    end += 1
                rects.append(
                    (x0 + col * cell, y0 + row * cell, x0 + end * cell, y0 + (row + 1) * cell)
                )
                col = end
    squares = [
        (i * s, j * s, (i + 1) * s, (j + 1) * s)
        for j in range(spec.squares_y)
        for i in range(spec.squares_x)
        if (i, j) not in white
    ]
    return squares + rects


def page_size_px(spec: BoardSpec, dpi: float, margin_m: float) -> tuple[int, int]:
    """PNG width and height in pixels: the physical page size at ``dpi``, rounded."""
    ppm = dpi / METRES_PER_INCH
    w, h = spec.size_m
    return round((w + 2 * margin_m) * ppm), round((h + 2 * margin_m) * ppm)


def _margin_lines(spec: BoardSpec, dpi: float | None) -> tuple[str, str]:
    w, h = spec.size_m
    scale = f"{dpi:g} dpi, " if dpi else ""
    return (
        spec.describe(),
        f"print at 100 % ({scale}no scaling); board {w * 1e3:.3f} x {h * 1e3:.3f} mm "
        "- measure it before calibrating",
    )


def render_png(spec: BoardSpec, *, dpi: float = 300.0, margin_m: float = 0.01) -> np.ndarray:
    """The printable page as a grey uint8 image at ``dpi``: board, white margin, parameters.

    Every rectangle edge is rounded to the nearest pixel from its exact physical position, so
    errors never accumulate across the board (at most half a pixel anywhere).
    """
    if not (dpi > 0 and margin_m >= 0):
        msg = f"dpi {dpi} must be > 0 and margin {margin_m} m >= 0"
        raise BoardSpecError(msg)
    ppm = dpi / METRES_PER_INCH
    width, height = page_size_px(spec, dpi, margin_m)
    page = np.full((height, width), 255, np.uint8)
    for x0, y0, x1, y1 in black_rectangles(spec):
        c0, c1 = round((margin_m + x0) * ppm), round((margin_m + x1) * ppm)
        r0, r1 = round((margin_m + y0) * ppm), round((margin_m + y1) * ppm)
        page[r0:r1, c0:c1] = 0
    margin_px = margin_m * ppm
    if margin_px >= 12:  # room for legible text
        top, bottom = _margin_lines(spec, dpi)
        for text, baseline in ((top, 0.7 * margin_px), (bottom, height - 0.3 * margin_px)):
            scale = margin_px * 0.3 / 22.0  # Hershey simplex is ~22 px tall at scale 1
            (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            scale *= min(1.0, (width - margin_px) / max(tw, 1))
            thick = max(1, round(scale * 1.5))
            org = (round(margin_px / 2), round(baseline))
            cv2.putText(page, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thick, cv2.LINE_AA)
    return page


def png_bytes(image: np.ndarray, dpi: float) -> bytes:
    """PNG encoding of ``image`` with a pHYs chunk, so printing software knows the scale."""
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        msg = "PNG encoding failed"
        raise OutputError(msg)
    data = buf.tobytes()
    ppm = round(dpi / METRES_PER_INCH)  # pHYs unit: pixels per metre
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length/type, IHDR data, CRC
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def render_svg(spec: BoardSpec, *, margin_m: float = 0.01) -> str:
    """The printable page as SVG in millimetres (exact scale, vector), parameters in the margin."""
    mm = 1e3
    w, h = spec.size_m
    pw, ph = (w + 2 * margin_m) * mm, (h + 2 * margin_m) * mm
    m = margin_m * mm
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{pw:.4f}mm" height="{ph:.4f}mm" '
        f'viewBox="0 0 {pw:.4f} {ph:.4f}" shape-rendering="crispEdges">',
        f'<rect x="0" y="0" width="{pw:.4f}" height="{ph:.4f}" fill="#fff"/>',
        f'<g fill="#000" transform="translate({m:.4f} {m:.4f})">',
    ]
    for x0, y0, x1, y1 in black_rectangles(spec):
        parts.append(
            f'<rect x="{x0 * mm:.4f}" y="{y0 * mm:.4f}" '
            f'width="{(x1 - x0) * mm:.4f}" height="{(y1 - y0) * mm:.4f}"/>'
        )
    parts.append("</g>")
    if m >= 1.0:
        font = min(0.3 * m, 4.0)
        top, bottom = _margin_lines(spec, None)
        for text, y in ((top, 0.7 * m), (bottom, ph - 0.3 * m)):
            parts.append(
                f'<text x="{m / 2:.4f}" y="{y:.4f}" font-family="sans-serif" '
                f'font-size="{font:.3f}" textLength="{min(pw - m, len(text) * font * 0.55):.3f}" '
                f'lengthAdjust="spacingAndGlyphs">{text}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


@dataclass(frozen=True)
class BoardFiles:
    """Paths written by :func:`write_board`."""

    png: Path
    svg: Path
    spec: Path
    png_size_px: tuple[int, int]


def write_board(
    spec: BoardSpec, stem: str | Path, *, dpi: float = 300.0, margin_m: float = 0.01
) -> BoardFiles:
    """Write ``STEM.png`` (at ``dpi``), ``STEM.svg`` and ``STEM.json`` (the spec, with an explicit
    layout, modern unless the spec says legacy, because a printed board has exactly one)."""
    if spec.kind is BoardKind.CHARUCO and spec.legacy is None:
        spec = dataclasses.replace(spec, legacy=False)
    stem = Path(stem)
    paths = (stem.with_suffix(".png"), stem.with_suffix(".svg"), stem.with_suffix(".json"))
    image = render_png(spec, dpi=dpi, margin_m=margin_m)
    try:
        paths[0].write_bytes(png_bytes(image, dpi))
        paths[1].write_text(render_svg(spec, margin_m=margin_m))
    except OSError as exc:
        msg = f"cannot write the board files {stem}.*: {exc}"
        raise OutputError(msg) from exc
    spec.save(paths[2])
    return BoardFiles(paths[0], paths[1], paths[2], (image.shape[1], image.shape[0]))


def png_dpi(data: bytes) -> float | None:
    """The dpi stored in a PNG's pHYs chunk (None when absent): lets tests check the scale."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"pHYs":
            x, _, unit = struct.unpack(">IIB", data[pos + 8 : pos + 17])
            return x * METRES_PER_INCH if unit == 1 else None
        if kind == b"IDAT":
            return None
        pos += 12 + length
    return None


def board_ppm(dpi: float) -> float:
    """Pixels per metre at ``dpi``."""
    return dpi / METRES_PER_INCH
