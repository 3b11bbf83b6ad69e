"""Frame-to-frame jitter of a detector's boxes on real video, for the scenario simulator.

SYNOPSIS
    ADAS_DATA_DIR=../shared/data python tools/box_jitter.py video/udacity/test_video.mp4 --fps 25
    -> {"tracks": 2, "edges": 8, "sigma_rel_median": 0.0186, "lag1_median": 0.59, ...}

Runs the shipped pipeline (detector and tracker) on a clip; for every track seen in at least
``--min-frames`` frames, never on the image border and at least ``--min-height`` px tall, it
fits a quadratic in time to each box edge and takes the residuals divided by the box height:
their robust spread (1.4826 MAD) is the fast part of the detector's edge error (the part a
smooth motion does not explain), their lag-1 correlation its time scale. The simulator's
``MeasuredSensor.fast_share`` and ``fast_tau_s`` come from this (docs/sensor-simulation.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", help="clip, relative to ADAS_DATA_DIR or absolute")
    ap.add_argument("--fps", type=float, required=True, help="frame rate of the clip")
    ap.add_argument("--min-frames", type=int, default=10)
    ap.add_argument("--min-height", type=float, default=20.0, help="px")
    args = ap.parse_args(argv)

    import cv2
    import numpy as np

    from adas import app
    from adas.config import load_config
    from adas.types import EgoState, Frame, PixelFormat

    path = Path(os.environ.get("ADAS_DATA_DIR", ".")) / args.video
    cfg = load_config()
    cap = cv2.VideoCapture(str(path))
    tracks: dict[int, list[list[float]]] = defaultdict(list)
    pipe, width, k = None, 0, 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if pipe is None:
            width = image.shape[1]
            cam = app.fov_camera(width, image.shape[0], cfg.replay.fov_deg, cfg)
            pipe = app.pipeline(cfg, cam)
        t_ns = round(k * 1e9 / args.fps)
        res = pipe.process(Frame(image, PixelFormat.BGR8, t_ns, k), EgoState(t_ns=t_ns))
        tr = res.tracks
        for i in range(len(tr.track_id)):
            if tr.time_since_update[i] == 0:
                tracks[int(tr.track_id[i])].append([k / args.fps, *map(float, tr.xyxy[i])])
        k += 1
    if k == 0:
        print(f"no frames read from {path}", file=sys.stderr)
        return 1
    sigmas, lags, used = [], [], 0
    for rows in tracks.values():
        a = np.array(rows)
        if len(a) < args.min_frames:
            continue
        t, h = a[:, 0], a[:, 4] - a[:, 2]
        if h.min() < args.min_height or (a[:, 1] <= 1).any() or (a[:, 3] >= width - 2).any():
            continue
        used += 1
        for e in range(4):
            r = (a[:, 1 + e] - np.polyval(np.polyfit(t, a[:, 1 + e], 2), t)) / h
            sigmas.append(1.4826 * float(np.median(np.abs(r - np.median(r)))))
            lags.append(float(np.corrcoef(r[1:], r[:-1])[0, 1]))
    out = {
        "video": args.video, "frames": k, "tracks": used, "edges": len(sigmas),
        "sigma_rel_median": round(float(np.median(sigmas)), 4) if sigmas else None,
        "lag1_median": round(float(np.median(lags)), 3) if lags else None,
        "sigma_rel": [round(s, 4) for s in sigmas], "lag1": [round(v, 3) for v in lags],
    }  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
