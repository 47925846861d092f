"""Keep freed image buffers in the process instead of handing them back to the OS after every frame.

Each erase allocates and frees a few dozen crop-sized arrays (0.2-3 MB each). Once MediaPipe's face mesh
is loaded, glibc serves such blocks with fresh ``mmap`` pages or trims them off the heap when they are
freed, so every frame faults about 3,000 zeroed pages back in: about 5 ms of a 20 ms erase on the 2-core
benchmark machine (``benchmarks/bench_erase.py``). Fixed thresholds keep those blocks on the heap and
reuse them; peak memory does not change, the process just keeps what it peaked at.

This is a process-wide setting, so the library never applies it on import: the ``facecanvas`` CLI and
the benchmarks call ``keep_freed_memory()`` once at start-up, and a program using the API may too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling; bigger blocks (whole 4K float frames) still use mmap
TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds (Linux only); returns whether they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
