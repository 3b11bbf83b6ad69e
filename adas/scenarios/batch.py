"""Many-seed runs of the scenario suites in worker processes (``adas scenarios --seeds A-B``).

Every chosen scenario runs ``trials`` times for each seed; the per-trial noise seed stays
(seed, trial, scenario id) as in :func:`adas.scenarios.suites.run_scenario`, so a seed range is
just several seeds and any trial can be re-run alone. The results come back in one order
(scenario, then seed, then trial) whatever the number of workers, so two runs with different
``workers`` give identical output. With thousands of trials the time series of every trial
would not fit a report: only those of failed trials and of the first passing trial of each
scenario are kept (:data:`SERIES_KEPT`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from adas.scenarios.metrics import STATISTICS, summarize
from adas.scenarios.sensing import chain_box_noise, resolve_sensor
from adas.scenarios.suites import Scenario, choose_scenarios, run_scenario

if TYPE_CHECKING:
    from adas.config import AdasConfig

__all__ = ["SERIES_KEPT", "SeriesFilter", "format_seeds", "parse_seeds", "run_batch"]

SERIES_KEPT = "failed trials and the first passing trial of each scenario"
_SEEDS = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")

# One scenario trial: (index into the chosen scenarios, seed, trial).
Job = tuple[int, int, int]


def parse_seeds(text: str) -> list[int]:
    """The seeds of ``"A-B"`` (A to B inclusive) or ``"A"``; non-negative integers, B >= A."""
    m = _SEEDS.fullmatch(text)
    if m is None:
        msg = f"seeds {text!r}: expected a range A-B of non-negative integers (e.g. 0-29) or one"
        raise ValueError(msg)
    first = int(m[1])
    last = int(m[2]) if m[2] is not None else first
    if last < first:
        msg = f"seeds {text!r}: the range ends ({last}) before it starts ({first})"
        raise ValueError(msg)
    return list(range(first, last + 1))


def format_seeds(seeds: Sequence[int]) -> str:
    """``"A-B"`` for a contiguous range, ``"A"`` for one seed, else the list."""
    s = list(seeds)
    if len(s) == 1:
        return str(s[0])
    if s == list(range(s[0], s[0] + len(s))):
        return f"{s[0]}-{s[-1]}"
    return ", ".join(map(str, s))


# ---- the worker side: state set once per process, then small jobs --------------------------

_STATE: dict[str, Any] = {}


def _init_worker(
    chosen: list[Scenario], config: AdasConfig, keep_series: bool, kwargs: dict[str, Any]
) -> None:
    """Pool initializer: what every job of this run shares, sent once per worker process."""
    _STATE.update(chosen=chosen, config=config, keep_series=keep_series, kwargs=kwargs)


def _run_job(job: Job) -> dict[str, Any]:
    index, seed, trial = job
    scn = _STATE["chosen"][index]
    keep = _STATE["keep_series"]
    return run_scenario(scn, trial, seed, _STATE["config"], keep_series=keep, **_STATE["kwargs"])


class SeriesFilter:
    """Keeps the time series of failed trials and of the first passing trial (in job order) of
    each scenario; drops the others as results arrive, in whatever order they arrive."""

    def __init__(self) -> None:
        self.first_pass: dict[str, int] = {}  # scenario id -> job index of its kept pass

    def __call__(self, index: int, result: dict[str, Any], done: dict[int, Any]) -> None:
        """``result`` of job ``index`` has arrived; ``done`` holds the results so far by job
        index (a later pass kept until now loses its series there)."""
        if "series" not in result or not result["passed"]:
            return
        sid = result["scenario"]
        kept = self.first_pass.get(sid)
        if kept is not None and kept < index:
            del result["series"]
            return
        if kept is not None:
            del done[kept]["series"]
        self.first_pass[sid] = index


def run_batch(
    suite: str = "all", *, seeds: Sequence[int] = (0,), trials: int = 1,
    config: AdasConfig | None = None, scenario_ids: Sequence[str] | None = None,
    workers: int = 1, keep_series: bool = False, scenario_kwargs: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run each scenario of ``suite`` ``trials`` times for every seed in ``workers`` processes.

    Returns ``run_suite``'s keys (``suite``, ``trials``, ``seed`` = the first seed, ``passed``,
    ``failed``, ``summary``, ``results``) plus ``seeds`` and ``statistics`` (how the bounds of
    the summary are computed); with ``keep_series`` also ``series_kept``. ``scenario_kwargs``
    go to every :func:`run_scenario` call as keywords; ``progress(done, total)`` is called
    after each trial.
    """
    from adas.config import load_config

    seeds = list(seeds)
    if trials < 1:
        msg = f"trials = {trials}: must be at least 1"
        raise ValueError(msg)
    if not seeds or min(seeds) < 0:
        msg = f"seeds {seeds}: need at least one, none negative"
        raise ValueError(msg)
    if workers < 1:
        msg = f"workers = {workers}: must be at least 1"
        raise ValueError(msg)
    cfg = config if config is not None else load_config()
    chosen = choose_scenarios(suite, scenario_ids)
    kwargs = dict(scenario_kwargs or {})
    jobs: list[Job] = [
        (i, seed, trial) for i in range(len(chosen)) for seed in seeds for trial in range(trials)
    ]
    done: dict[int, dict[str, Any]] = {}
    keep = SeriesFilter()

    def collect(index: int, result: dict[str, Any]) -> None:
        done[index] = result
        keep(index, result, done)
        if progress is not None:
            progress(len(done), len(jobs))

    workers = min(workers, len(jobs))
    if workers == 1:
        _init_worker(chosen, cfg, keep_series, kwargs)
        for index, job in enumerate(jobs):
            collect(index, _run_job(job))
    else:
        _run_pool(jobs, workers, (chosen, cfg, keep_series, kwargs), collect)
    results = [done[i] for i in range(len(jobs))]
    noise = chain_box_noise(resolve_sensor(kwargs.get("sensor", "measured")))
    n_pass = sum(bool(r["passed"]) for r in results)
    out: dict[str, Any] = {
        "suite": suite, "trials": trials, "seed": seeds[0], "seeds": seeds, "passed": n_pass,
        "failed": len(results) - n_pass, "statistics": dict(STATISTICS),
        "chain_box_noise_px": list(noise),
        "summary": summarize(results),
    }  # fmt: skip
    if keep_series:
        out["series_kept"] = SERIES_KEPT
    out["results"] = results
    return out


def _run_pool(
    jobs: list[Job], workers: int, shared: tuple[Any, ...],
    collect: Callable[[int, dict[str, Any]], None],
) -> None:  # fmt: skip
    """The jobs in a process pool, each result handed to ``collect`` as it completes; on an
    error (or Ctrl-C) the jobs not yet started are cancelled and the error raised."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=shared) as pool:
        futures = {pool.submit(_run_job, job): i for i, job in enumerate(jobs)}
        try:
            for fut in as_completed(futures):
                collect(futures[fut], fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
