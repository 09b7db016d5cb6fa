"""The ASGI lifespan protocol of one mounted app in one worker process: startup, then shutdown.

The worker keeps one Lifespan per app (WorkerState.asgi_lifespans); apps/asgi.py starts them
with the worker, or on the first request of an app mounted later, and shuts them down.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

from ..http import user_tasks
from .app_calls import only_makes_a_coroutine

if TYPE_CHECKING:
    from ..common.logs import ServerLog

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}


class LifespanFailed(Exception):
    """An ASGI app reported lifespan.startup.failed: this worker must not serve."""


class Lifespan:
    """The lifespan protocol of one app in one worker process: startup, then shutdown."""

    def __init__(self, app: Any, log: ServerLog, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.log = log
        self.loop = loop
        self.state: dict[str, Any] = {}
        self.supported = True
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.startup_result: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.shutdown_result: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.task: asyncio.Task[None] | None = None
        self.starting: asyncio.Task[None] | None = None  # a late startup (late_lifespan)
        # Decided once per app, read by every request (apps/app_calls.py).
        self.starts_directly = only_makes_a_coroutine(app)

    async def startup(self) -> None:
        self.task = user_tasks.start(
            self.loop,
            contextvars.copy_context(),
            self._run(),
            Lifespan._ended,
            self,
            "ASGI lifespan",
        )
        self.queue.put_nowait({"type": "lifespan.startup"})
        message = await self.startup_result
        if message["type"] == "lifespan.startup.failed":
            raise LifespanFailed(
                f"ASGI lifespan startup of {self.app!r} failed: {message.get('message', '')}"
            )

    async def shutdown(self, timeout: float) -> None:
        if not self.supported or self.task is None or self.task.done():
            return
        self.queue.put_nowait({"type": "lifespan.shutdown"})
        try:
            message = await asyncio.wait_for(asyncio.shield(self.shutdown_result), timeout)
        except TimeoutError:
            self.log.error("ASGI lifespan shutdown of %r timed out", self.app)
            self.task.cancel()
            return
        if message["type"] == "lifespan.shutdown.failed":
            self.log.error(
                "ASGI lifespan shutdown of %r failed: %s", self.app, message.get("message", "")
            )

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        await self.app(scope, self.queue.get, self._send)

    def _ended(self, error: BaseException | None, _result: object) -> None:
        """The app's lifespan returned or raised (user_tasks.start)."""
        if error is not None:
            if not self.startup_result.done():
                # The spec: an app that raises instead of answering does not do lifespan.
                self.supported = False
                self.log.lifecycle("ASGI app %r does not support lifespan (%r)", self.app, error)
                self.startup_result.set_result({"type": "lifespan.startup.complete"})
            elif not isinstance(error, asyncio.CancelledError):
                self.log.error("ASGI lifespan of %r raised", self.app, exc_info=error)
        if not self.startup_result.done():  # returned without a word: no lifespan either
            self.supported = False
            self.startup_result.set_result({"type": "lifespan.startup.complete"})
        if not self.shutdown_result.done():
            self.shutdown_result.set_result({"type": "lifespan.shutdown.complete"})

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind.startswith("lifespan.startup."):
            if not self.startup_result.done():
                self.startup_result.set_result(message)
        elif kind.startswith("lifespan.shutdown."):
            if not self.shutdown_result.done():
                self.shutdown_result.set_result(message)
        else:
            raise ValueError(f"unknown ASGI lifespan message {kind!r}")
