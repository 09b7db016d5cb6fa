"""The route registry: which endpoint answers a path on a port.

Matching ignores trailing slashes (both sides are compared as if they ended with '/').
An exact route beats a prefix route; among prefix routes the longest wins. Lookups cost
one dict probe for an exact path, plus one per path segment for prefixes.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MAIN_PORT = "main"
# The port name of a route registered for every port (static files, opdefs with port=-1).
ALL_PORTS = "*"

# Which registration wins when two claim the same path: a handler beats a mount.
# Every kind of route there is: what serves a request that reaches it (a handler, an API
# function, an app, files, a WebSocket, the admin endpoints). Each passes its port's gate
# (worker/http/gate.py); a new kind is added here, and then to tests/policies/test_gate.py, which
# sends every kind against every port rule and fails while one is missing.
ROUTE_KINDS = frozenset(
    ("handler", "async_handler", "api", "wsgi", "asgi", "static", "opdef", "websocket", "admin")
)

PRIORITY_HANDLER = 2
PRIORITY_MOUNT = 1


def route_key(path: str) -> str:
    return path if path.endswith("/") else path + "/"


# Houdini's docs name the main port 0 (the apiFunction page: pass '0') and every port -1; both
# forms come as numbers or as strings. Any other value is a port name, as run(ports=) gives it.
_MAIN_PORT_FORMS = frozenset(("", "0", MAIN_PORT))
_ALL_PORTS_FORMS = frozenset(("-1", ALL_PORTS))


def port_name(port: str | int) -> str:
    """One `ports` entry as a port name: 0/'0'/'main'/'' -> 'main', -1/'-1' -> every port."""
    if isinstance(port, bool) or not isinstance(port, (str, int)):
        raise ValueError(f"a port is a name or a number, not {port!r}")
    text = str(port)
    if text in _MAIN_PORT_FORMS:
        return MAIN_PORT
    if text in _ALL_PORTS_FORMS:
        return ALL_PORTS
    return text


def port_names(ports: Iterable[str | int] | str | int | None) -> tuple[str, ...]:
    """A `ports`/`port` argument as port names: [] or None means the main port."""
    if ports is None:
        return (MAIN_PORT,)
    if isinstance(ports, (str, int)):
        ports = [ports]
    names = tuple(dict.fromkeys(port_name(p) for p in ports))
    if ALL_PORTS in names:
        return (ALL_PORTS,)
    return names or (MAIN_PORT,)


def is_async_callable(obj: Any) -> bool:
    while hasattr(obj, "func") and not inspect.isfunction(obj):  # functools.partial
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - an object with async __call__
    )


class Route:
    """One registered endpoint.

    `runs_exchange`: the endpoint is not a handler called with the request (a WSGI or ASGI app,
    an AsyncURLHandler): it runs the whole exchange itself, through the adapter that the route's
    `kind` names. Other endpoints are handlers: async ones run on the loop, plain ones on the
    worker's handler threads."""

    __slots__ = (
        "allow",
        "endpoint",
        "is_async",
        "is_prefix",
        "key",
        "kind",
        "methods",
        "path",
        "priority",
        "runs_exchange",
        "streams_body",
    )

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        is_prefix: bool = False,
        methods: Iterable[str] | None = None,
        kind: str = "handler",
        priority: int = PRIORITY_HANDLER,
        is_async: bool | None = None,
        runs_exchange: bool = False,
    ) -> None:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"a route path must start with '/', not {path!r}")
        if kind not in ROUTE_KINDS:
            raise ValueError(f"unknown route kind {kind!r}: a new kind goes into ROUTE_KINDS")
        self.path = path
        self.key = route_key(path)
        self.endpoint = endpoint
        self.is_prefix = is_prefix
        self.kind = kind
        self.priority = priority
        self.is_async = is_async_callable(endpoint) if is_async is None else is_async
        self.methods: frozenset[str] | None = None
        self.allow = ""
        if methods is not None:
            allowed = {m.upper() for m in methods}
            if "GET" in allowed:
                allowed.add("HEAD")
            self.methods = frozenset(allowed)
            self.allow = ", ".join(sorted(allowed))
        self.runs_exchange = runs_exchange
        # True for mounts: the request body streams to the app while it arrives.
        self.streams_body = False

    def __repr__(self) -> str:
        return f"<Route {self.kind} {self.path!r}{' prefix' if self.is_prefix else ''}>"


MEMO_SIZE = 4096
_MISS = object()


class PortRoutes:
    """One port's routes, and a memo of recent lookups (cleared whenever the routes change)."""

    __slots__ = ("exact", "memo", "prefix")

    def __init__(self) -> None:
        self.exact: dict[str, Route] = {}
        self.prefix: dict[str, Route] = {}
        self.memo: dict[str, Route | None] = {}

    def lookup(self, path: str) -> Route | None:
        if not path.startswith("/"):
            return None  # `*` (OPTIONS *): no route's path
        key = path if path.endswith("/") else path + "/"
        route = self.exact.get(key)
        if route is not None:
            return route
        prefix = self.prefix
        if not prefix:
            return None
        while True:
            route = prefix.get(key)
            if route is not None:
                return route
            if len(key) <= 1:
                return None
            key = key[: key.rindex("/", 0, len(key) - 1) + 1]


@dataclass(frozen=True)
class RouterState:
    """What Router.snapshot() took: per port name, (exact, prefix) routes by key."""

    tables: dict[str, tuple[dict[str, Route], dict[str, Route]]]
    streaming: bool


class Router:
    """Routes per port name. Registration may happen from any thread, at any time.

    A route for ALL_PORTS is copied into every port's table, including tables created later,
    so a lookup stays one table per request; a port with no table of its own uses ALL_PORTS'.
    """

    def __init__(self) -> None:
        self._ports: dict[str, PortRoutes] = {}
        self._lock = threading.Lock()
        # Set once any route streams its request body (a mount): the protocol looks the route
        # up when a body starts only while this is true.
        self.streaming = False

    def add(self, route: Route, ports: Iterable[str | int] | str | int | None = None) -> Route:
        with self._lock:
            for name in port_names(ports):
                if name == ALL_PORTS:
                    self._table(ALL_PORTS)
                    for table in self._ports.values():
                        _place(table, route)
                else:
                    _place(self._table(name), route)
            if route.streams_body:
                self.streaming = True
        return route

    def _table(self, name: str) -> PortRoutes:
        table = self._ports.get(name)
        if table is None:
            table = self._ports[name] = PortRoutes()
            every = self._ports.get(ALL_PORTS)
            if every is not None and name != ALL_PORTS:
                table.exact.update(every.exact)
                table.prefix.update(every.prefix)
                table.memo = {}
        return table

    def remove_kind(self, kind: str) -> None:
        with self._lock:
            for table in self._ports.values():
                for bucket in (table.exact, table.prefix):
                    for key in [k for k, r in bucket.items() if r.kind == kind]:
                        del bucket[key]
                table.memo = {}

    def clear(self) -> None:
        with self._lock:
            self._ports.clear()
            self.streaming = False

    def port_names(self) -> set[str]:
        return set(self._ports) - {ALL_PORTS}

    def snapshot(self) -> RouterState:
        """Every port's routes as they are now, for restore() (hwebserver.testing)."""
        with self._lock:
            tables = {
                name: (dict(table.exact), dict(table.prefix)) for name, table in self._ports.items()
            }
            return RouterState(tables, self.streaming)

    def restore(self, state: RouterState) -> None:
        """The routes of a snapshot(), and nothing registered since."""
        with self._lock:
            self._ports = {}
            for name, (exact, prefix) in state.tables.items():
                table = self._ports[name] = PortRoutes()
                table.exact.update(exact)
                table.prefix.update(prefix)
            self.streaming = state.streaming

    def routes(self) -> list[tuple[str, Route]]:
        return [
            (name, route)
            for name, table in self._ports.items()
            for bucket in (table.exact, table.prefix)
            for route in bucket.values()
        ]

    def match(self, port_name: str, path: str) -> Route | None:
        table = self._ports.get(port_name)
        if table is None:
            table = self._ports.get(ALL_PORTS)
            if table is None:
                return None
        # Services see the same few paths again and again: remember what they resolved to.
        memo = table.memo
        route = memo.get(path, _MISS)
        if route is _MISS:
            route = table.lookup(path)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[path] = route
        return route  # type: ignore[return-value]


def _place(table: PortRoutes, route: Route) -> None:
    bucket = table.prefix if route.is_prefix else table.exact
    existing = bucket.get(route.key)
    if existing is None or existing.priority <= route.priority:
        bucket[route.key] = route
    # A new memo only after the change: a lookup racing with it writes into the old one.
    table.memo = {}


# The process-wide registries that decorators fill at import time.
http_routes = Router()
websocket_routes = Router()


def urlHandler(
    path: str,
    is_prefix: bool = False,
    ports: Iterable[str | int] = (),
    methods: Iterable[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(request) -> Response | str | bytes`, plain or async, for `path`.

    A plain (`def`) handler runs on the worker's handler threads (at most `max_num_threads`
    at once), an `async def` one on the event loop. A returned `str` or `bytes` becomes a
    200 response; an exception answers 500 and is logged with its traceback. An exact path
    wins over a prefix handler, and a longer prefix over a shorter one; a trailing slash
    does not matter (`/hello` and `/hello/` are one path).

    Args:
        path: the URL path, starting with `/`.
        is_prefix: also answer every path below `path` (`/files` answers `/files/a/b`).
        ports: port names (or `0`/`"main"` for the main port, `-1` for every port) to serve
            it on; the main port by default. A name no `run(ports=...)` declares is a
            `ValueError` at `run()`.
        methods: the HTTP methods it answers (`["GET", "POST"]`); every method by default.
            Others get 405.

    Returns:
        A decorator that registers the handler and returns it unchanged.

    Example:
        ```python
        @hwebserver.urlHandler("/hello")
        def hello(request):
            return hwebserver.Response("Hello, " + request.GET().get("name", "world"))

        @hwebserver.urlHandler("/upload", methods=["POST"])
        async def upload(request):
            return f"{len(request.files())} file(s)"
        ```
    """

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        http_routes.add(Route(path, handler, is_prefix=is_prefix, methods=methods), ports)
        return handler

    return register
