"""glibc's allocator, set for a process that allocates a few MB per frame on several threads.

Two costs pull against each other:
- Page faults. A buffer mmapped anew for each frame (glibc does so above its mmap threshold)
  is faulted in page by page: on this kind of VM ~2.7 us a 4 KB page, so decoding a 720p
  JPEG took 6.9 ms instead of 2.9, and a copy of a 720p frame 1.9 ms instead of 0.1
  (`benchmarks/detect.py`: ~10 ms of every HTTP detect). Buffers must be reused.
- Memory kept. Reused buffers live in glibc's arenas, one per busy thread up to 8 per
  core, and an arena gives memory back only when much lies free at its top: with ~25
  threads over 16 arenas, each kept what its busiest moment needed (the soak's RSS grew
  ~95 MB in 10 minutes, all of it free memory in the arenas).

So: every thread shares two arenas (their peaks overlap instead of adding up), buffers up
to 32 MB are kept in them and reused (no page faults per frame), and what lies free is
handed back every minute (`trim`), not on every free.

An operator's own MALLOC_* or GLIBC_TUNABLES settings win: nothing is changed then.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import Callable

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
ARENAS = 2
KEEP_BELOW = 32 * 1024 * 1024  # glibc's largest dynamic mmap threshold: a 4K BGR frame fits
TRIM_EVERY_S = 60.0


def tune_malloc() -> bool:
    """Set the allocator as the module docstring says; True when set. Called once by
    `serve` before any thread starts (never at import)."""
    own = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")
    if any(name in os.environ for name in own) or "malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = _libc_function("mallopt", (ctypes.c_int, ctypes.c_int))
    if mallopt is None:
        return False
    # the mmap threshold first: setting it turns the dynamic adjustment off for both
    return all(
        mallopt(param, value)
        for param, value in (
            (M_MMAP_THRESHOLD, KEEP_BELOW),
            (M_TRIM_THRESHOLD, 2 * KEEP_BELOW),
            (M_ARENA_MAX, ARENAS),
        )
    )


def trim() -> None:
    """Hand the arenas' free memory back to the system (blocking: ~1 ms; a worker thread)."""
    malloc_trim = _libc_function("malloc_trim", (ctypes.c_size_t,))
    if malloc_trim is not None:
        malloc_trim(0)


async def trim_periodically(every_s: float = TRIM_EVERY_S) -> None:
    """`trim` every `every_s` until cancelled: after a burst (uploads, a swap, many
    clients) the memory it took goes back within a minute."""
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(trim)


def _libc_function(name: str, argtypes: tuple[type, ...]) -> Callable[..., int] | None:
    """A glibc function, or None on another C library (musl has no mallopt)."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        function = getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError, ValueError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function


__all__ = ["trim", "trim_periodically", "tune_malloc"]
