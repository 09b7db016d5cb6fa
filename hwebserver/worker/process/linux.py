"""The few Linux process controls the process model relies on, through ctypes (no-ops elsewhere)."""

from __future__ import annotations

import ctypes
import functools
import os
import sys

PR_SET_PDEATHSIG = 1
# glibc's mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Allocations of at least this size get a mapping of their own, returned whole when freed.
LARGE_ALLOCATION = 1 << 20
# Free memory at the top of a heap is returned to the system only past this much.
KEPT_FREE_HEAP = 8 << 20


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def set_parent_death_signal(signum: int) -> bool:
    """Have the kernel send `signum` to this process when its parent dies (even by SIGKILL).

    Returns False where that is not available; callers also watch the control pipe for EOF.
    """
    libc = _libc()
    if libc is None:
        return False
    return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0


def orphaned(expected_parent: int) -> bool:
    """True when the parent already died before the death signal was armed."""
    return os.getppid() != expected_parent


def keep_chunk_buffers_in_heap() -> bool:
    """Let the bytes a large body moves through reuse freed heap memory (glibc only).

    Every segment the loop reads (up to 256 KiB) is a new bytes object, and so is the body
    part the HTTP parser gives: a few such buffers are alive at once, then freed. With glibc's
    default, adaptive thresholds, freeing them leaves more free memory at the heap's top than
    it keeps (twice the largest freed chunk), so the top is given back to the kernel and the
    next segment faults every page in again: a 1 GiB upload cost some 400,000 page faults and
    twice nginx's CPU. Fixed thresholds keep up to KEPT_FREE_HEAP at the top, and still give
    allocations from LARGE_ALLOCATION up their own mapping, returned when freed, so a large
    response body does not stay in the worker's RSS. A deployment that tunes malloc itself
    (MALLOC_*_ environment variables, GLIBC_TUNABLES) keeps its own settings.

    Returns True when the thresholds were set.
    """
    if any(name.startswith("MALLOC_") for name in os.environ) or "GLIBC_TUNABLES" in os.environ:
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:  # not glibc (musl has its own allocator), or not Linux
        return False
    # Both, in this order: setting either one turns glibc's adaptive thresholds off.
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION)) and bool(
        mallopt(M_TRIM_THRESHOLD, KEPT_FREE_HEAP)
    )
