"""Board specs, spec files and printable boards."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.boards import (
    BoardKind,
    BoardSpec,
    page_size_px,
    parse_grid,
    png_dpi,
    render_png,
    write_board,
)
from calibration.errors import BoardSpecError

CHARUCO = BoardSpec(BoardKind.CHARUCO, 7, 5, 0.03, 0.022, "DICT_5X5_100", legacy=False)
CHESS = BoardSpec(BoardKind.CHESSBOARD, 10, 7, 0.025)


@pytest.mark.parametrize(
    "spec", [CHARUCO, CHESS, BoardSpec(BoardKind.CHARUCO, 20, 20, 0.004, 0.0032)]
)
def test_spec_file_round_trip(spec: BoardSpec, tmp_path: Path) -> None:
    spec.save(tmp_path / "b.json")
    assert BoardSpec.load(tmp_path / "b.json") == spec


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"marker_m": 0.03}, "marker_m"),
        ({"squares_x": 1}, "squares_x"),
        ({"dictionary": "DICT_NOPE"}, "DICT_NOPE"),
        ({"square_m": -1.0}, "square_m"),
    ],
)
def test_invalid_spec_names_the_field(change: dict[str, object], field: str) -> None:
    d = CHARUCO.to_dict() | change
    with pytest.raises(BoardSpecError, match=field):
        BoardSpec.from_dict(d)


def test_unknown_key_and_small_dictionary_are_rejected() -> None:
    with pytest.raises(BoardSpecError, match="unknown board spec keys"):
        BoardSpec.from_dict(CHARUCO.to_dict() | {"sqaure_m": 0.03})
    with pytest.raises(BoardSpecError, match="has 50 markers"):
        BoardSpec(BoardKind.CHARUCO, 20, 20, 0.004, 0.0032, "DICT_4X4_50")


def test_parse_grid() -> None:
    assert parse_grid("9x6", "--chessboard") == (9, 6)
    with pytest.raises(BoardSpecError, match="--charuco"):
        parse_grid("9by6", "--charuco")


def test_png_at_300_dpi_has_the_exact_physical_size(tmp_path: Path) -> None:
    """210 x 150 mm board + 2 x 10 mm margin = 230 x 170 mm = 2716.5 x 2007.9 px at 300 dpi."""
    files = write_board(CHARUCO, tmp_path / "board", dpi=300, margin_m=0.01)
    image = cv2.imread(str(files.png), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (2008, 2717) == page_size_px(CHARUCO, 300, 0.01)[::-1]
    assert png_dpi(files.png.read_bytes()) == pytest.approx(300, abs=0.01)
    # a square is 0.03 m * 300 / 0.0254 = 354.3 px: measure the top-left black square
    margin = round(0.01 * 300 / 0.0254)
    row = image[margin + 100, :] < 128
    first_white = margin + int(np.argmin(row[margin:]))
    assert abs((first_white - margin) - 0.03 * 300 / 0.0254) <= 1.0
    assert BoardSpec.load(files.spec) == CHARUCO


def test_svg_is_in_millimetres_and_names_the_parameters(tmp_path: Path) -> None:
    files = write_board(CHARUCO, tmp_path / "board", dpi=300, margin_m=0.01)
    svg = files.svg.read_text()
    assert re.search(r'width="230\.0+mm" height="170\.0+mm"', svg)
    assert "DICT_5X5_100" in svg and "marker 22.000 mm" in svg
    # 18 black squares (35 - 17 markers) plus marker cells
    assert svg.count("<rect") > 18


def test_rendered_charuco_is_fully_detected() -> None:
    """Every inner corner of the printed board is found, with the modern layout."""
    image = render_png(CHARUCO, dpi=100, margin_m=0.01)
    detector = cv2.aruco.CharucoDetector(CHARUCO.charuco_board())
    _, ids, _, _ = detector.detectBoard(image)
    assert ids is not None and len(ids) == 6 * 4


def test_rendered_chessboard_is_found() -> None:
    image = render_png(CHESS, dpi=100, margin_m=0.02)
    found, _ = cv2.findChessboardCornersSB(image, CHESS.inner_corners)
    assert found
