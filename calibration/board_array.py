"""Board arrays: several ChArUco boards at designed angles on one rigid frame (a calibration
target for production lines: one image of it constrains every intrinsic parameter).

An :class:`ArraySpec` is one board geometry repeated ``cols x rows`` times. Board ``b`` (row
major) prints the markers ``b * markers_per_board ...``, so each marker and each corner has a
global id: corner ``k`` of board ``b`` is ``b * corners_per_board + k``. The array frame has
its origin at the top-left of the first cell, x right, y down, z into the array (the boards'
own convention); ``T_array_board`` (rotation vector in radians, translation in metres) maps a
board's points (:mod:`calibration.boards` frame) into it: ``X_array = R X_board + t``.

Designed layout: boards sit in a grid of cells (board size plus ``spacing_m``), each rotated
about its own centre by its tilt; the default pattern alternates the axis (y, x, y, x, ...)
and the sign every two boards (+, +, -, -, ...), so neighbours face different ways.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from calibration.boards import BoardFiles, BoardKind, BoardSpec, write_board
from calibration.errors import BoardSpecError
from calibration.spec_json import read_spec, write_spec

ARRAY_SPEC_VERSION = 1
FloatArray = npt.NDArray[np.float64]
MAX_BOARDS = 64  # a production target has a handful; more is a typo (e.g. 100x1)
# A board turned more than this from the array plane is nearly edge-on to a camera facing the
# array: its corners cannot be detected, so such a design is a mistake (degrees).
MAX_TILT_DEG = 75.0
MAX_EXTENT_M = 20.0  # translations beyond this are not a bench target (metres)
# Smallest spread of the corners off their best-fit plane, relative to the array's size, for
# the target to count as non-planar: at 1e-3 a 0.5 m array is 0.5 mm deep, which no corner
# detector resolves, so the "array" would constrain the intrinsics like one flat board.
MIN_DEPTH_RATIO = 1e-3
_TILT = re.compile(r"\s*([xyXY])\s*([+-]?\d+(?:\.\d*)?)\s*")


def rotation_about(axis: str, degrees: float) -> FloatArray:
    """Rotation vector (radians) of ``degrees`` about the board's ``x`` or ``y`` axis."""
    v = np.zeros(3)
    v["xy".index(axis.lower())] = math.radians(degrees)
    return v


def alternate_tilts(n: int, degrees: float) -> list[tuple[str, float]]:
    """The default pattern: axis y, x, y, x...; sign +, +, -, -, ... (board ``k`` row-major)."""
    return [
        ("y" if k % 2 == 0 else "x", degrees if (k // 2) % 2 == 0 else -degrees) for k in range(n)
    ]


def parse_tilts(text: str, n: int) -> list[tuple[str, float]]:
    """``"y30,x30,y-30,x-30"`` -> [("y", 30.0), ...]; one entry per board (``n``)."""
    items = [t for t in text.split(",") if t.strip()]
    out = []
    for item in items:
        m = _TILT.fullmatch(item)
        if m is None:
            msg = f"--tilts item {item!r}: expected AXIS DEGREES such as y30 or x-25"
            raise BoardSpecError(msg)
        out.append((m.group(1).lower(), float(m.group(2))))
    if len(out) != n:
        msg = f"--tilts gives {len(out)} tilts for {n} boards; give one per board (row-major)"
        raise BoardSpecError(msg)
    return out


@dataclass(frozen=True, eq=False)
class ArraySpec:
    """``cols x rows`` copies of ``board`` with their poses ``T_array_board`` (see module doc);
    validated on construction (BoardSpecError says what is wrong)."""

    board: BoardSpec  # shared geometry; its first_marker_id is 0, each copy's is derived
    grid: tuple[int, int]  # cols, rows
    rvecs: FloatArray  # n x 3, radians
    tvecs: FloatArray  # n x 3, metres

    def __post_init__(self) -> None:
        if self.board.kind is not BoardKind.CHARUCO:
            msg = "a board array needs ChArUco boards (a chessboard's corners carry no board id)"
            raise BoardSpecError(msg)
        if self.board.first_marker_id != 0:
            msg = "the array's board must start at marker id 0 (each copy's range is derived)"
            raise BoardSpecError(msg)
        cols, rows = self.grid
        for name, v in (("columns", cols), ("rows", rows)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                msg = f"array {name} = {v!r}: expected an integer >= 1"
                raise BoardSpecError(msg)
        n = cols * rows
        if not 2 <= n <= MAX_BOARDS:
            msg = f"array {cols}x{rows} has {n} boards; an array has 2 to {MAX_BOARDS}"
            raise BoardSpecError(msg)
        for name in ("rvecs", "tvecs"):
            a = np.asarray(getattr(self, name), np.float64)
            if a.shape != (n, 3) or not np.all(np.isfinite(a)):
                msg = f"array {name}: expected {n} finite 3-vectors (one per board), got {a.shape}"
                raise BoardSpecError(msg)
            object.__setattr__(self, name, a)
        self.board_spec(n - 1)  # the dictionary must hold every board's markers
        for b in range(n):
            tilt = math.degrees(self.tilt_rad(b))
            if tilt > MAX_TILT_DEG:
                msg = f"board {b} is turned {tilt:.1f} deg off the array plane (> {MAX_TILT_DEG:g})"
                raise BoardSpecError(msg)
            if np.abs(self.tvecs[b]).max() > MAX_EXTENT_M:
                msg = f"board {b} translation {self.tvecs[b].tolist()} m exceeds {MAX_EXTENT_M:g} m"
                raise BoardSpecError(msg)
        centres = np.array([self.centre(b) for b in range(n)])
        gap = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(n) * 1e9
        half = 0.5 * min(self.board.size_m)  # two centres closer than this: boards intersect
        if gap.min() < half:
            i, j = np.unravel_index(int(np.argmin(gap)), gap.shape)
            msg = f"boards {i} and {j} are {gap.min() * 1e3:.1f} mm apart: they would intersect"
            raise BoardSpecError(msg)
        pts = self.array_points(np.arange(n * self.corners_per_board))
        sv = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)
        if sv[2] < MIN_DEPTH_RATIO * sv[0]:
            msg = "the boards are coplanar: tilt some (--tilt-deg) so the target is not flat"
            raise BoardSpecError(msg)

    # ---- geometry ------------------------------------------------------------------------

    @property
    def n_boards(self) -> int:
        """Number of boards."""
        return self.grid[0] * self.grid[1]

    @property
    def corners_per_board(self) -> int:
        """ChArUco corners of one board (global corner ids advance by this per board)."""
        cols, rows = self.board.inner_corners
        return cols * rows

    @property
    def markers_per_board(self) -> int:
        """Markers on one board (global marker ids advance by this per board)."""
        return self.board.squares_x * self.board.squares_y // 2

    def board_spec(self, b: int) -> BoardSpec:
        """Board ``b``'s own spec: its marker-id range, an explicit layout (modern by default)."""
        legacy = bool(self.board.legacy)
        return dataclasses.replace(
            self.board, first_marker_id=b * self.markers_per_board, legacy=legacy
        )

    def T_array_board(self, b: int) -> FloatArray:  # noqa: N802
        """4 x 4 designed transform of board ``b`` into the array frame."""
        T = np.eye(4)
        T[:3, :3] = cv2.Rodrigues(self.rvecs[b])[0]
        T[:3, 3] = self.tvecs[b]
        return T

    def tilt_rad(self, b: int) -> float:
        """Angle between board ``b``'s normal and the array's z axis, radians."""
        R = cv2.Rodrigues(self.rvecs[b])[0]
        return float(math.acos(max(-1.0, min(1.0, R[2, 2]))))

    def centre(self, b: int) -> FloatArray:
        """Board ``b``'s centre in the array frame, metres."""
        w, h = self.board.size_m
        return self.T_array_board(b)[:3, :3] @ np.array([w / 2, h / 2, 0.0]) + self.tvecs[b]

    def board_of(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The board index of each global corner id."""
        return np.asarray(ids, np.int64) // self.corners_per_board

    def local_points(self, ids: npt.ArrayLike) -> FloatArray:
        """Global corner ids -> the corners in their own board's frame (N x 3, metres)."""
        local = np.asarray(ids, np.int64) % self.corners_per_board
        return self.board.chessboard_object_points().astype(np.float64)[local]

    def array_points(
        self, ids: npt.ArrayLike, rvecs: FloatArray | None = None, tvecs: FloatArray | None = None
    ) -> FloatArray:
        """Global corner ids -> array-frame points (N x 3, metres) under the designed poses, or
        under ``rvecs``/``tvecs`` (n x 3 each, e.g. estimated ones) when given."""
        ids = np.asarray(ids, np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_boards * self.corners_per_board):
            msg = f"corner ids {ids.min()}..{ids.max()} outside the array's range"
            raise BoardSpecError(msg)
        rv = self.rvecs if rvecs is None else rvecs
        tv = self.tvecs if tvecs is None else tvecs
        local, board = self.local_points(ids), self.board_of(ids)
        out = np.empty_like(local)
        for b in np.unique(board):
            sel = board == b
            out[sel] = local[sel] @ cv2.Rodrigues(rv[b])[0].T + tv[b]
        return out

    # ---- spec file -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The array spec file's content (JSON); per-board id ranges are written for people."""
        boards = [
            {
                "index": b,
                "first_marker_id": b * self.markers_per_board,
                "first_corner_id": b * self.corners_per_board,
                "rotation_vector_rad": self.rvecs[b].tolist(),
                "translation_m": self.tvecs[b].tolist(),
                "tilt_deg": round(math.degrees(self.tilt_rad(b)), 6),
            }
            for b in range(self.n_boards)
        ]
        board = self.board.to_dict()
        board.pop("board_spec_version")
        return {
            "array_spec_version": ARRAY_SPEC_VERSION,
            "grid": list(self.grid),
            "board": board,
            "boards": boards,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArraySpec:
        """Inverse of :meth:`to_dict`; unknown keys and inconsistent id ranges are errors."""
        d = dict(d)
        version = d.pop("array_spec_version", None)
        if version != ARRAY_SPEC_VERSION:
            msg = (
                f"array_spec_version {version!r} unsupported; this tool reads {ARRAY_SPEC_VERSION}"
            )
            raise BoardSpecError(msg)
        unknown = sorted(set(d) - {"grid", "board", "boards"})
        if unknown or not {"grid", "board", "boards"} <= set(d):
            msg = f"an array spec has exactly the keys grid, board, boards (got {sorted(d)})"
            raise BoardSpecError(msg)
        grid, boards = d["grid"], d["boards"]
        if not (isinstance(grid, list) and len(grid) == 2 and isinstance(boards, list)):
            msg = "array spec: grid is [cols, rows] and boards a list"
            raise BoardSpecError(msg)
        if not isinstance(d["board"], dict):
            msg = "array spec: board is a board spec object"
            raise BoardSpecError(msg)
        board = BoardSpec.from_dict(d["board"])
        n = grid[0] * grid[1] if all(isinstance(g, int) for g in grid) else len(boards)
        if len(boards) != n:
            msg = f"array spec lists {len(boards)} boards; a {grid[0]}x{grid[1]} grid has {n}"
            raise BoardSpecError(msg)
        fields = {
            "index",
            "first_marker_id",
            "first_corner_id",
            "rotation_vector_rad",
            "translation_m",
            "tilt_deg",
        }
        rvecs, tvecs = [], []
        for b, item in enumerate(boards):
            if not isinstance(item, dict) or set(item) - fields or item.get("index") != b:
                msg = f"array spec board {b}: expected index {b} and only the keys {sorted(fields)}"
                raise BoardSpecError(msg)
            rvecs.append(item.get("rotation_vector_rad"))
            tvecs.append(item.get("translation_m"))
        try:
            out = cls(
                board, (grid[0], grid[1]), np.array(rvecs, np.float64), np.array(tvecs, np.float64)
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, BoardSpecError):
                raise
            msg = f"invalid array spec: {exc}"
            raise BoardSpecError(msg) from exc
        for b, item in enumerate(boards):
            for key, per in (
                ("first_marker_id", out.markers_per_board),
                ("first_corner_id", out.corners_per_board),
            ):
                if key in item and item[key] != b * per:
                    msg = f"array spec board {b}: {key} {item[key]!r} should be {b * per}"
                    raise BoardSpecError(msg)
        return out

    def save(self, path: str | Path) -> None:
        """Write the spec as JSON."""
        write_spec(path, self.to_dict(), "array spec")

    @classmethod
    def load(cls, path: str | Path) -> ArraySpec:
        """Read a spec written by :meth:`save` (or by hand); errors name the file."""
        d = read_spec(path, "array spec")
        try:
            return cls.from_dict(d)
        except BoardSpecError as exc:
            msg = f"{path}: {exc}"
            raise BoardSpecError(msg) from exc


def design_array(
    board: BoardSpec, grid: tuple[int, int], tilts: list[tuple[str, float]], *, spacing_m: float
) -> ArraySpec:
    """The designed layout of the module doc: ``tilts`` (axis, degrees) per board, row-major."""
    if not (math.isfinite(spacing_m) and 0 <= spacing_m <= MAX_EXTENT_M):
        msg = f"--spacing {spacing_m}: expected a gap in metres, 0 to {MAX_EXTENT_M:g}"
        raise BoardSpecError(msg)
    cols, rows = grid
    if board.kind is BoardKind.CHARUCO and board.legacy is None:
        board = dataclasses.replace(board, legacy=False)  # a printed board has one layout
    if len(tilts) != cols * rows:
        msg = f"{len(tilts)} tilts for {cols * rows} boards"
        raise BoardSpecError(msg)
    w, h = board.size_m
    half = np.array([w / 2, h / 2, 0.0])
    rvecs, tvecs = [], []
    for k, (axis, deg) in enumerate(tilts):
        i, j = k % cols, k // cols
        cell_centre = np.array([(i + 0.5) * (w + spacing_m), (j + 0.5) * (h + spacing_m), 0.0])
        rvec = rotation_about(axis, deg)
        rvecs.append(rvec)
        tvecs.append(cell_centre - cv2.Rodrigues(rvec)[0] @ half)
    return ArraySpec(board, grid, np.array(rvecs), np.array(tvecs))


@dataclass(frozen=True)
class ArrayFiles:
    """Paths written by :func:`write_array`."""

    boards: tuple[BoardFiles, ...]
    spec: Path


def write_array(
    array: ArraySpec, stem: str | Path, *, dpi: float = 300.0, margin_m: float = 0.01
) -> ArrayFiles:
    """``STEM_bK.png/.svg/.json`` per board (each a printable sheet with its id range in the
    margin) and ``STEM.json``, the array spec."""
    stem = Path(stem)
    files = tuple(
        write_board(
            array.board_spec(b), stem.with_name(f"{stem.name}_b{b}"), dpi=dpi, margin_m=margin_m
        )
        for b in range(array.n_boards)
    )
    spec = stem.with_suffix(".json")
    array.save(spec)
    return ArrayFiles(files, spec)
