"""Class persistence on unlabelled drives: how long a detector's minority class lasts on a track.

No labelled sequence we have is long enough to see a class flip come and go (the labelled
KITTI tracking frames are 3 images 0.5 s apart), so the temporal side of class confusion is
measured without labels: the product detector and tracker run over a recording, and along
each confirmed track the raw class of the associated detection is read frame by frame. The
track's *majority* class (most frames) stands in for the truth; every frame with another
class is a flip. The file records the switch rate (majority -> other, per observed frame
pair) and the mean length of the runs of other classes, in frames of the recording.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adas import app
from adas.config import AdasConfig, load_config
from adas.detect.detector import Detector
from adas.evaluate.sensor_stats import detected_name, upper95
from adas.track import Tracker

# A track needs this many frames with a detection before its majority class is trusted
# (at 25 fps: 0.4 s; the KITTI tracker's confirmation is 3 hits, this asks a little more so
# that one flip in a short track cannot be the majority).
MIN_TRACK_FRAMES = 10
# The unlabelled recordings we have, relative to $ADAS_DATA_DIR: a highway clip (25 fps) and
# a residential KITTI drive (10 fps, grey).
DEFAULT_RECORDINGS = ("video/udacity/test_video.mp4", "kitti/odometry/seq_1/image_l")


def class_runs(classes: Sequence[str]) -> tuple[int, int, list[int]]:
    """For one track's per-frame classes: (frame pairs observed, majority -> other switches,
    lengths of the runs of non-majority classes). Ties in the majority go to the class seen
    first."""
    if not classes:
        return 0, 0, []
    names = list(dict.fromkeys(classes))
    majority = max(names, key=lambda c: (classes.count(c), -names.index(c)))
    switches = sum(1 for a, b in itertools.pairwise(classes) if a == majority and b != majority)
    runs: list[int] = []
    run = 0
    for c in classes:
        if c != majority:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    if run:
        runs.append(run)
    return len(classes) - 1, switches, runs


def track_classes(path: Path, config: AdasConfig) -> tuple[dict[int, list[str]], int, float]:
    """Raw detection class per frame seen, per confirmed track id, of the recording at
    ``path`` (video or image folder); with the frame count and the frame rate [Hz]."""
    source = app.open_input(path, config)
    detector = Detector(config.detect)
    tracker = Tracker(config.tracker)
    per_track: dict[int, list[str]] = {}
    frames = 0
    t_first = t_last = 0
    with source:
        for item in source:
            if frames == 0:
                camera, _ = app.select_camera(item, config)
                detector.use_camera(camera)
                t_first = item.frame.t_ns
            t_last = item.frame.t_ns
            frames += 1
            dets = detector(item.frame)
            tracks = tracker.update(dets, item.frame.t_ns)
            for tid, row in zip(tracks.track_id, tracks.det_index, strict=True):
                if row >= 0:
                    per_track.setdefault(int(tid), []).append(
                        detected_name(int(dets.class_id[row]))
                    )
    rate = (frames - 1) / ((t_last - t_first) * 1e-9) if t_last > t_first else 0.0
    return per_track, frames, rate


def class_persistence(
    paths: Sequence[Path], config: AdasConfig | None = None, *, source_names: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``class_persistence`` section over the recordings ``paths``."""
    cfg = config or load_config()
    pairs = switches = tracks = frames_total = 0
    runs: list[int] = []
    rates = []
    flipped = 0
    for path in paths:
        per_track, frames, rate = track_classes(Path(path), cfg)
        frames_total += frames
        rates.append(round(rate, 2))
        for classes in per_track.values():
            if len(classes) < MIN_TRACK_FRAMES:
                continue
            n, s, r = class_runs(classes)
            tracks += 1
            pairs += n
            switches += s
            runs += r
            flipped += bool(r)
    names = list(source_names) or [str(p) for p in paths]
    return {
        "source": ", ".join(names),
        "frames": frames_total,
        "frame_rate_hz": rates,
        "min_track_frames": MIN_TRACK_FRAMES,
        "tracks": tracks,
        "tracks_with_a_flip": flipped,
        "frame_pairs": pairs,
        "switches": switches,
        "switch_rate_per_frame": round(switches / pairs, 4) if pairs else None,
        "switch_rate_upper95": None if pairs == 0 else round(upper95(switches, pairs) or 0, 4),
        "mean_run_frames": round(float(np.mean(runs)), 2) if runs else None,
        "runs_frames": runs,
    }
