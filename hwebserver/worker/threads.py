"""The handler threads: where plain handlers, API functions and WSGI apps run, never on the loop.

A thread hop costs more than a whole small request, so the hop is kept lean instead of avoided:
- calls go to the threads through one `queue.SimpleQueue` (C, FIFO: calls start in the order
  they were made, and those beyond `size` wait their turn, never refused); no
  `concurrent.futures.Future` and no asyncio future per call;
- results come back through a deque, and the loop is woken once for however many calls
  finished since it last looked (one `call_soon_threadsafe` a batch, not one a call);
- each result is handed to the callback the caller gave, with a context of its choosing
  (a request), so a call allocates one tuple each way.

At most `size` calls run at once; threads start when calls need them, and are daemons: a
handler that never returns cannot stop the worker process from exiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

# What a finished call hands back: its context, whether it returned, and its value (the result,
# or the exception it raised).
Done = Callable[[Any, bool, Any], None]

_STOP = None


class HandlerThreads:
    """A fixed-size pool of threads, fed and drained by one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, name: str) -> None:
        self.loop = loop
        self.size = max(1, size)
        self.name = name
        self.in_use = 0  # calls made and not yet reported back (read on the loop only)
        self._calls: SimpleQueue[tuple[Callable[[Any], Any], Any, Done, Any] | None] = SimpleQueue()
        self._finished: deque[tuple[Done, Any, bool, Any]] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._threads: list[threading.Thread] = []
        self._closed = False

    def call(self, function: Callable[[Any], Any], argument: Any, done: Done, context: Any) -> None:
        """Run `function(argument)` on a handler thread; `done(context, ok, value)` is then
        called on the loop. Only from the loop's thread."""
        self.in_use += 1
        if len(self._threads) < self.size and self.in_use > len(self._threads):
            self._start_thread()  # every thread is taken: one more, up to `size`
        self._calls.put((function, argument, done, context))

    def run(self, function: Callable[[Any], Any], argument: Any) -> asyncio.Future[Any]:
        """`function(argument)` on a handler thread, as a future of the loop (for coroutines)."""
        future = self.loop.create_future()
        self.call(function, argument, _settle, future)
        return future

    def close(self) -> None:
        """Threads end after their current call; calls still queued are dropped."""
        self._closed = True
        for _ in self._threads:
            self._calls.put(_STOP)

    # -- in the threads ---------------------------------------------------------------------
    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._serve, name=f"{self.name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        calls = self._calls
        while True:
            item = calls.get()
            if item is None or self._closed:
                return
            function, argument, done, context = item
            try:
                value = function(argument)
                ok = True
            except Exception as exc:
                value = exc
                ok = False
            except BaseException as exc:  # SystemExit in a handler: its caller gets an error,
                value = RuntimeError(f"raised {exc!r}")  # the loop is not asked to exit
                value.__cause__ = exc
                ok = False
            del item, function, argument  # the request is not kept alive by an idle thread
            self._report(done, context, ok, value)
            del done, context, value

    def _report(self, done: Done, context: Any, ok: bool, value: Any) -> None:
        with self._lock:
            self._finished.append((done, context, ok, value))
            if self._wake_pending:
                return  # the loop has yet to look: it will find this one too
            self._wake_pending = True
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: the worker is going away
            pass

    # -- back on the loop -------------------------------------------------------------------
    def _deliver(self) -> None:
        with self._lock:
            self._wake_pending = False
            finished = list(self._finished)
            self._finished.clear()
        self.in_use -= len(finished)
        for done, context, ok, value in finished:
            done(context, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled meanwhile (its awaiting coroutine went away)
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
