"""Run scenario suites with the simulator's pinhole and fisheye cameras and compare decisions.

SYNOPSIS
  $ PYTHONPATH=. python tools/fisheye_decisions.py --suite all --workers 2 --json out.json
  pinhole passed 217/244, fisheye-narrow passed 217/244; decisions agree on 244/244 trials
  (times within 0.2 s), outcomes on 241; warning time |diff| max 0.2 s, median 0.0 s over 179;
  brake time |diff| max 0.134 s, median 0.0 s over 177
  pinhole passed 217/244, fisheye passed 221/244; decisions agree on 231/244 trials (times
  within 0.2 s), outcomes on 235; ...

All runs use the same seeds, so each trial's detector noise draws are the same. Two fisheyes
(:func:`adas.scenarios.camera_sim.sim_camera` with ``Lens.FISHEYE``), both with the pinhole's
focal length at the centre: 'fisheye-narrow' on 1094 x 680 px sees the pinhole's field of
view (the lens model alone differs), 'fisheye' on 1920 x 1080 sees ~150 deg diagonal (it also
sees more to the sides). The comparison rule is
:func:`adas.scenarios.camera_compare.compare_decisions`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Decision times agree within 0.2 s = 6 camera frames (30 fps): the control stage acts on a
# danger level held 2 (warning) or 3 (brake) frames, and the two cameras see the same object
# at slightly different box sizes, so a level's onset may move by a persistence window either
# way (2 x 3 frames).
TIME_TOL_S = 0.2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", default="all", help="scenario suite (adas scenarios --suite)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--sensor", default="measured", help="ideal or measured")
    ap.add_argument("--json", type=Path, default=None, help="write the comparison here")
    args = ap.parse_args()

    from adas.camera import Lens
    from adas.config import load_config
    from adas.scenarios import run_batch
    from adas.scenarios.camera_compare import compare_decisions
    from adas.scenarios.camera_sim import sim_camera

    cfg = load_config()
    runs, seconds = {}, {}
    cams = {
        "pinhole": None,
        "fisheye-narrow": sim_camera(cfg.mount, Lens.FISHEYE, wide=False),
        "fisheye": sim_camera(cfg.mount, Lens.FISHEYE),
    }
    for name, cam in cams.items():
        t0 = time.perf_counter()
        runs[name] = run_batch(
            args.suite, seeds=[args.seed], trials=args.trials, config=cfg, workers=args.workers,
            scenario_kwargs={"sensor": args.sensor, "camera": cam},
        )  # fmt: skip
        seconds[name] = round(time.perf_counter() - t0, 1)
    base = runs["pinhole"]["results"]
    comparisons = {
        name: compare_decisions(base, runs[name]["results"], time_tol_s=TIME_TOL_S)
        for name in ("fisheye-narrow", "fisheye")
    }
    out = {
        "suite": args.suite, "seed": args.seed, "trials": args.trials, "sensor": args.sensor,
        "passed": {k: f"{r['passed']}/{r['passed'] + r['failed']}" for k, r in runs.items()},
        "seconds": seconds, "comparisons": comparisons,
    }  # fmt: skip
    for name, cmp in comparisons.items():
        t = cmp["times"]
        print(
            f"pinhole passed {out['passed']['pinhole']}, {name} passed {out['passed'][name]}; "
            f"decisions agree on {cmp['agree']}/{cmp['trials']} trials (times within "
            f"{TIME_TOL_S} s), outcomes on {cmp['same_outcome']}; warning time |diff| max "
            f"{t['warn']['max_abs_s']} s, median "
            f"{t['warn']['median_abs_s']} s over {t['warn']['both']}; brake time |diff| max "
            f"{t['brake']['max_abs_s']} s, median {t['brake']['median_abs_s']} s over "
            f"{t['brake']['both']}"
        )
    text = json.dumps(out, indent=1)
    if args.json is not None:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
