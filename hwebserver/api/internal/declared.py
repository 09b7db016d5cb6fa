"""Every port a registration names must be one that run() declares.

Without this check a handler registered for a misspelled port (or for a port that run() was
not given) is simply never reachable: every request to it is a silent 404. run() calls
`check_declared_ports` once it knows its listeners, before anything is bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..functions.registry import api_functions
from ..routing import ALL_PORTS, MAIN_PORT, Route, http_routes, websocket_routes

# The route /api shares among API functions: they are checked one by one instead.
_API_ROUTE_KIND = "api"


def describe_endpoint(endpoint: Any) -> str:
    """`module.qualname` of a function, method or class; the class of any other object."""
    target = getattr(endpoint, "cls", None) or endpoint  # a WebSocket class behind its endpoint
    if not hasattr(target, "__qualname__"):
        target = type(target)
    module = getattr(target, "__module__", None)
    return f"{module}.{target.__qualname__}" if module else target.__qualname__


def _describe_route(route: Route) -> str:
    return f"{route.kind} {route.path!r} ({describe_endpoint(route.endpoint)})"


def undeclared_registrations(declared: Iterable[str]) -> list[str]:
    """One line per registration whose port name is not among `declared` (nor every port)."""
    known = {MAIN_PORT, ALL_PORTS, *declared}
    problems: list[str] = []
    for router, what in ((http_routes, "route"), (websocket_routes, "WebSocket")):
        routes = router.routes()
        # A route for every port is copied into each port's table, the undeclared ones too.
        everywhere = {id(route) for name, route in routes if name == ALL_PORTS}
        for name, route in routes:
            if name not in known and route.kind != _API_ROUTE_KIND and id(route) not in everywhere:
                problems.append(f"{what} {_describe_route(route)} on port {name!r}")
    for function in api_functions.registered():
        for name in function.ports:
            if name not in known:
                endpoint = describe_endpoint(function.function)
                problems.append(f"apiFunction {function.name!r} ({endpoint}) on port {name!r}")
    return sorted(set(problems))


def check_declared_ports(declared: Iterable[str]) -> None:
    """ValueError naming every registration made for a port that run() does not declare."""
    declared = sorted(set(declared))
    problems = undeclared_registrations(declared)
    if problems:
        served = ", ".join(repr(name) for name in declared)
        raise ValueError(
            "registered for a port that run() does not declare (it serves "
            + served
            + "; name extra ports in run(ports=[...])): "
            + "; ".join(problems)
        )
