"""adas-calibrate must not pretend to succeed while it has no commands."""

from __future__ import annotations

import pytest

from calibration.cli import main


def test_reports_not_implemented(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "no calibration commands are implemented yet" in capsys.readouterr().err
