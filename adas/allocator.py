"""Keep freed frame buffers in the process instead of handing them back to the kernel.

A replay allocates a few arrays of megabytes per frame (the decoded BGR picture: 2.8 MB at
1280 x 720, the model's input tensor, the resized tiles) and frees them a frame later.
glibc's malloc serves blocks above its mmap threshold with ``mmap`` and returns freed memory
at the top of the heap with ``brk`` once it exceeds the trim threshold. Both thresholds adapt,
but not to this pattern: every frame's buffers come back from the kernel as fresh pages, and
each page costs a fault and zeroing on first touch. Measured on the shared clip (1280 x 720
H.264, 38 frames, a 2-CPU machine): decoding to BGR alone took 465 page faults and about
1.5 ms of CPU per frame more than FFmpeg's decoding without the conversion; with the two
thresholds fixed above any frame buffer, 0 faults and the conversion costs 0.1 ms.

:func:`keep_freed_memory` fixes them (``mallopt``, glibc's documented interface): blocks up to
:data:`MMAP_THRESHOLD` come from the heap, and the heap is trimmed only past
:data:`TRIM_THRESHOLD`. The process then keeps up to that much freed memory for its next
frames; its peak resident memory is unchanged. The values: a 4K BGR frame is 24.9 MB, the
largest buffer a frame allocates; 64 MB leaves room for its copies, and trimming above
256 MB still gives memory back after a burst (a long pre-roll ring released).

Called by the processes that handle frames: ``adas replay`` (each drive, also in the fleet's
worker processes), ``adas run`` and ``adas bench``. A no-op, returning False, where the C library
is not glibc (macOS, musl) or ``ADAS_KEEP_FREED_MEMORY=0`` is set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 64 << 20  # bytes: blocks up to this come from the heap (module docstring)
TRIM_THRESHOLD = 256 << 20  # bytes of free heap top kept before trimming
ENV_SWITCH = "ADAS_KEEP_FREED_MEMORY"

_lock = threading.Lock()
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process (module docstring); whether they are set."""
    global _done
    with _lock:
        if _done is None:
            _done = _apply()
        return _done


def _apply() -> bool:
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        log.info("%s=0: malloc's thresholds left as they are", ENV_SWITCH)
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
        gnu_get_libc_version = libc.gnu_get_libc_version  # glibc only
    except (OSError, AttributeError):
        log.debug("no glibc: malloc's thresholds left as they are")
        return False
    gnu_get_libc_version.restype = ctypes.c_char_p
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    log.debug("glibc %s: mmap threshold %d, trim threshold %d: %s",
              gnu_get_libc_version().decode(), MMAP_THRESHOLD, TRIM_THRESHOLD, ok)  # fmt: skip
    return ok
