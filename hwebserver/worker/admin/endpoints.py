"""ADMIN_ENDPOINTS: /metrics, /livez and /readyz on the ports that ask for them.

Served by the workers like any route (so a port's TLS, ALLOWED_HOSTS and access log apply),
with the lowest priority: an application's own handler for the same path wins. The numbers
come from the supervisor, the one process that sees every worker: the worker answering a
scrape asks it over the control pipe (METRICS_QUERY) and renders the snapshot it gets back.
Nothing is exchanged while nobody scrapes. A process serving without a supervisor
(foreground/) is its own service: it provides the snapshot itself (`provide`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...api.response import Response
from ...api.routing import Route
from ..common.messages import (
    ControlMessage,
    Metrics,
    MetricsQuery,
    MetricsSnapshot,
    Send,
    Unready,
    WorkerFigures,
)
from ..common.stats import RequestStats

if TYPE_CHECKING:
    from ...api.request import Request
    from ..common.config import Listener
    from ..common.state import WorkerState

ROUTE_KIND = "admin"
ADMIN_PRIORITY = 0  # below handlers (2) and mounts (1)
QUERY_TIMEOUT = 2.0  # a supervisor that does not answer a scrape in time: 503


class AdminEndpoints:
    """One worker's admin state: its link to the supervisor and whether the service is ready."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self.send: Send | None = None  # the control pipe, once connected (none in-process)
        self.link_alive: Callable[[], bool] = lambda: True
        self.generation = 0
        self.shutting_down = False  # the supervisor said so (UNREADY), or it is gone
        self.pending: dict[int, asyncio.Future[MetricsSnapshot]] = {}
        self.query_ids = itertools.count(1)
        # Serving without a supervisor: the service's snapshot, made by this very process.
        self.source: Callable[[], MetricsSnapshot] | None = None

    # -- the supervisor side ---------------------------------------------------------------
    def connect(self, send: Send, link_alive: Callable[[], bool], generation: int) -> None:
        """A supervised worker: scrapes are answered from the supervisor's snapshot."""
        self.send = send
        self.link_alive = link_alive
        self.generation = generation

    def provide(self, source: Callable[[], MetricsSnapshot]) -> None:
        """This process is the whole service: scrapes are answered from `source()`."""
        self.source = source

    def on_message(self, message: ControlMessage) -> None:
        if isinstance(message, Unready):
            self.shutting_down = True
        elif isinstance(message, Metrics):
            future = self.pending.pop(message.id, None)
            if future is not None and not future.done():
                future.set_result(message.snapshot)

    async def snapshot(self) -> MetricsSnapshot | None:
        send = self.send
        if self.source is not None:
            return self.source()
        if send is None:
            return local_snapshot(self.state, self.generation, 0.0, _rss())
        query = next(self.query_ids)
        future: asyncio.Future[MetricsSnapshot] = self.state.loop.create_future()
        self.pending[query] = future
        try:
            send(MetricsQuery(query))
            return await asyncio.wait_for(future, QUERY_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            self.pending.pop(query, None)

    # -- the endpoints ---------------------------------------------------------------------
    async def metrics(self, request: Request) -> Response:
        snapshot = await self.snapshot()
        if snapshot is None:
            return Response("the supervisor did not answer\n", 503, "text/plain")
        from .exposition import CONTENT_TYPE_LATEST, render  # prometheus_client: on first use

        return Response(render(snapshot), 200, CONTENT_TYPE_LATEST)

    async def livez(self, request: Request) -> Response:
        """This worker answers, so the service has a live worker; is its supervisor there?"""
        if self.send is not None and not self.link_alive():
            return Response("no supervisor\n", 503, "text/plain")
        return Response("live\n", 200, "text/plain")

    async def readyz(self, request: Request) -> Response:
        supervisor_gone = self.send is not None and not self.link_alive()
        # A service that provides its snapshot drains for a reload too; it says when it stops.
        in_process_draining = self.send is None and self.source is None and self.state.draining
        if self.shutting_down or supervisor_gone or in_process_draining:
            response = Response("shutting down\n", 503, "text/plain")
            response.setHeader("Connection", "close")
            return response
        if self.state.saturation.saturated:  # plain calls wait past HANDLER_QUEUE_WAIT
            return Response("handler threads saturated\n", 503, "text/plain")
        return Response("ready\n", 200, "text/plain")


def _rss() -> int:
    import psutil

    try:
        return int(psutil.Process(os.getpid()).memory_info().rss)
    except (psutil.Error, OSError):
        return 0


def install(state: WorkerState, listeners: list[Listener]) -> None:
    """At worker start: the admin routes on each port with ADMIN_ENDPOINTS, and request
    counting (status classes, durations) when there is any."""
    names = [listener.name for listener in listeners if listener.options.ADMIN_ENDPOINTS]
    if not names:
        return
    endpoints = AdminEndpoints(state)
    state.admin_endpoints = endpoints
    state.stats = RequestStats()
    state.router.remove_kind(ROUTE_KIND)  # a previous in-process server's
    for path, endpoint in (
        ("/metrics", endpoints.metrics),
        ("/livez", endpoints.livez),
        ("/readyz", endpoints.readyz),
    ):
        route = Route(
            path,
            endpoint,
            methods=("GET",),
            kind=ROUTE_KIND,
            priority=ADMIN_PRIORITY,
            is_async=True,
        )
        state.router.add(route, names)


def connect(
    state: WorkerState | None, send: Send, link_alive: Callable[[], bool], generation: int
) -> None:
    """A supervised worker: scrapes are answered from the supervisor's snapshot."""
    endpoints = state.admin_endpoints if state is not None else None
    if endpoints is not None:
        endpoints.connect(send, link_alive, generation)


def provide(state: WorkerState | None, source: Callable[[], MetricsSnapshot]) -> None:
    """A process serving without a supervisor: scrapes are answered from `source()`."""
    endpoints = state.admin_endpoints if state is not None else None
    if endpoints is not None:
        endpoints.provide(source)


def on_control_message(state: WorkerState | None, message: ControlMessage) -> None:
    """The supervisor's messages for the admin endpoints (METRICS, UNREADY)."""
    endpoints = state.admin_endpoints if state is not None else None
    if endpoints is not None:
        endpoints.on_message(message)


def local_snapshot(state: WorkerState, generation: int, lag: float, rss: int) -> MetricsSnapshot:
    """/metrics without a supervisor (a server in a thread of the calling process): this
    process alone, as the supervisor's snapshot shows a worker."""
    worker = WorkerFigures(os.getpid(), generation, "ready", 0.0, state.heartbeat(lag, rss))
    return MetricsSnapshot(supervisor=None, workers=[worker])
