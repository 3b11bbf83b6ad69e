"""The ``fpga`` preprocessing backend: the HLS kernel on a PYNQ board, else the golden model.

``adas.preprocess`` does not import this module: the package entry point
``fpga = "fpga.backend:FpgaBackend"`` in group ``adas.preprocess_backends`` (pyproject.toml)
registers :class:`FpgaBackend`, and ``adas.preprocess.plugin_factory`` loads it when backend
``fpga`` is first asked for. That keeps ``fpga`` above ``adas``'s preprocessing layer: it
builds on ``adas.preprocess_plan`` and ``adas.preprocess_cpu``, never the reverse.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from adas.preprocess_cpu import ReferenceBackend
from adas.preprocess_plan import Backend, Plan
from fpga import csim, driver
from fpga.errors import FpgaError

# The preprocess stage's logger, not this module's: the fallback warning belongs to the
# stage the operator configured, and log filters written for it keep catching it.
log = logging.getLogger("adas.preprocess")


class FpgaBackend:
    """The FPGA kernel through its PYNQ driver (``fpga.driver``), else the golden model.

    The board is opened with ``fpga.driver.open_board(plan)`` (bitfile from
    ``$ADAS_FPGA_BITFILE``). When that is impossible (pynq not installed, no bitfile or
    board, kernel not in the overlay) or the board faults while running (any
    ``fpga.errors.FpgaError``: timeout, kernel never idle, device error), this backend
    switches to ``ReferenceBackend`` for good — bit-identical by fpga/spec.md, only slower —
    and logs one warning naming the reason. ``active`` says which one runs: ``"fpga"`` or
    ``"reference (fallback: <reason>)"``; ``reason`` is the reason alone (None on the FPGA).
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._board: Backend | None = None
        self._fallback: ReferenceBackend | None = None
        self.reason: str | None = None
        try:
            # Through the module attribute, so a test can put an emulated board behind it.
            self._board = driver.open_board(plan)
        except FpgaError as exc:
            self._fall_back(str(exc))

    @staticmethod
    def cycle_report(plan: Plan, image: np.ndarray) -> dict[str, Any]:
        """What the kernel would cost per frame, without a board: ``fpga.csim.cycle_report``.

        ``adas bench preprocess`` reports it beside the CPU backends.
        """
        return csim.cycle_report(plan, image)

    @property
    def active(self) -> str:
        """``"fpga"`` while the board runs the frames, else the fallback and its reason."""
        return "fpga" if self.reason is None else f"reference (fallback: {self.reason})"

    def _fall_back(self, reason: str) -> None:
        self.reason = reason
        board, self._board = self._board, None
        close = getattr(board, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:  # a faulted board may fail to free its buffers too
                log.debug("closing the faulted FPGA board failed: %s", exc)
        self._fallback = ReferenceBackend(self.plan)
        log.warning(
            "preprocess backend 'fpga' runs on the CPU reference backend instead "
            "(bit-identical, slower): %s",
            reason,
        )

    def run(self, image: np.ndarray, out: np.ndarray) -> None:
        if self._board is not None:
            try:
                self._board.run(image, out)
                return
            except FpgaError as exc:
                self._fall_back(f"FPGA fault: {exc}")
        assert self._fallback is not None
        self._fallback.run(image, out)
