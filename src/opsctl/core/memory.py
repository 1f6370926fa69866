"""Handing freed heap back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

glibc keeps memory that was freed below the top of its heaps: after a burst of
allocations (a poll of many devices, pysnmp compiling its MIB modules) a long-running
process would otherwise stay at its peak resident size for ever.
"""

from __future__ import annotations

_malloc_trim = None


def release_memory() -> None:
    """Return the heap's free pages to the OS (cheap: ~1 ms)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)
