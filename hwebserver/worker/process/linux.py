"""The few Linux process controls the process model relies on, through ctypes (no-ops elsewhere)."""

from __future__ import annotations

import ctypes
import functools
import os
import sys

PR_SET_PDEATHSIG = 1


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
