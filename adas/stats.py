"""Exact upper bounds on rates: Clopper-Pearson for a share of trials, chi-square for events
per unit of exposure. One implementation for the scenario statistics (adas.scenarios.metrics)
and the sensor-model measurement (adas.evaluate.sensor_stats).
"""

from __future__ import annotations

__all__ = ["CONFIDENCE", "binomial_upper", "poisson_rate_upper"]

# Confidence of the reported bounds: each is the upper end of the two-sided 95 % interval
# (so a one-sided 97.5 % bound), the convention of Clopper & Pearson (1934) and of the
# "rule of three" family (0 failures in n trials: 1 - 0.025**(1/n), about 3.7 / n).
CONFIDENCE = 0.95


def binomial_upper(k: int, n: int, confidence: float = CONFIDENCE) -> float | None:
    """Clopper-Pearson upper bound on a probability after ``k`` events in ``n`` trials: the
    upper end of the exact two-sided ``confidence`` interval, Beta(1 - a/2; k + 1, n - k) with
    a = 1 - confidence (1 when k = n). None without trials."""
    if not (0 <= k <= n) or not 0.0 < confidence < 1.0:
        msg = f"binomial bound of k={k} in n={n} at confidence {confidence}: need 0 <= k <= n"
        raise ValueError(msg)
    if n == 0:
        return None
    if k == n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(1.0 - 0.5 * (1.0 - confidence), k + 1, n - k))


def poisson_rate_upper(k: int, exposure: float, confidence: float = CONFIDENCE) -> float | None:
    """Exact upper bound on a Poisson rate after ``k`` events in ``exposure`` (e.g. hours; the
    rate is per that unit): chi2(1 - a/2; 2k + 2) / 2 / exposure with a = 1 - confidence, the
    upper end of the two-sided interval (0 events: -ln(a/2) / exposure). None without
    exposure."""
    if k < 0 or exposure < 0.0 or not 0.0 < confidence < 1.0:
        msg = f"Poisson bound of k={k} in {exposure} at confidence {confidence}: need k, T >= 0"
        raise ValueError(msg)
    if exposure == 0.0:
        return None
    from scipy.stats import chi2

    return float(chi2.ppf(1.0 - 0.5 * (1.0 - confidence), 2 * k + 2) / 2.0 / exposure)
