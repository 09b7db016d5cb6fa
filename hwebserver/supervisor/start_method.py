"""START_METHOD: whether the supervisor forks its first workers or spawns every worker.

"fork" (the default): generation 0 and its replacements are forked from the supervisor after
the script's imports, and share what the script built before run() (copy-on-write); reloads
always spawn. "spawn": no worker is ever forked; each runs the service's command line anew
(supervisor/spawn.py), so a module-level os.getpid() is the worker's own. A process that
imported `hou` (hython) has native threads (TBB pools, Qt) that a fork does not copy: a child
can deadlock on a lock one of them held, so with hou imported spawn is chosen unless the
settings say otherwise.
"""

from __future__ import annotations

import sys

from ..worker.common.logs import ServerLog

FORK = "fork"
SPAWN = "spawn"


def native_threads_module() -> str | None:
    """A module imported in this process whose native threads make a fork unsafe."""
    return "hou" if "hou" in sys.modules else None


def resolve(given: str | None, log: ServerLog) -> str:
    """The start method to use: the one given, else spawn when hou is imported, else fork."""
    module = native_threads_module()
    if given is None:
        if module is None:
            return FORK
        log.startup(
            "START_METHOD spawn: %s is imported, and a fork of a process whose native "
            "libraries run threads can deadlock; every worker runs the command line anew "
            "(set START_METHOD to choose)",
            module,
        )
        return SPAWN
    if given == FORK and module is not None:
        log.warning(
            "START_METHOD fork with %s imported: a forked worker can deadlock on a lock one "
            "of its native threads held; 'spawn' avoids it",
            module,
        )
    return given
