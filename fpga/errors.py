"""Errors of the FPGA package: the board path (``fpga.driver``) and the C simulation.

The board errors derive from :class:`FpgaError`, which the FPGA preprocessing backend
(``fpga.backend``) catches to fall back to the CPU golden model; the C-simulation errors
(building and running the kernel with g++) are plain ``RuntimeError`` subclasses, since no
backend falls back from them.
"""

from __future__ import annotations

from adas.errors import AdasError, ContractError

# --- the board (PYNQ driver) ----------------------------------------------------------------


class FpgaError(AdasError, RuntimeError):
    """The FPGA path failed: no board, a register map mismatch, or the kernel misbehaved."""


class FpgaUnavailableError(FpgaError):
    """No usable board: pynq missing, no bitfile, overlay load failed, or IP not in it."""


class RegisterMapError(FpgaError):
    """The bitstream's register map differs from the layout this driver writes."""


class KernelBusyError(FpgaError):
    """The kernel did not report ap_idle within the timeout, so it cannot be started."""


class KernelTimeoutError(FpgaError):
    """A started kernel did not report ap_done within the timeout."""


class KernelFaultError(FpgaError):
    """The device reported an error while the kernel was configured, started or polled."""


class FrameError(FpgaError, ContractError):
    """The frame does not match the plan's format and size."""


class PipelineFullError(ContractError):
    """``submit`` with every output buffer still holding an uncollected result."""


# --- the C simulation (g++) -----------------------------------------------------------------


class CompilerMissingError(RuntimeError):
    """No C++ compiler: the C simulation needs g++ (or ``$CXX``) on the PATH."""


class KernelBuildError(RuntimeError):
    """The compiler rejected the kernel or testbench source."""


class KernelError(RuntimeError):
    """The kernel (or testbench) refused the configuration or failed."""
