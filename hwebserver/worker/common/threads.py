"""The handler threads: where plain handlers, API functions and WSGI apps run, never on the loop.

A thread hop costs more than a whole small request, so the hop is kept lean instead of avoided.
With the GIL, what costs is not the work but waking threads that then wait for the GIL held by
the loop, and waking the loop for each result. So:
- calls made during one turn of the loop are handed over together at its end, and one thread
  is woken for them: it runs them back to back while the loop waits for I/O (a thread woken
  mid-turn would only wait for the GIL, two context switches for nothing);
- calls must not wait behind a long one while threads sleep: if calls are still queued after
  NUDGE_DELAY, the loop wakes as many sleeping threads as there are calls waiting;
- results come back through a deque, with one loop wake-up for however many calls finished
  since the loop last looked; no future per call, one tuple each way, and no lock: the deque
  is thread-safe, and a flag set before the loop looks says whether a wake-up is on its way.
- no `with lock:` on the way of a call (a with statement costs twice an explicit acquire and
  release, and every request pays it).

Calls start in the order they were made (FIFO); at most `size` run at once, and those beyond
wait their turn, never refused. Threads start when first needed and are daemons: a handler
that never returns cannot stop the worker process from exiting.

How long calls wait is known without a clock read per call or per hand-over: the loop counts
the calls it hands over, threads count the calls they take, and once a second (sample()) the
worker's clock notes how many had been handed over by then. The oldest queued call is the first
one past the count taken; it was handed over before the first sample that counts it, so it has
waited at least since then (backlog(): a second's resolution, never more than the true wait).
What each thread runs is kept in its own slot, so a saturated pool can say which handlers hold
it (busy()).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...api.internal.tracebacks import contained

# What a finished call hands back: its context, whether it returned, and its value (the result,
# or the exception it raised).
Done = Callable[[Any, bool, Any], None]
Call = tuple[Callable[[Any], Any], Any, Done, Any]

# Seconds a queued call may wait for a thread already awake before sleeping ones are woken.
NUDGE_DELAY = 0.001


@dataclass(frozen=True)
class BusyThread:
    """A handler thread in a call: its name, its thread id (for its stack), and the call."""

    name: str
    ident: int
    function: Callable[[Any], Any]
    argument: Any


class HandlerThreads:
    """A fixed-size pool of threads, fed and drained by one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, name: str) -> None:
        self.loop = loop
        self.size = max(1, size)
        self.name = name
        self._made: list[Call] = []  # during this turn of the loop, not yet handed over
        self._mutex = threading.Lock()  # guards _queue against _sleeping
        self._queue: deque[Call] = deque()
        self._sleeping: list[threading.Lock] = []  # each sleeping thread waits on its lock
        self._finished: deque[tuple[Done, Any, bool, Any]] = deque()
        self._wake_pending = False  # a _deliver() is scheduled and has not begun to look
        self._nudge_armed = False
        self._threads = 0
        self._closed = False
        self._handed = 0  # calls handed over to the threads so far
        self._taken = 0  # calls the threads took so far (counted under _mutex)
        # Samples (calls handed over by then, the loop's time), oldest first: sample().
        self._marks: deque[tuple[int, float]] = deque()
        self._running: list[Call | None] = []  # by thread index: the call it runs
        self._idents: dict[int, int] = {}  # thread index: its thread id, once started

    def call(self, function: Callable[[Any], Any], argument: Any, done: Done, context: Any) -> None:
        """Run `function(argument)` on a handler thread; `done(context, ok, value)` is then
        called on the loop. Only from the loop's thread."""
        made = self._made
        made.append((function, argument, done, context))
        if len(made) == 1:
            self.loop.call_soon(self._hand_over)

    def run(self, function: Callable[[Any], Any], argument: Any) -> asyncio.Future[Any]:
        """`function(argument)` on a handler thread, as a future of the loop (for coroutines)."""
        future = self.loop.create_future()
        self.call(function, argument, _settle, future)
        return future

    def sample(self) -> None:
        """Note how many calls were handed over by now; the worker's clock calls it each
        second. Samples that count only calls already taken are dropped."""
        self._prune()
        marks = self._marks
        if not marks or marks[-1][0] != self._handed:
            marks.append((self._handed, self.loop.time()))

    def backlog(self) -> tuple[int, float]:
        """(calls waiting for a thread, seconds the oldest of them has waited at least). On
        the loop."""
        taken = self._prune()
        queued = self._handed - taken
        marks = self._marks
        if queued <= 0 or not marks:  # none, or handed over since the last sample
            return max(0, queued), 0.0
        return queued, max(0.0, self.loop.time() - marks[0][1])

    def _prune(self) -> int:
        """Drop the samples whose calls were all taken; the count taken."""
        taken = self._taken
        marks = self._marks
        while marks and marks[0][0] <= taken:
            marks.popleft()
        return taken

    def busy(self) -> list[BusyThread]:
        """The threads in a call now, and their calls."""
        busy = []
        for index, call in enumerate(list(self._running)):
            if call is not None and index in self._idents:
                name = f"{self.name}-{index}"
                busy.append(BusyThread(name, self._idents[index], call[0], call[1]))
        return busy

    def close(self) -> None:
        """Threads end after their current call; calls still queued are dropped."""
        self._closed = True
        with self._mutex:
            self._taken += len(self._queue)
            self._queue.clear()
            sleeping, self._sleeping = self._sleeping, []
        for wake in sleeping:
            wake.release()

    # -- on the loop ------------------------------------------------------------------------
    def _hand_over(self) -> None:
        """At the end of the loop's turn: queue what it made, wake one thread if none is up."""
        made, self._made = self._made, []
        mutex = self._mutex
        mutex.acquire()
        try:
            self._queue.extend(made)
            wake = self._sleeping.pop() if self._sleeping else None
            waiting = len(self._queue)
        finally:
            mutex.release()
        self._handed += len(made)
        if wake is not None:
            wake.release()
        elif self._threads < self.size:
            self._start_thread()
        if waiting > 1 and not self._nudge_armed:
            self._nudge_armed = True
            self.loop.call_later(NUDGE_DELAY, self._nudge)

    def _nudge(self) -> None:
        """Calls still queued: the threads awake are busy with long ones; wake more."""
        self._nudge_armed = False
        with self._mutex:
            waiting = len(self._queue)
            woken = self._sleeping[-waiting:] if waiting else []
            del self._sleeping[len(self._sleeping) - len(woken) :]
        for wake in woken:
            wake.release()
        started = max(0, min(waiting - len(woken), self.size - self._threads))
        for _ in range(started):
            self._start_thread()
        if woken or started:  # look again; with every thread busy, each takes the next call
            self._nudge_armed = True
            self.loop.call_later(NUDGE_DELAY, self._nudge)

    def _deliver(self) -> None:
        # Cleared before looking: a result reported from now on may not be counted below, so
        # its thread wakes the loop again (_report). Only those counted are delivered now: the
        # loop's other work does not wait behind threads that keep finishing calls.
        self._wake_pending = False
        finished = self._finished
        for _ in range(len(finished)):
            done, context, ok, value = finished.popleft()
            done(context, ok, value)

    # -- in the threads ---------------------------------------------------------------------
    def _start_thread(self) -> None:
        index = self._threads
        self._threads += 1
        self._running.append(None)
        name = f"{self.name}-{index}"
        threading.Thread(target=self._serve, args=(index,), name=name, daemon=True).start()

    def _serve(self, index: int) -> None:
        wake = threading.Lock()
        wake.acquire()
        queue = self._queue
        mutex = self._mutex
        running = self._running
        self._idents[index] = threading.get_ident()
        while not self._closed:
            mutex.acquire()
            try:
                if queue:
                    item: Call | None = queue.popleft()
                    self._taken += 1
                else:
                    item = None
                    self._sleeping.append(wake)
            finally:
                mutex.release()
            if item is None:
                wake.acquire()  # until the loop hands over calls (or closes)
                continue
            function, argument, done, context = item
            running[index] = item
            try:
                value = function(argument)
                ok = True
            except Exception as exc:
                value = exc
                ok = False
            except BaseException as exc:  # SystemExit in a handler: its caller gets an error,
                value = contained(exc)  # the loop is not asked to exit
                ok = False
            running[index] = None
            del item, function, argument  # the request is not kept alive by an idle thread
            self._report(done, context, ok, value)
            del done, context, value

    def _report(self, done: Done, context: Any, ok: bool, value: Any) -> None:
        self._finished.append((done, context, ok, value))
        # Seen set, the loop has yet to clear it and look: it will find this result too.
        # Both threads may find it clear and wake the loop: the second wake-up finds nothing.
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: the worker is going away
            pass


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled meanwhile (its awaiting coroutine went away)
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
