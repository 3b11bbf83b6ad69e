"""adas.sources.bag on damaged recordings: cut and unfinished bags are salvaged up to the
damage, a cut sqlite3 bag is refused, a storage error ends the pass cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import ReaderError

from adas.sources.bag import BagError, BagSource
from adas.sources.source import Skip
from tests.adas.sources._bags import (
    PERIOD,
    T0,
    Msgs,
    drive,
    images,
    read_all,
    write_bag,
)

BIG = (300, 400, 3)  # 360 kB frames: writers close a chunk every ~3 frames (1 MiB threshold)


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_a_cut_bag_yields_the_frames_before_the_cut(tmp_path: Path, kind: str) -> None:
    frames = images(12, BIG)
    bag = write_bag(tmp_path / "b", kind, drive(Msgs(kind), frames))
    file = bag if kind == "ros1" else next(bag.glob("*.mcap"))
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * 0.6)])
    items, src = read_all(bag)
    assert 3 <= len(items) < 12
    for i, item in enumerate(items):
        assert item.frame.t_ns == T0 + i * PERIOD
        np.testing.assert_array_equal(item.frame.image, frames[i])
        assert item.camera_info is not None and item.ego.valid
    assert src.skipped == {Skip.TRUNCATED: 1}
    assert src.truncation is not None and "damaged or unfinished" in src.truncation


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_an_unfinished_recording_is_salvaged(tmp_path: Path, kind: str) -> None:
    frames = images(9, BIG)
    bag = write_bag(tmp_path / "b", kind, drive(Msgs(kind), frames), finish=False)
    if kind == "mcap":
        assert not (bag / "metadata.yaml").exists()  # the recorder never wrote it
    items, src = read_all(bag)
    assert 3 <= len(items) <= 9
    for i, item in enumerate(items):
        np.testing.assert_array_equal(item.frame.image, frames[i])
    assert src.skipped[Skip.TRUNCATED] == 1


def test_a_cut_sqlite3_bag_is_refused_clearly(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "b", "sqlite3", drive(Msgs("sqlite3"), images(6, BIG)))
    db = next(bag.glob("*.db3"))
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    with pytest.raises(BagError, match="cannot open bag"):
        BagSource(bag)


def test_a_storage_error_mid_iteration_ends_the_pass_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = images(6)
    bag = write_bag(tmp_path / "b", "mcap", drive(Msgs("mcap"), frames, info=False, ego=False))
    real = AnyReader.messages

    def failing(self: AnyReader, *args: Any, **kwargs: Any) -> Any:
        for n, message in enumerate(real(self, *args, **kwargs)):
            if n == 4:
                raise ReaderError("simulated damaged chunk")
            yield message

    monkeypatch.setattr(AnyReader, "messages", failing)
    items, src = read_all(bag)
    assert [it.frame.seq for it in items] == [0, 1, 2, 3]
    assert src.skipped == {Skip.TRUNCATED: 1}
    assert src.truncation is not None and "simulated damaged chunk" in src.truncation


def test_passes_repeat_and_a_closed_bag_refuses(tmp_path: Path) -> None:
    frames = images(3)
    bag = write_bag(tmp_path / "b", "ros1", drive(Msgs("ros1"), frames))
    src = BagSource(bag, camera_id="left")
    first = [it.frame.t_ns for it in src]
    second = list(src)
    assert first == [it.frame.t_ns for it in second]
    assert {it.frame.camera_id for it in second} == {"left"}
    src.close()
    src.close()
    with pytest.raises(BagError, match="closed"):
        list(src)
