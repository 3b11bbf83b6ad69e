"""Many-seed batch runs: exact failure-rate bounds, seed ranges, worker-count independence,
the series kept for the report, and the JSON keys of ``adas scenarios --seeds``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import beta, binom, poisson

from adas.cli import main
from adas.scenarios import parse_seeds, run_batch
from adas.scenarios.batch import SERIES_KEPT, SeriesFilter, format_seeds
from adas.scenarios.metrics import summarize
from adas.scenarios.report_families import family_of
from adas.scenarios.suites import FAST_SUBSET
from adas.stats import binomial_upper, poisson_rate_upper

# ---- bounds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 10, 59, 210, 6300])
def test_clopper_pearson_with_no_failures(n: int) -> None:
    assert binomial_upper(0, n) == pytest.approx(1.0 - 0.025 ** (1.0 / n), rel=1e-12)


def test_clopper_pearson_exact_values() -> None:
    ub = binomial_upper(1, 10)
    assert ub == pytest.approx(beta.ppf(0.975, 2, 9), rel=1e-12)
    assert ub == pytest.approx(0.4450, abs=5e-5)  # the tabulated exact interval of 1/10
    # Defining property: at the bound, k or fewer failures have probability 2.5 %.
    for k, n in ((1, 10), (3, 50), (7, 1995)):
        p = binomial_upper(k, n)
        assert p is not None and binom.cdf(k, n, p) == pytest.approx(0.025, rel=1e-9)
    assert binomial_upper(4, 4) == 1.0
    assert binomial_upper(0, 0) is None
    with pytest.raises(ValueError, match="need 0 <= k <= n"):
        binomial_upper(3, 2)


def test_poisson_upper_bound_exact_values() -> None:
    for hours in (0.5, 2.0, 57.3):
        assert poisson_rate_upper(0, hours) == pytest.approx(-math.log(0.025) / hours, rel=1e-12)
    assert poisson_rate_upper(1, 1.0) == pytest.approx(5.5716, abs=5e-5)  # tabulated
    for k, hours in ((1, 1.0), (4, 3.5), (20, 100.0)):
        rate = poisson_rate_upper(k, hours)
        assert rate is not None and poisson.cdf(k, rate * hours) == pytest.approx(0.025, rel=1e-9)
    assert poisson_rate_upper(3, 0.0) is None
    with pytest.raises(ValueError):
        poisson_rate_upper(-1, 1.0)


def _row(sid: str, passed: bool = True, *, fw: int = 0, fb: int = 0, hit: bool = False,
         duration_s: float = 10.0) -> dict[str, Any]:  # fmt: skip
    return {
        "suite": sid.split("/")[0], "scenario": sid, "params": {}, "passed": passed,
        "failures": [] if passed else ["x"], "collided": hit, "false_warnings": fw,
        "false_brakes": fb, "duration_s": duration_s, "impact_speed_kmh": 0.0,
    }  # fmt: skip


def test_summary_rates_per_hour_and_bounds() -> None:
    rows = [_row("false-reaction/a", duration_s=1800.0) for _ in range(3)]
    rows += [_row("false-reaction/a", False, fw=2, fb=1, duration_s=1800.0)]
    rows += [_row("ncap/b", False, hit=True, duration_s=36.0), _row("ncap/b", duration_s=36.0)]
    s = summarize(rows)
    a = s["scenarios"][0]
    assert (a["trials"], a["failed"], a["false_warnings"], a["trials_with_false_warning"]) == (
        4, 1, 2, 1,
    )  # fmt: skip
    assert (a["false_brakes"], a["trials_with_false_brake"], a["hours"]) == (1, 1, 2.0)
    assert (a["false_warnings_per_hour"], a["false_brakes_per_hour"]) == (1.0, 0.5)
    assert a["false_warnings_per_hour_upper95"] == pytest.approx(poisson_rate_upper(2, 2.0))
    assert a["false_brake_trial_rate_upper95"] == pytest.approx(binomial_upper(1, 4), abs=1e-6)
    assert a["collision_rate_upper95"] == pytest.approx(1.0 - 0.025**0.25, abs=1e-6)
    b = s["suites"]["ncap"]
    assert (b["collisions"], b["hours"], b["false_warnings_per_hour"]) == (1, 0.02, 0.0)
    assert b["failure_rate_upper95"] == pytest.approx(binomial_upper(1, 2), abs=1e-6)
    assert b["false_brakes_per_hour_upper95"] == pytest.approx(-math.log(0.025) / 0.02, abs=1e-4)


# ---- seeds -----------------------------------------------------------------------------------


def test_parse_seeds() -> None:
    assert parse_seeds("0-29") == list(range(30))
    assert parse_seeds("100-129")[::29] == [100, 129]
    assert parse_seeds("7") == [7] and parse_seeds(" 3 - 4 ") == [3, 4]
    assert parse_seeds("5-5") == [5]
    with pytest.raises(ValueError, match="ends"):
        parse_seeds("5-3")
    for bad in ("", "a-b", "-1", "1-2-3", "1,2", "0-", "1.5"):
        with pytest.raises(ValueError, match="expected a range"):
            parse_seeds(bad)
    assert format_seeds([0, 1, 2]) == "0-2" and format_seeds([4]) == "4"
    assert format_seeds([1, 3]) == "1, 3"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "5-3"], "ends (3) before it starts (5)"),
        (["--seeds", "zero-9"], "expected a range"),
        (["--seeds", "0-20000"], "--seeds count"),
        (["--workers", "0"], "--workers 0"),
        (["--box-error-time", "0"], "--box-error-time 0: allowed range is [0.01, 3600]"),
        (["--box-error-time", "nan"], "--box-error-time nan: allowed range"),
        (["--sensor", "ideal", "--box-error-time", "2"], "the ideal sensor has no slow box error"),
    ],
)
def test_bad_seeds_or_workers_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenarios", "--fast", *argv]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_seed_and_seeds_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        main(["scenarios", "--seed", "1", "--seeds", "0-3"])


# ---- runs ------------------------------------------------------------------------------------

FEW = ["ncap/ccrs-10-o50", "false-reaction/gantry"]


def test_two_workers_give_the_results_of_one() -> None:
    """The real chain in 2 processes and in this one: identical results, in the same order."""
    runs = [
        run_batch("all", seeds=[0, 1], scenario_ids=FEW, workers=w, keep_series=True)
        for w in (1, 2)
    ]
    one, two = (json.dumps(r, sort_keys=True) for r in runs)  # NaN-safe comparison
    assert one == two
    order = [(r["scenario"], r["seed"], r["trial"]) for r in runs[0]["results"]]
    assert order == [(s, seed, 0) for s in FEW for seed in (0, 1)]
    assert runs[0]["passed"] == 4  # both pass on seeds 0 and 1 (tuned there)
    kept = [(r["scenario"], r["seed"]) for r in runs[1]["results"] if "series" in r]
    assert kept == [(s, 0) for s in FEW]  # one passing trial per scenario: its first


def test_series_kept_for_failures_and_the_first_pass_in_any_arrival_order() -> None:
    passes = [True, False, True, True, False, True]
    results = {i: _row("nhtsa/x", ok) | {"series": {"t": [0.0]}} for i, ok in enumerate(passes)}
    done: dict[int, Any] = {}
    keep = SeriesFilter()
    for i in (5, 3, 4, 2, 0, 1):  # as a pool might deliver them
        done[i] = results[i]
        keep(i, results[i], done)
    assert [i for i in range(6) if "series" in done[i]] == [0, 1, 4]


SERIES = {
    "t": [0.0, 0.1], "range": [10.0, 9.0], "ttc": [5.0, 4.5], "est_range": [math.nan, 9.1],
    "est_ttc": [math.inf, 4.4], "request": [0.0, 0.0], "decel": [0.0, 0.0], "level": [0, 2],
}  # fmt: skip


def _fake_run(calls: list[dict[str, Any]]) -> Any:
    def run(scn: Any, trial: int, seed: int, config: Any, *, keep_series: bool = False,
            **kw: Any) -> dict[str, Any]:  # fmt: skip
        calls.append(kw)
        ok = not (scn.id == "nhtsa/lvs" and seed == 2)
        out = _row(scn.id, ok, fw=int(not ok)) | {"trial": trial, "seed": seed}
        return out | ({"series": SERIES} if keep_series else {})

    return run


def test_box_error_time_reaches_the_simulated_sensor_and_the_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--box-error-time`` replaces the simulator's assumed correlation time of the measured
    sensor's slow box error (2 s) in every trial, and every run records the time it used."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("adas.scenarios.batch.run_scenario", _fake_run(calls))
    out = tmp_path / "s.json"
    argv = ["scenarios", "--fast", "--seed", "1", "--workers", "1", "--json", str(out)]
    assert main([*argv, "--box-error-time", "8"]) == 0
    d = json.loads(out.read_text())
    assert (d["sensor"], d["box_error_time_s"]) == ("measured", 8.0)
    assert len(calls) == len(FAST_SUBSET)
    assert {c["sensor"].slow_tau_s for c in calls} == {8.0}
    assert {Path(c["sensor"].file.path).name for c in calls} == {"yolox_nano.json"}
    assert main(argv) == 0
    assert json.loads(out.read_text())["box_error_time_s"] == 2.0
    assert main([*argv, "--sensor", "ideal"]) == 0
    assert json.loads(out.read_text())["box_error_time_s"] is None


def test_cli_json_keys_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("adas.scenarios.batch.run_scenario", _fake_run(calls))
    out, page = tmp_path / "s.json", tmp_path / "s.html"
    argv = ["scenarios", "--fast", "--seeds", "1-3", "--trials", "2", "--workers", "1"]
    assert main([*argv, "--json", str(out), "--report", str(page)]) == 1  # lvs fails on seed 2
    d = json.loads(out.read_text())
    assert {"suite", "trials", "seed", "passed", "failed", "summary", "results"} <= set(d)
    assert (d["seeds"], d["seed"], d["trials"], d["series_kept"]) == ([1, 2, 3], 1, 2, SERIES_KEPT)
    assert d["statistics"]["confidence"] == 0.95
    n = len(FAST_SUBSET)
    assert (d["passed"], d["failed"]) == (n * 6 - 2, 2)
    new = {
        "trials_with_false_warning", "trials_with_false_brake", "hours",
        "false_warnings_per_hour", "false_brakes_per_hour", "failure_rate_upper95",
        "collision_rate_upper95", "false_warning_trial_rate_upper95",
        "false_brake_trial_rate_upper95", "false_warnings_per_hour_upper95",
        "false_brakes_per_hour_upper95",
    }  # fmt: skip
    for row in [*d["summary"]["suites"].values(), *d["summary"]["scenarios"]]:
        assert new <= set(row) and {"passed", "collisions", "false_warnings"} <= set(row)
    lvs = d["summary"]["scenarios"][0]
    assert (lvs["scenario"], lvs["trials"], lvs["failed"], lvs["false_warnings"]) == (
        "nhtsa/lvs", 6, 2, 2,
    )  # fmt: skip
    assert lvs["failure_rate_upper95"] == pytest.approx(binomial_upper(2, 6), abs=1e-6)
    assert all("series" not in r for r in d["results"])
    html = page.read_text()
    assert f"kept only for the {SERIES_KEPT}" in html and "Failure statistics" in html
    # lvs's 2 failed trials, one pass for each other, and one plot per family (its protocol test)
    families = {(sid.split("/")[0], family_of(sid, {})) for sid in FAST_SUBSET}
    assert html.count("<svg") == 2 + n - 1 + len(families)
    assert "seeds 1-3 (3 seeds)" in html
    assert "nhtsa/lvs" in capsys.readouterr().out
    assert calls and all(kw == {"sensor": "measured"} for kw in calls)  # the default sensor
    assert d["sensor"] == "measured"


def test_scenario_kwargs_reach_every_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("adas.scenarios.batch.run_scenario", _fake_run(calls))
    res = run_batch("nhtsa", seeds=[0, 1], trials=3, scenario_kwargs={"sensor": "ideal"})
    assert len(res["results"]) == len(calls) == 3 * 2 * 3
    assert all(kw == {"sensor": "ideal"} for kw in calls)
    with pytest.raises(ValueError, match="workers"):
        run_batch("nhtsa", workers=0)
    with pytest.raises(ValueError, match="unknown scenario ids"):
        run_batch("all", scenario_ids=["nhtsa/nope"])
