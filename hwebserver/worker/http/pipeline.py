"""The requests of one connection, answered strictly in the order they arrived.

Parsed requests wait in `queue` (at most MAX_PIPELINED, then reading pauses); one at a time is
`active`: dispatched to its route's endpoint (async handlers on the loop, plain ones on the
handler threads, apps and AsyncURLHandler through their adapter), and ended by exactly one of
respond(), finish() or abandon() (http/seams.py). respond() writes a response held in memory
itself; files and streams go to response_streams.py.

Second of the three layers of HttpProtocol (after connection_io.py, before protocol.py).
"""

from __future__ import annotations

import asyncio
import contextvars
from bisect import bisect_left
from collections import deque
from collections.abc import Mapping
from time import perf_counter  # a global, not time.perf_counter: one lookup less per request
from typing import TYPE_CHECKING, Any

from ...api.internal.body import BodySource
from ...api.internal.connection import OnHandlerThread
from ...api.request import Request
from ...api.response import BODILESS_STATUSES, Response
from ..common.stats import DURATION_BUCKETS
from . import response_streams, user_tasks
from .connection_io import ConnectionIO
from .error_responses import HttpError, error_response, rejection_response
from .gate import admit
from .response_head import CLOSE, build_head, connection_header, content_length_line, simple_head

# The first bound of the request-duration histogram (/metrics), where most requests land.
FASTEST_BUCKET = DURATION_BUCKETS[0]

if TYPE_CHECKING:
    from ..common.config import Listener
    from ..common.state import WorkerState
    from .body_sinks import BodySink
    from .seams import Exchange, ExchangeStarter, ScopeHeaders


class RequestPipeline(ConnectionIO):
    """The queue of parsed requests, their dispatch, and the writing of their responses."""

    __slots__ = (
        "active",
        "active_keep_alive",
        "active_started",
        "base_context",
        "exchange",
        "exchange_starters",
        "policy",
        "port_name",
        "pumping",
        "queue",
        "router",
        "scope_headers",
        "send_task",
        "timed",
    )

    def __init__(
        self,
        state: WorkerState,
        listener: Listener,
        exchange_starters: Mapping[str, ExchangeStarter],
    ) -> None:
        super().__init__(state)
        # The adapters of apps and AsyncURLHandler by route kind (apps/exchange.py), given by
        # the server so that the HTTP core does not import what it hands requests to.
        self.exchange_starters = exchange_starters
        # Requests parsed but not started, or refusals (HttpError) to send in their turn.
        self.queue: deque[tuple[Any, bool]] = deque()
        self.active: Request | None = None
        self.active_keep_alive = True
        self.active_started = 0.0
        self.pumping = False
        self.send_task: asyncio.Task[None] | None = None
        self.exchange: Exchange | None = None  # an app's exchange in progress, told of disconnects
        # The ASGI adapter's memo of this connection's last request headers and their scope
        # form (apps/asgi.py): a keep-alive client sends the same ones request after request.
        self.scope_headers: ScopeHeaders | None = None
        # What the user code of this connection starts from: each request's task runs in a
        # copy, so the context variables it sets are its own (http/user_tasks.py).
        self.base_context = contextvars.copy_context()
        self.policy = listener.policy
        self.timed = state.access_log or state.stats is not None  # most services: neither
        # Per-connection copies of what every request consults (one attribute hop, not two).
        self.router = state.router
        self.port_name = listener.name

    # -- the queue ---------------------------------------------------------------------
    def is_waiting(self, request: Request) -> bool:
        if self.active is request:
            return True
        return any(entry is request for entry, _ in self.queue)

    def pump(self) -> None:
        """Start the next queued request when the previous one is answered."""
        if self.pumping:
            return
        self.pumping = True
        try:
            queue = self.queue
            while queue and self.active is None and not self.closed and not self.write_paused:
                entry, keep_alive = queue.popleft()
                if isinstance(entry, HttpError):
                    self.send_rejection(entry)
                    return
                self._start(entry, keep_alive)
            if self.active is None:
                self.idle_tick = self.state.tick
            if (
                self.reading_paused
                and not self.reading_held
                and not self.write_paused
                and len(queue) < self.state.max_pipelined
            ):
                self.resume_reading()
        finally:
            self.pumping = False

    # -- dispatch ----------------------------------------------------------------------
    def _start(self, request: Request, keep_alive: bool) -> None:
        state = self.state
        self.active = request
        self.active_keep_alive = keep_alive and not state.draining
        try:
            if self.timed:
                self.active_started = perf_counter()
            # The gate (gate.py): the port's rules, then the route; nothing runs before it.
            route = admit(self.policy, self.router, self.port_name, request)
            if isinstance(route, Response):  # refused, or answered by the server itself
                self.respond(request, route)
                return
            if route.is_async:
                try:
                    coro = route.endpoint(request)
                except Exception as exc:  # a handler that cannot be called with a request
                    self._respond_exception(request, exc)
                    return
                # In a task of its own, answered by _handler_done (on 3.12+, before this
                # returns when the handler does not really wait).
                user_tasks.start(
                    self.loop,
                    self.base_context.copy(),
                    coro,
                    self._handler_done,
                    request,
                    "async handler",
                )
            elif route.runs_exchange:  # an app mount or AsyncURLHandler: it runs it all
                starter = self.exchange_starters.get(route.kind)
                if starter is None:  # a connection built without a WorkerServer
                    raise RuntimeError(f"no adapter serves the {route.kind} route {route.path}")
                starter(self, route, request)
            else:  # plain code: on a handler thread, never on the loop
                # As in Houdini and as Starlette runs sync endpoints: a handler's speed on
                # earlier calls says nothing about its next one (an RPC dispatcher, a cook, a
                # render), and one that blocks the loop stalls every connection of the worker
                # and gets it killed by the watchdog. `async def` asks for the loop.
                state.threads.call(route.endpoint, request, self._handler_returned, request)
        except Exception as exc:  # a fault of ours in routing or dispatch: answered, not hung
            self._dispatch_failed(request, exc)

    def _handler_done(self, request: Request, error: BaseException | None, result: Any) -> None:
        """An async handler's task ended (user_tasks.start)."""
        if error is None:
            self.respond(request, result)
        elif isinstance(error, asyncio.CancelledError) and self.closed:
            self.abandon(request)
        else:  # a cancellation too: answer, don't stall the queue
            self._respond_exception(request, error)

    def _handler_returned(self, request: Request, ok: bool, value: Any) -> None:
        """Back on the loop from a handler thread (worker/common/threads.py)."""
        if ok:
            self.respond(request, value)
        else:
            self._respond_exception(request, value)

    def _dispatch_failed(self, request: Request, exc: Exception) -> None:
        self.state.log.request_failed("dispatch", request, exc)
        if self.active is request and not self.closed:  # nothing was written for it yet
            self.active = None
            request.cleanup()
            for entry, _ in self.queue:  # the connection ends with this answer
                if isinstance(entry, Request):
                    self.discard(entry, entry.body_source)
            self.queue.clear()
            self.mark_closing()  # what is still parsed from this segment is not started
            self.send_rejection(HttpError(500, "internal server error"))

    # -- responding --------------------------------------------------------------------
    def respond(self, request: Request, result: Any) -> None:
        if self.closed:
            response_streams.release(request, result)  # e.g. a delete_file response never sent
            self.abandon(request)
            return
        try:
            if result.__class__ is not Response:
                if result.__class__ is OnHandlerThread:  # the rest of an async endpoint
                    self.state.threads.call(result.run, request, self._handler_returned, request)
                    return
                result = self._coerce(request, result)
            if self.policy is not None:
                self.policy.after(request, result)
            keep_alive = self.active_keep_alive
            if result.is_simple and keep_alive and request.http_version == "1.1":
                body = result.body_bytes
                head = simple_head(
                    result.status_code,
                    result.header_fields["content-type"][1],
                    len(body),
                    self.state.date_server_end,
                )
            elif result.stream is None and result.file_path is None:
                body = result.body_bytes
                headers = result.header_fields
                if keep_alive and "connection" in headers:
                    keep_alive = "close" not in headers["connection"][1].lower()
                if result.status_code in BODILESS_STATUSES:  # neither a body nor a length
                    body = b""
                    framing = b""
                    if result.status_code < 200:
                        # A client takes a 1xx for an interim answer and waits for the final
                        # one: closing tells it there is none, instead of leaving it hanging.
                        keep_alive = False
                else:
                    framing = content_length_line(len(body))
                head = build_head(
                    result,
                    framing,
                    connection_header(keep_alive, request.http_version),
                    self.state.date_server,
                )
            else:
                headers = result.header_fields
                if keep_alive and "connection" in headers:
                    keep_alive = "close" not in headers["connection"][1].lower()
                task = self.loop.create_task(
                    response_streams.send_streamed(self, request, result, keep_alive)
                )
                # A task cancelled before its first step never runs its own cleanup: this does.
                task.add_done_callback(lambda _: response_streams.release(request, result))
                self.send_task = task
                return
        except Exception as exc:  # a fault building the head (ours, or a policy's): a 500
            response_streams.release(request, result)
            self._dispatch_failed(request, exc)
            return
        if request.http_method == "HEAD" or not body:
            self.transport.write(head)
        elif len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        self.finish(request, result.status_code, len(body), keep_alive)

    def _respond_exception(self, request: Request, exc: BaseException) -> None:
        self.state.log.request_failed("handler", request, exc)
        self.respond(request, error_response(request, exc, self.state.debug))

    def _coerce(self, request: Request, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, (str, bytes, bytearray)):
            return Response(result)
        self.state.log.error(
            "handler for %s %s returned %r, not a Response, str or bytes",
            request.http_method,
            request.url_path,
            type(result).__name__,
            port_name=request.conn.port_name,
        )
        return error_response(request, None, self.state.debug)

    def finish(self, request: Request, status: int, size: int, keep_alive: bool) -> None:
        """The response is written (or handed to the transport): log, clean up, go on."""
        state = self.state
        state.requests_served += 1
        stats = state.stats
        if stats is not None or state.access_log:  # most services neither count nor log
            seconds = perf_counter() - self.active_started  # measured once for both
            if stats is not None:  # a port serves /metrics (common/stats.py)
                stats.statuses[status // 100] += 1
                if seconds <= FASTEST_BUCKET:  # most requests: one comparison, not a bisect
                    stats.buckets[0] += 1
                else:
                    stats.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
                stats.duration_sum += seconds
            if state.access_log:
                conn = request.conn
                state.log.access(
                    f"{conn.client[0]}:{conn.client[1]}",
                    request.http_method,
                    request.url_path,
                    status,
                    size,
                    seconds * 1000.0,
                    conn.port_name,
                    request.request_id,
                    request.query,
                )
        if request.made_tempdir is not None:
            request.made_tempdir.cleanup()
        self.active = None
        self.send_task = None
        if not keep_alive:
            self.close()
            return
        if self.queue or self.reading_paused:
            if not self.pumping:
                self.pump()
        else:
            self.idle_tick = state.tick

    def abandon(self, request: Request) -> None:
        request.cleanup()
        if self.active is request:
            self.active = None

    def send_rejection(self, error: HttpError) -> None:
        self.state.log.lifecycle("rejected request: %d %s", error.status, error.message)
        response = rejection_response(error)
        head = build_head(
            response, content_length_line(len(response.body_bytes)), CLOSE, self.state.date_server
        )
        self.transport.write(head + response.body_bytes)
        self.linger()

    @staticmethod
    def discard(request: Request, body: BodySink | BodySource | None) -> None:
        if body is not None:
            body.close()
        request.cleanup()
