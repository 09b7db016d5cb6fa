"""ASGI 3: running a mounted ASGI application (HTTP here; the lifespan hooks below, the
protocol in lifespan.py; WebSocket in websockets/asgi_connection.py, on the session core of session.py).

The app runs on the event loop, in a task of its own from its first line (http/user_tasks.py;
on Python 3.12+ started eagerly: an endpoint that never really waits has answered before the
task would first have been scheduled). The request body streams in through receive() (see
http/streaming_body.py); what the app sends is framed (response_framing.py) and written at
once, waiting for the transport to drain only when the client reads slower than the app
writes.

Scope paths follow the ASGI spec: `root_path` is the mount prefix and `path` the full path,
so the app routes on path[len(root_path):] (Starlette, FastAPI and Django all do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...api.internal.tracebacks import without_server_frames
from ...api.mounts import ASGI
from ...api.request import Request
from ...api.routing import Route
from ..http import user_tasks
from ..http.request_head import normalized_raw_path
from ..http.response_streams import FilePath, open_regular_file, send_file_range
from ..http.streaming_body import ClientDisconnected, body_of
from .lifespan import ASGI_VERSION, Lifespan
from .response_framing import (
    LENGTH,
    NO_BODY,
    AppBody,
    Framing,
    FramingError,
    InterimStatus,
    app_error_response,
    app_head,
    app_name,
    check_final_status,
    end_continue,
    policy_lines_for,
)

if TYPE_CHECKING:
    from ..common.state import AppLifespan, WorkerState
    from ..http.gate import AdmittedRoute
    from ..http.seams import Connection

LIFESPAN_SHUTDOWN_TIMEOUT = 30.0

_DISCONNECT = {"type": "http.disconnect"}


def start(protocol: Connection, route: AdmittedRoute, request: Request) -> None:
    """Run the app mounted at `route` for `request` (the connection's starter of ASGI routes)."""
    exchange = protocol.exchange = AsgiHttp(protocol, route, request)
    if exchange.body is not None:
        exchange.body.started = True
    # The scope and the app's coroutine are made in the task (a fault of ours making them is
    # answered 500 through _end, as the app's own).
    user_tasks.start(
        protocol.loop, protocol.base_context.copy(), None, AsgiHttp._end, exchange, "ASGI app",
        make=AsgiHttp._app_run,
    )  # fmt: skip


def base_scope(request: Request, route: Route, kind: str, scheme: str) -> dict[str, Any]:
    """The keys HTTP and WebSocket scopes share (a WebSocket's; AsgiHttp._scope builds an HTTP
    scope's in one go, the same keys in the same order: keep the two in step)."""
    conn = request.conn
    raw_path = request.target.partition(b"?")[0]  # as sent; an absolute-form target: decoded
    path = request.url_path
    return {
        "type": kind,
        "asgi": ASGI_VERSION,
        "http_version": request.http_version,
        "scheme": scheme,
        "path": path,
        "raw_path": _raw_path(raw_path, path),
        "query_string": request.query,
        "root_path": route.path.rstrip("/"),
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": conn.client,
        "server": conn.server,
    }


def _raw_path(raw_path: bytes, path: str) -> bytes:
    """As sent, unless decoding or normalising changed the path (http/request_head.py): then
    what the router matched, encoded again. Each byte of a path that neither changed gives
    one character of it (a bytes `in` test costs far more than comparing two lengths)."""
    if len(raw_path) == len(path):
        return raw_path
    if raw_path[:1] != b"/":  # absolute form
        return path.encode("utf-8")
    return normalized_raw_path(raw_path, path)


def with_lifespan_state(scope: dict[str, Any], lifespan: AppLifespan) -> None:
    if lifespan.supported:
        scope["state"] = dict(lifespan.state)  # each request gets a shallow copy (spec)


def ready_lifespan(state: WorkerState, app: Any) -> AppLifespan | None:
    """The app's lifespan, started (the usual case: with the worker); None when it has yet to
    start or failed to (see late_lifespan)."""
    lifespan = state.asgi_lifespans.get(id(app))
    if lifespan is None or lifespan.starting is not None:
        return None
    return lifespan


async def late_lifespan(state: WorkerState, app: Any) -> AppLifespan:
    """The lifespan of an app mounted after the worker started (e.g. beside run(in_background=
    True)): started once, on the app's first request, which waits for it; LifespanFailed
    for this and every later request when its startup failed."""
    lifespans = state.asgi_lifespans
    lifespan = lifespans.get(id(app))
    if lifespan is None:
        lifespan = lifespans[id(app)] = Lifespan(app, state.log, state.loop)
        lifespan.starting = state.loop.create_task(lifespan.startup())
    if lifespan.starting is not None:
        await asyncio.shield(lifespan.starting)
        lifespan.starting = None
    return lifespan


class AsgiHttp:
    """One HTTP request through an ASGI app."""

    __slots__ = (
        "app",
        "body",
        "complete",
        "disconnected",
        "finished",
        "framing",
        "head_sent",
        "headers",
        "loop",
        "protocol",
        "request",
        "request_done",
        "route",
        "started",
        "status",
        "waiter",
    )

    def __init__(self, protocol: Connection, route: Route, request: Request) -> None:
        self.protocol = protocol
        self.loop = protocol.loop
        self.route = route
        self.app: Callable[..., Any] = route.endpoint
        self.request = request
        self.body = None if request.body_source is None else body_of(request)
        self.framing = Framing(
            protocol.active_keep_alive,
            () if protocol.policy is None else policy_lines_for(protocol.policy, request),
        )
        self.started = False
        self.head_sent = False
        self.complete = False
        self.finished = False
        self.disconnected = False
        self.request_done = False
        self.status = 0
        self.headers: tuple[Sequence[Any], ...] = ()  # the app's pairs, as it gave them
        self.waiter: asyncio.Future[None] | None = None

    def _app_run(self) -> Coroutine[Any, Any, None]:
        scope = self._scope()
        lifespan = self.protocol.state.asgi_lifespans.get(id(self.app))
        if lifespan is None or lifespan.starting is not None:  # see ready_lifespan
            return self.run_after_startup(scope)
        if lifespan.supported:
            scope["state"] = dict(lifespan.state)  # a shallow copy per request (spec)
        if lifespan.starts_directly:
            # The app's own coroutine, without a wrapper of ours around it: one frame less on
            # every request. Calling it runs none of the app's code.
            app_run: Coroutine[Any, Any, None] = self.app(scope, self.receive, self.send)
            return app_run
        # Calling this app runs code of its own (a plain function returning a coroutine, a
        # class whose instances are awaited): inside run(), so that it runs in the request's
        # context and anything it returns is awaited.
        return self.run(scope)

    def _scope(self) -> dict[str, Any]:
        """base_scope's keys and the HTTP ones, built at once: one dict display, no call and
        no insertion after it (an HTTP scope is built on every request)."""
        request = self.request
        conn = request.conn
        target = request.target
        path = request.url_path
        # A target as long as its path has no query and was not decoded or normalised (each
        # changes the length, as _raw_path says; a query makes the target the longer).
        if len(target) != len(path):
            target = _raw_path(target.partition(b"?")[0], path)
        # The scope's headers: each name lowered. Those of the connection's last request when
        # they are the same (a keep-alive client sends the same ones every time): comparing
        # the lists costs less than lowering each name. A new list each time: an app may
        # change the scope's (Starlette's MutableHeaders does).
        raw_headers = request.raw_headers
        memo = self.protocol.scope_headers
        if memo is not None and memo[0] == raw_headers:
            headers = list(memo[1])
        else:
            headers = self._new_headers(raw_headers)
        return {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": request.http_version,
            "scheme": conn.fixed_scheme or request.scheme(),
            "path": path,
            "raw_path": target,
            "query_string": request.query,
            "root_path": self.route.path.rstrip("/"),
            "headers": headers,
            "client": conn.client,
            "server": conn.server,
            "method": request.http_method,
            "extensions": {"http.response.pathsend": {}},
        }

    def _new_headers(self, raw_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Headers unlike the last request's: lowered, and kept for the next request."""
        lowered = [(name.lower(), value) for name, value in raw_headers]
        self.protocol.scope_headers = (list(raw_headers), tuple(lowered))
        return lowered

    def connection_lost(self) -> None:
        self.disconnected = True
        self._wake()

    @property
    def on_wire(self) -> bool:
        """A byte of the answer reached the transport (the head goes out with its first
        body bytes, on the loop)."""
        return self.head_sent

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def run_after_startup(self, scope: dict[str, Any]) -> None:
        """The app once its lifespan has started (LifespanFailed: answered 500, see _end)."""
        lifespan = await late_lifespan(self.protocol.state, self.app)
        with_lifespan_state(scope, lifespan)
        await self.app(scope, self.receive, self.send)

    async def run(self, scope: dict[str, Any]) -> None:
        await self.app(scope, self.receive, self.send)

    # -- the app's receive() and send() -------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if not self.request_done:
            body = self.body
            if body is None:
                self.request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                data = await body.receive()
            except ClientDisconnected:
                self.request_done = True
                return _DISCONNECT
            more = not body.exhausted
            self.request_done = not more
            return {"type": "http.request", "body": data, "more_body": more}
        if not self.disconnected and not self.complete:
            waiter = self.waiter = self.loop.create_future()
            await waiter
        return _DISCONNECT

    async def send(self, message: Mapping[str, Any]) -> None:  # any mapping, as in the sources
        if self.disconnected:
            raise ClientDisconnected("the client disconnected")
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            data = message.get("body", b"")
            more = message.get("more_body", False)
            protocol = self.protocol
            if more:
                if self.head_sent:
                    payload = self.framing.body(data)
                else:
                    payload = self._head(None) + self.framing.body(data)
            elif self.head_sent:
                payload = self.framing.body(data) + self.framing.end()
            elif data.__class__ is bytes:  # the usual answer: the whole body in one message
                # Head, body and end at once (inline: nearly every answer comes this way).
                if self.body is not None:
                    end_continue(self.framing, self.body)
                request = self.request
                payload = self.framing.whole(
                    self.status,
                    self.headers,
                    request.http_method,
                    request.http_version,
                    protocol.state.date_server,
                    data,
                )
                self.head_sent = True  # not before: a refused head or short body can be a 500
            else:  # None, a str, a bytearray...: framed step by step, as it always was
                payload = self._head(data) + self.framing.body(data) + self.framing.end()
            if payload:
                protocol.transport.write(payload)
            if not more:
                self._complete()
            elif protocol.write_paused:
                await protocol.drain()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            if self.status < 200:
                check_final_status(self.status, app_name("ASGI", self.route.path, self.app))
            # A tuple: the app may change its own list later, and the framing memo's key is
            # then this very object (response_framing.app_header_block).
            self.headers = tuple(message.get("headers", ()))
        elif kind == "http.response.pathsend":
            await self._send_path(message["path"])
        else:
            raise ValueError(f"unknown ASGI message type {kind!r} for an HTTP connection")

    def _head(self, complete_body: AppBody | None) -> bytes:
        head = app_head(
            self.framing,
            self.request,
            self.body,
            self.status,
            self.headers,
            self.protocol.state.date_server,
            complete_body,
        )
        self.head_sent = True  # not before: a head refused (a bad header) can still become a 500
        return head

    async def _send_path(self, path: FilePath) -> None:
        if not self.started or self.head_sent:
            raise RuntimeError("http.response.pathsend must follow http.response.start alone")
        file, size = open_regular_file(path)  # never blocks: a FIFO is refused, not waited on
        with file:
            if not any(name.lower() == b"content-length" for name, _ in self.headers):
                self.headers += ((b"content-length", b"%d" % size),)
            head = self._head(None)
            protocol = self.protocol
            if self.framing.mode == LENGTH:
                count = min(size, self.framing.remaining)
                await send_file_range(protocol, file, 0, count, head)  # corked together
                self.framing.remaining -= count
                self.framing.sent += count
            else:
                protocol.transport.write(head)
                if self.framing.mode != NO_BODY:
                    raise FramingError("pathsend needs a Content-Length")
        self.framing.end()
        self._complete()

    # -- ending ---------------------------------------------------------------------------
    def _complete(self) -> None:
        """The response is on the wire: the connection goes on while the app may still run."""
        self.complete = True
        if self.waiter is not None:
            self._wake()
        if self.body is not None:
            self.body.abandon()
        self.finished = True  # _release() inline: every answer ends here
        protocol = self.protocol
        if protocol.exchange is self:
            protocol.exchange = None
        framing = self.framing
        protocol.finish(self.request, framing.status, framing.sent, framing.keep_alive)

    def _release(self) -> None:
        self.finished = True
        if self.protocol.exchange is self:
            self.protocol.exchange = None

    def _end(self, error: BaseException | None, _result: Any = None) -> None:
        """The app returned, raised or was cancelled (the `done` of user_tasks.start, called
        directly: no frame in between on every request)."""
        if self.finished:
            if error is not None and not isinstance(error, ClientDisconnected):
                self._log(error)
            return
        self._release()
        protocol = self.protocol
        request = self.request
        if self.body is not None:
            self.body.abandon()
        if self.disconnected or protocol.closed:
            protocol.abandon(request)
            return
        status = self.status
        if error is None:
            if 100 <= status < 200:  # it swallowed the InterimStatus raised by send()
                error = InterimStatus(status, app_name("ASGI", self.route.path, self.app))
            else:
                reason = "left its response unfinished" if self.started else "started no response"
                error = RuntimeError(f"the ASGI app returned but {reason}")
        self._log(error)
        if self.head_sent:
            protocol.transport.abort()  # the head is out: a cut connection says it failed
            protocol.abandon(request)
        else:
            debug = protocol.state.debug
            protocol.respond(request, app_error_response(request, error, status, debug))

    def _log(self, error: BaseException) -> None:
        request = self.request
        without_server_frames(error)
        self.protocol.state.log.error(
            "ASGI app for %s %s failed: %s",
            request.http_method,
            request.url_path,
            error,
            exc_info=error,
        )


# -- lifespan hooks -------------------------------------------------------------------------
def asgi_apps(state: WorkerState) -> list[Any]:
    apps: list[Any] = []
    for _, route in state.router.routes():
        if route.kind == ASGI and not any(app is route.endpoint for app in apps):
            apps.append(route.endpoint)
    return apps


async def lifespan_startup(state: WorkerState) -> None:
    """Worker startup hook: every mounted ASGI app starts up once, before serving."""
    started: list[AppLifespan] = []
    lifespans = state.asgi_lifespans
    for app in asgi_apps(state):
        lifespan = Lifespan(app, state.log, state.loop)
        try:
            await lifespan.startup()
        except BaseException:
            for done in reversed(started):
                await done.shutdown(LIFESPAN_SHUTDOWN_TIMEOUT)
            raise
        started.append(lifespan)
        lifespans[id(app)] = lifespan


async def lifespan_shutdown(state: WorkerState) -> None:
    """Worker hook once drained: every app shuts down, in reverse order of startup."""
    lifespans = state.asgi_lifespans
    for lifespan in reversed(list(lifespans.values())):
        await lifespan.shutdown(LIFESPAN_SHUTDOWN_TIMEOUT)
    lifespans.clear()
