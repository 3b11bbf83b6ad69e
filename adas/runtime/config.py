"""``[runtime]``: the timing of the real-time loop of ``adas run``.

A leaf of the runtime package (it imports only :mod:`adas.params`), so :mod:`adas.config`
reads it without importing the runtime's sources and sinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from adas.params import param, validate


@dataclass(frozen=True)
class RuntimeConfig:
    """``[runtime]``: timing of the real-time loop. Sources in data/config/default.toml."""

    watchdog_period_s: float = param(0.2, lo=0.02, hi=5.0, unit="s")
    max_frame_age_s: float = param(0.1, lo=0.005, hi=5.0, unit="s")
    frame_deadline_s: float = param(0.15, lo=0.005, hi=5.0, unit="s")
    status_period_s: float = param(1.0, lo=0.05, hi=60.0, unit="s")
    reconnect_backoff_s: float = param(0.5, lo=0.01, hi=60.0, unit="s")

    def __post_init__(self) -> None:
        validate(self, "runtime")

    @property
    def tick_s(self) -> float:
        """The main loop's longest wait: half a watchdog period, so a stall is seen in time."""
        return 0.5 * self.watchdog_period_s
