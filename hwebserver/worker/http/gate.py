"""The gate: where every request meets its port's rules, before anything serves it.

A request reaches user code only through admit() (an HTTP request, from the pipeline) or
admit_upgrade() (an `Upgrade: websocket` request, from websockets/upgrade.py). Both apply the
port's policy (worker/policies/: ALLOWED_HOSTS 400, SSL_REDIRECT 301, a CORS preflight
204/403, and for an upgrade an Origin the CORS allow-list does not list, 403), then find the
route. What they give back is an `AdmittedRoute`. Every adapter that runs a request it was
handed (apps/exchange.py's STARTERS, both kinds of WebSocket) takes an AdmittedRoute, and only
this module makes one, so a new kind of entry cannot be reached without passing the gate. Plain and async handlers, API functions, static files, archives, opdef and
the admin endpoints are called by the pipeline right after admit().

After the handler, the pipeline adds the policy's headers to a Response (CORS, HSTS), and the
WSGI and ASGI adapters add the same as header lines (PortPolicy.header_lines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NewType

from ...api.helpers import errorResponse, notFoundResponse
from ...api.mounts import ASGI
from ...api.request import Request
from ...api.response import Response
from ...api.routing import Route, Router
from .request_head import SERVER_ALLOW

if TYPE_CHECKING:
    from ..common.state import WorkerState
    from ..policies.base import PortPolicy

# The kinds of route an upgrade can reach: hwebserver's WebSocket classes and ASGI mounts.
WEBSOCKET = "websocket"
UPGRADE_KINDS: Final = frozenset((WEBSOCKET, ASGI))

# A route the gate found for a request that passed the port's rules: what every adapter that
# runs a request is handed (apps/exchange.py's STARTERS, both kinds of WebSocket). A NewType,
# so it costs nothing at run time; only this module makes one (mypy refuses a plain Route).
AdmittedRoute = NewType("AdmittedRoute", Route)


def admit(
    policy: PortPolicy | None, router: Router, port_name: str, request: Request
) -> AdmittedRoute | Response:
    """An HTTP request: the port's refusal or answer (400, 301, a preflight's 204/403), the
    server's own answer to a path nothing serves (404, `OPTIONS *`) or to a method the route
    does not take (405), or the route that serves it."""
    if policy is not None:
        early = policy.before(request)
        if early is not None:
            return early
    route = router.match(port_name, request.url_path)
    if route is None:
        return unrouted(request)
    if route.methods is not None and request.http_method not in route.methods:
        response = errorResponse(request, f"Method {request.http_method} not allowed", 405)
        response.setHeader("Allow", route.allow)
        return response
    return route  # type: ignore[return-value]  # the one place a Route is admitted


def admit_upgrade(
    policy: PortPolicy | None, state: WorkerState, port_name: str, request: Request
) -> AdmittedRoute | Response:
    """An `Upgrade: websocket` request: refused as admit() refuses, and also when its Origin is
    not on the port's CORS allow-list (403: a browser enforces no CORS on WebSockets, so this
    is the only defence against cross-site WebSocket hijacking); else admitted to the
    WebSocket class registered for its path, or to the ASGI app mounted there (404: neither)."""
    if policy is not None:
        early = policy.before_upgrade(request)
        if early is not None:
            return early
    route = state.websocket_router.match(port_name, request.url_path)
    if route is None:
        route = state.router.match(port_name, request.url_path)
        if route is None or route.kind != ASGI:
            return errorResponse(request, f"No WebSocket at {request.url_path}", 404)
    return route  # type: ignore[return-value]  # the one place an upgrade is admitted


def unrouted(request: Request) -> Response:
    if request.url_path == "*":  # OPTIONS * (other methods never get here): the server's
        response = Response(b"", status=204)
        response.removeHeader("Content-Type")
        response.setHeader("Allow", SERVER_ALLOW)
        return response
    return notFoundResponse(request)
