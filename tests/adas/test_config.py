"""Configuration: shipped defaults load, overrides merge, bad values are named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from adas.config import DEFAULT_CONFIG_PATH, load_config
from adas.errors import ConfigError


def test_defaults_load_and_every_key_is_documented() -> None:
    cfg = load_config()
    assert cfg.mount.height_m == 1.65
    assert cfg.tracker.min_hits == 3
    assert cfg.distance.road_grade_sigma_deg == 1.0
    # Every key line in the shipped file carries a comment with its reason or source, on the
    # line itself or in the comment block above it.
    lines = DEFAULT_CONFIG_PATH.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            above = lines[i - 1].strip() if i else ""
            assert "#" in line or above.startswith("#"), line


def test_override_merges_and_converts_degrees(tmp_path: Path) -> None:
    p = tmp_path / "car.toml"
    p.write_text("[mount]\nheight_m = 1.32\npitch_deg = 2.0\n[tracker]\nmin_hits = 2\n")
    cfg = load_config(p)
    assert cfg.mount.height_m == 1.32
    assert cfg.mount.pitch_rad == pytest.approx(math.radians(2.0))
    assert cfg.tracker.min_hits == 2
    assert cfg.distance.max_distance_m == 250.0  # untouched default


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[mount]\nheight_m = -1.0\n", r"mount\.height_m"),
        ("[mount]\npitch_deg = 'down'\n", r"mount\.pitch_deg"),
        ("[distance]\nedge_sigma_px = nan\n", r"distance\.edge_sigma_px"),
        ("[distance]\nmax_distance_m = 1e9\n", r"distance\.max_distance_m"),
        ("[tracker]\nmin_hits = true\n", r"tracker\.min_hits"),
        ("[tracker]\nno_such_key = 1\n", r"unknown keys \['no_such_key'\]"),
        ("[radar]\nx = 1\n", r"unknown sections \['radar'\]"),
        ("[distance\n", "not valid TOML"),
        ("[mount]\nbehind_bumper_m = 1.8\n", r"motion\.camera_behind_bumper_m"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_shipped_file_equals_the_dataclass_defaults() -> None:
    """The evaluation and benchmarks build stages from dataclass defaults; the runtime reads
    default.toml. They must be the same numbers, or the figures would not be the product's."""
    from adas.camera import Mount
    from adas.distance import DistanceConfig
    from adas.motion import MotionConfig
    from adas.track import TrackerConfig

    cfg = load_config()
    assert cfg.mount == Mount()
    assert cfg.tracker == TrackerConfig()
    assert cfg.distance == DistanceConfig()
    assert cfg.motion == MotionConfig()


def test_mount_errors_name_the_keys_a_user_writes(tmp_path: Path) -> None:
    """The file takes angles in degrees: errors list and name the _deg keys, ranges in degrees."""
    p = tmp_path / "c.toml"
    p.write_text("[mount]\npitch = 2.0\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    text = str(err.value)
    assert "'pitch'" in text and "pitch_deg" in text and "roll_deg" in text and "_rad" not in text
    p.write_text("[mount]\npitch_deg = 30.0\n")
    with pytest.raises(ConfigError, match=r"mount\.pitch_deg = 30\.0 .*\[-20\.05, 20\.05\] deg"):
        load_config(p)
    p.write_text("[mount]\nyaw_deg = -5\n")
    assert load_config(p).mount.yaw_rad == pytest.approx(math.radians(-5.0))


def test_a_loaded_config_is_kept_until_its_file_changes(tmp_path: Path) -> None:
    import os

    user = tmp_path / "user.toml"
    user.write_text("[replay]\nfov_deg = 50.0\n")
    first = load_config(user)
    assert first.replay.fov_deg == 50.0 and load_config(user) is first  # parsed once
    user.write_text("[replay]\nfov_deg = 70.0\n")
    st = user.stat()
    os.utime(user, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # an edit, later
    assert load_config(user).replay.fov_deg == 70.0
    assert load_config() is load_config()
