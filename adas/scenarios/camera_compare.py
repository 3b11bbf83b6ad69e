"""The decisions of two simulated cameras on the same scenario trials, compared.

A trial's decisions are whether the chain warned and whether it braked, and the times of the
first warning and brake; its outcome is whether the ego collided and whether the trial passed
its protocol. Two runs agree on a trial's decisions when both flags match and each time both
runs have differs by at most ``time_tol_s``; outcomes are counted apart, because a trial on the
edge (a stop 1 mm short of the target) flips its outcome with a brake one frame later. Used to
show that a fisheye camera drives the chain as the pinhole does (``tools/fisheye_decisions.py``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["DECISION_FLAGS", "DECISION_TIMES", "OUTCOME_FLAGS", "compare_decisions"]

DECISION_TIMES = {"warn": "warning_time_s", "brake": "first_brake_time_s"}
DECISION_FLAGS = ("warned", "braked")
OUTCOME_FLAGS = ("collided", "passed")
# Decision times are whole camera frames (1/30 s) apart, so a difference equal to the tolerance
# may come out a few ulp above it: 1 ns of slack.
_TIME_SLACK_S = 1e-9


def _flags(r: dict[str, Any]) -> dict[str, bool]:
    return {
        "warned": r["warning_time_s"] is not None,
        "braked": r["first_brake_time_s"] is not None,
        "collided": bool(r["collided"]),
        "passed": bool(r["passed"]),
    }


def _key(r: dict[str, Any]) -> tuple[str, int, int]:
    return (str(r["scenario"]), int(r["seed"]), int(r["trial"]))


def compare_decisions(
    a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], *, time_tol_s: float
) -> dict[str, Any]:
    """Per-trial agreement of result rows ``a`` and ``b`` (``run_scenario`` dicts of the same
    scenario, seed and trial; ValueError if the two runs hold different trials).

    Returns the counts (``trials``, ``agree``: same decisions, ``same_outcome``, per flag the
    trials that match), per decision time the trials both have, the largest and median absolute
    difference (s) and how many exceed ``time_tol_s``, and the rows that differ in decisions
    (``disagree``) or only in outcome (``outcome_only``): scenario, seed, trial, what differs.
    """
    by_key = {_key(r): r for r in b}
    keys = [_key(r) for r in a]
    if sorted(keys) != sorted(by_key):
        msg = "the two runs hold different trials (scenario, seed, trial)"
        raise ValueError(msg)
    flag_match = dict.fromkeys((*DECISION_FLAGS, *OUTCOME_FLAGS), 0)
    diffs: dict[str, list[float]] = {name: [] for name in DECISION_TIMES}
    disagree, outcome_only = [], []
    for ra in a:
        rb = by_key[_key(ra)]
        fa, fb = _flags(ra), _flags(rb)
        for name in flag_match:
            flag_match[name] += fa[name] == fb[name]
        why = [name for name in DECISION_FLAGS if fa[name] != fb[name]]
        for name, field in DECISION_TIMES.items():
            ta, tb = ra[field], rb[field]
            if ta is not None and tb is not None:
                d = abs(float(ta) - float(tb))
                diffs[name].append(d)
                if d > time_tol_s + _TIME_SLACK_S:
                    why.append(f"{name} time {ta} vs {tb} s")
        outcome = [name for name in OUTCOME_FLAGS if fa[name] != fb[name]]
        row = {"scenario": ra["scenario"], "seed": ra["seed"], "trial": ra["trial"]}
        if why:
            disagree.append(row | {"differs": why + outcome})
        elif outcome:
            outcome_only.append(row | {"differs": outcome})
    times = {
        name: {
            "both": len(gaps),
            "max_abs_s": round(max(gaps), 4) if gaps else None,
            "median_abs_s": round(statistics.median(gaps), 4) if gaps else None,
            "beyond_tolerance": sum(x > time_tol_s + _TIME_SLACK_S for x in gaps),
        }
        for name, gaps in diffs.items()
    }
    same_outcome = (
        len(keys)
        - len(outcome_only)
        - sum(any(f in d["differs"] for f in OUTCOME_FLAGS) for d in disagree)
    )
    return {
        "trials": len(keys), "agree": len(keys) - len(disagree), "same_outcome": same_outcome,
        "time_tol_s": time_tol_s, "flags_match": flag_match, "times": times,
        "disagree": disagree, "outcome_only": outcome_only,
    }  # fmt: skip
