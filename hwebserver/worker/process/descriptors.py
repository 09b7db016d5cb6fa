"""A worker that runs short of file descriptors stops accepting, and starts again by itself.

What the event loop does alone is worse. On EMFILE/ENFILE, libuv (under uvloop) accepts every
pending connection and closes it at once, silently: clients that another worker, or this one a
second later, could have served are cut, and nothing is logged. When that trick fails (another
thread took the spare descriptor, or the whole system is out of them), uvloop closes the
listening socket for good, silently too.

So the worker keeps a reserve: once the descriptors in use come within RESERVE of the soft
RLIMIT_NOFILE, it closes its listening handles (on a duplicate of each socket, so it can serve
them again); waiting clients stay in the kernel's backlog, for another worker or for later,
and the connections already open keep descriptors for their files and uploads. It serves again
once enough connections closed (or none is left to wait for). Counting the descriptors reads
/proc/self/fd, which costs in proportion to their number: it is done when the accepts since the
last count could have used the headroom up, every RECOUNT_TICKS seconds, and while paused.

Idle keep-alive connections would hold the descriptors for as long as KEEPALIVE_TIMEOUT (hours,
behind some proxies): while it is short and clients wait in a backlog, the worker closes its
oldest idle keep-alive connections, enough to admit them (as nginx reuses its idle keep-alive
connections when it runs out). HTTP lets a server close an idle connection at any time; its
client opens another when it needs one. How many were closed is logged once per interval.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable

from ..common.logs import REPORT_INTERVAL, OncePerInterval

MIN_RESERVE = 8
MAX_RESERVE = 256
RESERVE_FRACTION = 16  # of the limit, between the two bounds above
RECOUNT_TICKS = 10  # descriptors opened by other means than accepts (files) are seen this late
_PROC_FDS = "/proc/self/fd"


def descriptor_limit() -> int | None:
    """The soft RLIMIT_NOFILE, read each time (`prlimit --pid` may change it); None: no limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def reserve_for(limit: int) -> int:
    return max(MIN_RESERVE, min(MAX_RESERVE, limit // RESERVE_FRACTION))


def descriptors_in_use(limit: int) -> int | None:
    """How many descriptors this process holds; `limit` when it cannot open one more to count
    them (that is the answer); None where /proc is not there to ask."""
    try:
        return len(os.listdir(_PROC_FDS)) - 1  # listdir's own descriptor
    except FileNotFoundError:
        return None
    except OSError:
        return limit  # EMFILE or ENFILE


class DescriptorGuard:
    """Decides when the worker pauses and resumes accepting; WorkerServer does both.

    `pause()` returns False when it could not pause (it tries again at the next check);
    `report(message, *args)` writes a warning and `report_recovery` an info line.
    """

    def __init__(
        self,
        connections: Callable[[], int],
        pause: Callable[[], bool],
        resume: Callable[[], None],
        report: Callable[..., None],
        report_recovery: Callable[..., None],
        schedule: Callable[[Callable[[], None]], object],
        clock: Callable[[], float],
        waiting: Callable[[], int] = lambda: 0,
        close_idle: Callable[[int], int] = lambda count: 0,
    ) -> None:
        self.connections = connections
        self.waiting = waiting  # clients waiting in the listeners' backlogs
        self.close_idle = close_idle  # closes up to N oldest idle keep-alive connections
        self.closed_unreported = 0
        self.reclaim_reports = OncePerInterval(REPORT_INTERVAL)
        self.pause = pause
        self.resume = resume
        self.report = report
        self.report_recovery = report_recovery
        self.schedule = schedule  # loop.call_soon
        self.clock = clock
        # Accepts left before the next count: the protocol factory counts them down.
        self.headroom = 0
        self.paused = False
        self.paused_since = 0.0
        self.pause_reported = False
        self.unreported_pauses = 0
        self.check_pending = False
        self.ticks_since_count = 0
        self.stopped = False
        self.reports = OncePerInterval(REPORT_INTERVAL)

    def stop(self) -> None:
        """Draining or closed: accepting is over for good."""
        self.stopped = True

    def resume_failed(self) -> None:
        self.paused = True

    def accepted(self) -> None:
        """Called for each accepted connection (from the protocol factory): cheap."""
        self.headroom -= 1
        if self.headroom <= 0 and not self.check_pending:
            # The loop accepts a whole batch before it runs anything else: decide right after.
            self.check_pending = True
            self.schedule(self.check)

    def tick(self) -> None:
        """Once a second, from the worker clock."""
        if self.stopped:
            return
        self.ticks_since_count += 1
        # Paused, or short and not paused (no descriptor to pause with): look every second.
        if self.paused or self.headroom <= 0 or self.ticks_since_count >= RECOUNT_TICKS:
            self.check()
        elif self.unreported_pauses and self.reports.allow(self.clock()):
            # Short pauses whose lines were held back: said once their interval is over.
            again, self.unreported_pauses = self.unreported_pauses, 0
            self.report_recovery(
                "worker %d: paused accepting %d more times, briefly, for lack of file "
                "descriptors since the last report; accepting now",
                os.getpid(),
                again,
            )

    def check(self) -> None:
        self.check_pending = False
        if self.stopped:
            return
        self.ticks_since_count = 0
        limit = descriptor_limit()
        in_use = None if limit is None else descriptors_in_use(limit)
        if limit is None or in_use is None:
            self.headroom = 1 << 30  # nothing to guard against, or no way to tell
            if self.paused:
                self._resume(in_use or 0, limit or 0)
            return
        reserve = reserve_for(limit)
        self.headroom = limit - reserve - in_use
        if self.headroom <= 0:
            self._make_room(in_use, limit, reserve)
        if not self.paused:
            if self.headroom <= 0 and self.connections() > 0:
                self._pause(in_use, limit)
        elif in_use < limit - reserve - max(1, reserve // 2) or self.connections() == 0:
            self._resume(in_use, limit)
        elif self.reports.allow(self.clock()):
            self.report(
                "worker %d: still not accepting new connections: %d of %d file descriptors "
                "in use, %d connections open, for %.0fs",
                os.getpid(),
                in_use,
                limit,
                self.connections(),
                self.clock() - self.paused_since,
            )

    def _make_room(self, in_use: int, limit: int, reserve: int) -> None:
        """Short of descriptors with clients waiting: close enough of the oldest idle
        keep-alive connections to resume accepting and admit them. Their descriptors are
        counted free at the next count, not now: a close may complete later in the loop, and
        accepting into a full table would have libuv cut every waiting client."""
        waiting = self.waiting()
        if waiting <= 0:
            return
        resume_below = limit - reserve - max(1, reserve // 2)
        wanted = in_use - resume_below + 1 + min(waiting, reserve)
        closed = self.close_idle(wanted)
        if closed <= 0:
            return
        self.closed_unreported += closed
        if self.reclaim_reports.allow(self.clock()):
            closed_now, self.closed_unreported = self.closed_unreported, 0
            self.report(
                "worker %d: %d of %d file descriptors in use with %d client(s) waiting: "
                "closed %d idle keep-alive connection(s), the oldest, to admit them",
                os.getpid(),
                in_use,
                limit,
                waiting,
                closed_now,
            )

    def _pause(self, in_use: int, limit: int) -> None:
        if not self.pause():
            if self.reports.allow(self.clock()):
                self.report(
                    "worker %d: %d of %d file descriptors in use and none left to stop "
                    "accepting with: new connections are cut until some close",
                    os.getpid(),
                    in_use,
                    limit,
                )
            return
        self.paused = True
        self.paused_since = self.clock()
        self.pause_reported = self.reports.allow(self.paused_since)
        if not self.pause_reported:
            self.unreported_pauses += 1
        else:
            again, self.unreported_pauses = self.unreported_pauses, 0
            self.report(
                "worker %d: %d of %d file descriptors in use (RLIMIT_NOFILE): not accepting "
                "new connections until some of its %d close%s",
                os.getpid(),
                in_use,
                limit,
                self.connections(),
                f"; it paused {again} more times since the last report" if again else "",
            )

    def _resume(self, in_use: int, limit: int) -> None:
        self.paused = False
        self.resume()
        now = self.clock()
        # A reported pause gets its end reported; pauses that went unreported (several within
        # REPORT_INTERVAL) are counted in the next line allowed.
        if not self.pause_reported and not (self.unreported_pauses and self.reports.allow(now)):
            return
        again, self.unreported_pauses = self.unreported_pauses, 0
        self.report_recovery(
            "worker %d: accepting new connections again after %.1fs (%d of %d file "
            "descriptors in use)%s",
            os.getpid(),
            now - self.paused_since,
            in_use,
            limit,
            f"; it paused {again} more times since the last report" if again else "",
        )
