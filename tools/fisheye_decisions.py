"""Run scenario suites with the simulator's pinhole and fisheye cameras and compare decisions.

SYNOPSIS
  $ PYTHONPATH=. python tools/fisheye_decisions.py --suite all --workers 2 --json out.json
  pinhole passed 240/244, fisheye passed 240/244; decisions agree on 243/244 trials ...

Both runs use the same seeds, so each trial's detector noise draws are the same; the fisheye is
:func:`adas.scenarios.camera_sim.sim_camera` with ``Lens.FISHEYE`` (the pinhole's focal length
at the centre of a ~150 deg diagonal 1920 x 1080 lens). The comparison rule is
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
    for name, cam in (("pinhole", None), ("fisheye", sim_camera(cfg.mount, Lens.FISHEYE))):
        t0 = time.perf_counter()
        runs[name] = run_batch(
            args.suite, seeds=[args.seed], trials=args.trials, config=cfg, workers=args.workers,
            scenario_kwargs={"sensor": args.sensor, "camera": cam},
        )  # fmt: skip
        seconds[name] = round(time.perf_counter() - t0, 1)
    cmp = compare_decisions(
        runs["pinhole"]["results"], runs["fisheye"]["results"], time_tol_s=TIME_TOL_S
    )
    out = {
        "suite": args.suite, "seed": args.seed, "trials": args.trials, "sensor": args.sensor,
        "passed": {k: f"{r['passed']}/{r['passed'] + r['failed']}" for k, r in runs.items()},
        "seconds": seconds, "comparison": cmp,
    }  # fmt: skip
    t = cmp["times"]
    print(
        f"pinhole passed {out['passed']['pinhole']}, fisheye passed {out['passed']['fisheye']}; "
        f"decisions agree on {cmp['agree']}/{cmp['trials']} trials (times within {TIME_TOL_S} s);"
        f" warning time |diff| max {t['warn']['max_abs_s']} s median {t['warn']['median_abs_s']}"
        f" s over {t['warn']['both']}; brake time |diff| max {t['brake']['max_abs_s']} s median "
        f"{t['brake']['median_abs_s']} s over {t['brake']['both']}"
    )
    text = json.dumps(out, indent=1)
    if args.json is not None:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
