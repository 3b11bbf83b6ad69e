"""Closed-loop validation on regulatory test scenarios (``adas scenarios``).

``run_suite("ncap", trials=7)`` simulates every scenario of a suite with the real chain and
returns ``{"passed", "failed", "summary", "results"}``; ``write_json`` and ``write_report``
store it (the HTML needs ``run_suite(..., keep_series=True)``). ``run_batch`` runs the suites
over many seeds in worker processes, with exact upper bounds on the failure rates.
"""

from adas.scenarios.batch import parse_seeds, run_batch
from adas.scenarios.metrics import summarize
from adas.scenarios.report import write_json, write_report
from adas.scenarios.scenario import Criteria, Scenario
from adas.scenarios.suites import (
    FAST_SUBSET,
    SUITES,
    evaluate,
    run_scenario,
    run_suite,
    scenarios,
)

__all__ = [
    "FAST_SUBSET",
    "SUITES",
    "Criteria",
    "Scenario",
    "evaluate",
    "parse_seeds",
    "run_batch",
    "run_scenario",
    "run_suite",
    "scenarios",
    "summarize",
    "write_json",
    "write_report",
]
